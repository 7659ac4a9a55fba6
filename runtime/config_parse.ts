/**
 * Parses a checkpoint's `config.json` into the normalised {@link MambaConfig}.
 *
 * Two spellings are understood:
 * - Hugging Face transformers: `model_type` "mamba" (MambaConfig) or "mamba2" (Mamba2Config); missing optional
 *   fields take transformers' defaults.
 * - state-spaces/mamba (`mamba_ssm`): `d_model`, `n_layer`, `vocab_size`, `ssm_cfg` (with `layer`: "Mamba1" or
 *   "Mamba2"); missing fields take mamba_ssm's defaults (MambaConfig dataclass, `Mamba.__init__`,
 *   `Mamba2.__init__`); the vocabulary is padded up to `pad_vocab_size_multiple` (default 8) as
 *   `MambaLMHeadModel` does; the unpadded `vocab_size` is kept as `tokenVocabSize`, and no token choice picks a
 *   padded row.
 *
 * Both accept the optional `layer_state_sizes` (one state size per layer), PerfMamba's extension for pruned
 * checkpoints, and (Mamba-2) `state_bridge_sizes` (per layer, the original state size N of a bridged layer's C, 0
 * for a layer without a `state_bridge` tensor), PerfMamba's extension for pruned checkpoints with state bridges,
 * which only PerfMamba can load.
 *
 * @module
 */

import type { MambaConfig } from "./config.ts";
import { jsonErrorWhere } from "./json_position.ts";

/** A config value as an error message shows it: JSON, cut to 60 characters (a file can hold megabytes in one key). */
function shown(v: unknown): string {
  let text: string;
  try {
    text = JSON.stringify(v) ?? String(v);
  } catch {
    text = String(v);
  }
  return text.length > 60 ? `${text.slice(0, 57)}… (${text.length} characters)` : text;
}

