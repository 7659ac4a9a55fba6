/**
 * llama.cpp's Mamba models in GGUF, both ways: {@link ggufCheckpoint} reads a GGUF of architecture `mamba` (Mamba-1
 * and Falcon-Mamba) or `mamba2` into a {@link Checkpoint} under Hugging Face tensor names, so `toHostWeights`
 * checks and converts it like any other checkpoint; {@link ggufFromWeights} writes host weights as the GGUF that
 * llama.cpp's `convert_hf_to_gguf.py` would write for the same model.
 *
 * The mapping, from llama.cpp's own code (convert_hf_to_gguf.py `MambaModel` / `Mamba2Model`, gguf-py
 * constants.py / tensor_mapping.py, src/models/mamba*.cpp):
 *
 * | GGUF (dims, `ne[0]` first)           | Hugging Face (shape)                            | transform              |
 * | ------------------------------------ | ----------------------------------------------- | ---------------------- |
 * | `token_embd.weight` [d, V]           | `backbone.embeddings.weight` [V, d]             |                        |
 * | `blk.i.attn_norm.weight` [d]         | `backbone.layers.i.norm.weight`                 |                        |
 * | `blk.i.ssm_in.weight`                | `….mixer.in_proj.weight`                        |                        |
 * | `blk.i.ssm_conv1d.weight` [K, C]     | `….mixer.conv1d.weight` [C, 1, K]               | squeeze                |
 * | `blk.i.ssm_conv1d.bias`              | `….mixer.conv1d.bias`                           |                        |
 * | `blk.i.ssm_x.weight` (Mamba-1)       | `….mixer.x_proj.weight`                         |                        |
 * | `blk.i.ssm_dt.weight` (Mamba-1)      | `….mixer.dt_proj.weight`                        |                        |
 * | `blk.i.ssm_dt.bias`                  | `….mixer.dt_proj.bias` / `….mixer.dt_bias` (M2) |                        |
 * | `blk.i.ssm_a` [N, D] / [1, H]        | `….mixer.A_log` [D, N] / [H]                    | a = −exp(A_log)        |
 * | `blk.i.ssm_d` [D] / [1, H]           | `….mixer.D`                                     |                        |
 * | `blk.i.ssm_norm.weight` [D/G, G]     | `….mixer.norm.weight` [D] (Mamba-2)             | reshape                |
 * | `blk.i.ssm_out.weight`               | `….mixer.out_proj.weight`                       |                        |
 * | `output_norm.weight`                 | `backbone.norm_f.weight`                        |                        |
 * | `output.weight` (absent: tied)       | `lm_head.weight`                                |                        |
 *
 * Metadata: `general.architecture`; `{arch}.embedding_length`, `block_count`, `ssm.conv_kernel`,
 * `ssm.inner_size`, `ssm.state_size`, `ssm.time_step_rank` (Mamba-1: the δ rank; Mamba-2: the head count, head
 * dim = inner_size / heads), `ssm.group_count` (Mamba-2), `attention.layer_norm_rms_epsilon` — the keys llama.cpp
 * requires to load these architectures — and `ssm.dt_b_c_rms` (optional, Mamba-1: Falcon-Mamba's δ/B/C norms,
 * which llama.cpp computes with the layer-norm epsilon). PerfMamba writes one key of its own,
 * `perfmamba.mixer_rms_eps`, when a Falcon-Mamba's δ/B/C norm epsilon differs from its layer-norm epsilon
 * (llama.cpp ignores it; PerfMamba's import honours it).
 *
 * @module
 */

import type { Checkpoint, CheckpointSource } from "./checkpoint.ts";
import type { MambaConfig } from "./config.ts";
import { parseConfig } from "./config_parse.ts";
import { encodeFloats, GGML_READABLE_TYPES } from "./ggml_types.ts";
import {
  type GgufFile,
  GgufFormatError,
  type GgufMetadataEntry,
  ggufTensorBytes,
  type GgufTensorInfo,
  ggufTensorToFloat32,
  type GgufTensorToWrite,
  parseGguf,
  writeGguf,
} from "./gguf.ts";
import type { Dtype, SafetensorRecord } from "./safetensors.ts";
import { QUANT_METHOD, type QuantizationConfig, splitBlocks } from "./quant_layout.ts";
import type { HostTensor, MambaWeights } from "./weights.ts";

