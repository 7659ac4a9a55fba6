/**
 * Calibration for Δ-guided state pruning: run calibration sequences through the model, and for every layer recompute
 * its SSM on the host from the layer's own in_proj output (captured from the backend) to record per-state activity.
 *
 * Per layer l and state s (means over sequences, time, and channels or heads):
 * - `delta_b` (S0, the paper's score): E[Δ·|B_s|] — Δ is per channel (Mamba-1) or per head (Mamba-2).
 * - `delta_a` (S0, Mamba-1 only): E[Δ·|A[:, s]|].
 * - `energy` (S1): E_t Σ_d ‖out_proj[:, d]‖² · (g_{t,d} · C_{t,s} · h_{t,d,s})² — the squared local error of removing s,
 *   where g is the gate after the SSM: SiLU(z) for Mamba-1; SiLU(z)·w_d / rms(group) for Mamba-2's gated RMSNorm
 *   (its first-order effect). Cross terms between channels are dropped (out_proj column norms).
 * - `ghost` (S2, GHOST-style): E[(Δ·B_s·x)²] · E[C_s²].
 * - `gram`: Σ h_{t,·,:} h_{t,·,:}ᵀ over sampled (time, channel) pairs — the N × N Gram matrix a least-squares bridge
 *   h ≈ W·h′ is fitted from.
 *
 * The host recomputation follows the model's equations (runtime/model.ts) in float64 from a zero state per sequence
 * (Falcon-Mamba: with its weightless RMS norms of δ, B and C after x_proj, over the layer's states).
 *
 * @module
 */

import type { MambaConfig } from "../config.ts";
import { layerStateSize } from "../config.ts";
import type { MambaModel } from "../model.ts";
import type { LayerWeights, Mamba1LayerWeights, Mamba2LayerWeights, MambaWeights } from "../weights.ts";

/**
 * Score names of {@link StateActivity.scores}.
 *
 * @example
 * ```ts
 * import { ACTIVITY_SCORES } from "./calibrate.ts";
 *
 * console.log(ACTIVITY_SCORES); // [ "delta_b", "delta_a", "energy", "ghost" ]
 * // Each is also a ranking selectStates accepts (besides the "random" and "index" controls).
 * ```
 */
export const ACTIVITY_SCORES = ["delta_b", "delta_a", "energy", "ghost"] as const;

/**
 * A measured activity score.
 *
 * @example
 * ```ts
 * import {
 *   type ActivityScore,
 *   calibrate,
 *   makeConfig,
 *   MambaModel,
 *   selectBackend,
 *   syntheticWeights,
 * } from "@perfmamba/perfmamba";
 *
 * const config = makeConfig("mamba1", { dModel: 64, nLayer: 2, vocabSize: 256 });
 * const backend = await selectBackend("wasm", { threads: 1 });
 * const weights = syntheticWeights(config, 42); // the host weights calibrate reads
 * const model = MambaModel.load(weights, backend);
 * const sequences = [[1, 5, 9, 13, 17, 21, 25, 29], [2, 4, 8, 16, 32, 64, 128, 255]]; // calibration token ids
 * const activity = await calibrate(model, weights, sequences);
 *
 * // The most active state of layer 0 under each score.
 * const names: ActivityScore[] = ["delta_b", "delta_a", "energy", "ghost"];
 * for (const name of names) {
 *   const layer0 = activity.scores[name]?.[0]; // delta_a is null for Mamba-2
 *   if (layer0) console.log(name, layer0.indexOf(Math.max(...layer0)));
 * }
 * model.dispose();
 * backend.dispose();
 * ```
 */
export type ActivityScore = typeof ACTIVITY_SCORES[number];