/*
 * Key audit: every key this file reads, and what the model does with a non-default value. "honoured": the model
 * computes with it (or the weights' shapes are checked against it); "refused": a value the model would not honour
 * fails the parse, naming the key; "ignored": it does not change the forward pass (initialisation or kernel choice
 * only), listed where a reader might expect an effect. Keys not read at all are ignored (use_cache, dtype, …).
 *
 * Hugging Face `model_type: "mamba"` (transformers MambaConfig)
 *   hidden_size, num_hidden_layers, vocab_size, state_size, conv_kernel (2..4), expand, intermediate_size,
 *   time_step_rank ("auto"), use_bias, use_conv_bias, tie_word_embeddings, layer_norm_epsilon → honoured
 *   hidden_act → refused unless "silu" / "swish" (the conv and gate activations are SiLU)
 *   time_step_min/max/floor/scale/init_scheme, initializer_range, rescale_prenorm_residual → ignored (init only)
 *   residual_in_fp32, use_mambapy → ignored (the residual is f32 here either way; a kernel choice)
 * Hugging Face `model_type: "falcon_mamba"` (transformers FalconMambaConfig)
 *   every "mamba" key, read the same way; mixer_rms_eps (the weightless RMS norms of δ, B and C after x_proj,
 *   default 1e-6) → honoured; use_falcon_mambapy → ignored (a kernel choice)
 * Hugging Face `model_type: "mamba2"` (transformers Mamba2Config)
 *   hidden_size, num_hidden_layers, vocab_size, state_size, conv_kernel, expand, head_dim, num_heads, n_groups,
 *   chunk_size (prefill blocking), time_step_limit, use_bias, use_conv_bias, tie_word_embeddings,
 *   layer_norm_epsilon (block norms and the gated norm, as transformers) → honoured
 *   rms_norm → refused when false (LayerNorm)
 *   hidden_act → refused unless "silu" / "swish"
 *   norm_before_gate → ignored, as transformers ignores it: Mamba2Config defaults it to true, and both of
 *     transformers' paths compute norm(y · SiLU(z)) regardless (the fused kernel is called with
 *     norm_before_gate=False). Refusing true would refuse every config transformers 4.x saved; PerfMamba computes
 *     what transformers computes, and `normBeforeGate` is always false.
 *   time_step_min/max/floor, initializer_range, rescale_prenorm_residual, residual_in_fp32 → ignored
 * state-spaces (mamba_ssm MambaConfig, `ssm_cfg` passed to Mamba / Mamba2)
 *   d_model, n_layer, vocab_size, pad_vocab_size_multiple, norm_epsilon, tie_embeddings → honoured
 *   rms_norm → refused when false; d_intermediate → refused when > 0 (MLP blocks);
 *   attn_layer_idx → refused when not empty (attention layers; attn_cfg is then unused)
 *   fused_add_norm, residual_in_fp32 → ignored (kernel choice / f32 residual here)
 *   ssm_cfg.layer → "Mamba1" or "Mamba2", else refused
 *   Mamba1: ssm_cfg.d_state, d_conv, expand, dt_rank, bias, conv_bias → honoured; activation → refused unless
 *     "silu" / "swish"; dt_min, dt_max, dt_init, dt_scale, dt_init_floor, use_fast_path → ignored
 *   Mamba2: ssm_cfg.d_state, d_conv, expand, headdim, ngroups, chunk_size, dt_limit, bias, conv_bias → honoured;
 *     rmsnorm → refused when false; D_has_hdim → refused when true; d_ssm → refused unless d_inner;
 *     norm_before_gate → refused when true (mamba_ssm honours it: norm(y)·SiLU(z), which the kernels lack);
 *     activation → refused unless "silu" / "swish"; norm_epsilon → refused unless 1e-5 (mamba_ssm's gated norm
 *     keeps eps 1e-5 while norm_epsilon sets the block norms; the kernels take one eps for both);
 *     A_init_range, dt_min, dt_max, dt_init_floor, conv_init, use_mem_eff_path → ignored
 * Both spellings: layer_state_sizes, state_bridge_sizes (PerfMamba's pruned checkpoints) → honoured.
 * Hugging Face spellings: token_vocab_size (PerfMamba's key for a checkpoint whose embedding has padded rows, as
 *   `checkpointFiles` writes for a padded state-spaces model; ≤ vocab_size) → honoured: token choice never picks
 *   an id ≥ it (transformers ignores the key).
 * `model_type` other than "mamba" / "falcon_mamba" / "mamba2" (jamba, …) → refused.
 */

/** `model_type` values this runtime supports. */
export const SUPPORTED_MODEL_TYPES: readonly string[] = ["mamba", "falcon_mamba", "mamba2"];

type Json = Record<string, unknown>;

