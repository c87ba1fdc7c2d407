// The clients of the tests' OpenID providers (test/oidc-providers.ts), shared by vitest.config.ts
// and the workerd tests (which cannot import the providers themselves: oidc-provider is Node's).
/** The client the Worker is in the tests, at the origin the tests call it on. */
export const TEST_CLIENT = {
  client_id: "fleetbeat-test",
  client_secret: "fleetbeat-test-secret",
  redirect_uris: ["http://fleetbeat.test/api/v1/auth/callback"],
};
/** Another application at the same providers: its codes and tokens are not for the Worker. */
export const OTHER_CLIENT = {
  client_id: "other-app",
  client_secret: "other-app-secret",
  redirect_uris: ["http://fleetbeat.test/api/v1/auth/callback"],
};
/** The Access application's audience at the second provider. */
export const ACCESS_CLIENT = {
  client_id: "fleetbeat-access",
  client_secret: "fleetbeat-access-secret",
  redirect_uris: ["http://fleetbeat.test/api/v1/auth/callback"],
};
