// The stages of a LogQL pipeline after its first line filters, as Loki runs them on each line:
// line filters on the current line, the `json` and `logfmt` parsers (extracted labels join the
// line's labels, renamed `<name>_extracted` where a stream label has the name), label filters on
// any label (strings, numbers, durations, bytes, with and/or), `line_format` with `{{.label}}`
// substitutions, `decolorize`, and `drop`/`keep` of labels. A value a numeric filter cannot read
// sets `__error__` and keeps the line, as in Loki, so `| __error__=""` drops it; a line without
// the label is dropped.

import type { RegexWork } from "./logql-regex";
import type { LabelMatcher, Labels, LineFilter } from "./logql-terms";
import { LOKI_LABELS, parseDurationUs } from "./logql-terms";

export type CompareOp = ">" | ">=" | "<" | "<=" | "==" | "!=";

/** A label filter expression: a test on one label, or two joined. */
export type LabelPredicate =
  | { kind: "string"; matcher: Omit<LabelMatcher, "label"> & { label: string } }
  | { kind: "number" | "duration" | "bytes"; label: string; op: CompareOp; value: number }
  | { kind: "and" | "or"; left: LabelPredicate; right: LabelPredicate };

/** Where `| json a="b.c[0]"` finds a value: keys and array indexes. */
export type JsonPath = (string | number)[];

export type Stage =
  | { kind: "line"; filter: LineFilter }
  | { kind: "json"; extract?: { label: string; path: JsonPath }[] }
  | { kind: "logfmt"; extract?: { label: string; key: string }[] }
  | { kind: "label"; predicate: LabelPredicate }
  | { kind: "line_format"; template: (string | { label: string })[] }
  | { kind: "decolorize" }
  | { kind: "drop" | "keep"; names: string[] };

/** Whether any stage needs each line read and run (drop and keep change labels only). */
export const readsLines = (stages: Stage[]) => stages.some((s) => s.kind !== "drop" && s.kind !== "keep");

/** Whether the stages can give a line labels beyond its stream's (a parser). */
export const extractsLabels = (stages: Stage[]) => stages.some((s) => s.kind === "json" || s.kind === "logfmt");

/** A line and its labels after the stages, or null when a filter dropped it. `labels` is changed in place. */
export function runStages(
  stages: Stage[],
  line: string,
  labels: Labels,
  work: RegexWork,
): { line: string; labels: Labels } | null {
  for (const s of stages) {
    switch (s.kind) {
      case "line":
        if (!s.filter.test(line, work)) return null;
        break;
      case "json":
        addExtracted(labels, s.extract ? jsonExtract(line, s.extract) : jsonFields(line));
        break;
      case "logfmt":
        addExtracted(labels, s.extract ? logfmtExtract(line, s.extract) : logfmtFields(line));
        break;
      case "label":
        if (!passes(s.predicate, labels, work)) return null;
        break;
      case "line_format":
        line = s.template.map((p) => (typeof p === "string" ? p : (labels[p.label] ?? ""))).join("");
        break;
      case "decolorize":
        line = line.replace(ANSI, "");
        break;
      case "drop":
        for (const n of s.names) delete labels[n];
        break;
      case "keep":
        for (const n of Object.keys(labels)) if (!s.names.includes(n) && !ERROR_LABELS.has(n)) delete labels[n];
        break;
    }
  }
  return { line, labels };
}

/** Labels `| keep` leaves, as Loki's does: only `| drop` removes them. */
const ERROR_LABELS: ReadonlySet<string> = new Set(["__error__", "__error_details__"]);

/** drop and keep on a series' labels, for metric queries answered from counts. */
export function relabel(stages: Stage[], labels: Labels): Labels {
  for (const s of stages) {
    if (s.kind === "drop") for (const n of s.names) delete labels[n];
    if (s.kind === "keep") for (const n of Object.keys(labels)) if (!s.names.includes(n)) delete labels[n];
  }
  return labels;
}

