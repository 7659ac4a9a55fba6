/**
 * Per-channel SSM parameters in f16: a quantized model holds A_log, conv1d's weight and bias, and D as halves
 * (QUANTIZATION.md, "Per-channel parameters in f16"). Rounding them here, on the host, makes the host weights equal
 * what the backends compute with, so every reference built from them (dequantized weights) is the model's own.
 *
 * @module
 */

import type { HostMatrix, HostTensor, LayerWeights, MambaWeights } from "./weights.ts";

/** The largest finite f16. */
const HALF_MAX = 65504;

/**
 * The values of `data` rounded to the nearest f16 (ties to even; subnormals kept), as f32. A value beyond the f16
 * range (|x| > 65504 after rounding) is a RangeError naming `name`: it would become infinite.
 *
 * @example
 * ```ts
 * import { roundToHalf } from "@perfmamba/perfmamba";
 *
 * console.log(roundToHalf(new Float32Array([1 / 3, 2 ** -24, -1.5]), "x")); // Float32Array(3) [ 0.333251953125, 5.960464477539063e-8, -1.5 ]
 * ```
 */
export function roundToHalf(data: Float32Array, name: string): Float32Array {
  const out = new Float32Array(new Float16Array(data));
  for (let i = 0; i < out.length; i++) {
    if (!(Math.abs(out[i]) <= HALF_MAX)) {
      throw new RangeError(
        `${name} holds ${data[i]} at index ${i}, outside the f16 range (±${HALF_MAX}); keep the per-channel ` +
          `parameters f32 (quantize --params f32, --weights q8:f32)`,
      );
    }
  }
  return out;
}

function half(t: HostTensor, name: string): HostTensor {
  return { shape: t.shape, data: roundToHalf(t.data, name) };
}

/** One layer with A_log, conv1d's weight and bias, and D rounded to f16 (the rest shared with the input). */
export function halfParamLayer<M extends HostMatrix>(l: LayerWeights<M>, i: number): LayerWeights<M> {
  const p = `layers.${i}.`;
  return {
    ...l,
    aLog: half(l.aLog, p + "A_log"),
    convWeight: half(l.convWeight, p + "conv1d.weight"),
    convBias: l.convBias ? half(l.convBias, p + "conv1d.bias") : null,
    D: half(l.D, p + "D"),
  };
}

/**
 * The weights with every layer's A_log, conv1d weight and bias, and D rounded to f16, and `paramFormat` "f16": what
 * `quantizeWeights` returns by default and a quantized checkpoint loads as. The input is not changed. dt_bias and
 * the norms stay f32.
 *
 * @example
 * ```ts
 * import { halfParamWeights, makeConfig, syntheticWeights } from "@perfmamba/perfmamba";
 *
 * const w = syntheticWeights(makeConfig("mamba2", { dModel: 32, nLayer: 1, vocabSize: 64, headDim: 16 }), 1);
 * const h = halfParamWeights(w);
 * const d = h.layers[0].D.data[0];
 * console.log(h.paramFormat, d === new Float16Array([d])[0], h.layers[0].norm === w.layers[0].norm); // f16 true true
 * ```
 */
export function halfParamWeights<M extends HostMatrix>(w: MambaWeights<M>): MambaWeights<M> {
  return { ...w, layers: w.layers.map((l, i) => halfParamLayer(l, i)), paramFormat: "f16" };
}
