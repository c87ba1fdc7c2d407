import { z } from "zod";

/** POST /downloads/ticket: the GET path under /api/v1 of the file to download once. */
export const DownloadRequest = z.object({ href: z.string().min(1).max(4096) });
export const DownloadParams = z.object({ secret: z.string().min(1).max(256) });

/**
 * Headers of every answer that serves a file (a session file, a bundle, a log export), through
 * the API or a download link. Files are device text served from the app's own origin: the
 * browser takes the declared type as it is (no sniffing), and whatever it renders anyway runs no
 * script and has an opaque origin, so it can read neither storage nor cookies of the dashboard.
 */
export const FILE_ANSWER_HEADERS = {
  "x-content-type-options": "nosniff",
  "content-security-policy": "sandbox",
} as const;
