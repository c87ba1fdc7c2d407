// The OpenID providers the workerd tests sign in through: real `oidc-provider` instances
// (scripts/dev-oidc.mjs) on free ports of 127.0.0.1, started by vitest.config.ts before workerd
// (whose bindings name the first one as OIDC_ISSUER). Unref'd: they end with the test run.
// @ts-expect-error: a plain ES module of the scripts, without types.
import { startDevOidc } from "../scripts/dev-oidc.mjs";

/** The client the Worker is in the tests, at the origin the tests call it on. */
export const TEST_CLIENT = { client_id: "fleetbeat-test", client_secret: "fleetbeat-test-secret", redirect_uris: ["http://fleetbeat.test/api/v1/auth/callback"] };

export async function startTestProviders(): Promise<{ issuer: string }> {
  const main = await startDevOidc({ port: 0, clients: [TEST_CLIENT] });
  main.server.unref();
  return { issuer: main.issuer };
}
