/**
 * Speed and memory of pruned shapes against the dense model (the paper's Table 2): for each pruning ratio, the
 * model with ⌊N·(1 − r)⌋ states per layer — physically removed (variant "remove") and/or masked (variant "mask": the
 * paper's "sparse variant", same sizes, the dropped states' B and C rows zeroed) — is profiled in prefill and/or
 * decode at each sequence length, on the same backend, one model at a time. Lengths are the outer loop: every
 * configuration of a length is measured before the next length, in `rounds` interleaved rounds, so that drift of a
 * shared machine hits all of them alike. Weights are random (shapes decide speed); which states are kept does not
 * matter for speed, so the first k are.
 *
 * @module
 */

import type { Backend } from "../backend.ts";
import type { MambaConfig } from "../config.ts";
import { MambaModel } from "../model.ts";
import { profileModels, type ProfileProgress } from "../profiler.ts";
import type { ProfileRun } from "../profile_report.ts";
import { modelShape } from "../compare.ts";
import { syntheticWeights } from "../synthetic.ts";
import { pruneWeights } from "./apply.ts";
import { keptCount } from "./select.ts";
import { measurePairs, type PairResult } from "./paired_speed.ts";
import type { MambaWeights } from "../weights.ts";

/**
 * One (ratio, mode, length) measurement against the dense model.
 *
 * @example
 * ```ts
 * import { makeConfig, pruningSpeed, selectBackend, type SpeedPoint } from "@perfmamba/perfmamba";
 *
 * const backend = await selectBackend("wasm", { threads: 1 });
 * const config = makeConfig("mamba1", { dModel: 64, nLayer: 2, vocabSize: 256 });
 * const points: SpeedPoint[] = await pruningSpeed(backend, config, [0.5], { seqLens: [8], warmup: 1, iters: 1 });
 * // A Table 2 row per point: ratio, mode, kept states, speed-up and memory saved against the dense model.
 * for (const p of points) {
 *   const speedup = `${p.speedup.toFixed(2)}×`, saved = `${p.memoryReductionPct.toFixed(1)}%`;
 *   console.log(p.ratio, p.mode, `L${p.seqLen}`, p.kept, `${p.ms.toFixed(3)} ms`, speedup, saved);
 * }
 * const dense = points.filter((p) => p.ratio === 0);
 * if (!dense.every((p) => p.speedup === 1 && p.memoryReductionPct === 0)) throw new Error("the dense reference");
 * backend.dispose();
 * ```
 */
export interface SpeedPoint {
  /** Pruning ratio (0: the dense model). */
  ratio: number;
  /** "dense" (ratio 0), "remove" (states physically removed) or "mask" (same sizes, dropped states zeroed). */
  variant: SpeedVariant;
  /** "prefill" (the whole prompt, TTFT) or "decode" (one step, TPOT). */
  mode: "prefill" | "decode";
  /** Prompt length (prefill) or the context length the step continues from (decode). */
  seqLen: number;
  /** States kept per layer. */
  kept: number;
  /** End-to-end wall time of the pass (median), ms. */
  ms: number;
  /** The raw wall times `ms` is the median of, one per measured pass (ms), all rounds together. */
  samples: number[];
  /** The pruned model's shape (`modelShape`): what `perfmamba compare` matches runs on. */
  shape: string;
  /** GPU time of the pass (median; timestamp-query only, else null), ms. */
  gpuMs: number | null;
  /** Highest live bytes during the pass. */
  peakBytes: number;
  /** dense ms ÷ ms; paired: the median over the pairs of dense ÷ pruned. */
  speedup: number;
  /**
   * Paired design only: the 95 % interval of `speedup` (distribution-free, of the median of the pairs' ratios; null
   * below 6 pairs, and for the dense point and the rounds design).
   */
  speedupInterval?: { lo: number; hi: number; coverage: number } | null;
  /** dense gpuMs ÷ gpuMs (null without GPU times). */
  gpuSpeedup: number | null;
  /** 1 − peak ÷ dense peak, in percent. */
  memoryReductionPct: number;
}

