/**
 * An independent float64 host forward of a whole dense Mamba-1 / Mamba-2 model, written from the definitions (no
 * code shared with the runtime's mixers, kernels or pruning), that can also compute the PRUNED forward: per layer,
 * only the kept states contribute (y = Σ_{s ∈ keep} C_s·h_s + D·x), or with a least-squares bridge W ([N, N′],
 * h ≈ W·h′) y = Σ_i C_i·(W·h′)_i + D·x. States of a layer evolve independently (h_s depends only on x, Δ, A_s and
 * B_s), so the kept states of the pruned model follow the dense trajectories h[keep].
 *
 * Each layer can be observed through `onLayer` (its x after the conv, z, B, C, Δ, A, every dense state h_s over
 * time, the SSM output y and what out_proj receives): the pruning score oracles in tests/runtime/prune_select_test.ts
 * are computed from these by PRUNING.md's definitions.
 *
 * Checked against the fixtures' transformers logits in tests/runtime/prune_select_test.ts.
 *
 * @module
 */
import type { MambaWeights } from "../runtime/weights.ts";

/** One layer's quantities during a reference forward of T tokens (row-major, token first). */
export interface LayerTrace {
  arch: "mamba1" | "mamba2";
  T: number;
  /** d_inner. */
  D: number;
  /** State size of the dense layer. */
  N: number;
  /** B/C groups (1 for Mamba-1). */
  G: number;
  /** Heads (Mamba-2; D for Mamba-1, where every channel has its own Δ). */
  H: number;
  /** Channels per head (1 for Mamba-1). */
  P: number;
  /** x after the causal conv and SiLU, [T, D]. */
  x: Float64Array;
  /** The raw gate z, [T, D]. */
  z: Float64Array;
  /** B and C, [T, G·N] (group g's states at g·N + s). */
  B: Float64Array;
  C: Float64Array;
  /** Δ after softplus (and Mamba-2's clamp), [T, H]. */
  dt: Float64Array;
  /** A = −exp(A_log): [D, N] (Mamba-1) or [H] (Mamba-2). */
  A: Float64Array;
  /** Every dense state h_s of channel d at token t: [T, D, N]. */
  h: Float64Array;
  /** The SSM output of the (pruned / bridged) layer including the D·x skip, [T, D]. */
  y: Float64Array;
  /** out_proj's input: y·SiLU(z) (Mamba-1) or the gated RMSNorm of y (Mamba-2), [T, D]. */
  out: Float64Array;
}

/** What the reference forward computes besides the dense model. */
export interface ReferenceOptions {
  /** Per layer, the kept state indices of the dense layer (default: all). */
  keep?: number[][];
  /** Per layer, a bridge W [N, N′] (row-major, N′ = keep[l].length) or null: h ≈ W·h′. */
  bridges?: (Float64Array | null)[];
  /** Observes each layer. */
  onLayer?: (layer: number, trace: LayerTrace) => void;
  /** Stop after the last layer (no final norm and lm_head; returns an empty array): for oracles of the layers. */
  layersOnly?: boolean;
}

const silu = (v: number): number => v / (1 + Math.exp(-v));
const softplus = (v: number): number => (v > 20 ? v : Math.log1p(Math.exp(v)));

/** rows [r0, r0 + n) of W (·, k) applied to every token of u (T, k), plus bias[r0 + j]. */
function project(
  u: Float64Array,
  T: number,
  k: number,
  W: Float32Array,
  r0: number,
  n: number,
  bias: Float32Array | null,
) {
  const out = new Float64Array(T * n);
  for (let t = 0; t < T; t++) {
    for (let j = 0; j < n; j++) {
      const row = (r0 + j) * k, col = t * k;
      // Four partial sums (a plain dot product; unrolled only because the trained models' lm_head is large).
      let s0 = 0, s1 = 0, s2 = 0, s3 = 0, i = 0;
      for (; i + 3 < k; i += 4) {
        s0 += W[row + i] * u[col + i];
        s1 += W[row + i + 1] * u[col + i + 1];
        s2 += W[row + i + 2] * u[col + i + 2];
        s3 += W[row + i + 3] * u[col + i + 3];
      }
      for (; i < k; i++) s0 += W[row + i] * u[col + i];
      out[t * n + j] = (bias ? bias[r0 + j] : 0) + (s0 + s1) + (s2 + s3);
    }
  }
  return out;
}

