// The API reference: /api/v1/openapi.json read for people. Operations grouped by tag, each
// with its method, path, who may call it, its summary, its path and query parameters, its
// JSON body's fields and how it refuses; a search box narrows them to those that mention every
// word typed.
import { useMemo, useState } from "preact/hooks";
import { type Field, fieldNames, fieldsOf, type JsonSchema, notesOf, typeOf } from "./schema";

interface Parameter {
  name: string;
  in: "path" | "query";
  required: boolean;
  schema: JsonSchema;
}

/** An example, or a reference to a shared one (its summary is kept beside the reference). */
interface Example {
  summary?: string;
  $ref?: string;
}

interface Response {
  description: string;
  content?: Record<string, { examples?: Record<string, Example> }>;
}

/** A response, or a reference to one shared under components.responses. */
type ResponseOrRef = Response | { $ref: string };

interface Operation {
  tags?: string[];
  summary: string;
  description?: string;
  "x-auth"?: string;
  parameters?: Parameter[];
  requestBody?: { content: Record<string, { schema: JsonSchema }> };
  responses?: Record<string, ResponseOrRef>;
}

/** A path's operations, and the server it is at when that is not the document's (OTLP's /v1/logs). */
type PathItem = Record<string, Operation> & { servers?: { url: string }[] };

export interface OpenApiDocument {
  info: { title: string; version: string; description?: string };
  servers?: { url: string }[];
  paths: Record<string, PathItem>;
  components?: { responses?: Record<string, Response> };
}

const METHODS = new Set(["get", "put", "post", "delete", "patch", "head", "options", "trace"]);

interface Entry {
  id: string;
  method: string;
  path: string;
  /** Where the path is, when not under the document's base URL. */
  server: string | undefined;
  tag: string;
  auth: string;
  op: Operation;
  body: JsonSchema | undefined;
  haystack: string;
}

const AUTH: Record<string, string> = {
  none: "no key",
  "server admin": "server admin token",
  viewer: "org key (any role)",
  operator: "org key (operator or admin)",
  admin: "org key (admin)",
  device: "device key",
  ticket: "tail ticket in the query",
  session: "signed-in person (session cookie)",
  "server admin or viewer": "server admin token, or org key (any role)",
};

/** What the description adds beyond the summary. */
const noteOf = (op: Operation) => op.description ?? "";
const authOf = (op: Operation) => op["x-auth"] ?? "";

function entries(doc: OpenApiDocument): Entry[] {
  const out: Entry[] = [];
  for (const [path, item] of Object.entries(doc.paths)) {
    for (const [method, value] of Object.entries(item)) {
      if (!METHODS.has(method)) continue;
      const op = value as Operation;
      const body = op.requestBody?.content["application/json"]?.schema;
      const tag = op.tags?.[0] ?? path.split("/")[1] ?? "";
      const auth = authOf(op);
      const words = [
        method,
        path,
        tag,
        op.summary,
        noteOf(op),
        auth,
        ...(op.parameters ?? []).map((p) => p.name),
        ...fieldNames(body),
      ];
      out.push({
        id: `${method}-${path}`.replace(/[^\w-]+/g, "-"),
        method,
        path,
        server: item.servers?.[0]?.url,
        tag,
        auth,
        op,
        body,
        haystack: words.join(" ").toLowerCase(),
      });
    }
  }
  return out;
}

