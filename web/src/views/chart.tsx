// Time-series charts, drawn by uPlot (the canvas chart Grafana draws its time series with:
// ~50 KB, fast at thousands of points): time axes in the viewer's time zone, value axes with
// units, hover values in the legend, drag to zoom (double-click resets), several series per
// chart, stacked bars for volumes, and the colours of the page's theme, light or dark.
import { useEffect, useRef, useState } from "preact/hooks";
import uPlot from "uplot";
import "uplot/dist/uPlot.min.css";
import { count, withUnit } from "../format";

export interface ChartSeries {
  label: string;
  /** One value per time; null where there is none. */
  values: (number | null)[];
  /** A CSS colour or custom property name (`--level-error`); else the theme's next chart colour. */
  color?: string;
}

export interface TimeChartProps {
  /** What the chart shows, for screen readers and as its caption. */
  title: string;
  /** Times in ms since the epoch, one per value, ascending. */
  times: number[];
  series: ChartSeries[];
  /** The values' unit ("%", "°C", "lines"); "bytes" formats as KiB/MiB. */
  unit?: string;
  kind?: "line" | "bars";
  /** Bars stacked: each series on top of the ones before it (a volume by level). */
  stacked?: boolean;
  height?: number;
  /**
   * A drag (or a click on a bar) picked this range: the view zooms there itself. Without it, the chart zooms
   * in place.
   */
  onZoom?: (from: number, to: number) => void;
  /** The time window the x axis spans (ms), whatever the data covers; else the data's own span. */
  window?: [number, number];
  /** A bar's width in ms, for a click on one to pick its bucket. */
  step?: number;
}

/** The theme's colours, read from the page's custom properties (so dark mode is the same code). */
function theme() {
  const css = getComputedStyle(document.documentElement);
  const v = (name: string) => css.getPropertyValue(name).trim();
  return { text: v("--muted"), grid: v("--line-soft"), palette: [1, 2, 3, 4, 5, 6].map((i) => v(`--chart-${i}`)), v };
}

/** Whether the page is dark now; changes when the system's scheme does. */
function useScheme(): string {
  const query = matchMedia("(prefers-color-scheme: dark)");
  const [dark, setDark] = useState(query.matches);
  useEffect(() => {
    const on = () => setDark(query.matches);
    query.addEventListener("change", on);
    return () => query.removeEventListener("change", on);
  }, []);
  return dark ? "dark" : "light";
}

/** A bar's width in ms: the given step, else the distance between the first two times. */
const stepOf = (p: TimeChartProps) => p.step ?? (p.times.length > 1 ? p.times[1]! - p.times[0]! : 60_000);

const format = (unit: string | undefined) => (v: number | null | undefined) =>
  v === null || v === undefined
    ? "—"
    : unit === "bytes"
      ? `${count(v)} B`.replace(/(\d)(k|M|G|T) B$/, "$1 $2B")
      : unit && unit !== "lines"
        ? withUnit(v, unit)
        : count(v);

