// The one API client: Hono's hc over the app's own route types (src/app.ts ApiType), so every
// path, parameter and answer the dashboard uses is checked against the server's code. An org
// key, for machines and local use, lives in session storage for this tab only; a person who
// signs in has an HttpOnly session cookie instead (no script reads it), and only the org they
// chose (not a secret) is kept here.
import { hc } from "hono/client";
import type { z } from "zod";
import type { ApiType } from "../../src/app";
import type { role } from "../../src/contract/common";

/** An API key's role: admin, operator or viewer (what each may do: docs/security.md). */
export type KeyRole = z.output<typeof role>;

const KEY = "fleetbeat.key";

export const savedKey = () => sessionStorage.getItem(KEY);
export const saveKey = (key: string | null) =>
  key === null ? sessionStorage.removeItem(KEY) : sessionStorage.setItem(KEY, key);

const ORG = "fleetbeat.org";
export const chosenOrg = () => sessionStorage.getItem(ORG);
export const chooseOrg = (id: string | null) =>
  id === null ? sessionStorage.removeItem(ORG) : sessionStorage.setItem(ORG, id);

export const api = hc<ApiType>(new URL("/api/v1", location.origin).toString(), {
  headers: (): Record<string, string> => {
    const key = savedKey();
    if (key) return { authorization: `Bearer ${key}` };
    const org = chosenOrg();
    return org ? { "x-fleetbeat-org": org } : {};
  },
});

/** Where the sign-in button goes: the server's redirect to the OpenID provider, back to `returnTo`. */
export const loginUrl = (returnTo = "/") => `/api/v1/auth/login?${new URLSearchParams({ return_to: returnTo })}`;

/** One field's problem, as a 400 validation_failed lists them (path like "params.count" or "targets.0.url"). */
export interface FieldProblem {
  path: string;
  message: string;
}

/** An API error, in the contract's words. */
export class ApiFailure extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details: FieldProblem[] = [],
  ) {
    super(message);
  }
}

/** The JSON of a successful answer; otherwise an ApiFailure with the server's code and message. */
export async function ok<T>(res: { ok: boolean; status: number; json(): Promise<T> }): Promise<T> {
  if (res.ok) return res.json();
  let code = "http_error";
  let message = `the server answered ${res.status}`;
  let details: FieldProblem[] = [];
  try {
    const body = (await res.json()) as unknown as { error?: { code?: string; message?: string; details?: unknown } };
    code = body.error?.code ?? code;
    message = body.error?.message ?? message;
    if (Array.isArray(body.error?.details)) {
      details = body.error.details.filter(
        (d): d is FieldProblem => typeof d?.path === "string" && typeof d?.message === "string",
      );
    }
  } catch {
    // not JSON: keep the status
  }
  throw new ApiFailure(res.status, code, message, details);
}

/** An error in words, for people. */
export function describe(err: unknown): string {
  if (err instanceof ApiFailure) return `${err.message} (${err.code}, ${err.status})`;
  return err instanceof Error ? err.message : String(err);
}

/**
 * Downloads `href` (a GET under /api/v1 that answers a file) through a one-time link, as a
 * plain link click: the browser streams it to disk and this page never holds it.
 */
export async function download(href: string): Promise<void> {
  const a = document.createElement("a");
  a.href = await oneTimeUrl(href);
  a.download = "";
  document.body.appendChild(a);
  a.click();
  a.remove();
}

/** A one-time URL for `href` (POST /downloads/ticket): a download's link, or an image preview's source. */
export async function oneTimeUrl(href: string): Promise<string> {
  return ((await ok(await api.downloads.ticket.$post({ json: { href } }))) as { url: string }).url;
}
