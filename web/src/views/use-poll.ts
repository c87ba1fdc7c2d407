import { useEffect, useState } from "preact/hooks";
import { describe } from "../api";

/** Loads with `load` now and every `everyMs`, again whenever `deps` change; keeps the last error in words. */
export function usePoll<T>(load: () => Promise<T>, deps: unknown[], everyMs = 10_000) {
  const [data, setData] = useState<T | null>(null);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    let live = true;
    const run = () =>
      load().then(
        (d) => live && (setData(d), setError(null)),
        (err) => live && setError(describe(err)),
      );
    void run();
    const timer = setInterval(run, everyMs);
    return () => {
      live = false;
      clearInterval(timer);
    };
  }, deps);
  return { data, error };
}

/**
 * A view's changes: `change(work)` runs one; on success `version` moves on (so the view's polls,
 * which list it in their deps, read again) and the last failure clears; on failure it shows.
 */
export function useChanges() {
  const [version, setVersion] = useState(0);
  const [failure, setFailure] = useState<string | null>(null);
  const change = async (work: () => Promise<unknown>) => {
    try {
      await work();
      setFailure(null);
      setVersion((v) => v + 1);
    } catch (err) {
      setFailure(describe(err));
    }
  };
  return { version, failure, change, setFailure, setVersion };
}
