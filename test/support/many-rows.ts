// Rows by the thousand for tests of scale: one statement makes them all from a counter `i`.
import { env } from "cloudflare:workers";

/** Inserts `n` rows into `table` (`columns`), made by `select` from a counter `i` (1..n) in a table `k`. */
export async function insertMany(table: string, columns: string, select: string, n: number): Promise<void> {
  await env.DB.prepare(
    `INSERT INTO ${table} (${columns}) WITH RECURSIVE k(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM k WHERE i < ?) ${select}`,
  )
    .bind(n)
    .run();
}
