/**
 * Block-wise weight quantization of host weights (q8_0 / q4_0, byte-compatible with GGUF): which matrices are
 * quantized, the checks on the way, and the way back to f32 (dequantize) for what needs f32.
 *
 * @module
 */

import { QUANT_BLOCK_BYTES, type QuantFormat, type QuantizedMatrixData } from "./backend.ts";
import { padDtRank } from "./dt_rank_pad.ts";
import { dequantize, quantizeQ4_0, quantizeQ8_0 } from "./ggml_types.ts";
import { halfParamWeights } from "./half_params.ts";
import {
  type HostMatrix,
  type HostTensor,
  isQuantized,
  type LayerWeights,
  type MambaWeights,
  matrixShape,
  type ParamFormat,
} from "./weights.ts";

/**
 * The matrix kinds `quantizeWeights` may quantize (names as in the state-spaces checkpoints).
 *
 * @example
 * ```ts
 * import { makeConfig, quantizedMatrixNames, quantizeWeights, syntheticWeights, weightsQuantFormat } from "@perfmamba/perfmamba";
 *
 * const config = makeConfig("mamba2", { dModel: 64, nLayer: 1, vocabSize: 64, headDim: 16 });
 * const q4 = quantizeWeights(syntheticWeights(config, 1), { bits: 4 });
 * console.log(weightsQuantFormat(q4), quantizedMatrixNames(q4)); // q4_0 [ "layers.0.in_proj", "layers.0.out_proj" ]
 * ```
 */
export const QUANTIZABLE_KINDS = ["in_proj", "x_proj", "dt_proj", "out_proj", "embedding", "lm_head"] as const;
/** One of {@link QUANTIZABLE_KINDS}. */
export type QuantizableKind = typeof QUANTIZABLE_KINDS[number];

/**
 * Options of {@link quantizeWeights}.
 *
 * @example
 * ```ts
 * import { makeConfig, quantizedMatrixNames, quantizeWeights, syntheticWeights, weightsQuantFormat } from "@perfmamba/perfmamba";
 *
 * const config = makeConfig("mamba2", { dModel: 64, nLayer: 1, vocabSize: 64, headDim: 16 });
 * const q4 = quantizeWeights(syntheticWeights(config, 1), { bits: 4 });
 * console.log(weightsQuantFormat(q4), quantizedMatrixNames(q4)); // q4_0 [ "layers.0.in_proj", "layers.0.out_proj" ]
 * ```
 */
export interface QuantizeOptions {
  /** 8 (q8_0) or 4 (q4_0). */
  bits: 8 | 4;
  /** Weights per block: 32 (the only size of q8_0 / q4_0; default). */
  block?: number;
  /** Matrix kinds kept f32 (of {@link QUANTIZABLE_KINDS}). */
  keep?: readonly string[];
  /** Quantize the embedding and lm_head too (default false: they stay f32). */
  embeddings?: boolean;
  /**
   * How A (= −exp(A_log)), conv1d's weight and bias, and D are held: "f16" (default: rounded to f16, read as halves by the
   * kernels) or "f32" (kept as they are).
   */
  params?: ParamFormat;
}

/**
 * Bad input to quantization: an unknown option, a non-finite weight, an already quantized model.
 *
 * @example
 * ```ts
 * import { makeConfig, quantizedMatrixNames, quantizeWeights, syntheticWeights, weightsQuantFormat } from "@perfmamba/perfmamba";
 *
 * const config = makeConfig("mamba2", { dModel: 64, nLayer: 1, vocabSize: 64, headDim: 16 });
 * const q4 = quantizeWeights(syntheticWeights(config, 1), { bits: 4 });
 * console.log(weightsQuantFormat(q4), quantizedMatrixNames(q4)); // q4_0 [ "layers.0.in_proj", "layers.0.out_proj" ]
 * ```
 */
export class QuantizeError extends Error {
  override name = "QuantizeError";
}

