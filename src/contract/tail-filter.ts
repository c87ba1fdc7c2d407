// Which lines a live-tail viewer wants. Applied in the ProjectHub before anything is sent.
import { z } from "zod";
import { deviceId, sessionId } from "./common";
import { LEVELS, parseLevel } from "./levels";
import type { LogView } from "./log-view";

/** Levels as `ERROR,WARN` (query string) or an array (filter messages). */
export const levelSet = z.union([z.string().max(64), z.array(z.string().max(16)).max(5)]).transform((v, ctx) => {
  const names = (Array.isArray(v) ? v : [v])
    .flatMap((s) => s.split(","))
    .map((s) => s.trim())
    .filter(Boolean);
  const levels = names.map(parseLevel);
  if (levels.some((l) => l === null)) {
    ctx.addIssue({ code: "custom", message: `levels are ${LEVELS.join(", ")}` });
    return z.NEVER;
  }
  return [...new Set(levels as (typeof LEVELS)[number][])];
});

export const TailFilter = z.object({
  device_id: deviceId.optional(),
  session_id: sessionId.optional(),
  module: z.string().min(1).max(128).optional(),
  level: levelSet.optional(),
  q: z.string().max(256).optional(),
});
export type TailFilter = z.output<typeof TailFilter>;

export function tailMatcher(f: TailFilter): (line: LogView) => boolean {
  const text = (f.q ?? "").trim().toLowerCase();
  const levels = f.level && f.level.length > 0 ? new Set<string>(f.level) : null;
  return (line) =>
    (f.device_id === undefined || line.device_id === f.device_id) &&
    (f.session_id === undefined || line.session_id === f.session_id) &&
    (f.module === undefined || line.module === f.module) &&
    (levels === null || levels.has(line.level)) &&
    (text === "" || line.message.toLowerCase().includes(text));
}
