/**
 * `logits --model DIR --tokens 1,2,3`: the raw logits as JSON, for comparing a port against transformers.
 */
import type { CommandSpec } from "../args.ts";
import { intListFlag, parseCommand, requireFlag, UsageError } from "../args.ts";
import { BACKEND_FLAGS, loadModel, MODEL_FLAGS, WEIGHTS_FLAGS } from "../load.ts";

export const spec: CommandSpec = {
  name: "logits",
  summary: "Print the logits of a token sequence (or a batch) as JSON on stdout.",
  usage: "perfmamba logits --model DIR --tokens 1,2,3[;4,5,6] [--backend auto|webgpu|wasm] [--last]",
  flags: {
    model: { type: "string", help: "Checkpoint directory, or a llama.cpp .gguf file" },
    ...MODEL_FLAGS,
    tokens: { type: "string", help: "Token ids, comma-separated; separate the sequences of a batch with ';'" },
    ...BACKEND_FLAGS,
    ...WEIGHTS_FLAGS,
    last: { type: "boolean", help: "Only the last position of each sequence" },
  },
};

export async function run(argv: string[]): Promise<void> {
  const flags = parseCommand(spec, argv);
  if (!flags) return;
  const dir = requireFlag(spec, flags, "model");
  const text = requireFlag(spec, flags, "tokens");
  const seqs = text.split(";").map((part, b) => {
    try {
      return intListFlag({ tokens: part }, "tokens")!;
    } catch (e) {
      throw new UsageError(`${(e as Error).message}${text.includes(";") ? ` (sequence ${b})` : ""}`);
    }
  });
  const model = await loadModel(dir, flags);
  try {
    const { logits, state } = await model.prefill(seqs, { lastOnly: flags.last === true });
    state.dispose();
    const rows: number[][] = [];
    for (let r = 0; r < logits.rows; r++) {
      rows.push(Array.from(logits.data.subarray(r * logits.vocab, (r + 1) * logits.vocab)));
    }
    console.log(JSON.stringify({ backend: model.backend.name, shape: [logits.rows, logits.vocab], logits: rows }));
  } finally {
    model.dispose();
    model.backend.dispose();
  }
}
