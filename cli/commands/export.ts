/**
 * `export`: a checkpoint folder (dense, or pruned with one state size for every layer) as a GGUF file llama.cpp
 * runs: llama.cpp's Mamba / Mamba-2 tensor names and metadata (runtime/gguf_mamba.ts) and the tokenizer from a
 * Hugging Face tokenizer.json as `tokenizer.ggml.*` (runtime/gguf_tokenizer.ts). Written beside the target and
 * linked into place: `--out` is never overwritten, and holds nothing or the whole file.
 */
import { basename } from "node:path";
import {
  checkGgufTokenizer,
  ggufFromWeights,
  type GgufMetadataEntry,
  ggufNoVocabMetadata,
  ggufPreTokenizer,
  GgufTokenizerError,
  ggufTokenizerMetadata,
  loadCheckpoint,
  type MambaWeights,
  type SpecialTokenIds,
  toHostWeights,
} from "../../mod.ts";
import { choiceFlag, type CommandSpec, parseCommand, requireFlag, UsageError } from "../args.ts";
import { hostWeightsOptions, isGgufPath, MODEL_FLAGS, resolveModel, WEIGHTS_FLAGS } from "../load.ts";
import { exists } from "../output.ts";
import { loadTokenizer } from "../tokenizer.ts";

export const spec: CommandSpec = {
  name: "export",
  summary: "Write a checkpoint (dense or pruned with one k) as a GGUF file for llama.cpp, with its tokenizer.",
  usage: "perfmamba export --model DIR --format gguf --out FILE [--tokenizer FILE] [--type f32|f16|q8_0|q4_0]",
  flags: {
    model: { type: "string", help: "Checkpoint folder or Hugging Face model id to export (read only)" },
    ...MODEL_FLAGS,
    format: { type: "string", help: "Output format: gguf" },
    out: { type: "string", help: "Output file (must not exist)" },
    tokenizer: {
      type: "string",
      help: "Hugging Face tokenizer.json written into the file (default: DIR/tokenizer.json when present; " +
        "without one the file has no vocabulary and llama.cpp evaluates token ids only)",
    },
    type: {
      type: "string",
      help: "Weight matrices as f32, f16, or ggml's Q8_0 / Q4_0 blocks of 32 (a matrix whose rows are not a " +
        "multiple of 32 falls back to f16, as llama.cpp's converter does; norms, biases, conv, A, D stay f32)",
      default: "f32",
    },
    name: { type: "string", help: "general.name in the file (default: the folder's name)" },
    ...WEIGHTS_FLAGS,
  },
};

/** The special token ids a config.json names (`bos_token_id`, …), as llama.cpp's converter reads them. */
function configSpecialIds(text: string): SpecialTokenIds {
  let config: Record<string, unknown>;
  try {
    config = JSON.parse(text);
  } catch {
    return {}; // loadCheckpoint has parsed it already; unreachable in practice
  }
  const ids: SpecialTokenIds = {};
  for (const k of ["bos", "eos", "unk", "sep", "pad", "cls", "mask"] as const) {
    const v = config[`${k}_token_id`];
    if (typeof v === "number" && Number.isInteger(v) && v >= 0) ids[k] = v;
  }
  return ids;
}

/** The tokenizer metadata: from tokenizer.json (hashing its pre-tokenizer as llama.cpp does), or no vocabulary. */
async function tokenizerMetadata(
  path: string | null,
  weights: MambaWeights,
  configText: string,
): Promise<{ meta: GgufMetadataEntry[]; summary: string }> {
  const vocabSize = weights.config.vocabSize;
  if (path === null) {
    const arch = weights.config.arch === "mamba1" ? "mamba" : "mamba2";
    return { meta: ggufNoVocabMetadata(arch, vocabSize), summary: `no tokenizer (no_vocab, ${vocabSize} ids)` };
  }
  let json: unknown;
  try {
    json = JSON.parse(await Deno.readTextFile(path));
  } catch (e) {
    const why = e instanceof SyntaxError ? `not valid JSON (${e.message})` : `cannot read (${(e as Error).message})`;
    throw new Error(`tokenizer ${path}: ${why}`);
  }
  checkGgufTokenizer(json, path); // before the tokenizer library's own, less specific, complaints
  const tokenizer = await loadTokenizer(path);
  try {
    const pre = await ggufPreTokenizer((text) => tokenizer.encode(text).ids, json);
    const meta = ggufTokenizerMetadata(json, { vocabSize, pre, specialIds: configSpecialIds(configText) }, path);
    return { meta, summary: `tokenizer ${basename(path)} (gpt2, pre ${pre}, ${vocabSize} tokens)` };
  } catch (e) {
    if (e instanceof GgufTokenizerError && !e.message.startsWith(path)) throw new Error(`${path}: ${e.message}`);
    throw e;
  }
}

