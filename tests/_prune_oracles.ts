/**
 * Float64 oracles of state pruning, computed from the layers of the independent reference forward
 * (./_reference_forward.ts) by the definitions written in PRUNING.md: every calibration score and the Gram matrix
 * of h, the per-layer and global selection, the least-squares bridge, the errors the bridge is meant to lower, and
 * the windowed perplexity `sweep` and `eval` report. Shared by the pruning, sweep and eval tests; nothing here
 * imports runtime/prune.
 *
 * @module
 */
import type { StateActivity } from "../runtime/prune/calibrate.ts";
import type { MambaWeights } from "../runtime/weights.ts";
import { type LayerTrace, referenceForward, type ReferenceOptions } from "./_reference_forward.ts";
import { silu } from "./ops/reference.ts";

/**
 * Oracle scores by PRUNING.md's definitions, averaged over all tokens of all sequences, and the Gram matrix of h over
 * every channel, or over `gramChannels` evenly spaced ones per token (channel ⌊i·d_inner / count⌋, as calibrate
 * documents for its default of 32).
 */
export function oracleActivity(weights: MambaWeights, seqs: number[][], gramChannels = Infinity): StateActivity {
  const cfg = weights.config, L = cfg.nLayer, N = cfg.dState;
  const zeros = () => Array.from({ length: L }, () => new Float64Array(N));
  const deltaB = zeros(), deltaA = zeros(), energy = zeros(), ghostU = zeros(), ghostC = zeros();
  const gram = Array.from({ length: L }, () => new Float64Array(N * N));
  const count = { dtTerms: 0, uTerms: 0, cTerms: 0, tokens: 0, gram: 0 };
  const counts = Array.from({ length: L }, () => ({ ...count }));
  for (const seq of seqs) {
    referenceForward(weights, seq, {
      layersOnly: true,
      onLayer: (l, tr) => {
        const { T, D, G, H, P } = tr, n = counts[l];
        const w = weights.layers[l];
        const outProj = w.outProj.data, dm = cfg.dModel;
        // ‖out_proj[:, d]‖²
        const cn = Array.from({ length: D }, (_, c) => {
          let s = 0;
          for (let i = 0; i < dm; i++) s += outProj[i * D + c] ** 2;
          return s;
        });
        for (let t = 0; t < T; t++) {
          // The gate multiplying y_d on its way to out_proj: SiLU(z) (Mamba-1); SiLU(z)·w / rms(y·SiLU(z)) over
          // the norm group (Mamba-2's gated RMSNorm, the rms held fixed).
          const gate = new Float64Array(D);
          if (w.arch === "mamba1") { for (let c = 0; c < D; c++) gate[c] = silu(tr.z[t * D + c]); }
          else {
            const gs = cfg.normGroupSize;
            for (let g0 = 0; g0 < D; g0 += gs) {
              let ss = 0;
              for (let c = g0; c < g0 + gs; c++) ss += (tr.y[t * D + c] * silu(tr.z[t * D + c])) ** 2;
              const rms = Math.sqrt(ss / gs + cfg.eps);
              for (let c = g0; c < g0 + gs; c++) gate[c] = silu(tr.z[t * D + c]) * w.gateNorm.data[c] / rms;
            }
          }
          for (let s = 0; s < N; s++) {
            // Δ·|B_s| over (token, Δ unit): channels (Mamba-1), heads reading their group's B (Mamba-2).
            for (let hd = 0; hd < H; hd++) {
              const g = Math.floor(hd / (H / G));
              deltaB[l][s] += tr.dt[t * H + hd] * Math.abs(tr.B[t * G * N + g * N + s]);
              if (w.arch === "mamba1") deltaA[l][s] += tr.dt[t * H + hd] * Math.abs(tr.A[hd * N + s]);
            }
            for (let g = 0; g < G; g++) ghostC[l][s] += tr.C[t * G * N + g * N + s] ** 2;
            for (let c = 0; c < D; c++) {
              const hd = Math.floor(c / P), g = Math.floor(hd / (H / G));
              const u = tr.dt[t * H + hd] * tr.B[t * G * N + g * N + s] * tr.x[t * D + c];
              ghostU[l][s] += u * u;
              energy[l][s] += cn[c] * (gate[c] * tr.C[t * G * N + g * N + s] * tr.h[(t * D + c) * N + s]) ** 2;
            }
          }
          const sampled = gramChannels >= D
            ? Array.from({ length: D }, (_, c) => c)
            : Array.from({ length: gramChannels }, (_, i) => Math.floor((i * D) / gramChannels));
          for (const c of sampled) {
            const v = tr.h.subarray((t * D + c) * N, (t * D + c + 1) * N);
            for (let i = 0; i < N; i++) for (let j = 0; j < N; j++) gram[l][i * N + j] += v[i] * v[j];
          }
        }
        n.dtTerms += T * H;
        n.uTerms += T * D;
        n.cTerms += T * G;
        n.tokens += T;
        n.gram += T * Math.min(D, gramChannels);
      },
    });
  }
  const mean = (a: Float64Array[], by: (l: number) => number) => a.map((row, l) => Array.from(row, (v) => v / by(l)));
  const eGhostC = mean(ghostC, (l) => counts[l].cTerms);
  return {
    arch: cfg.arch,
    stateSizes: Array(L).fill(N),
    sequences: seqs.length,
    tokens: seqs.reduce((a, s) => a + s.length, 0),
    scores: {
      delta_b: mean(deltaB, (l) => counts[l].dtTerms),
      delta_a: cfg.arch === "mamba1" ? mean(deltaA, (l) => counts[l].dtTerms) : null,
      energy: mean(energy, (l) => counts[l].tokens),
      ghost: mean(ghostU, (l) => counts[l].uTerms).map((row, l) => row.map((v, s) => v * eGhostC[l][s])),
    },
    gram: gram.map((matrix, l) => ({ matrix, samples: counts[l].gram })),
  };
}

