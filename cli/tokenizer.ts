/**
 * Loading a Hugging Face tokenizer.json (e.g. GPT-NeoX-20B's) with npm:@huggingface/tokenizers.
 */
import { Tokenizer } from "@huggingface/tokenizers";

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
