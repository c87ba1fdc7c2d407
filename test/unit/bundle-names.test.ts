import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { bundleNames } from "../../src/services/bundle-names";

const utf8 = new TextEncoder();
const namesOf = (paths: string[]) => Object.fromEntries(bundleNames(paths));

const fold = (name: string) => name.normalize("NFC").toUpperCase().toLowerCase();
// biome-ignore lint/suspicious/noControlCharactersInRegex: Windows refuses control characters in names; this is what the test checks
const WINDOWS_REFUSES = /[<>:"\\|?*\u0000-\u001f]|[. ]$/;
const DEVICE_NAME = /^(con|prn|aux|nul|com[0-9¹²³]|lpt[0-9¹²³])$/i;

/** What would stop a set of names extracting on Windows, macOS or Linux; empty when none. */
function extractionProblems(names: string[]): string[] {
  const problems: string[] = [];
  const files = new Set(names.map(fold));
  if (files.size !== names.length) problems.push("two names differ only by case");
  for (const name of names) {
    const segments = name.split("/");
    for (let i = 1; i < segments.length; i++)
      if (files.has(fold(segments.slice(0, i).join("/")))) problems.push(`${name}: a file is named like its folder`);
    for (const s of segments) {
      if (s === "") problems.push(`${name}: an empty segment`);
      if (WINDOWS_REFUSES.test(s)) problems.push(`${name}: Windows refuses or changes "${s}"`);
      if (DEVICE_NAME.test(s.split(".")[0]!.trimEnd())) problems.push(`${name}: "${s}" is a device name`);
      if (utf8.encode(s).byteLength > 255) problems.push(`${name}: a segment over 255 bytes`);
    }
  }
  return problems;
}

describe("a file's name in the session bundle", () => {
  it("is its stored path when that extracts everywhere", () => {
    const paths = ["camera/frame 01.png", "telemetry.csv", "maps/floor/plan.pgm", "ünïcode/日本.txt", ".hidden"];
    const names = namesOf(paths);
    for (const p of paths) expect(names[p]).toBe(p);
  });

  it("moves a folder that a file already holds the name of, with every file in it", () => {
    expect(namesOf(["a", "a/secret.txt", "a/more/deep.txt"])).toEqual({
      a: "a",
      "a/secret.txt": "a (2)/secret.txt",
      "a/more/deep.txt": "a (2)/more/deep.txt",
    });
    // The other way round: the folder comes first in the listing, the file is renamed.
    expect(namesOf(["A/x.txt", "a"])).toEqual({ "A/x.txt": "A/x.txt", a: "a (2)" });
  });

  it("renames names that differ only by case, before the extension", () => {
    expect(namesOf(["Notes.txt", "notes.txt", "NOTES.TXT"])).toEqual({
      "NOTES.TXT": "NOTES.TXT",
      "Notes.txt": "Notes (2).txt",
      "notes.txt": "notes (3).txt",
    });
  });

  it("keeps clear of Windows' device names, reserved characters and stripped endings", () => {
    expect(namesOf(["con/aux.txt", "nul", "LPT1.bin", "com9.tar.gz", "console.log"])).toEqual({
      "con/aux.txt": "_con/_aux.txt",
      nul: "_nul",
      "LPT1.bin": "_LPT1.bin",
      "com9.tar.gz": "_com9.tar.gz",
      "console.log": "console.log",
    });
    expect(namesOf(['what?<x>:"y"|z*.log'])).toEqual({ 'what?<x>:"y"|z*.log': "what__x___y__z_.log" });
    expect(namesOf(["draft.", "draft. ", "dir ./f"])).toEqual({
      "draft.": "draft_",
      "draft. ": "draft__",
      "dir ./f": "dir__/f",
    });
    // A name made safe never displaces a name that was safe already.
    expect(namesOf(["a:b", "a_b"])).toEqual({ "a:b": "a_b (2)", a_b: "a_b" });
    expect(namesOf(["x (2)", "X", "x"])).toEqual({ X: "X", x: "x (3)", "x (2)": "x (2)" });
  });

  it("shortens a segment past what file systems take, keeping its extension", () => {
    const long = `${"é".repeat(300)}.mcap`;
    const name = namesOf([long])[long]!;
    expect(utf8.encode(name).byteLength).toBeLessThanOrEqual(255);
    expect(name.endsWith(".mcap")).toBe(true);
  });

  it("depends only on the set of paths, not the order they come in", () => {
    const paths = ["b", "B/x", "a", "a/y", "A.txt", "a.TXT", "con", "z?", "z_", "\u{1F600}", "\uFF21"];
    const names = namesOf(paths);
    expect(namesOf([...paths].reverse())).toEqual(names);
    // UTF-8 byte order, as R2 lists: U+FF21 comes before an emoji, though its UTF-16 unit is larger.
    expect(namesOf(["\uFF41", "\u{1F600}"])).toEqual({ "\uFF41": "\uFF41", "\u{1F600}": "\u{1F600}" });
  });

  it("always gives names that extract everywhere, each once (any paths)", () => {
    // Segments drawn from what makes trouble: case, dots, spaces, reserved characters and names.
    const segment = fc.oneof(
      fc.constantFrom(
        "a",
        "A",
        "a.txt",
        "A.TXT",
        "con",
        "CON.txt",
        "aux",
        "nul",
        "com1",
        "lpt9.log",
        ".",
        "..",
        "a.",
        "a ",
        "x (2)",
        "a_b",
        "a:b",
      ),
      // biome-ignore lint/suspicious/noMisleadingCharacterClass: a combining accent on its own is one of the names this property tries
      fc.stringMatching(/^[aA. :?*<>|"_ß(2)\u00e9\u0301]{1,6}$/),
    );
    const path = fc.array(segment, { minLength: 1, maxLength: 4 }).map((s) => s.join("/"));
    fc.assert(
      fc.property(fc.uniqueArray(path, { maxLength: 30 }), (paths) => {
        const names = Object.values(namesOf(paths));
        expect(extractionProblems(names)).toEqual([]);
        expect(new Set(names).size).toBe(paths.length);
      }),
      { numRuns: 500 },
    );
  });
});
