// Times are integers in storage (ms, or µs for log event times) and ISO 8601 UTC on the wire.
export const iso = (ms: number): string => new Date(ms).toISOString();
export const isoOrNull = (ms: number | null | undefined): string | null => (ms == null ? null : iso(ms));

/** ISO 8601 with microseconds: 2026-11-25T10:00:00.123456Z. */
export function isoMicros(us: number): string {
  const ms = Math.floor(us / 1000);
  const micros = String(us - ms * 1000).padStart(3, "0");
  return `${new Date(ms).toISOString().slice(0, -1)}${micros}Z`;
}

const FRACTION = /\.(\d+)/;

/** Parses ISO 8601 keeping microseconds (Date.parse keeps only milliseconds). NaN if invalid. */
export function parseIsoMicros(text: string): number {
  const match = FRACTION.exec(text);
  const withoutFraction = match ? text.replace(FRACTION, "") : text;
  const ms = Date.parse(withoutFraction);
  if (Number.isNaN(ms)) return NaN;
  const micros = match ? Math.floor(Number(`0.${match[1]}`) * 1e6 + 1e-6) : 0;
  return ms * 1000 + micros;
}

export const DAY_MS = 86_400_000;

/** The UTC day of an instant, YYYY-MM-DD: usage is counted by the day a thing arrived. */
export const utcDay = (ms: number): string => new Date(ms).toISOString().slice(0, 10);

/** The UTC day `n` days after `day` (YYYY-MM-DD; n may be negative). */
export const addDays = (day: string, n: number): string => utcDay(Date.parse(day) + n * DAY_MS);