/** The {@link QuantFormat} of a bit width, or a {@link QuantizeError} naming it. */
export function quantFormatOf(bits: number): QuantFormat {
  if (bits === 8) return "q8_0";
  if (bits === 4) return "q4_0";
  throw new QuantizeError(`quantize: bits must be 8 or 4, got ${bits}`);
}

/** Quantize one `[n, k]` f32 matrix (k a multiple of 32; every value finite) into blocks of `format`. */
export function quantizeMatrix(t: HostTensor, format: QuantFormat, name: string): QuantizedMatrixData {
  const [n, k] = t.shape;
  if (t.shape.length !== 2 || k % 32 !== 0) {
    throw new QuantizeError(`quantize: ${name} [${t.shape.join(", ")}]: the block size 32 does not divide its rows`);
  }
  for (let i = 0; i < t.data.length; i++) {
    if (!Number.isFinite(t.data[i])) {
      throw new QuantizeError(
        `quantize: ${name} holds ${t.data[i]} at row ${Math.floor(i / k)}, column ${i % k}; ` +
          `only finite weights can be quantized`,
      );
    }
  }
  const blocks = format === "q8_0" ? quantizeQ8_0(t.data) : quantizeQ4_0(t.data);
  return { format, n, k, blocks };
}

/** The f32 values of a host matrix (quantized blocks decoded: w = d · q). */
export function dequantizeMatrix(m: HostMatrix): HostTensor {
  if (!isQuantized(m)) return m;
  return { shape: [m.n, m.k], data: dequantize(m.blocks, m.format === "q8_0" ? "Q8_0" : "Q4_0", m.n * m.k) };
}

function mapMatrices<A extends HostMatrix, B extends HostMatrix>(
  w: MambaWeights<A>,
  f: (m: A, kind: QuantizableKind, name: string) => B | HostTensor,
): MambaWeights<B | HostTensor> {
  const layers = w.layers.map((l: LayerWeights<A>, i): LayerWeights<B | HostTensor> => {
    const p = `layers.${i}.`;
    if (l.arch === "mamba1") {
      return {
        ...l,
        inProj: f(l.inProj, "in_proj", p + "in_proj"),
        xProj: f(l.xProj, "x_proj", p + "x_proj"),
        dtProj: f(l.dtProj, "dt_proj", p + "dt_proj"),
        outProj: f(l.outProj, "out_proj", p + "out_proj"),
      };
    }
    return { ...l, inProj: f(l.inProj, "in_proj", p + "in_proj"), outProj: f(l.outProj, "out_proj", p + "out_proj") };
  });
  return {
    config: w.config,
    embedding: f(w.embedding, "embedding", "embedding"),
    layers,
    normF: w.normF,
    lmHead: w.lmHead ? f(w.lmHead, "lm_head", "lm_head") : null,
    ...(w.paramFormat ? { paramFormat: w.paramFormat } : {}),
  };
}

/**
 * How a model's A_log, conv1d weight and bias, and D are held on the backend: its `paramFormat`, else "f16" when a
 * matrix is block-quantized and "f32" otherwise.
 *
 * @example
 * ```ts
 * import { makeConfig, paramFormatOf, quantizeWeights, syntheticWeights } from "@perfmamba/perfmamba";
 *
 * const f32 = syntheticWeights(makeConfig("mamba1", { dModel: 64, nLayer: 1, vocabSize: 64 }), 1);
 * console.log(paramFormatOf(f32), paramFormatOf(quantizeWeights(f32, { bits: 4 }))); // f32 f16
 * ```
 */
export function paramFormatOf(w: MambaWeights<HostMatrix>): ParamFormat {
  return w.paramFormat ?? (weightsQuantFormat(w) ? "f16" : "f32");
}

/**
 * The format of a model's quantized matrices, or null when every matrix is f32.
 *
 * @example
 * ```ts
 * import { makeConfig, quantizedMatrixNames, quantizeWeights, syntheticWeights, weightsQuantFormat } from "@perfmamba/perfmamba";
 *
 * const config = makeConfig("mamba2", { dModel: 64, nLayer: 1, vocabSize: 64, headDim: 16 });
 * const q4 = quantizeWeights(syntheticWeights(config, 1), { bits: 4 });
 * console.log(weightsQuantFormat(q4), quantizedMatrixNames(q4)); // q4_0 [ "layers.0.in_proj", "layers.0.out_proj" ]
 * ```
 */
