// Queries over lines kept in chunks answer what the store of a row per line answered: for every
// filter (levels, module, session, words, time range, order) and every page size, the lines
// GET /logs returns, page after page, are exactly those a plain filter over every line sent
// picks, in (time, id) order. The lines come in many small batches and a few large ones, out of
// time order, in several sessions; chunks are made small so a page spans many, the open chunk
// (not in the full-text index) included.
import { env } from "cloudflare:workers";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CHUNK, SEARCH } from "../../durable-objects/log-shard/chunks";
import { matchesTerms, searchTerms } from "../../src/contract/fts-query";
import { levelNumber, parseLevel } from "../../src/contract/levels";
import { allLogs, ingest, tenant } from "./helpers";

interface Sent {
  id: string;
  ts: number;
  level: number;
  module: string;
  message: string;
  session: string | null;
}

const saved = { chunk: { ...CHUNK }, search: { ...SEARCH } };
beforeAll(() => Object.assign(CHUNK, { maxLines: 40, maxBatches: 6 }));
afterAll(() => {
  Object.assign(CHUNK, saved.chunk);
  Object.assign(SEARCH, saved.search);
});

describe("queries over chunks", () => {
  it("answer what a filter over every line answers, for every filter, order and page size", {
    timeout: 120_000,
  }, async () => {
    const t = await tenant();
    // Real lines, and a few a rare-word search must find inside long or non-ASCII text: a word
    // past the first characters of a 16,000-character line, and in the chunks holding Ü or ß
    // (case folding beyond ASCII is left to each line's test there).
    const filler = (n: number) => "padding ".repeat(n / 8);
    const odd = [
      { message: `${filler(9_000)}needle in the middle ${filler(6_000)}` },
      { message: `Needle at the start ${filler(15_000)}` },
      { message: `${filler(15_000)}ends with a NEEDLE` },
      { message: "Übel: user needle ß" },
      { message: "STRASSE needle user" },
    ].map((l) => ({ ...env.LOGHUB.HDFS![0]!, ...l }));
    const corpus = [...env.LOGHUB.HDFS!.slice(0, 300), ...odd, ...env.LOGHUB.OpenSSH!.slice(0, 300), ...odd];
    const now = Date.now() * 1000;
    const sent: Sent[] = [];
    let next = 0;
    // Batches of 1 to 90 lines, times shuffled within an hour and across two days; some in sessions.
    for (let b = 0; next < corpus.length; b++) {
      const size = [1, 3, 90, 7, 25, 2, 60][b % 7]!;
      const session = b % 3 === 0 ? null : `run-${b % 4}`;
      const logs = corpus
        .slice(next, next + size)
        .map((l, i) => ({ ...l, timestamp_us: now - (((next + i) * 7919) % 600) * 180_000_000 - (b % 5) }));
      next += logs.length;
      const res = await ingest(t.deviceKey, { ...(session ? { session_id: session } : {}), logs });
      expect(res.json.accepted).toBe(logs.length);
      for (const l of logs)
        sent.push({
          id: "",
          ts: l.timestamp_us,
          level: levelNumber(parseLevel(l.level)!),
          module: l.module,
          message: l.message,
          session,
        });
    }
    // Ids in arrival order, as the device gives them.
    const stored = await allLogs(t.viewerKey, `device_id=${t.deviceId}&order=asc&limit=1000`);
    expect(stored.length).toBe(sent.length);
    const byArrival = [...stored].sort((a, b) => Number(a.id.split(":")[1]) - Number(b.id.split(":")[1]));
    for (const [i, l] of byArrival.entries()) sent[i]!.id = l.id;

    const modules = [...new Set(sent.map((l) => l.module))];
    // Words in many lines of a chunk, in few, in one, and in none.
    // A search finds a closed chunk's lines by where the index says its longest word is; "needl"
    // and "user authenticat" end in a prefix.
    const words = [
      "block",
      "user",
      "Received bl",
      "authentication failure",
      "needle",
      "needl",
      "needle user",
      "user authenticat",
      "übel",
      "zzz-none",
    ];
    const from = now - 30 * 3_600_000_000;
    const to = now - 10 * 3_600_000_000;
    const filters: { query: string; keep: (l: Sent) => boolean }[] = [
      { query: "", keep: () => true },
      { query: "&level=WARN,ERROR", keep: (l) => l.level === 2 || l.level === 3 },
      { query: "&level=FATAL", keep: (l) => l.level === 4 },
      { query: `&module=${encodeURIComponent(modules[1]!)}`, keep: (l) => l.module === modules[1] },
      { query: "&session_id=run-1", keep: (l) => l.session === "run-1" },
      {
        query: `&from=${Math.floor(from / 1000)}&to=${Math.floor(to / 1000)}`,
        keep: (l) => l.ts >= Math.floor(from / 1000) * 1000 && l.ts < Math.floor(to / 1000) * 1000,
      },
      ...words.map((w) => ({
        query: `&q=${encodeURIComponent(w)}`,
        keep: (l: Sent) => matchesTerms(searchTerms(w)!, l.message),
      })),
      {
        query: `&q=user&level=INFO&session_id=run-2`,
        keep: (l) => matchesTerms(searchTerms("user")!, l.message) && l.level === 1 && l.session === "run-2",
      },
    ];
    const num = (id: string) => Number(id.split(":")[1]);
    // Then the searches again with words too frequent to be found where the index says: chunks read whole.
    for (const occurrencesMax of [SEARCH.occurrencesMax, 3]) {
      Object.assign(SEARCH, { occurrencesMax });
      for (const { query, keep } of occurrencesMax === 3 ? filters.filter((x) => x.query.includes("q=")) : filters) {
        for (const order of ["desc", "asc"] as const) {
          const expected = sent
            .filter(keep)
            .sort((a, b) => (a.ts - b.ts || num(a.id) - num(b.id)) * (order === "asc" ? 1 : -1))
            .map((l) => l.id);
          // Pages of one line only where few lines match (a page is a request).
          for (const limit of expected.length <= 40 ? [1, 7, 100] : [23, 100]) {
            const got = await allLogs(t.viewerKey, `device_id=${t.deviceId}&order=${order}&limit=${limit}${query}`);
            expect(
              got.map((l) => l.id),
              `${order} limit ${limit}${query}, words found line by line up to ${occurrencesMax}`,
            ).toEqual(expected);
          }
        }
      }
    }
  });
});
