// Access (admin keys only): the org's API keys, a form that makes one and shows its secret
// once, a revoke per key; and a form that mints a registration capsule for the project, so a
// device can be onboarded without curl. Each secret is shown once, as the API answers it, and
// kept nowhere.
import { useState } from "preact/hooks";
import { api, type KeyRole, ok } from "../api";
import { Ago, CopyText, Empty, explain, Failure, When } from "./parts";
import { Table } from "./table";
import { usePoll } from "./use-poll";

interface Key {
  id: string;
  name: string;
  role: KeyRole;
  prefix: string;
  created_by: string | null;
  created_at: string;
}
const ROLES: KeyRole[] = ["viewer", "operator", "admin"];
const ENVIRONMENTS = ["production", "testing", "development"] as const;
type Environment = (typeof ENVIRONMENTS)[number];

export function Access(props: { projectId: string; keyId: string | null }) {
  const [version, setVersion] = useState(0);
  const { data, error } = usePoll(
    async () => ((await ok(await api.keys.$get())) as { keys: Key[] }).keys,
    [version],
    30_000,
  );
  const [failure, setFailure] = useState<string | null>(null);
  const [made, setMade] = useState<{ name: string; key: string } | null>(null);
  const [name, setName] = useState("");
  const [role, setRole] = useState<KeyRole>("viewer");
  const names = new Map((data ?? []).map((k) => [k.id, k.name]));

  const create = async () => {
    try {
      const key = (await ok(await api.keys.$post({ json: { name, role } }))) as Key & { key: string };
      setMade({ name: key.name, key: key.key });
      setName("");
      setFailure(null);
      setVersion((v) => v + 1);
    } catch (err) {
      setFailure(explain(err));
    }
  };
  const revoke = async (k: Key) => {
    if (!confirm(`Revoke the key "${k.name}"? Whatever uses it stops at once.`)) return;
    try {
      await ok(await api.keys[":id"].$delete({ param: { id: k.id } }));
      setFailure(null);
      setVersion((v) => v + 1);
    } catch (err) {
      setFailure(explain(err));
    }
  };

  return (
    <section aria-labelledby="access-title">
      <h1 id="access-title">API keys</h1>
      <p class="muted">
        Keys let machines and scripts use the API as this org: a viewer reads, an operator also sends commands and
        silences alerts, an admin changes everything.
      </p>
      <Failure error={error ?? failure} />
      {data && data.length === 0 ? <Empty title="No API keys">Make one below.</Empty> : null}
      {data && data.length > 0 ? (
        <Table
          label="API keys"
          rows={data}
          rowKey={(k) => k.id}
          initial={{ key: "made", desc: true }}
          columns={[
            {
              key: "name",
              label: "Name",
              cell: (k) => (
                <span>
                  <span title={`id ${k.id}`}>{k.name}</span>
                  {k.id === props.keyId && <span class="badge"> this key</span>}
                </span>
              ),
              sort: (k) => k.name.toLowerCase(),
            },
            {
              key: "role",
              label: "Role",
              cell: (k) => <span class={`badge role ${k.role}`}>{k.role}</span>,
              sort: (k) => ROLES.indexOf(k.role),
            },
            { key: "prefix", label: "Starts with", cell: (k) => <code>{k.prefix}…</code> },
            {
              key: "made",
              label: "Made",
              cell: (k) => (
                <span>
                  <When at={k.created_at} />{" "}
                  <span class="muted">
                    by {k.created_by ? (names.get(k.created_by) ?? "a revoked key") : "the server admin"}
                  </span>
                </span>
              ),
              sort: (k) => Date.parse(k.created_at),
            },
            {
              key: "revoke",
              label: "Revoke",
              cell: (k) => (
                <button type="button" class="danger" onClick={() => void revoke(k)} aria-label={`Revoke ${k.name}`}>
                  Revoke
                </button>
              ),
            },
          ]}
        />
      ) : null}
      <h2 id="new-key-title">New key</h2>
      <form
        class="filters"
        aria-label="New key"
        onSubmit={(e) => {
          e.preventDefault();
          void create();
        }}
      >
        <label class="field">
          <span>Name</span>
          <input
            value={name}
            onInput={(e) => setName(e.currentTarget.value)}
            required
            maxLength={128}
            placeholder="line lead"
          />
        </label>
        <label class="field">
          <span>Role</span>
          <select value={role} onChange={(e) => setRole(e.currentTarget.value as KeyRole)}>
            {ROLES.map((r) => (
              <option value={r}>{r}</option>
            ))}
          </select>
        </label>
        <button type="submit">Create key</button>
      </form>
      {made && (
        <div class="secrets" role="status">
          <p>
            The key <strong>{made.name}</strong>, shown only now: copy it somewhere safe.
          </p>
          {/* biome-ignore lint/a11y/useAriaPropsSupportedByRole: names the secret for people using a screen reader and for the browser test that reads it */}
          <pre class="secret wrap" aria-label="New key secret">
            {made.key}
          </pre>
          <p class="actions">
            <CopyText text={made.key} label="Copy the new key" />
            <button type="button" onClick={() => setMade(null)}>
              I have copied the key
            </button>
          </p>
        </div>
      )}
      <Capsule projectId={props.projectId} />
    </section>
  );
}