function rmsNorm(x: Float64Array, w: Float32Array, T: number, d: number, eps: number): Float64Array {
  const out = new Float64Array(T * d);
  for (let t = 0; t < T; t++) {
    let ss = 0;
    for (let j = 0; j < d; j++) ss += x[t * d + j] ** 2;
    const r = 1 / Math.sqrt(ss / d + eps);
    for (let j = 0; j < d; j++) out[t * d + j] = x[t * d + j] * r * w[j];
  }
  return out;
}

/** SiLU(causal depthwise conv + bias) of the columns of src (T, C) from a zero history; w (C, K). */
function causalConvSilu(
  src: Float64Array,
  T: number,
  C: number,
  w: Float32Array,
  bias: Float32Array | null,
  K: number,
) {
  const out = new Float64Array(T * C);
  for (let c = 0; c < C; c++) {
    for (let t = 0; t < T; t++) {
      let s = bias ? bias[c] : 0;
      for (let k = 0; k < K; k++) {
        const src_t = t - (K - 1) + k;
        if (src_t >= 0) s += w[c * K + k] * src[src_t * C + c];
      }
      out[t * C + c] = silu(s);
    }
  }
  return out;
}

/** y[t, d] of the pruned / bridged SSM: Σ over kept (or bridged) states of C·h, plus the skip. */
function ssmOutput(
  tr: Omit<LayerTrace, "y" | "out">,
  skip: (t: number, d: number) => number,
  keep: number[],
  W: Float64Array | null,
): Float64Array {
  const { T, D, N, H, P } = tr;
  const y = new Float64Array(T * D);
  const m = keep.length;
  const hp = new Float64Array(m);
  for (let t = 0; t < T; t++) {
    for (let d = 0; d < D; d++) {
      const g = Math.floor(Math.floor(d / P) / (H / tr.G));
      const c0 = t * tr.G * N + g * N, h0 = (t * D + d) * N;
      let v = skip(t, d);
      if (W) {
        for (let j = 0; j < m; j++) hp[j] = tr.h[h0 + keep[j]];
        for (let i = 0; i < N; i++) {
          let hi = 0;
          for (let j = 0; j < m; j++) hi += W[i * m + j] * hp[j];
          v += tr.C[c0 + i] * hi;
        }
      } else for (const s of keep) v += tr.C[c0 + s] * tr.h[h0 + s];
      y[t * D + d] = v;
    }
  }
  return y;
}

/**
 * Float64 logits [T, vocab] of `weights` (a dense model: no per-layer sizes, no bridges, not Falcon-Mamba) on one
 * sequence `ids` from a zero state, with the states outside `options.keep` removed (and bridged, if given).
 */
