/**
 * Where `MambaModel.fromSource` gets its weights: one layer at a time, so that a model is uploaded without the
 * whole of it on the host. {@link weightSource} wraps host weights already in memory; {@link syntheticSource}
 * generates the synthetic model (runtime/synthetic.ts) layer by layer, reusing the same host arrays for every
 * layer, and quantizes each layer as it goes when asked. Its uniform tensors are made on the host only when their
 * `data` is read: `MambaModel.fromSource` hands their recipes (`syntheticUniformOf`) to a backend that generates
 * them on the device (`Backend.generateUniform`: WebGPU), so a preset's matrices never exist on the host there.
 *
 * @module
 */

import { padDtRankConfig } from "./dt_rank_pad.ts";
import type { QuantFormat } from "./backend.ts";
import type { MambaConfig } from "./config.ts";
import { paramFormatOf, quantizeWeights, weightsQuantFormat } from "./quantize.ts";
import { syntheticEmbedding, syntheticLayer, syntheticLmHead } from "./synthetic.ts";
import type { HostMatrix, HostTensor, LayerWeights, MambaWeights, ParamFormat } from "./weights.ts";

/**
 * A model's weights, handed out piece by piece. What a call returns may be overwritten by the next call to the
 * same source: the caller uploads it (the backends copy) before asking for more.
 *
 * @example
 * ```ts
 * import { makeConfig, syntheticSource, type WeightSource } from "@perfmamba/perfmamba";
 * const source: WeightSource = syntheticSource(makeConfig("mamba1", { dModel: 32, nLayer: 2, vocabSize: 64 }), 1);
 * console.log(source.config.nLayer, source.layer(1).arch, source.quantFormat); // 2 mamba1 null
 * ```
 */
export interface WeightSource {
  /** The model's config. */
  readonly config: MambaConfig;
  /** The block format of its quantized matrices, or null when they are f32 (what memory checks count). */
  readonly quantFormat: QuantFormat | null;
  /**
   * How the backend holds A_log, conv1d's weight and bias, and D (f16: rounded to halves at upload); absent: f32.
   */
  readonly paramFormat?: ParamFormat;
  /** Layer `l` (valid until the next `layer` call). */
  layer(l: number): LayerWeights<HostMatrix>;
  /** The `[vocab, d]` embedding. */
  embedding(): HostMatrix;
  /** The untied lm_head, or null when it is the embedding. */
  lmHead(): HostMatrix | null;
  /** The final norm's weight. */
  normF(): HostTensor;
}

/**
 * The source of weights already on the host.
 *
 * @example
 * ```ts
 * import { makeConfig, syntheticWeights, weightSource } from "@perfmamba/perfmamba";
 * const w = syntheticWeights(makeConfig("mamba1", { dModel: 32, nLayer: 2, vocabSize: 64 }), 1);
 * console.log(weightSource(w).layer(0) === w.layers[0]); // true
 * ```
 */
export function weightSource(w: MambaWeights<HostMatrix>): WeightSource {
  return {
    config: w.config,
    quantFormat: weightsQuantFormat(w),
    paramFormat: paramFormatOf(w),
    layer: (l) => w.layers[l],
    embedding: () => w.embedding,
    lmHead: () => w.lmHead,
    normF: () => w.normF,
  };
}

/**
 * Options of {@link syntheticSource}.
 *
 * @example
 * ```ts
 * import { makeConfig, type SyntheticSourceOptions, syntheticSource } from "@perfmamba/perfmamba";
 * const options: SyntheticSourceOptions = { quantize: "q8_0" };
 * const layer = syntheticSource(makeConfig("mamba1", { dModel: 64, nLayer: 1, vocabSize: 64 }), 1, options).layer(0);
 * console.log("blocks" in layer.inProj); // true
 * ```
 */
export interface SyntheticSourceOptions {
  /**
   * Quantize each layer's matrices to this block format as it is made, exactly as `quantizeWeights` with its
   * defaults would quantize the whole model (embedding and lm_head stay f32; a matrix whose rows are not a
   * multiple of 32 stays f32; A_log, conv1d's weight and bias, and D rounded to f16).
   */
  quantize?: QuantFormat;
  /** With `quantize`: how A_log, conv1d and D are held (default "f16", as `quantizeWeights`). */
  params?: ParamFormat;
}

/**
 * `syntheticWeights(config, seed)` (quantized when asked), made layer by layer: the host holds one layer (and the
 * embedding) at a time, and the arrays of a layer are reused for the next. Load it with `MambaModel.fromSource`.
 *
 * @example
 * ```ts
 * import { makeConfig, MambaModel, selectBackend, syntheticSource, syntheticWeights } from "@perfmamba/perfmamba";
 * const config = makeConfig("mamba1", { dModel: 32, nLayer: 2, vocabSize: 64 });
 * const backend = await selectBackend("wasm", { threads: 1 });
 * const a = MambaModel.fromSource(syntheticSource(config, 3), backend);
 * const b = MambaModel.load(syntheticWeights(config, 3), backend);
 * const [x, y] = [await a.prefill([1, 2, 3]), await b.prefill([1, 2, 3])];
 * console.log(x.logits.data.every((v, i) => v === y.logits.data[i])); // true
 * for (const r of [x, y]) r.state.dispose();
 * a.dispose();
 * b.dispose();
 * backend.dispose();
 * ```
 */
export function syntheticSource(config: MambaConfig, seed = 0, options: SyntheticSourceOptions = {}): WeightSource {
  let previous: LayerWeights | undefined;
  const format = options.quantize;
  const params = options.params ?? "f16";
  const normF: HostTensor = { shape: [config.dModel], data: new Float32Array(config.dModel).fill(1) };
  return {
    // Quantized, a Mamba-1 Δ rank is zero-padded to whole blocks as quantizeWeights does (runtime/dt_rank_pad.ts).
    config: format ? padDtRankConfig(config) : config,
    quantFormat: format ?? null,
    paramFormat: format ? params : "f32",
    layer(l) {
      const layer = syntheticLayer(config, l, seed, previous);
      previous = layer;
      if (!format) return layer;
      // One layer as a model, quantized by the same rules as the whole (the embedding shell stays f32).
      const shell = { shape: [1, 1], data: new Float32Array(1) };
      const q = quantizeWeights({ config, embedding: shell, layers: [layer], normF, lmHead: null }, {
        bits: format === "q8_0" ? 8 : 4,
        params,
      });
      return q.layers[0];
    },
    embedding: () => syntheticEmbedding(config, seed),
    lmHead: () => syntheticLmHead(config, seed),
    normF: () => normF,
  };
}
