// LogQL text to a query (src/contract/logql.ts, logql-pipeline.ts, logql-metric.ts), parsed with
// Grafana's own grammar (@grafana/lezer-logql, the one its query editor uses), so that what
// Grafana accepts parses here the same way. The tree is walked node by node: what fleetbeat runs
// becomes data, anything else is a 400 naming the part (`| pattern` is not supported), and a
// syntax error is a 400 naming the position and what was expected there.
import { parser } from "@grafana/lezer-logql";
import { ApiError } from "./errors";
import {
  DETECTED_LEVEL,
  type LabelMatcher,
  type LineFilter,
  LOKI_LABELS,
  type LogQuery,
  type LokiLabel,
  MAX_QUERY_CHARS,
  type MatchOp,
  parseDurationUs,
} from "./logql";
import type { MetricExpr, RangeOp, VectorAggregation, VectorOp } from "./logql-metric";
import type { CompareOp, JsonPath, LabelPredicate, Stage } from "./logql-pipeline";
import { bytesOf, durationOf, extractsLabels } from "./logql-pipeline";
import { RegexBudget } from "./logql-regex";

/** A node of the grammar's tree (@lezer/common's, reached through the parser so no other package is named). */
type SyntaxNode = ReturnType<typeof parser.parse>["topNode"];

export type ParsedQuery = { kind: "log"; log: LogQuery } | { kind: "metric"; metric: MetricExpr };

const SUPPORTED =
  "fleetbeat runs stream selectors, line filters, | json, | logfmt, label filters, | line_format, | decolorize, | drop, | keep, and count_over_time, rate, bytes_over_time, bytes_rate under sum, avg, count, min, max and topk";

const unsupported = (what: string) => new ApiError("bad_request", `${what} is not supported (${SUPPORTED})`);
const syntaxError = (at: number, message: string) =>
  new ApiError("bad_request", `parse error at position ${at + 1}: ${message}`);

const RANGE_OPS: Record<string, RangeOp> = {
  CountOverTime: "count_over_time",
  Rate: "rate",
  BytesOverTime: "bytes_over_time",
  BytesRate: "bytes_rate",
};
const VECTOR_OPS: Record<string, VectorOp> = {
  Sum: "sum",
  Avg: "avg",
  Count: "count",
  Min: "min",
  Max: "max",
  Topk: "topk",
};
const COMPARE_OPS: Record<string, CompareOp> = {
  Gtr: ">",
  Gte: ">=",
  Lss: "<",
  Lte: "<=",
  Eql: "==",
  Eq: "==",
  Neq: "!=",
};
const MATCH_OPS: Record<string, MatchOp> = { Eq: "=", Neq: "!=", Re: "=~", Nre: "!~" };
/** The most lines topk may keep per group. */
const MAX_TOPK = 1000;

/** Parses a LogQL log or metric query; throws a 400 ApiError naming what is wrong or unsupported. */
export function parseQuery(text: string): ParsedQuery {
  if (text.length > MAX_QUERY_CHARS)
    throw new ApiError("bad_request", `a query is at most ${MAX_QUERY_CHARS} characters`);
  if (text.trim() === "") throw new ApiError("bad_request", "query is required");
  const { tree, query, shift } = withEmptySelector(text);
  const walker = new Walker(query, shift);
  walker.refuseErrors(tree.topNode);
  const expr = tree.topNode.getChild("Expr");
  if (!expr) throw syntaxError(0, 'expected a stream selector such as {level="ERROR"} or a metric query');
  const parsed = walker.expr(expr);
  // An unknown label is named only once nothing else in the query is refused.
  if (walker.unknownLabel) throw walker.unknownLabel;
  return parsed;
}

/** The matcher that stands for an empty selector `{}` while the grammar (which wants one) parses it. */
const ANY_STREAM = "__fleetbeat_any_stream__";

/**
 * The query's tree, where `{}` selects every stream as it always has here: Grafana's grammar (and
 * Loki) want a matcher in every selector, so an empty one is parsed as `{ANY_STREAM=""}`.
 */
