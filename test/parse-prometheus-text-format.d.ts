// The Prometheus text-format parser the metrics tests read GET /metrics with (it ships no types).
declare module "parse-prometheus-text-format" {
  interface Family {
    name: string;
    help: string;
    type: "GAUGE" | "COUNTER" | "SUMMARY" | "HISTOGRAM" | "UNTYPED";
    metrics: { value: string; labels?: Record<string, string> }[];
  }
  export default function parsePrometheusTextFormat(text: string): Family[];
}