/** A time-series chart with axes, a hover legend and drag zoom. */
export function TimeChart(props: TimeChartProps) {
  const box = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);
  const latest = useRef(props);
  latest.current = props;
  const scheme = useScheme();
  const shape = `${props.series.map((s) => s.label).join("|")}:${props.kind}:${props.stacked}:${props.unit}:${scheme}`;

  /** The data as uPlot takes it: seconds, then each series (summed upwards when stacked). */
  const data = (): uPlot.AlignedData => {
    const p = latest.current;
    const rows = p.series.map((s) => s.values);
    if (p.stacked) {
      // Drawn tallest first, so each series' own bar shows above the ones under it.
      const sums = rows.map((_, i) => p.times.map((_, j) => rows.slice(0, i + 1).reduce((a, r) => a + (r[j] ?? 0), 0)));
      return [p.times.map((t) => t / 1000), ...sums.reverse()];
    }
    return [p.times.map((t) => t / 1000), ...rows];
  };

  useEffect(() => {
    const el = box.current;
    if (!el) return;
    const t = theme();
    const p = latest.current;
    const fmt = format(p.unit);
    const ordered = p.stacked ? [...p.series].reverse() : p.series;
    const colorOf = (s: ChartSeries, i: number) =>
      (s.color?.startsWith("--") ? t.v(s.color) : s.color) || t.palette[i % t.palette.length]!;
    const bars = p.kind === "bars" ? uPlot.paths.bars!({ size: [0.8, 40], align: 1 }) : undefined;
    const axis = {
      stroke: t.text,
      grid: { stroke: t.grid, width: 1 },
      ticks: { stroke: t.grid, width: 1 },
      font: "12px system-ui, sans-serif",
    };
    const u = new uPlot(
      {
        width: Math.max(el.clientWidth, 200),
        height: p.height ?? 180,
        scales: {
          // A bar starts at its time and covers its step: the axis runs to the end of the last one.
          // The window asked for, when given (a device's last 24 h with two heartbeats spans 24 h, not two).
          x: {
            time: true,
            range: (_u: uPlot, lo: number, hi: number): uPlot.Range.MinMax => {
              const w = latest.current.window;
              if (w) return [w[0] / 1000, w[1] / 1000];
              return p.kind === "bars" ? [lo, hi + stepOf(latest.current) / 1000] : [lo, hi > lo ? hi : lo + 60];
            },
          },
          y: { range: (_u, lo, hi) => [Math.min(0, lo), hi > 0 ? hi * 1.05 : 1] },
        },
        axes: [{ ...axis }, { ...axis, size: 56, values: (_u, ticks) => ticks.map((v) => fmt(v)) }],
        series: [
          { label: "Time", value: (_u, v) => (v === null ? "—" : new Date(v * 1000).toLocaleString()) },
          ...ordered.map((s, i) => {
            const color = colorOf(s, p.stacked ? p.series.length - 1 - i : i);
            // Stacked: the legend shows the series' own value, not the running sum.
            const own = p.stacked
              ? (_u: uPlot, _v: number | null, _s: number, idx: number | null) =>
                  fmt(idx === null ? null : (s.values[idx] ?? 0))
              : (_u: uPlot, v: number | null) => fmt(v);
            return {
              label: s.label,
              stroke: color,
              fill: p.kind === "bars" ? color : undefined,
              width: p.kind === "bars" ? 0 : 2,
              paths: bars,
              points: { show: p.kind !== "bars" && p.times.length < 3 },
              value: own,
              spanGaps: false,
            };
          }),
        ],
        cursor: { drag: { x: true, y: false, setScale: !p.onZoom }, points: { show: p.kind !== "bars" } },
        legend: { live: true },
        hooks: {
          setSelect: [
            (self) => {
              const zoom = latest.current.onZoom;
              if (!zoom || self.select.width < 4) return;
              const from = self.posToVal(self.select.left, "x") * 1000;
              const to = self.posToVal(self.select.left + self.select.width, "x") * 1000;
              self.setSelect({ left: 0, top: 0, width: 0, height: 0 }, false);
              zoom(Math.round(from), Math.round(to));
            },
          ],
        },
      },
      data(),
      el,
    );
    // A click on a bar (no drag) picks its bucket.
    const click = () => {
      const { onZoom, step, times } = latest.current;
      const idx = u.cursor.idx;
      if (!onZoom || !step || idx === null || idx === undefined || u.select.width >= 4) return;
      onZoom(times[idx]!, times[idx]! + step);
    };
    u.over.addEventListener("click", click);
    plot.current = u;
    const resize = new ResizeObserver(() =>
      u.setSize({ width: Math.max(el.clientWidth, 200), height: latest.current.height ?? 180 }),
    );
    resize.observe(el);
    return () => {
      resize.disconnect();
      u.destroy();
      plot.current = null;
    };
  }, [shape]);

  useEffect(() => {
    plot.current?.setData(data());
  }, [props.times, props.series]);

  return (
    <figure class="chart">
      <figcaption>{props.title}</figcaption>
      <div ref={box} role="img" aria-label={`${props.title}: a chart over time; hover it for values`} />
    </figure>
  );
}

/** A tiny line (the last hour of a metric) in a table row: no axes, no legend; the latest value beside it. */
export function Sparkline(props: { label: string; values: (number | null)[]; unit: string }) {
  const box = useRef<HTMLSpanElement>(null);
  const scheme = useScheme();
  const values = props.values;
  const known = values.filter((v): v is number => v !== null);
  useEffect(() => {
    const el = box.current;
    if (!el || known.length < 2) return;
    const t = theme();
    const u = new uPlot(
      {
        width: 72,
        height: 22,
        pxAlign: false,
        cursor: { show: false },
        legend: { show: false },
        scales: { x: { time: false }, y: { range: (_u, lo, hi) => (hi - lo < 1 ? [lo - 1, hi + 1] : [lo, hi]) } },
        axes: [{ show: false }, { show: false }],
        series: [{}, { stroke: t.palette[0], width: 1.5, points: { show: false }, spanGaps: true }],
      },
      [values.map((_, i) => i), values],
      el,
    );
    return () => u.destroy();
  }, [values.join(","), scheme]);
  const last = known.at(-1);
  return (
    <span class="spark" title={`${props.label}, last hour`}>
      <span ref={box} aria-hidden="true" />
      <span>{withUnit(last, props.unit)}</span>
    </span>
  );
}
