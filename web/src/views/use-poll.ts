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
