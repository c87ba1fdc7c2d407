// The OpenID providers the workerd tests sign in through: real `oidc-provider` instances
// (scripts/dev-oidc.mjs) on free ports of 127.0.0.1, started by vitest.config.ts before workerd,
// whose bindings name them. Unref'd: they end with the test run.
// - the main one, OIDC_ISSUER: the Worker is its client; a second client there ("other-app")
//   gets codes the Worker must refuse;
// - a second one with keys of its own and a 1 s ID-token lifetime, standing in for Cloudflare
//   Access (CF_ACCESS_ISSUER): the tests take its ID tokens as Cf-Access-Jwt-Assertion, for the
//   Worker's audience and for another client's, fresh and expired.
// @ts-expect-error: a plain ES module of the scripts, without types.
import { startDevOidc } from "../scripts/dev-oidc.mjs";
import { ACCESS_CLIENT, OTHER_CLIENT, TEST_CLIENT } from "./oidc-clients";

export async function startTestProviders(): Promise<{ issuer: string; accessIssuer: string }> {
  const main = await startDevOidc({ port: 0, clients: [TEST_CLIENT, OTHER_CLIENT] });
  const access = await startDevOidc({
    port: 0,
    clients: [ACCESS_CLIENT, OTHER_CLIENT],
    idTokenTtlS: 1,
    ownKeys: true,
    claimsInIdToken: true,
  });
  main.server.unref();
  access.server.unref();
  return { issuer: main.issuer, accessIssuer: access.issuer };
}