/**
 * How a pruned model of a speed point is built: dense, states removed, or states masked (same sizes).
 *
 * @example
 * ```ts
 * import { makeConfig, pruningSpeed, selectBackend, type SpeedVariant } from "@perfmamba/perfmamba";
 *
 * const backend = await selectBackend("wasm", { threads: 1 });
 * const config = makeConfig("mamba2", { dModel: 64, nLayer: 2, vocabSize: 256 });
 * const points = await pruningSpeed(backend, config, [0.5], {
 *   seqLens: [8],
 *   modes: ["prefill"],
 *   variants: ["remove", "mask"], // the dense point is always measured
 *   warmup: 0,
 *   iters: 1,
 * });
 * // Masking keeps every size, so it saves no memory; removal does.
 * for (const p of points) {
 *   const v: SpeedVariant = p.variant;
 *   console.log(v, p.memoryReductionPct > 0); // dense false, remove true, mask false
 * }
 * backend.dispose();
 * ```
 */
export type SpeedVariant = "dense" | "remove" | "mask";

/**
 * Options of {@link pruningSpeed}.
 *
 * @example
 * ```ts
 * import { makeConfig, pruningSpeed, selectBackend, type SpeedOptions } from "@perfmamba/perfmamba";
 *
 * const options: SpeedOptions = {
 *   seqLens: [8, 16], // prompt lengths (prefill) and context lengths (decode)
 *   modes: ["decode"], // default both
 *   warmup: 0, // default 2
 *   iters: 1, // default 5
 *   seed: 1, // of the random weights
 *   onProgress: (p) => console.log(`r=${p.ratio}: ${p.label} ${p.done}/${p.total}`),
 * };
 * const backend = await selectBackend("wasm", { threads: 1 });
 * const config = makeConfig("mamba2", { dModel: 64, nLayer: 2, vocabSize: 256, dState: 16, headDim: 16 });
 * const points = await pruningSpeed(backend, config, [0.5, 0.75], options);
 * console.log(points.length); // 6: 3 ratios (0 is always measured) × 2 lengths
 * backend.dispose();
 * ```
 */
export interface SpeedOptions {
  /** Prompt lengths (prefill) and context lengths (decode). */
  seqLens: number[];
  /** Default both. */
  modes?: ("prefill" | "decode")[];
  /** Pruned variants to measure at each ratio (default ["remove"]). */
  variants?: ("remove" | "mask")[];
  /** Un-timed passes before measuring (default 2; "adaptive": the profiler's adaptive warm-up). */
  warmup?: number | "adaptive";
  /**
   * Measured passes per round (default 5; "adaptive": the profiler's adaptive repetitions, stopped by `precision`
   * or the `maxMs` budget of a point — one pass where a pass exceeds the budget).
   */
  iters?: number | "adaptive";
  /** Adaptive: relative half-width of the 95 % interval of the median to reach (profiler default 0.03). */
  precision?: number;
  /** Adaptive: time budget of one point per round, ms (profiler default 5000). */
  maxMs?: number;
  /** Interleaved rounds per length: each round measures every configuration once more (default 1). */
  rounds?: number;
  /**
   * "rounds" (default): each configuration profiled on its own, one after another. "paired": the dense model and each
   * pruned one loaded together, their passes alternating, the speedup the median of the pairs' ratios with its 95 %
   * interval — for machines whose speed drifts over minutes (runtime/prune/paired_speed.ts). `warmup` / `iters` then
   * count pairs; `rounds` must be 1; no GPU times.
   */
  pairing?: "rounds" | "paired";
  /** Seed of the random weights (default 1). */
  seed?: number;
  /** Called after every forward pass, with the ratio and variant being measured. */
  onProgress?: (p: ProfileProgress & { ratio: number; variant: SpeedVariant }) => void;
}

/**
 * Profile `config` dense and pruned at each ratio on `backend` (ratio 0 is the dense reference, always measured).
 *
 * @example
 * ```ts
 * import { makeConfig, pruningSpeed, selectBackend } from "@perfmamba/perfmamba";
 *
 * const backend = await selectBackend("wasm", { threads: 1 });
 * // Random weights in the shape of the model (shapes decide speed); a real study uses a preset (presetConfig).
 * const config = makeConfig("mamba1", { dModel: 64, nLayer: 2, vocabSize: 256 });
 * // One measured pass each, for brevity: real timings want the defaults (2 warm-up and 5 timed passes).
 * const points = await pruningSpeed(backend, config, [0.5, 0.75], { seqLens: [16], warmup: 1, iters: 1 });
 * for (const p of points) console.log(p.mode, `r=${p.ratio}`, `kept ${p.kept}`, `${p.speedup.toFixed(2)}×`);
 * console.log(points.map((p) => p.kept)); // [ 16, 16, 8, 8, 4, 4 ]: dense, r = 0.5 and r = 0.75, prefill and decode
 * backend.dispose();
 * ```
 */
