/**
 * `quantize`: block-quantize a checkpoint's big matrices (in_proj, x_proj, dt_proj, out_proj; the embedding and
 * lm_head with --embeddings) to q8_0 or q4_0 and write a quantized checkpoint folder (QUANTIZATION.md) — never over
 * the input, via a temporary folder renamed at the end. Pruned checkpoints quantize like any other: prune first.
 */
import {
  checkpointFiles,
  hostWeightBytes,
  QUANTIZABLE_KINDS,
  quantizedMatrixNames,
  QuantizeError,
  quantizeWeights,
  toModelWeights,
} from "../../mod.ts";
import { choiceFlag, type CommandSpec, numberFlag, parseCommand, requireFlag, UsageError } from "../args.ts";
import { hostWeightsOptions, MODEL_FLAGS, MODEL_HELP, openCheckpoint, resolveModel, WEIGHTS_FLAGS } from "../load.ts";
import { prepareOutput, writeFolder } from "../output.ts";

export const spec: CommandSpec = {
  name: "quantize",
  summary: "Block-quantize a checkpoint's weight matrices to 8 or 4 bits (q8_0 / q4_0, GGUF-compatible).",
  usage:
    "perfmamba quantize --model DIR --out DIR --bits 8|4 [--block 32] [--keep in_proj,…] [--embeddings] [--params f16|f32]",
  flags: {
    model: { type: "string", help: `${MODEL_HELP}; read, never written` },
    ...MODEL_FLAGS,
    out: { type: "string", help: "New checkpoint folder (must not exist)" },
    bits: { type: "string", help: "8 (q8_0: 34 bytes per 32 weights) or 4 (q4_0: 18 bytes per 32 weights)" },
    block: { type: "string", help: "Weights per block (q8_0 / q4_0: 32)", default: "32" },
    keep: { type: "string", help: `Matrix kinds kept f32, comma-separated: ${QUANTIZABLE_KINDS.join(", ")}` },
    embeddings: { type: "boolean", help: "Quantize the embedding and lm_head too (default: kept f32)" },
    params: {
      type: "string",
      help: "A_log, conv1d's weight and bias, and D: f16 (the default: stored F16, held and read as halves) or f32",
      default: "f16",
    },
    ...WEIGHTS_FLAGS,
  },
};

export async function run(argv: string[]): Promise<void> {
  const flags = parseCommand(spec, argv);
  if (!flags) return;
  const modelDir = requireFlag(spec, flags, "model");
  const out = requireFlag(spec, flags, "out");
  requireFlag(spec, flags, "bits");
  const bits = Number(choiceFlag(flags, "bits", ["8", "4"] as const)) as 8 | 4;
  const block = numberFlag(flags, "block", { integer: true, min: 1 })!;
  if (block !== 32) throw new UsageError(`--block ${block}: q8_0 / q4_0 blocks hold 32 weights`);
  const params = choiceFlag(flags, "params", ["f16", "f32"] as const);
  const keep = typeof flags.keep === "string" ? flags.keep.split(",").filter((s) => s !== "") : [];
  for (const k of keep) {
    if (!(QUANTIZABLE_KINDS as readonly string[]).includes(k)) {
      throw new UsageError(`--keep ${k}: not a matrix kind (${QUANTIZABLE_KINDS.join(", ")})`);
    }
  }
  const norm = (p: string) => p.replace(/\/+$/, "");
  if (norm(out) === norm(modelDir)) {
    throw new UsageError("--out must differ from --model (the input is never overwritten)");
  }
  await prepareOutput(out);

  const resolved = await resolveModel(modelDir, flags);
  const weights = toModelWeights(await openCheckpoint(resolved, flags), hostWeightsOptions(flags));
  let quantized;
  try {
    quantized = quantizeWeights(weights, { bits, block, keep, embeddings: flags.embeddings === true, params });
  } catch (e) {
    // An already quantized input, a non-finite weight: named, nothing written.
    if (e instanceof QuantizeError) throw new UsageError(`${modelDir}: ${e.message}`);
    throw e;
  }
  const files = checkpointFiles(quantized);
  const before = hostWeightBytes(weights), after = hostWeightBytes(quantized);
  const record = {
    tool: "perfmamba quantize",
    source: modelDir,
    bits,
    block,
    keep,
    embeddings: flags.embeddings === true,
    params,
    quantized: quantizedMatrixNames(quantized),
    weightBytes: { before, after },
  };
  await writeFolder(out, { ...files, "quantization.json": JSON.stringify(record, null, 1) + "\n" });
  console.log(
    `${out}: ${record.quantized.length} matrices to q${bits}_0; weights ${before} → ${after} bytes ` +
      `(${(after / before).toFixed(3)}×)`,
  );
}