function withEmptySelector(text: string) {
  let tree = parser.parse(text);
  let error: SyntaxNode | null = null;
  tree.topNode.cursor().iterate((n) => {
    if (error) return false;
    if (n.type.isError) error = n.node;
    return undefined;
  });
  const selector = (error as SyntaxNode | null)?.parent;
  const empty = selector?.name === "Selector" ? /^\{\s*\}/.exec(text.slice(selector.from)) : null;
  if (!selector || !empty) return { tree, query: text, shift: { at: Infinity, by: 0 } };
  const end = selector.from + empty[0].length;
  const replacement = `{${ANY_STREAM}=""}`;
  const query = text.slice(0, selector.from) + replacement + text.slice(end);
  tree = parser.parse(query);
  return { tree, query, shift: { at: end, by: replacement.length - (end - selector.from) } };
}

/** Parses a log query (a selector, then its pipeline); a metric query here is a 400. */
export function parseLogQuery(text: string): LogQuery {
  const q = parseQuery(text);
  if (q.kind === "metric") {
    throw new ApiError(
      "bad_request",
      "a metric query is not a log query: this endpoint takes a stream selector and its pipeline",
    );
  }
  return q.log;
}

class Walker {
  private readonly regexes = new RegexBudget();
  unknownLabel: ApiError | null = null;
  constructor(
    private readonly query: string,
    /** Where `{}` was widened, and by how much: positions past it are told as the caller wrote them. */
    private readonly shift: { at: number; by: number },
  ) {}

  private at = (pos: number) => (pos >= this.shift.at ? pos - this.shift.by : pos);

  private text = (n: SyntaxNode) => this.query.slice(n.from, n.to);

  /** The first syntax error, in words: what was expected where. */
  refuseErrors(top: SyntaxNode) {
    let error: SyntaxNode | null = null;
    top.cursor().iterate((n) => {
      if (error) return false;
      if (n.type.isError) error = n.node;
      return undefined;
    });
    if (!error) return;
    const e = error as SyntaxNode;
    const parent = e.parent;
    const prev = e.prevSibling;
    const found = this.query.slice(e.from).trimStart();
    const what = found === "" ? "the end of the query" : `"${found.slice(0, 12)}"`;
    const at = this.at(e.from);
    if (parent?.name === "Matcher" && prev?.name === "Identifier")
      throw syntaxError(at, `expected =, !=, =~ or !~ after ${this.text(prev)}, found ${what}`);
    if (parent?.name === "Matcher" && prev && prev.name in MATCH_OPS) {
      throw syntaxError(at, found.startsWith('"') ? "unterminated string" : `expected a quoted string, found ${what}`);
    }
    if (parent?.name === "Selector") throw syntaxError(at, `expected "," or "}", found ${what}`);
    if (parent?.name === "LogQL" && e.from === 0)
      throw syntaxError(at, `expected a stream selector such as {level="ERROR"} or a metric query, found ${what}`);
    throw syntaxError(at, `unexpected ${what}`);
  }

  expr(n: SyntaxNode): ParsedQuery {
    const log = n.getChild("LogExpr");
    if (log) return { kind: "log", log: this.logExpr(log) };
    return { kind: "metric", metric: this.metric(n.getChild("MetricExpr")!) };
  }

  private logExpr(n: SyntaxNode): LogQuery {
    const inner = n.getChild("LogExpr");
    if (inner) return this.logExpr(inner);
    const pipeline = n.getChild("PipelineExpr");
    return this.logQuery(n.getChild("Selector")!, pipeline ? collect(pipeline, "PipelineStage") : []);
  }

  private logQuery(selector: SyntaxNode, stageNodes: SyntaxNode[]): LogQuery {
    const matchers = collect(selector, "Matcher").flatMap((m) => this.selectorMatcher(m));
    const stages = stageNodes.flatMap((s) => this.stage(s));
    // Line filters before any other stage read the line as stored: the search and the tail can use them.
    const firstOther = stages.findIndex((s) => s.kind !== "line");
    const leading = firstOther < 0 ? stages : stages.slice(0, firstOther);
    return {
      matchers,
      filters: leading.map((s) => (s as Extract<Stage, { kind: "line" }>).filter),
      stages: firstOther < 0 ? [] : stages.slice(firstOther),
    };
  }

  private selectorMatcher(n: SyntaxNode): LabelMatcher[] {
    const name = this.text(n.getChild("Identifier")!);
    if (name === ANY_STREAM) return [];
    if (!(LOKI_LABELS as readonly string[]).includes(name)) {
      this.unknownLabel ??= new ApiError(
        "bad_request",
        `unknown label "${name}": the labels are ${LOKI_LABELS.join(", ")}`,
      );
      return [];
    }
    return [{ ...this.matcher(n, name), label: name as LokiLabel }];
  }