/**
 * The selection PRUNING.md defines, written independently of select.ts: per layer the k = ⌊N·(1 − r)⌋ highest
 * scores; global: scores over the layer mean, the ⌊Σ N·(1 − r)⌋ highest over all layers, where each layer's best
 * state is always kept and the rest of the budget goes down the global ranking. Also returns the smallest relative
 * gap between a kept and a dropped score of the same ranking (a tie the test cannot decide).
 */
export function oracleSelect(scores: number[][], ratio: number, global: boolean): { keep: number[][]; margin: number } {
  const items = scores.flatMap((row, l) => {
    const mean = row.reduce((a, b) => a + b, 0) / row.length;
    return row.map((v, s) => ({ l, s, v: global ? v / mean : v }));
  });
  const chosen = new Set<string>();
  let margin = Infinity;
  const pick = (list: typeof items, k: number, forced: typeof items) => {
    const rest = list.filter((e) => !forced.includes(e)).sort((a, b) => b.v - a.v);
    const kept = [...forced, ...rest.slice(0, k - forced.length)];
    for (const e of kept) chosen.add(`${e.l}:${e.s}`);
    const lastKept = rest[k - forced.length - 1], firstDropped = rest[k - forced.length];
    if (lastKept && firstDropped) {
      margin = Math.min(margin, (lastKept.v - firstDropped.v) / Math.max(Math.abs(lastKept.v), 1e-300));
    }
  };
  if (global) {
    const budget = Math.floor(items.length * (1 - ratio) + 1e-9);
    const best = scores.map((_, l) => items.filter((e) => e.l === l).reduce((a, b) => (b.v > a.v ? b : a)));
    pick(items, budget, best);
  } else {
    scores.forEach((row, l) => pick(items.filter((e) => e.l === l), Math.floor(row.length * (1 - ratio) + 1e-9), []));
  }
  const keep = scores.map((row, l) => row.map((_, s) => s).filter((s) => chosen.has(`${l}:${s}`)));
  return { keep, margin };
}

/** Per layer: Σ_{t,d} ‖h − W·h′‖² (W null: plain removal, h ≈ h′ on the kept states and 0 elsewhere). */
export function stateError(tr: LayerTrace, keep: number[], W: Float64Array | null): number {
  const { T, D, N } = tr, m = keep.length;
  let e = 0;
  for (let r = 0; r < T * D; r++) {
    const h = tr.h.subarray(r * N, (r + 1) * N);
    for (let i = 0; i < N; i++) {
      let approx = 0;
      if (W) { for (let j = 0; j < m; j++) approx += W[i * m + j] * h[keep[j]]; }
      else approx = keep.includes(i) ? h[i] : 0;
      e += (h[i] - approx) ** 2;
    }
  }
  return e;
}

