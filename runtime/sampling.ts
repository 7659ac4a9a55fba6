/**
 * Choosing the next token from a row of logits: greedy, repetition penalty, temperature, top-k and top-p (nucleus),
 * seeded.
 *
 * One token is chosen by {@link sampleRow}, the definition both the host ({@link Sampler}) and the backends' device
 * samplers (`Backend.sampleInto`: WGSL on WebGPU, this very function on WASM) follow, so that the same draws give the
 * same tokens:
 *
 * 1. **repetition penalty** `p` (Hugging Face's `RepetitionPenaltyLogitsProcessor`): for every token id already seen
 *    (prompt and generated, each once), a logit `x > 0` becomes `x / p`, else `x · p` (p > 1 discourages repeats);
 * 2. **temperature** `T`: `z = x / T` (T = 0: greedy, the lowest id among the largest penalized logits, no draw).
 *    Both divisions are f32 multiplications by the f32 reciprocal, so every backend computes the same `z` bits;
 * 3. **top-k**: keep the ids whose `z` is at least the k-th largest `z` (ties at the k-th value are all kept);
 * 4. **top-p**: with `w = exp(z − max z)` (f32) over the kept ids and `S = Σ w`, keep the ids whose `z` is at least
 *    the largest threshold `τ` for which `Σ_{z ≥ τ} w ≥ p · S` (the smallest head of the distribution reaching p;
 *    ties at τ all kept);
 * 5. **draw**: ONE uniform `u` in [0, 1) per token (24 bits of the seeded mulberry32 stream: exact in f32, see
 *    {@link Sampler.draw}); the token is the lowest id, walking the kept ids in increasing id order, at which the
 *    running sum of `w` exceeds `u · Σ_kept w` (the argmax if rounding leaves none).
 *
 * Host and device agree exactly on the kept set and on the walk order; their f32 sums may differ in the last bits,
 * so a token can differ only when a draw falls within that rounding of a boundary of the cumulative distribution.
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
  /**
   * Repetition penalty (default 1 = none), Hugging Face's semantics: before temperature, the logit `x` of every
   * token already in the prompt or generated becomes `x / p` when `x > 0`, else `x · p` (p > 1 discourages repeats).
   * Applies to greedy decoding too.
   */
  repetitionPenalty?: number;
}

/**
 * The per-token parameters of one sampled choice, as {@link sampleRow} and the device samplers take them
 * (`Backend.sampleInto`): all set, no defaults.
 *
 * @example
 * ```ts
 * import { sampleRow, type TokenChoice } from "@perfmamba/perfmamba";
 *
 * const choice: TokenChoice = { temperature: 1, topK: 2, topP: 1, repetitionPenalty: 1 };
 * // Top-k 2 keeps ids 0 and 1 (probabilities ∝ e² and e^1.5): u = 0.1 lands on id 0, u = 0.9 on id 1.
 * console.log(sampleRow([2, 1.5, 0.2, -1], 4, choice, 0.1), sampleRow([2, 1.5, 0.2, -1], 4, choice, 0.9)); // 0 1
 * ```
 */
export interface TokenChoice {
  /** 0 = greedy (argmax of the penalized logits); otherwise the divisor of the logits. */
  temperature: number;
  /** Keep the ids at or above the k-th largest value (0 = all). */
  topK: number;
  /** Nucleus mass in (0, 1] (1 = all). */
  topP: number;
  /** Repetition penalty (1 = none). */
  repetitionPenalty: number;
}

/**
 * The {@link TokenChoice} of sampling options, defaults filled in (checked first).
 *
 * @example
 * ```ts
 * import { tokenChoice } from "@perfmamba/perfmamba";
 * console.log(tokenChoice({ temperature: 0.8 })); // { temperature: 0.8, topK: 0, topP: 1, repetitionPenalty: 1 }
 * ```
 *
 * @throws RangeError naming an invalid option
 */
export function tokenChoice(o: SamplingOptions): TokenChoice {
  checkSampling(o);
  return {
    temperature: o.temperature ?? 0,
    topK: o.topK ?? 0,
    topP: o.topP ?? 1,
    repetitionPenalty: o.repetitionPenalty ?? 1,
  };
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
  if (o.repetitionPenalty !== undefined && !(o.repetitionPenalty > 0 && Number.isFinite(o.repetitionPenalty))) {
    throw new RangeError(`repetitionPenalty must be a finite number > 0, got ${o.repetitionPenalty}`);
  }
}