export async function pruningSpeed(
  backend: Backend,
  config: MambaConfig,
  ratios: number[],
  options: SpeedOptions,
): Promise<SpeedPoint[]> {
  const variants = options.variants ?? ["remove"];
  if (variants.length === 0 || variants.some((v) => v !== "remove" && v !== "mask")) {
    throw new RangeError(`pruningSpeed: variants must be "remove" and/or "mask", got [${variants.join(", ")}]`);
  }
  const rounds = options.rounds ?? 1;
  if (!Number.isInteger(rounds) || rounds < 1) throw new RangeError(`pruningSpeed: rounds must be ≥ 1, got ${rounds}`);
  const configs: { ratio: number; variant: SpeedVariant }[] = [{ ratio: 0, variant: "dense" }];
  for (const ratio of ratios.filter((r) => r !== 0)) {
    for (const variant of variants) configs.push({ ratio, variant });
  }
  const base = syntheticWeights(config, options.seed ?? 1);
  const modes = options.modes ?? ["prefill", "decode"];
  if (options.pairing === "paired") {
    if (rounds !== 1) throw new RangeError(`pruningSpeed: the paired design takes rounds = 1, got ${rounds}`);
    return await pairedPoints(backend, config, base, configs, modes, options);
  }
  if (options.pairing !== undefined && options.pairing !== "rounds") {
    throw new RangeError(`pruningSpeed: pairing must be "rounds" or "paired", got "${options.pairing}"`);
  }
  const points: SpeedPoint[] = [];
  for (const seqLen of options.seqLens) {
    // Per configuration and mode: the runs of every round.
    const runs = new Map<string, { shape: string; kept: number; runs: ProfileRun[] }>();
    for (let round = 0; round < rounds; round++) {
      for (const { ratio, variant } of configs) {
        const keep = base.layers.map(() => Array.from({ length: keptCount(config.dState, ratio) }, (_, i) => i));
        const weights = variant === "dense" ? base : pruneWeights(base, keep, { mode: variant });
        const model = MambaModel.load(weights, backend);
        try {
          const report = await profileModels([{ model, name: `${config.arch} ${variant} r=${ratio}` }], {
            seqLens: [seqLen],
            modes,
            warmup: options.warmup === "adaptive" ? undefined : options.warmup ?? 2,
            iters: options.iters === "adaptive" ? undefined : options.iters ?? 5,
            precision: options.precision,
            maxMs: options.maxMs,
            peaks: null,
            onProgress: (p) => options.onProgress?.({ ...p, ratio, variant }),
          });
          for (const run of report.runs) {
            const k = `${variant}/${ratio}/${run.mode}`;
            const entry = runs.get(k) ?? { shape: modelShape(model.config), kept: keep[0].length, runs: [] };
            entry.runs.push(run);
            runs.set(k, entry);
          }
        } finally {
          model.dispose();
        }
      }
    }
    const summary = (k: string) => {
      const e = runs.get(k)!;
      const samples = e.runs.flatMap((r) => r.endToEnd.samples);
      // GPU times: the median of the rounds' medians (the report keeps their statistics, not the samples).
      const gpu = e.runs.flatMap((r) => (r.endToEnd.gpuMs ? [r.endToEnd.gpuMs.median] : []));
      return {
        ...e,
        samples,
        ms: median(samples),
        gpuMs: gpu.length ? median(gpu) : null,
        peak: Math.max(...e.runs.map((r) => r.memory.peak)),
      };
    };
    for (const { ratio, variant } of configs) {
      for (const mode of modes) {
        const s = summary(`${variant}/${ratio}/${mode}`);
        const ref = summary(`dense/0/${mode}`);
        points.push({
          ratio,
          variant,
          mode,
          seqLen,
          kept: s.kept,
          ms: s.ms,
          samples: s.samples,
          shape: s.shape,
          gpuMs: s.gpuMs,
          peakBytes: s.peak,
          speedup: ref.ms / s.ms,
          gpuSpeedup: ref.gpuMs !== null && s.gpuMs !== null ? ref.gpuMs / s.gpuMs : null,
          memoryReductionPct: (1 - s.peak / ref.peak) * 100,
        });
      }
    }
  }
  return points;
}

