// Where the agent program keeps the device: its id and key (device.json, mode 0600), the
// session a "session start" opened (session.json), and the log spool, all in one folder.
import * as fs from "node:fs";
import { homedir } from "node:os";
import * as path from "node:path";
import { FleetbeatAgent, type Registration } from "../agent.ts";
import { FileSpool } from "../spool.ts";

export interface Saved extends Registration {
  backend_url: string;
}

export const configDir = () => process.env.FLEETBEAT_CONFIG_DIR ?? path.join(homedir(), ".config", "fleetbeat");
export const savedFile = () => path.join(configDir(), "device.json");

export function fail(message: string): never {
  console.error(`fleetbeat agent: ${message}`);
  process.exit(2);
  throw new Error(message); // not reached: process.exit does not return
}

export function option(args: string[], name: string): string | undefined {
  const at = args.indexOf(name);
  return at === -1 ? undefined : args[at + 1];
}

export const sessionFile = () => path.join(configDir(), "session.json");
/** The session opened by "session start" and not yet ended, if any. */
export const currentSession = (): string | undefined =>
  fs.existsSync(sessionFile()) ? (JSON.parse(fs.readFileSync(sessionFile(), "utf8")) as { session_id: string }).session_id : undefined;

export function saved(): Saved {
  if (!fs.existsSync(savedFile())) fail(`no device registered in ${configDir()}: run "register --capsule <file>" first`);
  return JSON.parse(fs.readFileSync(savedFile(), "utf8")) as Saved;
}

export function agentOf(device: Saved): FleetbeatAgent {
  return new FleetbeatAgent({
    backendUrl: device.backend_url,
    deviceKey: device.device_key,
    logUpload: device.log_upload,
    spool: new FileSpool(fs, path.join(configDir(), "spool")),
    sessionId: currentSession(),
  });
}
