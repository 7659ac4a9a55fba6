/**
 * ggml's tensor element types as GGUF stores them: their ids, block sizes and byte sizes, and the conversions
 * PerfMamba needs: F32, F16 and BF16 both ways; Q8_0 quantised (as ggml's reference `quantize_row_q8_0` and
 * gguf-py's `quants.py` do) and dequantised; Q4_0 dequantised. Platform-neutral, no dependencies.
 *
 * @module
 */

/**
 * ggml type ids (ggml.h `enum ggml_type`) of the types a GGUF tensor may have; the ones PerfMamba reads are
 * F32, F16, BF16, Q8_0 and Q4_0, the others are known by name so an error can say what a file holds.
 */
export const GGML_TYPE_IDS = {
  F32: 0,
  F16: 1,
  Q4_0: 2,
  Q4_1: 3,
  Q5_0: 6,
  Q5_1: 7,
  Q8_0: 8,
  Q8_1: 9,
  Q2_K: 10,
  Q3_K: 11,
  Q4_K: 12,
  Q5_K: 13,
  Q6_K: 14,
  Q8_K: 15,
  IQ2_XXS: 16,
  IQ2_XS: 17,
  IQ3_XXS: 18,
  IQ1_S: 19,
  IQ4_NL: 20,
  IQ3_S: 21,
  IQ2_S: 22,
  IQ4_XS: 23,
  I8: 24,
  I16: 25,
  I32: 26,
  I64: 27,
  F64: 28,
  IQ1_M: 29,
  BF16: 30,
  TQ1_0: 34,
  TQ2_0: 35,
  MXFP4: 39,
} as const;

/** A ggml type name (a key of {@link GGML_TYPE_IDS}). */
export type GgmlType = keyof typeof GGML_TYPE_IDS;

/** [elements per block, bytes per block] of every type (ggml.c `type_traits`). */
const BLOCKS: Record<GgmlType, readonly [number, number]> = {
  F32: [1, 4],
  F16: [1, 2],
  Q4_0: [32, 18],
  Q4_1: [32, 20],
  Q5_0: [32, 22],
  Q5_1: [32, 24],
  Q8_0: [32, 34],
  Q8_1: [32, 36],
  Q2_K: [256, 84],
  Q3_K: [256, 110],
  Q4_K: [256, 144],
  Q5_K: [256, 176],
  Q6_K: [256, 210],
  Q8_K: [256, 292],
  IQ2_XXS: [256, 66],
  IQ2_XS: [256, 74],
  IQ3_XXS: [256, 98],
  IQ1_S: [256, 50],
  IQ4_NL: [32, 18],
  IQ3_S: [256, 110],
  IQ2_S: [256, 82],
  IQ4_XS: [256, 136],
  I8: [1, 1],
  I16: [1, 2],
  I32: [1, 4],
  I64: [1, 8],
  F64: [1, 8],
  IQ1_M: [256, 56],
  BF16: [1, 2],
  TQ1_0: [256, 54],
  TQ2_0: [256, 66],
  MXFP4: [32, 17],
};

const NAME_OF_ID = new Map<number, GgmlType>(
  Object.entries(GGML_TYPE_IDS).map(([name, id]) => [id, name as GgmlType]),
);

/** The types PerfMamba converts to float32 when loading (the others are refused, naming the tensor). */
export const GGML_READABLE_TYPES: readonly GgmlType[] = ["F32", "F16", "BF16", "Q8_0", "Q4_0"];

/** The type name of ggml type id `id`, or undefined for an id ggml does not define. */
export function ggmlTypeName(id: number): GgmlType | undefined {
  return NAME_OF_ID.get(id);
}

/** Elements per block and bytes per block of a type. */
export function ggmlBlock(type: GgmlType): readonly [number, number] {
  return BLOCKS[type];
}

const HOST_LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** The IEEE-754 binary16 bits nearest to `x` (round half to even; overflow → ±Infinity; NaN stays NaN). */
export function f32ToF16Bits(x: number): number {
  const f = new Float32Array(1);
  const u = new Uint32Array(f.buffer);
  f[0] = x;
  const bits = u[0];
  const sign = (bits >>> 16) & 0x8000;
  const exp = (bits >>> 23) & 0xff;
  const mant = bits & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  const e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign; // below half the smallest subnormal: ±0
    const m = mant | 0x800000; // implicit leading one
    const shift = 14 - e;
    let half = m >>> shift;
    const rem = m & ((1 << shift) - 1);
    const mid = 1 << (shift - 1);
    if (rem > mid || (rem === mid && (half & 1))) half++;
    return sign | half;
  }
  let half = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && (half & 1))) half++; // may carry into the exponent: still correct
  return sign | half;
}

/** The bfloat16 bits of `x`, rounded to nearest even as torch and gguf-py do (NaN stays a quiet NaN). */
export function f32ToBf16Bits(x: number): number {
  const f = new Float32Array(1);
  const u = new Uint32Array(f.buffer);
  f[0] = x;
  const bits = u[0];
  if ((bits & 0x7fffffff) > 0x7f800000) return ((bits >>> 16) & 0xffff) | 0x40;
  return ((bits + (0x7fff + ((bits >>> 16) & 1))) >>> 16) & 0xffff;
}

/** Value of a binary16 bit pattern. */
function f16ToNumber(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exp = (bits >> 10) & 0x1f;
  const frac = bits & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24;
  if (exp === 0x1f) return frac ? NaN : sign * Infinity;
  return sign * (1 + frac / 1024) * 2 ** (exp - 15);
}