/** Per layer: Σ_{t,d} (y_dense − y_pruned)² = Σ (Σ_i C_i·(h_i − (W·h′)_i))², from the dense layer's trace. */
export function layerOutputError(tr: LayerTrace, keep: number[], W: Float64Array | null): number {
  const { T, D, N, G, H, P } = tr, m = keep.length;
  let e = 0;
  for (let t = 0; t < T; t++) {
    for (let d = 0; d < D; d++) {
      const g = Math.floor(Math.floor(d / P) / (H / G)), h = tr.h.subarray((t * D + d) * N, (t * D + d + 1) * N);
      let diff = 0;
      for (let i = 0; i < N; i++) {
        let approx = 0;
        if (W) { for (let j = 0; j < m; j++) approx += W[i * m + j] * h[keep[j]]; }
        else approx = keep.includes(i) ? h[i] : 0;
        diff += tr.C[t * G * N + g * N + i] * (h[i] - approx);
      }
      e += diff * diff;
    }
  }
  return e;
}

/**
 * The least-squares bridge from a Gram matrix G = Σ h·hᵀ (N × N) by its definition: W (N × N′) minimising
 * Σ ‖h − W·h′‖², i.e. W·(G[k, k] + λI) = G[:, k] with PRUNING.md's ridge λ = ridge · mean diagonal of G[k, k].
 * Solved by Gauss–Jordan elimination with partial pivoting (bridge.ts uses Cholesky).
 */
export function leastSquaresBridge(gram: ArrayLike<number>, N: number, keep: number[], ridge = 1e-6): Float64Array {
  const m = keep.length;
  const lambda = ridge * keep.reduce((a, s) => a + gram[s * N + s], 0) / m;
  // Augmented [A | Bᵀ] with A = G[k, k] + λI (m × m), Bᵀ = G[k, :] (m × N); solve A·X = Bᵀ, W = Xᵀ.
  const rows = keep.map((si, i) => [
    ...keep.map((sj, j) => gram[si * N + sj] + (i === j ? lambda : 0)),
    ...Array.from({ length: N }, (_, c) => gram[si * N + c]),
  ]);
  for (let col = 0; col < m; col++) {
    let p = col;
    for (let r = col + 1; r < m; r++) if (Math.abs(rows[r][col]) > Math.abs(rows[p][col])) p = r;
    [rows[col], rows[p]] = [rows[p], rows[col]];
    const piv = rows[col][col];
    for (let c = 0; c < m + N; c++) rows[col][c] /= piv;
    for (let r = 0; r < m; r++) {
      if (r === col) continue;
      const f = rows[r][col];
      for (let c = 0; c < m + N; c++) rows[r][c] -= f * rows[col][c];
    }
  }
  const W = new Float64Array(N * m);
  for (let i = 0; i < N; i++) for (let j = 0; j < m; j++) W[i * m + j] = rows[j][m + i];
  return W;
}

/**
 * Perplexity by its definition with `eval`'s and `sweep`'s protocol: the first `maxWindows` non-overlapping windows
 * of `windowLength` tokens (an incomplete tail dropped), each from a zero state, every token but a window's first
 * predicted from the reference forward's float64 logits: exp(Σ −log softmax(logits_t)[ids_{t+1}] / predictions).
 */
export function referencePerplexity(
  weights: MambaWeights,
  ids: number[],
  windowLength: number,
  maxWindows: number,
  options: Omit<ReferenceOptions, "onLayer"> = {},
): { ppl: number; nll: number; predictions: number } {
  const V = weights.config.vocabSize;
  let nll = 0, predictions = 0;
  const windows = Math.min(maxWindows, Math.floor(ids.length / windowLength));
  for (let w = 0; w < windows; w++) {
    const win = ids.slice(w * windowLength, (w + 1) * windowLength);
    const logits = referenceForward(weights, win, options);
    for (let t = 0; t + 1 < win.length; t++) {
      const row = logits.subarray(t * V, (t + 1) * V);
      const max = row.reduce((a, b) => Math.max(a, b), -Infinity);
      const lse = max + Math.log(row.reduce((a, v) => a + Math.exp(v - max), 0));
      nll += lse - row[win[t + 1]];
      predictions++;
    }
  }
  return { ppl: Math.exp(nll / predictions), nll, predictions };
}