/** Reads typed metadata of one GGUF file, naming the file and key in every error. */
class Meta {
  constructor(readonly file: GgufFile) {}
  entry(key: string): GgufMetadataEntry | undefined {
    return this.file.metadata.get(key);
  }
  fail(key: string, message: string): never {
    throw new Error(`${this.file.name}: GGUF metadata "${key}" ${message}`);
  }
  /** A non-negative integer of any integer type; required unless `fallback` is given. */
  int(key: string, fallback?: number): number {
    const e = this.entry(key);
    if (e === undefined) {
      if (fallback === undefined) this.fail(key, "is missing (llama.cpp requires it for this architecture)");
      return fallback;
    }
    const v = typeof e.value === "bigint" ? Number(e.value) : e.value;
    if (!/INT/.test(e.type) || e.type === "ARRAY" || !Number.isSafeInteger(v) || v < 0) {
      this.fail(key, `must be a non-negative integer, got ${e.type} ${String(e.value).slice(0, 40)}`);
    }
    return v;
  }
  positive(key: string, fallback?: number): number {
    const v = this.int(key, fallback);
    if (v <= 0) this.fail(key, `must be positive, got ${v}`);
    return v;
  }
  float(key: string, fallback?: number): number {
    const e = this.entry(key);
    if (e === undefined) {
      if (fallback === undefined) this.fail(key, "is missing (llama.cpp requires it for this architecture)");
      return fallback;
    }
    if ((e.type !== "FLOAT32" && e.type !== "FLOAT64") || !(e.value > 0) || !Number.isFinite(e.value)) {
      this.fail(key, `must be a positive float, got ${e.type} ${String(e.value).slice(0, 40)}`);
    }
    return e.value;
  }
  bool(key: string): boolean {
    const e = this.entry(key);
    if (e === undefined) return false;
    if (e.type !== "BOOL") this.fail(key, `must be a BOOL, got ${e.type}`);
    return e.value;
  }
  string(key: string): string {
    const e = this.entry(key);
    if (e === undefined) this.fail(key, "is missing");
    if (e.type !== "STRING") this.fail(key, `must be a STRING, got ${e.type}`);
    return e.value;
  }
}

/** Torch shape of a GGUF tensor: its dims reversed. */
function torchShape(dims: readonly number[]): number[] {
  return [...dims].reverse();
}

/** Little-endian f32 bytes of `data`. */
function f32Bytes(data: Float32Array): Uint8Array {
  return encodeFloats(data, "F32");
}

/** The Hugging Face name and shape of a GGUF tensor name (null: not a Mamba tensor this mapping knows). */
function hfName(name: string, arch: "mamba" | "mamba2"): string | null {
  const fixed: Record<string, string> = {
    "token_embd.weight": "backbone.embeddings.weight",
    "output_norm.weight": "backbone.norm_f.weight",
    "output.weight": "lm_head.weight",
  };
  if (Object.hasOwn(fixed, name)) return fixed[name];
  const m = /^blk\.(0|[1-9][0-9]{0,5})\.(.+)$/.exec(name);
  if (!m) return null;
  const layer = `backbone.layers.${m[1]}.`;
  const p = `${layer}mixer.`;
  const perLayer: Record<string, string> = {
    "attn_norm.weight": `${layer}norm.weight`,
    "ssm_in.weight": `${p}in_proj.weight`,
    "ssm_in.bias": `${p}in_proj.bias`,
    "ssm_conv1d.weight": `${p}conv1d.weight`,
    "ssm_conv1d.bias": `${p}conv1d.bias`,
    "ssm_dt.bias": arch === "mamba2" ? `${p}dt_bias` : `${p}dt_proj.bias`,
    "ssm_a": `${p}A_log`,
    "ssm_d": `${p}D`,
    "ssm_out.weight": `${p}out_proj.weight`,
    "ssm_out.bias": `${p}out_proj.bias`,
    ...(arch === "mamba"
      ? { "ssm_x.weight": `${p}x_proj.weight`, "ssm_dt.weight": `${p}dt_proj.weight` }
      : { "ssm_norm.weight": `${p}norm.weight` }),
  };
  return Object.hasOwn(perLayer, m[2]) ? perLayer[m[2]] : null;
}

