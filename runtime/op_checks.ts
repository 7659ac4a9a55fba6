/**
 * Argument checks every backend runs before an op: shapes, widths, row counts and id ranges, from the public
 * fields of {@link Tensor}, {@link View} and {@link Matrix} only. A backend adds its own ownership checks (is this
 * handle mine, was it freed); what the caller got wrong is said here once, with the same words on every backend.
 * Each check throws a RangeError whose message starts with the op's name and names the offending tensor.
 *
 * @module
 */

import {
  type Matrix,
  QUANT_BLOCK_BYTES,
  type QuantizedMatrixData,
  type SelectiveScanArgs,
  type SsdArgs,
  type SyntheticUniform,
  type Tensor,
  type View,
} from "./backend.ts";
import { checkSampling, type TokenChoice } from "./sampling.ts";

function shapeStr(shape: readonly number[]): string {
  return `[${shape.join(", ")}]`;
}

/** Rows of a view's 2-D tensor (throws unless 2-D). */
function viewRows(op: string, v: View): number {
  const s = v.tensor.shape;
  if (s.length !== 2) throw new RangeError(`${op}: "${v.tensor.label}" must be 2-D, got ${shapeStr(s)}`);
  return s[0];
}

/** Elements of a shape; throws unless every dimension is a whole number ≥ 0. */
export function checkShape(label: string, shape: readonly number[]): number {
  let size = 1;
  for (const d of shape) {
    if (!Number.isInteger(d) || d < 0) throw new RangeError(`${label}: invalid shape ${shapeStr(shape)}`);
    size *= d;
  }
  return size;
}

/** `upload`: as many values as the shape holds. Returns the size. */
export function checkUpload(data: ArrayLike<number>, shape: readonly number[], label: string): number {
  const size = checkShape(`upload(${label})`, shape);
  if (data.length !== size) {
    throw new RangeError(`upload(${label}): ${data.length} values for shape ${shapeStr(shape)} (${size})`);
  }
  return size;
}

/** `uploadHalf`: as `upload`, and every value a finite half once rounded (|x| < 65520, the f16 overflow bound). */
export function checkUploadHalf(data: ArrayLike<number>, shape: readonly number[], label: string): number {
  const size = checkUpload(data, shape, label);
  for (let i = 0; i < data.length; i++) {
    if (!(Math.abs(data[i]) < 65520)) {
      throw new RangeError(`uploadHalf(${label}): ${data[i]} at index ${i} is not a finite f16 once rounded`);
    }
  }
  return size;
}

/** `uploadQuantizedMatrix`: k a multiple of 32, exactly n · (k / 32) blocks of the format's size. */
export function checkUploadQuantized(data: QuantizedMatrixData, label: string): void {
  const op = `uploadQuantizedMatrix(${label})`;
  if (!(data.format in QUANT_BLOCK_BYTES)) throw new RangeError(`${op}: unknown format ${String(data.format)}`);
  checkShape(op, [data.n, data.k]);
  if (data.k % 32 !== 0) throw new RangeError(`${op}: k = ${data.k} is not a multiple of the block size 32`);
  const want = data.n * (data.k / 32) * QUANT_BLOCK_BYTES[data.format];
  if (data.blocks.byteLength !== want) {
    throw new RangeError(
      `${op}: ${data.blocks.byteLength} bytes of ${data.format} blocks for [${data.n}, ${data.k}] (want ${want})`,
    );
  }
}

/** `uploadMatrix`: n·k values. */
export function checkUploadMatrix(data: ArrayLike<number>, n: number, k: number, label: string): void {
  checkShape(`uploadMatrix(${label})`, [n, k]);
  if (data.length !== n * k) throw new RangeError(`uploadMatrix(${label}): ${data.length} values for [${n}, ${k}]`);
}

/** `generateUniform` / `generateUniformMatrix`: a u32 key and a finite f32 half-range. */
export function checkSyntheticUniform(u: SyntheticUniform, op: string): void {
  if (!(Number.isInteger(u.key) && u.key >= 0 && u.key < 2 ** 32)) {
    throw new RangeError(`${op}: key ${u.key} is not a u32`);
  }
  if (!(Number.isFinite(u.scale) && Math.fround(u.scale) === u.scale)) {
    throw new RangeError(`${op}: scale ${u.scale} is not a finite f32`);
  }
}

/** `embed`: every id is a row of the table. */
export function checkEmbed(ids: Int32Array, table: Matrix): void {
  for (let i = 0; i < ids.length; i++) {
    const id = ids[i];
    if (!(id >= 0 && id < table.n)) {
      throw new RangeError(`embed(${table.label}): token id ${id} at position ${i} is outside [0, ${table.n})`);
    }
  }
}