  /** A matcher `name op "value"`; `level` with = or != compares in any case (levels are the contract's five). */
  private matcher(n: SyntaxNode, name: string): Omit<LabelMatcher, "label"> & { label: string } {
    const opNode = n.getChild("Identifier")!.nextSibling!;
    const op = MATCH_OPS[opNode.name]!;
    const value = this.string(n.getChild("String")!);
    const caseless = name === "level" && (op === "=" || op === "!=");
    if (op === "=" || op === "!=") {
      const want = caseless ? value.toUpperCase() : value;
      const norm = caseless ? (v: string) => v.toUpperCase() : (v: string) => v;
      return { label: name, op, value: want, test: op === "=" ? (v) => norm(v) === want : (v) => norm(v) !== want };
    }
    const re = this.regexes.compile(value, true);
    return { label: name, op, value, test: op === "=~" ? (v, w) => re.test(v, w) : (v, w) => !re.test(v, w) };
  }

  private stage(n: SyntaxNode): Stage[] {
    const filters = n.getChild("LineFilters");
    if (filters) return collect(filters, "LineFilter").map((f) => ({ kind: "line", filter: this.lineFilter(f) }));
    const body = n.getChild("Pipe")?.nextSibling;
    if (!body) throw syntaxError(this.at(n.from), `unexpected "${this.text(n).slice(0, 12)}"`);
    switch (body.name) {
      case "LabelParser": {
        const kind = body.firstChild!.name;
        if (kind === "Json") return [{ kind: "json" }];
        if (kind === "Logfmt") return [{ kind: "logfmt" }];
        throw unsupported(`\`| ${this.text(body.firstChild!)}\``);
      }
      case "LogfmtParser":
        if (body.getChild("LogfmtParserFlags")) throw unsupported("`| logfmt` with flags (--strict, --keep-empty)");
        return [{ kind: "logfmt" }];
      case "JsonExpressionParser":
        return [
          { kind: "json", extract: this.extractions(body).map(([label, path]) => ({ label, path: jsonPath(path) })) },
        ];
      case "LogfmtExpressionParser":
        if (body.getChild("LogfmtParserFlags")) throw unsupported("`| logfmt` with flags (--strict, --keep-empty)");
        return [{ kind: "logfmt", extract: this.extractions(body).map(([label, key]) => ({ label, key })) }];
      case "LabelFilter":
        return [{ kind: "label", predicate: this.labelFilter(body) }];
      case "LineFormatExpr":
        return [{ kind: "line_format", template: lineTemplate(this.string(body.getChild("String")!)) }];
      case "DecolorizeExpr":
        return [{ kind: "decolorize" }];
      case "DropLabelsExpr":
      case "KeepLabelsExpr": {
        const kind = body.name === "DropLabelsExpr" ? "drop" : "keep";
        const items = collect(body, kind === "drop" ? "DropLabel" : "KeepLabel");
        if (items.some((i) => i.getChild("Matcher"))) throw unsupported(`\`| ${kind}\` with a matcher (name="value")`);
        return [{ kind, names: items.map((i) => this.text(i.getChild("Identifier")!)) }];
      }
      case "LabelFormatExpr":
        throw unsupported("`| label_format`");
      default:
        throw unsupported(`\`| ${this.text(body).split(/\s/)[0]}\``);
    }
  }

  private lineFilter(n: SyntaxNode): LineFilter {
    const opName = n.getChild("Filter")!.firstChild!.name;
    if (opName === "PipePattern" || opName === "Npa")
      throw unsupported(`the pattern line filter ${opName === "PipePattern" ? "|>" : "!>"}`);
    if (collect(n, "FilterOp").length > 0) throw unsupported("the ip() line filter");
    const op = ({ PipeExact: "|=", Neq: "!=", PipeMatch: "|~", Nre: "!~" } as const)[opName as "PipeExact"];
    const values = collect(n, "String").map((s) => this.string(s));
    if (op === "|=" || op === "!=") {
      const any = (line: string) => values.some((v) => line.includes(v));
      return { op, value: values[0]!, values, test: op === "|=" ? any : (line) => !any(line) };
    }
    const res = values.map((v) => this.regexes.compile(v, false));
    const any = (line: string, w?: Parameters<LineFilter["test"]>[1]) => res.some((re) => re.test(line, w));
    return { op, value: values[0]!, values, test: op === "|~" ? any : (line, w) => !any(line, w) };
  }

