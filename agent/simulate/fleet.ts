// The simulator's devices: each gets a capsule (with the org key) and registers with it, as a
// real device would; with a state file their ids and keys are kept (mode 0600), so a restart
// drives the same devices instead of registering new ones.
import * as fs from "node:fs";
import * as path from "node:path";
import { type Registration, register } from "../agent.ts";
import { DATASETS, type Dataset } from "../samples/loghub.ts";

/** What each Loghub sample sounds like, as a kind of device. */
const DEVICE_TYPES: Record<Dataset, string> = {
  Android: "tablet",
  Apache: "gateway",
  BGL: "compute-node",
  HDFS: "storage-node",
  HPC: "compute-node",
  Linux: "robot",
  OpenSSH: "gateway",
  Zookeeper: "coordinator",
};

export interface SimDevice extends Registration {
  dsn: string;
  name: string;
  device_type: string;
  /** The Loghub sample it replays. */
  dataset: Dataset;
}

interface FleetState {
  backend_url: string;
  project_id: string;
  devices: SimDevice[];
}

export interface Org {
  backendUrl: string;
  /** An org key with the admin role: capsules need one. */
  orgKey: string;
  projectId: string;
  environment: string;
}

/** The devices `file` keeps for this server and project; none when it keeps another's, or there is no file. */
export function loadDevices(file: string | undefined, org: Org): SimDevice[] {
  if (!file || !fs.existsSync(file)) return [];
  const state = JSON.parse(fs.readFileSync(file, "utf8")) as FleetState;
  return state.backend_url === org.backendUrl && state.project_id === org.projectId ? state.devices : [];
}

/** Writes the devices to `file`, readable by its owner only, whole or not at all. */
export function saveDevices(file: string, org: Org, devices: SimDevice[]): void {
  fs.mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
  // Devices register a few at once, so a later one may be saved before an earlier one.
  const state: FleetState = {
    backend_url: org.backendUrl,
    project_id: org.projectId,
    devices: devices.filter(Boolean),
  };
  const temporary = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(temporary, `${JSON.stringify(state, null, 2)}\n`, { mode: 0o600 });
  fs.chmodSync(temporary, 0o600);
  fs.renameSync(temporary, file);
}

/**
 * The `index`th device of a new fleet; `run` tells one simulator's devices from another's. A
 * fleet kept in a state file (npm start's demo fleet) has plain names; a one-off run's names
 * carry the run too, so its devices never share a name with the demo fleet's or another run's.
 */
export function profileOf(
  index: number,
  fleet: { run: string; kept: boolean },
): Pick<SimDevice, "dsn" | "name" | "device_type" | "dataset"> {
  const dataset = DATASETS[index % DATASETS.length]!;
  const number = String(index + 1).padStart(3, "0");
  return {
    dsn: `sim-${fleet.run}-${number}`,
    name: `Simulated ${DEVICE_TYPES[dataset]} ${number}${fleet.kept ? "" : ` (run ${fleet.run})`}`,
    device_type: DEVICE_TYPES[dataset],
    dataset,
  };
}

/**
 * Registers a device of `profile` through a new capsule. Registering a DSN the project
 * already has gives that device a new key (how a device whose key stopped working comes back).
 */
export async function provision(
  org: Org,
  profile: Pick<SimDevice, "dsn" | "name" | "device_type" | "dataset">,
): Promise<SimDevice> {
  const res = await fetch(`${org.backendUrl}/api/v1/capsules/generate`, {
    method: "POST",
    headers: { authorization: `Bearer ${org.orgKey}`, "content-type": "application/json" },
    body: JSON.stringify({
      project_id: org.projectId,
      device_type: profile.device_type,
      environment: org.environment,
      dsn: profile.dsn,
    }),
  });
  const answer = (await res.json()) as {
    capsule?: { fleet: { registration_token: string } };
    error?: { message: string };
  };
  if (res.status !== 201)
    throw new Error(
      `a capsule for ${profile.dsn} was refused (${res.status}): ${answer.error?.message ?? "unknown error"}`,
    );
  const registration = await register(org.backendUrl, {
    dsn: profile.dsn,
    registration_token: answer.capsule!.fleet.registration_token,
    name: profile.name,
    device_type: profile.device_type,
    environment: org.environment,
    device_info: { simulated: true, sample: profile.dataset },
  });
  return {
    ...registration,
    dsn: profile.dsn,
    name: profile.name,
    device_type: profile.device_type,
    dataset: profile.dataset,
  };
}
