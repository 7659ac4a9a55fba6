/**
 * The normalised model configuration every other part of the runtime reads.
 *
 * Hugging Face (`model_type` "mamba" / "falcon_mamba" / "mamba2") and state-spaces (`d_model`, `n_layer`, `ssm_cfg`) configs are
 * both parsed into this one shape by {@link parseConfig} in `config_parse.ts`.
 *
 * @module
 */

/**
 * Which block the model stacks: Mamba-1 (selective scan) or Mamba-2 (SSD).
 *
 * @example
 * ```ts
 * import { type Arch, makeConfig } from "@perfmamba/perfmamba";
 *
 * for (const arch of ["mamba1", "mamba2"] satisfies Arch[]) {
 *   console.log(arch, makeConfig(arch, { dModel: 64, nLayer: 2 }).dState);
 * }
 * // mamba1 16
 * // mamba2 128
 * ```
 */
export type Arch = "mamba1" | "mamba2";

/**
 * Architecture-independent dimensions, plus the fields of each architecture.
 *
 * Made by {@link parseConfig} from a checkpoint's config.json, or by `makeConfig` / `presetConfig` from sizes.
 *
 * @example
 * ```ts
 * import { type MambaConfig, parseConfig } from "@perfmamba/perfmamba";
 *
 * const config: MambaConfig = parseConfig({
 *   model_type: "mamba2",
 *   hidden_size: 64,
 *   num_hidden_layers: 2,
 *   vocab_size: 256,
 *   state_size: 16,
 *   head_dim: 16,
 *   n_groups: 1,
 * }, "config.json");
 * console.log(config.arch, config.dInner, config.nHeads, config.source); // mamba2 128 8 huggingface
 * if (config.nHeads * config.headDim !== config.dInner) throw new Error("heads do not tile d_inner");
 * ```
 */
export interface MambaConfig {
  /** Block type. */
  arch: Arch;
  /** Residual stream width (HF `hidden_size`, state-spaces `d_model`). */
  dModel: number;
  /** Number of stacked blocks. */
  nLayer: number;
  /** Embedding rows (already padded to `pad_vocab_size_multiple` for state-spaces configs); the logits' width. */
  vocabSize: number;
  /**
   * Token ids the tokenizer can produce: the ids in [0, tokenVocabSize) are tokens, the embedding / lm_head rows
   * from tokenVocabSize to {@link vocabSize} are padding. A state-spaces config's `vocab_size` before padding to
   * `pad_vocab_size_multiple`; a Hugging Face config's `vocab_size`, or PerfMamba's `token_vocab_size` key (written
   * by `checkpointFiles` for a model whose rows are padded). Every token choice (`argmax`, `Sampler`, `generate`,
   * `MambaModel.greedy`, the backends' `argmaxInto`) picks ids below it; logits keep all {@link vocabSize} columns
   * (as transformers' and mamba_ssm's do, and so do the log-softmaxes of perplexity and eval).
   */
  tokenVocabSize: number;
  /** SSM state size N (HF `state_size`, state-spaces `d_state`). Pruned checkpoints may override per layer. */
  dState: number;
  /** Per-layer state sizes when they differ (pruned checkpoints); otherwise undefined and every layer has dState. */
  layerStateSizes?: number[];
  /**
   * Mamba-2 only, PerfMamba's bridged pruned checkpoints (config key `state_bridge_sizes`): per layer, the state
   * size N of the C that a bridged layer computes before its `state_bridge` maps it onto the N′ kept states (the
   * layer's pre-pruning state size), or 0 for a layer without a bridge. Undefined when no layer has one.
   */
  stateBridgeSizes?: number[];
  /** Causal conv1d kernel width (2..4). */
  dConv: number;
  /** Inner width = expand · dModel (HF `intermediate_size` for Mamba-1). */
  dInner: number;
  /** RMSNorm epsilon. */
  eps: number;
  /** in_proj / out_proj have a bias. */
  useBias: boolean;
  /** conv1d has a bias. */
  useConvBias: boolean;
  /** lm_head shares the embedding matrix. */
  tieEmbeddings: boolean;
  /** Mamba-1 only: rank of the Δ projection (dt_proj input width). */
  dtRank: number;
  /**
   * Mamba-1 only, set when the Δ rank was zero-padded to whole 32-weight blocks for quantization (`padDtRank`): the
   * original rank (dtRank is the padded one; the model computes the same function). Undefined otherwise.
   */
  dtRankPaddedFrom?: number;
  /**
   * Falcon-Mamba only (Hugging Face `model_type: "falcon_mamba"`): the epsilon of the weightless RMS norms that
   * normalise δ (the dt_rank slice, before dt_proj), B and C right after x_proj (`mixer_rms_eps`). Undefined for
   * every other model: no such norms.
   */
  bcdtNormEps?: number;
  /** Mamba-2 only: channels per head P. */
  headDim: number;
  /** Mamba-2 only: number of heads H = dInner / headDim. */
  nHeads: number;
  /** Mamba-2 only: number of B/C groups G (heads per group = H / G). */
  nGroups: number;
  /** Mamba-2 only: SSD chunk length Q for prefill. */
  chunkSize: number;
  /** Mamba-2 only: Δ is clamped to [min, max] after softplus (max may be Infinity). */
  timeStepLimit: [number, number];
  /**
   * Mamba-2 only: gated RMSNorm normalises before gating. Always false: a state-spaces config asking for true is
   * refused, and transformers ignores its (default-true) key, so a Hugging Face config yields false too.
   */
  normBeforeGate: boolean;
  /** Mamba-2 only: the gated RMSNorm normalises over groups of this many channels (dInner / nGroups). */
  normGroupSize: number;
  /** Where the config came from, for error messages and `info`. */
  source: "huggingface" | "state-spaces" | "builtin" | "gguf";
}

