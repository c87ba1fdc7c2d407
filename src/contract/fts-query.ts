// User search text, matched by words: as an FTS5 MATCH expression over the hot store, and by
// the same rules in JavaScript over archived lines (log-archive), so `q` finds the same lines
// wherever they are kept.
//
// The whole text is one phrase: its words, in order, next to each other, in any case. When
// the text ends inside a word, that word is also matched as a prefix, so "Invalid us" finds
// "Invalid user" as a person typing expects. FTS5 syntax in the text (", *, -, NEAR, OR, AND,
// NOT, parentheses, column filters) is searched for literally and can never raise a syntax
// error. Words are what FTS5's unicode61 tokenizer (the hot store's) indexes: runs of letters,
// digits and private-use characters, case-folded, with Latin diacritics removed.
const HAS_TOKEN = /[\p{L}\p{N}]/u;
const ENDS_IN_WORD = /[\p{L}\p{N}]$/u;
/** unicode61's default token characters (categories L*, N*, Co); every other character separates words. */
const TOKEN = /[\p{L}\p{N}\p{Co}]+/gu;

/** A search as words: the phrase, and whether its last word is a prefix. null: nothing to search for. */
export interface SearchTerms {
  words: string[];
  prefix: boolean;
}

/** Control characters (NUL ends a string inside SQLite's FTS parser) are not searchable text. */
// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what it removes
const clean = (text: string) => text.replace(/[\u0000-\u001f\u007f]/g, " ").trim();

/** FTS5's unicode61 words of `text`: letters and digits, folded to lower case, diacritics removed. */
function words(text: string): string[] {
  const out: string[] = [];
  for (const m of text.matchAll(TOKEN)) {
    // remove_diacritics: a Latin letter's accents go (é is e); other scripts keep theirs.
    const w = m[0]
      .normalize("NFD")
      .replace(/(\p{Script=Latin})\p{M}+/gu, "$1")
      .normalize("NFC")
      .toLowerCase();
    if (w) out.push(w);
  }
  return out;
}

export function searchTerms(text: string): SearchTerms | null {
  const trimmed = clean(text);
  if (!HAS_TOKEN.test(trimmed)) return null;
  return { words: words(trimmed), prefix: ENDS_IN_WORD.test(trimmed) };
}

/** null means the text has no searchable word: the search matches no line. */
export function ftsExpression(text: string): string | null {
  const trimmed = clean(text);
  if (!HAS_TOKEN.test(trimmed)) return null;
  const phrase = `"${trimmed.replace(/"/g, '""')}"`;
  return ENDS_IN_WORD.test(trimmed) ? `${phrase} *` : phrase;
}

/** Whether `message` holds the phrase, as FTS5 would match the expression ftsExpression makes. */
export function matchesTerms(terms: SearchTerms, message: string): boolean {
  const have = words(message);
  const want = terms.words;
  const n = want.length;
  for (let i = 0; i + n <= have.length; i++) {
    let ok = true;
    for (let k = 0; k < n && ok; k++) {
      const last = k === n - 1;
      ok = last && terms.prefix ? have[i + k]!.startsWith(want[k]!) : have[i + k] === want[k];
    }
    if (ok) return true;
  }
  return false;
}