/**
 * What {@link calibrate} measures: per layer, one value per state for each score.
 *
 * @example
 * ```ts
 * import {
 *   calibrate,
 *   makeConfig,
 *   MambaModel,
 *   selectBackend,
 *   type StateActivity,
 *   syntheticWeights,
 * } from "@perfmamba/perfmamba";
 *
 * const config = makeConfig("mamba2", { dModel: 64, nLayer: 2, vocabSize: 256, dState: 16, headDim: 16 });
 * const backend = await selectBackend("wasm", { threads: 1 });
 * const weights = syntheticWeights(config, 42); // the host weights calibrate reads
 * const model = MambaModel.load(weights, backend);
 * const sequences = [[1, 5, 9, 13, 17, 21, 25, 29], [2, 4, 8, 16, 32, 64, 128, 255]]; // calibration token ids
 * const activity: StateActivity = await calibrate(model, weights, sequences);
 *
 * console.log(activity.arch, activity.stateSizes, activity.sequences, activity.tokens); // mamba2 [ 16, 16 ] 2 16
 * console.log(activity.scores.delta_a); // null: Mamba-2's A is per head, not per state
 * const deltaB = activity.scores.delta_b!;
 * console.log(deltaB[1].map((v) => v.toFixed(3)).join(" ")); // layer 1: E[Δ·|B_s|] of each of its 16 states
 * const { matrix, samples } = activity.gram[0]; // Σ h·hᵀ over sampled (time, channel) pairs, 16 × 16
 * console.log(matrix.length, samples); // 256 512 (16 tokens × 32 sampled channels)
 * model.dispose();
 * backend.dispose();
 * ```
 */
export interface StateActivity {
  /** Architecture of the calibrated model. */
  arch: "mamba1" | "mamba2";
  /** State size of each layer. */
  stateSizes: number[];
  /** Calibration sequences run. */
  sequences: number;
  /** Tokens those sequences held. */
  tokens: number;
  /** scores[name][layer][state]; `delta_a` is null for Mamba-2 (A has no state index there). */
  scores: Record<ActivityScore, number[][] | null>;
  /** Per layer, the row-major N × N Gram matrix of h over sampled (time, channel) pairs, and how many were summed. */
  gram: { matrix: Float64Array; samples: number }[];
}

/**
 * Options of {@link calibrate}.
 *
 * @example
 * ```ts
 * import {
 *   type CalibrateOptions,
 *   makeConfig,
 *   MambaModel,
 *   selectBackend,
 *   syntheticWeights,
 * } from "@perfmamba/perfmamba";
 *
 * const config = makeConfig("mamba1", { dModel: 64, nLayer: 2, vocabSize: 256 });
 * const backend = await selectBackend("wasm", { threads: 1 });
 * const weights = syntheticWeights(config, 42); // the host weights calibrate reads
 * const model = MambaModel.load(weights, backend);
 * const sequences = [[1, 5, 9, 13, 17, 21, 25, 29], [2, 4, 8, 16, 32, 64, 128, 255]]; // calibration token ids
 *
 * let outputs = 0;
 * const options: CalibrateOptions = {
 *   gramChannels: 8, // fewer channels per token in the Gram matrix: faster on big models
 *   onProgress: (done, total) => console.log(`calibrated ${done}/${total} sequences`),
 *   onLayerOutput: (layer, out) => (outputs += out.length), // each layer's host-recomputed out_proj input
 * };
 * const activity = await calibrate(model, weights, sequences, options);
 * console.log(activity.gram[0].samples, outputs); // 128 (16 tokens × 8 channels) 4096 (2 layers × 16 tokens × 128)
 * model.dispose();
 * backend.dispose();
 * ```
 */
export interface CalibrateOptions {
  /** Channels (Mamba-1) or head channels (Mamba-2) sampled per token for the Gram matrix (default 32). */
  gramChannels?: number;
  /** Called after each sequence. */
  onProgress?: (done: number, total: number) => void;
  /**
   * Receives each layer's host-recomputed out_proj input (T × d_inner, after the gate / gated norm) for every
   * sequence — what the backend computed as "out_proj.in"; for checking the recomputation.
   */
  onLayerOutput?: (layer: number, out: Float64Array) => void;
}

const silu = (v: number) => v / (1 + Math.exp(-v));
const softplus = (v: number) => (v > 20 ? v : Math.log1p(Math.exp(v)));

/** Per-layer accumulators (sums; divided by counts at the end). */
interface Acc {
  deltaB: Float64Array;
  deltaA: Float64Array;
  energy: Float64Array;
  ghostX: Float64Array; // Σ (Δ·B_s·x)²
  ghostC: Float64Array; // Σ C_s²
  nDelta: number; // terms in deltaB / ghostX means
  nTime: number; // tokens (energy, ghostC means)
  gram: Float64Array;
  gramSamples: number;
}

function newAcc(n: number): Acc {
  return {
    deltaB: new Float64Array(n),
    deltaA: new Float64Array(n),
    energy: new Float64Array(n),
    ghostX: new Float64Array(n),
    ghostC: new Float64Array(n),
    nDelta: 0,
    nTime: 0,
    gram: new Float64Array(n * n),
    gramSamples: 0,
  };
}

