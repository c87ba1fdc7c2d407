// One hour of API requests to one route with one status class, as the Worker sends them to a
// ProjectHub and the stats API reads them back (durable-objects/project-hub/api-stats.ts).
import type { Histogram } from "./latency-histogram";

export interface ApiRecord {
  hour: number; // hours since the epoch
  route: string;
  status_class: string; // "2xx" | "3xx" | "4xx" | "5xx"
  count: number;
  hist: Histogram;
}
