// What OTLP exporters act on: Retry-After only on 429 and 503, a Status body in the request's
// encoding, and an unexpected failure as a retryable 503.
import { fromBinary } from "@bufbuild/protobuf";
import { describe, expect, it } from "vitest";
import { ApiError } from "../../src/contract/errors";
import { errorAnswer } from "../../src/otlp/answer";
import { StatusSchema } from "../../src/otlp/gen/google/rpc/status_pb";

describe("OTLP error answers", () => {
  it("turns a failure nobody foresaw into 503 with Retry-After, without its details", async () => {
    const res = errorAnswer("json", new Error("the object was reset"));
    expect(res.status).toBe(503);
    expect(res.headers.get("retry-after")).toBe("1");
    expect(await res.json()).toEqual({ code: 14, message: "the server could not store the export now; retry" });
  });

  it("keeps a quota's Retry-After on its 429, in protobuf for a protobuf request", async () => {
    const res = errorAnswer(
      "protobuf",
      new ApiError("quota_exceeded", "the month's limit is reached", {}, { "retry-after": "86400" }),
    );
    expect(res.status).toBe(429);
    expect(res.headers.get("retry-after")).toBe("86400");
    expect(res.headers.get("content-type")).toBe("application/x-protobuf");
    expect(fromBinary(StatusSchema, new Uint8Array(await res.arrayBuffer()))).toMatchObject({
      code: 8,
      message: "the month's limit is reached",
    });
  });

  it("answers what will never be accepted without Retry-After", () => {
    for (const err of [
      new ApiError("bad_request", "malformed"),
      new ApiError("payload_too_large", "too big", {}, { "retry-after": "5" }),
      new ApiError("unauthorized", "no key"),
    ]) {
      const res = errorAnswer("json", err);
      expect(res.status).toBeLessThan(500);
      expect(res.status).not.toBe(429);
      expect(res.headers.get("retry-after")).toBeNull();
    }
  });
});