/** The record of one GGUF tensor under its Hugging Face name: reshaped, A turned back into A_log. */
function toRecord(file: GgufFile, t: GgufTensorInfo, hf: string): SafetensorRecord {
  if (!GGML_READABLE_TYPES.includes(t.type)) {
    throw new GgufFormatError(
      "unsupported-type",
      `${file.name}: tensor "${t.name}" has type ${t.type}; PerfMamba reads ${GGML_READABLE_TYPES.join(", ")} ` +
        `(requantise with llama-quantize, e.g. to Q8_0, or convert from the original checkpoint)`,
    );
  }
  let shape = torchShape(t.dims);
  if (hf.endsWith(".conv1d.weight") && shape.length === 2) shape = [shape[0], 1, shape[1]];
  if ((hf.endsWith(".A_log") || hf.endsWith(".D")) && shape.length === 2 && t.dims[0] === 1) shape = [t.dims[1]];
  if (hf.endsWith(".mixer.norm.weight") && shape.length === 2) shape = [t.dims[0] * t.dims[1]];
  if (hf.endsWith(".A_log")) {
    const a = ggufTensorToFloat32(file, t);
    const aLog = new Float32Array(a.length);
    for (let i = 0; i < a.length; i++) aLog[i] = Math.log(-a[i]); // a = −exp(A_log); a ≥ 0 gives NaN, refused later
    return { name: t.name, dtype: "F32", shape, bytes: f32Bytes(aLog), file: file.name };
  }
  if (t.type === "F32" || t.type === "F16" || t.type === "BF16") {
    return { name: t.name, dtype: t.type as Dtype, shape, bytes: ggufTensorBytes(file, t), file: file.name };
  }
  return { name: t.name, dtype: "F32", shape, bytes: f32Bytes(ggufTensorToFloat32(file, t)), file: file.name };
}

/**
 * A parsed GGUF of llama.cpp's `mamba` or `mamba2` architecture as a {@link Checkpoint}: the config from the
 * metadata, the tensors under their Hugging Face names (F32 / F16 / BF16 as views of the file; Q8_0 and Q4_0
 * matrices the model can hold quantized — in_proj, x_proj, dt_proj, out_proj, embedding, lm_head, rows a multiple
 * of 32 — kept block for block as codes + `_scale` with a `quantization` config (`toModelWeights` gives their
 * blocks, `toHostWeights` dequantises them); other Q8_0 / Q4_0 tensors dequantised to f32; `ssm_a` turned back
 * into `A_log` = log(−a)). Pass it to `toHostWeights`, which checks
 * every shape against the config and refuses leftover tensors.
 *
 * @example
 * ```ts
 * import { ggufCheckpoint, ggufFromWeights, makeConfig, parseGguf, syntheticWeights, toHostWeights } from "@perfmamba/perfmamba";
 *
 * const config = makeConfig("mamba2", { dModel: 32, nLayer: 2, vocabSize: 64, dState: 8, headDim: 16 });
 * const bytes = ggufFromWeights(syntheticWeights(config, 1), { tensorType: "F16" });
 * const ckpt = ggufCheckpoint(parseGguf(bytes, "tiny.gguf"));
 * console.log(ckpt.config.arch, ckpt.config.nHeads, ckpt.config.source); // mamba2 4 gguf
 * console.log(ckpt.tensors.get("backbone.layers.0.mixer.in_proj.weight")!.dtype); // F16
 * const weights = toHostWeights(ckpt);
 * console.log(weights.layers.length, weights.lmHead); // 2 null
 * ```
 *
 * @throws Error naming the file and the metadata key or tensor at fault: an architecture other than `mamba` /
 *   `mamba2`, a missing or mistyped required key, a model PerfMamba cannot run (config checks), a token list
 *   disagreeing with `token_embd`, or a tensor type other than F32, F16, BF16, Q8_0, Q4_0
 *   (`GgufFormatError` `unsupported-type`).
 */
