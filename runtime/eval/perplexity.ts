/**
 * Perplexity of a token stream in fixed-length windows, each scored from a zero state — the convention of
 * transformers' perplexity guide and lm-eval-harness' rolling windows, so numbers compare with theirs.
 *
 * Windows of `windowLength` tokens start every `stride` tokens. The first window scores every prediction it
 * makes (`windowLength − 1`: its first token has no context); each later window scores only its last
 * `min(stride, windowLength − 1)` tokens, the ones the previous window did not score. So:
 *
 * - `stride = windowLength` (the default): non-overlapping windows of 512 score 511 tokens each; the first token
 *   of every window is never predicted. This is how `train_report.json` of ../shared/models measured
 *   WikiText-2 (576 windows, 294,336 predictions).
 * - `stride < windowLength`: HF's "sliding window"; every token after the first window is predicted once, with
 *   at least `windowLength − stride` tokens of context.
 *
 * An incomplete last window is dropped (`tail: "drop"`, as in train_report.json) or scored over the tokens
 * that remain (`tail: "keep"`, as HF's loop does).
 *
 * @module
 */

import type { MambaModel } from "../model.ts";
import { scoreToken } from "./logprob.ts";

/**
 * One window: tokens `[start, end)`; the tokens at positions `[scoreFrom, end)` are scored.
 *
 * @example
 * ```ts
 * import { type PerplexityWindow, planWindows } from "@perfmamba/perfmamba";
 *
 * // 10 tokens in windows of 4 starting every 2 tokens.
 * const windows: PerplexityWindow[] = planWindows(10, { windowLength: 4, stride: 2 });
 * for (const w of windows) console.log(`tokens [${w.start}, ${w.end}), scored from ${w.scoreFrom}`);
 * // tokens [0, 4), scored from 1
 * // tokens [2, 6), scored from 4
 * // tokens [4, 8), scored from 6
 * // tokens [6, 10), scored from 8
 * const scored = windows.reduce((n, w) => n + w.end - w.scoreFrom, 0);
 * console.log(scored); // 9: every token but the first is predicted once
 * ```
 */
export interface PerplexityWindow {
  /** First token of the window (the state is zero before it). */
  start: number;
  /** One past the last token. */
  end: number;
  /** First scored position (> start); position p is predicted from the logits at p − 1. */
  scoreFrom: number;
}

/**
 * How a token stream is cut into windows.
 *
 * @example
 * ```ts
 * import { planWindows } from "@perfmamba/perfmamba";
 * import type { WindowOptions } from "./perplexity.ts";
 *
 * // Windows of 8 every 4 tokens, the incomplete last one kept, at most 3 of them.
 * const options: WindowOptions = { windowLength: 8, stride: 4, tail: "keep", maxWindows: 3 };
 * console.log(planWindows(30, options).map((w) => [w.start, w.end])); // [ [ 0, 8 ], [ 4, 12 ], [ 8, 16 ] ]
 * console.log(planWindows(10, { windowLength: 8, tail: "keep" }).at(-1)); // { start: 8, end: 10, scoreFrom: 9 }
 * ```
 */
export interface WindowOptions {
  /** Tokens per window (default 512). */
  windowLength?: number;
  /** Tokens between window starts (default: windowLength, non-overlapping). */
  stride?: number;
  /** An incomplete last window: "drop" (default) or "keep" (score the tokens it adds). */
  tail?: "drop" | "keep";
  /** Score at most this many windows (the first ones). */
  maxWindows?: number;
}

/**
 * Progress of {@link perplexity}, reported after each batch of windows.
 *
 * @example
 * ```ts
 * import { makeConfig, MambaModel, perplexity, selectBackend, syntheticWeights } from "@perfmamba/perfmamba";
 * import type { PerplexityProgress } from "./perplexity.ts";
 *
 * const config = makeConfig("mamba1", { dModel: 64, nLayer: 2, vocabSize: 256 });
 * const backend = await selectBackend("wasm", { threads: 1 });
 * const model = MambaModel.load(syntheticWeights(config, 42), backend);
 *
 * // A running perplexity while a long evaluation goes on.
 * const report = (p: PerplexityProgress) =>
 *   console.log(`${p.windows}/${p.totalWindows} windows, ppl so far ${Math.exp(p.nll / p.tokens).toFixed(1)}`);
 * const ids = Array.from({ length: 32 }, (_, i) => (i * 7) % 256);
 * await perplexity(model, ids, { windowLength: 8, onProgress: report }); // 1/4 windows, ppl so far … (4 lines)
 * model.dispose();
 * backend.dispose();
 * ```
 */
export interface PerplexityProgress {
  /** Windows scored so far. */
  windows: number;
  /** Windows in all. */
  totalWindows: number;
  /** Tokens scored so far. */
  tokens: number;
  /** Summed NLL so far (nats). */
  nll: number;
}

