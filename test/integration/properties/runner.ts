// How the property tests run: a fixed seed and a bounded number of runs per property, both
// changeable for a deeper local run, and a count of the cases each property generated.
//
// workerd sees only the Worker's bindings, not the shell's environment; wrangler copies the
// shell's variables into them when CLOUDFLARE_INCLUDE_PROCESS_ENV is true:
//
//   CLOUDFLARE_INCLUDE_PROCESS_ENV=true FC_RUNS=500 FC_SEED=7 npm test -- test/integration/properties.test.ts
//
// FC_RUNS multiplies nothing: it replaces every property's default run count. FC_SHRINK=true
// lets fast-check shrink a failure to a smaller case (slow against a live server: off by default).
import fc from "fast-check";

const setting = (name: string): string | undefined =>
  typeof process === "undefined" ? undefined : process.env?.[name];

/** The seed every property starts from; a failure prints it with the path to the failing case. */
export const SEED = Number(setting("FC_SEED") ?? 20261125);
const RUNS = Number(setting("FC_RUNS") ?? 0);
const SHRINK = setting("FC_SHRINK") === "true";

/** A test's time limit: the tier's 30 s, or more when FC_RUNS asks for a deeper run. */
export const TIMEOUT_MS = Math.max(30_000, RUNS * 1000);

/** Cases generated, per property, in the order they ran. */
export const generated = new Map<string, number>();

/**
 * Checks `predicate` on `defaultRuns` cases (or FC_RUNS) drawn from `arb` and records how many
 * cases it generated. The predicate throws (expect) to fail a case.
 */
export async function checkProperty<T>(
  name: string,
  defaultRuns: number,
  arb: fc.Arbitrary<T>,
  predicate: (value: T, run: number) => Promise<void>,
) {
  const numRuns = RUNS > 0 ? RUNS : defaultRuns;
  let cases = 0;
  const started = Date.now();
  try {
    await fc.assert(
      fc.asyncProperty(arb, async (value) => {
        await predicate(value, cases++);
      }),
      { numRuns, seed: SEED, endOnFailure: !SHRINK },
    );
  } finally {
    generated.set(name, cases);
    console.log(
      `[properties] ${name}: ${cases} cases generated (seed ${SEED}, ${numRuns} runs asked, ${Date.now() - started} ms)`,
    );
  }
}

/** The closing line: every property's count and the total. */
export function reportGenerated(): string {
  const total = [...generated.values()].reduce((a, b) => a + b, 0);
  const each = [...generated].map(([name, n]) => `${name} ${n}`).join(", ");
  return `[properties] ${total} cases generated in all (seed ${SEED}): ${each}`;
}