export function ggufCheckpoint(file: GgufFile): Checkpoint {
  const m: Meta = new Meta(file);
  const archKey = "general.architecture";
  const archName = m.string(archKey);
  if (archName !== "mamba" && archName !== "mamba2") {
    m.fail(archKey, `is "${archName.slice(0, 40)}"; PerfMamba runs llama.cpp's "mamba" and "mamba2" architectures`);
  }
  const arch: "mamba" | "mamba2" = archName;
  const tensors = new Map<string, GgufTensorInfo>(file.tensors.map((t) => [t.name, t]));
  const embd = tensors.get("token_embd.weight");
  if (embd === undefined || embd.dims.length !== 2) {
    throw new Error(`${file.name}: no 2-D tensor "token_embd.weight" (the token embeddings)`);
  }
  const dModel = m.positive(`${arch}.embedding_length`);
  const vocab = embd.dims[1];
  const tokens = m.entry("tokenizer.ggml.tokens");
  if (tokens !== undefined && tokens.type === "ARRAY" && tokens.value.length !== vocab) {
    m.fail(
      "tokenizer.ggml.tokens",
      `holds ${tokens.value.length} tokens, but "token_embd.weight" has ${vocab} rows (llama.cpp requires equal)`,
    );
  }
  const vocabKey = `${arch}.vocab_size`;
  if (m.entry(vocabKey) !== undefined && m.int(vocabKey) !== vocab) {
    m.fail(vocabKey, `is ${m.int(vocabKey)}, but "token_embd.weight" has ${vocab} rows`);
  }
  const inner = m.positive(`${arch}.ssm.inner_size`);
  const rank = m.positive(`${arch}.ssm.time_step_rank`);
  const eps = m.float(`${arch}.attention.layer_norm_rms_epsilon`);
  const hasBias = (suffix: string): boolean => file.tensors.some((t) => t.name.endsWith(suffix));
  const json: Record<string, unknown> = {
    hidden_size: dModel,
    num_hidden_layers: m.positive(`${arch}.block_count`),
    vocab_size: vocab,
    state_size: m.positive(`${arch}.ssm.state_size`),
    conv_kernel: m.positive(`${arch}.ssm.conv_kernel`),
    layer_norm_epsilon: eps,
    use_bias: hasBias(".ssm_in.bias") || hasBias(".ssm_out.bias"),
    use_conv_bias: hasBias(".ssm_conv1d.bias"),
    tie_word_embeddings: !tensors.has("output.weight"),
  };
  if (arch === "mamba") {
    Object.assign(json, { intermediate_size: inner, time_step_rank: rank, model_type: "mamba" });
    if (m.bool(`${arch}.ssm.dt_b_c_rms`)) {
      json.model_type = "falcon_mamba";
      json.mixer_rms_eps = m.float("perfmamba.mixer_rms_eps", eps);
    }
  } else {
    if (inner % rank !== 0) {
      m.fail(`${arch}.ssm.time_step_rank`, `(the head count, ${rank}) does not divide ssm.inner_size ${inner}`);
    }
    Object.assign(json, {
      model_type: "mamba2",
      expand: inner / dModel,
      head_dim: inner / rank,
      num_heads: rank,
      n_groups: m.positive(`${arch}.ssm.group_count`),
    });
  }
  let config: MambaConfig;
  try {
    config = parseConfig(json, `${file.name} (GGUF metadata as a Hugging Face config)`);
  } catch (e) {
    throw new Error(`${file.name}: the GGUF metadata describes a model PerfMamba cannot run: ${(e as Error).message}`);
  }
  if (config.dInner !== inner) {
    m.fail(`${arch}.ssm.inner_size`, `is ${inner}, which is not a whole multiple of embedding_length ${dModel}`);
  }
  config.source = "gguf";
  const records = new Map<string, SafetensorRecord>();
  // Q8_0 / Q4_0 matrices the model can hold quantized keep their blocks (as codes + scales, the layout of a
  // quantized safetensors checkpoint); one format per checkpoint: the first such matrix's, the rest dequantise.
  const keepType = file.tensors.find((t) => (t.type === "Q8_0" || t.type === "Q4_0") && keepsBlocks(t))?.type;
  const quantized: string[] = [];
  for (const t of file.tensors) {
    const hf = hfName(t.name, arch);
    if (hf === null) {
      throw new Error(
        `${file.name}: tensor "${t.name}" is not part of llama.cpp's ${arch} architecture (${config.nLayer} ` +
          `layers); PerfMamba does not load models with extra tensors`,
      );
    }
    if (t.type === keepType && keepsBlocks(t)) {
      const n = t.dims[1], k = t.dims[0];
      const format = t.type === "Q8_0" ? "q8_0" : "q4_0";
      const { codes, scales } = splitBlocks({ format, n, k, blocks: ggufTensorBytes(file, t) });
      records.set(hf, { name: t.name, ...codes, file: file.name });
      records.set(hf + "_scale", { name: t.name + " (scales)", ...scales, file: file.name });
      quantized.push(hf.replace(/\.weight$/, ""));
      continue;
    }
    records.set(hf, toRecord(file, t, hf));
  }
  // The file as the checkpoint's one weight file (the folder as its source), so messages name it whole.
  const cut = file.name.lastIndexOf("/");
  const [source, base] = cut < 0 ? [".", file.name] : [file.name.slice(0, cut) || "/", file.name.slice(cut + 1)];
  const quantization: QuantizationConfig | null = keepType
    ? {
      quant_method: QUANT_METHOD,
      bits: keepType === "Q8_0" ? 8 : 4,
      block_size: 32,
      format: keepType === "Q8_0" ? "q8_0" : "q4_0",
      modules_quantized: quantized,
    }
    : null;
  return { config, tensors: records, files: [base], source, quantization };
}

