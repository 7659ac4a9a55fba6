/**
 * Loading a Hugging Face tokenizer.json (e.g. GPT-NeoX-20B's) with npm:@huggingface/tokenizers, or the tokenizer a
 * GGUF file carries (llama.cpp's `tokenizer.ggml.*`, rebuilt as a tokenizer.json).
 */
import { Tokenizer } from "@huggingface/tokenizers";
import { parseGguf, tokenizerJsonFromGguf } from "../mod.ts";
import { UsageError } from "./args.ts";
import { readRegularFile } from "./fs_source.ts";

/** Read and construct a tokenizer; errors name the file. */
export async function loadTokenizer(path: string): Promise<Tokenizer> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (e) {
    throw new Error(`tokenizer ${path}: cannot read (${(e as Error).message})`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new Error(`tokenizer ${path}: not valid JSON (${(e as Error).message})`);
  }
  try {
    return new Tokenizer(json as Record<string, unknown>, {});
  } catch (e) {
    throw new Error(`tokenizer ${path}: not a Hugging Face tokenizer.json (${(e as Error).message})`);
  }
}

/** The tokenizer stored in a GGUF file; a usage error when it has none (pass --tokenizer then). */
export async function loadGgufTokenizer(path: string): Promise<Tokenizer> {
  const json = tokenizerJsonFromGguf(parseGguf(await readRegularFile(path), path).metadata, path);
  if (json === null) {
    throw new UsageError(`${path} has no tokenizer (tokenizer.ggml.model "no_vocab"); pass --tokenizer FILE`);
  }
  return new Tokenizer(json, {});
}
