// JSON Schema (as openapi.json carries it from the zod contract, src/http/describe.ts) read for people: a type in a
// few words, its constraints, and an object's fields flattened to dotted names
// (logs[].level) so a request body reads as one table.

export interface JsonSchema {
  type?: string | string[];
  properties?: Record<string, JsonSchema>;
  required?: string[];
  items?: JsonSchema;
  additionalProperties?: JsonSchema | boolean;
  propertyNames?: JsonSchema;
  enum?: unknown[];
  const?: unknown;
  anyOf?: JsonSchema[];
  oneOf?: JsonSchema[];
  allOf?: JsonSchema[];
  default?: unknown;
  description?: string;
  format?: string;
  pattern?: string;
  minLength?: number;
  maxLength?: number;
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: number;
  exclusiveMaximum?: number;
  minItems?: number;
  maxItems?: number;
  $ref?: string;
}

export interface Field {
  name: string;
  type: string;
  required: boolean;
  notes: string[];
}

/** How deep nested objects are opened into rows of their own. */
const MAX_DEPTH = 4;

const alternatives = (s: JsonSchema) => s.anyOf ?? s.oneOf ?? s.allOf;

/** The schema's type in a few words: "string", "integer", "object[]", "one of a | b", "string or null". */
export function typeOf(s: JsonSchema): string {
  if (s.$ref) return s.$ref.split("/").pop() ?? "object";
  if (s.const !== undefined) return JSON.stringify(s.const);
  if (s.enum) return s.enum.map((v) => JSON.stringify(v)).join(" | ");
  const alts = alternatives(s);
  if (alts) return [...new Set(alts.map(typeOf))].join(" or ");
  const t = Array.isArray(s.type) ? s.type.join(" or ") : s.type;
  if (t === "array") return `${s.items ? typeOf(s.items) : "any"}[]`;
  if (t === "object" && !s.properties && s.additionalProperties && typeof s.additionalProperties === "object") {
    return `map of ${typeOf(s.additionalProperties)}`;
  }
  if (t === "string" && s.format) return `string (${s.format})`;
  return t ?? "any";
}

/** A pattern in words where it is one of the contract's usual ones. */
function describePattern(p: string): string {
  const id = /^\^(\w+)_\[0-9A-HJKMNP-TV-Z\]\{26\}\$$/.exec(p);
  if (id) return `an id like ${id[1]}_01J…`;
  if (p.includes("\\p{Cc}")) return "printable text, no control characters or surrounding spaces";
  if (p === "^\\d{4}-\\d{2}-\\d{2}$") return "a date, YYYY-MM-DD";
  if (p.includes("\\d{4}-") && p.includes("T")) return "an ISO 8601 time (2026-11-25T10:00:00Z)";
  return `matches ${p}`;
}

/** Constraints and defaults, in words. */
export function notesOf(s: JsonSchema): string[] {
  const notes: string[] = [];
  if (s.description) notes.push(s.description);
  if (s.default !== undefined) notes.push(`default ${JSON.stringify(s.default)}`);
  if (s.minLength !== undefined || s.maxLength !== undefined) {
    notes.push(
      s.maxLength === undefined
        ? `at least ${s.minLength} characters`
        : `${s.minLength ?? 0}–${s.maxLength} characters`,
    );
  }
  const lo = s.minimum ?? s.exclusiveMinimum;
  const hi = s.maximum ?? s.exclusiveMaximum;
  if (lo !== undefined && hi !== undefined) notes.push(`${lo}…${hi}`);
  else if (lo !== undefined) notes.push(`${s.exclusiveMinimum !== undefined ? ">" : "≥"} ${lo}`);
  else if (hi !== undefined) notes.push(`${s.exclusiveMaximum !== undefined ? "<" : "≤"} ${hi}`);
  if (s.minItems !== undefined || s.maxItems !== undefined) notes.push(`${s.minItems ?? 0}–${s.maxItems ?? "∞"} items`);
  if (s.pattern) notes.push(describePattern(s.pattern));
  if (s.propertyNames?.pattern) notes.push(`keys: ${describePattern(s.propertyNames.pattern)}`);
  return notes;
}

/**
 * The object schema inside `s` whose fields should open up, if any (an object, an array of them, or one
 * alternative that is).
 */
function objectIn(s: JsonSchema): { schema: JsonSchema; suffix: string } | null {
  if (s.properties) return { schema: s, suffix: "" };
  if (s.items?.properties) return { schema: s.items, suffix: "[]" };
  const objects = (alternatives(s) ?? []).filter((a) => a.properties);
  return objects.length === 1 ? { schema: objects[0]!, suffix: "" } : null;
}

/** Every field of an object schema, nested ones as dotted names, in the schema's order. */
export function fieldsOf(s: JsonSchema, prefix = "", depth = 0): Field[] {
  const out: Field[] = [];
  const required = new Set(s.required ?? []);
  for (const [name, prop] of Object.entries(s.properties ?? {})) {
    const full = `${prefix}${name}`;
    out.push({ name: full, type: typeOf(prop), required: required.has(name), notes: notesOf(prop) });
    const inner = depth < MAX_DEPTH ? objectIn(prop) : null;
    if (inner) out.push(...fieldsOf(inner.schema, `${full}${inner.suffix}.`, depth + 1));
  }
  return out;
}

/** Every word a search can match on: the schema's field names. */
export const fieldNames = (s: JsonSchema | undefined): string[] => (s ? fieldsOf(s).map((f) => f.name) : []);
