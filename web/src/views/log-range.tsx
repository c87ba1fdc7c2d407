// The logs view's time: presets from 5 minutes to 30 days (live: the range ends now and new
// lines stream in) or an absolute range (From/To in the viewer's time zone; an empty To is
// "until now", still live), and the log-volume histogram over it, stacked by level, which a
// drag or a click on a bar zooms into.
import { useEffect, useState } from "preact/hooks";
import { api, ok } from "../api";
import { TimeChart } from "./chart";
import { usePoll } from "./use-poll";

export type Range = { kind: "last"; ms: number } | { kind: "between"; from: number; to: number | null };

const PRESETS = [
  { label: "5 min", ms: 5 * 60_000 },
  { label: "15 min", ms: 15 * 60_000 },
  { label: "1 h", ms: 3_600_000 },
  { label: "6 h", ms: 6 * 3_600_000 },
  { label: "24 h", ms: 24 * 3_600_000 },
  { label: "7 d", ms: 7 * 24 * 3_600_000 },
  { label: "30 d", ms: 30 * 24 * 3_600_000 },
] as const;

/** The range as times (ms); `to` null means now (and lines stream in). */
export function bounds(r: Range, now = Date.now()): { from: number; to: number | null } {
  return r.kind === "last" ? { from: now - r.ms, to: null } : r;
}

/** A time as datetime-local text in the viewer's zone, and back. */
const local = (ms: number) => {
  const d = new Date(ms - new Date(ms).getTimezoneOffset() * 60_000);
  return d.toISOString().slice(0, 19);
};
const fromLocal = (text: string) => (text ? new Date(text).getTime() : null);

/** Presets and From/To; typing is kept as typed, the range changes when an input is complete. */
export function RangePicker(props: { value: Range; onChange: (r: Range) => void }) {
  const r = props.value;
  const [from, setFrom] = useState("");
  const [to, setTo] = useState("");
  useEffect(() => {
    if (r.kind === "between") {
      setFrom(local(r.from));
      setTo(r.to === null ? "" : local(r.to));
    } else {
      setFrom("");
      setTo("");
    }
  }, [r]);
  const apply = (f: string, t: string) => {
    const a = fromLocal(f);
    const b = fromLocal(t);
    if (a !== null && Number.isFinite(a) && (b === null || (Number.isFinite(b) && b > a)))
      props.onChange({ kind: "between", from: a, to: b });
  };
  return (
    <div class="toolbar range">
      {/* biome-ignore lint/a11y/useSemanticElements: a row of toggle buttons, not a form section; a fieldset would bring a legend and a frame */}
      <div class="presets" role="group" aria-label="Time range">
        {PRESETS.map((p) => (
          <button
            type="button"
            aria-pressed={r.kind === "last" && r.ms === p.ms}
            onClick={() => props.onChange({ kind: "last", ms: p.ms })}
          >
            {p.label}
          </button>
        ))}
      </div>
      <label class="field">
        <span>From</span>
        <input
          type="datetime-local"
          step="1"
          value={from}
          onInput={(e) => setFrom(e.currentTarget.value)}
          onChange={(e) => apply(e.currentTarget.value, to)}
        />
      </label>
      <label class="field">
        <span>To</span>
        <input
          type="datetime-local"
          step="1"
          value={to}
          onInput={(e) => setTo(e.currentTarget.value)}
          onChange={(e) => apply(from, e.currentTarget.value)}
        />
      </label>
    </div>
  );
}

interface VolumePoint {
  t: string;
  debug: number;
  info: number;
  warn: number;
  error: number;
  fatal: number;
}
const LEVELS = ["debug", "info", "warn", "error", "fatal"] as const;
const UNIT_MS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };
/** "5m" → 300000. */
const stepOf = (interval: string) => {
  const m = /^(\d+)(s|m|h|d)$/.exec(interval);
  return m ? Number(m[1]) * UNIT_MS[m[2]!]! : 60_000;
};

/** Lines per bucket over the range, by level, for the view's filters (GET /logs/volume); refreshed while live. */
export function Volume(props: {
  projectId: string;
  range: Range;
  filters: Record<string, string>;
  onZoom: (r: Range) => void;
}) {
  const key = JSON.stringify(props.filters);
  const { data, error } = usePoll(
    async () => {
      const { from, to } = bounds(props.range);
      const query = {
        project_id: props.projectId,
        from: new Date(from).toISOString(),
        to: new Date(to ?? Date.now()).toISOString(),
        ...props.filters,
      };
      return (await ok(await api.logs.volume.$get({ query }))) as { interval: string; points: VolumePoint[] };
    },
    [props.projectId, props.range, key],
    15_000,
  );
  if (error) return <p class="note">Volume: {error}</p>;
  if (!data) return <div class="chart volume-placeholder" aria-hidden="true" />;
  const step = stepOf(data.interval);
  const { from, to } = bounds(props.range);
  const total = data.points.reduce((n, p) => n + LEVELS.reduce((m, l) => m + p[l], 0), 0);
  return (
    <TimeChart
      title={`Lines per ${data.interval} by level (${total.toLocaleString()} in range): drag or click a bar to zoom`}
      kind="bars"
      stacked
      unit="lines"
      height={140}
      step={step}
      window={[from, to ?? Date.now()]}
      times={data.points.map((p) => Date.parse(p.t))}
      series={LEVELS.map((l) => ({
        label: l.toUpperCase(),
        values: data.points.map((p) => p[l]),
        color: `--level-${l}`,
      }))}
      onZoom={(from, to) => props.onZoom({ kind: "between", from, to })}
    />
  );
}
