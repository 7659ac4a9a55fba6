/**
 * Autoregressive generation: prefill the prompt once, then one recurrent decode step per new token.
 *
 * @module
 */

import type { MambaModel, QueuedBurst } from "./model.ts";
import type { InferenceState } from "./state.ts";
import type { SamplingOptions } from "./sampling.ts";
import { Sampler } from "./sampling.ts";

/**
 * Options of {@link generate}.
 *
 * @example
 * ```ts
 * import { generate, type GenerateOptions, makeConfig, MambaModel, selectBackend, syntheticWeights } from "@perfmamba/perfmamba";
 *
 * const config = makeConfig("mamba1", { dModel: 32, nLayer: 2, vocabSize: 64 });
 * const backend = await selectBackend("wasm", { threads: 1 });
 * const model = MambaModel.load(syntheticWeights(config, 1), backend);
 * const streamed: number[] = [];
 * const options: GenerateOptions = {
 *   maxNewTokens: 6,
 *   temperature: 0.7,
 *   topP: 0.9,
 *   seed: 123, // the same seed gives the same continuation
 *   onToken: (token) => {
 *     streamed.push(token); // e.g. decode and print it
 *   },
 * };
 * const a = await generate(model, [1, 2, 3], options);
 * const b = await generate(model, [1, 2, 3], { ...options, onToken: undefined });
 * if (a.tokens.join() !== b.tokens.join() || a.tokens.join() !== streamed.join()) throw new Error("not reproducible");
 * console.log(a.tokens.length, a.stop); // 6 length
 * model.dispose();
 * backend.dispose();
 * ```
 */
export interface GenerateOptions extends SamplingOptions {
  /** Tokens to produce at most (default 32). */
  maxNewTokens?: number;
  /** Generation ends after producing any of these (the stop token is included in the result). */
  stopTokens?: number[];
  /** Called with each new token as soon as it is chosen; return `false` to stop early. */
  onToken?: (token: number, index: number) => void | boolean | Promise<void | boolean>;
  /**
   * Decode steps run per readback of the tokens, their tokens chosen on the device ({@link MambaModel.queueBurst}):
   * greedy decoding where the backend has `capabilities.deviceTokenChoice`, sampled decoding (or a repetition
   * penalty) where it has `capabilities.deviceSampling` too; otherwise one step and a host pick per token.
   * Default: the backend's `capabilities.decodeBurst` — 32 on WebGPU, where each readback waits for the GPU
   * (≥ 10 ms in Deno), which otherwise dominates each token: on an H100, 130m decode goes from 15 ms to 2.3–3 ms per
   * token; 1 on WASM (no wait to hide). Tokens still reach `onToken` one by one (in bursts); after a stop, the rest
   * of a burst is discarded. The tokens are the same for every value (sampled: the same draws are taken in the same
   * order; host and device agree but for a draw within f32 rounding of a boundary of the distribution).
   */
  decodeChunk?: number;
  /**
   * With bursts: queue the next burst before waiting for the current one's readback (default true), so the wait
   * overlaps the device's work; on a stop the speculative burst is discarded. Same tokens either way.
   */
  overlapReadback?: boolean;
}

/**
 * What {@link generate} produced.
 *
 * @example
 * ```ts
 * import { generate, type GenerateResult, makeConfig, MambaModel, selectBackend, syntheticWeights } from "@perfmamba/perfmamba";
 *
 * const config = makeConfig("mamba2", { dModel: 32, nLayer: 1, vocabSize: 64, dState: 8, headDim: 16 });
 * const backend = await selectBackend("wasm", { threads: 1 });
 * const model = MambaModel.load(syntheticWeights(config, 5), backend);
 * const greedy = await generate(model, [7, 8, 9], { maxNewTokens: 3 });
 * // Stop on the second greedy token: it ends the result, and `stop` says why.
 * const result: GenerateResult = await generate(model, [7, 8, 9], { maxNewTokens: 3, stopTokens: [greedy.tokens[1]] });
 * console.log(result.stop, result.tokens.length <= 2); // stop_token true
 * console.log(Number.isFinite(result.prefillMs)); // true (time to first token, ms)
 * model.dispose();
 * backend.dispose();
 * ```
 */
export interface GenerateResult {
  /** The new tokens (without the prompt). */
  tokens: number[];
  /** Why generation ended. */
  stop: "length" | "stop_token" | "callback";
  /** Prompt processing time in ms (time to first token). */
  prefillMs: number;
  /** Mean time per decoded token in ms (NaN if fewer than two tokens). */
  decodeMsPerToken: number;
}

/**
 * Continue a prompt with greedy or sampled decoding.
 *
 * The prompt is prefilled once, then each new token costs one recurrent step (constant time and memory per token).
 * New tokens are ids below `model.config.tokenVocabSize`: a padded vocabulary's rows are never chosen (greedy,
 * sampled, or on the device).
 *
 * @param model the model (its state is not kept: every call starts from the prompt)
 * @param prompt token ids, each below the vocabulary size
 * @param options length, stop tokens, streaming callback and sampling
 * @returns the new tokens, why generation stopped, and timings
 * @throws RangeError for an empty prompt, an out-of-vocabulary id or an invalid option
 *
 * @example
 * ```ts
 * import { argmax, generate, makeConfig, MambaModel, selectBackend, syntheticWeights } from "@perfmamba/perfmamba";
 *
 * const config = makeConfig("mamba2", { dModel: 64, nLayer: 2, vocabSize: 256, dState: 16, headDim: 16 });
 * const backend = await selectBackend("wasm", { threads: 1 });
 * const model = MambaModel.load(syntheticWeights(config, 42), backend);
 * const { tokens, stop } = await generate(model, [12, 34, 56], { maxNewTokens: 4 }); // greedy by default
 * console.log(tokens.length, stop); // 4 length
 *
 * // Greedy decoding is the argmax of the logits after the prompt.
 * const { logits, state } = await model.prefill([12, 34, 56], { lastOnly: true });
 * if (argmax(logits.data) !== tokens[0]) throw new Error("first token differs from the prefill's argmax");
 * state.dispose();
 * model.dispose();
 * backend.dispose();
 * ```
 */
