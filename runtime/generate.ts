/**
 * Autoregressive generation: prefill the prompt once, then one recurrent decode step per new token.
 *
 * @module
 */

import type { MambaModel } from "./model.ts";
import type { SamplingOptions } from "./sampling.ts";
import { Sampler } from "./sampling.ts";

/** Options of {@link generate}. */
export interface GenerateOptions extends SamplingOptions {
  /** Tokens to produce at most (default 32). */
  maxNewTokens?: number;
  /** Generation ends after producing any of these (the stop token is included in the result). */
  stopTokens?: number[];
  /** Called with each new token as soon as it is chosen; return `false` to stop early. */
  onToken?: (token: number, index: number) => void | boolean | Promise<void | boolean>;
}

/** What {@link generate} produced. */
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
 * @example
 * ```ts ignore
 * const { tokens } = await generate(model, [12092, 1533], { maxNewTokens: 8, onToken: (t) => console.log(t) });
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
  const stops = new Set(options.stopTokens ?? []);
  const tokens: number[] = [];
  const t0 = performance.now();
  const { logits, state } = await model.prefill(prompt, { lastOnly: true });
  const prefillMs = performance.now() - t0;
  let stop: GenerateResult["stop"] = "length";
  let row = logits.data;
  const t1 = performance.now();
  try {
    for (let i = 0; i < max; i++) {
      const next = sampler.pick(row);
      tokens.push(next);
      if ((await options.onToken?.(next, i)) === false) {
        stop = "callback";
        break;
      }
      if (stops.has(next)) {
        stop = "stop_token";
        break;
      }
      if (i + 1 < max) row = (await model.step([next], state)).data;
    }
  } finally {
    state.dispose();
  }
  const steps = tokens.length - 1;
  return { tokens, stop, prefillMs, decodeMsPerToken: steps > 0 ? (performance.now() - t1) / steps : NaN };
}
