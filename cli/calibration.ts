/**
 * Calibration for `prune` and `sweep`: their shared flags; text from plain-text files or JSON Lines (a "text" field
 * per row), tokenized, concatenated and cut into sequences of equal length from the start; the calibration run; and
 * the state-activity file that lets a later run skip it.
 */
import type { Tokenizer } from "@huggingface/tokenizers";
import { calibrate, MambaModel, type MambaWeights, type StateActivity } from "../mod.ts";
import { type Flags, type FlagSpec, numberFlag, UsageError } from "./args.ts";
import { backendFromFlags, weightsForFlags } from "./load.ts";
import { progressBar } from "./progress.ts";
import { commandTokenizer, type TokenizerModel } from "./tokenizer.ts";

/** The calibration flags of `prune` and `sweep`. */
export const CALIB_FLAGS: Record<string, FlagSpec> = {
  calib: { type: "string", help: "Calibration text: comma-separated .txt files or .jsonl with a text field" },
  tokenizer: {
    type: "string",
    help: "tokenizer.json for the calibration (and evaluation) text (default: the model folder's)",
  },
  "calib-seqs": { type: "string", help: "Calibration sequences", default: "16" },
  "calib-len": { type: "string", help: "Tokens per calibration sequence", default: "512" },
  activity: { type: "string", help: "Reuse a state_activity.json from an earlier run instead of calibrating" },
};

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

/** A StateActivity as JSON (Gram matrices as plain arrays). */
export function activityToJson(a: StateActivity): unknown {
  return { ...a, gram: a.gram.map((g) => ({ samples: g.samples, matrix: Array.from(g.matrix) })) };
}

/** Read a StateActivity written by {@link activityToJson}; errors name the file. */
export async function readActivity(path: string): Promise<StateActivity> {
  let json: StateActivity & { gram: { samples: number; matrix: number[] }[] };
  try {
    json = JSON.parse(await Deno.readTextFile(path));
  } catch (e) {
    throw new UsageError(`--activity ${path}: cannot read (${(e as Error).message})`);
  }
  if (!json || !Array.isArray(json.stateSizes) || !json.scores || !Array.isArray(json.gram)) {
    throw new UsageError(`--activity ${path}: not a state_activity.json written by perfmamba prune`);
  }
  return { ...json, gram: json.gram.map((g) => ({ samples: g.samples, matrix: Float64Array.from(g.matrix) })) };
}

/**
 * Calibrate `weights` on the --calib text with the backend flags (progress on stderr); `command` names errors; the
 * tokenizer is --tokenizer or `checkpoint`'s tokenizer.json.
 */
export async function calibrateFromFlags(
  flags: Flags,
  weights: MambaWeights,
  command: string,
  checkpoint: TokenizerModel | null = null,
): Promise<StateActivity> {
  const files = typeof flags.calib === "string" ? flags.calib.split(",").filter((s) => s !== "") : [];
  if (files.length === 0) throw new UsageError("--calib is required to calibrate (or pass --activity FILE)");
  const { tokenizer } = await commandTokenizer(command, flags, checkpoint);
  const count = numberFlag(flags, "calib-seqs", { integer: true, min: 1, max: 100000 })!;
  const length = numberFlag(flags, "calib-len", { integer: true, min: 2, max: 65536 })!;
  const seqs = await calibrationSequences(files, tokenizer, count, length, weights.config.vocabSize);
  const backend = await backendFromFlags(flags);
  const model = MambaModel.load(weightsForFlags(weights, flags), backend);
  const bar = progressBar(!flags.quiet);
  try {
    return await calibrate(model, weights, seqs, { onProgress: (d, t) => bar.update(d, t, "calibrating") });
  } finally {
    bar.done();
    model.dispose();
    backend.dispose();
  }
}
