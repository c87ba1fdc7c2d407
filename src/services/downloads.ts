// One-time download links (POST /downloads/ticket): a browser downloads a file with a plain
// link, streamed to disk, without holding the API key in the URL or the file in memory. A
// link names one GET that answers a file (an export, a session file, a session bundle), works
// once, within DOWNLOAD_TTL_MS, and only while the org key that made it is live. It is served
// by the same code as the authenticated route, with the key's org, and always sandboxed: a
// link opens in the dashboard's own origin, so nothing it serves may run there.
import { artifactPath, FileQuery } from "../contract/artifacts";
import { FILE_ANSWER_HEADERS } from "../contract/downloads";
import { ApiError, invalidField } from "../contract/errors";
import { LogExport } from "../contract/logs";
import { SessionQuery } from "../contract/sessions";
import { parseOrThrow } from "../contract/validation";
import type { Db } from "../db/client";
import { insertDownloadTicket, redeemDownloadTicket } from "../db/repos/download-tickets";
import { findLiveKey } from "../db/repos/keys";
import { membershipOf } from "../db/repos/people";
import { newSecret, sha256 } from "../lib/crypto";
import { downloadFile } from "./artifacts";
import { logExport } from "./log-export";
import { searchScope } from "./log-search";
import { sessionBundle } from "./session-bundle";
import { sessionOfOrg } from "./tenancy";

const DOWNLOAD_TTL_MS = 60_000;
const API = "/api/v1";

/** The files a link may serve: each pattern names the path under /api/v1, and the query its route takes. */
const KINDS = [
  { path: /^\/logs\/export$/, kind: "export" },
  { path: /^\/sessions\/([^/]+)\/files\/download$/, kind: "file" },
  { path: /^\/sessions\/([^/]+)\/bundle$/, kind: "bundle" },
] as const;

function parseHref(href: string) {
  let url: URL;
  try {
    url = new URL(href.startsWith(API) ? href : `${API}${href}`, "http://fleetbeat.invalid");
  } catch {
    throw invalidField("body", "href", "href is not a path");
  }
  if (url.origin !== "http://fleetbeat.invalid" || !url.pathname.startsWith(`${API}/`))
    throw invalidField("body", "href", "href must be a path under /api/v1");
  const path = url.pathname.slice(API.length);
  for (const k of KINDS) {
    const m = k.path.exec(path);
    if (m)
      return {
        kind: k.kind,
        sessionId: m[1] === undefined ? undefined : decodeURIComponent(m[1]),
        query: Object.fromEntries(url.searchParams),
      };
  }
  throw invalidField("body", "href", "href must be /logs/export, /sessions/:id/files/download or /sessions/:id/bundle");
}

/** Mints a link for `href`, after resolving it now as its route would (so a bad link fails here, not later). */
export async function mintDownload(
  env: Env,
  db: Db,
  org: { orgId: string; keyId: string },
  href: string,
  origin: string,
) {
  await resolve(env, db, org.orgId, parseHref(href));
  const secret = newSecret("fbl");
  const expiresAt = Date.now() + DOWNLOAD_TTL_MS;
  await insertDownloadTicket(db, { hash: await sha256(secret), orgId: org.orgId, keyId: org.keyId, href, expiresAt });
  return { url: `${origin}${API}/downloads/${secret}`, expires_at: new Date(expiresAt).toISOString() };
}

/** Whether the key (or person: psn_…) that made a link still reaches the org: a live key, or a member. */
async function stillMay(db: Db, orgId: string, callerId: string): Promise<boolean> {
  if (callerId.startsWith("psn_")) return (await membershipOf(db, orgId, callerId)) !== undefined;
  return (await findLiveKey(db, orgId, callerId)) !== undefined;
}

/** GET /downloads/:secret: the file, once, with the headers of every file answer whatever its kind. */
export async function serveDownload(env: Env, db: Db, secret: string, req: Request): Promise<Response> {
  const ticket = await redeemDownloadTicket(db, await sha256(secret), Date.now());
  if (!ticket || !(await stillMay(db, ticket.orgId, ticket.keyId)))
    throw new ApiError("unauthorized", "download link is unknown, used, expired or revoked");
  const answer = await (await resolve(env, db, ticket.orgId, parseHref(ticket.href)))(req);
  const headers = new Headers(answer.headers);
  for (const [name, value] of Object.entries(FILE_ANSWER_HEADERS)) headers.set(name, value);
  return new Response(answer.body, { status: answer.status, headers });
}

/**
 * The target checked for `orgId` as its route checks it (query, path, the session or devices
 * being the org's), and what answers it: the same services as the authenticated routes.
 */
async function resolve(
  env: Env,
  db: Db,
  orgId: string,
  t: ReturnType<typeof parseHref>,
): Promise<(req: Request) => Promise<Response> | Response> {
  if (t.kind === "export") {
    const { format, ...filters } = parseOrThrow(LogExport, t.query, "query");
    const sources = await searchScope(env, db, orgId, filters);
    return () => logExport(env, sources, filters, format);
  }
  if (t.kind === "file") {
    const q = parseOrThrow(FileQuery, t.query, "query");
    const path = artifactPath(q.path, "query");
    const session = await sessionOfOrg(env, db, orgId, t.sessionId!, q.project_id);
    return (req) => downloadFile(env, session.projectId, session.sessionId, path, req);
  }
  const q = parseOrThrow(SessionQuery, t.query, "query");
  const session = await sessionOfOrg(env, db, orgId, t.sessionId!, q.project_id);
  return () => sessionBundle(env, session);
}
