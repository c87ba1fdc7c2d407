// Alerts: what is firing, what resolved lately (each with its rule and its device by name), the
// project's rules (silenced or not), and, for admin keys, a form that creates a rule and shows
// its targets' signing secrets once. Operators silence a rule for 1, 8 or 24 hours and
// unsilence it; admins also delete it; viewers see no control. A device filter (in the URL,
// #/alerts?device_id=…, so a device's page links here) narrows the alerts and the rules to
// one device. Each rule links to its page (#/alerts/<rule id>): the rule, and its webhook
// deliveries grouped by alert, each state change with its attempts. The API is the one judge
// of a rule: its 400 validation_failed problems show beside the fields they name, in words.
import type { JSX } from "preact";
import { useEffect, useState } from "preact/hooks";
import type { AlertState, AlertKind as Kind } from "../../../src/contract/alerts";
import { ApiFailure, api, describe, type FieldProblem, type KeyRole, ok } from "../api";
import { duration, friendly } from "../format";
import { useHashParam, writeHashQuery } from "./hash-query";
import { useDeviceNames } from "./names";
import { Ago, AnyOf, CopyId, type Device, deviceName, Empty, Failure, Named, Status, When } from "./parts";
import { Table } from "./table";
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
/** A device's name by id ("—" for none), as useDeviceNames gives it. */
type NameOf = (id: string | null | undefined) => string;

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

/** Whether a rule watches devices one by one (else the project as a whole). */
const perDevice = (r: Pick<Rule, "kind" | "params">) =>
  !(r.kind === "quota" || (r.kind === "error_rate" && r.params.scope === "project"));

/** Which devices a rule watches, in words, the device by name and linked. */
function Watches(props: { rule: Rule; name: NameOf }) {
  const r = props.rule;
  if (!perDevice(r)) return <>the project</>;
  return (
    <>
      {r.device_id ? (
        <>
          device <Named name={props.name(r.device_id)} id={r.device_id} href={deviceHref(r.device_id)} />
        </>
      ) : (
        "every device"
      )}
      {r.device_type ? ` of type ${r.device_type}` : ""}
    </>
  );
}

/** Whether a rule watches `device` (null: no filter, every rule). */
const watchesDevice = (r: Rule, device: Device | undefined | null, id: string) =>
  perDevice(r) &&
  (r.device_id ? r.device_id === id : !r.device_type || !device || r.device_type === device.device_type);

const silencedNow = (r: Rule) => r.silenced_until !== null && Date.parse(r.silenced_until) > Date.now();
const deviceHref = (id: string) => `#/devices/${encodeURIComponent(id)}`;
const ruleHref = (id: string) => `#/alerts/${encodeURIComponent(id)}`;

/** A rule's state as a badge: active, or silenced until when. */
const RuleState = (props: { rule: Rule }) =>
  silencedNow(props.rule) ? (
    <span class="badge status silenced" title={new Date(props.rule.silenced_until!).toLocaleString()}>
      silenced until <When at={props.rule.silenced_until} />
    </span>
  ) : (
    <Status value="active" />
  );

/** A device an alert is about, by name and linked; "the project" for a project-wide one. */
const Subject = (props: { deviceId: string | null; name: NameOf }) =>
  props.deviceId ? (
    <Named name={props.name(props.deviceId)} id={props.deviceId} href={deviceHref(props.deviceId)} />
  ) : (
    <span class="muted">the project</span>
  );

