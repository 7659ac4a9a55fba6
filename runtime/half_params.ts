/**
 * Per-channel SSM parameters in f16: a quantized model holds A = −exp(A_log), conv1d's weight and bias, and D as
 * halves on the backend (QUANTIZATION.md, "Per-channel parameters in f16"). Rounding them here, on the host, makes the
 * host weights equal what the backends compute with, so every reference built from them (dequantized weights) is the
 * model's own: conv1d and D are rounded to f16; A_log is moved to the A_log whose A is the nearest f16 to the original
 * A ({@link snapALog}), since the kernels take A, not A_log (no exp per load).
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
          `parameters f32 (quantize --params f32, --params f32)`,
      );
    }
  }
  return out;
}

function half(t: HostTensor, name: string): HostTensor {
  return { shape: t.shape, data: roundToHalf(t.data, name) };
}

/**
 * A_log moved onto the f16 grid of A: fl32(log(−h)) with h = f16(−exp(A_log)), so that A = −exp(A_log) is h to
 * within f32 rounding (|Δ| ≤ 7e-7 relative), which rounds back to h (f16 steps are 2⁻¹¹ apart): the A a backend holds
 * in f16 and a float64 reference computes from A_log agree. Idempotent. An A beyond the f16 range, or one so small that
 * it rounds to 0, is a RangeError naming `name`.
 *
 * @example
 * ```ts
 * import { snapALog } from "@perfmamba/perfmamba";
 *
 * const [a] = snapALog(new Float32Array([Math.log(3.3)]), "A_log");
 * const A = -Math.exp(a);
 * console.log(Math.abs(A - -3.30078125) < 1e-6); // true: the f16 nearest to −3.3
 * ```
 */
export function snapALog(aLog: Float32Array, name: string): Float32Array {
  const A = roundToHalf(aLog.map((v) => -Math.exp(v)), `${name} (as A = −exp(A_log))`);
  const out = new Float32Array(aLog.length);
  for (let i = 0; i < A.length; i++) {
    if (A[i] === 0) {
      throw new RangeError(
        `${name} holds ${aLog[i]} at index ${i}: A = −exp(A_log) underflows f16; keep the per-channel parameters f32 ` +
          `(quantize --params f32, --params f32)`,
      );
    }
    out[i] = Math.log(-A[i]);
  }
  return out;
}

/** One layer with conv1d's weight and bias and D rounded to f16, A_log snapped (the rest shared with the input). */
export function halfParamLayer<M extends HostMatrix>(l: LayerWeights<M>, i: number): LayerWeights<M> {
  const p = `layers.${i}.`;
  return {
    ...l,
    aLog: { shape: l.aLog.shape, data: snapALog(l.aLog.data, p + "A_log") },
    convWeight: half(l.convWeight, p + "conv1d.weight"),
    convBias: l.convBias ? half(l.convBias, p + "conv1d.bias") : null,
    D: half(l.D, p + "D"),
  };
}

/**
 * The weights with every layer's conv1d weight and bias and D rounded to f16, A_log snapped so that A = −exp(A_log)
 * is an f16 ({@link snapALog}), and `paramFormat` "f16": what `quantizeWeights` returns by default and a quantized
 * checkpoint loads as. The input is not changed. dt_bias and the norms stay f32.
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
