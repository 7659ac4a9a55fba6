/**
 * Independent float64 references of every `Backend` op (runtime/backend.ts), written to read like the math, not
 * like the kernels: no chunking, no tiling, no shared code with either backend. Inputs are dense row-major arrays
 * (views and strides are the test's business); outputs are Float64Array (argmax: plain indices).
 *
 * @module
 */

/** Dense numeric array accepted by the references. */
export type Arr = ArrayLike<number>;

/** torch softplus (threshold 20). */
export function softplus(x: number): number {
  return x > 20 ? x : Math.log1p(Math.exp(x));
}

/** SiLU(x) = x / (1 + exp(−x)). */
export function silu(x: number): number {
  return x / (1 + Math.exp(-x));
}

/** a + b, element by element. */
export function addRef(a: Arr, b: Arr): Float64Array {
  return Float64Array.from(a, (v, i) => v + b[i]);
}

/** Index of the largest of the first `candidates` values of each row of x (rows, cols); the lowest among ties. */
export function argmaxRef(x: Arr, rows: number, cols: number, candidates = cols): number[] {
  const out: number[] = [];
  for (let r = 0; r < rows; r++) {
    let best = 0;
    for (let c = 1; c < candidates; c++) if (x[r * cols + c] > x[r * cols + best]) best = c;
    out.push(best);
  }
  return out;
}

/** (T, n) = x (T, k) · Wᵀ (W (n, k)) + bias (n). */
export function linearRef(x: Arr, W: Arr, bias: Arr | null, T: number, n: number, k: number): Float64Array {
  const out = new Float64Array(T * n);
  for (let t = 0; t < T; t++) {
    for (let j = 0; j < n; j++) {
      let s = bias ? bias[j] : 0;
      for (let i = 0; i < k; i++) s += x[t * k + i] * W[j * k + i];
      out[t * n + j] = s;
    }
  }
  return out;
}

/** (T, d) rows ids[t] of table (vocab, d): embed, embedFrom and gatherRows alike. */
export function embedRef(ids: Arr, table: Arr, d: number): Float64Array {
  const out = new Float64Array(ids.length * d);
  for (let t = 0; t < ids.length; t++) for (let j = 0; j < d; j++) out[t * d + j] = table[ids[t] * d + j];
  return out;
}

/** (T, d) x / sqrt(mean(x²) + eps) · w. */
export function rmsNormRef(x: Arr, w: Arr, T: number, d: number, eps: number): Float64Array {
  const out = new Float64Array(T * d);
  for (let t = 0; t < T; t++) {
    let ss = 0;
    for (let j = 0; j < d; j++) ss += x[t * d + j] ** 2;
    const r = 1 / Math.sqrt(ss / d + eps);
    for (let j = 0; j < d; j++) out[t * d + j] = x[t * d + j] * r * w[j];
  }
  return out;
}

/** Gated RMSNorm (norm_before_gate = false): g = y·SiLU(z), normalised per group of groupSize channels. */
export function gatedRmsNormRef(
  y: Arr,
  z: Arr,
  w: Arr,
  T: number,
  D: number,
  groupSize: number,
  eps: number,
): Float64Array {
  const out = new Float64Array(T * D);
  for (let t = 0; t < T; t++) {
    for (let g0 = 0; g0 < D; g0 += groupSize) {
      let ss = 0;
      for (let j = g0; j < g0 + groupSize; j++) {
        const g = y[t * D + j] * silu(z[t * D + j]);
        out[t * D + j] = g;
        ss += g * g;
      }
      const r = 1 / Math.sqrt(ss / groupSize + eps);
      for (let j = g0; j < g0 + groupSize; j++) out[t * D + j] *= r * w[j];
    }
  }
  return out;
}

/**
 * Causal depthwise conv1d + SiLU. x (batch·L, C), w (C, K), bias (C) | null, state (batch, C, K−1) oldest first.
 * Returns the output (batch·L, C) and the new state.
 */
