// Waits until a device's object has no delivery to its project under way, so a test can read
// usage or tail frames that the last request set off. Not an RPC method: it reaches into the
// object the way workers-sdk's runInDurableObject allows.
import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { type DeviceHub, SETTLE } from "../../durable-objects/device-hub/hub";
import { deviceHub } from "../../src/stubs/device-hub";

export const settle = (deviceId: string): Promise<void> => runInDurableObject(deviceHub(env, deviceId), (hub: DeviceHub) => hub[SETTLE]());
