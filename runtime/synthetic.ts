/**
 * Deterministic random weights for any config, initialised the way mamba_ssm initialises a fresh model
 * (A = 1..N, Δ bias giving Δ ∈ [0.001, 0.1], unit norms, small projections), so that benchmarks and profiles
 * run realistic numerics without downloading a checkpoint.
 *
 * Every value is a function of (seed, tensor id, element index) alone — a counter-based generator
 * ({@link syntheticUniform}) — so any tensor, and any chunk of one, is produced on its own: a model is generated
 * layer by layer and uploaded as it goes ({@link syntheticLayer}, `syntheticSource` in weight_source.ts) without
 * ever holding the whole model on the host.
 *
 * @module
 */

import type { SyntheticUniform } from "./backend.ts";
import type { MambaConfig } from "./config.ts";
import { layerStateSize } from "./config.ts";
import type { HostMatrix, HostTensor, LayerWeights, MambaWeights } from "./weights.ts";
import { isQuantized } from "./weights.ts";

/** lowbias32 (C. Wellons' 32-bit integer hash): a bijection of u32 with full avalanche. */
function mix32(x: number): number {
  x ^= x >>> 16;
  x = Math.imul(x, 0x7feb352d);
  x ^= x >>> 15;
  x = Math.imul(x, 0x846ca68b);
  x ^= x >>> 16;
  return x >>> 0;
}

/**
 * The stream key of tensor `id` under `seed`: element i of the tensor hashes `key + i` (mod 2³²).
 *
 * @example
 * ```ts
 * import { syntheticKey } from "@perfmamba/perfmamba";
 * console.log(syntheticKey(1, 16) === syntheticKey(1, 16), syntheticKey(1, 16) === syntheticKey(2, 16)); // true false
 * ```
 */
export function syntheticKey(seed: number, id: number): number {
  return mix32((mix32(seed >>> 0) + Math.imul(id, 0x9e3779b9)) >>> 0);
}

/**
 * Fill `dst` with elements `start … start + dst.length − 1` of the tensor with stream `key`, uniform on
 * [−scale, scale): element i is `((h >>> 8) − 2²³) · 2⁻²³ · scale` with h the hash of `key + i`. The first product
 * is exact and `scale` is rounded to f32 first, so each value is one correctly rounded f32 multiply: the same bits
 * wherever it is computed (host chunks, a GPU kernel).
 *
 * @example
 * ```ts
 * import { syntheticKey, syntheticUniform } from "@perfmamba/perfmamba";
 * const key = syntheticKey(1, 16);
 * const whole = new Float32Array(8), tail = new Float32Array(3);
 * syntheticUniform(whole, key, 0, 0.5);
 * syntheticUniform(tail, key, 5, 0.5); // elements 5, 6, 7 on their own
 * console.log(tail.every((v, i) => v === whole[5 + i]), whole.every((v) => Math.abs(v) <= 0.5)); // true true
 * ```
 */
export function syntheticUniform(dst: Float32Array, key: number, start: number, scale: number): void {
  const s = Math.fround(scale);
  const base = (key + start) | 0;
  // In short calls, so that the kernel is optimized after the first few instead of running one long call
  // unoptimized (10x slower on a cold start).
  for (let j0 = 0; j0 < dst.length; j0 += 16384) fillChunk(dst, base, s, j0, Math.min(dst.length, j0 + 16384));
}

function fillChunk(dst: Float32Array, base: number, s: number, from: number, to: number): void {
  for (let j = from; j < to; j++) {
    let x = (base + j) | 0;
    x ^= x >>> 16;
    x = Math.imul(x, 0x7feb352d);
    x ^= x >>> 15;
    x = Math.imul(x, 0x846ca68b);
    x ^= x >>> 16;
    dst[j] = ((x >>> 8) - 8388608) * 1.1920928955078125e-7 * s;
  }
}

/** Uniform [0, 1) values of stream `key` (24 bits each), mapped by `f` on the host (Δ bias, Mamba-2 A_log). */
function mapped(n: number, key: number, f: (u: number) => number): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = f((mix32((key + i) >>> 0) >>> 8) * 5.9604644775390625e-8);
  return out;
}

/**
 * Stable tensor ids (the generator's stream per tensor): embedding 1, lm_head 2, layer l's slot s 16·(l+1)+s.
 *
 * @example
 * ```ts
 * import { SYNTHETIC_IDS, syntheticLayerId } from "@perfmamba/perfmamba";
 * console.log(SYNTHETIC_IDS.embedding, syntheticLayerId(0, SYNTHETIC_IDS.inProj)); // 1 17
 * ```
 */
export const SYNTHETIC_IDS = {
  embedding: 1,
  lmHead: 2,
  inProj: 1,
  convWeight: 2,
  convBias: 3,
  xProj: 4,
  dtProj: 5,
  dtBias: 6,
  outProj: 7,
  aLog: 8,
} as const;