function isObject(v: unknown): v is Json {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** Reads fields of one JSON object, naming the file and the field in every error. */
class Fields {
  constructor(readonly obj: Json, readonly file: string, readonly prefix = "") {}

  private where(key: string): string {
    return `${this.file}: field "${this.prefix}${key}"`;
  }

  /** Fails with a message naming the file and the field. */
  fail(key: string, message: string): never {
    throw new Error(`${this.where(key)} ${message}`);
  }

  has(key: string): boolean {
    return this.obj[key] !== undefined && this.obj[key] !== null;
  }

  /** A positive integer; required when `fallback` is undefined. */
  positiveInt(key: string, fallback?: number): number {
    const v = this.has(key) ? this.obj[key] : fallback;
    if (v === undefined) this.fail(key, "is required");
    if (typeof v !== "number" || !Number.isSafeInteger(v) || v <= 0) {
      this.fail(key, `must be a positive integer, got ${shown(v)}`);
    }
    return v;
  }

  /** A non-negative integer with a default. */
  nonNegativeInt(key: string, fallback: number): number {
    const v = this.has(key) ? this.obj[key] : fallback;
    if (typeof v !== "number" || !Number.isSafeInteger(v) || v < 0) {
      this.fail(key, `must be a non-negative integer, got ${shown(v)}`);
    }
    return v;
  }

  /** A positive finite number with a default. */
  positiveNumber(key: string, fallback: number): number {
    const v = this.has(key) ? this.obj[key] : fallback;
    if (typeof v !== "number" || !(v > 0) || !Number.isFinite(v)) {
      this.fail(key, `must be a positive number, got ${shown(v)}`);
    }
    return v;
  }

  /** A boolean with a default. */
  bool(key: string, fallback: boolean): boolean {
    const v = this.has(key) ? this.obj[key] : fallback;
    if (typeof v !== "boolean") this.fail(key, `must be true or false, got ${shown(v)}`);
    return v;
  }

  /** A positive integer or "auto" (→ `auto`). */
  intOrAuto(key: string, auto: number): number {
    return this.obj[key] === "auto" ? auto : this.positiveInt(key, auto);
  }

  /** A `[min, max]` Δ limit: numbers, "inf"/"Infinity" strings, `{"__float__": "Infinity"}`, null. */
  limit(key: string): [number, number] {
    const v = this.obj[key];
    if (v === undefined || v === null) return [0, Infinity];
    if (!Array.isArray(v) || v.length !== 2) {
      this.fail(key, `must be a [min, max] pair, got ${shown(v)}`);
    }
    const lo = parseJsonFloat(v[0], 0), hi = parseJsonFloat(v[1], Infinity);
    if (lo === undefined || hi === undefined || !(lo >= 0) || !(hi >= lo)) {
      this.fail(key, `must be a [min, max] pair with 0 ≤ min ≤ max, got ${shown(v)}`);
    }
    return [lo, hi];
  }

  /** A nested object (absent or null → empty). */
  object(key: string): Fields {
    const v = this.obj[key];
    if (v === undefined || v === null) return new Fields({}, this.file, `${this.prefix}${key}.`);
    if (!isObject(v)) this.fail(key, `must be an object, got ${shown(v)}`);
    return new Fields(v, this.file, `${this.prefix}${key}.`);
  }
}

/**
 * A float as JSON configs spell it: a number, a string ("inf", "Infinity", "-inf", "nan", "1e-3"),
 * transformers 5's `{"__float__": "Infinity"}`, or null (→ `ifNull`). Undefined when unreadable.
 */
function parseJsonFloat(v: unknown, ifNull: number): number | undefined {
  if (v === null) return ifNull;
  if (typeof v === "number") return v;
  if (isObject(v) && Object.keys(v).length === 1 && "__float__" in v) return parseJsonFloat(v.__float__, ifNull);
  if (typeof v !== "string") return undefined;
  const s = v.trim().toLowerCase();
  if (s === "inf" || s === "+inf" || s === "infinity" || s === "+infinity") return Infinity;
  if (s === "-inf" || s === "-infinity") return -Infinity;
  if (s === "nan") return NaN;
  const n = Number(s);
  return s !== "" && Number.isFinite(n) ? n : undefined;
}

/**
 * Parses config.json text. Python's `json.dump` writes bare `Infinity` / `-Infinity` / `NaN` (older transformers
 * did so for `time_step_limit`); those tokens are accepted and read as strings ("Infinity"), which
 * {@link parseConfig} understands.
 *
 * @throws Error naming the file when the text is not JSON.
 */
export function parseConfigText(text: string, file: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    try {
      return JSON.parse(quoteBareNonFinite(text));
    } catch {
      throw new Error(`${file}: not valid JSON${jsonErrorWhere(text)}`); // never quotes the text: it may be any file
    }
  }
}

/** Quotes bare Infinity / -Infinity / NaN tokens outside strings. */
function quoteBareNonFinite(text: string): string {
  return text.replace(/"(?:[^"\\]|\\.)*"|-?Infinity|NaN/g, (m) => (m.startsWith('"') ? m : `"${m}"`));
}