  private extractions(n: SyntaxNode): [string, string][] {
    return collect(n, "LabelExtractionExpression").map((e) => {
      const name = this.text(e.getChild("Identifier")!);
      const path = e.getChild("String");
      return [name, path ? this.string(path) : name];
    });
  }

  private labelFilter(n: SyntaxNode): LabelPredicate {
    const parts = children(n).filter((c) => c.name !== "(" && c.name !== ")");
    const subs = parts.filter((c) => c.name === "LabelFilter");
    if (subs.length === 1 && parts.length === 1) return this.labelFilter(subs[0]!);
    if (subs.length === 2) {
      return {
        kind: parts.some((c) => c.name === "Or") ? "or" : "and",
        left: this.labelFilter(subs[0]!),
        right: this.labelFilter(subs[1]!),
      };
    }
    const leaf = parts[0]!;
    if (leaf.name === "Matcher") {
      return { kind: "string", matcher: this.matcher(leaf, this.text(leaf.getChild("Identifier")!)) };
    }
    if (leaf.name === "IpLabelFilter") throw unsupported("the ip() label filter");
    const cmp = leaf.name === "UnitFilter" ? leaf.firstChild! : leaf;
    const label = this.text(cmp.getChild("Identifier")!);
    const op = COMPARE_OPS[cmp.getChild("Identifier")!.nextSibling!.name]!;
    if (cmp.name === "DurationFilter")
      return { kind: "duration", label, op, value: durationOf(this.text(cmp.getChild("Duration")!)) };
    if (cmp.name === "BytesFilter")
      return { kind: "bytes", label, op, value: bytesOf(this.text(cmp.getChild("Bytes")!)) };
    return { kind: "number", label, op, value: Number(this.text(cmp.getChild("LiteralExpr")!).replace(/\s+/g, "")) };
  }

  private metric(n: SyntaxNode): MetricExpr {
    const node = n.firstChild!;
    switch (node.name) {
      case "MetricExpr":
        return this.metric(node);
      case "RangeAggregationExpr":
        return this.rangeAggregation(node);
      case "VectorAggregationExpr":
        return this.vectorAggregation(node);
      case "BinOpExpr":
        throw unsupported(`the binary operator \`${this.text(binaryOperator(node))}\``);
      case "VectorExpr":
        throw unsupported("`vector(…)`");
      case "LiteralExpr":
        throw unsupported("a number as a query");
      case "LabelReplaceExpr":
        throw unsupported("`label_replace(…)`");
      default:
        throw unsupported(`\`${this.text(node).split("(")[0]}(…)\``);
    }
  }

  private rangeAggregation(n: SyntaxNode): MetricExpr {
    const opNode = n.getChild("RangeOp")!.firstChild!;
    const op = RANGE_OPS[opNode.name];
    if (!op) throw unsupported(`\`${this.text(opNode)}(…)\``);
    if (n.getChild("Grouping"))
      throw unsupported(`\`${this.text(opNode)}(…) by/without\` (a range aggregation's grouping)`);
    const range = n.getChild("LogRangeExpr")!;
    if (range.getChild("UnwrapExpr")) throw unsupported("`| unwrap`");
    // The pipeline may sit inside parentheses, after the range, or both: its stages in text order.
    const inner = range.getChild("LogExpr");
    const selector = inner ? innermost(inner).getChild("Selector")! : range.getChild("Selector")!;
    const pipelines = [
      ...(inner ? innermost(inner).getChildren("PipelineExpr") : []),
      ...range.getChildren("PipelineExpr"),
    ];
    const log = this.logQuery(
      selector,
      pipelines.flatMap((p) => collect(p, "PipelineStage")),
    );
    const rangeUs = parseDurationUs(this.text(range.getChild("Range")!.getChild("Duration")!));
    const offset = range.getChild("OffsetExpr");
    const offsetUs = offset ? parseDurationUs(this.text(offset.getChild("Duration")!)) : 0;
    if (!(rangeUs >= 1000)) throw new ApiError("bad_request", "a range [duration] is at least 1ms");
    return { kind: "range", op, log, rangeUs: Math.round(rangeUs), offsetUs: Math.round(offsetUs) };
  }

