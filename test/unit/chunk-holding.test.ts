// A chunk finds the lines that may hold search words in one pass over its text
// (ChunkLines.holding): the same lines as testing each line's text, and, where the text is not
// ASCII, none chosen (each line is then read).
import { describe, expect, it } from "vitest";
import { ChunkLines } from "../../durable-objects/log-shard/chunks";

/** A chunk of these texts (as the store keeps them: one JSON text a line, newline-joined). */
const chunk = (texts: string[]) => new ChunkLines("dev_1", texts.map((_, i) => `${i},${1000 + i},1,`).join(""), texts.map((t) => JSON.stringify([t])).join("\n"));
/** What reading each line finds: every word in its lower-cased text. */
const eachLine = (texts: string[], words: string[]) =>
  texts.flatMap((t, i) => (words.every((w) => JSON.stringify([t]).toLowerCase().includes(w)) ? [i] : []));

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
    for (const words of [["block"], ["blk"], ["block", "terminating"], ["blk", "block"], ["absent"], ["b"], ["line"]]) {
      expect(chunk(texts).holding(words), words.join(" ")).toEqual(eachLine(texts, words));
    }
  });

  it("are not chosen where the text is not ASCII, nor without words", () => {
    expect(chunk([...texts, "Ünïcode block"]).holding(["block"])).toBeNull();
    expect(chunk(texts).holding([])).toBeNull();
  });
});
