// Names for the ids the API answers with: a project's devices (id → name) from one read of the
// fleet list, shared by every view that shows a device id and refreshed each minute, so no row
// needs a call of its own.
import { useEffect, useState } from "preact/hooks";
import { api, ok } from "../api";
import { type Device, deviceName } from "./parts";

const EVERY_MS = 60_000;
/** The fleet list's largest page; a larger fleet's other devices show their ids until named. */
const MAX_DEVICES = "200";

interface Book {
  at: number;
  devices: Map<string, string>;
  list: Device[];
}
const books = new Map<string, Book>();
const listeners = new Set<() => void>();

async function refresh(projectId: string): Promise<void> {
  const list = (
    (await ok(await api.fleet.devices.$get({ query: { project_id: projectId, limit: MAX_DEVICES } }))) as {
      devices: Device[];
    }
  ).devices;
  books.set(projectId, { at: Date.now(), devices: new Map(list.map((d) => [d.id, deviceName(d)])), list });
  for (const l of listeners) l();
}

/**
 * Reads the project's devices again when its book is older than EVERY_MS (marked at once, so one read is
 * under way at a time).
 */
function refreshIfStale(projectId: string): void {
  const book = books.get(projectId);
  if (book && Date.now() - book.at < EVERY_MS) return;
  books.set(projectId, { at: Date.now(), devices: book?.devices ?? new Map(), list: book?.list ?? [] });
  void refresh(projectId).catch(() => undefined);
}

/** The project's device names (and devices), loaded once a minute for all views. */
export function useDeviceNames(projectId: string): {
  name: (id: string | null | undefined) => string;
  devices: Device[];
} {
  const [, setVersion] = useState(0);
  useEffect(() => {
    const on = () => setVersion((v) => v + 1);
    listeners.add(on);
    refreshIfStale(projectId);
    // Every view that shows names has this timer; the first to find the book stale reads it for all.
    const timer = setInterval(() => refreshIfStale(projectId), EVERY_MS / 4);
    return () => {
      listeners.delete(on);
      clearInterval(timer);
    };
  }, [projectId]);
  const book = books.get(projectId);
  return { name: (id) => (id ? (book?.devices.get(id) ?? id) : "—"), devices: book?.list ?? [] };
}