/** `argmaxInto` / `embedFrom`: `count` ids from `offset` lie inside the ids tensor. */
export function checkIdRange(op: string, ids: Tensor, offset: number, count: number): void {
  if (
    !(Number.isInteger(offset) && offset >= 0 && Number.isInteger(count) && count >= 0 && offset + count <= ids.size)
  ) {
    throw new RangeError(
      `${op}: ${count} ids from ${offset} do not fit "${ids.label}" (${ids.size} values): outside [0, ${ids.size})`,
    );
  }
}

/** `argmaxInto`: the candidate count `cols` lies in [1, width] of rows `width` wide (default: all). Returns it. */
export function checkArgmaxCols(x: Tensor, cols: number | undefined): number {
  const width = x.shape[x.shape.length - 1];
  const n = cols ?? width;
  if (!(Number.isInteger(n) && n >= 1 && n <= width)) {
    throw new RangeError(
      `argmaxInto: cols must be a whole number in [1, ${width}] (the width of "${x.label}"), got ${n}`,
    );
  }
  return n;
}

/**
 * `sampleInto`: the choice's options are valid, `rows` draws from `drawOffset` fit `draws`, and `seen` holds
 * `rows × ⌈cols / 32⌉` words. Returns the words per row.
 */
export function checkSampleInto(
  choice: TokenChoice,
  draws: Tensor,
  drawOffset: number,
  seen: Tensor,
  rows: number,
  cols: number,
): number {
  checkSampling(choice);
  checkIdRange("sampleInto (draws)", draws, drawOffset, rows);
  const words = Math.ceil(cols / 32);
  if (seen.size < rows * words) {
    throw new RangeError(
      `sampleInto: "${seen.label}" holds ${seen.size} words, fewer than ${rows} rows × ${words} (⌈${cols} / 32⌉)`,
    );
  }
  return words;
}

/** `rmsNorm`: one weight per column. Returns rows and columns. */
export function checkRmsNorm(x: Tensor, weight: Tensor): { rows: number; cols: number } {
  const cols = x.shape[x.shape.length - 1];
  if (weight.size !== cols) {
    throw new RangeError(`rmsNorm: weight "${weight.label}" has ${weight.size} values, expected ${cols}`);
  }
  return { rows: cols === 0 ? 0 : x.size / cols, cols };
}

/** `add`: equal sizes. */
export function checkAdd(a: Tensor, b: Tensor): void {
  if (a.size !== b.size) {
    throw new RangeError(`add: "${a.label}" ${shapeStr(a.shape)} and "${b.label}" ${shapeStr(b.shape)} differ`);
  }
}

/** `linear`: the view's width is the matrix's k, the bias has n values. Returns the rows. */
export function checkLinear(x: View, w: Matrix, bias: Tensor | null | undefined): number {
  const rows = viewRows(`linear(${w.label})`, x);
  if (x.cols !== w.k) throw new RangeError(`linear(${w.label}): input has ${x.cols} columns, matrix expects ${w.k}`);
  if (bias && bias.size !== w.n) {
    throw new RangeError(`linear(${w.label}): bias "${bias.label}" has ${bias.size} values, not ${w.n}`);
  }
  return rows;
}

/** `gatherRows`: every row index exists. Returns the rows and columns of x. */
export function checkGatherRows(x: Tensor, rows: Int32Array): { rows: number; cols: number } {
  const R = x.shape[0] ?? 0;
  const cols = R === 0 ? 0 : x.size / R;
  for (let i = 0; i < rows.length; i++) {
    if (!(rows[i] >= 0 && rows[i] < R)) {
      throw new RangeError(`gatherRows(${x.label}): row ${rows[i]} outside [0, ${R})`);
    }
  }
  return { rows: R, cols };
}

/** `conv1d`: weight `[C, K]`, state `[batch, C, K−1]`, batch·seqLen rows. Returns C and K. */
export function checkConv1d(
  x: View,
  weight: Tensor,
  bias: Tensor | null,
  state: Tensor,
  batch: number,
  seqLen: number,
): { C: number; K: number } {
  const rows = viewRows("conv1d", x);
  const C = x.cols;
  const K = weight.shape[weight.shape.length - 1];
  if (!Number.isInteger(K) || K < 1 || weight.size !== C * K) {
    throw new RangeError(`conv1d: weight "${weight.label}" ${shapeStr(weight.shape)} is not [${C}, K]`);
  }
  if (bias && bias.size !== C) throw new RangeError(`conv1d: bias "${bias.label}" has ${bias.size} values, not ${C}`);
  if (state.size !== batch * C * (K - 1)) {
    throw new RangeError(
      `conv1d: state "${state.label}" has ${state.size} values, expected [${batch}, ${C}, ${K - 1}]`,
    );
  }
  if (rows !== batch * seqLen) throw new RangeError(`conv1d: ${rows} rows for batch ${batch} × seqLen ${seqLen}`);
  return { C, K };
}

