/**
 * Where a JSON text stops being valid, for error messages that must not quote the text (a file read through a
 * symlink may be anything; `JSON.parse`'s own message quotes it).
 *
 * @module
 */

/**
 * Offset, line and column (1-based) of the first JSON syntax error in `text`, or null when it is valid JSON.
 * Bare `NaN`, `Infinity` and `-Infinity` count as numbers (config.json files written by Python hold them).
 */
export function jsonErrorPosition(text: string): { offset: number; line: number; column: number } | null {
  let i = 0;
  const ws = (): void => {
    while (i < text.length && " \t\n\r".includes(text[i])) i++;
  };
  const fail = (): never => {
    throw i;
  };
  const literal = (word: string): void => {
    if (text.startsWith(word, i)) i += word.length;
    else fail();
  };
  const string = (): void => {
    i++; // opening quote
    while (i < text.length && text[i] !== '"') {
      const c = text.charCodeAt(i);
      if (c < 0x20) fail();
      if (text[i] === "\\") {
        i++;
        if (text[i] === "u") {
          if (!/^[0-9a-fA-F]{4}$/.test(text.slice(i + 1, i + 5))) fail();
          i += 5;
        } else if (i < text.length && '"\\/bfnrt'.includes(text[i])) i++;
        else fail();
      } else i++;
    }
    if (i >= text.length) fail();
    i++; // closing quote
  };
  const number = (): void => {
    const m = /^-?(?:Infinity|NaN|(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?)/.exec(text.slice(i, i + 400));
    if (!m) fail();
    i += m![0].length;
  };
  const value = (): void => {
    ws();
    const c = text[i];
    if (c === "{") {
      i++;
      ws();
      if (text[i] === "}") return void i++;
      for (;;) {
        ws();
        if (text[i] !== '"') fail();
        string();
        ws();
        if (text[i] !== ":") fail();
        i++;
        value();
        ws();
        if (text[i] === ",") i++;
        else if (text[i] === "}") return void i++;
        else fail();
      }
    } else if (c === "[") {
      i++;
      ws();
      if (text[i] === "]") return void i++;
      for (;;) {
        value();
        ws();
        if (text[i] === ",") i++;
        else if (text[i] === "]") return void i++;
        else fail();
      }
    } else if (c === '"') string();
    else if (c === "t") literal("true");
    else if (c === "f") literal("false");
    else if (c === "n") literal("null");
    else if (c === "N" || c === "I" || c === "-" || (c >= "0" && c <= "9")) number();
    else fail();
  };
  try {
    value();
    ws();
    if (i < text.length) fail();
    return null;
  } catch (e) {
    if (typeof e !== "number") throw e;
    const offset = Math.min(e, text.length);
    const before = text.slice(0, offset);
    const line = before.split("\n").length;
    return { offset, line, column: offset - before.lastIndexOf("\n") };
  }
}

/** " at line L, column C (offset O)" for a text `JSON.parse` rejected, without quoting any of it. */
export function jsonErrorWhere(text: string): string {
  const at = jsonErrorPosition(text);
  if (at === null) return "";
  return at.offset >= text.length
    ? ` (unexpected end at line ${at.line}, column ${at.column})`
    : ` at line ${at.line}, column ${at.column} (offset ${at.offset})`;
}