export function referenceForward(weights: MambaWeights, ids: number[], options: ReferenceOptions = {}): Float64Array {
  const cfg = weights.config;
  if (cfg.layerStateSizes || cfg.stateBridgeSizes || cfg.bcdtNormEps !== undefined) {
    throw new Error("referenceForward: give the dense (unpruned, non-Falcon) weights and the keep sets instead");
  }
  const T = ids.length, d = cfg.dModel, D = cfg.dInner, N = cfg.dState, K = cfg.dConv;
  const emb = weights.embedding.data;
  let resid = new Float64Array(T * d);
  for (let t = 0; t < T; t++) for (let j = 0; j < d; j++) resid[t * d + j] = emb[ids[t] * d + j];
  weights.layers.forEach((layer, l) => {
    const keep = options.keep?.[l] ?? Array.from({ length: N }, (_, s) => s);
    const W = options.bridges?.[l] ?? null;
    const u = rmsNorm(resid, layer.norm.data, T, d, cfg.eps);
    const inBias = layer.inProjBias?.data ?? null;
    let trace: LayerTrace;
    if (layer.arch === "mamba1") {
      const R = cfg.dtRank;
      const xRaw = project(u, T, d, layer.inProj.data, 0, D, inBias);
      const z = project(u, T, d, layer.inProj.data, D, D, inBias);
      const x = causalConvSilu(xRaw, T, D, layer.convWeight.data, layer.convBias?.data ?? null, K);
      const dbl = project(x, T, D, layer.xProj.data, 0, R + 2 * N, null);
      const B = new Float64Array(T * N), C = new Float64Array(T * N), low = new Float64Array(T * R);
      for (let t = 0; t < T; t++) {
        for (let r = 0; r < R; r++) low[t * R + r] = dbl[t * (R + 2 * N) + r];
        for (let s = 0; s < N; s++) {
          B[t * N + s] = dbl[t * (R + 2 * N) + R + s];
          C[t * N + s] = dbl[t * (R + 2 * N) + R + N + s];
        }
      }
      const dt = project(low, T, R, layer.dtProj.data, 0, D, layer.dtProjBias.data).map(softplus);
      const A = Float64Array.from(layer.aLog.data, (v) => -Math.exp(v));
      const h = new Float64Array(T * D * N);
      for (let t = 0; t < T; t++) {
        for (let c = 0; c < D; c++) {
          for (let s = 0; s < N; s++) {
            const prev = t > 0 ? h[((t - 1) * D + c) * N + s] : 0;
            const delta = dt[t * D + c];
            h[(t * D + c) * N + s] = Math.exp(delta * A[c * N + s]) * prev + delta * B[t * N + s] * x[t * D + c];
          }
        }
      }
      const base = { arch: "mamba1" as const, T, D, N, G: 1, H: D, P: 1, x, z, B, C, dt, A, h };
      const y = ssmOutput(base, (t, c) => layer.D.data[c] * x[t * D + c], keep, W);
      const out = y.map((v, i) => v * silu(z[i]));
      trace = { ...base, y, out };
    } else {
      const G = cfg.nGroups, H = cfg.nHeads, P = cfg.headDim, GN = G * N, CC = D + 2 * GN;
      const z = project(u, T, d, layer.inProj.data, 0, D, inBias);
      const xbcRaw = project(u, T, d, layer.inProj.data, D, CC, inBias);
      const dtRaw = project(u, T, d, layer.inProj.data, D + CC, H, inBias);
      const xbc = causalConvSilu(xbcRaw, T, CC, layer.convWeight.data, layer.convBias?.data ?? null, K);
      const x = new Float64Array(T * D), B = new Float64Array(T * GN), C = new Float64Array(T * GN);
      for (let t = 0; t < T; t++) {
        for (let c = 0; c < D; c++) x[t * D + c] = xbc[t * CC + c];
        for (let i = 0; i < GN; i++) {
          B[t * GN + i] = xbc[t * CC + D + i];
          C[t * GN + i] = xbc[t * CC + D + GN + i];
        }
      }
      const [lo, hi] = cfg.timeStepLimit;
      const dt = dtRaw.map((v, i) => Math.min(hi, Math.max(lo, softplus(v + layer.dtBias.data[i % H]))));
      const A = Float64Array.from(layer.aLog.data, (v) => -Math.exp(v));
      const h = new Float64Array(T * D * N);
      for (let t = 0; t < T; t++) {
        for (let hd = 0; hd < H; hd++) {
          const g = Math.floor(hd / (H / G)), delta = dt[t * H + hd], decay = Math.exp(delta * A[hd]);
          for (let p = 0; p < P; p++) {
            const c = hd * P + p;
            for (let s = 0; s < N; s++) {
              const prev = t > 0 ? h[((t - 1) * D + c) * N + s] : 0;
              h[(t * D + c) * N + s] = decay * prev + delta * B[t * GN + g * N + s] * x[t * D + c];
            }
          }
        }
      }
      const base = { arch: "mamba2" as const, T, D, N, G, H, P, x, z, B, C, dt, A, h };
      const y = ssmOutput(base, (t, c) => layer.D.data[Math.floor(c / P)] * x[t * D + c], keep, W);
      // Gated RMSNorm (norm_before_gate = false) over groups of normGroupSize channels.
      const out = new Float64Array(T * D), gs = cfg.normGroupSize;
      for (let t = 0; t < T; t++) {
        for (let g0 = 0; g0 < D; g0 += gs) {
          let ss = 0;
          for (let c = g0; c < g0 + gs; c++) ss += (y[t * D + c] * silu(z[t * D + c])) ** 2;
          const r = 1 / Math.sqrt(ss / gs + cfg.eps);
          for (let c = g0; c < g0 + gs; c++) {
            out[t * D + c] = y[t * D + c] * silu(z[t * D + c]) * r * layer.gateNorm.data[c];
          }
        }
      }
      trace = { ...base, y, out };
    }
    options.onLayer?.(l, trace);
    const mixed = project(trace.out, T, D, layer.outProj.data, 0, d, layer.outProjBias?.data ?? null);
    resid = resid.map((v, i) => v + mixed[i]);
  });
  if (options.layersOnly) return new Float64Array(0);
  const hn = rmsNorm(resid, weights.normF.data, T, d, cfg.eps);
  const head = (weights.lmHead ?? weights.embedding).data;
  return project(hn, T, d, head, 0, cfg.vocabSize, null);
}
