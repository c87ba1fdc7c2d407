// Counts every row written to any D1 table, by a trigger per table and kind of write: how the
// tests show that some traffic writes nothing to D1.
import { env } from "cloudflare:workers";

const COUNTER = "test_d1_rows_written";

/** Installs the triggers (once per test file's database; idempotent). */
export async function countD1Rows(): Promise<void> {
  const tables = await env.DB.prepare(
    "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name NOT LIKE '_cf_%' AND name NOT LIKE 'd1_%'",
  ).all<{ name: string }>();
  const statements = [
    env.DB.prepare(`CREATE TABLE IF NOT EXISTS ${COUNTER} (n INTEGER NOT NULL)`),
    env.DB.prepare(`INSERT INTO ${COUNTER} VALUES (0)`),
  ];
  for (const { name } of tables.results) {
    for (const kind of ["INSERT", "UPDATE", "DELETE"]) {
      statements.push(
        env.DB.prepare(
          `CREATE TRIGGER IF NOT EXISTS count_${kind.toLowerCase()}_${name} AFTER ${kind} ON "${name}" BEGIN UPDATE ${COUNTER} SET n = n + 1; END`,
        ),
      );
    }
  }
  await env.DB.batch(statements);
}

/** Rows written to D1 since the triggers were installed. */
export const d1RowsWritten = async (): Promise<number> =>
  (await env.DB.prepare(`SELECT n FROM ${COUNTER}`).first<{ n: number }>())!.n;