/** SSM state size of one layer, honouring per-layer sizes of pruned checkpoints. */
export function layerStateSize(config: MambaConfig, layer: number): number {
  return config.layerStateSizes?.[layer] ?? config.dState;
}

/** Original state size of a bridged Mamba-2 layer's C ({@link MambaConfig.stateBridgeSizes}); 0 without a bridge. */
export function layerBridgeSize(config: MambaConfig, layer: number): number {
  return config.stateBridgeSizes?.[layer] ?? 0;
}

/**
 * Per-group width of the C a layer computes in in_proj and conv1d: N of a bridged Mamba-2 layer (whose B and state
 * have N′ = {@link layerStateSize}), else the layer's state size.
 */
export function layerCStateSize(config: MambaConfig, layer: number): number {
  return layerBridgeSize(config, layer) || layerStateSize(config, layer);
}

/**
 * Conv channels of a layer: Mamba-1 convolves x (dInner); Mamba-2 convolves x, B and C (D + G·N′ + G·N_C, where a
 * bridged layer's C keeps its original width N_C and every other layer has N_C = N′).
 */
export function convChannels(config: MambaConfig, layer: number): number {
  if (config.arch === "mamba1") return config.dInner;
  return config.dInner + config.nGroups * (layerStateSize(config, layer) + layerCStateSize(config, layer));
}

/**
 * Output width of a layer's in_proj: [x | z] = 2·dInner (Mamba-1); [z | x | B | C | dt] = dInner + conv + H
 * (Mamba-2). The widest activation of a block, for sizing memory before running a long prefill.
 *
 * @example
 * ```ts
 * import { inProjWidth, makeConfig } from "@perfmamba/perfmamba";
 *
 * const m1 = makeConfig("mamba1", { dModel: 64, nLayer: 2, vocabSize: 256 });
 * console.log(inProjWidth(m1, 0)); // 256: x and z, 2 · d_inner
 * const m2 = makeConfig("mamba2", { dModel: 64, nLayer: 2, vocabSize: 256, dState: 16, headDim: 16 });
 * // z and x (128 each), B and C (16 each, one group), dt (8 heads)
 * if (inProjWidth(m2, 0) !== 128 + 128 + 16 + 16 + 8) throw new Error(`in_proj width ${inProjWidth(m2, 0)}`);
 * const bytes = 4 * 2048 * inProjWidth(m2, 0); // f32 in_proj output of a 2048-token prefill
 * console.log(bytes); // 2424832
 * ```
 */
export function inProjWidth(config: MambaConfig, layer: number): number {
  if (config.arch === "mamba1") return 2 * config.dInner;
  return config.dInner + convChannels(config, layer) + config.nHeads;
}
