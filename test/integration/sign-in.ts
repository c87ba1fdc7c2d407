// Signing a person in the way a browser does, through the real OpenID provider the tests run
// (test/oidc-providers.ts): GET /auth/login, the provider's redirects and its plain sign-in form,
// back to /auth/callback, with each site's cookies kept as a browser keeps them. No step is
// mocked. Then calls made with the session cookie, as the dashboard makes them.
import { exports } from "cloudflare:workers";
import { type Answer, readText } from "./helpers";

const ORIGIN = "http://fleetbeat.test";

/** Cookies by host, as a browser keeps them (paths ignored: each test's flow is short). */
class CookieJar {
  private readonly byHost = new Map<string, Map<string, string>>();
  take(url: string, res: Response): void {
    const jar = this.hostJar(url);
    for (const line of res.headers.getSetCookie()) {
      const [pair, ...attrs] = line.split(";");
      const eq = pair!.indexOf("=");
      const name = pair!.slice(0, eq).trim();
      const value = pair!.slice(eq + 1).trim();
      const expired = attrs.some((a) => /^\s*max-age=0\s*$/i.test(a) || /^\s*expires=Thu, 01 Jan 1970/i.test(a));
      if (expired || value === "") jar.delete(name);
      else jar.set(name, value);
    }
  }
  header(url: string): string {
    return [...this.hostJar(url)].map(([k, v]) => `${k}=${v}`).join("; ");
  }
  get(url: string, name: string): string | undefined {
    return this.hostJar(url).get(name);
  }
  private hostJar(url: string) {
    const host = new URL(url).host;
    let jar = this.byHost.get(host);
    if (!jar) this.byHost.set(host, (jar = new Map()));
    return jar;
  }
}

/** A browser of one person: its cookies, and how it fetches the Worker and the provider. */
export class Browser {
  readonly jar = new CookieJar();

  /** One request, no redirect followed; the Worker through its fetch handler, anything else over the network. */
  async fetch(url: string, init: RequestInit = {}): Promise<Response> {
    const headers = new Headers(init.headers);
    const cookie = this.jar.header(url);
    if (cookie) headers.set("cookie", cookie);
    const req = new Request(url, { ...init, headers, redirect: "manual" });
    const res = url.startsWith(ORIGIN) ? await exports.default.fetch(req) : await fetch(req);
    this.jar.take(url, res);
    return res;
  }

  /** Follows redirects from `url` while they stay off the Worker's callback; answers the last response and its URL. */
  async follow(url: string, init: RequestInit = {}): Promise<{ res: Response; url: string }> {
    let res = await this.fetch(url, init);
    for (let hops = 0; hops < 10 && res.status >= 300 && res.status < 400; hops++) {
      const next = new URL(res.headers.get("location")!, url).toString();
      if (next.startsWith(`${ORIGIN}/api/v1/auth/callback`)) return { res, url: next };
      url = next;
      res = await this.fetch(url);
    }
    return { res, url };
  }

  /**
   * Signs in as `email` at the provider's form: GET /auth/login, the provider's sign-in page, the
   * form posted, and the redirect to the callback, which is returned (not yet followed).
   */
  async toCallback(email: string, login = "/auth/login"): Promise<string> {
    const start = await this.fetch(`${ORIGIN}/api/v1${login}`);
    if (start.status !== 302) throw new Error(`login: ${start.status} ${await readText(start)}`);
    return this.atProvider(start.headers.get("location")!, email);
  }

