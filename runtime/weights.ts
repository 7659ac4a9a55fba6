/**
 * Host-side (CPU, float32) weights of a Mamba model, one typed record per layer, in PyTorch layouts.
 *
 * `checkpoint.ts` builds these from a loaded checkpoint (any dtype → f32, state-spaces names → these fields);
 * pruning edits them; `model.ts` uploads them to a backend.
 *
 * @module
 */

import type { QuantizedMatrixData } from "./backend.ts";
import type { MambaConfig } from "./config.ts";

/**
 * A row-major float32 host tensor.
 *
 * @example
 * ```ts
 * import type { HostTensor } from "@perfmamba/perfmamba";
 *
 * const t: HostTensor = { shape: [2, 3], data: new Float32Array([0, 1, 2, 10, 11, 12]) };
 * const at = (row: number, col: number): number => t.data[row * t.shape[1] + col];
 * console.log(at(1, 2)); // 12
 * ```
 */
export interface HostTensor {
  /** Dimensions, outermost first. */
  shape: number[];
  /** Elements, row-major. */
  data: Float32Array;
}

/**
 * A weight matrix on the host: f32 ({@link HostTensor}, `[n, k]`) or block-quantized ({@link QuantizedMatrixData},
 * q8_0 / q4_0 blocks kept as they are). Only the big matrices of a quantized model ({@link MambaWeights} with
 * `M = HostMatrix`, from `quantizeWeights` or a quantized checkpoint) may be quantized.
 *
 * @example
 * ```ts
 * import { type HostMatrix, isQuantized } from "@perfmamba/perfmamba";
 *
 * const f32: HostMatrix = { shape: [2, 32], data: new Float32Array(64) };
 * const q8: HostMatrix = { format: "q8_0", n: 2, k: 32, blocks: new Uint8Array(2 * 34) };
 * console.log(isQuantized(f32), isQuantized(q8)); // false true
 * ```
 */
export type HostMatrix = HostTensor | QuantizedMatrixData;

/**
 * Whether a host matrix holds quantized blocks.
 *
 * @example
 * ```ts
 * import { isQuantized, makeConfig, quantizeWeights, syntheticWeights } from "@perfmamba/perfmamba";
 *
 * const config = makeConfig("mamba1", { dModel: 64, nLayer: 1, vocabSize: 64 });
 * const q8 = quantizeWeights(syntheticWeights(config, 1), { bits: 8 });
 * console.log(isQuantized(q8.layers[0].inProj), isQuantized(q8.embedding)); // true false
 * ```
 */
export function isQuantized(m: HostMatrix): m is QuantizedMatrixData {
  return "blocks" in m;
}

/** `[n, k]` of a host matrix, f32 or quantized. */
export function matrixShape(m: HostMatrix): [number, number] {
  return isQuantized(m) ? [m.n, m.k] : [m.shape[0], m.shape[1]];
}

/**
 * Mamba-1 mixer weights (d = dModel, D = dInner, N = layer state size, R = dtRank, K = dConv).
 *
 * @example
 * ```ts
 * import { makeConfig, type Mamba1LayerWeights, syntheticWeights } from "@perfmamba/perfmamba";
 *
 * const config = makeConfig("mamba1", { dModel: 32, nLayer: 1, vocabSize: 64 }); // D = 64, N = 16, R = 2
 * const layer = syntheticWeights(config, 0).layers[0] as Mamba1LayerWeights;
 * console.log(layer.arch, layer.inProj.shape, layer.xProj.shape, layer.aLog.shape); // mamba1 [ 128, 32 ] [ 34, 64 ] [ 64, 16 ]
 * // A = −exp(A_log) is negative, so the state decays.
 * if (!layer.aLog.data.every((v) => -Math.exp(v) < 0)) throw new Error("A must be negative");
 * ```
 */
