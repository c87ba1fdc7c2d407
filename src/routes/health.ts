import { Hono } from "hono";
import type { AppEnv } from "../app-env";
import { openApiDocument } from "../openapi";
import { VERSION } from "../contract/version";
import { oidcConfig } from "../auth/oidc";

export const health = new Hono<AppEnv>()
  // sign_in: whether people can sign in here (an OpenID provider is configured), for the dashboard's button.
  .get("/health", (c) => c.json({ ok: true, version: VERSION, sign_in: oidcConfig(c.env) !== null }))
  .get("/openapi.json", (c) => c.json(openApiDocument(c.env.PUBLIC_URL || new URL(c.req.url).origin)));
