// An admin's changes to a device, in a modal dialog: its name, its environment, maintenance on
// or off (PATCH /fleet/devices/:id), and decommissioning (DELETE: its key stops working at once).
// The fleet list and the device view both open it.
import { useEffect, useRef, useState } from "preact/hooks";
import { ApiFailure, api, describe, ok } from "../api";
import { friendly } from "../format";
import { type Device, deviceName, Failure } from "./parts";

const ENVIRONMENTS = ["production", "testing", "development"] as const;

export function DeviceEditor(props: {
  device: Device;
  onClose: (changed: "updated" | "decommissioned" | null) => void;
}) {
  const d = props.device;
  const dialog = useRef<HTMLDialogElement>(null);
  const [name, setName] = useState(d.name ?? "");
  const [environment, setEnvironment] = useState(d.environment);
  const [maintenance, setMaintenance] = useState(d.status === "maintenance");
  const [failure, setFailure] = useState<string | null>(null);
  const [nameProblem, setNameProblem] = useState<string | null>(null);
  const param = { device_id: d.id };

  useEffect(() => {
    dialog.current?.showModal();
  }, []);

  const save = async () => {
    const json: { name?: string; environment?: (typeof ENVIRONMENTS)[number]; status?: "maintenance" | "online" } = {};
    if (name.trim() !== (d.name ?? "")) json.name = name.trim();
    if (environment !== d.environment) json.environment = environment as (typeof ENVIRONMENTS)[number];
    if (maintenance !== (d.status === "maintenance")) json.status = maintenance ? "maintenance" : "online";
    if (Object.keys(json).length === 0) return props.onClose(null);
    try {
      await ok(await api.fleet.devices[":device_id"].$patch({ param, json }));
      props.onClose("updated");
    } catch (err) {
      const problem = err instanceof ApiFailure ? err.details.find((p) => p.path === "name") : undefined;
      setNameProblem(problem ? friendly(problem.message) : null);
      setFailure(problem ? null : describe(err));
    }
  };
  const decommission = async () => {
    if (!confirm(`Decommission ${deviceName(d)}? Its key stops working at once, and this cannot be undone.`)) return;
    try {
      await ok(await api.fleet.devices[":device_id"].$delete({ param }));
      props.onClose("decommissioned");
    } catch (err) {
      setFailure(describe(err));
    }
  };

  return (
    <dialog ref={dialog} class="editor" aria-labelledby="editor-title" onCancel={() => props.onClose(null)}>
      <form
        method="dialog"
        onSubmit={(e) => {
          e.preventDefault();
          void save();
        }}
      >
        <h2 id="editor-title">Edit {deviceName(d)}</h2>
        <label class="field">
          <span>Name</span>
          <input
            value={name}
            maxLength={128}
            onInput={(e) => setName(e.currentTarget.value)}
            aria-invalid={nameProblem ? true : undefined}
          />
          {nameProblem ? <span class="error">{nameProblem}</span> : null}
        </label>
        <label class="field">
          <span>Environment</span>
          <select value={environment} onChange={(e) => setEnvironment(e.currentTarget.value)}>
            {ENVIRONMENTS.map((e) => (
              <option value={e}>{e}</option>
            ))}
          </select>
        </label>
        <label class="check">
          <input type="checkbox" checked={maintenance} onChange={(e) => setMaintenance(e.currentTarget.checked)} /> In
          maintenance
        </label>
        <Failure error={failure} />
        <div class="toolbar">
          <button type="submit" class="primary">
            Save
          </button>
          <button type="button" onClick={() => props.onClose(null)}>
            Cancel
          </button>
          <span class="spacer" />
          <button type="button" class="danger" onClick={() => void decommission()}>
            Decommission
          </button>
        </div>
      </form>
    </dialog>
  );
}