function FieldTable({ caption, rows }: { caption: string; rows: (Field & { where?: string })[] }) {
  if (rows.length === 0) return null;
  return (
    <table class="fields">
      <caption>{caption}</caption>
      <thead>
        <tr>
          <th scope="col">Name</th>
          <th scope="col">Type</th>
          <th scope="col">Required</th>
          <th scope="col">Notes</th>
        </tr>
      </thead>
      <tbody>
        {rows.map((f) => (
          <tr>
            <td>
              <code>{f.name}</code>
              {f.where ? <span class="where"> ({f.where})</span> : null}
            </td>
            <td>
              <code class="type">{f.type}</code>
            </td>
            <td>{f.required ? "required" : "optional"}</td>
            <td>{f.notes.join("; ")}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

/** How an operation refuses: each error status with what it says, from the examples. */
function Refusals({
  responses,
  shared,
}: {
  responses: Record<string, ResponseOrRef>;
  shared: Record<string, Response>;
}) {
  const rows = Object.entries(responses)
    .filter(([status]) => /^[45]/.test(status))
    .map(([status, ref]) => ({ status, r: "$ref" in ref ? shared[ref.$ref.split("/").pop()!] : ref }))
    .filter((x): x is { status: string; r: Response } => x.r !== undefined)
    .map(({ status, r }) => ({
      status,
      says: Object.values(r.content?.["application/json"]?.examples ?? {}).map((x) => x.summary ?? ""),
      description: r.description,
    }));
  if (rows.length === 0) return null;
  return (
    <table class="fields">
      <caption>Errors</caption>
      <thead>
        <tr>
          <th scope="col">Status</th>
          <th scope="col">Means</th>
          <th scope="col">For example</th>
        </tr>
      </thead>
      <tbody>
        {rows.map((r) => (
          <tr>
            <td>
              <code>{r.status}</code>
            </td>
            <td>{r.description}</td>
            <td>
              {r.says.map((s, i) => (
                <>
                  {i > 0 ? <br /> : null}
                  {s}
                </>
              ))}
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

function OperationView({ e, shared }: { e: Entry; shared: Record<string, Response> }) {
  const params = (e.op.parameters ?? []).map((p) => ({
    name: p.name,
    where: p.in,
    type: typeOf(p.schema),
    required: p.required,
    notes: notesOf(p.schema),
  }));
  const note = noteOf(e.op);
  return (
    <section class="operation" id={e.id} aria-labelledby={`${e.id}-title`}>
      <h3 id={`${e.id}-title`}>
        <span class={`method method-${e.method}`}>{e.method.toUpperCase()}</span> <code class="path">{e.path}</code>
      </h3>
      <p>
        {/[.!?]$/.test(e.op.summary) ? e.op.summary : `${e.op.summary}.`}
        {note ? <span class="note"> {note}</span> : null}
      </p>
      <p class="auth">
        Auth: <strong>{AUTH[e.auth] ?? e.auth}</strong>
        {e.server ? (
          <>
            {" "}
            · at <code>{e.server}</code>, not under the base URL
          </>
        ) : null}
      </p>
      <FieldTable caption="Parameters" rows={params} />
      {e.body ? <FieldTable caption="JSON body" rows={fieldsOf(e.body)} /> : null}
      {e.op.responses ? <Refusals responses={e.op.responses} shared={shared} /> : null}
    </section>
  );
}

export function Reference({ doc }: { doc: OpenApiDocument }) {
  const all = useMemo(() => entries(doc), [doc]);
  const [q, setQ] = useState("");
  const words = q.toLowerCase().split(/\s+/).filter(Boolean);
  const shown = all.filter((e) => words.every((w) => e.haystack.includes(w)));
  const tags = [...new Set(all.map((e) => e.tag))];
  const base = doc.servers?.[0]?.url ?? "/api/v1";
  return (
    <div class="docs">
      <header>
        <strong class="brand">{doc.info.title} API</strong>
        <span class="version">v{doc.info.version}</span>
        <nav aria-label="Pages">
          <a href="/">Dashboard</a>
          <a href="/api/v1/openapi.json">openapi.json</a>
        </nav>
      </header>
      <div class="docs-body">
        <nav class="toc" aria-label="Sections">
          <ul>
            {tags.map((t) => {
              const n = shown.filter((e) => e.tag === t).length;
              return (
                <li>
                  <a href={`#tag-${t}`} class={n === 0 ? "empty" : undefined}>
                    {t}
                  </a>{" "}
                  <span class="count">{n}</span>
                </li>
              );
            })}
          </ul>
        </nav>
        <main>
          <p>{doc.info.description}</p>
          <p>
            Base URL <code>{base}</code>. Send keys as <code>Authorization: Bearer &lt;key&gt;</code>. Every failure
            answers <code>{'{"error": {"code", "message", "details"}}'}</code> with a 4xx or 5xx status.
          </p>
          <label class="search">
            Search{" "}
            <input
              type="search"
              value={q}
              onInput={(ev) => setQ(ev.currentTarget.value)}
              placeholder="path, method, field, auth…"
            />
          </label>
          <p role="status" class="count">
            {shown.length === all.length ? `${all.length} operations` : `${shown.length} of ${all.length} operations`}
          </p>
          {tags.map((t) => {
            const ops = shown.filter((e) => e.tag === t);
            if (ops.length === 0) return null;
            return (
              <section class="tag" id={`tag-${t}`} aria-labelledby={`tag-${t}-title`}>
                <h2 id={`tag-${t}-title`}>{t}</h2>
                {ops.map((e) => (
                  <OperationView e={e} shared={doc.components?.responses ?? {}} />
                ))}
              </section>
            );
          })}
        </main>
      </div>
    </div>
  );
}