export function weightsQuantFormat(w: MambaWeights<HostMatrix>): QuantFormat | null {
  let found: QuantFormat | null = null;
  mapMatrices(w, (m) => {
    if (isQuantized(m)) found ??= m.format;
    return m;
  });
  return found;
}

/**
 * The names of a model's matrices that are quantized, in order (`layers.0.in_proj`, …, `embedding`, `lm_head`).
 *
 * @example
 * ```ts
 * import { makeConfig, quantizedMatrixNames, quantizeWeights, syntheticWeights, weightsQuantFormat } from "@perfmamba/perfmamba";
 *
 * const config = makeConfig("mamba2", { dModel: 64, nLayer: 1, vocabSize: 64, headDim: 16 });
 * const q4 = quantizeWeights(syntheticWeights(config, 1), { bits: 4 });
 * console.log(weightsQuantFormat(q4), quantizedMatrixNames(q4)); // q4_0 [ "layers.0.in_proj", "layers.0.out_proj" ]
 * ```
 */
export function quantizedMatrixNames(w: MambaWeights<HostMatrix>): string[] {
  const names: string[] = [];
  mapMatrices(w, (m, _kind, name) => {
    if (isQuantized(m)) names.push(name);
    return m;
  });
  return names;
}

/**
 * Block-quantize a model's big matrices: in_proj, x_proj, dt_proj and out_proj of every layer (a matrix whose rows
 * are not a multiple of 32 weights stays f32), and the embedding / lm_head when `embeddings` is set. A Mamba-1
 * dt_rank that is not a multiple of 32 (130m: 48) is first zero-padded to one (`padDtRank`: the same function, the
 * result's config has the padded `dtRank` and `dtRankPaddedFrom`), so dt_proj quantizes too, unless dt_proj is kept
 * (or the model is Falcon-Mamba, whose δ norm padding would change). conv1d's weight and bias and D are rounded to
 * f16 and A_log snapped so that A = −exp(A_log) is a half (`params`, default "f16"; runtime/half_params.ts); dt_bias,
 * the norms, the other biases and state bridges stay f32. The input is not changed. Throws a {@link QuantizeError} for an unknown bit width or block size, an unknown `keep` kind, a
 * non-finite weight (naming the tensor) or an already quantized model.
 *
 * @example
 * ```ts
 * import { makeConfig, quantizeWeights, syntheticWeights } from "@perfmamba/perfmamba";
 *
 * const f32 = syntheticWeights(makeConfig("mamba1", { dModel: 64, nLayer: 1, vocabSize: 64 }), 1);
 * const q8 = quantizeWeights(f32, { bits: 8 });
 * const inProj = q8.layers[0].inProj;
 * console.log("blocks" in inProj && inProj.format, "blocks" in q8.embedding); // q8_0 false
 * ```
 */
export function quantizeWeights(
  weights: MambaWeights<HostMatrix>,
  options: QuantizeOptions,
): MambaWeights<HostMatrix> {
  const format = quantFormatOf(options.bits);
  const block = options.block ?? 32;
  if (block !== 32) throw new QuantizeError(`quantize: block size ${block} is not supported (q8_0 / q4_0 use 32)`);
  const keep = new Set(options.keep ?? []);
  for (const k of keep) {
    if (!(QUANTIZABLE_KINDS as readonly string[]).includes(k)) {
      throw new QuantizeError(`quantize: cannot keep "${k}": the kinds are ${QUANTIZABLE_KINDS.join(", ")}`);
    }
  }
  const already = quantizedMatrixNames(weights);
  if (already.length > 0) {
    throw new QuantizeError(
      `quantize: the model is already quantized (${already[0]} holds ${weightsQuantFormat(weights)} blocks); ` +
        `quantize its f32 checkpoint instead`,
    );
  }
  const embeddings = options.embeddings ?? false;
  const params = options.params ?? "f16";
  if (params !== "f16" && params !== "f32") {
    throw new QuantizeError(`quantize: params must be "f16" or "f32", got ${JSON.stringify(params)}`);
  }
  const padded = keep.has("dt_proj") ? weights as MambaWeights : padDtRank(weights as MambaWeights);
  const q = mapMatrices(padded, (m, kind, name) => {
    if (keep.has(kind)) return m;
    if ((kind === "embedding" || kind === "lm_head") && !embeddings) return m;
    if (matrixShape(m)[1] % block !== 0) return m;
    return quantizeMatrix(m, format, name);
  });
  return params === "f16" ? halfParamWeights(q) : { ...q, paramFormat: "f32" };
}