/** Little-endian bytes of `data` encoded as F32, F16 or BF16. */
export function encodeFloats(data: Float32Array, type: "F32" | "F16" | "BF16"): Uint8Array {
  if (type === "F32") {
    if (HOST_LITTLE_ENDIAN) {
      return new Uint8Array(data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength));
    }
    const out = new Uint8Array(data.length * 4);
    const view = new DataView(out.buffer);
    for (let i = 0; i < data.length; i++) view.setFloat32(4 * i, data[i], true);
    return out;
  }
  const out = new Uint8Array(data.length * 2);
  const view = new DataView(out.buffer);
  const encode = type === "F16" ? f32ToF16Bits : f32ToBf16Bits;
  for (let i = 0; i < data.length; i++) view.setUint16(2 * i, encode(data[i]), true);
  return out;
}

/** JavaScript's `Math.round` rounds half up; C's `roundf` (ggml, gguf-py's `np_roundf`) rounds half away from 0. */
function roundAway(x: number): number {
  return Math.sign(x) * Math.floor(Math.abs(x) + 0.5);
}

/**
 * Q8_0 blocks of `data` (length a multiple of 32): per block of 32 values, the f16 scale d = max|x| / 127 and
 * 32 int8 q = roundf(x / d) — as ggml's `quantize_row_q8_0_ref` and gguf-py's `Q8_0.quantize_blocks`.
 */
export function quantizeQ8_0(data: Float32Array): Uint8Array {
  if (data.length % 32 !== 0) throw new RangeError(`quantizeQ8_0: ${data.length} values, not a multiple of 32`);
  const blocks = data.length / 32;
  const out = new Uint8Array(blocks * 34);
  const view = new DataView(out.buffer);
  for (let b = 0; b < blocks; b++) {
    let amax = 0;
    for (let j = 0; j < 32; j++) amax = Math.max(amax, Math.abs(data[b * 32 + j]));
    const d = Math.fround(amax / 127);
    const id = d !== 0 ? Math.fround(1 / d) : 0;
    view.setUint16(b * 34, f32ToF16Bits(d), true);
    for (let j = 0; j < 32; j++) view.setInt8(b * 34 + 2 + j, roundAway(Math.fround(data[b * 32 + j] * id)));
  }
  return out;
}

/**
 * Q4_0 blocks of `data` (length a multiple of 32): per block of 32 values, the value m of largest magnitude (sign
 * kept), the f16 scale d = m / −8 and 32 4-bit codes q = min(15, trunc(x / d + 8.5)), element j in the low nibble of
 * byte j and element j + 16 in its high nibble — as ggml's `quantize_row_q4_0_ref` and gguf-py's
 * `Q4_0.quantize_blocks`. Dequantised: w = d · (q − 8).
 */
export function quantizeQ4_0(data: Float32Array): Uint8Array {
  if (data.length % 32 !== 0) throw new RangeError(`quantizeQ4_0: ${data.length} values, not a multiple of 32`);
  const blocks = data.length / 32;
  const out = new Uint8Array(blocks * 18);
  const view = new DataView(out.buffer);
  for (let b = 0; b < blocks; b++) {
    let amax = 0;
    let max = 0;
    for (let j = 0; j < 32; j++) {
      const v = data[b * 32 + j];
      if (Math.abs(v) > amax) {
        amax = Math.abs(v);
        max = v;
      }
    }
    const d = Math.fround(max / -8);
    const id = d !== 0 ? Math.fround(1 / d) : 0;
    view.setUint16(b * 18, f32ToF16Bits(d), true);
    for (let j = 0; j < 16; j++) {
      const x0 = Math.fround(Math.fround(data[b * 32 + j] * id) + 8.5);
      const x1 = Math.fround(Math.fround(data[b * 32 + j + 16] * id) + 8.5);
      const q0 = Math.min(15, Math.trunc(x0));
      const q1 = Math.min(15, Math.trunc(x1));
      out[b * 18 + 2 + j] = q0 | (q1 << 4);
    }
  }
  return out;
}

/** Float32 values of `n` elements of type Q8_0 or Q4_0 stored in `bytes` (exactly the blocks of n values). */
export function dequantize(bytes: Uint8Array, type: "Q8_0" | "Q4_0", n: number): Float32Array {
  const [perBlock, blockBytes] = BLOCKS[type];
  const blocks = n / perBlock;
  if (!Number.isInteger(blocks) || bytes.byteLength !== blocks * blockBytes) {
    throw new RangeError(`dequantize ${type}: ${bytes.byteLength} bytes do not hold ${n} values`);
  }
  const out = new Float32Array(n);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (let b = 0; b < blocks; b++) {
    const at = b * blockBytes;
    const d = f16ToNumber(view.getUint16(at, true));
    const o = b * perBlock;
    if (type === "Q8_0") {
      for (let j = 0; j < 32; j++) out[o + j] = view.getInt8(at + 2 + j) * d;
    } else {
      // dequantize_row_q4_0: the low nibbles are elements 0..15, the high nibbles 16..31, each minus 8.
      for (let j = 0; j < 16; j++) {
        const q = bytes[at + 2 + j];
        out[o + j] = ((q & 0x0f) - 8) * d;
        out[o + j + 16] = ((q >> 4) - 8) * d;
      }
    }
  }
  return out;
}