  /** The provider's part: from its authorization URL, through its sign-in form as `email`, to the redirect back (returned, not followed). */
  async atProvider(authorizeUrl: string, email: string): Promise<string> {
    const page = await this.follow(authorizeUrl);
    if (page.url.startsWith(`${ORIGIN}/api/v1/auth/callback`)) return page.url;
    const html = await readText(page.res);
    const action = /<form[^>]*action="([^"]+)"/.exec(html)?.[1];
    if (!action) throw new Error(`no sign-in form at ${page.url}: ${html.slice(0, 300)}`);
    const fields = new URLSearchParams();
    for (const m of html.matchAll(/<input[^>]*type="hidden"[^>]*name="([^"]+)"[^>]*value="([^"]*)"/g))
      fields.set(m[1]!, m[2]!);
    fields.set("login", email);
    fields.set("password", "any");
    const submit = new URL(action.replace(/&amp;/g, "&"), page.url).toString();
    const posted = await this.follow(submit, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: fields.toString(),
    });
    if (!posted.url.startsWith(`${ORIGIN}/api/v1/auth/callback`))
      throw new Error(`the provider did not send us back: ${posted.res.status} at ${posted.url}`);
    return posted.url;
  }

  /** The whole sign-in; answers the callback's response (302 to the dashboard, with the session cookie). */
  async signIn(email: string, login?: string): Promise<Response> {
    return this.fetch(await this.toCallback(email, login));
  }

  get session(): string | undefined {
    return this.jar.get(ORIGIN, "fleetbeat_session");
  }

  /** An API call as the dashboard makes it: same-origin, with the session cookie and no key. */
  async call(
    method: string,
    path: string,
    opts: { body?: unknown; org?: string; headers?: Record<string, string> } = {},
  ): Promise<Answer> {
    const headers: Record<string, string> = {
      "sec-fetch-site": "same-origin",
      ...(opts.org ? { "x-fleetbeat-org": opts.org } : {}),
      ...opts.headers,
    };
    if (opts.body !== undefined) headers["content-type"] = "application/json";
    const res = await this.fetch(`${ORIGIN}/api/v1${path}`, {
      method,
      headers,
      ...(opts.body !== undefined ? { body: JSON.stringify(opts.body) } : {}),
    });
    const text = await readText(res);
    return { status: res.status, headers: res.headers, json: text ? JSON.parse(text) : null };
  }
}

/** An ID token minted by `issuer` for `client` (as that client would get one: code, PKCE, token endpoint), signing in as `email`. */
export async function idTokenFrom(
  issuer: string,
  client: { client_id: string; client_secret: string; redirect_uris: string[] },
  email: string,
): Promise<string> {
  const verifier = crypto.randomUUID() + crypto.randomUUID();
  const challenge = btoa(
    String.fromCharCode(...new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(verifier)))),
  )
    .replace(/\+/g, "-")
    .replace(/\//g, "_")
    .replace(/=+$/, "");
  const redirectUri = client.redirect_uris[0]!;
  const authorize = `${issuer}/auth?${new URLSearchParams({ client_id: client.client_id, redirect_uri: redirectUri, response_type: "code", scope: "openid email profile", code_challenge: challenge, code_challenge_method: "S256", state: "s", nonce: "n" })}`;
  const code = new URL(await new Browser().atProvider(authorize, email)).searchParams.get("code")!;
  const res = await fetch(`${issuer}/token`, {
    method: "POST",
    headers: {
      "content-type": "application/x-www-form-urlencoded",
      authorization: `Basic ${btoa(`${client.client_id}:${client.client_secret}`)}`,
    },
    body: new URLSearchParams({
      grant_type: "authorization_code",
      code,
      redirect_uri: redirectUri,
      code_verifier: verifier,
    }).toString(),
  });
  const json = await res.json<{ id_token?: string }>();
  if (!json.id_token) throw new Error(`token: ${res.status} ${JSON.stringify(json)}`);
  return json.id_token;
}

/** A code `issuer` issued to `client` (not used), for `email`, sent back to the Worker's callback with `state`. */
export async function codeFor(
  issuer: string,
  client: { client_id: string; redirect_uris: string[] },
  email: string,
  state: string,
): Promise<string> {
  const authorize = `${issuer}/auth?${new URLSearchParams({ client_id: client.client_id, redirect_uri: client.redirect_uris[0]!, response_type: "code", scope: "openid email", code_challenge: "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM", code_challenge_method: "S256", state, nonce: "n" })}`;
  return new URL(await new Browser().atProvider(authorize, email)).searchParams.get("code")!;
}