/** Depthwise causal conv over channels [c0, c0 + C) of rows (T × width), from a zero history, then SiLU. */
function convSilu(
  rows: Float32Array,
  width: number,
  c0: number,
  C: number,
  T: number,
  w: Float32Array,
  b: Float32Array | null,
  K: number,
): Float64Array {
  const out = new Float64Array(T * C);
  for (let t = 0; t < T; t++) {
    for (let c = 0; c < C; c++) {
      let v = b ? b[c] : 0;
      for (let k = 0; k < K; k++) {
        const ts = t - (K - 1) + k;
        if (ts >= 0) v += w[c * K + k] * rows[ts * width + c0 + c];
      }
      out[t * C + c] = silu(v);
    }
  }
  return out;
}

/** x ← x / sqrt(mean(x²) + eps): a weightless RMS norm. */
function rmsNormInPlace(x: Float64Array, eps: number): void {
  let ss = 0;
  for (const v of x) ss += v * v;
  const inv = 1 / Math.sqrt(ss / x.length + eps);
  for (let i = 0; i < x.length; i++) x[i] *= inv;
}

/** Squared column norms of a row-major [rows, cols] matrix. */
function colNorms2(m: Float32Array, rows: number, cols: number): Float64Array {
  const out = new Float64Array(cols);
  for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) out[j] += m[i * cols + j] ** 2;
  return out;
}

/** Evenly spaced sample of `count` indices out of n (all when count ≥ n). */
function sampleIndices(n: number, count: number): number[] {
  if (count >= n) return Array.from({ length: n }, (_, i) => i);
  return Array.from({ length: count }, (_, i) => Math.floor((i * n) / count));
}

function mamba1Layer(
  w: Mamba1LayerWeights,
  cfg: MambaConfig,
  N: number,
  xz: Float32Array,
  T: number,
  acc: Acc,
  gramChannels: number,
  out: Float64Array | null,
): void {
  const D = cfg.dInner, R = cfg.dtRank, K = cfg.dConv;
  const width = 2 * D;
  const x = convSilu(xz, width, 0, D, T, w.convWeight.data, w.convBias?.data ?? null, K);
  const wx = w.xProj.data; // (R + 2N, D)
  const A = w.aLog.data.map((v) => -Math.exp(v)); // (D, N)
  const cn = colNorms2(w.outProj.data, cfg.dModel, D);
  const sampled = sampleIndices(D, gramChannels);
  const h = new Float64Array(D * N);
  const dbl = new Float64Array(R + 2 * N);
  const dt = new Float64Array(D);
  for (let t = 0; t < T; t++) {
    const xt = x.subarray(t * D, (t + 1) * D);
    for (let j = 0; j < R + 2 * N; j++) {
      let v = 0;
      for (let d = 0; d < D; d++) v += wx[j * D + d] * xt[d];
      dbl[j] = v;
    }
    if (cfg.bcdtNormEps !== undefined) {
      // Falcon-Mamba: weightless RMS norms of δ, B and C (each over its own width), as the model computes them.
      rmsNormInPlace(dbl.subarray(0, R), cfg.bcdtNormEps);
      rmsNormInPlace(dbl.subarray(R, R + N), cfg.bcdtNormEps);
      rmsNormInPlace(dbl.subarray(R + N, R + 2 * N), cfg.bcdtNormEps);
    }
    for (let d = 0; d < D; d++) {
      let v = w.dtProjBias.data[d];
      for (let r = 0; r < R; r++) v += w.dtProj.data[d * R + r] * dbl[r];
      dt[d] = softplus(v);
    }
    const B = dbl.subarray(R, R + N), C = dbl.subarray(R + N, R + 2 * N);
    for (let s = 0; s < N; s++) acc.ghostC[s] += C[s] * C[s];
    for (let d = 0; d < D; d++) {
      const g = silu(xz[t * width + D + d]);
      const wd = cn[d] * g * g;
      let y = w.D.data[d] * xt[d];
      for (let s = 0; s < N; s++) {
        const i = d * N + s;
        const u = dt[d] * B[s] * xt[d];
        h[i] = Math.exp(dt[d] * A[i]) * h[i] + u;
        acc.deltaB[s] += dt[d] * Math.abs(B[s]);
        acc.deltaA[s] += dt[d] * Math.abs(A[i]);
        acc.ghostX[s] += u * u;
        const c = C[s] * h[i];
        y += c;
        acc.energy[s] += wd * c * c;
      }
      if (out) out[t * D + d] = y * g;
    }
    acc.nDelta += D;
    acc.nTime += 1;
    for (const d of sampled) addOuter(acc.gram, h.subarray(d * N, (d + 1) * N), N);
    acc.gramSamples += sampled.length;
  }
}

