// Delivers what a device's object owes its project now (whatever the second) and waits for
// it, so a test can read usage or tail frames that the last requests set off. Not an RPC method: it reaches into the
// object the way workers-sdk's runInDurableObject allows.
import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { type DeviceHub, SETTLE } from "../../durable-objects/device-hub/hub";
import { deviceHub } from "../../src/stubs/device-hub";
import { fanInByName, fanInName } from "../../src/stubs/fan-in";

export const settle = (deviceId: string): Promise<void> =>
  runInDurableObject(deviceHub(env, deviceId), (hub: DeviceHub) => hub[SETTLE]());

/** Passes on what a project's first `count` fan-in objects hold (src/contract/fan-in.ts). */
export const settleFanIn = async (projectId: string, count: number): Promise<void> => {
  for (let i = 0; i < count; i++) await fanInByName(env, fanInName(projectId, i)).flush();
};
