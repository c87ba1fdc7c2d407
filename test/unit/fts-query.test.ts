// What a person types in the log search box, turned into an FTS5 MATCH expression that can
// never be a syntax error and finds what they meant.
import { describe, expect, it } from "vitest";
import { ftsExpression } from "../../src/contract/fts-query";

describe("ftsExpression", () => {
  it("searches the whole text as one phrase, the last word also as a prefix", () => {
    expect(ftsExpression("Invalid us")).toBe('"Invalid us" *');
    expect(ftsExpression("gripper")).toBe('"gripper" *');
  });

  it("matches no prefix when the text ends outside a word", () => {
    expect(ftsExpression("error:")).toBe('"error:"');
    expect(ftsExpression("gripper stalled.")).toBe('"gripper stalled."');
  });

  it("searches FTS5 syntax literally instead of obeying it", () => {
    expect(ftsExpression("NEAR(arm gripper) OR c*")).toBe('"NEAR(arm gripper) OR c*"');
    expect(ftsExpression("-joint AND NOT arm")).toBe('"-joint AND NOT arm" *');
    expect(ftsExpression("message:stalled")).toBe('"message:stalled" *');
  });

  it("doubles quotes inside the phrase, so a quote cannot end it early", () => {
    expect(ftsExpression('say "hi" now')).toBe('"say ""hi"" now" *');
    expect(ftsExpression('"')).toBeNull();
  });

  it("trims surrounding space and turns control characters (NUL included) into spaces", () => {
    expect(ftsExpression("  arm  ")).toBe('"arm" *');
    expect(ftsExpression("arm\u0000stall\tjoint\n")).toBe('"arm stall joint" *');
  });

  it("treats letters and digits of any script as words", () => {
    expect(ftsExpression("Größe")).toBe('"Größe" *');
    expect(ftsExpression("エラー")).toBe('"エラー" *');
    expect(ftsExpression("404")).toBe('"404" *');
  });

  it("answers null for text without any letter or digit: such a search matches no line", () => {
    for (const text of ["", "   ", "***", '""', "-()", "\u0000\u0001"]) expect(ftsExpression(text)).toBeNull();
  });
});
