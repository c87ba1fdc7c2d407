// Calls to the Loki API as Grafana's Loki data source makes them: its custom headers
// (Authorization, X-Scope-OrgID), its user agent, times in ns, and the query string sorted, as
// Grafana's backend encodes it (Go's url.Values.Encode). Shared by the loki*.test.ts files.
import { exports } from "cloudflare:workers";
import { type LooseJson, readText } from "./helpers";

/** Where Grafana is pointed: the Loki API under the Worker's origin. */
export const LOKI_BASE = "http://fleetbeat.test/loki/api/v1";

/** Milliseconds as Loki's nanosecond timestamps. */
export const ns = (ms: number) => String(BigInt(ms) * 1_000_000n);

/** Grafana's backend sorts the query string (Go url.Values.Encode). */
export function qs(params: Record<string, string | number>) {
  return Object.keys(params)
    .sort()
    .map((k) => `${encodeURIComponent(k)}=${encodeURIComponent(String(params[k]))}`)
    .join("&");
}

/** The data source's custom headers: an org key, and the project as Loki's tenant. */
export const grafana = (key: string, project: string) => ({
  authorization: `Bearer ${key}`,
  "x-scope-orgid": project,
});

/** GET `path` under /loki/api/v1 as Grafana `version` sends it. */
export async function loki(path: string, headers: Record<string, string>, version = "11.3.0") {
  const res = await exports.default.fetch(`${LOKI_BASE}${path}`, {
    headers: { "user-agent": `Grafana/${version}`, ...headers },
  });
  const text = await readText(res);
  return {
    status: res.status,
    type: res.headers.get("content-type"),
    json: (text ? JSON.parse(text) : null) as LooseJson,
  };
}