/** `selectiveScan`: D channels (u, Δ, z, D skip), N states (B, C), A `[D, N]`, state `[batch, D, N]`, T rows. */
export function checkSelectiveScan(a: SelectiveScanArgs): { T: number; D: number; N: number } {
  const op = "selectiveScan";
  const D = a.u.cols, N = a.B.cols, T = a.batch * a.seqLen;
  if (a.C.cols !== N || a.A.size !== D * N) {
    throw new RangeError(
      `${op}: A "${a.A.label}" ${shapeStr(a.A.shape)} does not match D = ${D}, B/C widths ${N}/${a.C.cols}`,
    );
  }
  if (a.delta.cols !== D || a.z.cols !== D || a.D.size !== D) {
    throw new RangeError(`${op}: delta, z and D must have ${D} channels`);
  }
  if (a.state.size !== a.batch * D * N) {
    throw new RangeError(`${op}: state "${a.state.label}" is not [${a.batch}, ${D}, ${N}]`);
  }
  for (const v of [a.u, a.delta, a.B, a.C, a.z]) {
    const rows = viewRows(op, v);
    if (rows !== T) throw new RangeError(`${op}: "${v.tensor.label}" has ${rows} rows, expected ${T}`);
  }
  return { T, D, N };
}

/** `ssd`: widths H·P, H and G·N, G divides H, per-head dtBias / A / D, state `[batch, H, P, N]`, T rows. */
export function checkSsd(a: SsdArgs): { T: number; H: number; P: number; G: number; N: number } {
  const op = "ssd";
  const { nHeads: H, headDim: P, nGroups: G, dState: N } = a;
  const T = a.batch * a.seqLen;
  if (!(G >= 1) || H % G !== 0) throw new RangeError(`${op}: nHeads ${H} is not a multiple of nGroups ${G}`);
  if (a.x.cols !== H * P || a.dt.cols !== H || a.B.cols !== G * N || a.C.cols !== G * N) {
    throw new RangeError(
      `${op}: views must have widths H·P=${H * P}, H=${H}, G·N=${G * N} (x ${a.x.cols}, dt ${a.dt.cols}, ` +
        `B ${a.B.cols}, C ${a.C.cols})`,
    );
  }
  if (a.dtBias.size !== H || a.A.size !== H || a.D.size !== H) {
    throw new RangeError(`${op}: dtBias, A and D must have ${H} values`);
  }
  if (a.state.size !== a.batch * H * P * N) {
    throw new RangeError(`${op}: state "${a.state.label}" is not [${a.batch}, ${H}, ${P}, ${N}]`);
  }
  for (const v of [a.x, a.dt, a.B, a.C]) {
    const rows = viewRows(op, v);
    if (rows !== T) throw new RangeError(`${op}: "${v.tensor.label}" has ${rows} rows, expected ${T}`);
  }
  if (!(a.chunkSize >= 1)) throw new RangeError(`${op}: chunkSize must be ≥ 1, got ${a.chunkSize}`);
  return { T, H, P, G, N };
}

/** `gatedRmsNorm`: z `[T, D]` like y, one weight per channel, groupSize divides D. Returns T and D. */
export function checkGatedRmsNorm(y: Tensor, z: View, weight: Tensor, groupSize: number): { T: number; D: number } {
  const op = "gatedRmsNorm";
  if (y.shape.length !== 2) throw new RangeError(`${op}: "${y.label}" must be 2-D, got ${shapeStr(y.shape)}`);
  const [T, D] = y.shape;
  const zRows = viewRows(op, z);
  if (z.cols !== D || zRows !== T) throw new RangeError(`${op}: z must be [${T}, ${D}], got [${zRows}, ${z.cols}]`);
  if (weight.size !== D) {
    throw new RangeError(`${op}: weight "${weight.label}" has ${weight.size} values, expected ${D}`);
  }
  if (!(groupSize > 0) || D % groupSize !== 0) {
    throw new RangeError(`${op}: groupSize ${groupSize} does not divide ${D}`);
  }
  return { T, D };
}
