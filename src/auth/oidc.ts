// Sign-in through the team's OpenID provider: the authorization code flow with PKCE, by
// `oauth4webapi` (the client) and `jose` (the ID token's signature, against the provider's JWKS).
// Configured by OIDC_ISSUER, OIDC_CLIENT_ID ([vars]) and OIDC_CLIENT_SECRET (a secret); with no
// issuer, sign-in is off and only API keys work.

import { createRemoteJWKSet, jwtVerify } from "jose";
import * as oauth from "oauth4webapi";
import { ApiError } from "../contract/errors";

const SCOPE = "openid email profile";

export interface OidcConfig {
  issuer: URL;
  clientId: string;
  clientSecret: string;
}

/** The provider's configuration, or null when sign-in is off. */
export function oidcConfig(env: Env): OidcConfig | null {
  if (!env.OIDC_ISSUER || !env.OIDC_CLIENT_ID) return null;
  return { issuer: new URL(env.OIDC_ISSUER), clientId: env.OIDC_CLIENT_ID, clientSecret: env.OIDC_CLIENT_SECRET ?? "" };
}

/** Plain http only for a provider on this machine (local development and the tests). */
const local = (url: URL) => url.protocol === "http:" && ["localhost", "127.0.0.1", "[::1]"].includes(url.hostname);
const options = (cfg: OidcConfig) => (local(cfg.issuer) ? { [oauth.allowInsecureRequests]: true } : {});

/** Discovery and the key set, kept per isolate (a provider's keys rotate; jose refetches an unknown kid). */
const servers = new Map<string, Promise<oauth.AuthorizationServer>>();
const keySets = new Map<string, ReturnType<typeof createRemoteJWKSet>>();

async function server(cfg: OidcConfig): Promise<oauth.AuthorizationServer> {
  const key = cfg.issuer.href;
  let found = servers.get(key);
  if (!found) {
    found = oauth
      .discoveryRequest(cfg.issuer, { algorithm: "oidc", ...options(cfg) })
      .then((res) => oauth.processDiscoveryResponse(cfg.issuer, res));
    found.catch(() => servers.delete(key));
    servers.set(key, found);
  }
  return found;
}

function keySet(as: oauth.AuthorizationServer) {
  const uri = as.jwks_uri!;
  let set = keySets.get(uri);
  if (!set) {
    set = createRemoteJWKSet(new URL(uri));
    keySets.set(uri, set);
  }
  return set;
}

/** What a sign-in in progress keeps (in a signed cookie) between the redirect and the callback. */
export interface LoginState {
  verifier: string;
  state: string;
  nonce: string;
  returnTo: string;
  orgId?: string;
}

/** The provider's authorization URL for a new sign-in, and the state to keep until the callback. */
export async function beginLogin(
  cfg: OidcConfig,
  redirectUri: string,
  keep: Pick<LoginState, "returnTo" | "orgId">,
): Promise<{ url: URL; state: LoginState }> {
  const as = await server(cfg);
  const verifier = oauth.generateRandomCodeVerifier();
  const state = oauth.generateRandomState();
  const nonce = oauth.generateRandomNonce();
  const url = new URL(as.authorization_endpoint!);
  url.search = new URLSearchParams({
    client_id: cfg.clientId,
    redirect_uri: redirectUri,
    response_type: "code",
    scope: SCOPE,
    code_challenge: await oauth.calculatePKCECodeChallenge(verifier),
    code_challenge_method: "S256",
    state,
    nonce,
  }).toString();
  return { url, state: { verifier, state, nonce, ...keep } };
}

export interface SignedIn {
  issuer: string;
  subject: string;
  email: string;
  name: string | null;
}

/** Why a sign-in failed, for the deployment's or the org's audit log (never a secret). */
export class SignInFailed extends ApiError {
  constructor(readonly reason: string) {
    super("unauthorized", `sign-in failed: ${reason}`);
  }
}

/**
 * The callback: checks the answer against the sign-in's state, exchanges the code (with the PKCE
 * verifier and the client's secret), and verifies the ID token: its signature against the
 * provider's keys, its issuer, audience, lifetime and nonce. Any failure is SignInFailed (401).
 */
