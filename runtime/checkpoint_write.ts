/**
 * Writing host weights back as a Hugging Face checkpoint (platform-neutral): the inverse of `checkpoint.ts`.
 *
 * {@link checkpointFiles} gives the two files of a transformers checkpoint directory — `config.json` and an F32
 * `model.safetensors` — with transformers' tensor names and shapes (`MambaForCausalLM` / `Mamba2ForCausalLM`), so
 * `loadWeights` reads back exactly the same weights, and transformers can load uniform-state-size checkpoints.
 *
 * @module
 */

import type { MambaConfig } from "./config.ts";
import { layerBridgeSize, layerStateSize } from "./config.ts";
import { type RawTensorToWrite, type TensorToWrite, writeSafetensors } from "./safetensors.ts";
import type { HostMatrix, MambaWeights } from "./weights.ts";
import { cStateSizeOf, isQuantized, stateSizeOf } from "./weights.ts";
import type { HostTensor } from "./weights.ts";
import { roundToHalf } from "./half_params.ts";
import { paramFormatOf, weightsQuantFormat } from "./quantize.ts";
import { QUANT_METHOD, type QuantizationConfig, splitBlocks } from "./quant_layout.ts";

/**
 * The files of a checkpoint directory written by {@link checkpointFiles}.
 *
 * @example
 * ```ts
 * import { type CheckpointFiles, checkpointFiles, makeConfig, syntheticWeights } from "@perfmamba/perfmamba";
 *
 * const config = makeConfig("mamba2", { dModel: 32, nLayer: 2, vocabSize: 64, dState: 8, headDim: 16 });
 * const files: CheckpointFiles = checkpointFiles(syntheticWeights(config));
 * console.log(JSON.parse(files["config.json"]).architectures); // [ "Mamba2ForCausalLM" ]
 * console.log(files["model.safetensors"].byteLength > 0); // true
 * // Save them as a directory transformers and `loadWeights` read, e.g. under Deno:
 * //   await Deno.writeTextFile(`${dir}/config.json`, files["config.json"]);
 * //   await Deno.writeFile(`${dir}/model.safetensors`, files["model.safetensors"]);
 * // or load them from memory: `loadWeights(memorySource(files))`.
 * ```
 */
// A type alias, not an interface, so that it is assignable to memorySource's Record<string, …> parameter.
export type CheckpointFiles = {
  /** transformers config (pretty-printed JSON, trailing newline). */
  "config.json": string;
  /** All tensors, F32. */
  "model.safetensors": Uint8Array;
};

/**
 * Options of {@link checkpointFiles}.
 *
 * @example
 * ```ts
 * import { type CheckpointWriteOptions, checkpointFiles, makeConfig, parseSafetensors, syntheticWeights } from "@perfmamba/perfmamba";
 *
 * const config = makeConfig("mamba2", { dModel: 32, nLayer: 2, vocabSize: 64, dState: 8, headDim: 16 });
 * const options: CheckpointWriteOptions = {
 *   extraConfig: { bos_token_id: 0, eos_token_id: 0, pad_token_id: 0 }, // from the original config.json
 *   metadata: { pruned_from: "state-spaces/mamba2-130m" },
 * };
 * const files = checkpointFiles(syntheticWeights(config), options);
 * console.log(JSON.parse(files["config.json"]).eos_token_id); // 0
 * console.log(parseSafetensors(files["model.safetensors"], "model.safetensors").metadata);
 * // { format: "pt", pruned_from: "state-spaces/mamba2-130m" }
 * ```
 */
export interface CheckpointWriteOptions {
  /**
   * Extra config.json keys merged over the generated ones, e.g. `bos_token_id` / `eos_token_id` / `pad_token_id`
   * of the original config (the host weights do not carry token ids; transformers' defaults apply without them).
   */
  extraConfig?: Record<string, unknown>;
  /** safetensors `__metadata__` entries (`format: "pt"` is always present). */
  metadata?: Record<string, string>;
}

/**
 * A float for config.json as transformers 5 writes non-finite floats: finite numbers as they are, ±Infinity / NaN
 * as `{"__float__": "Infinity"}` (both `parseConfig` and Python's `json` read it; transformers decodes it).
 */
function jsonFloat(v: number): string | { __float__: string } {
  if (Number.isFinite(v)) return pyFloat(v);
  return { __float__: Number.isNaN(v) ? "NaN" : v > 0 ? "Infinity" : "-Infinity" };
}

