// Numbers, sizes, durations and times in the units people read: GiB, 1.2k, "3 h 12 min",
// "2 min ago", times in the viewer's own time zone. Every view formats through here.

const KIB = 1024;
const BYTE_UNITS = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"] as const;

/** 536870912000 → "500 GiB"; 1536 → "1.5 KiB". */
export function bytes(n: number | null | undefined): string {
  if (n === null || n === undefined || !Number.isFinite(n)) return "—";
  let v = Math.abs(n);
  let unit = 0;
  while (v >= KIB && unit < BYTE_UNITS.length - 1) {
    v /= KIB;
    unit++;
  }
  return `${n < 0 ? "-" : ""}${trim(v)} ${BYTE_UNITS[unit]}`;
}

/** 1234 → "1.2k"; 3_400_000 → "3.4M"; small numbers as they are, with their grouping. */
export function count(n: number | null | undefined): string {
  if (n === null || n === undefined || !Number.isFinite(n)) return "—";
  const a = Math.abs(n);
  if (a < 10_000) return Number.isInteger(n) ? n.toLocaleString() : trim(n);
  for (const [size, suffix] of [
    [1e12, "T"],
    [1e9, "G"],
    [1e6, "M"],
    [1e3, "k"],
  ] as const) {
    if (a >= size) return `${trim(n / size)}${suffix}`;
  }
  return String(n);
}

/** At most three significant figures, no trailing zeros: 1.50 → "1.5", 512 → "512", 12.34 → "12.3". */
function trim(v: number): string {
  const a = Math.abs(v);
  const digits = a >= 100 ? 0 : a >= 10 ? 1 : 2;
  return String(Number(v.toFixed(digits)));
}

/** A length of time: 42 s → "42 s", 3 h 12 min, 2 d 4 h; under a second → "< 1 s". */
export function duration(ms: number | null | undefined): string {
  if (ms === null || ms === undefined || !Number.isFinite(ms) || ms < 0) return "—";
  const s = Math.round(ms / 1000);
  if (s < 1) return "< 1 s";
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return s % 60 && m < 10 ? `${m} min ${s % 60} s` : `${m} min`;
  const h = Math.floor(m / 60);
  if (h < 24) return m % 60 ? `${h} h ${m % 60} min` : `${h} h`;
  const d = Math.floor(h / 24);
  return h % 24 ? `${d} d ${h % 24} h` : `${d} d`;
}

/** How long ago `at` was, from `now`: "just now", "2 min ago", "3 h ago", "in 5 min" for the future. */
export function ago(at: string | number | null | undefined, now = Date.now()): string {
  if (at === null || at === undefined) return "never";
  const t = typeof at === "number" ? at : Date.parse(at);
  if (!Number.isFinite(t)) return "—";
  const ms = now - t;
  if (Math.abs(ms) < 5_000) return "just now";
  const words = duration(Math.abs(ms)).replace(/ \d+ (s|min|h)$/, "");
  return ms > 0 ? `${words} ago` : `in ${words}`;
}

/** A moment in the viewer's time zone: today's as "14:03:07", others as "7 Dec, 14:03". */
export function when(at: string | number | null | undefined, now = Date.now()): string {
  if (at === null || at === undefined) return "—";
  const d = new Date(at);
  if (!Number.isFinite(d.getTime())) return "—";
  const sameDay = new Date(now).toDateString() === d.toDateString();
  return sameDay
    ? d.toLocaleTimeString(undefined, { hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false })
    : d.toLocaleString(undefined, {
        day: "numeric",
        month: "short",
        hour: "2-digit",
        minute: "2-digit",
        hour12: false,
      });
}

/** A log line's time, to the millisecond, in the viewer's time zone: "14:03:07.123" (the date too when not today). */
export function lineTime(at: string, now = Date.now()): string {
  const d = new Date(at);
  const ms = String(d.getMilliseconds()).padStart(3, "0");
  const time = `${d.toLocaleTimeString(undefined, { hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false })}.${ms}`;
  return new Date(now).toDateString() === d.toDateString()
    ? time
    : `${d.toLocaleDateString(undefined, { day: "numeric", month: "short" })} ${time}`;
}

/** The full moment, for a tooltip: the viewer's zone and UTC. */
export const exactly = (at: string | number) => `${new Date(at).toLocaleString()} (${new Date(at).toISOString()})`;

/** What heartbeat metrics are called and measured in; others keep their name, without a unit. */
const METRICS: Record<string, { label: string; unit: string }> = {
  battery_level: { label: "Battery", unit: "%" },
  cpu_usage: { label: "CPU", unit: "%" },
  memory_usage: { label: "Memory", unit: "%" },
  disk_usage: { label: "Disk", unit: "%" },
  temperature: { label: "Temperature", unit: "°C" },
};

/** A metric's label and unit: battery_level → {label: "Battery", unit: "%"}; signal_strength → "Signal strength". */
export function metric(name: string): { label: string; unit: string } {
  const known = METRICS[name];
  if (known) return known;
  const words = name.replace(/[_.-]+/g, " ").trim();
  return { label: words.charAt(0).toUpperCase() + words.slice(1), unit: "" };
}

/** A value with its unit: 77.4, "%" → "77.4%"; 21, "°C" → "21 °C". */
export const withUnit = (v: number | null | undefined, unit: string) =>
  v === null || v === undefined ? "—" : unit === "%" ? `${trim(v)}%` : unit ? `${trim(v)} ${unit}` : count(v);

/** A percentage of a limit, e.g. 0.42 → "42%"; very small shares read "< 1%". */
export function share(used: number, limit: number | null | undefined): string {
  if (!limit) return "";
  const p = (used / limit) * 100;
  return p > 0 && p < 1 ? "< 1%" : `${Math.round(p)}%`;
}

/**
 * A field problem as shown beside its field. The server already words it for people
 * (src/contract/validation.ts: "is required", "must be at least 3 characters"), without the
 * field's name, which the form shows: here it only becomes a sentence.
 */
export function friendly(message: string): string {
  const m = message.trim();
  if (/^(is required|cannot be empty)$/i.test(m)) return "Required";
  return m.charAt(0).toUpperCase() + m.slice(1);
}
