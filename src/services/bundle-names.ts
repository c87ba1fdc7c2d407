// The names of a session's files inside its bundle (GET /sessions/:id/bundle). A stored path is
// the device's text, and what R2 holds side by side need not extract side by side: a file `a`
// beside `a/secret.txt`, `Notes.txt` beside `notes.txt` (one file on Windows and macOS), or
// `con/aux.txt`, `what?.txt` and `draft.` (refused or changed by Windows). Each segment is made
// safe on its own, then a name that would land on one already given, whatever the case, is
// numbered: ` (2)`, ` (3)`… Paths that need no change are named first, and numbering skips
// their names, so a path that extracts everywhere keeps its name unless it collides with another
// such path (by case, or a file against a folder). Within each group, paths go in the order of
// their UTF-8 bytes (R2's). The names depend only on the set of paths.

/** Characters no common file system takes in a name (Windows is the strictest), and characters that disguise one. */
const NOT_IN_NAMES = /[<>:"\\|?*\p{Cc}\p{Cs}\p{Zl}\p{Zp}\u202A-\u202E\u2066-\u2069\uFEFF]/gu;
/** Windows strips these from the end of a name, so `a.` and `a` are one file. */
const STRIPPED_AT_END = /[. ]+$/;
/** Windows' device names, reserved with any extension (`con.txt`) and in any case. */
const DEVICE_NAME = /^(con|prn|aux|nul|conin\$|conout\$|com[0-9¹²³]|lpt[0-9¹²³])$/i;
/** Room for a segment: 255 bytes is the limit of ext4, APFS and NTFS; this leaves room for ` (n)`. */
const SEGMENT_MAX_BYTES = 200;
/** An extension kept through truncation and renaming, when it is this short. */
const EXTENSION_MAX = 16;

const utf8 = new TextEncoder();

/** The comparison key of a name: names that differ only by case or by Unicode normalisation collide. */
const fold = (name: string) => name.normalize("NFC").toUpperCase().toLowerCase();

/** `name` split before its extension: "report.tar.gz" → ["report.tar", ".gz"]; a dot file has none. */
function splitExtension(name: string): [string, string] {
  const dot = name.lastIndexOf(".");
  if (dot <= 0 || name.length - dot > EXTENSION_MAX) return [name, ""];
  return [name.slice(0, dot), name.slice(dot)];
}

/** `text` cut to at most `max` bytes of UTF-8, at a character boundary. */
function cutToBytes(text: string, max: number): string {
  let out = "";
  let bytes = 0;
  for (const ch of text) {
    bytes += utf8.encode(ch).byteLength;
    if (bytes > max) break;
    out += ch;
  }
  return out;
}

/** One segment of a path, made safe on its own: characters replaced, shortened, no stripped end, no device name. */
function safeSegment(segment: string): string {
  let name = segment.normalize("NFC").replace(NOT_IN_NAMES, "_");
  if (utf8.encode(name).byteLength > SEGMENT_MAX_BYTES) {
    const [stem, ext] = splitExtension(name);
    name = cutToBytes(stem, SEGMENT_MAX_BYTES - utf8.encode(ext).byteLength) + ext;
  }
  name = name.replace(STRIPPED_AT_END, (end) => "_".repeat(end.length));
  if (name === "") name = "_";
  if (DEVICE_NAME.test(name.split(".")[0]!.trimEnd())) name = `_${name}`;
  return name;
}

/** The n-th name of `name` (n ≥ 2): ` (n)` before a file's extension, after a folder's name. */
function numbered(name: string, n: number, isFile: boolean): string {
  const [stem, ext] = isFile ? splitExtension(name) : [name, ""];
  return `${stem} (${n})${ext}`;
}

/** Orders by UTF-8 bytes, which is code point order (JavaScript's `<` compares UTF-16 units). */
function byCodePoints(a: string, b: string): number {
  const x = [...a];
  const y = [...b];
  for (let i = 0; i < Math.min(x.length, y.length); i++) {
    const d = x[i]!.codePointAt(0)! - y[i]!.codePointAt(0)!;
    if (d !== 0) return d;
  }
  return x.length - y.length;
}

/** Each stored path's name under `files/` in the bundle; each name is given once. */
export function bundleNames(paths: string[]): Map<string, string> {
  const unchanged = (path: string) => path.split("/").every((s) => safeSegment(s) === s);
  const ordered = paths
    .map((path) => ({ path, first: unchanged(path) }))
    .sort((a, b) => Number(b.first) - Number(a.first) || byCodePoints(a.path, b.path));
  // Folded names of every file and folder given so far, as full paths.
  const taken = new Set<string>();
  // Folded paths (and their folders) that need no change: a numbered name keeps clear of them.
  const wanted = new Set<string>();
  for (const { path, first } of ordered) {
    if (!first) break;
    const segments = path.split("/");
    for (let i = 1; i <= segments.length; i++) wanted.add(fold(segments.slice(0, i).join("/")));
  }
  // A stored folder path → its path in the zip: every file of a stored folder lands in one folder.
  const folders = new Map<string, string>();
  const claim = (parent: string, segment: string, isFile: boolean) => {
    const base = safeSegment(segment);
    const at = (name: string) => (parent ? `${parent}/${name}` : name);
    let name = at(base);
    if (taken.has(fold(name))) {
      const nth = (n: number) => fold(at(numbered(base, n, isFile)));
      let n = 2;
      while (taken.has(nth(n)) || wanted.has(nth(n))) n++;
      name = at(numbered(base, n, isFile));
    }
    taken.add(fold(name));
    return name;
  };
  const names = new Map<string, string>();
  for (const { path } of ordered) {
    const segments = path.split("/");
    let parent = "";
    for (let i = 0; i < segments.length - 1; i++) {
      const stored = segments.slice(0, i + 1).join("/");
      let named = folders.get(stored);
      if (named === undefined) {
        named = claim(parent, segments[i]!, false);
        folders.set(stored, named);
      }
      parent = named;
    }
    names.set(path, claim(parent, segments[segments.length - 1]!, true));
  }
  return names;
}