export function conv1dRef(
  x: Arr,
  w: Arr,
  bias: Arr | null,
  state: Arr,
  batch: number,
  L: number,
  C: number,
  K: number,
): { out: Float64Array; state: Float64Array } {
  const out = new Float64Array(batch * L * C);
  const newState = new Float64Array(batch * C * (K - 1));
  for (let b = 0; b < batch; b++) {
    for (let c = 0; c < C; c++) {
      // The full input sequence: K−1 state values, then x.
      const seq: number[] = [];
      for (let i = 0; i < K - 1; i++) seq.push(state[(b * C + c) * (K - 1) + i]);
      for (let t = 0; t < L; t++) seq.push(x[(b * L + t) * C + c]);
      for (let t = 0; t < L; t++) {
        let s = bias ? bias[c] : 0;
        for (let j = 0; j < K; j++) s += w[c * K + j] * seq[t + j];
        out[(b * L + t) * C + c] = silu(s);
      }
      for (let i = 0; i < K - 1; i++) newState[(b * C + c) * (K - 1) + i] = seq[L + i];
    }
  }
  return { out, state: newState };
}

/**
 * Mamba-1 selective scan. u, delta, z (batch·L, D); A (D, N); B, C (batch·L, N); Dskip (D); state (batch, D, N).
 */
export function selectiveScanRef(
  u: Arr,
  delta: Arr,
  A: Arr,
  B: Arr,
  C: Arr,
  Dskip: Arr,
  z: Arr,
  state: Arr,
  batch: number,
  L: number,
  D: number,
  N: number,
): { out: Float64Array; state: Float64Array } {
  const out = new Float64Array(batch * L * D);
  const h = Float64Array.from(state);
  for (let b = 0; b < batch; b++) {
    for (let d = 0; d < D; d++) {
      const hs = (b * D + d) * N;
      for (let t = 0; t < L; t++) {
        const row = b * L + t;
        const dt = softplus(delta[row * D + d]);
        const uu = u[row * D + d];
        let y = 0;
        for (let n = 0; n < N; n++) {
          h[hs + n] = Math.exp(dt * A[d * N + n]) * h[hs + n] + dt * B[row * N + n] * uu;
          y += C[row * N + n] * h[hs + n];
        }
        out[row * D + d] = (y + Dskip[d] * uu) * silu(z[row * D + d]);
      }
    }
  }
  return { out, state: h };
}

/** Shapes of the SSD reference. */
export interface SsdShape {
  batch: number;
  L: number;
  H: number;
  P: number;
  G: number;
  N: number;
  dtMin: number;
  dtMax: number;
}

/**
 * Mamba-2 SSD as the plain recurrence. x (batch·L, H·P); dt (batch·L, H); dtBias, A, Dskip (H);
 * B, C (batch·L, G·N); state (batch, H, P, N).
 */
export function ssdRef(
  x: Arr,
  dt: Arr,
  dtBias: Arr,
  A: Arr,
  B: Arr,
  C: Arr,
  Dskip: Arr,
  state: Arr,
  s: SsdShape,
): { out: Float64Array; state: Float64Array } {
  const { batch, L, H, P, G, N } = s;
  const out = new Float64Array(batch * L * H * P);
  const h = Float64Array.from(state);
  for (let b = 0; b < batch; b++) {
    for (let hd = 0; hd < H; hd++) {
      const g = Math.floor(hd / (H / G));
      for (let t = 0; t < L; t++) {
        const row = b * L + t;
        const d = Math.min(Math.max(softplus(dt[row * H + hd] + dtBias[hd]), s.dtMin), s.dtMax);
        const dA = Math.exp(d * A[hd]);
        for (let p = 0; p < P; p++) {
          const xv = x[row * H * P + hd * P + p];
          const hs = ((b * H + hd) * P + p) * N;
          let y = 0;
          for (let n = 0; n < N; n++) {
            h[hs + n] = dA * h[hs + n] + d * xv * B[row * G * N + g * N + n];
            y += C[row * G * N + g * N + n] * h[hs + n];
          }
          out[row * H * P + hd * P + p] = y + Dskip[hd] * xv;
        }
      }
    }
  }
  return { out, state: h };
}