function mamba2Layer(
  w: Mamba2LayerWeights,
  cfg: MambaConfig,
  N: number,
  zxbcdt: Float32Array,
  T: number,
  acc: Acc,
  gramChannels: number,
  out: Float64Array | null,
): void {
  const D = cfg.dInner, G = cfg.nGroups, H = cfg.nHeads, P = cfg.headDim, K = cfg.dConv;
  const GN = G * N, width = 2 * D + 2 * GN + H, C_ch = D + 2 * GN;
  const xbc = convSilu(zxbcdt, width, D, C_ch, T, w.convWeight.data, w.convBias?.data ?? null, K);
  const A = Array.from(w.aLog.data, (v) => -Math.exp(v));
  const [dtMin, dtMax] = cfg.timeStepLimit;
  const cn = colNorms2(w.outProj.data, cfg.dModel, D);
  const gs = cfg.normGroupSize;
  const heads = H / G;
  const sampled = sampleIndices(D, gramChannels);
  const h = new Float64Array(D * N); // channel d = head·P + p
  const y = new Float64Array(D);
  const dt = new Float64Array(H);
  for (let t = 0; t < T; t++) {
    const row = t * width;
    const xt = xbc.subarray(t * C_ch, t * C_ch + D);
    const Bt = xbc.subarray(t * C_ch + D, t * C_ch + D + GN);
    const Ct = xbc.subarray(t * C_ch + D + GN, t * C_ch + D + 2 * GN);
    for (let hd = 0; hd < H; hd++) {
      dt[hd] = Math.min(dtMax, Math.max(dtMin, softplus(zxbcdt[row + 2 * D + 2 * GN + hd] + w.dtBias.data[hd])));
    }
    for (let s = 0; s < GN; s++) acc.ghostC[s % N] += (Ct[s] * Ct[s]) / G;
    // State update and the SSM output (pre-gate, with the D skip) for the gated norm's rms.
    for (let hd = 0; hd < H; hd++) {
      const g = Math.floor(hd / heads);
      const decay = Math.exp(dt[hd] * A[hd]);
      for (let s = 0; s < N; s++) acc.deltaB[s] += dt[hd] * Math.abs(Bt[g * N + s]);
      for (let p = 0; p < P; p++) {
        const d = hd * P + p;
        let v = w.D.data[hd] * xt[d];
        for (let s = 0; s < N; s++) {
          const i = d * N + s;
          const u = dt[hd] * Bt[g * N + s] * xt[d];
          h[i] = decay * h[i] + u;
          acc.ghostX[s] += u * u;
          v += Ct[g * N + s] * h[i];
        }
        y[d] = v;
      }
    }
    // Gate factor of each channel: SiLU(z)·w / rms over its norm group of y·SiLU(z).
    for (let g0 = 0; g0 < D; g0 += gs) {
      let ss = 0;
      for (let d = g0; d < g0 + gs; d++) ss += (y[d] * silu(zxbcdt[row + d])) ** 2;
      const inv = 1 / Math.sqrt(ss / gs + cfg.eps);
      for (let d = g0; d < g0 + gs; d++) {
        const gate = silu(zxbcdt[row + d]) * w.gateNorm.data[d] * inv;
        if (out) out[t * D + d] = y[d] * gate;
        const wd = cn[d] * gate * gate;
        const g = Math.floor(Math.floor(d / P) / heads);
        for (let s = 0; s < N; s++) {
          const c = Ct[g * N + s] * h[d * N + s];
          acc.energy[s] += wd * c * c;
        }
      }
    }
    acc.nDelta += H;
    acc.nTime += 1;
    for (const d of sampled) addOuter(acc.gram, h.subarray(d * N, (d + 1) * N), N);
    acc.gramSamples += sampled.length;
  }
  // deltaB counts (t, head) terms, ghostX (t, head, p) terms: calibrate() divides by nDelta · headDim for the latter.
}

/** g += v vᵀ (upper and lower halves). */
function addOuter(g: Float64Array, v: Float64Array, n: number): void {
  for (let i = 0; i < n; i++) {
    const vi = v[i];
    if (vi === 0) continue;
    for (let j = 0; j < n; j++) g[i * n + j] += vi * v[j];
  }
}

