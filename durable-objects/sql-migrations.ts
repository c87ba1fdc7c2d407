// A Durable Object's own SQLite schema, applied in order once per object and remembered
// in its key-value store. Append new steps; never edit a step that has landed.
import type { ObjectStorage } from "./storage";

export function migrate(
  storage: Pick<ObjectStorage, "kv" | "sql" | "transactionSync">,
  steps: readonly string[],
): void {
  const applied = storage.kv.get<number>("schema_version") ?? 0;
  if (applied >= steps.length) return;
  storage.transactionSync(() => {
    for (let v = applied; v < steps.length; v++) storage.sql.exec(steps[v]!);
    storage.kv.put("schema_version", steps.length);
  });
}
