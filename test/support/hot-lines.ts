// What a device's hot store holds, read in its object: the ids of its lines, oldest first.
// Lines are kept in chunks (durable-objects/device-hub/chunks.ts), one JSON line each, whose
// first field is the line's id.
import { runInDurableObject } from "cloudflare:test";
import type { DeviceHub } from "../../durable-objects/device-hub/hub";

export function hotLineIds(stub: DurableObjectStub<DeviceHub>): Promise<number[]> {
  return runInDurableObject(stub, (_hub, state) =>
    state.storage.sql
      .exec<{ data: string }>("SELECT data FROM chunks")
      .toArray()
      .flatMap((r) => r.data.split("\n").filter(Boolean).map((line) => (JSON.parse(line) as [number])[0]))
      .sort((a, b) => a - b),
  );
}
