import type { DeviceHub } from "../../durable-objects/device-hub/hub";

/** The Durable Object of one device, addressed by the device's id. */
export function deviceHub(env: Env, deviceId: string): DurableObjectStub<DeviceHub> {
  const ns = env.DEVICE_HUB as DurableObjectNamespace<DeviceHub>;
  return ns.get(ns.idFromName(deviceId));
}