/** GGUF names of the matrices a model can hold block-quantized (the embedding and lm_head included). */
const QUANTIZABLE_GGUF = /^(token_embd|output|blk\.\d+\.(ssm_in|ssm_x|ssm_dt|ssm_out))\.weight$/;

/** Whether a tensor's blocks are kept: a 2-D matrix the model can hold quantized. */
function keepsBlocks(t: GgufTensorInfo): boolean {
  return t.dims.length === 2 && t.dims[0] % 32 === 0 && QUANTIZABLE_GGUF.test(t.name);
}

/**
 * Reads the GGUF file `name` of a {@link CheckpointSource} (`urlSource` of a Hugging Face GGUF repository, a
 * `memorySource`, your own) into a {@link Checkpoint}: `parseGguf` then {@link ggufCheckpoint}, the file named
 * `<source>/<name>` in every message. For bytes already in hand: `ggufCheckpoint(parseGguf(bytes, name))`.
 *
 * @example
 * ```ts
 * import { ggufFromWeights, loadGgufCheckpoint, makeConfig, memorySource, syntheticWeights, toHostWeights } from "@perfmamba/perfmamba";
 *
 * // e.g. urlSource("https://huggingface.co/<org>/<repo>/resolve/main/") and the repository's .gguf file name.
 * const config = makeConfig("mamba1", { dModel: 32, nLayer: 1, vocabSize: 64 });
 * const source = memorySource({ "tiny-q8_0.gguf": ggufFromWeights(syntheticWeights(config), { tensorType: "Q8_0" }) });
 * const ckpt = await loadGgufCheckpoint(source, "tiny-q8_0.gguf");
 * console.log(ckpt.config.arch, toHostWeights(ckpt).layers.length); // mamba1 1
 * ```
 *
 * @throws Error as the source's `readBytes`, `parseGguf` and {@link ggufCheckpoint} do
 */