/** Mints a registration capsule for the project: the file a device registers with, once. */
function Capsule(props: { projectId: string }) {
  const [deviceType, setDeviceType] = useState("robot");
  const [environment, setEnvironment] = useState<Environment>("production");
  const [deviceName, setDeviceName] = useState("");
  const [capsule, setCapsule] = useState<{ json: string; expires: string | null } | null>(null);
  const [failure, setFailure] = useState<string | null>(null);

  const generate = async () => {
    try {
      const json = {
        project_id: props.projectId,
        device_type: deviceType,
        environment,
        ...(deviceName ? { name: deviceName } : {}),
      };
      const made = (await ok(await api.capsules.generate.$post({ json }))) as {
        capsule: { fleet?: { expires_at?: string } };
      };
      const expires = made.capsule.fleet?.expires_at ?? null;
      setCapsule({ json: JSON.stringify(made.capsule, null, 2), expires });
      setFailure(null);
    } catch (err) {
      setFailure(explain(err));
    }
  };
  const save = (json: string) => {
    const a = document.createElement("a");
    a.href = URL.createObjectURL(new Blob([json], { type: "application/json" }));
    a.download = "capsule.json";
    document.body.appendChild(a);
    a.click();
    a.remove();
    URL.revokeObjectURL(a.href);
  };

  return (
    <>
      <h2 id="capsule-title">Onboard a device</h2>
      <p>
        A capsule holds a one-time registration token for this project (valid 24 hours). Save it as{" "}
        <code>capsule.json</code> on the device and register with the agent:{" "}
        <code>fleetbeat-agent register --capsule capsule.json</code>.
      </p>
      <Failure error={failure} />
      <form
        class="filters"
        aria-label="New capsule"
        onSubmit={(e) => {
          e.preventDefault();
          void generate();
        }}
      >
        <label class="field">
          <span>Device type</span>
          <input value={deviceType} onInput={(e) => setDeviceType(e.currentTarget.value)} required maxLength={64} />
        </label>
        <label class="field">
          <span>Environment</span>
          <select value={environment} onChange={(e) => setEnvironment(e.currentTarget.value as Environment)}>
            {ENVIRONMENTS.map((env) => (
              <option value={env}>{env}</option>
            ))}
          </select>
        </label>
        <label class="field">
          <span>Name (optional)</span>
          <input
            value={deviceName}
            onInput={(e) => setDeviceName(e.currentTarget.value)}
            maxLength={128}
            placeholder="Picker 12"
          />
        </label>
        <button type="submit">Make capsule</button>
      </form>
      {capsule && (
        <div class="secrets" role="status">
          <p>
            The capsule, shown only now
            {capsule.expires ? (
              <>
                ; it works once, until <When at={capsule.expires} /> (<Ago at={capsule.expires} />)
              </>
            ) : null}
            :
          </p>
          {/* biome-ignore lint/a11y/useAriaPropsSupportedByRole: names the capsule for people using a screen reader and for the browser test that reads it */}
          <pre class="secret wrap" aria-label="Capsule JSON">
            {capsule.json}
          </pre>
          <p class="actions">
            <CopyText text={capsule.json} label="Copy the capsule" />
            <button type="button" onClick={() => save(capsule.json)}>
              Download capsule.json
            </button>
          </p>
        </div>
      )}
    </>
  );
}
