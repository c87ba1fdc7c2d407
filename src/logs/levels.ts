// Levels are stored as small integers so the level index stays compact and ranges are cheap.
export const LEVELS = ["DEBUG", "INFO", "WARN", "ERROR", "FATAL"] as const;
export type Level = (typeof LEVELS)[number];

export const levelNumber = (level: Level): number => LEVELS.indexOf(level);
export const levelName = (n: number): Level => LEVELS[n] ?? "INFO";

const ALIASES: Record<string, Level> = { WARNING: "WARN", ERR: "ERROR", CRITICAL: "FATAL", TRACE: "DEBUG", INFORMATION: "INFO" };

/** Accepts any case and the common aliases (warning, critical, trace); anything else is not a level. */
export function parseLevel(value: unknown): Level | null {
  if (typeof value !== "string") return null;
  const upper = value.toUpperCase();
  if ((LEVELS as readonly string[]).includes(upper)) return upper as Level;
  return ALIASES[upper] ?? null;
}