export async function loadGgufCheckpoint(source: CheckpointSource, name: string): Promise<Checkpoint> {
  const where = source.describe();
  const file = where.endsWith("/") ? `${where}${name}` : `${where}/${name}`;
  return ggufCheckpoint(parseGguf(await source.readBytes(name), file));
}

/**
 * Options of {@link ggufFromWeights}.
 *
 * @example
 * ```ts
 * import type { GgufExportOptions } from "@perfmamba/perfmamba";
 *
 * const options: GgufExportOptions = { tensorType: "Q8_0", name: "my-mamba" };
 * console.log(options.tensorType); // Q8_0
 * ```
 */
export interface GgufExportOptions {
  /**
   * Type of the 2-D weight matrices (embeddings, in/x/dt/out projections, lm_head), as convert_hf_to_gguf.py's
   * `--outtype`: "F32" (default), "F16", "BF16" or "Q8_0"; or "Q4_0" (`general.file_type` 2, MOSTLY_Q4_0), the
   * same matrices in ggml's Q4_0 blocks (what gguf-py's `quants.quantize` writes; close to llama-quantize's
   * `--pure Q4_0`, whose default mix would keep the output / tied embedding in Q6_K, a type PerfMamba cannot read). Norms, biases, conv1d, A and D stay F32 as convert keeps them (llama.cpp wants F32
   * `ssm_a` / `ssm_conv1d` / `ssm_d`; a quantized model's f16 A_log, conv1d and D are written F32 exactly, A as
   * −exp(A_log) of the half); a quantized matrix whose rows are not a multiple of 32 falls back to F16, as convert
   * does (its `QuantError` fallback).
   */
  tensorType?: "F32" | "F16" | "BF16" | "Q8_0" | "Q4_0";
  /** `general.name`, when given. */
  name?: string;
  /** More metadata (e.g. the `tokenizer.*` keys), appended after the model's; a key may not repeat one of ours. */
  metadata?: GgufMetadataEntry[];
}

/** convert_hf_to_gguf.py's `general.file_type` (LlamaFileType) per `--outtype` (Q4_0: llama-quantize's). */
const FILE_TYPES = { F32: 0, F16: 1, Q4_0: 2, Q8_0: 7, BF16: 32 } as const;

/** Why `weights` cannot be written as a GGUF that llama.cpp loads, or null. */
function unexportable(weights: MambaWeights): string | null {
  const c = weights.config;
  if (c.stateBridgeSizes?.some((n) => n > 0)) {
    return "it has Mamba-2 state bridges (state_bridge_sizes), a PerfMamba-only layer GGUF has no tensor for";
  }
  if (c.layerStateSizes && c.layerStateSizes.some((n) => n !== c.layerStateSizes![0])) {
    return `its layers have different state sizes (${c.layerStateSizes.join(", ")}); GGUF's ssm.state_size is ` +
      `one number for every layer (prune with one k for all layers)`;
  }
  if (c.useBias) return "in_proj / out_proj have biases, which llama.cpp's Mamba graphs do not load";
  if (c.arch === "mamba1" && c.dInner !== 2 * c.dModel) {
    return `its d_inner ${c.dInner} is not 2 × d_model ${c.dModel}; llama.cpp's Mamba-1 refuses any expansion but 2`;
  }
  if (c.arch === "mamba2" && c.timeStepLimit[0] !== 0 || c.arch === "mamba2" && c.timeStepLimit[1] !== Infinity) {
    return `its time_step_limit [${c.timeStepLimit.join(", ")}] clamps δ, which GGUF cannot express`;
  }
  return null;
}