export function Alerts(props: { projectId: string; role: KeyRole }) {
  // Operators silence rules; only admins create, change or delete them.
  const operates = props.role !== "viewer";
  const admin = props.role === "admin";
  const project_id = props.projectId;
  const names = useDeviceNames(project_id);
  const [device, setDevice] = useHashParam("#/alerts", "device_id");
  useEffect(() => writeHashQuery("#/alerts", { device_id: device }), [device]);
  /** Bumped after every change, so the lists read again at once. */
  const { version, failure, change, setVersion } = useChanges();
  const [created, setCreated] = useState<Created | null>(null);
  const [silenceFor, setSilenceFor] = useState<Record<string, number>>({});
  const { data: rules, error } = usePoll(
    async () => ((await ok(await api["alert-rules"].$get({ query: { project_id } }))) as { rules: Rule[] }).rules,
    [project_id, version],
  );
  const { data: firing, error: firingError } = usePoll(
    async () =>
      (
        (await ok(await api.alerts.$get({ query: { project_id, state: "firing", limit: "200" } }))) as {
          alerts: Alert[];
        }
      ).alerts,
    [project_id, version],
  );
  const { data: resolved } = usePoll(
    async () =>
      (
        (await ok(
          await api.alerts.$get({ query: { project_id, state: "resolved", limit: String(RESOLVED_SHOWN) } }),
        )) as { alerts: Alert[] }
      ).alerts,
    [project_id, version],
    30_000,
  );
  const ruleNames = rules ? new Map(rules.map((r) => [r.id, r.name])) : null;
  const chosen = names.devices.find((d) => d.id === device);
  const ofDevice = (alerts: Alert[] | null) =>
    alerts && device ? alerts.filter((a) => a.device_id === device) : alerts;
  const shownFiring = ofDevice(firing);
  const shownResolved = ofDevice(resolved);
  const shownRules = rules && device ? rules.filter((r) => watchesDevice(r, chosen, device)) : rules;
  const deviceOptions = [...names.devices]
    .sort((a, b) => deviceName(a).localeCompare(deviceName(b), undefined, { numeric: true }))
    .map((d) => ({ value: d.id, label: deviceName(d) }));
  if (device && !chosen) deviceOptions.push({ value: device, label: names.name(device) });

  const param = (r: Rule) => ({ param: { id: r.id } });
  const silence = (r: Rule) => {
    const hours = silenceFor[r.id] ?? SILENCE_HOURS[0];
    const until = new Date(Date.now() + hours * 3_600_000).toISOString();
    return change(async () =>
      ok(await api["alert-rules"][":id"].$patch({ ...param(r), json: { silenced_until: until } })),
    );
  };
  const unsilence = (r: Rule) =>
    change(async () => ok(await api["alert-rules"][":id"].$patch({ ...param(r), json: { silenced_until: null } })));
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
      <div class="filters">
        <AnyOf label="Device" value={device} options={deviceOptions} onChange={setDevice} />
        {device ? (
          <p class="muted filter-note">
            Alerts of <a href={deviceHref(device)}>{names.name(device)}</a>, and the rules that watch it.
          </p>
        ) : null}
      </div>
      <Failure error={error ?? firingError ?? failure} />

      <h2 id="firing-title">Firing</h2>
      {shownFiring && shownFiring.length === 0 && <Empty title="Nothing is firing." />}
      {shownFiring && shownFiring.length > 0 && (
        <AlertTable label="Firing" alerts={shownFiring} rules={ruleNames} name={names.name} />
      )}

      <h2 id="resolved-title">Resolved</h2>
      {shownResolved && shownResolved.length === 0 && <Empty title="No alert has resolved yet." />}
      {shownResolved && shownResolved.length > 0 && (
        <>
          <AlertTable label="Resolved" alerts={shownResolved} rules={ruleNames} name={names.name} />
          {resolved!.length === RESOLVED_SHOWN && <p class="note">The last {RESOLVED_SHOWN}.</p>}
        </>
      )}

      <h2 id="rules-title">Rules</h2>
      {created && <Secrets created={created} onDone={() => setCreated(null)} />}
      {shownRules && shownRules.length === 0 && (
        <Empty title={rules!.length === 0 ? "This project has no alert rules yet." : "No rule watches this device."}>
          {admin && rules!.length === 0 ? "Create one below." : null}
        </Empty>
      )}
      {shownRules && shownRules.length > 0 && (
        <Table
          label="Rules"
          rows={shownRules}
          rowKey={(r) => r.id}
          initial={{ key: "name" }}
          columns={[
            {
              key: "name",
              label: "Rule",
              cell: (r) => (
                <span class="named">
                  <a href={ruleHref(r.id)} aria-label={`Deliveries of ${r.name}`} title={`id ${r.id}`}>
                    {r.name}
                  </a>
                  <CopyId id={r.id} />
                </span>
              ),
              sort: (r) => r.name.toLowerCase(),
            },
            { key: "kind", label: "Kind", cell: (r) => KIND_NAMES[r.kind], sort: (r) => KIND_NAMES[r.kind] },
            {
              key: "when",
              label: "Fires when",
              cell: (r) => (
                <span>
                  {condition(r)}
                  {r.min_firing_s > 0 && <span class="note"> (fires at least {span(r.min_firing_s)})</span>}
                </span>
              ),
            },
            {
              key: "watches",
              label: "Watches",
              cell: (r) => (
                <span>
                  <Watches rule={r} name={names.name} />
                </span>
              ),
            },
            { key: "targets", label: "Targets", cell: (r) => <Targets targets={r.targets} /> },
            {
              key: "state",
              label: "State",
              cell: (r) => <RuleState rule={r} />,
              sort: (r) => (silencedNow(r) ? 1 : 0),
            },
            ...(operates
              ? [
                  {
                    key: "change",
                    label: "Change",
                    cell: (r: Rule) => (
                      <span class="actions">
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
                        )}
                        {admin && (
                          <button
                            type="button"
                            class="danger"
                            onClick={() => remove(r)}
                            aria-label={`Delete ${r.name}`}
                          >
                            Delete
                          </button>
                        )}
                      </span>
                    ),
                  },
                ]
              : []),
          ]}
        />
      )}
      {admin && (
        <RuleForm
          projectId={project_id}
          devices={names.devices}
          onCreated={(c) => {
            setCreated(c);
            setVersion((v: number) => v + 1);
          }}
        />
      )}
    </section>
  );
}

