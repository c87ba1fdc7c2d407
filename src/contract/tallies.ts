// Tallies: lines and errors per module, and repeated ERROR/FATAL messages, by UTC day of
// receipt, for the overview and errors stats. A device's object tallies each batch it stores
// and sends the tallies with its usage rows, under the same outbox sequence, so they too
// reach the project exactly once.

type TallyKind = "module" | "error_message";

export interface TallyRow {
  seq: number;
  day: string; // YYYY-MM-DD
  kind: TallyKind;
  key: string;
  lines: number;
  errors: number;
}

/** An error message is tallied by its shape: numbers and hex ids folded, at most this long. */
const MESSAGE_KEY_MAX = 160;

/** The shape of a message: runs of digits and long hex ids become `#`, so repeats group. */
function messageShape(message: string): string {
  return message
    .replace(/\b(0x)?[0-9a-f]{8,}\b/gi, "#")
    .replace(/\d+/g, "#")
    .slice(0, MESSAGE_KEY_MAX);
}

export type Tallies = Map<string, { kind: TallyKind; key: string; lines: number; errors: number }>;

/** The tallies of a batch's lines (level ≥ 3 is ERROR or FATAL). */
export function lineTallies(lines: readonly { module: string; level: number; message: string }[]): Tallies {
  const out: Tallies = new Map();
  const add = (kind: TallyKind, key: string, error: boolean) => {
    const id = `${kind}\u0000${key}`;
    const t = out.get(id) ?? { kind, key, lines: 0, errors: 0 };
    t.lines++;
    if (error) t.errors++;
    out.set(id, t);
  };
  for (const l of lines) {
    const error = l.level >= 3;
    add("module", l.module, error);
    if (error) add("error_message", messageShape(l.message), true);
  }
  return out;
}

/** A device, module or message shape with its lines and errors, as the rankings list them. */
export interface Ranked {
  key: string;
  lines: number;
  errors: number;
}
