// /downloads: one-time links for browsers (src/services/downloads.ts).
import { Hono } from "hono";
import type { AppEnv } from "../app-env";
import { orgKey } from "../auth/middleware";
import { DownloadParams, DownloadRequest } from "../contract/downloads";
import { jsonBody, params } from "../http/validate";
import { mintDownload, serveDownload } from "../services/downloads";

export const downloads = new Hono<AppEnv>()
  .post("/ticket", orgKey("viewer"), jsonBody(DownloadRequest), async (c) => {
    const origin = c.env.PUBLIC_URL || new URL(c.req.url).origin;
    return c.json(await mintDownload(c.env, c.var.db, c.var.org, c.req.valid("json").href, origin));
  })
  .get("/:secret", params(DownloadParams), async (c) =>
    serveDownload(c.env, c.var.db, c.req.valid("param").secret, c.req.raw),
  );
