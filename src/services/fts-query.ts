// User search text to an FTS5 MATCH expression. The whole text becomes one quoted phrase
// (its quotes doubled), so FTS5 syntax in it (", *, -, NEAR, OR, AND, NOT, parentheses,
// column filters) is searched for literally and can never raise a syntax error. Matching is
// by words, case-insensitive, in order; when the text ends inside a word, that word is also
// matched as a prefix, so "Invalid us" finds "Invalid user" as a person typing expects.
// The unicode61 tokenizer indexes runs of letters and digits; text without any can match nothing.
const HAS_TOKEN = /[\p{L}\p{N}]/u;
const ENDS_IN_WORD = /[\p{L}\p{N}]$/u;

/** null means the text has no searchable word: the search matches no line. */
export function ftsExpression(text: string): string | null {
  // Control characters (NUL ends a string inside SQLite's FTS parser) are not searchable text.
  const trimmed = text.replace(/[\u0000-\u001f\u007f]/g, " ").trim();
  if (!HAS_TOKEN.test(trimmed)) return null;
  const phrase = `"${trimmed.replace(/"/g, '""')}"`;
  return ENDS_IN_WORD.test(trimmed) ? `${phrase} *` : phrase;
}