/**
 * The f32 weights of a possibly quantized model: quantized matrices decoded (exactly what the backends compute
 * with), the rest shared with the input. The reference for a quantized model's logits.
 */
export function dequantizeWeights(weights: MambaWeights<HostMatrix>): MambaWeights {
  return mapMatrices(weights, (m) => dequantizeMatrix(m)) as MambaWeights;
}

/**
 * The input as f32 weights, or an error naming `what` (pruning, writing an f32 checkpoint, calibration) when a
 * matrix is quantized: those need the f32 values, and requantizing after them would round twice. Prune first,
 * then quantize.
 */
export function requireF32Weights(weights: MambaWeights<HostMatrix>, what: string): MambaWeights {
  const names = quantizedMatrixNames(weights);
  if (names.length > 0) {
    throw new QuantizeError(
      `${what} needs f32 weights, but ${names[0]} holds ${weightsQuantFormat(weights)} blocks: ` +
        `${what} the f32 model first, then quantize`,
    );
  }
  return weights as MambaWeights;
}

/** Bytes of a host matrix's storage (f32: 4 per value; quantized: its blocks). */
export function matrixBytes(m: HostMatrix): number {
  return isQuantized(m) ? m.n * (m.k / 32) * QUANT_BLOCK_BYTES[m.format] : m.data.length * 4;
}

/** The per-channel parameters {@link paramFormatOf} governs (A_log, conv1d's weight and bias, D). */
const PARAM_FIELDS: ReadonlySet<string> = new Set(["aLog", "convWeight", "convBias", "D"]);

/**
 * Bytes of a model's host weights as stored: f32 tensors at 4 bytes a value, quantized matrices at their blocks'
 * size, A_log, conv1d's weight and bias, and D at 2 bytes where {@link paramFormatOf} says f16 (a tied lm_head
 * counted once, with the embedding).
 *
 * @example
 * ```ts
 * import { hostWeightBytes, makeConfig, quantizeWeights, syntheticWeights } from "@perfmamba/perfmamba";
 *
 * const f32 = syntheticWeights(makeConfig("mamba2", { dModel: 64, nLayer: 2, vocabSize: 256, headDim: 16 }), 1);
 * const q4 = quantizeWeights(f32, { bits: 4, embeddings: true });
 * console.log((hostWeightBytes(q4) / hostWeightBytes(f32)).toFixed(3)); // 0.158 (A_log, conv1d and D in f16)
 * ```
 */
export function hostWeightBytes(weights: MambaWeights<HostMatrix>): number {
  const size = (t: unknown): number => {
    if (!t || typeof t !== "object") return 0;
    if ("blocks" in t) return matrixBytes(t as QuantizedMatrixData);
    if ("data" in t && (t as HostTensor).data instanceof Float32Array) return (t as HostTensor).data.length * 4;
    return 0;
  };
  const half = paramFormatOf(weights) === "f16";
  let bytes = size(weights.embedding) + size(weights.normF) + size(weights.lmHead);
  for (const layer of weights.layers) {
    for (const [k, v] of Object.entries(layer)) bytes += half && PARAM_FIELDS.has(k) ? size(v) / 2 : size(v);
  }
  return bytes;
}
