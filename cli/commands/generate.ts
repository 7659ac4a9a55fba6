/**
 * `generate --model DIR --tokenizer FILE --prompt "..."`: stream a continuation as text.
 */
import type { CommandSpec } from "../args.ts";
import { intListFlag, numberFlag, parseCommand, requireFlag, UsageError } from "../args.ts";
import { generate } from "../../mod.ts";
import { BACKEND_FLAGS, loadModel, MODEL_FLAGS, MODEL_HELP, resolveModel, WEIGHTS_FLAGS } from "../load.ts";
import { commandTokenizer, TOKENIZER_HELP } from "../tokenizer.ts";

export const spec: CommandSpec = {
  name: "generate",
  summary: "Continue a text prompt, streaming tokens as they are produced.",
  usage: "perfmamba generate --model DIR|ORG/NAME [--tokenizer tokenizer.json] --prompt TEXT [options]",
  flags: {
    model: { type: "string", help: MODEL_HELP },
    ...MODEL_FLAGS,
    tokenizer: { type: "string", help: TOKENIZER_HELP },
    prompt: { type: "string", help: "Prompt text" },
    "max-new-tokens": { type: "string", help: "Tokens to generate", default: "32" },
    temperature: { type: "string", help: "0 = greedy; otherwise sampling temperature", default: "0" },
    "top-k": { type: "string", help: "Sample among the k most likely tokens (0 = all)", default: "0" },
    "top-p": { type: "string", help: "Nucleus sampling mass (1 = off)", default: "1" },
    "repetition-penalty": {
      type: "string",
      help: "Divide positive logits of tokens already in the prompt or output by p, multiply negative ones (1 = off)",
      default: "1",
    },
    seed: { type: "string", help: "Sampling seed", default: "0" },
    stop: { type: "string", help: "Comma-separated stop token ids" },
    ...BACKEND_FLAGS,
    ...WEIGHTS_FLAGS,
    json: { type: "boolean", help: "Print one JSON object (prompt ids, new ids, text, timings) instead of streaming" },
  },
};

export async function run(argv: string[]): Promise<void> {
  const flags = parseCommand(spec, argv);
  if (!flags) return;
  const dir = requireFlag(spec, flags, "model");
  const prompt = flags.prompt;
  if (typeof prompt !== "string") throw new UsageError("generate: --prompt is required (see --help)");
  if (prompt === "") throw new UsageError("generate: --prompt is empty; give some text to continue");
  const opts = {
    maxNewTokens: numberFlag(flags, "max-new-tokens", { integer: true, min: 0 }),
    temperature: numberFlag(flags, "temperature", { min: 0 }),
    topK: numberFlag(flags, "top-k", { integer: true, min: 0 }),
    topP: numberFlag(flags, "top-p", { min: Number.MIN_VALUE, max: 1 }),
    repetitionPenalty: numberFlag(flags, "repetition-penalty", { min: Number.MIN_VALUE }),
    seed: numberFlag(flags, "seed", { integer: true }),
    stopTokens: intListFlag(flags, "stop"),
  };
  const resolved = await resolveModel(dir, flags);
  const { tokenizer, from: tokPath } = await commandTokenizer(spec.name, flags, resolved);
  const ids: number[] = tokenizer.encode(prompt, { add_special_tokens: false }).ids;
  if (ids.length === 0) throw new UsageError("generate: --prompt encodes to no tokens");
  const model = await loadModel(resolved, flags);
  const vocab = model.config.vocabSize;
  const tooBig = ids.find((t) => t >= vocab);
  if (tooBig !== undefined) {
    throw new UsageError(
      `tokenizer ${tokPath} produced id ${tooBig} but the model's vocabulary has ${vocab} entries: wrong tokenizer?`,
    );
  }
  // The tokenizer refuses an empty id list ("token_ids must be a non-empty array"); no tokens decode to "".
  const decode = (t: number[]) => t.length === 0 ? "" : tokenizer.decode(t, { clean_up_tokenization_spaces: false });
  const enc = new TextEncoder();
  const out: number[] = [];
  let printed = "";
  try {
    if (!flags.json) await Deno.stdout.write(enc.encode(prompt));
    const result = await generate(model, ids, {
      ...opts,
      onToken: async (t) => {
        out.push(t);
        if (flags.json) return;
        // Decode the whole continuation and print what is new, so multi-token characters come out whole.
        const text = decode(out);
        if (!text.endsWith("\uFFFD")) {
          await Deno.stdout.write(enc.encode(text.slice(printed.length)));
          printed = text;
        }
      },
    });
    const text = decode(result.tokens);
    if (flags.json) {
      console.log(JSON.stringify({
        backend: model.backend.name,
        prompt_tokens: ids,
        tokens: result.tokens,
        text,
        stop: result.stop,
        prefill_ms: result.prefillMs,
        decode_ms_per_token: result.decodeMsPerToken,
      }));
    } else {
      await Deno.stdout.write(enc.encode(text.slice(printed.length) + "\n"));
      const tps = 1000 / result.decodeMsPerToken;
      console.error(
        `[${model.backend.name}] prompt ${ids.length} tokens in ${result.prefillMs.toFixed(1)} ms, ` +
          `${result.tokens.length} new tokens at ${
            Number.isFinite(tps) ? tps.toFixed(1) : "-"
          } tok/s (stop: ${result.stop})`,
      );
    }
  } finally {
    model.dispose();
    model.backend.dispose();
  }
}
