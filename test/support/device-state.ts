// Moving a device's clock back in its object: tests age the state the object keeps, as if
// time had passed, then run its alarm.
import { runInDurableObject } from "cloudflare:test";
import type { DeviceHub } from "../../durable-objects/device-hub/hub";
import type { DeviceState } from "../../durable-objects/device-hub/state";

/**
 * Rewrites the stored device state with `change` and has the object read it again (it keeps
 * the state in memory beside its own writes, so a write from outside must tell it).
 */
export async function rewriteDeviceState(
  stub: DurableObjectStub<DeviceHub>,
  change: (s: DeviceState) => DeviceState,
): Promise<void> {
  await runInDurableObject(stub, (hub, state) => {
    state.storage.kv.put("device", change(state.storage.kv.get<DeviceState>("device")!));
    (hub as unknown as { state: { forget(): void } }).state.forget();
  });
}
