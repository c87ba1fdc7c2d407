// Page cursors are opaque to clients: URL-safe text that only this server can read back, and
// anything else sent as a cursor is a 400 naming the cursor.
import { describe, expect, it } from "vitest";
import { z } from "zod";
import { decodeCursor, encodeCursor, page } from "../../src/contract/cursor";
import { ApiError } from "../../src/contract/errors";

const IdCursor = z.object({ id: z.string() });
const SessionCursor = z.object({ started_at: z.number(), project_id: z.string(), session_id: z.string() });

function decodeError(cursor: string): unknown {
  try {
    decodeCursor(cursor, IdCursor);
  } catch (e) {
    return e;
  }
  return "decoded";
}

describe("encodeCursor and decodeCursor", () => {
  it("read back exactly what was written", () => {
    const key = { started_at: 1_795_600_800_000, project_id: "prj_01", session_id: "run ~42? (é)" };
    expect(decodeCursor(encodeCursor(key), SessionCursor)).toEqual(key);
  });

  it("write URL-safe text: no +, / or = padding, even where base64 would have them", () => {
    const key = { id: "dev_>>>?" };
    expect(btoa(JSON.stringify(key))).toMatch(/[+/=]/);
    const cursor = encodeCursor(key);
    expect(cursor).toMatch(/^[A-Za-z0-9_-]+$/);
    expect(decodeCursor(cursor, IdCursor)).toEqual(key);
  });

  it("read back keys in any script, however long, within the cursor's length limit", () => {
    const key = {
      started_at: 1764000000000,
      project_id: "prj_01KB0000000000000000000000",
      session_id: `セッション-${"運".repeat(120)}-🤖`,
    };
    const cursor = encodeCursor(key);
    expect(decodeCursor(cursor, SessionCursor)).toEqual(key);
    expect(cursor.length).toBeLessThanOrEqual(2048);
  });

  it("answer undefined when there is no cursor: the first page", () => {
    expect(decodeCursor(undefined, IdCursor)).toBeUndefined();
  });

  it("refuse text that is not a cursor, one of another shape, and an empty one, as a 400 invalid_cursor", () => {
    const otherShape = encodeCursor({ started_at: 1 });
    const notJson = btoa("not json").replace(/=+$/, "");
    for (const cursor of ["%%%", "", notJson, otherShape, encodeCursor({ id: 42 })]) {
      const error = decodeError(cursor);
      expect(error, `cursor ${JSON.stringify(cursor)}`).toBeInstanceOf(ApiError);
      expect(error).toMatchObject({
        status: 400,
        code: "validation_failed",
        details: [{ location: "query", path: "cursor", code: "invalid_cursor" }],
      });
    }
  });
});

describe("page", () => {
  const rows = [{ id: "a" }, { id: "b" }, { id: "c" }];

  it("keeps the first `limit` rows of a limit + 1 fetch and points the cursor at the last one kept", () => {
    const { items, next_cursor } = page(rows, 2, (r) => ({ id: r.id }));
    expect(items).toEqual([{ id: "a" }, { id: "b" }]);
    expect(decodeCursor(next_cursor!, IdCursor)).toEqual({ id: "b" });
  });

  it("has no next cursor when the fetch found no more than `limit` rows", () => {
    expect(page(rows, 3, (r) => ({ id: r.id }))).toEqual({ items: rows, next_cursor: null });
    expect(page([], 3, (r: { id: string }) => ({ id: r.id }))).toEqual({ items: [], next_cursor: null });
  });
});
