// /downloads: one-time links for browsers (src/services/downloads.ts).
import { Hono } from "hono";
import type { AppEnv } from "../app-env";
import { orgKey } from "../auth/middleware";
import { DownloadParams, DownloadRequest } from "../contract/downloads";
import { ApiError } from "../contract/errors";
import { describer } from "../http/describe";
import { jsonBody, params } from "../http/validate";
import { mintDownload, serveDownload } from "../services/downloads";

const describe = describer("Downloads");

export const downloads = new Hono<AppEnv>()
  .post(
    "/ticket",
    describe({
      summary:
        "A one-time link (60 s) that serves a file GET (export, session file, bundle) without an Authorization header",
    }),
    orgKey("viewer"),
    jsonBody(DownloadRequest),
    async (c) => {
      const origin = c.env.PUBLIC_URL || new URL(c.req.url).origin;
      return c.json(await mintDownload(c.env, c.var.db, c.var.org, c.req.valid("json").href, origin));
    },
  )
  .get(
    "/:secret",
    describe({
      summary: "The file a download link names, once",
      description: "No key: the link's secret is the credential.",
      auth: "none",
      media: "application/octet-stream",
      errors: [() => new ApiError("unauthorized", "download link is unknown, used, expired or revoked")],
    }),
    params(DownloadParams),
    async (c) => serveDownload(c.env, c.var.db, c.req.valid("param").secret, c.req.raw),
  );
