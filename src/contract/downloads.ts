import { z } from "zod";

/** POST /downloads/ticket: the GET path under /api/v1 of the file to download once. */
export const DownloadRequest = z.object({ href: z.string().min(1).max(4096) });
export const DownloadParams = z.object({ secret: z.string().min(1).max(256) });
