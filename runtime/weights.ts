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
 */
export interface Mamba2LayerWeights {
  /** Discriminator. */
  arch: "mamba2";
  /** `[d]` pre-mixer RMSNorm weight. */
  norm: HostTensor;
  /** `[2D + 2GN + H, d]` in_proj. */
  inProj: HostTensor;
  /** `[2D + 2GN + H]` or null. */
  inProjBias: HostTensor | null;
  /** `[D + 2GN, K]` depthwise conv weight. */
  convWeight: HostTensor;
  /** `[D + 2GN]` or null. */
  convBias: HostTensor | null;
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

/** State size of a layer, read from its A_log shape (pruned layers may differ from config.dState). */
export function stateSizeOf(layer: LayerWeights, config: MambaConfig): number {
  if (layer.arch === "mamba1") return layer.aLog.shape[1];
  const convDim = layer.convWeight.shape[0];
  return (convDim - config.dInner) / (2 * config.nGroups);
}