/** The paired design (see {@link SpeedOptions.pairing}): per length, the dense model stays loaded beside each pruned one. */
async function pairedPoints(
  backend: Backend,
  config: MambaConfig,
  base: MambaWeights,
  configs: { ratio: number; variant: SpeedVariant }[],
  modes: ("prefill" | "decode")[],
  options: SpeedOptions,
): Promise<SpeedPoint[]> {
  const warmup = options.warmup ?? 2, iters = options.iters ?? 5;
  const keep = (ratio: number) =>
    base.layers.map(() => Array.from({ length: keptCount(config.dState, ratio) }, (_, i) => i));
  const loaded = (weights: MambaWeights) => {
    const before = backend.memory().liveBytes;
    const model = MambaModel.load(weights, backend);
    return { model, weightBytes: backend.memory().liveBytes - before };
  };
  const points: SpeedPoint[] = [];
  const pruned = configs.filter((c) => c.variant !== "dense");
  // Passes planned (adaptive: at least the 6 pairs an interval needs; the bar stretches if a point runs longer).
  const perPoint = 2 * ((warmup === "adaptive" ? 1 : warmup) + (iters === "adaptive" ? 6 : iters));
  let total = options.seqLens.length * pruned.length * modes.length * perPoint, done = 0;
  const started = performance.now();
  for (const seqLen of options.seqLens) {
    const dense = loaded(base);
    try {
      const denseRuns = new Map(modes.map((m) => [m, { ms: [] as number[], peak: 0 }]));
      const rows: { ratio: number; variant: SpeedVariant; mode: "prefill" | "decode"; r: PairResult; shape: string }[] =
        [];
      for (const { ratio, variant } of pruned) {
        const side = loaded(pruneWeights(base, keep(ratio), { mode: variant as "remove" | "mask" }));
        try {
          for (const mode of modes) {
            const r = await measurePairs(backend, dense, side, {
              mode,
              seqLen,
              warmup,
              iters,
              precision: options.precision,
              maxMs: options.maxMs,
              seed: options.seed ?? 1,
              onPass: () =>
                options.onProgress?.({
                  done: ++done,
                  total: total = Math.max(total, done),
                  label: `${config.arch} ${mode} L${seqLen}`,
                  model: `${config.arch} ${variant} r=${ratio}`,
                  mode,
                  elapsedMs: performance.now() - started,
                  leftMs: null,
                  modeLeftMs: null,
                  ratio,
                  variant,
                }),
            });
            const d = denseRuns.get(mode)!;
            d.ms.push(...r.denseMs);
            d.peak = Math.max(d.peak, r.densePeak);
            rows.push({ ratio, variant, mode, r, shape: modelShape(side.model.config) });
          }
        } finally {
          side.model.dispose();
        }
      }
      // The rounds design's order: configuration (dense first), then mode.
      for (const mode of modes) {
        const d = denseRuns.get(mode)!;
        points.push({
          ratio: 0,
          variant: "dense",
          mode,
          seqLen,
          kept: config.dState,
          ms: median(d.ms),
          samples: d.ms,
          shape: modelShape(dense.model.config),
          gpuMs: null,
          peakBytes: d.peak,
          speedup: 1,
          speedupInterval: null,
          gpuSpeedup: null,
          memoryReductionPct: 0,
        });
      }
      for (const { ratio, variant, mode, r, shape } of rows) {
        points.push({
          ratio,
          variant,
          mode,
          seqLen,
          kept: keptCount(config.dState, ratio),
          ms: median(r.prunedMs),
          samples: r.prunedMs,
          shape,
          gpuMs: null,
          peakBytes: r.prunedPeak,
          speedup: r.speedup,
          speedupInterval: r.speedupInterval,
          gpuSpeedup: null,
          memoryReductionPct: (1 - r.prunedPeak / denseRuns.get(mode)!.peak) * 100,
        });
      }
    } finally {
      dense.model.dispose();
    }
  }
  return points;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}