/**
 * Host weights as a GGUF file in llama.cpp's conventions (what convert_hf_to_gguf.py writes for the same
 * checkpoint): architecture `mamba` (Mamba-1, Falcon-Mamba with `ssm.dt_b_c_rms`) or `mamba2`, the metadata
 * keys convert writes, tensors named, shaped and transformed as in the module's table, `output.weight` omitted
 * when the embeddings are tied, a conv1d without bias given a zero bias (llama.cpp requires one; the sum is
 * unchanged). The embeddings keep their rows (`config.vocabSize`): a tokenizer added through `metadata` must list
 * exactly that many tokens (pad the list as convert does), which llama.cpp checks.
 *
 * Pruned models export when every layer keeps the same state size; a Mamba-2 with state bridges, layers of
 * different state sizes, in/out_proj biases, a Mamba-1 with d_inner ≠ 2·d_model (llama.cpp refuses it) or a
 * Mamba-2 δ clamp are refused with the reason.
 *
 * @example
 * ```ts
 * import { ggufFromWeights, makeConfig, parseGguf, syntheticWeights } from "@perfmamba/perfmamba";
 *
 * const config = makeConfig("mamba1", { dModel: 32, nLayer: 1, vocabSize: 64 });
 * const file = parseGguf(ggufFromWeights(syntheticWeights(config, 2), { tensorType: "F16", name: "tiny" }), "t.gguf");
 * console.log(file.metadata.get("general.architecture")!.value, file.metadata.get("mamba.ssm.inner_size")!.value); // mamba 64
 * console.log(file.tensors.map((t) => `${t.name}:${t.type}`).slice(0, 3)); // [ "token_embd.weight:F16", "blk.0.attn_norm.weight:F32", "blk.0.ssm_in.weight:F16" ]
 * ```
 *
 * @throws Error naming why the model cannot be written (see above), or a metadata key given twice
 */
export function ggufFromWeights(weights: MambaWeights, options: GgufExportOptions = {}): Uint8Array {
  const { metadata, tensors } = ggufParts(weights, options);
  return writeGguf(metadata, tensors);
}

/**
 * The metadata and tensors {@link ggufFromWeights} writes, for callers that add to them before `writeGguf`.
 *
 * @example
 * ```ts
 * import { ggufParts, makeConfig, syntheticWeights, writeGguf } from "@perfmamba/perfmamba";
 *
 * const config = makeConfig("mamba2", { dModel: 32, nLayer: 1, vocabSize: 64, dState: 8, headDim: 16 });
 * const { metadata, tensors } = ggufParts(syntheticWeights(config));
 * console.log(metadata[0].value, tensors.length); // mamba2 11
 * const bytes = writeGguf(metadata, tensors);
 * console.log(bytes.length > 0); // true
 * ```
 */
