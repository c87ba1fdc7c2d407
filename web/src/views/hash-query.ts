// A view's filters kept in the URL's hash (#/sessions?device_id=…&status=…): read when the view
// opens or a link changes them, written back without a navigation, so a reload or a shared link
// shows the same thing.
import { useEffect, useState } from "preact/hooks";

/** The path and the query of the URL's hash (#/view?a=1): what a link or a reload asked the view to show. */
const hashPath = () => location.hash.split("?")[0] || "#/";
const hashQuery = () => new URLSearchParams(location.hash.split("?")[1] ?? "");

/**
 * Writes view `path`'s filters into its URL without a navigation (reload and a shared link keep them); not
 * once another view's URL is there.
 */
export function writeHashQuery(path: string, values: Record<string, string>) {
  if (hashPath() !== path) return;
  const query = new URLSearchParams(Object.entries(values).filter(([, v]) => v !== "")).toString();
  const next = query ? `${path}?${query}` : path;
  if (next !== location.hash) history.replaceState(history.state, "", next);
}

/** One filter of view `path` kept in the URL's hash: read at first, and again when a link to this view changes it. */
export function useHashParam(path: string, name: string): [string, (v: string) => void] {
  const [value, setValue] = useState(() => (hashPath() === path ? (hashQuery().get(name) ?? "") : ""));
  useEffect(() => {
    const on = () => {
      if (hashPath() === path) setValue(hashQuery().get(name) ?? "");
    };
    addEventListener("hashchange", on);
    return () => removeEventListener("hashchange", on);
  }, [path, name]);
  return [value, setValue];
}
