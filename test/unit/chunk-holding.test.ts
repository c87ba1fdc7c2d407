// A chunk finds the lines that may hold search words in one pass over its text
// (ChunkLines.holding): the same lines as testing each line's text, and, where the text is not
// ASCII, none chosen (each line is then read).
// Whole queries are compared with a filter over every line in chunk-queries.test.ts.
import { describe, expect, it } from "vitest";
import { ChunkLines } from "../../durable-objects/log-shard/chunks";

/** A line as the store keeps it: the JSON text of its tuple (id, time, level, module, logger, message, …). */
const lineText = (message: string, i: number) =>
  JSON.stringify([i, 1000 + i, 1, "Kernel", null, message, null, null, null, null]);
/** A chunk of lines with these messages (one JSON text a line, newline-joined, as stored). */
const chunk = (texts: string[], plain?: boolean) =>
  new ChunkLines(
    "dev_1",
    texts.map((_, i) => `${i},${1000 + i},1,`).join(""),
    `${texts.map(lineText).join("\n")}\n`,
    plain,
  );
/** The ids of the lines the chunk finds. */
const holding = (texts: string[], words: string[]) =>
  chunk(texts)
    .holding(words)
    ?.map((r) => r.id);
/** What reading each line finds: every word in its lower-cased text. */
const eachLine = (texts: string[], words: string[]) =>
  texts.flatMap((t, i) => (words.every((w) => lineText(t, i).toLowerCase().includes(w)) ? [i] : []));

describe("a chunk's lines that may hold the search words", () => {
  const texts = [
    "Receiving block blk_1 src: /10.0.0.1",
    "PacketResponder 1 for block blk_2 terminating",
    "Verification succeeded for blk_1",
    "block block block: repeated words in one line",
    "nothing here",
    "BLOCK in capitals, and Terminating",
    "",
    "last line mentions blk",
  ];

  it("are the lines whose text holds every word, each once, in order", () => {
    for (const words of [
      ["block"],
      ["blk"],
      ["block", "terminating"],
      ["blk", "block"],
      ["absent"],
      ["b"],
      ["line"],
      ["kernel"],
      ["src:"],
      ["/10.0.0.1"],
      ["0.0"],
    ]) {
      expect(holding(texts, words), words.join(" ")).toEqual(eachLine(texts, words));
    }
  });

  it("come whole: each line's row, read from its text", () => {
    const [row] = chunk(texts).holding(["verification"])!;
    expect(row).toEqual({
      device_id: "dev_1",
      id: 2,
      ts: 1002,
      level: 1,
      module: "Kernel",
      logger: null,
      message: "Verification succeeded for blk_1",
      thread_id: null,
      process_id: null,
      session_id: null,
      context: null,
    });
  });

  it("are not chosen where the text is not ASCII, nor without words", () => {
    expect(chunk([...texts, "Ünïcode block"]).holding(["block"])).toBeNull();
    // As SQLite tells it when reading the chunk.
    expect(chunk(texts, false).holding(["block"])).toBeNull();
    expect(chunk(texts).holding(["blöck"])).toBeNull();
    expect(chunk(texts).holding([])).toBeNull();
  });
});
