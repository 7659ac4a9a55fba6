/**
 * The on-disk layout of block-quantized matrices in a safetensors checkpoint (QUANTIZATION.md): each quantized
 * `<name>.weight` is stored as its codes under `<name>.weight` and its f16 block scales under
 * `<name>.weight_scale`, and config.json carries a `quantization_config`. Converting between this layout and the
 * in-memory GGUF blocks ({@link QuantizedMatrixData}) copies bytes only, so a round trip keeps every block.
 *
 * @module
 */

import { QUANT_BLOCK_BYTES, type QuantFormat, type QuantizedMatrixData } from "./backend.ts";

/** `quant_method` of PerfMamba's quantized checkpoints. */
export const QUANT_METHOD = "perfmamba_blockwise";

/** config.json's `quantization_config` of a quantized checkpoint. */
export interface QuantizationConfig {
  /** Always {@link QUANT_METHOD}. */
  quant_method: typeof QUANT_METHOD;
  /** 8 (q8_0) or 4 (q4_0). */
  bits: 8 | 4;
  /** Weights per block (32). */
  block_size: 32;
  /** The block format: "q8_0" or "q4_0". */
  format: QuantFormat;
  /** The matrices stored quantized (tensor names without `.weight`). */
  modules_quantized: string[];
  /**
   * How A_log, conv1d's weight and bias, and D are stored and held: "float16" (F16 tensors; PerfMamba's default)
   * or "float32". Absent (checkpoints written before it): F32 tensors, held as f16 by the default rule.
   */
  param_dtype?: "float16" | "float32";
}

/** A quantized matrix's two safetensors tensors: codes and f16 scales. */
export interface QuantizedTensors {
  /** `I8` `[n, k]` (q8_0) or `U8` `[n, k / 2]` (q4_0: per block, 16 bytes of nibbles as in GGUF). */
  codes: { dtype: "I8" | "U8"; shape: number[]; bytes: Uint8Array };
  /** `F16` `[n, k / 32]`: the scale d of each block, little-endian. */
  scales: { dtype: "F16"; shape: number[]; bytes: Uint8Array };
}

/** Bytes of codes per block (the block less its 2-byte scale). */
function codeBytes(format: QuantFormat): number {
  return QUANT_BLOCK_BYTES[format] - 2;
}

/** Split GGUF blocks into the checkpoint's codes and scales. */
export function splitBlocks(m: QuantizedMatrixData): QuantizedTensors {
  const blocks = m.n * (m.k / 32);
  const bb = QUANT_BLOCK_BYTES[m.format], cb = codeBytes(m.format);
  const codes = new Uint8Array(blocks * cb);
  const scales = new Uint8Array(blocks * 2);
  for (let b = 0; b < blocks; b++) {
    scales[2 * b] = m.blocks[b * bb];
    scales[2 * b + 1] = m.blocks[b * bb + 1];
    codes.set(m.blocks.subarray(b * bb + 2, (b + 1) * bb), b * cb);
  }
  return {
    codes: m.format === "q8_0"
      ? { dtype: "I8", shape: [m.n, m.k], bytes: codes }
      : { dtype: "U8", shape: [m.n, m.k / 2], bytes: codes },
    scales: { dtype: "F16", shape: [m.n, m.k / 32], bytes: scales },
  };
}

/**
 * GGUF blocks of `[n, k]` from the checkpoint's codes and scales, checking both (`name` and `file` name the
 * tensor in errors): the codes' dtype and shape for the format, k a multiple of the block size 32, scales `F16 [n, k / 32]`.
 */
