// The exposition format GET /metrics writes, read back by a Prometheus text-format parser.
import parsePrometheusTextFormat from "parse-prometheus-text-format";
import { describe, expect, it } from "vitest";
import { escapeLabelValue, formatExposition, formatValue } from "../../src/lib/prometheus-text";

describe("the Prometheus text format", () => {
  it("escapes backslash, double quote and line feed in label values, and nothing else", () => {
    expect(escapeLabelValue('a\\b"c\nd')).toBe('a\\\\b\\"c\\nd');
    expect(escapeLabelValue("plain ünïcode {x=1}, 'q'")).toBe("plain ünïcode {x=1}, 'q'");
  });

  it("spells NaN and the infinities as Go reads them", () => {
    expect([NaN, Infinity, -Infinity, 0, -1.5, 1e21].map(formatValue)).toEqual([
      "NaN",
      "+Inf",
      "-Inf",
      "0",
      "-1.5",
      "1e+21",
    ]);
  });

  it("writes each family once with HELP and TYPE, leaves out empty ones, and reads back exactly", () => {
    const nasty = 'C:\\DIR\\"FILE"\nnext line';
    const text = formatExposition([
      {
        name: "x_up",
        help: "Up\\down\nsecond line",
        type: "gauge",
        samples: [
          { labels: { id: "a", dsn: nasty }, value: 1 },
          { labels: { id: "b", dsn: "" }, value: 0 },
        ],
      },
      { name: "x_empty", help: "none", type: "gauge", samples: [] },
      { name: "x_seen_total", help: "Counted", type: "counter", samples: [{ labels: {}, value: 12.5 }] },
    ]);
    expect(text.endsWith("\n")).toBe(true);
    expect(text).not.toContain("x_empty");
    expect(text.split("\n").filter((l) => l.startsWith("# TYPE"))).toEqual([
      "# TYPE x_up gauge",
      "# TYPE x_seen_total counter",
    ]);
    expect(text).toContain('x_up{id="a",dsn="C:\\\\DIR\\\\\\"FILE\\"\\nnext line"} 1');
    expect(parsePrometheusTextFormat(text)).toEqual([
      {
        name: "x_up",
        help: "Up\\down\nsecond line",
        type: "GAUGE",
        metrics: [
          { value: "1", labels: { id: "a", dsn: nasty } },
          { value: "0", labels: { id: "b", dsn: "" } },
        ],
      },
      { name: "x_seen_total", help: "Counted", type: "COUNTER", metrics: [{ value: "12.5" }] },
    ]);
    expect(formatExposition([])).toBe("");
  });
});