/**
 * The id of slot `slot` of layer `l` (see {@link SYNTHETIC_IDS}).
 *
 * @example
 * ```ts
 * import { SYNTHETIC_IDS, syntheticLayerId } from "@perfmamba/perfmamba";
 * console.log(syntheticLayerId(2, SYNTHETIC_IDS.outProj)); // 55
 * ```
 */
export function syntheticLayerId(l: number, slot: number): number {
  return 16 * (l + 1) + slot;
}

/** The recipe of a lazy synthetic tensor, and its host array (null until made, or once it is not the recipe's). */
const LAZY = Symbol("synthetic recipe");
interface Lazy {
  [LAZY]: { uniform: SyntheticUniform; array: () => Float32Array | null; read: () => boolean };
}

/**
 * The recipe of a synthetic uniform tensor ({@link syntheticWeights}, `syntheticSource`) whose values have not
 * been read on the host, or null (any other tensor, or one whose `data` was read or replaced: the host array may
 * have been changed since). A backend with `generateUniform` makes it on the device from the recipe.
 *
 * @example
 * ```ts
 * import { makeConfig, syntheticLayer, syntheticUniformOf } from "@perfmamba/perfmamba";
 * const layer = syntheticLayer(makeConfig("mamba1", { dModel: 32, nLayer: 1, vocabSize: 64 }), 0, 1);
 * const recipe = syntheticUniformOf(layer.inProj);
 * console.log(recipe !== null, layer.inProj.data.length, syntheticUniformOf(layer.inProj)); // true 4096 null
 * ```
 */
export function syntheticUniformOf(t: HostTensor): SyntheticUniform | null {
  const lazy = (t as Partial<Lazy>)[LAZY];
  return lazy && !lazy.read() ? lazy.uniform : null;
}

/**
 * A `[rows, cols]` (or `[n]`) tensor uniform on ±std·√3 (standard deviation `std`) from stream `id`, made on the
 * host only when its `data` is first read (a backend may generate it from its recipe instead:
 * {@link syntheticUniformOf}), into `into`'s array when that has the same size (fresh memory costs a page fault
 * per 4 KiB: more than generating it).
 */
function uniform(shape: number[], seed: number, id: number, std: number, into?: HostTensor | null): HostTensor {
  const n = shape.reduce((a, b) => a * b, 1);
  const u: SyntheticUniform = { key: syntheticKey(seed, id), scale: Math.fround(std * Math.sqrt(3)) };
  const lazy = into ? (into as Partial<Lazy>)[LAZY] : undefined;
  const prior = lazy ? lazy.array() : into?.data; // a lazy tensor's array without making its values
  let array = prior?.length === n ? prior : null, read = false;
  const t = { shape } as HostTensor;
  Object.defineProperty(t, "data", {
    enumerable: true,
    get(): Float32Array {
      if (!read) {
        array ??= new Float32Array(n);
        syntheticUniform(array, u.key, 0, u.scale);
        read = true;
      }
      return array!;
    },
    set(v: Float32Array) {
      array = v;
      read = true;
    },
  });
  Object.defineProperty(t, LAZY, { value: { uniform: u, array: () => array, read: () => read } });
  return t;
}

const filled = (n: number, v: number): HostTensor => ({ shape: [n], data: new Float32Array(n).fill(v) });

/** Δ bias: softplus⁻¹ of Δ log-uniform in [0.001, 0.1]. */
function dtBias(n: number, seed: number, id: number): HostTensor {
  const lo = Math.log(0.001), span = Math.log(0.1) - lo;
  return {
    shape: [n],
    data: mapped(n, syntheticKey(seed, id), (u) => {
      const dt = Math.exp(u * span + lo);
      return dt + Math.log(-Math.expm1(-dt));
    }),
  };
}

/**
 * Layer `l` of {@link syntheticWeights}`(config, seed)`, made on its own (the same values). `reuse`: a layer made
 * earlier, whose f32 arrays are overwritten where the sizes match (it must no longer be needed).
 *
 * @example
 * ```ts
 * import { makeConfig, syntheticLayer, syntheticWeights } from "@perfmamba/perfmamba";
 * const config = makeConfig("mamba1", { dModel: 32, nLayer: 3, vocabSize: 64 });
 * const a = syntheticLayer(config, 2, 7).inProj, b = syntheticWeights(config, 7).layers[2].inProj;
 * console.log(a.data.every((v, i) => v === b.data[i])); // true
 * ```
 */
