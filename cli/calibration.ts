/**
 * Calibration text for `prune` and `sweep`: plain-text files or JSON Lines (a "text" field per row), tokenized,
 * concatenated and cut into sequences of equal length from the start.
 */
import type { Tokenizer } from "@huggingface/tokenizers";
import { UsageError } from "./args.ts";

/** Read the files, tokenize, and cut `count` sequences of `length` tokens. Errors name the file or the shortfall. */
export async function calibrationSequences(
  paths: string[],
  tokenizer: Tokenizer,
  count: number,
  length: number,
  vocabSize: number,
): Promise<number[][]> {
  const ids: number[] = [];
  const need = count * length;
  for (const path of paths) {
    let text: string;
    try {
      text = await Deno.readTextFile(path);
    } catch (e) {
      throw new UsageError(`--calib ${path}: cannot read (${(e as Error).message})`);
    }
    const parts = path.endsWith(".jsonl") ? jsonlTexts(text, path) : [text];
    for (const part of parts) {
      for (const id of tokenizer.encode(part, { add_special_tokens: false }).ids) {
        if (id >= vocabSize) {
          throw new UsageError(
            `--calib ${path}: the tokenizer produced id ${id} but the model's vocabulary has ${vocabSize} entries ` +
              "(tokenizer and model do not match)",
          );
        }
        ids.push(id);
      }
      if (ids.length >= need) break;
    }
    if (ids.length >= need) break;
  }
  if (ids.length < need) {
    throw new UsageError(
      `calibration text has ${ids.length} tokens; ${count} sequences × ${length} tokens need ${need} ` +
        "(give more --calib text or lower --calib-seqs / --calib-len)",
    );
  }
  return Array.from({ length: count }, (_, i) => ids.slice(i * length, (i + 1) * length));
}

function jsonlTexts(text: string, path: string): string[] {
  return text.split("\n").filter((l) => l.trim() !== "").map((line, i) => {
    let row: unknown;
    try {
      row = JSON.parse(line);
    } catch (e) {
      throw new UsageError(`--calib ${path}: line ${i + 1} is not JSON (${(e as Error).message})`);
    }
    const t = (row as { text?: unknown }).text;
    if (typeof t !== "string") throw new UsageError(`--calib ${path}: line ${i + 1} has no "text" string`);
    return t;
  });
}