/**
 * Normalises a parsed config.json (Hugging Face transformers or state-spaces spelling).
 *
 * @example
 * ```ts
 * import { parseConfig } from "@perfmamba/perfmamba";
 *
 * // transformers' MambaConfig (state-spaces/mamba-130m-hf): omitted fields take transformers' defaults.
 * const hf = parseConfig(
 *   { model_type: "mamba", hidden_size: 768, num_hidden_layers: 24, vocab_size: 50280, state_size: 16 },
 *   "config.json",
 * );
 * console.log(hf.arch, hf.dInner, hf.dtRank, hf.dConv); // mamba1 1536 48 4
 *
 * // mamba_ssm's config (state-spaces/mamba2-130m): the vocabulary is padded to a multiple of 16 here.
 * const ss = parseConfig({
 *   d_model: 768,
 *   n_layer: 24,
 *   vocab_size: 50277,
 *   ssm_cfg: { layer: "Mamba2" },
 *   pad_vocab_size_multiple: 16,
 * }, "mamba2-130m/config.json");
 * console.log(ss.arch, ss.vocabSize, ss.nHeads, ss.dState); // mamba2 50288 24 128
 *
 * try {
 *   parseConfig({ model_type: "llama" }, "config.json");
 * } catch (e) {
 *   console.log((e as Error).message.startsWith('config.json: field "model_type" is "llama"')); // true
 * }
 * ```
 *
 * @param json the parsed JSON
 * @param file the file's name or path, used in error messages
 * @returns the normalised configuration
 * @throws Error naming the file and the field for an unknown `model_type`, missing required fields, non-positive
 *   or inconsistent dimensions, a conv kernel outside 2..4, LayerNorm models (`rms_norm` false) and other
 *   unsupported variants.
 */
export function parseConfig(json: unknown, file: string): MambaConfig {
  if (!isObject(json)) throw new Error(`${file}: config must be a JSON object`);
  const f = new Fields(json, file);
  const config = parseByFormat(f);
  const sizes = parseLayerStateSizes(f, config.nLayer);
  if (sizes) config.layerStateSizes = sizes;
  const bridges = parseStateBridgeSizes(f, config);
  if (bridges) config.stateBridgeSizes = bridges;
  return config;
}

/** Dispatches on the config's spelling: Hugging Face `model_type`, or state-spaces `d_model`. */
function parseByFormat(f: Fields): MambaConfig {
  const modelType = f.obj.model_type;
  if (modelType === "mamba") return parseHfMamba1(f);
  if (modelType === "falcon_mamba") return parseHfFalconMamba(f);
  if (modelType === "mamba2") return parseHfMamba2(f);
  if (modelType !== undefined) {
    return f.fail(
      "model_type",
      `is ${shown(modelType)}; supported: ${SUPPORTED_MODEL_TYPES.map((t) => `"${t}"`).join(", ")}` +
        ` (or a state-spaces config with d_model / n_layer / ssm_cfg)`,
    );
  }
  if (f.obj.d_model !== undefined) return parseStateSpaces(f);
  throw new Error(
    `${f.file}: unrecognised config: no "model_type" (Hugging Face: ${SUPPORTED_MODEL_TYPES.join(", ")}) and no ` +
      `"d_model" (state-spaces)`,
  );
}

function parseLayerStateSizes(f: Fields, nLayer: number): number[] | undefined {
  const v = f.obj.layer_state_sizes;
  if (v === undefined || v === null) return undefined;
  if (!Array.isArray(v) || v.length !== nLayer) {
    f.fail("layer_state_sizes", `must be a list of ${nLayer} positive integers (one per layer)`);
  }
  return v.map((n, i) => {
    if (typeof n !== "number" || !Number.isSafeInteger(n) || n <= 0) {
      f.fail("layer_state_sizes", `[${i}] must be a positive integer, got ${shown(n)}`);
    }
    return n;
  });
}