/** A rule's webhook targets: each URL (wrapping), Slack ones marked. */
const Targets = (props: { targets: Target[] }) => (
  <ul class="plain">
    {props.targets.map((t) => (
      <li class="wrap">
        {t.url}
        {t.format === "slack" ? <span class="muted"> (Slack)</span> : null}
      </li>
    ))}
  </ul>
);

/** Alerts in a table; `rules` are the rules' names by id (null while they load). */
function AlertTable(props: { label: string; alerts: Alert[]; rules: Map<string, string> | null; name: NameOf }) {
  const resolved = props.alerts.some((a) => a.state === "resolved");
  const rule = (a: Alert) => props.rules?.get(a.rule_id);
  return (
    <Table
      label={props.label}
      rows={props.alerts}
      rowKey={(a) => a.id}
      initial={{ key: resolved ? "resolved" : "started", desc: true }}
      columns={[
        {
          key: "rule",
          label: "Rule",
          cell: (a) =>
            props.rules && !props.rules.has(a.rule_id) ? (
              <span class="note">a deleted rule</span>
            ) : (
              <Named name={rule(a) ?? "…"} id={a.rule_id} href={ruleHref(a.rule_id)} />
            ),
          sort: (a) => rule(a) ?? "",
        },
        {
          key: "device",
          label: "Device",
          cell: (a) => <Subject deviceId={a.device_id} name={props.name} />,
          sort: (a) => (a.device_id ? props.name(a.device_id).toLowerCase() : ""),
        },
        { key: "state", label: "State", cell: (a) => <Status value={a.state} /> },
        {
          key: "started",
          label: "Started",
          cell: (a) => (
            <span>
              <When at={a.started_at} />
              {a.state === "firing" ? (
                <span class="muted">
                  {" "}
                  (<Ago at={a.started_at} />)
                </span>
              ) : null}
            </span>
          ),
          sort: (a) => Date.parse(a.started_at),
        },
        ...(resolved
          ? [
              {
                key: "resolved",
                label: "Resolved",
                cell: (a: Alert) => <When at={a.resolved_at} />,
                sort: (a: Alert) => (a.resolved_at ? Date.parse(a.resolved_at) : null),
              },
              {
                key: "lasted",
                label: "Lasted",
                numeric: true,
                cell: (a: Alert) =>
                  a.resolved_at ? duration(Date.parse(a.resolved_at) - Date.parse(a.started_at)) : "—",
                sort: (a: Alert) => (a.resolved_at ? Date.parse(a.resolved_at) - Date.parse(a.started_at) : null),
              },
            ]
          : []),
        { key: "summary", label: "Summary", cell: (a) => <span class="wrap">{a.summary}</span> },
      ]}
    />
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
        <strong>Copy each secret now: it is shown once</strong> and cannot be read again (a lost secret means a new
        rule). A receiver checks each POST's x-fleetbeat-signature: sha256= and the HMAC-SHA-256, under the secret, of
        "&lt;x-fleetbeat-timestamp&gt;.&lt;body&gt;".
      </p>
      <ul class="rows">
        {props.created.targets.map((t) => (
          <li>
            <span class="wrap">{t.url}</span>{" "}
            <input
              class="secret"
              readOnly
              size={t.secret.length}
              value={t.secret}
              aria-label={`Secret for ${t.url}`}
              onFocus={(e) => e.currentTarget.select()}
            />{" "}
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
  return {
    project_id: projectId,
    name: d.name,
    kind: d.kind,
    params,
    ...(perDevice({ kind: d.kind, params }) ? { device_id: text(d.device_id), device_type: text(d.device_type) } : {}),
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
  list?: string;
}

type FieldAttrs = { id: string; "aria-invalid": boolean; "aria-describedby"?: string };

/** A labelled input with the API's problem for `path`, if it named one, under it. */
function Field(props: {
  label: string;
  path: string;
  problems: Map<string, string>;
  children: (attrs: FieldAttrs) => JSX.Element;
}) {
  const id = `rule-${props.path.replace(/\./g, "-")}`;
  const problem = props.problems.get(props.path);
  return (
    <span class="field">
      <label for={id}>{props.label}</label>
      {props.children({
        id,
        "aria-invalid": Boolean(problem),
        ...(problem ? { "aria-describedby": `${id}-problem` } : {}),
      })}
      {problem && (
        <span class="error" id={`${id}-problem`}>
          {problem}
        </span>
      )}
    </span>
  );
}

/** The paths the form shows a field for (a problem elsewhere is listed under the form). */
const shownPaths = (d: Draft) => {
  const paths = [
    "name",
    "kind",
    "min_firing_s",
    "targets",
    ...d.targets.flatMap((_, i) => [`targets.${i}.url`, `targets.${i}.format`]),
  ];
  if (d.kind === "device_offline") paths.push("params.for_s");
  if (d.kind === "error_rate") paths.push("params.count", "params.window_s", "params.module", "params.scope");
  if (d.kind === "metric_threshold") paths.push("params.metric", "params.op", "params.value", "params.for_s");
  if (d.kind === "quota") paths.push("params.percent");
  if (perDevice({ kind: d.kind, params: { scope: d.scope } })) paths.push("device_id", "device_type");
  return new Set(paths);
};

function RuleForm(props: { projectId: string; devices: Device[]; onCreated: (c: Created) => void }) {
  const [d, setD] = useState<Draft>(EMPTY);
  const [failure, setFailure] = useState<string | null>(null);
  const [problems, setProblems] = useState<Map<string, string>>(new Map());
  const [busy, setBusy] = useState(false);
  const set = <K extends keyof Draft>(k: K, v: Draft[K]) => setD((old) => ({ ...old, [k]: v }));
  const setTarget = (i: number, t: Partial<Draft["targets"][number]>) =>
    setD((old) => ({ ...old, targets: old.targets.map((o, j) => (j === i ? { ...o, ...t } : o)) }));
  const watchesDevices = perDevice({ kind: d.kind, params: { scope: d.scope } });
  const devices = [...props.devices].sort((a, b) =>
    deviceName(a).localeCompare(deviceName(b), undefined, { numeric: true }),
  );
  const types = [...new Set(props.devices.map((x) => x.device_type))].sort();
  const metrics = [...new Set(props.devices.flatMap((x) => Object.keys(x.metrics ?? {})))].sort();
  const shown = shownPaths(d);
  const elsewhere = [...problems].filter(([path]) => !shown.has(path));

  const submit = async () => {
    setBusy(true);
    try {
      const created = (await ok(
        await api["alert-rules"].$post({ json: ruleBody(props.projectId, d) as NewRule }),
      )) as Created;
      setD({ ...EMPTY, kind: d.kind });
      setFailure(null);
      setProblems(new Map());
      props.onCreated(created);
    } catch (err) {
      const details: FieldProblem[] = err instanceof ApiFailure ? err.details : [];
      // The API's message repeats each field's problem in schema words: the fields say them in ours.
      setFailure(
        err instanceof ApiFailure && details.length > 0
          ? `Some fields need a change: see the messages beside them (${err.code}, ${err.status}).`
          : describe(err),
      );
      // The first problem the API named for each field, in words, shown beside it.
      const byPath = new Map<string, string>();
      for (const p of details) if (!byPath.has(p.path)) byPath.set(p.path, friendly(p.message));
      setProblems(byPath);
    } finally {
      setBusy(false);
    }
  };

  const input = (label: string, path: string, key: keyof Draft, { type = "text", ...extra }: InputExtras = {}) => (
    <Field label={label} path={path} problems={problems}>
      {(a) => {
        const common = {
          ...a,
          ...extra,
          value: d[key] as string,
          onInput: (e: { currentTarget: HTMLInputElement }) => set(key, e.currentTarget.value as never),
        };
        return type === "number" ? <input type="number" {...common} /> : <input type="text" {...common} />;
      }}
    </Field>
  );
  const numeric = { type: "number", inputMode: "numeric" } as const satisfies InputExtras;

  return (
    <form
      class="rule-form card"
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
            {input("Metric", "params.metric", "metric", { placeholder: "battery_level", list: "rule-metrics" })}
            <datalist id="rule-metrics">
              {metrics.map((m) => (
                <option value={m} />
              ))}
            </datalist>
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
        {d.kind === "quota" &&
          input("Percent of a monthly limit", "params.percent", "percent", { type: "number", min: 1, max: 100 })}
        {input("Stays firing at least (s)", "min_firing_s", "min_firing_s", { ...numeric, min: 0 })}
      </fieldset>
      {watchesDevices && (
        <fieldset>
          <legend>Which devices (none chosen: all of the project)</legend>
          <Field label="Device" path="device_id" problems={problems}>
            {(a) => (
              <select {...a} value={d.device_id} onChange={(e) => set("device_id", e.currentTarget.value)}>
                <option value="">every device</option>
                {devices.map((x) => (
                  <option value={x.id}>{deviceName(x)}</option>
                ))}
              </select>
            )}
          </Field>
          {input("Device type", "device_type", "device_type", { placeholder: "any type", list: "rule-types" })}
          <datalist id="rule-types">
            {types.map((t) => (
              <option value={t} />
            ))}
          </datalist>
        </fieldset>
      )}
      <fieldset>
        <legend>Webhook targets</legend>
        {d.targets.map((t, i) => (
          <div class="target">
            <Field label={`Target ${i + 1} URL`} path={`targets.${i}.url`} problems={problems}>
              {(a) => (
                <input
                  {...a}
                  type="url"
                  placeholder="https://hooks.example.com/…"
                  value={t.url}
                  onInput={(e) => setTarget(i, { url: e.currentTarget.value })}
                />
              )}
            </Field>
            <Field label="Format" path={`targets.${i}.format`} problems={problems}>
              {(a) => (
                <select
                  {...a}
                  value={t.format}
                  onChange={(e) => setTarget(i, { format: e.currentTarget.value as "json" | "slack" })}
                >
                  <option value="json">JSON</option>
                  <option value="slack">Slack</option>
                </select>
              )}
            </Field>
            {d.targets.length > 1 && (
              <button
                type="button"
                onClick={() =>
                  set(
                    "targets",
                    d.targets.filter((_, j) => j !== i),
                  )
                }
                aria-label={`Remove target ${i + 1}`}
              >
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
      {failure ? (
        <div role="alert" class="error-box">
          <p class="error">{failure}</p>
          {elsewhere.length > 0 ? (
            <ul>
              {elsewhere.map(([path, message]) => (
                <li>
                  {path}: {message}
                </li>
              ))}
            </ul>
          ) : null}
        </div>
      ) : null}
    </form>
  );
}

/** One alert's webhooks: per state change and target, its attempts in order. */
interface AlertDeliveries {
  alertId: string;
  /** The latest attempt's time, for the order (newest alert first). */
  last: number;
  changes: { change: AlertState; targetId: string; attempts: Delivery[] }[];
}

/** Attempts grouped by alert, then by state change (firing first) and target, attempts oldest first. */
function byAlert(deliveries: Delivery[]): AlertDeliveries[] {
  const alerts = new Map<string, AlertDeliveries>();
  for (const x of deliveries) {
    const a = alerts.get(x.alert_id) ?? { alertId: x.alert_id, last: 0, changes: [] };
    alerts.set(x.alert_id, a);
    a.last = Math.max(a.last, Date.parse(x.at));
    let c = a.changes.find((y) => y.change === x.state_change && y.targetId === x.target_id);
    if (!c) a.changes.push((c = { change: x.state_change, targetId: x.target_id, attempts: [] }));
    c.attempts.push(x);
  }
  for (const a of alerts.values()) {
    a.changes.sort((x, y) => (x.change === y.change ? 0 : x.change === "firing" ? -1 : 1));
    for (const c of a.changes) c.attempts.sort((x, y) => x.attempt - y.attempt || Date.parse(x.at) - Date.parse(y.at));
  }
  return [...alerts.values()].sort((x, y) => y.last - x.last);
}

/**
 * Where a state change's webhook stands after its attempts: a 2xx settles it, another 4xx (not 429) ends it,
 * the rest retry for 24 h.
 */
function outcome(attempts: Delivery[]): { label: string; status: string } {
  const last = attempts.at(-1)!;
  if (last.status !== null && last.status >= 200 && last.status < 300)
    return { label: "delivered", status: "succeeded" };
  if (last.status !== null && last.status >= 400 && last.status < 500 && last.status !== 429)
    return { label: "refused", status: "failed" };
  return Date.now() - Date.parse(attempts[0]!.at) > 86_400_000
    ? { label: "gave up", status: "failed" }
    : { label: "retrying", status: "queued" };
}

/** A rule's details and its webhook deliveries, grouped by alert. */
export function RuleDeliveries(props: { ruleId: string }) {
  const param = { id: props.ruleId };
  const { data: rule, error } = usePoll(
    async () => ((await ok(await api["alert-rules"][":id"].$get({ param }))) as { rule: Rule }).rule,
    [props.ruleId],
    30_000,
  );
  return (
    <section aria-labelledby="rule-title">
      <p class="crumbs">
        <a href="#/alerts">All alerts</a> /
      </p>
      <div class="title-row">
        <h1 id="rule-title">
          <span class="muted">Rule</span> <span title={`id ${props.ruleId}`}>{rule ? rule.name : "…"}</span>{" "}
          {rule ? <RuleState rule={rule} /> : null}
        </h1>
        <CopyId id={props.ruleId} />
      </div>
      <Failure error={error} />
      {rule ? <RuleBody rule={rule} /> : null}
    </section>
  );
}

function RuleBody(props: { rule: Rule }) {
  const rule = props.rule;
  const param = { id: rule.id };
  const names = useDeviceNames(rule.project_id);
  const { data: deliveries, error } = usePoll(
    async () =>
      (
        (await ok(await api["alert-rules"][":id"].deliveries.$get({ param, query: { limit: "200" } }))) as {
          deliveries: Delivery[];
        }
      ).deliveries,
    [rule.id],
  );
  // The alerts the attempts are about (their device, summary and times): the project's latest.
  const { data: alerts } = usePoll(
    async () =>
      new Map(
        (
          (await ok(await api.alerts.$get({ query: { project_id: rule.project_id, limit: "200" } }))) as {
            alerts: Alert[];
          }
        ).alerts.map((a) => [a.id, a]),
      ),
    [rule.project_id],
    30_000,
  );
  const url = (id: string) => rule.targets.find((t) => t.id === id)?.url ?? "a removed target";
  const groups = deliveries ? byAlert(deliveries) : null;

  return (
    <>
      <div class="card">
        <dl class="details">
          <dt>Kind</dt>
          <dd>{KIND_NAMES[rule.kind]}</dd>
          <dt>Fires when</dt>
          <dd>
            {condition(rule)}
            {rule.min_firing_s > 0 && <span class="note"> (fires at least {span(rule.min_firing_s)})</span>}
          </dd>
          <dt>Watches</dt>
          <dd>
            <Watches rule={rule} name={names.name} />
          </dd>
          <dt>Targets</dt>
          <dd>
            <Targets targets={rule.targets} />
          </dd>
          <dt>Created</dt>
          <dd>
            <When at={rule.created_at} />{" "}
            <span class="muted">
              (<Ago at={rule.created_at} />)
            </span>
          </dd>
        </dl>
      </div>
      <h2 id="deliveries-title">Deliveries</h2>
      <Failure error={error} />
      {groups && groups.length === 0 && (
        <Empty title="No webhook has been sent for this rule yet.">
          One is sent when an alert of it fires or resolves.
        </Empty>
      )}
      {groups && groups.length > 0 && (
        <div class="deliveries">
          <Table
            label="Deliveries"
            rows={groups}
            rowKey={(g) => g.alertId}
            columns={[
              {
                key: "alert",
                label: "Alert",
                cell: (g) => {
                  const a = alerts?.get(g.alertId);
                  return a ? (
                    <span class="alert-cell">
                      <span>
                        <Subject deviceId={a.device_id} name={names.name} /> <Status value={a.state} />
                      </span>
                      <span class="muted">
                        <When at={a.started_at} />
                        {a.resolved_at ? (
                          <>
                            {" "}
                            to <When at={a.resolved_at} />
                          </>
                        ) : null}
                      </span>
                      <span class="wrap">{a.summary}</span>
                    </span>
                  ) : (
                    <span class="muted">
                      {alerts ? "an older alert" : "…"} <CopyId id={g.alertId} />
                    </span>
                  );
                },
              },
              {
                key: "webhooks",
                label: "Webhooks",
                cell: (g) => (
                  <ul class="plain changes">
                    {g.changes.map((c) => {
                      const o = outcome(c.attempts);
                      return (
                        <li>
                          <span class="change-head">
                            <Status value={c.change} /> <span class="wrap">{url(c.targetId)}</span>{" "}
                            <span class={`badge status ${o.status}`}>{o.label}</span>
                          </span>
                          <ol
                            class="plain attempts"
                            aria-label={`Attempts of the ${c.change} webhook to ${url(c.targetId)}`}
                          >
                            {c.attempts.map((x) => (
                              <li>
                                <span class="muted">#{x.attempt}</span> <When at={x.at} />{" "}
                                <span class={x.status !== null && x.status < 300 ? "ok-text" : "bad-text"}>
                                  {x.status === null ? "no answer" : `HTTP ${x.status}`}
                                </span>
                                {x.error ? <span class="wrap"> · {x.error}</span> : null}
                              </li>
                            ))}
                          </ol>
                        </li>
                      );
                    })}
                  </ul>
                ),
              },
              {
                key: "last",
                label: "Last attempt",
                cell: (g) => <Ago at={new Date(g.last).toISOString()} />,
                sort: (g) => g.last,
              },
            ]}
          />
        </div>
      )}
      {deliveries && deliveries.length === 200 ? <p class="note">The latest 200 attempts.</p> : null}
    </>
  );
}
