// Alerts: what is firing, what resolved lately, the project's rules (silenced or not), and,
// for admin keys, a form that creates a rule and shows its targets' signing secrets once,
// and per rule a silence for 1, 8 or 24 hours, an unsilence and a delete. Each rule links to
// its webhook deliveries (#/alerts/<rule id>). The API is the one judge of a rule: its 400
// validation_failed problems show beside the fields they name.
import type { JSX } from "preact";
import { useState } from "preact/hooks";
import type { AlertKind as Kind, AlertState } from "../../../src/contract/alerts";
import { ApiFailure, type FieldProblem, type KeyRole, api, describe, ok } from "../api";
import { Failure } from "./parts";
import { useChanges, usePoll } from "./use-poll";

const KIND_NAMES: Record<Kind, string> = {
  device_offline: "Device offline",
  error_rate: "Error rate",
  metric_threshold: "Metric threshold",
  quota: "Quota",
};
const KINDS = Object.keys(KIND_NAMES) as Kind[];

interface Target {
  id: string;
  url: string;
  format: "json" | "slack";
}
interface Rule {
  id: string;
  project_id: string;
  name: string;
  kind: Kind;
  params: Record<string, unknown>;
  device_id: string | null;
  device_type: string | null;
  min_firing_s: number;
  silenced_until: string | null;
  created_at: string;
  updated_at: string;
  targets: Target[];
}
interface Alert {
  id: string;
  rule_id: string;
  device_id: string | null;
  state: AlertState;
  started_at: string;
  resolved_at: string | null;
  summary: string;
}
interface Delivery {
  alert_id: string;
  target_id: string;
  state_change: AlertState;
  attempt: number;
  at: string;
  status: number | null;
  error: string | null;
}
/** The answer to POST /alert-rules: the rule, and each target with its secret (shown only then). */
interface Created {
  rule: Rule;
  targets: (Target & { secret: string })[];
}
type NewRule = Parameters<(typeof api)["alert-rules"]["$post"]>[0]["json"];

const SILENCE_HOURS = [1, 8, 24] as const;
const RESOLVED_SHOWN = 50;

/** A span of seconds in words: 45 s, 5 min, 2 h, 1 d 6 h. */
function span(s: unknown): string {
  const n = Number(s);
  if (!Number.isFinite(n)) return String(s);
  if (n < 120 || n % 60) return `${n} s`;
  if (n < 7_200 || n % 3_600) return `${n / 60} min`;
  if (n < 172_800 || n % 86_400) return `${n / 3_600} h`;
  return `${n / 86_400} d`;
}

/** When a rule fires, in words. */
function condition(r: Pick<Rule, "kind" | "params">): string {
  const p = r.params;
  switch (r.kind) {
    case "device_offline":
      return `offline for ${span(p.for_s)}`;
    case "error_rate":
      return `${p.count} errors in ${span(p.window_s)}${p.module ? ` from ${p.module}` : ""}, ${p.scope === "project" ? "across the project" : "per device"}`;
    case "metric_threshold":
      return `${p.metric} ${p.op} ${p.value}${Number(p.for_s) > 0 ? ` for ${span(p.for_s)}` : ""}`;
    case "quota":
      return `a monthly limit ${p.percent}% used`;
  }
}

/** Which devices a rule watches, in words. */
function watches(r: Rule): string {
  if (r.kind === "quota" || (r.kind === "error_rate" && r.params.scope === "project")) return "the project";
  const parts = [r.device_id ? `device ${r.device_id}` : "every device", r.device_type ? `of type ${r.device_type}` : ""];
  return parts.filter(Boolean).join(" ");
}

const silencedNow = (r: Rule) => r.silenced_until !== null && Date.parse(r.silenced_until) > Date.now();
const when = (iso: string | null) => (iso ? new Date(iso).toLocaleString() : "—");