/** `state_bridge_sizes`: one non-negative integer per layer, Mamba-2 only; all zeros → undefined (no bridge). */
function parseStateBridgeSizes(f: Fields, config: MambaConfig): number[] | undefined {
  const key = "state_bridge_sizes";
  const v = f.obj[key];
  if (v === undefined || v === null) return undefined;
  if (!Array.isArray(v) || v.length !== config.nLayer) {
    f.fail(key, `must be a list of ${config.nLayer} non-negative integers (one per layer, 0 = no bridge)`);
  }
  const sizes = v.map((n, i) => {
    if (typeof n !== "number" || !Number.isSafeInteger(n) || n < 0) {
      f.fail(key, `[${i}] must be a non-negative integer, got ${shown(n)}`);
    }
    return n;
  });
  if (sizes.every((n) => n === 0)) return undefined;
  if (config.arch !== "mamba2") {
    f.fail(key, "is only for Mamba-2 models (a Mamba-1 bridge is folded into x_proj and needs no key)");
  }
  return sizes;
}

/** Dimensions every architecture shares, before the architecture-specific fields. */
interface Common {
  dModel: number;
  nLayer: number;
  vocabSize: number;
  tokenVocabSize: number;
  eps: number;
}

/** Architecture-specific fields with their neutral values for Mamba-1. */
const MAMBA1_UNUSED = {
  headDim: 0,
  nHeads: 0,
  nGroups: 1,
  chunkSize: 0,
  timeStepLimit: [0, Infinity] as [number, number],
  normBeforeGate: false,
};

function checkConv(f: Fields, key: string, dConv: number): void {
  if (dConv < 2 || dConv > 4) f.fail(key, `is ${dConv}; the causal conv kernel must be 2..4`);
}

function mamba1(
  f: Fields,
  common: Common,
  source: MambaConfig["source"],
  dims: { dState: number; dConv: number; dInner: number; dtRank: number; useBias: boolean; useConvBias: boolean },
  tieEmbeddings: boolean,
  keys: { dConv: string },
): MambaConfig {
  checkConv(f, keys.dConv, dims.dConv);
  return {
    arch: "mamba1",
    ...common,
    ...dims,
    tieEmbeddings,
    ...MAMBA1_UNUSED,
    normGroupSize: dims.dInner,
    source,
  };
}

interface Mamba2Dims {
  dState: number;
  dConv: number;
  dInner: number;
  headDim: number;
  nHeads: number;
  nGroups: number;
  chunkSize: number;
  timeStepLimit: [number, number];
  normBeforeGate: boolean;
  useBias: boolean;
  useConvBias: boolean;
}

function mamba2(
  f: Fields,
  common: Common,
  source: MambaConfig["source"],
  dims: Mamba2Dims,
  tieEmbeddings: boolean,
  keys: { dConv: string; heads: string; groups: string },
): MambaConfig {
  checkConv(f, keys.dConv, dims.dConv);
  const { dInner, nHeads, headDim, nGroups } = dims;
  if (nHeads * headDim !== dInner) {
    f.fail(keys.heads, `inconsistent: ${nHeads} heads × head dim ${headDim} ≠ d_inner ${dInner} (expand · d_model)`);
  }
  if (nHeads % nGroups !== 0) f.fail(keys.groups, `is ${nGroups}, which does not divide the ${nHeads} heads`);
  return {
    arch: "mamba2",
    ...common,
    ...dims,
    dtRank: 0,
    tieEmbeddings,
    normGroupSize: dInner / nGroups,
    source,
  };
}

function requireRmsNorm(f: Fields, key: string): void {
  if (!f.bool(key, true)) f.fail(key, "is false: LayerNorm models are not supported (only RMSNorm)");
}

/** The conv output and the gate use SiLU ("swish" is its other name); refuse any other activation. */
function requireSilu(f: Fields, key: string, fallback: string): void {
  const v = f.has(key) ? f.obj[key] : fallback;
  if (v !== "silu" && v !== "swish") {
    f.fail(key, `is ${shown(v)}: only "silu" (also spelled "swish") is supported`);
  }
}

