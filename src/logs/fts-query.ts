// User search text to an FTS5 MATCH expression. Every word becomes a quoted phrase, so
// FTS5 syntax in the text (", *, -, NEAR, OR, AND, NOT, parentheses, column filters) is
// searched for literally and can never raise a syntax error. Words are ANDed.
const MAX_TERMS = 16;
// The unicode61 tokenizer indexes runs of letters and digits; a word without any can match nothing.
const HAS_TOKEN = /[\p{L}\p{N}]/u;

/** null means the text has no searchable word: the search matches no line. */
export function ftsExpression(text: string): string | null {
  const terms = text
    .split(/\s+/)
    .filter((t) => HAS_TOKEN.test(t))
    .slice(0, MAX_TERMS);
  if (terms.length === 0) return null;
  return terms.map((t) => `"${t.replace(/"/g, '""')}"`).join(" ");
}
