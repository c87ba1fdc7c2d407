// The Worker's secrets: set with `wrangler secret put NAME` in production and in `.dev.vars`
// locally (docs/deploy.md, .dev.vars.example), never in wrangler.toml, so `wrangler types`
// cannot see them (`npm run cf-typegen` reads no .dev.vars: its output is the same on every
// machine). `npm run deploy:check` checks that this list is the names the code reads from env
// and wrangler.toml does not declare.
interface FleetbeatSecrets {
  /** The server admin's bearer token; without it the admin routes answer 401. */
  ADMIN_TOKEN: string;
  /** Signs device keys and tickets; the ADMIN_TOKEN signs them when it is unset. */
  SIGNING_SECRET?: string;
  /** The OpenID client's secret at the team's provider (OIDC_ISSUER, OIDC_CLIENT_ID). */
  OIDC_CLIENT_SECRET?: string;
}

interface Env extends FleetbeatSecrets {}
declare namespace Cloudflare {
  interface Env extends FleetbeatSecrets {}
}
