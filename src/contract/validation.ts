// zod failures in the contract's shape: validation_failed with the location and path of each
// field, the same wherever the value came from (a body, a query, a socket frame). zod's own
// words ("Invalid input: expected string, received undefined") are put as a person reads them
// ("is required"); the messages the contract's schemas write are kept as they are.
import type { z } from "zod";
import { ApiError } from "./errors";

export type Location = "body" | "query" | "path";

export function pathOf(path: PropertyKey[]): string {
  return path.length === 0 ? "(root)" : path.map(String).join(".");
}

/** zod's default messages start so; a schema's own message never does. */
const ZOD_WORDS = /^(Invalid|Too small|Too big|Unrecognized)/;

const TYPE_NAMES: Record<string, string> = {
  string: "text",
  number: "a number",
  int: "an integer",
  boolean: "true or false",
  object: "an object",
  array: "an array",
  bigint: "an integer",
  date: "a date",
  nan: "a number",
};

const FORMATS: Record<string, string> = {
  datetime: "an ISO 8601 time with its offset, such as 2026-12-01T08:00:00Z",
  date: "a date as YYYY-MM-DD",
  email: "an email address",
  url: "a URL (https://…)",
  uuid: "a UUID",
};

const quoted = (values: readonly unknown[]) => values.map((v) => JSON.stringify(v)).join(", ");

/** One issue's message as a person reads it, without the field's name (the path says it). */
function wordIssue(issue: z.core.$ZodIssue): string {
  if (!ZOD_WORDS.test(issue.message)) return issue.message;
  const i = issue as z.core.$ZodIssue & Record<string, unknown>;
  const unit = i.origin === "string" ? " characters" : i.origin === "array" || i.origin === "set" ? " items" : "";
  switch (issue.code) {
    case "invalid_type":
      if (/received undefined/.test(issue.message)) return "is required";
      return `must be ${TYPE_NAMES[String(i.expected)] ?? String(i.expected)}`;
    case "too_small":
      if (i.origin === "string" && Number(i.minimum) === 1) return "cannot be empty";
      return `must be ${i.inclusive === false ? "more than" : "at least"} ${i.minimum}${unit}`;
    case "too_big":
      return `must be ${i.inclusive === false ? "less than" : "at most"} ${i.maximum}${unit}`;
    case "invalid_value":
      return (i.values as unknown[]).length === 1
        ? `must be ${quoted(i.values as unknown[])}`
        : `must be one of ${quoted(i.values as unknown[])}`;
    case "unrecognized_keys":
      return `has fields this request does not take: ${(i.keys as string[]).join(", ")}`;
    case "invalid_format":
      return `must be ${FORMATS[String(i.format)] ?? `in the right form (${String(i.format)})`}`;
    default:
      return "is not valid here";
  }
}

/** "org_id must be …", or "started_at: before 2000-01-01…" for a message that is not a predicate. */
function issueText(path: string, message: string): string {
  return /^(must|is|has|cannot) /.test(message) ? `${path} ${message}` : `${path}: ${message}`;
}

/** zod's issues as one line a person reads: "module: must be at most 64 characters; level: …". */
export function issuesText(issues: z.core.$ZodIssue[], root = "line"): string {
  return issues.map((i) => `${i.path.length ? pathOf(i.path) : root}: ${wordIssue(i)}`).join("; ");
}

/** The contract's error for zod's issues. */
export function validationError(issues: z.core.$ZodIssue[], location?: Location): ApiError {
  const details = issues.map((i) => ({
    ...(location ? { location } : {}),
    path: pathOf(i.path),
    message: wordIssue(i),
    code: i.code,
  }));
  const text = details.map((d) => issueText(d.path === "(root)" ? (location ?? "the frame") : d.path, d.message));
  return new ApiError(
    "validation_failed",
    location ? `invalid ${location}: ${text.join("; ")}` : text.join("; "),
    details,
  );
}

export function parseOrThrow<S extends z.ZodType>(schema: S, value: unknown, location: Location): z.output<S> {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  throw validationError(result.error.issues, location);
}
