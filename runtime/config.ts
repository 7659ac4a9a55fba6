/**
 * The normalised model configuration every other part of the runtime reads.
 *
 * Hugging Face (`model_type` "mamba" / "mamba2") and state-spaces (`d_model`, `n_layer`, `ssm_cfg`) configs are
 * both parsed into this one shape by {@link parseConfig} in `config_parse.ts`.
 *
 * @module
 */

/** Which block the model stacks. */
export type Arch = "mamba1" | "mamba2";

/** Architecture-independent dimensions, plus the fields of each architecture. */
export interface MambaConfig {
  /** Block type. */
  arch: Arch;
  /** Residual stream width (HF `hidden_size`, state-spaces `d_model`). */
  dModel: number;
  /** Number of stacked blocks. */
  nLayer: number;
  /** Embedding rows (already padded to `pad_vocab_size_multiple` for state-spaces configs). */
  vocabSize: number;
  /** SSM state size N (HF `state_size`, state-spaces `d_state`). Pruned checkpoints may override per layer. */
  dState: number;
  /** Per-layer state sizes when they differ (pruned checkpoints); otherwise undefined and every layer has dState. */
  layerStateSizes?: number[];
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
  /** Mamba-2 only: gated RMSNorm normalises before gating (false in every published model). */
  normBeforeGate: boolean;
  /** Mamba-2 only: the gated RMSNorm normalises over groups of this many channels (dInner / nGroups). */
  normGroupSize: number;
  /** Where the config came from, for error messages and `info`. */
  source: "huggingface" | "state-spaces" | "builtin";
}

/** SSM state size of one layer, honouring per-layer sizes of pruned checkpoints. */
export function layerStateSize(config: MambaConfig, layer: number): number {
  return config.layerStateSizes?.[layer] ?? config.dState;
}
