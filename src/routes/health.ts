import { Hono } from "hono";
import type { AppEnv } from "../app-env";
import { openApiDocument } from "../openapi";
import { VERSION } from "../contract/version";

export const health = new Hono<AppEnv>()
  .get("/health", (c) => c.json({ ok: true, version: VERSION }))
  .get("/openapi.json", (c) => c.json(openApiDocument(c.env.PUBLIC_URL || new URL(c.req.url).origin)));