  private vectorAggregation(n: SyntaxNode): MetricExpr {
    const opNode = n.getChild("VectorOp")!.firstChild!;
    const op = VECTOR_OPS[opNode.name];
    if (!op) throw unsupported(`\`${this.text(opNode)}\``);
    const inner = this.metric(n.getChild("MetricExpr")!);
    const out: VectorAggregation = { kind: "vector", op, inner };
    if (op === "topk") {
      const k = Number(this.text(n.getChild("Number")!));
      if (!Number.isInteger(k) || k < 1 || k > MAX_TOPK)
        throw new ApiError("bad_request", `topk's k is an integer from 1 to ${MAX_TOPK}`);
      out.k = k;
    }
    const grouping = n.getChild("Grouping");
    if (grouping) {
      const labels = collect(grouping, "Identifier").map((i) => this.text(i));
      out.grouping = { without: grouping.getChild("Without") !== null, labels };
      this.checkGroupingLabels(inner, labels);
    }
    return out;
  }

  /**
   * Without a parser, a stream has only fleetbeat's labels (and detected_level): grouping by another is
   * refused by name.
   */
  private checkGroupingLabels(inner: MetricExpr, labels: string[]) {
    let e = inner;
    while (e.kind === "vector") e = e.inner;
    if (extractsLabels(e.log.stages)) return;
    const known = [...LOKI_LABELS, DETECTED_LEVEL] as string[];
    const unknown = labels.find((l) => !known.includes(l));
    if (unknown) {
      throw new ApiError(
        "bad_request",
        `grouping by "${unknown}" is not supported: without | json or | logfmt, a series has the labels ${known.join(", ")}`,
      );
    }
  }

  /** A Go string literal: "double-quoted" with escapes, or `raw`. */
  private string(n: SyntaxNode): string {
    const raw = this.text(n);
    if (raw.startsWith("`")) return raw.slice(1, -1);
    try {
      return JSON.parse(raw) as string;
    } catch {
      throw syntaxError(
        this.at(n.from),
        "invalid escape in string (write \\\\ for a backslash, or use a `raw string`)",
      );
    }
  }
}

/** The children of a node. */
function children(n: SyntaxNode): SyntaxNode[] {
  const out: SyntaxNode[] = [];
  for (let c = n.firstChild; c; c = c.nextSibling) out.push(c);
  return out;
}

/** The outermost descendants named `name`, in order (the grammar nests lists: Matchers in Matchers, …). */
function collect(n: SyntaxNode, name: string): SyntaxNode[] {
  const out: SyntaxNode[] = [];
  for (const c of children(n)) {
    if (c.name === name) out.push(c);
    else out.push(...collect(c, name));
  }
  return out;
}

/** A binary expression's operator: the child between its operands that is no comment or modifier. */
const binaryOperator = (n: SyntaxNode) =>
  children(n).find((c) => !["Expr", "LineComment", "BinOpModifier", "(", ")"].includes(c.name))!;

/** A parenthesised log expression's innermost one. */
const innermost = (n: SyntaxNode): SyntaxNode => {
  const inner = n.getChild("LogExpr");
  return inner ? innermost(inner) : n;
};

/** `a.b[0]` or `["a b"].c` as keys and indexes. */
function jsonPath(text: string): JsonPath {
  const out: JsonPath = [];
  const re = /\[\s*(\d+)\s*\]|\[\s*"((?:[^"\\]|\\.)*)"\s*\]|\.?([^.[\]]+)/g;
  for (const m of text.matchAll(re)) {
    if (m[1] !== undefined) out.push(Number(m[1]));
    else if (m[2] !== undefined) out.push(JSON.parse(`"${m[2]}"`) as string);
    else out.push(m[3]!);
  }
  return out;
}

/** A line_format template of text and `{{.label}}` (or `{{ .label }}`) only; anything else in {{ }} is refused. */
function lineTemplate(template: string): (string | { label: string })[] {
  const out: (string | { label: string })[] = [];
  let rest = template;
  for (;;) {
    const open = rest.indexOf("{{");
    if (open < 0) break;
    const close = rest.indexOf("}}", open);
    if (close < 0) throw new ApiError("bad_request", "line_format: unclosed {{ in the template");
    if (open > 0) out.push(rest.slice(0, open));
    const action = rest.slice(open + 2, close).trim();
    const field = /^\.([A-Za-z_][A-Za-z0-9_]*)$/.exec(action);
    if (!field) throw unsupported(`\`{{ ${action} }}\` in | line_format (only {{.label}} substitutions)`);
    out.push({ label: field[1]! });
    rest = rest.slice(close + 2);
  }
  if (rest !== "") out.push(rest);
  return out;
}
