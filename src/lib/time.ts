// Times are integers of milliseconds in storage and ISO 8601 UTC strings on the wire.
export const iso = (ms: number): string => new Date(ms).toISOString();
export const isoOrNull = (ms: number | null | undefined): string | null => (ms == null ? null : iso(ms));