function positiveProduct(f: Fields, key: string, a: number, b: number): number {
  const v = a * b;
  if (!Number.isSafeInteger(v) || v <= 0) f.fail(key, `gives a non-integer inner width ${a} × ${b}`);
  return v;
}

function hfCommon(f: Fields): Common {
  const vocabSize = f.positiveInt("vocab_size");
  const tokenVocabSize = f.positiveInt("token_vocab_size", vocabSize);
  if (tokenVocabSize > vocabSize) {
    f.fail("token_vocab_size", `is ${tokenVocabSize}, more than vocab_size ${vocabSize} (the embedding's rows)`);
  }
  return {
    dModel: f.positiveInt("hidden_size"),
    nLayer: f.positiveInt("num_hidden_layers"),
    vocabSize,
    tokenVocabSize,
    eps: f.positiveNumber("layer_norm_epsilon", 1e-5),
  };
}

/** transformers MambaConfig. */
function parseHfMamba1(f: Fields): MambaConfig {
  const common = hfCommon(f);
  requireSilu(f, "hidden_act", "silu");
  const expand = f.positiveNumber("expand", 2);
  const dInner = f.has("intermediate_size")
    ? f.positiveInt("intermediate_size")
    : positiveProduct(f, "expand", expand, common.dModel);
  const config = mamba1(
    f,
    common,
    "huggingface",
    {
      dState: f.positiveInt("state_size", 16),
      dConv: f.positiveInt("conv_kernel", 4),
      dInner,
      dtRank: f.intOrAuto("time_step_rank", Math.ceil(common.dModel / 16)),
      useBias: f.bool("use_bias", true), // transformers' MambaConfig default
      useConvBias: f.bool("use_conv_bias", true),
    },
    f.bool("tie_word_embeddings", true),
    { dConv: "conv_kernel" },
  );
  // PerfMamba's key: the Δ rank before zero-padding to whole quantization blocks (see runtime/dt_rank_pad.ts).
  if (f.has("dt_rank_padded_from")) {
    const from = f.positiveInt("dt_rank_padded_from");
    if (from >= config.dtRank) {
      f.fail("dt_rank_padded_from", `is ${from}, not less than time_step_rank ${config.dtRank} (the padded rank)`);
    }
    config.dtRankPaddedFrom = from;
  }
  return config;
}

/** transformers FalconMambaConfig: MambaConfig plus the weightless δ / B / C norms after x_proj. */
function parseHfFalconMamba(f: Fields): MambaConfig {
  const config = parseHfMamba1(f);
  config.bcdtNormEps = f.positiveNumber("mixer_rms_eps", 1e-6);
  return config;
}

/** transformers Mamba2Config. */
function parseHfMamba2(f: Fields): MambaConfig {
  const common = hfCommon(f);
  requireRmsNorm(f, "rms_norm");
  requireSilu(f, "hidden_act", "silu");
  f.bool("norm_before_gate", true); // type-checked, then ignored as transformers ignores it (see the audit above)
  const dInner = positiveProduct(f, "expand", f.positiveNumber("expand", 2), common.dModel);
  const headDim = f.positiveInt("head_dim", 64);
  return mamba2(
    f,
    common,
    "huggingface",
    {
      dState: f.positiveInt("state_size", 128),
      dConv: f.positiveInt("conv_kernel", 4),
      dInner,
      headDim,
      nHeads: f.positiveInt("num_heads", Math.max(1, Math.floor(dInner / headDim))),
      nGroups: f.positiveInt("n_groups", 8),
      chunkSize: f.positiveInt("chunk_size", 256),
      timeStepLimit: f.limit("time_step_limit"),
      normBeforeGate: false, // transformers computes norm(y · SiLU(z)) whatever the key says
      useBias: f.bool("use_bias", false),
      useConvBias: f.bool("use_conv_bias", true),
    },
    f.bool("tie_word_embeddings", false),
    { dConv: "conv_kernel", heads: "num_heads", groups: "n_groups" },
  );
}