export function Alerts(props: { projectId: string; role: KeyRole }) {
  // Operators silence rules; only admins create, change or delete them.
  const operates = props.role !== "viewer";
  const admin = props.role === "admin";
  const project_id = props.projectId;
  /** Bumped after every change, so the lists read again at once. */
  const { version, failure, change, setVersion } = useChanges();
  const [created, setCreated] = useState<Created | null>(null);
  const [silenceFor, setSilenceFor] = useState<Record<string, number>>({});
  const { data: rules, error } = usePoll(
    async () => ((await ok(await api["alert-rules"].$get({ query: { project_id } }))) as { rules: Rule[] }).rules,
    [project_id, version],
  );
  const { data: firing, error: firingError } = usePoll(
    async () => ((await ok(await api.alerts.$get({ query: { project_id, state: "firing", limit: "200" } }))) as { alerts: Alert[] }).alerts,
    [project_id, version],
  );
  const { data: resolved } = usePoll(
    async () => ((await ok(await api.alerts.$get({ query: { project_id, state: "resolved", limit: String(RESOLVED_SHOWN) } }))) as { alerts: Alert[] }).alerts,
    [project_id, version],
    30_000,
  );
  const names = rules ? new Map(rules.map((r) => [r.id, r.name])) : null;

  const param = (r: Rule) => ({ param: { id: r.id } });
  const silence = (r: Rule) => {
    const hours = silenceFor[r.id] ?? SILENCE_HOURS[0];
    const until = new Date(Date.now() + hours * 3_600_000).toISOString();
    return change(async () => ok(await api["alert-rules"][":id"].$patch({ ...param(r), json: { silenced_until: until } })));
  };
  const unsilence = (r: Rule) => change(async () => ok(await api["alert-rules"][":id"].$patch({ ...param(r), json: { silenced_until: null } })));
  const remove = (r: Rule) => {
    if (!confirm(`Delete the rule "${r.name}"? Its webhooks stop at once.`)) return;
    void change(async () => {
      const res = await api["alert-rules"][":id"].$delete(param(r));
      if (!res.ok) await ok(res);
    });
  };

  return (
    <section aria-labelledby="alerts-title">
      <h1 id="alerts-title">Alerts</h1>
      <Failure error={error ?? firingError ?? failure} />

      <h2 id="firing-title">Firing</h2>
      {firing && firing.length === 0 && <p>Nothing is firing.</p>}
      {firing && firing.length > 0 && <AlertTable labelledBy="firing-title" alerts={firing} names={names} />}

      <h2 id="resolved-title">Resolved</h2>
      {resolved && resolved.length === 0 && <p>No alert has resolved yet.</p>}
      {resolved && resolved.length > 0 && (
        <>
          <AlertTable labelledBy="resolved-title" alerts={resolved} names={names} />
          {resolved.length === RESOLVED_SHOWN && <p class="note">The last {RESOLVED_SHOWN}.</p>}
        </>
      )}

      <h2 id="rules-title">Rules</h2>
      {created && <Secrets created={created} onDone={() => setCreated(null)} />}
      {rules && rules.length === 0 && <p>This project has no alert rules yet.{admin ? " Create one below." : ""}</p>}
      {rules && rules.length > 0 && (
        <table aria-labelledby="rules-title">
          <thead>
            <tr>
              <th scope="col">Rule</th>
              <th scope="col">Kind</th>
              <th scope="col">Fires when</th>
              <th scope="col">Watches</th>
              <th scope="col">Targets</th>
              <th scope="col">State</th>
              {operates && <th scope="col">Change</th>}
            </tr>
          </thead>
          <tbody>
            {rules.map((r) => (
              <tr data-rule={r.id}>
                <td>
                  <a href={`#/alerts/${encodeURIComponent(r.id)}`} aria-label={`Deliveries of ${r.name}`}>
                    {r.name}
                  </a>
                </td>
                <td>{KIND_NAMES[r.kind]}</td>
                <td>
                  {condition(r)}
                  {r.min_firing_s > 0 && <span class="note"> (fires at least {span(r.min_firing_s)})</span>}
                </td>
                <td>{watches(r)}</td>
                <td>{r.targets.map((t) => `${t.url}${t.format === "slack" ? " (Slack)" : ""}`).join(", ")}</td>
                <td>
                  {silencedNow(r) ? <span class="status silenced">silenced until {when(r.silenced_until)}</span> : <span class="status active">active</span>}
                </td>
                {operates && (
                  <td class="actions">
                    {silencedNow(r) ? (
                      <button type="button" onClick={() => void unsilence(r)} aria-label={`Unsilence ${r.name}`}>
                        Unsilence
                      </button>
                    ) : (
                      <>
                        <button type="button" onClick={() => void silence(r)} aria-label={`Silence ${r.name}`}>
                          Silence
                        </button>
                        <select
                          aria-label={`Silence ${r.name} for`}
                          value={silenceFor[r.id] ?? SILENCE_HOURS[0]}
                          onChange={(e) => setSilenceFor({ ...silenceFor, [r.id]: Number(e.currentTarget.value) })}
                        >
                          {SILENCE_HOURS.map((h) => (
                            <option value={h}>for {h} h</option>
                          ))}
                        </select>
                      </>
                    )}{" "}
                    {admin && (
                      <button type="button" class="danger" onClick={() => remove(r)} aria-label={`Delete ${r.name}`}>
                        Delete
                      </button>
                    )}
                  </td>
                )}
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {admin && (
        <RuleForm
          projectId={project_id}
          onCreated={(c) => {
            setCreated(c);
            setVersion((v: number) => v + 1);
          }}
        />
      )}
    </section>
  );
}

/** Alerts in a table; `names` are the rules' names by id (null while they load). */
function AlertTable(props: { labelledBy: string; alerts: Alert[]; names: Map<string, string> | null }) {
  const resolved = props.alerts.some((a) => a.state === "resolved");
  return (
    <table aria-labelledby={props.labelledBy}>
      <thead>
        <tr>
          <th scope="col">Rule</th>
          <th scope="col">Device</th>
          <th scope="col">State</th>
          <th scope="col">Started</th>
          {resolved && <th scope="col">Resolved</th>}
          <th scope="col">Summary</th>
        </tr>
      </thead>
      <tbody>
        {props.alerts.map((a) => (
          <tr data-alert={a.id}>
            <td>
              {props.names && !props.names.has(a.rule_id) ? (
                <span class="note">a deleted rule</span>
              ) : (
                <a href={`#/alerts/${encodeURIComponent(a.rule_id)}`}>{props.names?.get(a.rule_id) ?? a.rule_id}</a>
              )}
            </td>
            <td>{a.device_id ? <a href={`#/devices/${encodeURIComponent(a.device_id)}`}>{a.device_id}</a> : "the project"}</td>
            <td>
              <span class={`status ${a.state}`}>{a.state}</span>
            </td>
            <td>{when(a.started_at)}</td>
            {resolved && <td>{when(a.resolved_at)}</td>}
            <td class="wrap">{a.summary}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

/** The targets' signing secrets of a rule just made: the only time the API shows them. */
function Secrets(props: { created: Created; onDone: () => void }) {
  const [copied, setCopied] = useState<string | null>(null);
  const copy = (t: Created["targets"][number]) =>
    navigator.clipboard.writeText(t.secret).then(
      () => setCopied(t.id),
      () => setCopied(null),
    );
  return (
    <section class="secrets" aria-labelledby="secrets-title">
      <h3 id="secrets-title">Signing secrets of “{props.created.rule.name}”</h3>
      <p>
        <strong>Copy each secret now: it is shown once</strong> and cannot be read again (a lost secret means a new rule). A receiver checks each
        POST's x-fleetbeat-signature: sha256= and the HMAC-SHA-256, under the secret, of "&lt;x-fleetbeat-timestamp&gt;.&lt;body&gt;".
      </p>
      <ul class="rows">
        {props.created.targets.map((t) => (
          <li>
            <span class="wrap">{t.url}</span>{" "}
            <input class="secret" readOnly size={t.secret.length} value={t.secret} aria-label={`Secret for ${t.url}`} onFocus={(e) => e.currentTarget.select()} />{" "}
            <button type="button" onClick={() => void copy(t)}>
              {copied === t.id ? "Copied" : "Copy"}
            </button>
          </li>
        ))}
      </ul>
      <button type="button" onClick={props.onDone}>
        I have copied the secrets
      </button>
    </section>
  );
}

/** The form's fields, as typed (numbers too: the API says what is wrong with them). */
interface Draft {
  name: string;
  kind: Kind;
  for_s: string;
  count: string;
  window_s: string;
  module: string;
  scope: "device" | "project";
  metric: string;
  op: "<" | ">";
  value: string;
  percent: string;
  device_id: string;
  device_type: string;
  min_firing_s: string;
  targets: { url: string; format: "json" | "slack" }[];
}
const EMPTY: Draft = {
  name: "",
  kind: "error_rate",
  for_s: "300",
  count: "10",
  window_s: "60",
  module: "",
  scope: "device",
  metric: "",
  op: ">",
  value: "",
  percent: "80",
  device_id: "",
  device_type: "",
  min_firing_s: "0",
  targets: [{ url: "", format: "json" }],
};
const MAX_TARGETS = 10;

const num = (s: string): number | undefined => (s.trim() === "" ? undefined : Number(s));
const text = (s: string): string | undefined => s.trim() || undefined;

/** The body of POST /alert-rules for a draft: only the fields its kind takes. */
function ruleBody(projectId: string, d: Draft) {
  const params =
    d.kind === "device_offline"
      ? { for_s: num(d.for_s) }
      : d.kind === "error_rate"
        ? { count: num(d.count), window_s: num(d.window_s), module: text(d.module), scope: d.scope }
        : d.kind === "metric_threshold"
          ? { metric: text(d.metric), op: d.op, value: num(d.value), for_s: num(d.for_s) }
          : { percent: num(d.percent) };
  const perDevice = d.kind === "device_offline" || d.kind === "metric_threshold" || (d.kind === "error_rate" && d.scope === "device");
  return {
    project_id: projectId,
    name: d.name,
    kind: d.kind,
    params,
    ...(perDevice ? { device_id: text(d.device_id), device_type: text(d.device_type) } : {}),
    min_firing_s: num(d.min_firing_s),
    targets: d.targets.map((t) => ({ url: t.url.trim(), format: t.format })),
  };
}

/** What an input of the form may carry beyond its value. */
interface InputExtras {
  type?: "number" | "text";
  inputMode?: "numeric" | "decimal";
  placeholder?: string;
  min?: number;
  max?: number;
  step?: string;
}

type FieldAttrs = { id: string; "aria-invalid": boolean; "aria-describedby"?: string };

/** A labelled input with the API's problem for `path`, if it named one, beside it. */
function Field(props: { label: string; path: string; problems: Map<string, string>; children: (attrs: FieldAttrs) => JSX.Element }) {
  const id = `rule-${props.path.replace(/\./g, "-")}`;
  const problem = props.problems.get(props.path);
  return (
    <span class="field">
      <label for={id}>{props.label}</label>{" "}
      {props.children({ id, "aria-invalid": Boolean(problem), ...(problem ? { "aria-describedby": `${id}-problem` } : {}) })}
      {problem && (
        <span class="error" id={`${id}-problem`}>
          {problem}
        </span>
      )}
    </span>
  );
}

function RuleForm(props: { projectId: string; onCreated: (c: Created) => void }) {
  const [d, setD] = useState<Draft>(EMPTY);
  const [failure, setFailure] = useState<string | null>(null);
  const [problems, setProblems] = useState<Map<string, string>>(new Map());
  const [busy, setBusy] = useState(false);
  const set = <K extends keyof Draft>(k: K, v: Draft[K]) => setD((old) => ({ ...old, [k]: v }));
  const setTarget = (i: number, t: Partial<Draft["targets"][number]>) => setD((old) => ({ ...old, targets: old.targets.map((o, j) => (j === i ? { ...o, ...t } : o)) }));
  const perDevice = d.kind === "device_offline" || d.kind === "metric_threshold" || (d.kind === "error_rate" && d.scope === "device");

  const submit = async () => {
    setBusy(true);
    try {
      const created = (await ok(await api["alert-rules"].$post({ json: ruleBody(props.projectId, d) as NewRule }))) as Created;
      setD({ ...EMPTY, kind: d.kind });
      setFailure(null);
      setProblems(new Map());
      props.onCreated(created);
    } catch (err) {
      setFailure(describe(err));
      const details: FieldProblem[] = err instanceof ApiFailure ? err.details : [];
      // The first problem the API named for each field, shown beside it.
      const byPath = new Map<string, string>();
      for (const p of details) if (!byPath.has(p.path)) byPath.set(p.path, p.message);
      setProblems(byPath);
    } finally {
      setBusy(false);
    }
  };

  const input = (label: string, path: string, key: keyof Draft, { type = "text", ...extra }: InputExtras = {}) => (
    <Field label={label} path={path} problems={problems}>
      {(a) => {
        const common = { ...a, ...extra, value: d[key] as string, onInput: (e: { currentTarget: HTMLInputElement }) => set(key, e.currentTarget.value as never) };
        return type === "number" ? <input type="number" {...common} /> : <input type="text" {...common} />;
      }}
    </Field>
  );
  const numeric = { type: "number", inputMode: "numeric" } as const satisfies InputExtras;

  return (
    <form
      class="rule-form"
      aria-labelledby="new-rule-title"
      noValidate
      onSubmit={(e) => {
        e.preventDefault();
        if (!busy) void submit();
      }}
    >
      <h2 id="new-rule-title">New rule</h2>
      <div class="filters">
        {input("Name", "name", "name", { placeholder: "Arm errors" })}
        <Field label="Kind" path="kind" problems={problems}>
          {(a) => (
            <select {...a} value={d.kind} onChange={(e) => set("kind", e.currentTarget.value as Kind)}>
              {KINDS.map((k) => (
                <option value={k}>{KIND_NAMES[k]}</option>
              ))}
            </select>
          )}
        </Field>
      </div>
      <fieldset>
        <legend>Fires when</legend>
        {d.kind === "device_offline" && input("Offline for (s)", "params.for_s", "for_s", { ...numeric, min: 60 })}
        {d.kind === "error_rate" && (
          <>
            {input("Errors", "params.count", "count", { ...numeric, min: 1 })}
            {input("Within (s)", "params.window_s", "window_s", { ...numeric, min: 10 })}
            {input("Module (optional)", "params.module", "module", { placeholder: "any module" })}
            <Field label="Counted" path="params.scope" problems={problems}>
              {(a) => (
                <select {...a} value={d.scope} onChange={(e) => set("scope", e.currentTarget.value as Draft["scope"])}>
                  <option value="device">per device</option>
                  <option value="project">across the project</option>
                </select>
              )}
            </Field>
          </>
        )}
        {d.kind === "metric_threshold" && (
          <>
            {input("Metric", "params.metric", "metric", { placeholder: "battery_level" })}
            <Field label="Is" path="params.op" problems={problems}>
              {(a) => (
                <select {...a} value={d.op} onChange={(e) => set("op", e.currentTarget.value as Draft["op"])}>
                  <option value=">">above</option>
                  <option value="<">below</option>
                </select>
              )}
            </Field>
            {input("Value", "params.value", "value", { type: "number", step: "any" })}
            {input("For (s)", "params.for_s", "for_s", { ...numeric, min: 0 })}
          </>
        )}
        {d.kind === "quota" && input("Percent of a monthly limit", "params.percent", "percent", { type: "number", min: 1, max: 100 })}
        {input("Stays firing at least (s)", "min_firing_s", "min_firing_s", { ...numeric, min: 0 })}
      </fieldset>
      {perDevice && (
        <fieldset>
          <legend>Which devices (empty: all of the project)</legend>
          {input("Device id", "device_id", "device_id", { placeholder: "dev_…" })}
          {input("Device type", "device_type", "device_type", { placeholder: "amr" })}
        </fieldset>
      )}
      <fieldset>
        <legend>Webhook targets</legend>
        {d.targets.map((t, i) => (
          <div class="target">
            <Field label={`Target ${i + 1} URL`} path={`targets.${i}.url`} problems={problems}>
              {(a) => <input {...a} type="url" placeholder="https://hooks.example.com/…" value={t.url} onInput={(e) => setTarget(i, { url: e.currentTarget.value })} />}
            </Field>
            <Field label="Format" path={`targets.${i}.format`} problems={problems}>
              {(a) => (
                <select {...a} value={t.format} onChange={(e) => setTarget(i, { format: e.currentTarget.value as "json" | "slack" })}>
                  <option value="json">JSON</option>
                  <option value="slack">Slack</option>
                </select>
              )}
            </Field>
            {d.targets.length > 1 && (
              <button type="button" onClick={() => set("targets", d.targets.filter((_, j) => j !== i))} aria-label={`Remove target ${i + 1}`}>
                Remove
              </button>
            )}
          </div>
        ))}
        {problems.get("targets") && <span class="error">{problems.get("targets")}</span>}
        {d.targets.length < MAX_TARGETS && (
          <button type="button" onClick={() => set("targets", [...d.targets, { url: "", format: "json" }])}>
            Add a target
          </button>
        )}
      </fieldset>
      <p>
        <button type="submit" disabled={busy}>
          Create rule
        </button>
      </p>
      <Failure error={failure} />
    </form>
  );
}

/** A rule's details and its webhook deliveries, newest first. */
export function RuleDeliveries(props: { ruleId: string }) {
  const param = { id: props.ruleId };
  const { data: rule, error } = usePoll(async () => ((await ok(await api["alert-rules"][":id"].$get({ param }))) as { rule: Rule }).rule, [props.ruleId], 30_000);
  const { data: deliveries, error: deliveriesError } = usePoll(
    async () => ((await ok(await api["alert-rules"][":id"].deliveries.$get({ param, query: { limit: "100" } }))) as { deliveries: Delivery[] }).deliveries,
    [props.ruleId],
  );
  const url = (id: string) => rule?.targets.find((t) => t.id === id)?.url ?? id;
  return (
    <section aria-labelledby="rule-title">
      <h1 id="rule-title">{rule ? `Rule ${rule.name}` : `Rule ${props.ruleId}`}</h1>
      <p>
        <a href="#/alerts">All alerts</a>
      </p>
      <Failure error={error ?? deliveriesError} />
      {rule && (
        <dl class="details">
          <dt>Kind</dt>
          <dd>{KIND_NAMES[rule.kind]}</dd>
          <dt>Fires when</dt>
          <dd>{condition(rule)}</dd>
          <dt>Watches</dt>
          <dd>{watches(rule)}</dd>
          <dt>State</dt>
          <dd>{silencedNow(rule) ? `silenced until ${when(rule.silenced_until)}` : "active"}</dd>
          <dt>Targets</dt>
          <dd>{rule.targets.map((t) => `${t.url} (${t.format})`).join(", ")}</dd>
          <dt>Created</dt>
          <dd>{when(rule.created_at)}</dd>
        </dl>
      )}
      <h2 id="deliveries-title">Deliveries</h2>
      {deliveries && deliveries.length === 0 && <p>No webhook has been sent for this rule yet.</p>}
      {deliveries && deliveries.length > 0 && (
        <table aria-labelledby="deliveries-title">
          <thead>
            <tr>
              <th scope="col">At</th>
              <th scope="col">Alert</th>
              <th scope="col">Change</th>
              <th scope="col">Target</th>
              <th scope="col">Attempt</th>
              <th scope="col">Answer</th>
            </tr>
          </thead>
          <tbody>
            {deliveries.map((x) => (
              <tr>
                <td>{when(x.at)}</td>
                <td>{x.alert_id}</td>
                <td>
                  <span class={`status ${x.state_change}`}>{x.state_change}</span>
                </td>
                <td>{url(x.target_id)}</td>
                <td>{x.attempt}</td>
                <td class={x.status !== null && x.status < 300 ? "status completed" : "status failed"}>
                  {x.status ?? "no answer"}
                  {x.error ? ` (${x.error})` : ""}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}