/**
 * A number that must be written as a float literal: transformers 5 validates config fields by type and refuses `1`
 * or `0` where it expects a float. JSON.stringify writes whole numbers without a point, so float fields go through
 * a marker string that {@link configText} turns into a literal with a decimal point.
 */
function pyFloat(v: number): string {
  return `${FLOAT_MARK}${v}`;
}

const FLOAT_MARK = "@@pyfloat@@";

/** JSON text of a config object, float markers written as float literals (1 → 1.0, 1e-5 stays 0.00001). */
function configText(json: Record<string, unknown>): string {
  return JSON.stringify(json, null, 2).replace(new RegExp(`"${FLOAT_MARK}([^"]+)"`, "g"), (_, v: string) => {
    const n = Number(v);
    return Number.isInteger(n) ? n.toFixed(1) : String(n);
  });
}

/** Per-layer state sizes read from the weights, checked against the config. */
function stateSizes(weights: MambaWeights<HostMatrix>): number[] {
  const c = weights.config;
  if (!(Number.isInteger(c.tokenVocabSize) && c.tokenVocabSize >= 1 && c.tokenVocabSize <= c.vocabSize)) {
    throw new Error(
      `checkpointFiles: config.tokenVocabSize ${c.tokenVocabSize} must be a whole number in [1, ${c.vocabSize}]`,
    );
  }
  if (weights.layers.length !== c.nLayer) {
    throw new Error(`checkpointFiles: ${weights.layers.length} layers but config.nLayer is ${c.nLayer}`);
  }
  return weights.layers.map((layer, l) => {
    if (layer.arch !== c.arch) throw new Error(`checkpointFiles: layer ${l} is ${layer.arch} in a ${c.arch} model`);
    const n = stateSizeOf(layer, c);
    if (n !== layerStateSize(c, l)) {
      throw new Error(`checkpointFiles: layer ${l} has state size ${n} but the config says ${layerStateSize(c, l)}`);
    }
    const bridge = layer.arch === "mamba2" && layer.bridge ? cStateSizeOf(layer, c) : 0;
    if (bridge !== layerBridgeSize(c, l)) {
      throw new Error(
        `checkpointFiles: layer ${l} has ${bridge ? `a state bridge from N = ${bridge}` : "no state bridge"} but ` +
          `config.stateBridgeSizes says ${layerBridgeSize(c, l)} (0 = none)`,
      );
    }
    return n;
  });
}

/**
 * The config.json object: the keys transformers' `MambaConfig` / `Mamba2Config` write (as in the tiny fixtures'
 * configs), minus token ids (see {@link CheckpointWriteOptions.extraConfig}) and `transformers_version`.
 */