export function ggufParts(
  weights: MambaWeights,
  options: GgufExportOptions = {},
): { metadata: GgufMetadataEntry[]; tensors: GgufTensorToWrite[] } {
  const why = unexportable(weights);
  if (why !== null) throw new Error(`cannot write this model as GGUF: ${why}`);
  const c = weights.config;
  const arch = c.arch === "mamba1" ? "mamba" : "mamba2";
  const matrixType = options.tensorType ?? "F32";
  const dState = c.layerStateSizes?.[0] ?? c.dState;
  const u32 = (key: string, value: number): GgufMetadataEntry => ({ key, type: "UINT32", value });
  const meta: GgufMetadataEntry[] = [
    { key: "general.architecture", type: "STRING", value: arch },
    ...(options.name !== undefined ? [{ key: "general.name", type: "STRING" as const, value: options.name }] : []),
    u32(`${arch}.context_length`, 2 ** 20), // convert: "arbitrary value; for those who use the default"
    u32(`${arch}.embedding_length`, c.dModel),
    u32(`${arch}.feed_forward_length`, 0), // convert: "unused, but seemingly required when loading"
    u32(`${arch}.attention.head_count`, 0),
    u32(`${arch}.block_count`, c.nLayer),
    u32(`${arch}.ssm.conv_kernel`, c.dConv),
    u32(`${arch}.ssm.inner_size`, c.dInner),
    u32(`${arch}.ssm.state_size`, dState),
    u32(`${arch}.ssm.time_step_rank`, c.arch === "mamba1" ? c.dtRank : c.nHeads),
    ...(c.arch === "mamba2" ? [u32(`${arch}.ssm.group_count`, c.nGroups)] : []),
    { key: `${arch}.attention.layer_norm_rms_epsilon`, type: "FLOAT32", value: c.eps },
    ...(c.arch === "mamba1"
      ? [{ key: `${arch}.ssm.dt_b_c_rms`, type: "BOOL" as const, value: c.bcdtNormEps !== undefined }]
      : []),
    ...(c.bcdtNormEps !== undefined && Math.fround(c.bcdtNormEps) !== Math.fround(c.eps)
      ? [{ key: "perfmamba.mixer_rms_eps", type: "FLOAT32" as const, value: c.bcdtNormEps }]
      : []),
    u32("general.file_type", FILE_TYPES[matrixType]),
    u32("general.quantization_version", 2),
  ];
  const ours = new Set(meta.map((e) => e.key));
  for (const e of options.metadata ?? []) {
    if (ours.has(e.key)) throw new Error(`ggufFromWeights: metadata "${e.key}" is written from the model already`);
    meta.push(e);
  }
  const tensors: GgufTensorToWrite[] = [];
  const f32 = (name: string, dims: number[], data: Float32Array): void => {
    tensors.push({ name, dims, type: "F32", data });
  };
  const matrix = (name: string, t: HostTensor): void => {
    const dims = torchShape(t.shape);
    const quantized = matrixType === "Q8_0" || matrixType === "Q4_0";
    const type = quantized && dims[0] % 32 !== 0 ? "F16" : matrixType;
    tensors.push({ name, dims, type, data: t.data });
  };
  matrix("token_embd.weight", weights.embedding);
  weights.layers.forEach((l, i) => {
    const b = `blk.${i}.`;
    f32(`${b}attn_norm.weight`, torchShape(l.norm.shape), l.norm.data);
    matrix(`${b}ssm_in.weight`, l.inProj);
    const [C, K] = l.convWeight.shape;
    f32(`${b}ssm_conv1d.weight`, [K, C], l.convWeight.data);
    f32(`${b}ssm_conv1d.bias`, [C], l.convBias?.data ?? new Float32Array(C));
    const a = new Float32Array(l.aLog.data.length);
    for (let j = 0; j < a.length; j++) a[j] = -Math.exp(l.aLog.data[j]);
    if (l.arch === "mamba1") {
      matrix(`${b}ssm_x.weight`, l.xProj);
      matrix(`${b}ssm_dt.weight`, l.dtProj);
      f32(`${b}ssm_dt.bias`, torchShape(l.dtProjBias.shape), l.dtProjBias.data);
      f32(`${b}ssm_a`, torchShape(l.aLog.shape), a);
      f32(`${b}ssm_d`, torchShape(l.D.shape), l.D.data);
    } else {
      const H = l.aLog.data.length;
      f32(`${b}ssm_dt.bias`, [H], l.dtBias.data);
      f32(`${b}ssm_a`, [1, H], a);
      f32(`${b}ssm_d`, [1, H], l.D.data);
      f32(`${b}ssm_norm.weight`, [c.dInner / c.nGroups, c.nGroups], l.gateNorm.data);
    }
    matrix(`${b}ssm_out.weight`, l.outProj);
  });
  f32("output_norm.weight", torchShape(weights.normF.shape), weights.normF.data);
  if (weights.lmHead !== null) matrix("output.weight", weights.lmHead);
  return { metadata: meta, tensors };
}
