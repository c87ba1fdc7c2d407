// A small line chart, drawn as SVG (no script from anywhere else, nothing a CSP would stop).
const W = 320;
const H = 90;

/** One series as a line over time: an SVG polyline, scaled to its own range. */
export function Chart(props: { name: string; points: { t: number; v: number }[]; span?: string }) {
  const ps = props.points;
  if (ps.length === 0) return null;
  const t0 = ps[0]!.t;
  const t1 = Math.max(ps[ps.length - 1]!.t, t0 + 1);
  const lo = Math.min(...ps.map((p) => p.v));
  const hi = Math.max(Math.max(...ps.map((p) => p.v)), lo + 1);
  const xy = ps.map((p) => `${(((p.t - t0) / (t1 - t0)) * W).toFixed(1)},${(H - ((p.v - lo) / (hi - lo)) * H).toFixed(1)}`).join(" ");
  const last = ps[ps.length - 1]!.v;
  return (
    <figure class="chart">
      <figcaption>
        {props.name}: {last.toFixed(1)} (range {lo.toFixed(1)}–{hi.toFixed(1)})
      </figcaption>
      <svg viewBox={`0 0 ${W} ${H}`} role="img" aria-label={`${props.name} over ${props.span ?? "the last 24 hours"}`}>
        <polyline points={xy} fill="none" stroke="currentColor" stroke-width="2" />
        {/* The latest value, visible even when there is only one. */}
        <circle cx={xy.split(" ").at(-1)!.split(",")[0]} cy={xy.split(" ").at(-1)!.split(",")[1]} r="3" fill="currentColor" />
      </svg>
    </figure>
  );
}
