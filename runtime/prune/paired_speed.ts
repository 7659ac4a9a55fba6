/**
 * The paired design of the pruning speed study ({@link pruningSpeed} with `pairing: "paired"`): the dense model and
 * one pruned model are loaded side by side and their passes alternate (dense, pruned, pruned, dense, …), so that each
 * pair of passes runs within seconds of each other and the speedup is the median of the pairs' ratios. A machine whose
 * speed drifts by tens of percent over minutes (a shared VM) moves both passes of a pair alike; measured one
 * configuration after another, the same drift lands in the speedups (the masked variant, the dense model's work, read
 * 0.66–1.5× that way here). The ratios come with the distribution-free 95 % interval of their median.
 *
 * Memory stays the peak of the pass, weights included, as in the profiler: both models' weights (and, decoding, both
 * states) are live during every pass, so the other model's resident bytes (measured when they were allocated) are
 * taken off the backend's peak.
 *
 * @module
 */

import type { Backend } from "../backend.ts";
import type { MambaModel } from "../model.ts";
import { randomTokens } from "../profiler.ts";
import { medianInterval } from "../repetitions.ts";

/** One model's side of a pairing. */
export interface PairedSide {
  model: MambaModel;
  /** Live bytes the model's weights added to the backend when it was loaded. */
  weightBytes: number;
}

/** Options of {@link measurePairs}. */
export interface PairOptions {
  mode: "prefill" | "decode";
  seqLen: number;
  /** Pairs run and discarded first (at least 1 in adaptive mode). */
  warmup: number | "adaptive";
  /** A fixed number of measured pairs, or "adaptive": stop at `precision` (≥ 6 pairs) or after `maxMs`. */
  iters: number | "adaptive";
  /** Adaptive: relative half-width of the 95 % interval of the median ratio to reach (default 0.03). */
  precision?: number;
  /** Adaptive: time budget of the pairs of one configuration, ms (default 5000). */
  maxMs?: number;
  /** Seed of the prompt's tokens. */
  seed: number;
  /** Called after every pass. */
  onPass?: () => void;
}

/** What {@link measurePairs} measured. */
export interface PairResult {
  /** Wall times of the dense and the pruned passes, ms, pair by pair. */
  denseMs: number[];
  prunedMs: number[];
  /** Median of dense ÷ pruned over the pairs. */
  speedup: number;
  /** 95 % interval of that median (null below 6 pairs). */
  speedupInterval: { lo: number; hi: number; coverage: number } | null;
  /** Peak bytes of a pass of each model, its own weights included, the other model's excluded. */
  densePeak: number;
  prunedPeak: number;
}

const ADAPTIVE_MIN_PAIRS = 6;

/** A timed pass of one model: prefill of the prompt from a fresh state, or one decode step continuing its state. */
async function passOf(side: PairedSide, opts: PairOptions): Promise<{ run: () => Promise<void>; dispose(): void }> {
  const model = side.model;
  const prompt = randomTokens(opts.seqLen, model.config.vocabSize, opts.seed);
  if (opts.mode === "prefill") {
    return {
      run: async () => {
        const state = model.newState(1);
        try {
          await model.prefill([prompt], { state, lastOnly: true });
        } finally {
          state.dispose();
        }
      },
      dispose() {},
    };
  }
  // Decode: a state that has read the prompt, advanced one token per pass (the same cost at any position). The
  // unfused step, as the profiler's end-to-end decode passes.
  const state = model.newState(1);
  await model.prefill([prompt], { state, lastOnly: true });
  const next = [prompt[prompt.length - 1]];
  return {
    run: async () => {
      const fused = model.fusedDecode;
      model.fusedDecode = false;
      try {
        await model.step(next, state);
      } finally {
        model.fusedDecode = fused;
      }
    },
    dispose: () => state.dispose(),
  };
}

/** Wall time and peak live bytes of one pass on `backend`. */
async function timed(backend: Backend, run: () => Promise<void>): Promise<{ ms: number; peak: number }> {
  await backend.sync();
  backend.resetPeak();
  const t0 = performance.now();
  await run();
  await backend.sync();
  return { ms: performance.now() - t0, peak: backend.memory().peakBytes };
}

/**
 * Alternating passes of `dense` and `pruned` (both loaded on `backend`), in ABBA order so that a steady trend within
 * a pair favours neither.
 */
export async function measurePairs(
  backend: Backend,
  dense: PairedSide,
  pruned: PairedSide,
  opts: PairOptions,
): Promise<PairResult> {
  // Resident bytes of each side beyond its weights: the decode state it keeps between passes.
  let live = backend.memory().liveBytes;
  const a = await passOf(dense, opts);
  const denseResident = dense.weightBytes + backend.memory().liveBytes - live;
  live = backend.memory().liveBytes;
  const b = await passOf(pruned, opts);
  const prunedResident = pruned.weightBytes + backend.memory().liveBytes - live;
  try {
    const denseMs: number[] = [], prunedMs: number[] = [];
    let densePeak = 0, prunedPeak = 0;
    const pair = async (i: number) => {
      const order = i % 2 === 0 ? [0, 1] : [1, 0];
      const out: number[] = [0, 0];
      for (const which of order) {
        const t = await timed(backend, which === 0 ? a.run : b.run);
        out[which] = t.ms;
        if (which === 0) densePeak = Math.max(densePeak, t.peak - prunedResident);
        else prunedPeak = Math.max(prunedPeak, t.peak - denseResident);
        opts.onPass?.();
      }
      return out;
    };
    const warm = opts.warmup === "adaptive" ? 1 : opts.warmup;
    for (let i = 0; i < warm; i++) await pair(i);
    const precision = opts.precision ?? 0.03, maxMs = opts.maxMs ?? 5000;
    const started = performance.now();
    const ratios = () => denseMs.map((d, i) => d / prunedMs[i]);
    for (let i = 0;; i++) {
      const [d, p] = await pair(i);
      denseMs.push(d);
      prunedMs.push(p);
      if (opts.iters !== "adaptive") {
        if (denseMs.length >= opts.iters) break;
        continue;
      }
      if (performance.now() - started >= maxMs) break;
      const ci = denseMs.length >= ADAPTIVE_MIN_PAIRS ? medianInterval(ratios()) : null;
      if (ci && ci.relHalfWidth <= precision) break;
    }
    const r = ratios();
    const ci = medianInterval(r);
    const sorted = [...r].sort((x, y) => x - y), m = (sorted.length - 1) / 2;
    return {
      denseMs,
      prunedMs,
      speedup: (sorted[Math.floor(m)] + sorted[Math.ceil(m)]) / 2,
      speedupInterval: ci ? { lo: ci.lo, hi: ci.hi, coverage: ci.coverage } : null,
      densePeak,
      prunedPeak,
    };
  } finally {
    a.dispose();
    b.dispose();
  }
}
