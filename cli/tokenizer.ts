/**
 * Loading a Hugging Face tokenizer.json (e.g. GPT-NeoX-20B's) with npm:@huggingface/tokenizers: from --tokenizer,
 * or by default the model's own (a hub snapshot's tokenizer.json, or the tokenizer a GGUF file carries: llama.cpp's
 * `tokenizer.ggml.*`, rebuilt as a tokenizer.json).
 */
import { Tokenizer } from "@huggingface/tokenizers";
import { join } from "node:path";
import { type CheckpointSource, type GgufFile, parseGguf, tokenizerJsonFromGguf } from "../mod.ts";
import { type Flags, UsageError } from "./args.ts";
import { readRegularFile } from "./fs_source.ts";

/** Construct a tokenizer from tokenizer.json text; errors name `from`. */
export function parseTokenizer(text: string, from: string): Tokenizer {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new Error(`tokenizer ${from}: not valid JSON (${(e as Error).message})`);
  }
  try {
    return new Tokenizer(json as Record<string, unknown>, {});
  } catch (e) {
    throw new Error(`tokenizer ${from}: not a Hugging Face tokenizer.json (${(e as Error).message})`);
  }
}

/** Read and construct a tokenizer; errors name the file. */
export async function loadTokenizer(path: string): Promise<Tokenizer> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (e) {
    throw new Error(`tokenizer ${path}: cannot read (${(e as Error).message})`);
  }
  return parseTokenizer(text, path);
}

/** A command's tokenizer and where it came from (a path, for messages). */
export interface TokenizerChoice {
  tokenizer: Tokenizer;
  from: string;
}

/** The model a command runs, as far as finding its tokenizer goes: its folder and the source reading it. */
export interface TokenizerModel {
  dir: string;
  /** The model folder's source; null for a .gguf file (then `dir` is the file). */
  source: CheckpointSource | null;
  /** For a .gguf file: its parse, shared with the weights' loading (see cli/load.ts ResolvedModel); else absent. */
  parseGguf?: (() => Promise<GgufFile>) | null;
}

/** The model's own tokenizer file names, in the order tried (another kind of tokenizer source goes here). */
const MODEL_TOKENIZER_FILES = ["tokenizer.json"] as const;

/**
 * The tokenizer of a command: `--tokenizer FILE` when given, else the model's own: a .gguf file's tokenizer metadata,
 * or the model folder's `tokenizer.json` (read through the model's source, with its checks: no symlink out of the
 * folder, size limit); a {@link UsageError} naming both when there is neither.
 */
export async function commandTokenizer(
  command: string,
  flags: Flags,
  model: TokenizerModel | null,
): Promise<TokenizerChoice> {
  if (typeof flags.tokenizer === "string" && flags.tokenizer !== "") {
    return { tokenizer: await loadTokenizer(flags.tokenizer), from: flags.tokenizer };
  }
  if (model === null) throw new UsageError(`${command}: --tokenizer is required (see --help)`);
  if (model.source === null) {
    const gguf = model.parseGguf ? await model.parseGguf() : parseGguf(await readRegularFile(model.dir), model.dir);
    return { tokenizer: ggufTokenizer(gguf, model.dir), from: model.dir };
  }
  for (const name of MODEL_TOKENIZER_FILES) {
    if (await model.source.exists(name)) {
      const from = join(model.dir, name);
      return { tokenizer: parseTokenizer(await model.source.readText(name), from), from };
    }
  }
  throw new UsageError(
    `${command}: no --tokenizer given and the model folder ${model.dir} has no ${MODEL_TOKENIZER_FILES.join(" or ")}`,
  );
}

/** The help of --tokenizer for commands that default to the model's. */
export const TOKENIZER_HELP =
  "Hugging Face tokenizer.json (default: the model folder's tokenizer.json, or a .gguf's own; e.g. " +
  "../shared/data/tokenizer/gpt-neox-20b-tokenizer.json)";

/** The tokenizer stored in a parsed GGUF file (`path` names it); a usage error when it has none (pass --tokenizer then). */
function ggufTokenizer(gguf: GgufFile, path: string): Tokenizer {
  const json = tokenizerJsonFromGguf(gguf.metadata, path);
  if (json === null) {
    throw new UsageError(`${path} has no tokenizer (tokenizer.ggml.model "no_vocab"); pass --tokenizer FILE`);
  }
  return new Tokenizer(json, {});
}