/** Write `bytes` to `path` without ever replacing a file: a temporary sibling, hard-linked to `path`, removed. */
async function writeNewFile(path: string, bytes: Uint8Array): Promise<void> {
  const tmp = `${path}.${crypto.randomUUID().slice(0, 8)}.tmp`;
  try {
    await Deno.writeFile(tmp, bytes, { createNew: true });
    await Deno.link(tmp, path); // fails when path exists (created meanwhile): nothing of the user's is replaced
  } catch (e) {
    if (e instanceof Deno.errors.AlreadyExists) {
      throw new UsageError(`--out ${path} already exists; choose a new file (nothing was written)`);
    }
    throw new Error(`cannot write ${path}: ${(e as Error).message}`);
  } finally {
    await Deno.remove(tmp).catch(() => {});
  }
}

export async function run(argv: string[]): Promise<void> {
  const flags = parseCommand(spec, argv);
  if (!flags) return;
  const modelDir = requireFlag(spec, flags, "model");
  const out = requireFlag(spec, flags, "out");
  const format = requireFlag(spec, flags, "format");
  if (format !== "gguf") throw new UsageError(`--format must be gguf, got "${format}"`);
  const type = choiceFlag(flags, "type", ["f32", "f16", "q8_0", "q4_0"] as const);
  const tensorType = ({ f32: "F32", f16: "F16", q8_0: "Q8_0", q4_0: "Q4_0" } as const)[type];
  if (isGgufPath(modelDir)) {
    throw new UsageError(`--model ${modelDir} is a GGUF file already; export reads a checkpoint folder`);
  }
  if (await exists(out)) throw new UsageError(`--out ${out} already exists; choose a new file (nothing was written)`);
  const resolved = await resolveModel(modelDir, flags); // a folder or a Hugging Face model id
  const source = resolved.source!; // not a .gguf: refused above
  let tokenizerPath: string | null = typeof flags.tokenizer === "string" ? flags.tokenizer : null;
  if (tokenizerPath === null && await source.exists("tokenizer.json")) {
    tokenizerPath = `${resolved.dir.replace(/\/+$/, "")}/tokenizer.json`;
  }
  const checkpoint = await loadCheckpoint(source);
  const weights = toHostWeights(checkpoint, hostWeightsOptions(flags));
  const { meta, summary } = await tokenizerMetadata(tokenizerPath, weights, await source.readText("config.json"));
  const name = typeof flags.name === "string" ? flags.name : basename(modelDir.replace(/\/+$/, "")) || "model";
  const bytes = ggufFromWeights(weights, { tensorType, name, metadata: meta });
  await writeNewFile(out, bytes);
  const c = weights.config;
  if (c.bcdtNormEps !== undefined && Math.fround(c.bcdtNormEps) !== Math.fround(c.eps)) {
    console.error(
      `warning: llama.cpp normalises δ, B and C with the layer-norm epsilon ${c.eps}, not this model's ` +
        `mixer_rms_eps ${c.bcdtNormEps} (GGUF has no key for it): its logits will differ slightly from ours ` +
        "(PerfMamba reads the value back from perfmamba.mixer_rms_eps)",
    );
  }
  const arch = weights.config.arch === "mamba1" ? "mamba" : "mamba2";
  console.log(
    `${out}: GGUF ${arch}, ${weights.config.nLayer} layers, state size ${
      weights.config.layerStateSizes?.[0] ?? weights.config.dState
    }, ${type.toUpperCase()} matrices, ${(bytes.length / 2 ** 20).toFixed(1)} MiB; ${summary}`,
  );
}