export async function finishLogin(
  cfg: OidcConfig,
  redirectUri: string,
  callbackUrl: URL,
  kept: LoginState,
): Promise<SignedIn> {
  const as = await server(cfg);
  const client: oauth.Client = { client_id: cfg.clientId };
  let idToken: string;
  let accessToken: string;
  try {
    const params = oauth.validateAuthResponse(as, client, callbackUrl, kept.state);
    const response = await oauth.authorizationCodeGrantRequest(
      as,
      client,
      oauth.ClientSecretBasic(cfg.clientSecret),
      params,
      redirectUri,
      kept.verifier,
      options(cfg),
    );
    const result = await oauth.processAuthorizationCodeResponse(as, client, response, {
      expectedNonce: kept.nonce,
      requireIdToken: true,
    });
    idToken = result.id_token!;
    accessToken = result.access_token;
  } catch (err) {
    // The provider's own error (invalid_grant for a used code) says the most.
    const { error, error_description } = (err ?? {}) as { error?: unknown; error_description?: unknown };
    const said =
      typeof error === "string"
        ? `${error}${typeof error_description === "string" ? `: ${error_description}` : ""}`
        : null;
    throw new SignInFailed(
      (said ?? (err instanceof Error ? `${err.name}: ${err.message}` : "the provider refused")).slice(0, 300),
    );
  }
  try {
    const { payload } = await jwtVerify(idToken, keySet(as), {
      issuer: as.issuer,
      audience: cfg.clientId,
      clockTolerance: 5,
    });
    if (payload.nonce !== kept.nonce) throw new Error("nonce mismatch");
    // Many providers put the email in the ID token; a strict one (oidc-provider by default) only
    // at its userinfo endpoint, asked with the access token, for the same subject.
    const claims =
      typeof payload.email === "string" ? payload : await userInfo(cfg, as, client, accessToken, String(payload.sub));
    const email = typeof claims.email === "string" ? claims.email.toLowerCase() : null;
    if (!email || claims.email_verified === false) throw new Error("the provider gave no verified email");
    return {
      issuer: as.issuer,
      subject: String(payload.sub),
      email,
      name: typeof claims.name === "string" ? claims.name : null,
    };
  } catch (err) {
    throw new SignInFailed(err instanceof Error ? `ID token: ${err.message}`.slice(0, 300) : "ID token refused");
  }
}

async function userInfo(
  cfg: OidcConfig,
  as: oauth.AuthorizationServer,
  client: oauth.Client,
  accessToken: string,
  subject: string,
): Promise<Record<string, unknown>> {
  const response = await oauth.userInfoRequest(as, client, accessToken, options(cfg));
  return oauth.processUserInfoResponse(as, client, subject, response);
}

// ---- Cloudflare Access ---------------------------------------------------------------------

export interface AccessConfig {
  issuer: string;
  audience: string;
  jwksUrl: URL;
}

/**
 * Behind Cloudflare Access: its team's issuer, this application's audience tag, and its keys (the team's
 * certs unless said).
 */
export function accessConfig(env: Env): AccessConfig | null {
  if (!env.CF_ACCESS_ISSUER || !env.CF_ACCESS_AUD) return null;
  const issuer = env.CF_ACCESS_ISSUER.replace(/\/$/, "");
  return {
    issuer,
    audience: env.CF_ACCESS_AUD,
    jwksUrl: new URL(env.CF_ACCESS_JWKS_URL || `${issuer}/cdn-cgi/access/certs`),
  };
}

/**
 * The person a `Cf-Access-Jwt-Assertion` names: its signature checked against the team's keys,
 * its issuer, audience and lifetime. Anything else is SignInFailed (401).
 */
export async function accessPerson(cfg: AccessConfig, assertion: string): Promise<SignedIn> {
  let keys = keySets.get(cfg.jwksUrl.href);
  if (!keys) keySets.set(cfg.jwksUrl.href, (keys = createRemoteJWKSet(cfg.jwksUrl)));
  try {
    // No clock tolerance: Access and the Worker run on the same clocks.
    const { payload } = await jwtVerify(assertion, keys, { issuer: cfg.issuer, audience: cfg.audience });
    if (typeof payload.email !== "string") throw new Error("no email in the assertion");
    return {
      issuer: cfg.issuer,
      subject: String(payload.sub ?? payload.email),
      email: payload.email.toLowerCase(),
      name: typeof payload.name === "string" ? payload.name : null,
    };
  } catch (err) {
    throw new SignInFailed(`Cf-Access-Jwt-Assertion: ${err instanceof Error ? err.message : "refused"}`.slice(0, 300));
  }
}