export function joinBlocks(
  format: QuantFormat,
  n: number,
  k: number,
  codes: { dtype: string; shape: readonly number[]; bytes: Uint8Array },
  scales: { dtype: string; shape: readonly number[]; bytes: Uint8Array } | undefined,
  name: string,
  file: string,
): QuantizedMatrixData {
  if (k % 32 !== 0) {
    throw new Error(`${file}: quantized tensor "${name}": the block size 32 does not divide its rows of ${k} weights`);
  }
  const want = format === "q8_0" ? { dtype: "I8", shape: [n, k] } : { dtype: "U8", shape: [n, k / 2] };
  if (codes.dtype !== want.dtype || codes.shape.length !== 2 || codes.shape.some((d, i) => d !== want.shape[i])) {
    throw new Error(
      `${file}: quantized tensor "${name}": codes are ${codes.dtype} [${codes.shape.join(", ")}], ` +
        `${format} of [${n}, ${k}] needs ${want.dtype} [${want.shape.join(", ")}]`,
    );
  }
  if (!scales) throw new Error(`${file}: quantized tensor "${name}": its scales "${name}_scale" are missing`);
  const sShape = [n, k / 32];
  if (scales.dtype !== "F16" || scales.shape.length !== 2 || scales.shape.some((d, i) => d !== sShape[i])) {
    throw new Error(
      `${file}: quantized tensor "${name}_scale": ${scales.dtype} [${scales.shape.join(", ")}], ` +
        `want F16 [${sShape.join(", ")}] (one scale per block of 32)`,
    );
  }
  const blocks = n * (k / 32);
  const bb = QUANT_BLOCK_BYTES[format], cb = codeBytes(format);
  const out = new Uint8Array(blocks * bb);
  for (let b = 0; b < blocks; b++) {
    out[b * bb] = scales.bytes[2 * b];
    out[b * bb + 1] = scales.bytes[2 * b + 1];
    out.set(codes.bytes.subarray(b * cb, (b + 1) * cb), b * bb + 2);
  }
  return { format, n, k, blocks: out };
}

/**
 * The `quantization_config` of a config.json (`where` names the file in errors), or null when there is none:
 * an unknown method, bits other than 8 / 4, a block size other than 32 or a format that disagrees with the bits is
 * an error.
 */
export function parseQuantizationConfig(json: Record<string, unknown>, where: string): QuantizationConfig | null {
  const q = json.quantization_config;
  if (q === undefined || q === null) return null;
  if (typeof q !== "object" || Array.isArray(q)) throw new Error(`${where}: quantization_config is not an object`);
  const r = q as Record<string, unknown>;
  if (r.quant_method !== QUANT_METHOD) {
    throw new Error(
      `${where}: quantization_config.quant_method ${JSON.stringify(r.quant_method)} is not supported ` +
        `(PerfMamba reads "${QUANT_METHOD}")`,
    );
  }
  if (r.bits !== 8 && r.bits !== 4) {
    throw new Error(`${where}: quantization_config.bits ${JSON.stringify(r.bits)}: unknown bits (8 or 4)`);
  }
  if (r.block_size !== 32) {
    throw new Error(
      `${where}: quantization_config.block_size ${JSON.stringify(r.block_size)} is not supported (32)`,
    );
  }
  const format: QuantFormat = r.bits === 8 ? "q8_0" : "q4_0";
  if (r.format !== format) {
    throw new Error(`${where}: quantization_config.format ${JSON.stringify(r.format)} disagrees with bits ${r.bits}`);
  }
  const mods = r.modules_quantized;
  if (!Array.isArray(mods) || !mods.every((m) => typeof m === "string")) {
    throw new Error(`${where}: quantization_config.modules_quantized is not a list of tensor names`);
  }
  const pd = r.param_dtype;
  if (pd !== undefined && pd !== "float16" && pd !== "float32") {
    throw new Error(
      `${where}: quantization_config.param_dtype ${JSON.stringify(pd)} is not supported ("float16" or "float32")`,
    );
  }
  return {
    quant_method: QUANT_METHOD,
    bits: r.bits,
    block_size: 32,
    format,
    modules_quantized: mods,
    ...(pd === undefined ? {} : { param_dtype: pd }),
  };
}
