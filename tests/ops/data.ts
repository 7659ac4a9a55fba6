/**
 * Deterministic test data for the op suite: pseudo-random values, views inside wider NaN-padded tensors (a kernel
 * reading outside its view poisons its result), token slices of batched rows, and f16-rounded weights.
 *
 * @module
 */
import type { Backend, QuantFormat, QuantizedMatrixData, Tensor, View } from "../../runtime/backend.ts";
import { dequantize, quantizeQ4_0, quantizeQ8_0 } from "../../runtime/ggml_types.ts";

/** Deterministic uniform values in [lo, hi) (xorshift32 seeded by `seed`). */
export function rand(count: number, seed: number, lo = -1, hi = 1): Float32Array {
  let s = (seed * 2654435761) >>> 0 || 1;
  const out = new Float32Array(count);
  for (let i = 0; i < count; i++) {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    out[i] = lo + (hi - lo) * (s / 4294967296);
  }
  return out;
}

/** Column padding around the blocks of {@link sideBySide}: NaN columns before and after. */
export interface Padding {
  left: number;
  right: number;
}

/**
 * Upload (rows, width_i) blocks side by side in one (rows, left + Σ width_i + right) tensor whose padding columns
 * hold NaN, and return the tensor and a view of each block: row strides and column offsets as the model's splits
 * of in_proj / x_proj outputs have them.
 */
export function sideBySide(
  be: Backend,
  rows: number,
  parts: Float32Array[],
  label: string,
  pad: Padding = { left: 1, right: 2 },
): { tensor: Tensor; views: View[] } {
  const widths = parts.map((p) => (rows > 0 ? p.length / rows : 0));
  const W = pad.left + widths.reduce((a, b) => a + b, 0) + pad.right;
  const data = new Float32Array(rows * W).fill(NaN);
  const views: { col: number; cols: number }[] = [];
  let col = pad.left;
  for (let i = 0; i < parts.length; i++) {
    for (let r = 0; r < rows; r++) data.set(parts[i].subarray(r * widths[i], (r + 1) * widths[i]), r * W + col);
    views.push({ col, cols: widths[i] });
    col += widths[i];
  }
  const tensor = be.upload(data, [rows, W], label);
  return { tensor, views: views.map((v) => ({ tensor, ...v })) };
}

/** Tokens [t0, t1) of every sequence of batch-major (batch·L, W) rows. */
export function tokens(
  a: ArrayLike<number>,
  batch: number,
  L: number,
  W: number,
  t0: number,
  t1: number,
): Float32Array {
  const out = new Float32Array(batch * (t1 - t0) * W);
  for (let b = 0; b < batch; b++) {
    for (let i = 0; i < (t1 - t0) * W; i++) out[b * (t1 - t0) * W + i] = a[(b * L + t0) * W + i];
  }
  return out;
}

/** Outputs of consecutive runs over token segments (each batch-major (batch·len, W)) put back into one run's order. */
export function joinSegments(parts: Float32Array[], lens: number[], batch: number, W: number): Float32Array {
  const L = lens.reduce((a, b) => a + b, 0);
  const out = new Float32Array(batch * L * W);
  let t0 = 0;
  parts.forEach((p, i) => {
    for (let b = 0; b < batch; b++) out.set(p.subarray(b * lens[i] * W, (b + 1) * lens[i] * W), (b * L + t0) * W);
    t0 += lens[i];
  });
  return out;
}

/** The weights f16 storage keeps: each rounded to the nearest f16. */
export function f16Rounded(w: Float32Array): Float32Array {
  return w.map((v) => Math.f16round(v));
}

/** int32 ids as the float tensor bits that argmaxInto writes and embedFrom reads. */
export function idBits(ids: readonly number[]): Float32Array {
  return new Float32Array(Int32Array.from(ids).buffer);
}

/** The int32 ids a tensor read back holds. */
export function bitsToIds(data: Float32Array): number[] {
  return Array.from(new Int32Array(data.buffer, data.byteOffset, data.length));
}

/**
 * A pseudo-random `[n, k]` weight quantized to `format` with ggml's quantizers, and its dequantized values (the
 * reference's weights). Rows have different magnitudes (so blocks have different scales); the first block is all
 * zero (scale 0), and where there are at least 3 blocks the third holds a tie of ±(largest magnitude) — the sign
 * ggml keeps decides q4_0's scale.
 */
export function quantWeights(
  format: QuantFormat,
  n: number,
  k: number,
  seed: number,
): { data: QuantizedMatrixData; values: Float32Array } {
  const w = rand(n * k, seed);
  for (let r = 0; r < n; r++) for (let i = 0; i < k; i++) w[r * k + i] *= 0.25 + (r % 7);
  w.fill(0, 0, 32);
  if (n * k >= 96) {
    w[64 + 5] = 2.5;
    w[64 + 20] = -2.5;
  }
  const blocks = format === "q8_0" ? quantizeQ8_0(w) : quantizeQ4_0(w);
  return { data: { format, n, k, blocks }, values: dequantize(blocks, format === "q8_0" ? "Q8_0" : "Q4_0", n * k) };
}
