// Who may read through the Loki-compatible API (/loki/api/v1): an org API key (viewer is
// enough), sent as `Authorization: Bearer <key>` or, since Grafana's data source also offers
// basic auth, as the password of `Authorization: Basic base64(<any user>:<key>)`. The project
// is the `X-Scope-OrgID` header (Loki's tenant header), a project id of the key's org.

import type { Context } from "hono";
import { createMiddleware } from "hono/factory";
import type { OrgEnv } from "../app-env";
import { projectId } from "../contract/common";
import { ORG_KEY_PREFIX } from "../contract/credentials";
import { ApiError } from "../contract/errors";
import { projectOfOrg } from "../services/tenancy";
import { acceptOrgKey } from "./middleware";

/** The org key in an Authorization header, Bearer or Basic (as the password). */
function orgKeyOf(header: string | undefined): string {
  const bearer = /^Bearer\s+(\S+)\s*$/i.exec(header ?? "");
  if (bearer) return bearer[1]!;
  const basic = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(header ?? "");
  if (basic) {
    let decoded = "";
    try {
      decoded = new TextDecoder().decode(Uint8Array.from(atob(basic[1]!), (ch) => ch.charCodeAt(0)));
    } catch {
      throw new ApiError("unauthorized", "the Basic credentials are not base64");
    }
    const colon = decoded.indexOf(":");
    return colon < 0 ? decoded : decoded.slice(colon + 1);
  }
  throw new ApiError(
    "unauthorized",
    "send Authorization: Bearer <org API key> (or Basic auth with the key as the password)",
  );
}

/**
 * An org API key of any role; sets `org` and `apiKey` as the /api/v1 middleware does (app.ts sets `db` for
 * /loki/*).
 */
export const lokiOrgKey = createMiddleware<OrgEnv>(async (c, next) => {
  const token = orgKeyOf(c.req.header("authorization"));
  if (!token.startsWith(`${ORG_KEY_PREFIX}_`)) throw new ApiError("unauthorized", "this API needs an org API key");
  // acceptOrgKey sets `org` (and `apiKey`), which this middleware's environment promises the routes after it.
  await acceptOrgKey(c, token, "viewer");
  await next();
});

/** The project the X-Scope-OrgID header names; 404 when it is not one of the caller's org. */
export async function scopeProject(c: Context<OrgEnv>): Promise<string> {
  const header = c.req.header("x-scope-orgid")?.trim();
  if (!header) throw new ApiError("bad_request", "set the X-Scope-OrgID header to a project id (prj_…) of your org");
  const parsed = projectId.safeParse(header);
  if (!parsed.success) throw new ApiError("not_found", "project not found (X-Scope-OrgID must be a project id, prj_…)");
  await projectOfOrg(c.var.db, c.var.org.orgId, parsed.data);
  return parsed.data;
}