/**
 * Run `sequences` (token ids) through `model` (whose host weights are `weights`) and measure per-state activity.
 *
 * @example
 * ```ts
 * import {
 *   calibrate,
 *   makeConfig,
 *   MambaModel,
 *   selectBackend,
 *   selectStates,
 *   syntheticWeights,
 * } from "@perfmamba/perfmamba";
 *
 * const config = makeConfig("mamba1", { dModel: 64, nLayer: 2, vocabSize: 256 });
 * const backend = await selectBackend("wasm", { threads: 1 });
 * const weights = syntheticWeights(config, 42); // or toHostWeights(checkpoint) for a real model
 * const model = MambaModel.load(weights, backend);
 * // Calibration data: a few tokenized text samples (here made-up ids).
 * const sequences = [[1, 5, 9, 13, 17, 21, 25, 29], [2, 4, 8, 16, 32, 64, 128, 255]];
 * const activity = await calibrate(model, weights, sequences);
 * console.log(activity.tokens, activity.scores.delta_b!.length); // 16 2 (tokens seen, layers scored)
 * const keep = selectStates(activity, "delta_b", 0.5); // the next step: which states to keep
 * console.log(keep.map((k) => k.length)); // [ 8, 8 ]
 * model.dispose();
 * backend.dispose();
 * ```
 *
 * @throws RangeError on an empty calibration set or weights that do not match the model.
 */
export async function calibrate(
  model: MambaModel,
  weights: MambaWeights,
  sequences: number[][],
  options: CalibrateOptions = {},
): Promise<StateActivity> {
  const cfg = model.config;
  if (sequences.length === 0 || sequences.some((s) => s.length === 0)) {
    throw new RangeError("calibrate: give at least one non-empty calibration sequence");
  }
  if (weights.layers.length !== cfg.nLayer || weights.config.arch !== cfg.arch) {
    throw new RangeError("calibrate: the host weights do not belong to this model");
  }
  if (cfg.stateBridgeSizes?.some((n) => n > 0)) {
    throw new RangeError("calibrate: this model already has state bridges; calibrate the model it was pruned from");
  }
  const sizes = Array.from({ length: cfg.nLayer }, (_, l) => layerStateSize(cfg, l));
  const accs = sizes.map((n) => newAcc(n));
  const gramChannels = options.gramChannels ?? 32;
  let tokens = 0;
  for (const [i, seq] of sequences.entries()) {
    const captured: Float32Array[] = new Array(cfg.nLayer);
    const { state } = await model.prefill(seq, {
      lastOnly: true,
      hooks: {
        capture: async (name, layer, t) => {
          if (name === "in_proj.out") captured[layer] = await model.backend.read(t);
        },
      },
    });
    state.dispose();
    for (let l = 0; l < cfg.nLayer; l++) {
      const w: LayerWeights = weights.layers[l];
      const out = options.onLayerOutput ? new Float64Array(seq.length * cfg.dInner) : null;
      if (w.arch === "mamba1") mamba1Layer(w, cfg, sizes[l], captured[l], seq.length, accs[l], gramChannels, out);
      else mamba2Layer(w, cfg, sizes[l], captured[l], seq.length, accs[l], gramChannels, out);
      if (out) options.onLayerOutput!(l, out);
    }
    tokens += seq.length;
    options.onProgress?.(i + 1, sequences.length);
  }
  const mamba1 = cfg.arch === "mamba1";
  const perChannel = mamba1 ? 1 : cfg.headDim; // ghostX terms per Δ term
  const mean = (f: (a: Acc) => Float64Array, n: (a: Acc) => number) =>
    accs.map((a) => Array.from(f(a), (v) => v / n(a)));
  const ghostX = mean((a) => a.ghostX, (a) => a.nDelta * perChannel);
  const ghostC = mean((a) => a.ghostC, (a) => a.nTime);
  return {
    arch: cfg.arch,
    stateSizes: sizes,
    sequences: sequences.length,
    tokens,
    scores: {
      delta_b: mean((a) => a.deltaB, (a) => a.nDelta),
      delta_a: mamba1 ? mean((a) => a.deltaA, (a) => a.nDelta) : null,
      energy: mean((a) => a.energy, (a) => a.nTime),
      ghost: ghostX.map((row, l) => row.map((v, s) => v * ghostC[l][s])),
    },
    gram: accs.map((a) => ({ matrix: a.gram, samples: a.gramSamples })),
  };
}