export async function generate(
  model: MambaModel,
  prompt: ArrayLike<number>,
  options: GenerateOptions = {},
): Promise<GenerateResult> {
  const max = options.maxNewTokens ?? 32;
  if (!(Number.isInteger(max) && max >= 0)) throw new RangeError(`maxNewTokens must be a whole number ≥ 0, got ${max}`);
  const sampler = new Sampler(options);
  const choice = sampler.choice;
  const plainGreedy = choice.temperature === 0 && choice.repetitionPenalty === 1;
  const be = model.backend, caps = be.capabilities;
  const onDevice = caps.deviceTokenChoice && !!be.argmaxInto && !!be.embedFrom &&
    (plainGreedy || (caps.deviceSampling && !!be.sampleInto));
  const chunk = options.decodeChunk ?? (onDevice ? caps.decodeBurst : 1);
  if (!(Number.isInteger(chunk) && chunk >= 1)) {
    throw new RangeError(`decodeChunk must be a whole number ≥ 1, got ${chunk}`);
  }
  const overlap = options.overlapReadback ?? true;
  const stops = new Set(options.stopTokens ?? []);
  const tokens: number[] = [];
  const t0 = performance.now();
  const { logits, state } = await model.prefill(prompt, { lastOnly: true });
  const prefillMs = performance.now() - t0;
  let stop: GenerateResult["stop"] = "length";
  const tokenCount = model.config.tokenVocabSize; // padded rows (state-spaces vocabularies) are never chosen
  // The repetition penalty's history: the prompt, then every new token (host path; the device keeps a bitmap).
  const seen = new Set<number>(choice.repetitionPenalty === 1 ? [] : Array.from(prompt));
  const isSeen = (id: number) => seen.has(id);
  let next = sampler.pick(logits.data, tokenCount, isSeen);
  /** Emit one token; false when generation ends with it. */
  const emit = async (token: number): Promise<boolean> => {
    const i = tokens.length;
    tokens.push(token);
    if (choice.repetitionPenalty !== 1) seen.add(token);
    if ((await options.onToken?.(token, i)) === false) {
      stop = "callback";
      return false;
    }
    if (stops.has(token)) {
      stop = "stop_token";
      return false;
    }
    return tokens.length < max;
  };
  const t1 = performance.now();
  try {
    if (max > 0 && await emit(next)) {
      if (onDevice && chunk > 1) {
        await deviceBursts(model, state, next, max - 1, chunk, overlap, plainGreedy, sampler, [
          ...seen,
        ], emit);
      } else {
        for (;;) {
          next = sampler.pick((await model.step([next], state)).data, tokenCount, isSeen);
          if (!await emit(next)) break;
        }
      }
    }
  } finally {
    state.dispose();
  }
  const steps = tokens.length - 1;
  return { tokens, stop, prefillMs, decodeMsPerToken: steps > 0 ? (performance.now() - t1) / steps : NaN };
}

/**
 * Decode `remaining` tokens from `first` in bursts of `chunk` steps chosen on the device, each burst read back
 * once; with `overlap`, burst i + 1 is queued (from burst i's last token, still on the device) before burst i's
 * tokens are awaited, so the readback's wait hides behind the next burst's work. Tokens reach `emit` in order;
 * when it ends generation, the rest of the burst and the speculative next burst are discarded.
 */
async function deviceBursts(
  model: MambaModel,
  state: InferenceState,
  first: number,
  remaining: number,
  chunk: number,
  overlap: boolean,
  greedy: boolean,
  sampler: Sampler,
  seenTokens: number[],
  emit: (token: number) => Promise<boolean>,
): Promise<void> {
  const seen = greedy ? null : model.seenTokens([seenTokens]);
  const queued: QueuedBurst[] = [];
  const queue = async (from: number[] | QueuedBurst): Promise<QueuedBurst | null> => {
    const steps = Math.min(chunk, remaining);
    if (steps === 0) return null;
    remaining -= steps;
    // The draws a host loop would take, in the same order (one per sampled token).
    const sampling = seen
      ? { choice: sampler.choice, draws: Float32Array.from({ length: steps }, () => sampler.draw()), seen }
      : undefined;
    const b = await model.queueBurst(from, state, steps, sampling);
    queued.push(b);
    return b;
  };
  try {
    let cur = await queue([first]);
    while (cur) {
      const reading = model.readBurst(cur);
      const ahead = overlap ? await queue(cur) : null;
      const [got] = await reading;
      for (const t of got) if (!await emit(t)) return;
      cur = overlap ? ahead : await queue(cur);
    }
  } finally {
    // Every burst is freed only now: a later burst reads the last ids of the one before it.
    for (const b of queued) model.freeBurst(b);
    if (seen) model.backend.free(seen);
  }
}