/**
 * Choose one token from a row of logits by the module's definition (penalty → temperature → top-k → top-p → one
 * draw `u`, inverse CDF over the kept ids in increasing id order), among the ids [0, count). The reference the
 * device samplers follow; {@link Sampler.pick} calls it with its own draws.
 *
 * @example
 * ```ts
 * import { sampleRow } from "@perfmamba/perfmamba";
 *
 * const row = [1, 3, 2.5, -1];
 * const choice = { temperature: 1, topK: 0, topP: 1, repetitionPenalty: 2 };
 * // Token 1 was seen: its logit 3 becomes 1.5, below token 2's 2.5. Greedy (temperature 0) now picks 2.
 * console.log(sampleRow(row, 4, { ...choice, temperature: 0 }, 0, (id) => id === 1)); // 2
 * ```
 *
 * @param row logits (at least `count` of them)
 * @param count candidate ids [0, count) (`config.tokenVocabSize`)
 * @param choice temperature, top-k, top-p and repetition penalty
 * @param u the uniform draw in [0, 1) (unused at temperature 0)
 * @param seen whether an id was already seen (prompt or generated), for the repetition penalty
 * @throws RangeError when count is not a whole number in [1, row.length]
 */
export function sampleRow(
  row: ArrayLike<number>,
  count: number,
  choice: TokenChoice,
  u: number,
  seen?: (id: number) => boolean,
): number {
  checkCount(count, row.length, "sampleRow");
  const f = Math.fround, T = f(choice.temperature), pen = f(choice.repetitionPenalty);
  const invT = f(1 / T), invPen = f(1 / pen); // multiplications by f32 reciprocals: bit-exact on every backend
  const z = new Float32Array(count);
  for (let c = 0; c < count; c++) {
    let v = row[c];
    if (pen !== 1 && seen?.(c)) v = v > 0 ? f(v * invPen) : f(v * pen);
    z[c] = T > 0 ? f(v * invT) : v;
  }
  if (T === 0) return argmax(z);
  let best = 0;
  for (let c = 1; c < count; c++) if (z[c] > z[best]) best = c;
  const m = z[best];
  let tau = -Infinity;
  const k = choice.topK;
  if (k > 0 && k < count) tau = z.slice().sort()[count - k]; // the k-th largest value
  const w = new Float32Array(count);
  let total = 0;
  for (let c = 0; c < count; c++) if (z[c] >= tau) total += w[c] = f(Math.exp(f(z[c] - m)));
  const p = f(choice.topP);
  if (p < 1) {
    const target = p * total;
    const kept = z.filter((v) => v >= tau).sort().reverse(); // descending
    let acc = 0;
    for (let i = 0; i < kept.length; i++) {
      acc += f(Math.exp(f(kept[i] - m)));
      // the mass at or above a value counts every id with that value: close a group of ties first
      if (acc >= target && (i + 1 === kept.length || kept[i + 1] !== kept[i])) {
        tau = kept[i];
        break;
      }
    }
  }
  let mass = 0;
  for (let c = 0; c < count; c++) if (z[c] >= tau) mass += w[c];
  const r = u * mass;
  let acc = 0;
  for (let c = 0; c < count; c++) {
    if (z[c] < tau) continue;
    acc += w[c];
    if (acc > r) return c;
  }
  return best;
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
  /** The options as one {@link TokenChoice} (defaults filled in). */
  readonly choice: TokenChoice;

  /**
   * A sampler for `options`, its PRNG seeded with `options.seed`.
   *
   * @param options temperature, top-k, top-p, repetition penalty and seed (default: greedy)
   * @throws RangeError naming an invalid option
   */
  constructor(options: SamplingOptions = {}) {
    this.choice = tokenChoice(options);
    this.#o = options;
    this.#rand = mulberry32(options.seed ?? 0);
  }

  /**
   * The next uniform draw of this sampler's stream: 24 bits of mulberry32, a float in [0, 1) exact in f32. A sampled
   * pick consumes one (a greedy one none); a device burst takes its draws ahead with this, in the same order.
   */
  draw(): number {
    return Math.floor(this.#rand() * 16777216) / 16777216;
  }

  /**
   * Pick a token id from one row of logits, among the ids [0, count): greedy, or repetition penalty, temperature,
   * top-k and top-p over those ids only (a padded vocabulary's rows from `config.tokenVocabSize` on are never
   * picked), by {@link sampleRow} with this sampler's next {@link draw}.
   *
   * @param row logits
   * @param count token ids (default: the whole row)
   * @param seen whether an id was already seen (prompt or generated), for the repetition penalty
   * @throws RangeError when count is not a whole number in [1, row.length]
   */
  pick(row: ArrayLike<number>, count: number = row.length, seen?: (id: number) => boolean): number {
    checkCount(count, row.length, "Sampler.pick");
    if (this.choice.temperature === 0 && (this.choice.repetitionPenalty === 1 || !seen)) return argmax(row, count);
    return sampleRow(row, count, this.choice, this.choice.temperature === 0 ? 0 : this.draw(), seen);
  }
}