export function syntheticLayer(config: MambaConfig, l: number, seed = 0, reuse?: LayerWeights): LayerWeights {
  // Reused arrays: every tensor is rewritten whole, so the result is the same with or without them.
  const r1 = reuse?.arch === "mamba1" ? reuse : undefined, r2 = reuse?.arch === "mamba2" ? reuse : undefined;
  const m = (t: HostMatrix | null | undefined): HostTensor | null => (t && !isQuantized(t) ? t : null);
  const d = config.dModel, D = config.dInner, K = config.dConv;
  const N = layerStateSize(config, l);
  const id = (slot: number) => syntheticLayerId(l, slot);
  const I = SYNTHETIC_IDS;
  const outStd = D ** -0.5 / Math.sqrt(config.nLayer);
  if (config.arch === "mamba1") {
    const R = config.dtRank;
    const aLog = new Float32Array(D * N);
    for (let i = 0; i < aLog.length; i++) aLog[i] = Math.log((i % N) + 1);
    return {
      arch: "mamba1",
      norm: filled(d, 1),
      inProj: uniform([2 * D, d], seed, id(I.inProj), d ** -0.5, m(r1?.inProj)),
      inProjBias: config.useBias ? filled(2 * D, 0) : null,
      convWeight: uniform([D, K], seed, id(I.convWeight), K ** -0.5, m(r1?.convWeight)),
      convBias: config.useConvBias ? uniform([D], seed, id(I.convBias), 0.1, m(r1?.convBias)) : null,
      xProj: uniform([R + 2 * N, D], seed, id(I.xProj), D ** -0.5, m(r1?.xProj)),
      dtProj: uniform([D, R], seed, id(I.dtProj), R ** -0.5, m(r1?.dtProj)),
      dtProjBias: dtBias(D, seed, id(I.dtBias)),
      aLog: { shape: [D, N], data: aLog },
      D: filled(D, 1),
      outProj: uniform([d, D], seed, id(I.outProj), outStd, m(r1?.outProj)),
      outProjBias: config.useBias ? filled(d, 0) : null,
    };
  }
  const G = config.nGroups, H = config.nHeads;
  const rows = 2 * D + 2 * G * N + H;
  return {
    arch: "mamba2",
    norm: filled(d, 1),
    inProj: uniform([rows, d], seed, id(I.inProj), d ** -0.5, m(r2?.inProj)),
    inProjBias: config.useBias ? filled(rows, 0) : null,
    convWeight: uniform([D + 2 * G * N, K], seed, id(I.convWeight), K ** -0.5, m(r2?.convWeight)),
    convBias: config.useConvBias ? uniform([D + 2 * G * N], seed, id(I.convBias), 0.1, m(r2?.convBias)) : null,
    dtBias: dtBias(H, seed, id(I.dtBias)),
    aLog: { shape: [H], data: mapped(H, syntheticKey(seed, id(I.aLog)), (u) => Math.log(1 + u * 15)) },
    D: filled(H, 1),
    gateNorm: filled(D, 1),
    outProj: uniform([d, D], seed, id(I.outProj), outStd, m(r2?.outProj)),
    outProjBias: config.useBias ? filled(d, 0) : null,
  };
}

/**
 * The embedding of {@link syntheticWeights}`(config, seed)` (`[vocab, d]`, std 0.02).
 *
 * @example
 * ```ts
 * import { makeConfig, syntheticEmbedding } from "@perfmamba/perfmamba";
 * const e = syntheticEmbedding(makeConfig("mamba2", { dModel: 64, nLayer: 1, vocabSize: 32, headDim: 16 }), 1);
 * console.log(e.shape); // [ 32, 64 ]
 * ```
 */
export function syntheticEmbedding(config: MambaConfig, seed = 0): HostTensor {
  return uniform([config.vocabSize, config.dModel], seed, SYNTHETIC_IDS.embedding, 0.02);
}

/**
 * The untied lm_head of {@link syntheticWeights}`(config, seed)`, or null when the config ties it to the embedding.
 *
 * @example
 * ```ts
 * import { makeConfig, syntheticLmHead } from "@perfmamba/perfmamba";
 * console.log(syntheticLmHead(makeConfig("mamba1", { dModel: 32, nLayer: 1, vocabSize: 64 }), 1)); // null
 * ```
 */
export function syntheticLmHead(config: MambaConfig, seed = 0): HostTensor | null {
  return config.tieEmbeddings ? null : uniform([config.vocabSize, config.dModel], seed, SYNTHETIC_IDS.lmHead, 0.02);
}

/**
 * Weights for `config` from `seed`: the same seed always gives the same model. Large models: load them layer by
 * layer instead (`MambaModel.fromSource(syntheticSource(config, seed), backend)`), which never holds the whole
 * model on the host.
 *
 * @example
 * ```ts
 * import { makeConfig, syntheticWeights } from "@perfmamba/perfmamba";
 * const w = syntheticWeights(makeConfig("mamba1", { dModel: 64, nLayer: 2, vocabSize: 256 }), 1);
 * console.log(w.layers.length); // 2
 * ```
 */
export function syntheticWeights(config: MambaConfig, seed = 0): MambaWeights {
  const layers: LayerWeights[] = [];
  for (let l = 0; l < config.nLayer; l++) layers.push(syntheticLayer(config, l, seed));
  return {
    config,
    embedding: syntheticEmbedding(config, seed),
    layers,
    normF: filled(config.dModel, 1),
    lmHead: syntheticLmHead(config, seed),
  };
}
