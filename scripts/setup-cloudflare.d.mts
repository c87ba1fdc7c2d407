// Types of scripts/setup-cloudflare.mjs's readers, for test/node/setup-cloudflare.test.ts.

/** `wrangler d1 list --json`: database name → uuid. */
export function parseD1List(stdout: string): Map<string, string>;
/** `wrangler r2 bucket list`: the bucket names. */
export function parseR2List(stdout: string): Set<string>;
/** `wrangler queues list`: the queue names. */
export function parseQueuesList(stdout: string): Set<string>;
/** The database_id in `wrangler d1 create`'s config snippet, if it printed one. */
export function parseD1Create(stdout: string): string | undefined;
/** The text with `database_id = "<id>"` for database `name` of an environment; null when already so. */
export function withD1Id(
  text: string,
  envName: string | undefined,
  name: string,
  id: string,
): { text: string; line: number } | null;
