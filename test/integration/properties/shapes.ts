// What every answer must look like, whatever was asked: the contract's error body with a code
// that fits the status, and nothing of the other org in a successful answer.
import { expect } from "vitest";
import type { LooseJson } from "../helpers";

/** The contract's error codes and the statuses each may come with (docs/api.md, "Errors"). */
const STATUS_OF: Record<string, number[]> = {
  bad_request: [400],
  validation_failed: [400],
  unauthorized: [401],
  forbidden: [403],
  not_found: [404],
  conflict: [409],
  gone: [410],
  payload_too_large: [413],
  unsupported_media_type: [415],
  quota_exceeded: [429],
  rate_limited: [429],
  internal: [500],
};

/** The body is `{error: {code, message, details?}}` and nothing else. */
export function expectErrorShape(json: LooseJson, context: string): void {
  expect(json, `${context}: an error body`).toBeTypeOf("object");
  expect(json, context).not.toBeNull();
  expect(Object.keys(json), `${context}: only "error" at the top`).toEqual(["error"]);
  const { error } = json;
  expect(
    Object.keys(error).every((k) => ["code", "message", "details"].includes(k)),
    `${context}: error keys ${Object.keys(error)}`,
  ).toBe(true);
  expect(Object.keys(STATUS_OF), `${context}: a contract code`).toContain(error.code);
  expect(error.message, `${context}: a message`).toBeTypeOf("string");
}

/** A non-2xx answer: never a 5xx, always the error shape with a code that fits the status. */
export function expectClientError(status: number, json: LooseJson, context: string): void {
  expect(status, `${context}: never a server error; body ${JSON.stringify(json)?.slice(0, 300)}`).toBeLessThan(500);
  expectErrorShape(json, context);
  expect(STATUS_OF[json.error.code], `${context}: code ${json.error.code} with status ${status}`).toContain(status);
}

/** An error frame on a socket: the same body behind `type: "error"`, never an internal error. */
export function expectErrorFrame(frame: LooseJson, context: string): void {
  expect(frame.type, context).toBe("error");
  const { type: _type, id: _id, ...body } = frame;
  expectErrorShape(body, context);
  expect(frame.error.code, `${context}: a client error, not an internal one: ${JSON.stringify(frame)}`).not.toBe(
    "internal",
  );
}

/** Fails when `text` names any of `secrets` (another org's ids, keys or log text). */
export function expectNoLeak(text: string, secrets: string[], context: string): void {
  const leaked = secrets.filter((s) => text.includes(s));
  expect(leaked, `${context}: another org's data in the answer: ${text.slice(0, 300)}`).toEqual([]);
}
