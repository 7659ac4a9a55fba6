/**
 * Host-side (CPU, float32) weights of a Mamba model, one typed record per layer, in PyTorch layouts.
 *
 * `checkpoint.ts` builds these from a loaded checkpoint (any dtype → f32, state-spaces names → these fields);
 * pruning edits them; `model.ts` uploads them to a backend.
 *
 * @module
 */

import type { MambaConfig } from "./config.ts";

/** A row-major float32 host tensor. */
export interface HostTensor {
  /** Dimensions, outermost first. */
  shape: number[];
  /** Elements, row-major. */
  data: Float32Array;
}

/** Mamba-1 mixer weights (d = dModel, D = dInner, N = layer state size, R = dtRank, K = dConv). */
export interface Mamba1LayerWeights {
  /** Discriminator. */
  arch: "mamba1";
  /** `[d]` pre-mixer RMSNorm weight. */
  norm: HostTensor;
  /** `[2D, d]` in_proj: rows [0, D) produce x, rows [D, 2D) produce the gate z. */
  inProj: HostTensor;
  /** `[2D]` or null. */
  inProjBias: HostTensor | null;
  /** `[D, K]` depthwise conv weight (the checkpoint's `[D, 1, K]` squeezed). */
  convWeight: HostTensor;
  /** `[D]` or null. */
  convBias: HostTensor | null;
  /** `[R + 2N, D]` x_proj: rows [0, R) → Δ low-rank, [R, R+N) → B, [R+N, R+2N) → C. */
  xProj: HostTensor;
  /** `[D, R]` dt_proj weight. */
  dtProj: HostTensor;
  /** `[D]` dt_proj bias. */
  dtProjBias: HostTensor;
  /** `[D, N]` A_log (A = −exp(A_log)). */
  aLog: HostTensor;
  /** `[D]` skip. */
  D: HostTensor;
  /** `[d, D]` out_proj. */
  outProj: HostTensor;
  /** `[d]` or null. */
  outProjBias: HostTensor | null;
}

/**
 * Mamba-2 mixer weights (d = dModel, D = dInner = H·P, G = nGroups, N = layer state size, K = dConv).
 * in_proj rows are `[z (D), x (D), B (G·N), C (G·N), dt (H)]`; conv channels are `[x (D), B (G·N), C (G·N)]`.
 *
 * A bridged layer (pruned with a least-squares bridge, {@link Mamba2LayerWeights.bridge}) has state size N′ (B, A,
 * h) but still computes the full C of its original state size N_C: in_proj rows are `[z (D), x (D), B (G·N′),
 * C (G·N_C), dt (H)]` and conv channels `[x (D), B (G·N′), C (G·N_C)]`; the SSM reads C′ = bridge · C (G·N′).
 */
export interface Mamba2LayerWeights {
  /** Discriminator. */
  arch: "mamba2";
  /** `[d]` pre-mixer RMSNorm weight. */
  norm: HostTensor;
  /** `[2D + 2GN + H, d]` in_proj (bridged: `[2D + G·N′ + G·N_C + H, d]`). */
  inProj: HostTensor;
  /** `[2D + 2GN + H]` or null. */
  inProjBias: HostTensor | null;
  /** `[D + 2GN, K]` depthwise conv weight (bridged: `[D + G·N′ + G·N_C, K]`). */
  convWeight: HostTensor;
  /** `[D + 2GN]` or null. */
  convBias: HostTensor | null;
  /**
   * `[G·N′, G·N_C]` state bridge, or null / absent for an ordinary layer: the SSM's C is `C_conv · bridgeᵀ` (a linear
   * map of the conv output's C channels). Pruning with a least-squares bridge h ≈ W·h′ gives the block-diagonal
   * `blockdiag(Wᵀ, …, Wᵀ)` (one block per group), which is y = Σ_s C_s·h_s with C replaced by Wᵀ·C.
   */
  bridge?: HostTensor | null;
  /** `[H]` Δ bias. */
  dtBias: HostTensor;
  /** `[H]` A_log (A = −exp(A_log)). */
  aLog: HostTensor;
  /** `[H]` skip. */
  D: HostTensor;
  /** `[D]` gated RMSNorm weight. */
  gateNorm: HostTensor;
  /** `[d, D]` out_proj. */
  outProj: HostTensor;
  /** `[d]` or null. */
  outProjBias: HostTensor | null;
}

/** Either layer kind. */
export type LayerWeights = Mamba1LayerWeights | Mamba2LayerWeights;

/** Every weight of a model, f32, on the host. */
export interface MambaWeights {
  /** Normalised configuration. */
  config: MambaConfig;
  /** `[vocab, d]` token embedding. */
  embedding: HostTensor;
  /** Blocks, in order. */
  layers: LayerWeights[];
  /** `[d]` final RMSNorm weight. */
  normF: HostTensor;
  /** `[vocab, d]` untied lm_head, or null when tied to the embedding. */
  lmHead: HostTensor | null;
}

/**
 * State size of a layer (N′ of a bridged Mamba-2 layer), read from its weights: A_log's shape (Mamba-1), the
 * bridge's rows, or the conv channels (Mamba-2). Pruned layers may differ from config.dState.
 */
export function stateSizeOf(layer: LayerWeights, config: MambaConfig): number {
  if (layer.arch === "mamba1") return layer.aLog.shape[1];
  if (layer.bridge) return layer.bridge.shape[0] / config.nGroups;
  const convDim = layer.convWeight.shape[0];
  return (convDim - config.dInner) / (2 * config.nGroups);
}

/** Per-group width N_C of the C a layer computes: the bridge's input width, else its state size (Mamba-1 too). */
export function cStateSizeOf(layer: LayerWeights, config: MambaConfig): number {
  if (layer.arch === "mamba2" && layer.bridge) return layer.bridge.shape[1] / config.nGroups;
  return stateSizeOf(layer, config);
}