/** state-spaces/mamba (mamba_ssm) MambaConfig with its `ssm_cfg`. */
function parseStateSpaces(f: Fields): MambaConfig {
  const dModel = f.positiveInt("d_model");
  const nLayer = f.positiveInt("n_layer");
  const pad = f.positiveInt("pad_vocab_size_multiple", 8);
  const rawVocab = f.positiveInt("vocab_size");
  const common: Common = {
    dModel,
    nLayer,
    vocabSize: Math.ceil(rawVocab / pad) * pad,
    tokenVocabSize: rawVocab, // the padded rows are never chosen as tokens
    eps: f.positiveNumber("norm_epsilon", 1e-5),
  };
  requireRmsNorm(f, "rms_norm");
  if (f.nonNegativeInt("d_intermediate", 0) > 0) {
    f.fail("d_intermediate", "> 0: blocks with an MLP are not supported");
  }
  const attn = f.obj.attn_layer_idx;
  if (Array.isArray(attn) && attn.length > 0) {
    f.fail("attn_layer_idx", "is not empty: attention layers are not supported");
  }
  const tie = f.bool("tie_embeddings", true);
  const ssm = f.object("ssm_cfg");
  const layer = ssm.obj.layer ?? "Mamba1";
  const dInner = positiveProduct(ssm, "expand", ssm.positiveNumber("expand", 2), dModel);
  if (layer === "Mamba1") {
    requireSilu(ssm, "activation", "silu");
    return mamba1(
      f,
      common,
      "state-spaces",
      {
        dState: ssm.positiveInt("d_state", 16),
        dConv: ssm.positiveInt("d_conv", 4),
        dInner,
        dtRank: ssm.intOrAuto("dt_rank", Math.ceil(dModel / 16)),
        useBias: ssm.bool("bias", false),
        useConvBias: ssm.bool("conv_bias", true),
      },
      tie,
      { dConv: "ssm_cfg.d_conv" },
    );
  }
  if (layer !== "Mamba2") ssm.fail("layer", `is ${shown(layer)}; supported: "Mamba1", "Mamba2"`);
  requireRmsNorm(ssm, "rmsnorm");
  requireSilu(ssm, "activation", "swish");
  if (ssm.bool("norm_before_gate", false)) {
    ssm.fail(
      "norm_before_gate",
      "is true: the gated RMSNorm computing norm(y) · SiLU(z) is not supported (only norm(y · SiLU(z)), " +
        "norm_before_gate = false)",
    );
  }
  if (common.eps !== 1e-5) {
    f.fail(
      "norm_epsilon",
      `is ${common.eps}: a state-spaces Mamba-2 keeps eps 1e-5 in its gated RMSNorm while norm_epsilon sets the ` +
        `block norms, and this runtime uses one eps for both (only 1e-5 is supported)`,
    );
  }
  if (ssm.bool("D_has_hdim", false)) ssm.fail("D_has_hdim", "is true: a per-channel D is not supported");
  if (ssm.has("d_ssm") && ssm.positiveInt("d_ssm") !== dInner) {
    ssm.fail("d_ssm", `differs from d_inner ${dInner}: a gated MLP beside the SSM is not supported`);
  }
  const headDim = ssm.positiveInt("headdim", 64);
  return mamba2(
    f,
    common,
    "state-spaces",
    {
      dState: ssm.positiveInt("d_state", 128),
      dConv: ssm.positiveInt("d_conv", 4),
      dInner,
      headDim,
      nHeads: Math.floor(dInner / headDim),
      nGroups: ssm.positiveInt("ngroups", 1),
      chunkSize: ssm.positiveInt("chunk_size", 256),
      timeStepLimit: ssm.limit("dt_limit"),
      normBeforeGate: false, // true is refused above
      useBias: ssm.bool("bias", false),
      useConvBias: ssm.bool("conv_bias", true),
    },
    tie,
    { dConv: "ssm_cfg.d_conv", heads: "ssm_cfg.headdim", groups: "ssm_cfg.ngroups" },
  );
}
