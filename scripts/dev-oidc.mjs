// A development OpenID provider: `oidc-provider` (a certified implementation) with a few named
// test people and its plain sign-in form. `npm start` runs one beside the platform, and the
// tests run their own (test/oidc-providers.ts). Never for production: anyone who types a test
// person's email is signed in as them (the form's password is not checked).
//
//   node scripts/dev-oidc.mjs            # http://localhost:9470, for `npm start` on 8787
//
// Options (startDevOidc): the port, the clients it knows (id, secret, redirect URIs), the ID
// token's lifetime, and signing keys of its own (a second provider, whose tokens the first one's
// keys do not verify).

import { createServer } from "node:http";
import { exportJWK, generateKeyPair } from "jose";
import Provider from "oidc-provider";

/** The test people: sign in by typing one of these emails. */
export const DEV_PEOPLE = [
  { email: "alice@example.com", name: "Alice Admin" },
  { email: "bob@example.com", name: "Bob Builder" },
  { email: "carol@example.com", name: "Carol Viewer" },
  { email: "dave@example.com", name: "Dave Operator" },
];

/**
 * Starts a provider on `port` (issuer http://localhost:<port>); resolves once it listens.
 * `claimsInIdToken`: the email and name in the ID token itself (as Cloudflare Access's assertion
 * has them), not only at the userinfo endpoint (the strict default).
 * @param {{ port: number, host?: string, clients: { client_id: string, client_secret: string, redirect_uris: string[] }[], idTokenTtlS?: number, ownKeys?: boolean, claimsInIdToken?: boolean }} options
 */
export async function startDevOidc({
  port,
  host = "localhost",
  clients,
  idTokenTtlS = 300,
  ownKeys = false,
  claimsInIdToken = false,
}) {
  // Listening first, so that port 0 (any free port) names the issuer.
  const server = createServer();
  await new Promise((resolve) => server.listen(port, host === "localhost" ? "127.0.0.1" : host, resolve));
  const issuer = `http://${host}:${server.address().port}`;
  const jwks = ownKeys
    ? {
        keys: [
          {
            ...(await exportJWK((await generateKeyPair("RS256", { extractable: true })).privateKey)),
            alg: "RS256",
            use: "sig",
            kid: "fleetbeat-dev-own",
          },
        ],
      }
    : undefined;
  const provider = new Provider(issuer, {
    clients: clients.map((c) => ({
      ...c,
      grant_types: ["authorization_code"],
      response_types: ["code"],
      token_endpoint_auth_method: "client_secret_basic",
    })),
    ...(jwks ? { jwks } : {}),
    claims: { openid: ["sub"], email: ["email", "email_verified"], profile: ["name"] },
    scopes: ["openid", "email", "profile"],
    pkce: { required: () => true },
    conformIdTokenClaims: !claimsInIdToken,
    ttl: {
      IdToken: idTokenTtlS,
      AccessToken: 300,
      AuthorizationCode: 60,
      Interaction: 600,
      Session: 3600,
      Grant: 3600,
    },
    cookies: { keys: ["fleetbeat-dev-oidc"] },
    features: { devInteractions: { enabled: true } },
    async findAccount(_ctx, id) {
      const person = DEV_PEOPLE.find((p) => p.email === id);
      if (!person) return undefined;
      return {
        accountId: person.email,
        claims: () => ({ sub: person.email, email: person.email, email_verified: true, name: person.name }),
      };
    },
    // First-party clients: no consent screen, the scopes asked for are granted at sign-in.
    async loadExistingGrant(ctx) {
      const existing = ctx.oidc.session.grantIdFor(ctx.oidc.client.clientId);
      if (existing) return ctx.oidc.provider.Grant.find(existing);
      const grant = new ctx.oidc.provider.Grant({
        clientId: ctx.oidc.client.clientId,
        accountId: ctx.oidc.session.accountId,
      });
      grant.addOIDCScope("openid email profile");
      grant.addOIDCClaims(["email", "email_verified", "name"]);
      await grant.save();
      return grant;
    },
  });
  // devInteractions' notice goes to the console once; the tests start several providers.
  provider.on("server_error", (_ctx, err) => console.error("dev OIDC provider:", err));
  server.on("request", provider.callback());
  return { issuer, server, close: () => new Promise((r) => server.close(() => r())) };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const port = Number(process.env.OIDC_PORT || 9470);
  const app = process.env.FLEETBEAT_URL || "http://localhost:8787";
  const { issuer } = await startDevOidc({
    port,
    clients: [
      {
        client_id: "fleetbeat-dev",
        client_secret: "fleetbeat-dev-secret",
        redirect_uris: [`${app}/api/v1/auth/callback`],
      },
    ],
  });
  console.log(`dev OpenID provider at ${issuer}; sign in as ${DEV_PEOPLE.map((p) => p.email).join(", ")}`);
}
