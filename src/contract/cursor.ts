// Opaque page cursors. Inside is the sort key of the last row returned; pages continue
// strictly after it, so rows inserted meanwhile never repeat or shift a page.
import type { z } from "zod";
import { invalidField } from "./errors";

// base64url of the key's UTF-8 JSON: keys hold any text a client chose (a session id may be
// セッション-1), and btoa takes only Latin-1.
export function encodeCursor(value: Record<string, string | number>): string {
  const bytes = new TextEncoder().encode(JSON.stringify(value));
  return btoa(String.fromCharCode(...bytes))
    .replace(/\+/g, "-")
    .replace(/\//g, "_")
    .replace(/=+$/, "");
}

export function decodeCursor<S extends z.ZodType>(cursor: string | undefined, shape: S): z.output<S> | undefined {
  if (cursor === undefined) return undefined;
  try {
    const binary = atob(cursor.replace(/-/g, "+").replace(/_/g, "/"));
    const json = new TextDecoder("utf-8", { fatal: true, ignoreBOM: false }).decode(
      Uint8Array.from(binary, (c) => c.charCodeAt(0)),
    );
    const parsed = shape.safeParse(JSON.parse(json));
    if (parsed.success) return parsed.data;
  } catch {
    // fall through to the error below
  }
  throw invalidField("query", "cursor", "not a cursor this endpoint returned", "invalid_cursor");
}

/** Splits a `limit + 1` fetch into the page and the cursor for the next one. */
export function page<T>(rows: T[], limit: number, keyOf: (row: T) => Record<string, string | number>) {
  const items = rows.slice(0, limit);
  const next = rows.length > limit ? encodeCursor(keyOf(items[items.length - 1]!)) : null;
  return { items, next_cursor: next };
}
