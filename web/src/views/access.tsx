// Access (admin keys only): the org's API keys, a form that makes one and shows its secret
// once, a revoke per key; and a form that mints a registration capsule for the project, so a
// device can be onboarded without curl. Each secret is shown once, as the API answers it, and
// kept nowhere.
import { useState } from "preact/hooks";
import { type KeyRole, api, describe, ok } from "../api";
import { Failure } from "./parts";
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
  const { data, error } = usePoll(async () => ((await ok(await api.keys.$get())) as { keys: Key[] }).keys, [version], 30_000);
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
      setFailure(describe(err));
    }
  };
  const revoke = async (k: Key) => {
    if (!confirm(`Revoke the key "${k.name}"? Whatever uses it stops at once.`)) return;
    try {
      await ok(await api.keys[":id"].$delete({ param: { id: k.id } }));
      setFailure(null);
      setVersion((v) => v + 1);
    } catch (err) {
      setFailure(describe(err));
    }
  };

  return (
    <section>
      <h1>API keys</h1>
      <Failure error={error ?? failure} />
      <table aria-label="API keys">
        <thead>
          <tr>
            <th scope="col">Name</th>
            <th scope="col">Role</th>
            <th scope="col">Starts with</th>
            <th scope="col">Made</th>
            <th scope="col">Revoke</th>
          </tr>
        </thead>
        <tbody>
          {(data ?? []).map((k) => (
            <tr>
              <td>
                {k.name}
                {k.id === props.keyId && <span class="note"> (this key)</span>}
              </td>
              <td>{k.role}</td>
              <td>
                <code>{k.prefix}…</code>
              </td>
              <td>
                {new Date(k.created_at).toLocaleString()}
                <span class="note"> by {k.created_by ? (names.get(k.created_by) ?? "a revoked key") : "the server admin"}</span>
              </td>
              <td>
                <button type="button" class="danger" onClick={() => void revoke(k)} aria-label={`Revoke ${k.name}`}>
                  Revoke
                </button>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      <form
        class="filters"
        aria-label="New key"
        onSubmit={(e) => {
          e.preventDefault();
          void create();
        }}
      >
        <label>
          Name <input value={name} onInput={(e) => setName(e.currentTarget.value)} required maxLength={128} />
        </label>
        <label>
          Role{" "}
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
          <pre class="secret wrap" aria-label="New key secret">
            {made.key}
          </pre>
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
  const [capsule, setCapsule] = useState<string | null>(null);
  const [failure, setFailure] = useState<string | null>(null);

  const generate = async () => {
    try {
      const json = { project_id: props.projectId, device_type: deviceType, environment, ...(deviceName ? { name: deviceName } : {}) };
      const made = (await ok(await api.capsules.generate.$post({ json }))) as { capsule: unknown };
      setCapsule(JSON.stringify(made.capsule, null, 2));
      setFailure(null);
    } catch (err) {
      setFailure(describe(err));
    }
  };

  return (
    <>
      <h2>Onboard a device</h2>
      <p>
        A capsule holds a one-time registration token for this project (valid 24 hours). Save it as <code>capsule.json</code> on the device and register with the
        agent: <code>fleetbeat-agent register --capsule capsule.json</code>.
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
        <label>
          Device type <input value={deviceType} onInput={(e) => setDeviceType(e.currentTarget.value)} required maxLength={64} />
        </label>
        <label>
          Environment{" "}
          <select value={environment} onChange={(e) => setEnvironment(e.currentTarget.value as Environment)}>
            {ENVIRONMENTS.map((env) => (
              <option value={env}>{env}</option>
            ))}
          </select>
        </label>
        <label>
          Name (optional) <input value={deviceName} onInput={(e) => setDeviceName(e.currentTarget.value)} maxLength={128} />
        </label>
        <button type="submit">Make capsule</button>
      </form>
      {capsule && (
        <div class="secrets" role="status">
          <p>The capsule, shown only now:</p>
          <pre class="secret wrap" aria-label="Capsule JSON">
            {capsule}
          </pre>
        </div>
      )}
    </>
  );
}