/**
 * Options of {@link perplexity}.
 *
 * @example
 * ```ts
 * import {
 *   makeConfig,
 *   MambaModel,
 *   perplexity,
 *   type PerplexityOptions,
 *   selectBackend,
 *   syntheticWeights,
 * } from "@perfmamba/perfmamba";
 *
 * const config = makeConfig("mamba1", { dModel: 64, nLayer: 2, vocabSize: 256 });
 * const backend = await selectBackend("wasm", { threads: 1 });
 * const model = MambaModel.load(syntheticWeights(config, 42), backend);
 * const ids = Array.from({ length: 28 }, (_, i) => (i * 7) % 256);
 *
 * // HF's sliding window: windows of 16 every 8 tokens (at least 8 tokens of context), 2 windows per prefill,
 * // the incomplete last window ([16, 28)) scored too.
 * const options: PerplexityOptions = {
 *   windowLength: 16,
 *   stride: 8,
 *   batch: 2,
 *   tail: "keep",
 *   onProgress: (p) => console.log(`${p.windows}/${p.totalWindows} windows, ${p.tokens} tokens`),
 * };
 * const r = await perplexity(model, ids, options);
 * console.log(r.windows.length, r.tokens); // 3 27: every token but the first
 * model.dispose();
 * backend.dispose();
 * ```
 */
export interface PerplexityOptions extends WindowOptions {
  /**
   * Windows per prefill call (default 1); equal-length windows only, so a tail window runs alone. Batches help a
   * GPU; on the WASM backend one 512-token window per call is already fastest.
   */
  batch?: number;
  /** Passed to {@link MambaModel.prefill}: split each window over time in pieces of this many tokens. */
  chunkTokens?: number;
  /** Called after each batch. */
  onProgress?: (p: PerplexityProgress) => void;
}

/**
 * What {@link perplexity} measured.
 *
 * @example
 * ```ts
 * import {
 *   makeConfig,
 *   MambaModel,
 *   perplexity,
 *   type PerplexityResult,
 *   selectBackend,
 *   syntheticWeights,
 * } from "@perfmamba/perfmamba";
 *
 * const config = makeConfig("mamba2", { dModel: 64, nLayer: 2, vocabSize: 256, dState: 16, headDim: 16 });
 * const backend = await selectBackend("wasm", { threads: 1 });
 * const model = MambaModel.load(syntheticWeights(config, 42), backend);
 * const ids = Array.from({ length: 32 }, (_, i) => (i * 7) % 256);
 *
 * const r: PerplexityResult = await perplexity(model, ids, { windowLength: 16 });
 * // Per-window perplexities, e.g. to spot outlier documents.
 * r.windows.forEach((w, i) => {
 *   console.log(`[${w.start}, ${w.end}): ppl ${Math.exp(r.windowNll[i] / r.windowTokens[i]).toFixed(1)}`);
 * });
 * console.log(r.inputTokens, r.tokens, r.windowLength, r.stride); // 32 30 16 16
 * if (Math.abs(r.ppl - Math.exp(r.nllPerToken)) > 1e-9 * r.ppl) throw new Error("ppl = exp(nll / tokens)");
 * model.dispose();
 * backend.dispose();
 * ```
 */
export interface PerplexityResult {
  /** exp(nll / tokens). */
  ppl: number;
  /** Summed negative log-likelihood of the scored tokens, in nats. */
  nll: number;
  /** Scored tokens (predictions). */
  tokens: number;
  /** nll / tokens. */
  nllPerToken: number;
  /** Tokens in the input stream. */
  inputTokens: number;
  /** The windows scored, in order. */
  windows: PerplexityWindow[];
  /** Summed NLL of each window (nats). */
  windowNll: number[];
  /** Scored tokens of each window. */
  windowTokens: number[];
  /** Window length used. */
  windowLength: number;
  /** Stride used. */
  stride: number;
}

/**
 * Cut a stream of `tokenCount` tokens into scoring windows (see the module description).
 *
 * @example
 * ```ts
 * import { planWindows } from "@perfmamba/perfmamba";
 *
 * console.log(planWindows(295232, { windowLength: 512 }).length); // 576
 * console.log(planWindows(10, { windowLength: 4, stride: 2 })); // 4 windows; the first scores 3, then 2 each
 * ```
 */