// biome-ignore lint/suspicious/noControlCharactersInRegex: ANSI escapes start with ESC.
const ANSI = /\x1b\[[0-9;]*[A-Za-z]/g;

const STREAM_LABELS: ReadonlySet<string> = new Set(LOKI_LABELS);

/**
 * Extracted values join the labels; one named as a stream label the line has becomes `<name>_extracted`, as
 * in Loki.
 */
function addExtracted(labels: Labels, found: [string, string][]) {
  for (const [name, value] of found)
    labels[STREAM_LABELS.has(name) && name in labels ? `${name}_extracted` : name] = value;
}

/** A key as a label name: what is not a letter, digit or _ becomes _, and a leading digit gets a _ before it. */
function labelName(key: string): string {
  const s = key.replace(/[^A-Za-z0-9_]/g, "_");
  return /^[0-9]/.test(s) ? `_${s}` : s;
}

/** Every scalar of a JSON object line, nested keys joined by _; a line that is not an object sets __error__. */
export const jsonFields = (line: string): [string, string][] =>
  jsonFieldPaths(line).map(([name, value]) => [name, value]);

/** jsonFields with where each value is (its keys from the top), for detected_fields. */
export function jsonFieldPaths(line: string): [string, string, string[]][] {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    return [["__error__", "JSONParserErr", []]];
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) return [["__error__", "JSONParserErr", []]];
  const out: [string, string, string[]][] = [];
  const walk = (obj: Record<string, unknown>, prefix: string, path: string[]) => {
    for (const [k, v] of Object.entries(obj)) {
      const name = prefix + labelName(k);
      if (v !== null && typeof v === "object") {
        if (!Array.isArray(v)) walk(v as Record<string, unknown>, `${name}_`, [...path, k]);
      } else out.push([name, v === null ? "" : String(v), [...path, k]]);
    }
  };
  walk(value as Record<string, unknown>, "", []);
  return out;
}

function jsonExtract(line: string, extract: { label: string; path: JsonPath }[]): [string, string][] {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    return [["__error__", "JSONParserErr"]];
  }
  return extract.map(({ label, path }) => {
    let v: unknown = value;
    for (const step of path) v = v !== null && typeof v === "object" ? (v as Record<string, unknown>)[step] : undefined;
    return [label, v === undefined || v === null ? "" : typeof v === "object" ? JSON.stringify(v) : String(v)];
  });
}

/** `key=value key="quoted value"` pairs of a logfmt line; empty values are left out, as Loki does by default. */
export function logfmtFields(line: string): [string, string][] {
  const out: [string, string][] = [];
  const re = /([^\s="]+)(?:=("(?:[^"\\]|\\.)*"|[^\s"]*))?/g;
  for (const m of line.matchAll(re)) {
    let value = m[2] ?? "";
    if (value.startsWith('"')) {
      try {
        value = JSON.parse(value) as string;
      } catch {
        value = value.slice(1, -1);
      }
    }
    if (value !== "") out.push([labelName(m[1]!), value]);
  }
  return out;
}

function logfmtExtract(line: string, extract: { label: string; key: string }[]): [string, string][] {
  const all = new Map(logfmtFields(line));
  return extract.map(({ label, key }) => [label, all.get(labelName(key)) ?? ""]);
}

function passes(p: LabelPredicate, labels: Labels, work: RegexWork): boolean {
  switch (p.kind) {
    case "and":
      return passes(p.left, labels, work) && passes(p.right, labels, work);
    case "or":
      return passes(p.left, labels, work) || passes(p.right, labels, work);
    case "string":
      return p.matcher.test(labels[p.matcher.label] ?? "", work);
    default: {
      // As Loki: a line already in error passes (only a string matcher on __error__ drops it), a
      // line without the label does not, and one whose value is no number is kept with the error named.
      if (labels.__error__ !== undefined) return true;
      const text = labels[p.label];
      if (text === undefined) return false;
      const n = p.kind === "number" ? numberOf(text) : p.kind === "duration" ? durationOf(text) : bytesOf(text);
      if (Number.isNaN(n)) {
        labels.__error__ = "LabelFilterErr";
        return true;
      }
      return compare(n, p.op, p.value);
    }
  }
}

function compare(a: number, op: CompareOp, b: number): boolean {
  switch (op) {
    case ">":
      return a > b;
    case ">=":
      return a >= b;
    case "<":
      return a < b;
    case "<=":
      return a <= b;
    case "==":
      return a === b;
    case "!=":
      return a !== b;
  }
}

const numberOf = (text: string) => (/^\s*[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?\s*$/.test(text) ? Number(text) : NaN);

/** A Go duration (1.5s, 300ms, -2m) in seconds; NaN when not one. */
export function durationOf(text: string): number {
  const t = text.trim();
  const sign = t.startsWith("-") ? -1 : 1;
  const us = parseDurationUs(t.replace(/^[-+]/, ""));
  return /^[-+]?\d+(\.\d+)?$/.test(t) || Number.isNaN(us) ? NaN : (sign * us) / 1e6;
}

const BYTE_UNITS: Record<string, number> = { "": 1, k: 1e3, m: 1e6, g: 1e9, t: 1e12, p: 1e15, e: 1e18 };

/** A size such as 10KB, 5 MiB, 3k or 1G in bytes (humanize's units: KB 1000, KiB 1024); NaN when not one. */
export function bytesOf(text: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([kmgtpe]?)(i?)b?\s*$/i.exec(text);
  if (!m) return NaN;
  const unit = m[2]!.toLowerCase();
  const scale = m[3] ? 1024 ** Object.keys(BYTE_UNITS).indexOf(unit) : BYTE_UNITS[unit]!;
  return Number(m[1]) * scale;
}
