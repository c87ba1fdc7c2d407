// Levels are stored as small integers so the level index stays compact and ranges are cheap.
export const LEVELS = ["DEBUG", "INFO", "WARN", "ERROR", "FATAL"] as const;
export type Level = (typeof LEVELS)[number];

export const levelNumber = (level: Level): number => LEVELS.indexOf(level);
export const levelName = (n: number): Level => LEVELS[n] ?? "INFO";

/** The contract's five levels, in any case; anything else (TRACE, WARNING, …) is not a level. */
export function parseLevel(value: unknown): Level | null {
  if (typeof value !== "string") return null;
  const upper = value.toUpperCase();
  return (LEVELS as readonly string[]).includes(upper) ? (upper as Level) : null;
}