export function planWindows(tokenCount: number, options: WindowOptions = {}): PerplexityWindow[] {
  const L = options.windowLength ?? 512;
  const S = options.stride ?? L;
  const tail = options.tail ?? "drop";
  const max = options.maxWindows ?? Infinity;
  if (!(Number.isInteger(L) && L >= 2)) throw new RangeError(`windowLength must be a whole number ≥ 2, got ${L}`);
  if (!(Number.isInteger(S) && S >= 1 && S <= L)) {
    throw new RangeError(`stride must be a whole number in [1, windowLength = ${L}], got ${S}`);
  }
  if (tail !== "drop" && tail !== "keep") throw new RangeError(`tail must be "drop" or "keep", got "${tail}"`);
  if (!(max === Infinity || (Number.isInteger(max) && max >= 1))) {
    throw new RangeError(`maxWindows must be a whole number ≥ 1, got ${max}`);
  }
  if (!(Number.isInteger(tokenCount) && tokenCount >= 0)) {
    throw new RangeError(`tokenCount must be a whole number ≥ 0, got ${tokenCount}`);
  }
  const windows: PerplexityWindow[] = [];
  let scored = 0; // every position below this one has been scored (or lies before the first window)
  for (let start = 0; start < tokenCount && windows.length < max; start += S) {
    let end = start + L;
    if (end > tokenCount) {
      if (tail === "drop") break;
      end = tokenCount;
    }
    const scoreFrom = Math.max(start + 1, scored);
    if (scoreFrom < end) windows.push({ start, end, scoreFrom });
    scored = end;
    if (end >= tokenCount) break;
  }
  return windows;
}

/**
 * Perplexity of `ids` under `model`, in windows scored from a zero state (see the module description).
 * Log-softmax runs in float64 with a max shift. Throws on an id outside the model's vocabulary, naming it and
 * its position, and when the stream is too short for a single window.
 *
 * @example
 * ```ts
 * import { makeConfig, MambaModel, perplexity, selectBackend, syntheticWeights } from "@perfmamba/perfmamba";
 *
 * // A tiny model with random weights; a real evaluation loads a checkpoint and tokenizes a corpus
 * // (WikiText-2: windowLength 512 over ~295k tokens).
 * const config = makeConfig("mamba1", { dModel: 64, nLayer: 2, vocabSize: 256 });
 * const backend = await selectBackend("wasm", { threads: 1 });
 * const model = MambaModel.load(syntheticWeights(config, 42), backend);
 * const ids = Array.from({ length: 32 }, (_, i) => (i * 7) % 256);
 *
 * const r = await perplexity(model, ids, { windowLength: 16 });
 * console.log(r.windows.length, r.tokens); // 2 30 (two windows of 16, 15 predictions each)
 * // Random weights know nothing: about as unsure as a uniform guess over the 256 tokens.
 * console.log(r.ppl.toFixed(1)); // 257.8
 * if (!(r.ppl > 200 && r.ppl < 320)) throw new Error(`unexpected perplexity ${r.ppl}`);
 * model.dispose();
 * backend.dispose();
 * ```
 */
export async function perplexity(
  model: MambaModel,
  ids: ArrayLike<number>,
  options: PerplexityOptions = {},
): Promise<PerplexityResult> {
  const batch = options.batch ?? 1;
  if (!(Number.isInteger(batch) && batch >= 1)) throw new RangeError(`batch must be a whole number ≥ 1, got ${batch}`);
  const V = model.config.vocabSize;
  for (let i = 0; i < ids.length; i++) {
    const id = ids[i]; // checked as given: Int32Array.from would wrap 2³² to 0
    if (!(Number.isInteger(id) && id >= 0 && id < V)) {
      throw new RangeError(`token id ${id} at position ${i} is outside the model's vocabulary [0, ${V})`);
    }
  }
  const tokens = Int32Array.from(ids);
  const windows = planWindows(tokens.length, options);
  const L = options.windowLength ?? 512;
  if (windows.length === 0) {
    throw new RangeError(
      `${tokens.length} tokens make no complete window of ${L} tokens: use a shorter window or tail "keep"`,
    );
  }
  const windowNll: number[] = [];
  const windowTokens: number[] = [];
  let nll = 0, scored = 0;
  for (let i = 0; i < windows.length;) {
    // A batch: up to `batch` consecutive windows of the same length.
    const len = windows[i].end - windows[i].start;
    let j = i + 1;
    while (j < windows.length && j - i < batch && windows[j].end - windows[j].start === len) j++;
    const group = windows.slice(i, j);
    const { logits, state } = await model.prefill(
      group.map((w) => tokens.subarray(w.start, w.end)),
      { chunkTokens: options.chunkTokens },
    );
    state.dispose();
    group.forEach((w, b) => {
      let sum = 0;
      for (let p = w.scoreFrom; p < w.end; p++) {
        const row = b * len + (p - 1 - w.start); // the logits that predict position p
        sum -= scoreToken(logits.data, row * V, V, tokens[p]).logprob;
      }
      windowNll.push(sum);
      windowTokens.push(w.end - w.scoreFrom);
      nll += sum;
      scored += w.end - w.scoreFrom;
    });
    i = j;
    options.onProgress?.({ windows: i, totalWindows: windows.length, tokens: scored, nll });
  }
  return {
    ppl: Math.exp(nll / scored),
    nll,
    tokens: scored,
    nllPerToken: nll / scored,
    inputTokens: tokens.length,
    windows,
    windowNll,
    windowTokens,
    windowLength: L,
    stride: options.stride ?? L,
  };
}