export interface Mamba1LayerWeights<M extends HostMatrix = HostTensor> {
  /** Discriminator. */
  arch: "mamba1";
  /** `[d]` pre-mixer RMSNorm weight. */
  norm: HostTensor;
  /** `[2D, d]` in_proj: rows [0, D) produce x, rows [D, 2D) produce the gate z. */
  inProj: M;
  /** `[2D]` or null. */
  inProjBias: HostTensor | null;
  /** `[D, K]` depthwise conv weight (the checkpoint's `[D, 1, K]` squeezed). */
  convWeight: HostTensor;
  /** `[D]` or null. */
  convBias: HostTensor | null;
  /** `[R + 2N, D]` x_proj: rows [0, R) → Δ low-rank, [R, R+N) → B, [R+N, R+2N) → C. */
  xProj: M;
  /** `[D, R]` dt_proj weight. */
  dtProj: M;
  /** `[D]` dt_proj bias. */
  dtProjBias: HostTensor;
  /** `[D, N]` A_log (A = −exp(A_log)). */
  aLog: HostTensor;
  /** `[D]` skip. */
  D: HostTensor;
  /** `[d, D]` out_proj. */
  outProj: M;
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
 *
 * @example
 * ```ts
 * import { makeConfig, type Mamba2LayerWeights, syntheticWeights } from "@perfmamba/perfmamba";
 *
 * const config = makeConfig("mamba2", { dModel: 32, nLayer: 1, vocabSize: 64, dState: 8, headDim: 16 });
 * const layer = syntheticWeights(config, 0).layers[0] as Mamba2LayerWeights;
 * const { dInner: D, nGroups: G, dState: N, nHeads: H } = config; // 64, 1, 8, 4
 * console.log(layer.inProj.shape[0] === 2 * D + 2 * G * N + H); // true: rows [z | x | B | C | dt]
 * console.log(layer.convWeight.shape, layer.aLog.shape, layer.bridge ?? null); // [ 80, 4 ] [ 4 ] null
 * ```
 */
export interface Mamba2LayerWeights<M extends HostMatrix = HostTensor> {
  /** Discriminator. */
  arch: "mamba2";
  /** `[d]` pre-mixer RMSNorm weight. */
  norm: HostTensor;
  /** `[2D + 2GN + H, d]` in_proj (bridged: `[2D + G·N′ + G·N_C + H, d]`). */
  inProj: M;
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
  outProj: M;
  /** `[d]` or null. */
  outProjBias: HostTensor | null;
}

/**
 * Either layer kind; `arch` tells them apart.
 *
 * @example
 * ```ts
 * import { type LayerWeights, makeConfig, syntheticWeights } from "@perfmamba/perfmamba";
 *
 * // The SSM state size of a layer, read from its weights.
 * function stateSize(layer: LayerWeights, nGroups: number, dInner: number): number {
 *   if (layer.arch === "mamba1") return layer.aLog.shape[1]; // A_log is [D, N]
 *   return (layer.convWeight.shape[0] - dInner) / (2 * nGroups); // conv channels are D + 2GN
 * }
 *
 * for (const arch of ["mamba1", "mamba2"] as const) {
 *   const c = makeConfig(arch, { dModel: 32, nLayer: 1, vocabSize: 64, dState: 8, headDim: 16 });
 *   console.log(arch, stateSize(syntheticWeights(c).layers[0], c.nGroups, c.dInner));
 * }
 * // mamba1 8
 * // mamba2 8
 * ```
 */
export type LayerWeights<M extends HostMatrix = HostTensor> = Mamba1LayerWeights<M> | Mamba2LayerWeights<M>;

/**
 * Every weight of a model on the host: what `loadWeights` and `syntheticWeights` return (f32) and
 * `MambaModel.load` uploads. `MambaWeights<HostMatrix>` (from `quantizeWeights` or a quantized checkpoint) may hold
 * block-quantized matrices: in_proj, x_proj, dt_proj, out_proj, and the embedding / lm_head on request.
 *
 * @example
 * ```ts
 * import { makeConfig, MambaModel, type MambaWeights, selectBackend, syntheticWeights } from "@perfmamba/perfmamba";
 *
 * const weights: MambaWeights = syntheticWeights(makeConfig("mamba1", { dModel: 32, nLayer: 2, vocabSize: 64 }));
 * console.log(weights.embedding.shape, weights.layers.length, weights.lmHead); // [ 64, 32 ] 2 null (tied)
 *
 * // Host weights are plain data: edit them before uploading (here: silence layer 1's output projection).
 * weights.layers[1].outProj.data.fill(0);
 * const backend = await selectBackend("wasm", { threads: 1 });
 * const model = MambaModel.load(weights, backend);
 * console.log(model.parameterCount > 0); // true
 * model.dispose();
 * backend.dispose();
 * ```
 */
export interface MambaWeights<M extends HostMatrix = HostTensor> {
  /** Normalised configuration. */
  config: MambaConfig;
  /** `[vocab, d]` token embedding. */
  embedding: M;
  /** Blocks, in order. */
  layers: LayerWeights<M>[];
  /** `[d]` final RMSNorm weight. */
  normF: HostTensor;
  /** `[vocab, d]` untied lm_head, or null when tied to the embedding. */
  lmHead: M | null;
  /**
   * How the backends hold the per-channel SSM parameters A_log, conv1d's weight and bias, and D ({@link ParamFormat}).
   * Absent: f16 when a matrix is block-quantized, f32 otherwise (`paramFormatOf`, runtime/quantize.ts).
   */
  paramFormat?: ParamFormat;
}

/**
 * The storage of a model's per-channel SSM parameters (A_log, conv1d's weight and bias, D) on the backend: "f32", or
 * "f16" (the default of a quantized model: its host values are rounded to f16, and the kernels read the halves;
 * dt_bias and the norms stay f32). runtime/half_params.ts rounds them.
 *
 * @example
 * ```ts
 * import { makeConfig, paramFormatOf, quantizeWeights, syntheticWeights } from "@perfmamba/perfmamba";
 *
 * const f32 = syntheticWeights(makeConfig("mamba1", { dModel: 64, nLayer: 1, vocabSize: 64 }), 1);
 * console.log(paramFormatOf(f32), paramFormatOf(quantizeWeights(f32, { bits: 8 }))); // f32 f16
 * console.log(paramFormatOf(quantizeWeights(f32, { bits: 8, params: "f32" }))); // f32
 * ```
 */
export type ParamFormat = "f32" | "f16";

/**
 * State size of a layer (N′ of a bridged Mamba-2 layer), read from its weights: A_log's shape (Mamba-1), the
 * bridge's rows, or the conv channels (Mamba-2). Pruned layers may differ from config.dState.
 */
export function stateSizeOf(layer: LayerWeights<HostMatrix>, config: MambaConfig): number {
  if (layer.arch === "mamba1") return layer.aLog.shape[1];
  if (layer.bridge) return layer.bridge.shape[0] / config.nGroups;
  const convDim = layer.convWeight.shape[0];
  return (convDim - config.dInner) / (2 * config.nGroups);
}

/** Per-group width N_C of the C a layer computes: the bridge's input width, else its state size (Mamba-1 too). */
export function cStateSizeOf(layer: LayerWeights<HostMatrix>, config: MambaConfig): number {
  if (layer.arch === "mamba2" && layer.bridge) return layer.bridge.shape[1] / config.nGroups;
  return stateSizeOf(layer, config);
}
