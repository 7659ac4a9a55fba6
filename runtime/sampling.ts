/**
 * Choosing the next token from a row of logits: greedy, temperature, top-k and top-p (nucleus), seeded.
 *
 * Both {@link argmax} and {@link Sampler.pick} take the number of token ids (`config.tokenVocabSize`): a model whose
 * embedding is padded (state-spaces' `pad_vocab_size_multiple`) has logits for rows that are no token, and those
 * are never picked, however large. The logits themselves keep every row.
 *
 * @module
 */

/**
 * How to pick a token from logits.
 *
 * @example
 * ```ts
 * import { argmax, Sampler, type SamplingOptions } from "@perfmamba/perfmamba";
 *
 * const logits = new Float32Array([2.0, 1.5, 0.2, -1.0]);
 * const options: SamplingOptions = { temperature: 0.8, topK: 2, topP: 0.95, seed: 7 };
 * const picks = Array.from({ length: 5 }, (_, i) => i).map(() => new Sampler(options).pick(logits));
 * // The same seed gives the same token; top-k 2 keeps only tokens 0 and 1.
 * if (new Set(picks).size !== 1 || picks[0] > 1) throw new Error(`picks ${picks}`);
 * // topK 1 (or temperature 0, the default) is greedy.
 * console.log(new Sampler({ temperature: 1, topK: 1 }).pick(logits) === argmax(logits)); // true
 * ```
 */
export interface SamplingOptions {
  /** 0 (default) = greedy argmax; otherwise logits are divided by it before softmax. */
  temperature?: number;
  /** Keep only the k most likely tokens (0 or undefined = all). */
  topK?: number;
  /** Keep the smallest set of most likely tokens whose probability reaches p (1 or undefined = all). */
  topP?: number;
  /** Seed of the pseudo-random generator (default 0): the same seed gives the same tokens. */
  seed?: number;
}

/**
 * A small, fast, seedable PRNG (mulberry32): uniform floats in [0, 1). The generator behind `Sampler`,
 * `syntheticWeights` and random state selection; use it for reproducible synthetic inputs (random token ids).
 *
 * @example
 * ```ts
 * import { mulberry32 } from "@perfmamba/perfmamba";
 *
 * const vocabSize = 256;
 * const a = mulberry32(7), b = mulberry32(7);
 * const prompt = Array.from({ length: 8 }, () => Math.floor(a() * vocabSize)); // random token ids in [0, 256)
 * if (!prompt.every((t) => t === Math.floor(b() * vocabSize))) throw new Error("same seed, different numbers");
 * console.log(prompt.length); // 8
 * ```
 */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Index of the largest value among the first `count` (the first one on ties, as torch.argmax).
 *
 * @example
 * ```ts
 * import { argmax } from "@perfmamba/perfmamba";
 *
 * console.log(argmax([0.1, 3, 3, -1])); // 1
 * console.log(argmax(new Float32Array([-5, -2, -9]))); // 1
 * // A padded vocabulary: only the first 3 entries are tokens (config.tokenVocabSize), the 9 is a padded row.
 * console.log(argmax([0.1, 3, -1, 9], 3)); // 1
 * ```
 *
 * @param row logits (or any numbers)
 * @param count candidates: indices [0, count) (default: the whole row)
 * @throws RangeError when count is not a whole number in [1, row.length]
 */
export function argmax(row: ArrayLike<number>, count: number = row.length): number {
  checkCount(count, row.length, "argmax");
  let best = 0;
  for (let i = 1; i < count; i++) if (row[i] > row[best]) best = i;
  return best;
}

function checkCount(count: number, length: number, op: string): void {
  if (!(Number.isInteger(count) && count >= 1 && count <= length)) {
    throw new RangeError(`${op}: the token count must be a whole number in [1, ${length}] (the row), got ${count}`);
  }
}

/** Validate sampling options; throws a RangeError naming the bad option. */
export function checkSampling(o: SamplingOptions): void {
  if (o.temperature !== undefined && !(o.temperature >= 0 && Number.isFinite(o.temperature))) {
    throw new RangeError(`temperature must be a finite number ≥ 0, got ${o.temperature}`);
  }
  if (o.topK !== undefined && !(Number.isInteger(o.topK) && o.topK >= 0)) {
    throw new RangeError(`topK must be a whole number ≥ 0, got ${o.topK}`);
  }
  if (o.topP !== undefined && !(o.topP > 0 && o.topP <= 1)) {
    throw new RangeError(`topP must be in (0, 1], got ${o.topP}`);
  }
}

/**
 * A sampler bound to options and its own PRNG stream.
 *
 * @example
 * ```ts
 * import { Sampler } from "@perfmamba/perfmamba";
 * const s = new Sampler({ temperature: 0 });
 * console.log(s.pick(new Float32Array([0.1, 3, -1]))); // 1
 * ```
 */
export class Sampler {
  readonly #o: SamplingOptions;
  readonly #rand: () => number;

  /**
   * A sampler for `options`, its PRNG seeded with `options.seed`.
   *
   * @param options temperature, top-k, top-p and seed (default: greedy)
   * @throws RangeError naming an invalid option
   */
  constructor(options: SamplingOptions = {}) {
    checkSampling(options);
    this.#o = options;
    this.#rand = mulberry32(options.seed ?? 0);
  }

  /**
   * Pick a token id from one row of logits, among the ids [0, count): greedy, or temperature, top-k and top-p over
   * those ids only (a padded vocabulary's rows from `config.tokenVocabSize` on are never picked).
   *
   * @param row logits
   * @param count token ids (default: the whole row)
   * @throws RangeError when count is not a whole number in [1, row.length]
   */
  pick(row: ArrayLike<number>, count: number = row.length): number {
    const t = this.#o.temperature ?? 0;
    if (t === 0) return argmax(row, count);
    checkCount(count, row.length, "Sampler.pick");
    const n = count;
    let ids = Array.from({ length: n }, (_, i) => i);
    ids.sort((a, b) => row[b] - row[a]);
    const k = this.#o.topK ?? 0;
    if (k > 0 && k < n) ids = ids.slice(0, k);
    const max = row[ids[0]];
    const p = ids.map((i) => Math.exp((row[i] - max) / t));
    const sum = p.reduce((a, b) => a + b, 0);
    for (let i = 0; i < p.length; i++) p[i] /= sum;
    const topP = this.#o.topP ?? 1;
    let keep = p.length;
    if (topP < 1) {
      let acc = 0;
      for (let i = 0; i < p.length; i++) {
        acc += p[i];
        if (acc >= topP) {
          keep = i + 1;
          break;
        }
      }
    }
    const mass = p.slice(0, keep).reduce((a, b) => a + b, 0);
    let r = this.#rand() * mass;
    for (let i = 0; i < keep; i++) {
      r -= p[i];
      if (r < 0) return ids[i];
    }
    return ids[keep - 1];
  }
}
