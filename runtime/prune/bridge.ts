/**
 * The least-squares "bridging layer" of pruning: after removing states, the kept states h′ = h[keep] still evolve
 * exactly as before, and the full state is approximated linearly, h ≈ W·h′, with W (N × N′) minimising
 * Σ ‖h − W·h′‖² over the calibration samples: W = G[:, keep] · G[keep, keep]⁻¹ from the Gram matrix G = Σ h·hᵀ.
 * Since y = Σ_s C_s h_s ≈ (Wᵀ·C)ᵀ h′, the bridge amounts to replacing C by Wᵀ·C.
 *
 * @module
 */

import type { StateActivity } from "./calibrate.ts";
import type { Bridges, KeepSets } from "./types.ts";

/** Solve A·X = B for symmetric positive definite A (n × n) and B (n × m), row-major, by Cholesky. */
function solveSpd(a: Float64Array, b: Float64Array, n: number, m: number): Float64Array {
  const L = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j <= i; j++) {
      let s = a[i * n + j];
      for (let k = 0; k < j; k++) s -= L[i * n + k] * L[j * n + k];
      if (i === j) {
        if (!(s > 0)) throw new RangeError("bridge: the Gram matrix of the kept states is singular");
        L[i * n + i] = Math.sqrt(s);
      } else L[i * n + j] = s / L[j * n + j];
    }
  }
  const x = new Float64Array(b);
  for (let c = 0; c < m; c++) {
    for (let i = 0; i < n; i++) {
      let s = x[i * m + c];
      for (let k = 0; k < i; k++) s -= L[i * n + k] * x[k * m + c];
      x[i * m + c] = s / L[i * n + i];
    }
    for (let i = n - 1; i >= 0; i--) {
      let s = x[i * m + c];
      for (let k = i + 1; k < n; k++) s -= L[k * n + i] * x[k * m + c];
      x[i * m + c] = s / L[i * n + i];
    }
  }
  return x;
}

/**
 * Least-squares bridges for the kept states of every layer (row-major [N, N′]); `ridge` (relative to the mean
 * diagonal of G[keep, keep]) keeps the solve stable when kept states are nearly collinear.
 *
 * @example
 * ```ts
 * import {
 *   calibrate,
 *   fitBridges,
 *   makeConfig,
 *   MambaModel,
 *   pruneWeights,
 *   selectBackend,
 *   selectStates,
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
 * const keep = selectStates(activity, "delta_b", 0.5);
 * const bridges = fitBridges(activity, keep); // from the Gram matrices calibrate collected
 * console.log(bridges.map((w) => w?.length)); // [ 128, 128 ]: 16 × 8 per layer
 * // Kept states are reproduced exactly: row keep[j] of W is (almost) the unit vector e_j.
 * const w = bridges[0]!;
 * console.log(w[keep[0][0] * 8 + 0].toFixed(3)); // 1.000
 * const pruned = pruneWeights(weights, keep, { bridges }); // Mamba-1: folded into x_proj's C rows
 * console.log(pruned.config.dState); // 8
 * model.dispose();
 * backend.dispose();
 * ```
 */
export function fitBridges(activity: StateActivity, keep: KeepSets, ridge = 1e-6): Bridges {
  if (keep.length !== activity.stateSizes.length) {
    throw new RangeError(`bridge: ${keep.length} keep sets for ${activity.stateSizes.length} layers`);
  }
  return keep.map((k, l) => {
    const n = activity.stateSizes[l], m = k.length;
    const g = activity.gram[l].matrix;
    // A = G[k, k] + λI (m × m); B = G[k, :] (m × n); W = (A⁻¹ B)ᵀ.
    const A = new Float64Array(m * m), B = new Float64Array(m * n);
    let diag = 0;
    for (let i = 0; i < m; i++) diag += g[k[i] * n + k[i]];
    const lambda = ridge * (diag / m || 1);
    for (let i = 0; i < m; i++) {
      for (let j = 0; j < m; j++) A[i * m + j] = g[k[i] * n + k[j]] + (i === j ? lambda : 0);
      for (let j = 0; j < n; j++) B[i * n + j] = g[k[i] * n + j];
    }
    const X = solveSpd(A, B, m, n); // m × n
    const W = new Float64Array(n * m);
    for (let i = 0; i < n; i++) for (let j = 0; j < m; j++) W[i * m + j] = X[j * n + i];
    return W;
  });
}
