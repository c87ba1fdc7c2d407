// The Hono environment every route shares: the bindings, and who is calling.
import type { Identity } from "../durable-objects/device-hub";
import type { Db } from "./db/client";

export interface Bindings extends Env {
  /** Secret: `.dev.vars` locally, `wrangler secret put ADMIN_TOKEN` in production. */
  ADMIN_TOKEN?: string;
}

export interface OrgCaller {
  orgId: string;
  keyId: string;
  role: "admin" | "viewer";
}

export interface AppEnv {
  Bindings: Bindings;
  Variables: {
    db: Db;
    org: OrgCaller;
    device: Identity;
  };
}