function configJson(c: MambaConfig, sizes: number[], tied: boolean): Record<string, unknown> {
  const maxN = Math.max(...sizes);
  const perLayer = c.layerStateSizes !== undefined || sizes.some((n) => n !== maxN);
  const common = {
    dtype: "float32",
    hidden_act: "silu",
    hidden_size: c.dModel,
    initializer_range: pyFloat(0.1),
    layer_norm_epsilon: pyFloat(c.eps),
    num_hidden_layers: c.nLayer,
    rescale_prenorm_residual: false,
    residual_in_fp32: true,
    state_size: maxN,
    tie_word_embeddings: tied,
    time_step_floor: pyFloat(0.0001),
    time_step_max: pyFloat(0.1),
    time_step_min: pyFloat(0.001),
    use_bias: c.useBias,
    use_cache: true,
    use_conv_bias: c.useConvBias,
    vocab_size: c.vocabSize,
  };
  const falcon = c.bcdtNormEps !== undefined; // Falcon-Mamba: Mamba-1 plus the δ / B / C norms
  const json: Record<string, unknown> = c.arch === "mamba1"
    ? {
      architectures: [falcon ? "FalconMambaForCausalLM" : "MambaForCausalLM"],
      model_type: falcon ? "falcon_mamba" : "mamba",
      ...(falcon ? { mixer_rms_eps: c.bcdtNormEps } : {}),
      ...common,
      conv_kernel: c.dConv,
      expand: c.dInner / c.dModel,
      intermediate_size: c.dInner,
      time_step_init_scheme: "random",
      time_step_rank: c.dtRank,
      time_step_scale: pyFloat(1),
      use_associative_scan: true,
      use_mambapy: false,
    }
    : {
      architectures: ["Mamba2ForCausalLM"],
      model_type: "mamba2",
      ...common,
      chunk_size: c.chunkSize,
      conv_kernel: c.dConv,
      expand: c.dInner / c.dModel,
      head_dim: c.headDim,
      n_groups: c.nGroups,
      norm_before_gate: c.normBeforeGate,
      num_heads: c.nHeads,
      rms_norm: true,
      time_step_limit: [jsonFloat(c.timeStepLimit[0]), jsonFloat(c.timeStepLimit[1])],
      time_step_rank: Math.ceil(c.dModel / 16), // transformers' "auto"; unused by Mamba-2
    };
  // A padded vocabulary (state-spaces' pad_vocab_size_multiple): vocab_size stays the embedding's rows, as
  // transformers needs to load the tensors; PerfMamba's key keeps the token count (transformers ignores it).
  if (c.tokenVocabSize !== c.vocabSize) json.token_vocab_size = c.tokenVocabSize;
  // A Δ rank zero-padded for quantization (runtime/dt_rank_pad.ts): PerfMamba's key keeps the original rank.
  if (c.dtRankPaddedFrom !== undefined) json.dt_rank_padded_from = c.dtRankPaddedFrom;
  if (perLayer) json.layer_state_sizes = [...sizes];
  if (c.stateBridgeSizes?.some((n) => n > 0)) json.state_bridge_sizes = [...c.stateBridgeSizes];
  return Object.fromEntries(Object.entries(json).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

/**
 * A checkpoint directory's files for host weights: the inverse of `loadWeights`.
 *
 * Tensors keep transformers' names and shapes: `backbone.embeddings.weight`, `backbone.layers.{i}.norm.weight`,
 * `backbone.layers.{i}.mixer.{in_proj.weight, in_proj.bias, conv1d.weight ([C, 1, K]), conv1d.bias, x_proj.weight,
 * dt_proj.weight, dt_proj.bias, A_log, D, out_proj.weight, out_proj.bias}` (Mamba-1) or
 * `…mixer.{in_proj.weight, in_proj.bias, conv1d.weight, conv1d.bias, dt_bias, A_log, D, norm.weight,
 * out_proj.weight, out_proj.bias}` (Mamba-2), `backbone.norm_f.weight`, and `lm_head.weight` only when untied;
 * biases only where the config has them. All F32, so reloading gives bit-identical weights.
 *
 * config.json has `model_type` "mamba" / "mamba2" and transformers' keys (hidden_size, state_size,
 * num_hidden_layers, vocab_size, conv_kernel, expand, intermediate_size (Mamba-1), time_step_rank, use_bias,
 * use_conv_bias, tie_word_embeddings, layer_norm_epsilon; Mamba-2: num_heads, head_dim, n_groups, chunk_size,
 * time_step_limit with ∞ written as `{"__float__": "Infinity"}` as transformers 5 does, rms_norm,
 * norm_before_gate), plus init-only keys with transformers' defaults.
 *
 * A model whose embedding has padded rows (a state-spaces checkpoint: `config.tokenVocabSize` < `vocabSize`) keeps
 * `vocab_size` = the embedding's rows (so transformers loads the tensors) and gets `"token_vocab_size": n`,
 * PerfMamba's key (read by `parseConfig`; transformers ignores it), so that the reloaded model still never chooses a
 * padded row as a token.
 *
 * Pruned models whose layers keep different state counts also get `"layer_state_sizes": [...]` (PerfMamba's
 * extension, read by `parseConfig`) with `state_size` the largest. Only checkpoints with one state size for every
 * layer are loadable by transformers; it ignores `layer_state_sizes` and would expect `state_size` everywhere.
 *
 * Mamba-2 models pruned with state bridges (PerfMamba-only: transformers cannot load them) also get, per bridged
 * layer i, `backbone.layers.{i}.mixer.state_bridge.weight` `[G·N′, G·N]` (C′ = C·bridgeᵀ after the conv; N′ the
 * kept states, N the original state size, which in_proj's and conv1d's C channels keep), and config.json gets
 * `"state_bridge_sizes": [N_0, N_1, …]` (N of each bridged layer, 0 for layers without a bridge).
 *
 * @param weights host weights (e.g. from `loadWeights` or `pruneWeights`)
 * @param options extra config keys (token ids of the original config) and safetensors metadata
 * @returns the contents of `config.json` and `model.safetensors`
 * @throws Error when a layer's state size or state bridge disagrees with the config, or layer count / arch is
 *   inconsistent.
 *
 * @example
 * ```ts
 * import { checkpointFiles, loadWeights, makeConfig, memorySource, syntheticWeights } from "@perfmamba/perfmamba";
 *
 * const weights = syntheticWeights(makeConfig("mamba1", { dModel: 32, nLayer: 2, vocabSize: 64 }), 4);
 * const files = checkpointFiles(weights);
 * const config = JSON.parse(files["config.json"]);
 * console.log(config.model_type, config.hidden_size, config.num_hidden_layers); // mamba 32 2
 *
 * // Reading the files back gives bit-identical weights.
 * const reloaded = await loadWeights(memorySource(files));
 * const same = reloaded.layers[1].inProj.data.every((v, i) => v === weights.layers[1].inProj.data[i]);
 * console.log(same, reloaded.config.tieEmbeddings); // true true
 * ```
 */
export function checkpointFiles(
  weights: MambaWeights<HostMatrix>,
  options: CheckpointWriteOptions = {},
): CheckpointFiles {
  const c = weights.config;
  const sizes = stateSizes(weights);
  const tied = weights.lmHead === null;
  const tensors: (TensorToWrite | RawTensorToWrite)[] = [];
  let quant: QuantizationConfig | null = null;
  // A quantized model's conv1d weight / bias and D as F16 where it holds them in f16 (exact: the values are halves
  // already; roundToHalf checks the range).
  const halfParams = weightsQuantFormat(weights) !== null && paramFormatOf(weights) === "f16";
  const putParam = (name: string, t: HostTensor | null, shape?: number[]): void => {
    if (!t || !halfParams) return put(name, t, shape);
    const bytes = new Uint8Array(new Float16Array(roundToHalf(t.data, name)).buffer);
    tensors.push({ name, dtype: "F16", shape: shape ?? [...t.shape], bytes });
  };
  const put = (name: string, t: HostMatrix | null, shape?: number[]): void => {
    if (!t) return;
    if (!isQuantized(t)) {
      tensors.push({ name, shape: shape ?? [...t.shape], data: t.data });
      return;
    }
    quant ??= {
      quant_method: QUANT_METHOD,
      bits: t.format === "q8_0" ? 8 : 4,
      block_size: 32,
      format: t.format,
      modules_quantized: [],
      param_dtype: halfParams ? "float16" : "float32",
    };
    if (t.format !== quant.format) {
      throw new Error(`checkpointFiles: ${name} is ${t.format} but other matrices are ${quant.format}`);
    }
    quant.modules_quantized.push(name.replace(/\.weight$/, ""));
    const { codes, scales } = splitBlocks(t);
    tensors.push({ name, ...codes }, { name: name + "_scale", ...scales });
  };
  put("backbone.embeddings.weight", weights.embedding);
  weights.layers.forEach((w, i) => {
    const p = `backbone.layers.${i}.mixer.`;
    put(`backbone.layers.${i}.norm.weight`, w.norm);
    put(`${p}in_proj.weight`, w.inProj);
    put(`${p}in_proj.bias`, w.inProjBias);
    putParam(`${p}conv1d.weight`, w.convWeight, [w.convWeight.shape[0], 1, w.convWeight.shape[1]]);
    putParam(`${p}conv1d.bias`, w.convBias);
    if (w.arch === "mamba1") {
      put(`${p}x_proj.weight`, w.xProj);
      put(`${p}dt_proj.weight`, w.dtProj);
      put(`${p}dt_proj.bias`, w.dtProjBias);
    } else {
      put(`${p}dt_bias`, w.dtBias);
      put(`${p}norm.weight`, w.gateNorm);
      put(`${p}state_bridge.weight`, w.bridge ?? null);
    }
    put(`${p}A_log`, w.aLog); // F32: the A_log whose A is a half (half_params.ts) is not a half itself
    putParam(`${p}D`, w.D);
    put(`${p}out_proj.weight`, w.outProj);
    put(`${p}out_proj.bias`, w.outProjBias);
  });
  put("backbone.norm_f.weight", weights.normF);
  put("lm_head.weight", weights.lmHead);
  const json: Record<string, unknown> = { ...configJson(c, sizes, tied), ...options.extraConfig };
  if (quant) json.quantization_config = quant;
  return {
    "config.json": configText(json) + "\n",
    "model.safetensors": writeSafetensors(tensors, options.metadata),
  };
}
