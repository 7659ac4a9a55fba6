/**
 * Speed and memory of pruned shapes against the dense model (the paper's Table 2): for each pruning ratio, the
 * model with ⌊N·(1 − r)⌋ states per layer (physically removed) is profiled in prefill and decode at each sequence
 * length, on the same backend, one model at a time. Weights are random (shapes decide speed); which states are kept
 * does not matter for speed, so the first k are.
 *
 * @module
 */

import type { Backend } from "../backend.ts";
import type { MambaConfig } from "../config.ts";
import { MambaModel } from "../model.ts";
import { profileModels, type ProfileProgress } from "../profiler.ts";
import { modelShape } from "../compare.ts";
import { syntheticWeights } from "../synthetic.ts";
import { pruneWeights } from "./apply.ts";
import { keptCount } from "./select.ts";

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
  /** "prefill" (the whole prompt, TTFT) or "decode" (one step, TPOT). */
  mode: "prefill" | "decode";
  /** Prompt length (prefill) or the context length the step continues from (decode). */
  seqLen: number;
  /** States kept per layer. */
  kept: number;
  /** End-to-end wall time of the pass (median), ms. */
  ms: number;
  /** The raw wall times `ms` is the median of, one per measured pass (ms). */
  samples: number[];
  /** The pruned model's shape (`modelShape`): what `perfmamba compare` matches runs on. */
  shape: string;
  /** GPU time of the pass (median; timestamp-query only, else null), ms. */
  gpuMs: number | null;
  /** Highest live bytes during the pass. */
  peakBytes: number;
  /** dense ms ÷ ms. */
  speedup: number;
  /** dense gpuMs ÷ gpuMs (null without GPU times). */
  gpuSpeedup: number | null;
  /** 1 − peak ÷ dense peak, in percent. */
  memoryReductionPct: number;
}

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
  /** Un-timed passes before measuring (default 2). */
  warmup?: number;
  /** Measured passes (default 5). */
  iters?: number;
  /** Seed of the random weights (default 1). */
  seed?: number;
  /** Called after every forward pass, with the ratio being measured. */
  onProgress?: (p: ProfileProgress & { ratio: number }) => void;
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
  const all = [0, ...ratios.filter((r) => r !== 0)];
  const base = syntheticWeights(config, options.seed ?? 1);
  const points: SpeedPoint[] = [];
  const dense = new Map<string, SpeedPoint>();
  for (const ratio of all) {
    const keep = base.layers.map(() => Array.from({ length: keptCount(config.dState, ratio) }, (_, i) => i));
    const weights = ratio === 0 ? base : pruneWeights(base, keep, { mode: "remove" });
    const model = MambaModel.load(weights, backend);
    try {
      const report = await profileModels([{ model, name: `${config.arch} r=${ratio}` }], {
        seqLens: options.seqLens,
        modes: options.modes ?? ["prefill", "decode"],
        warmup: options.warmup ?? 2,
        iters: options.iters ?? 5,
        peaks: null,
        onProgress: (p) => options.onProgress?.({ ...p, ratio }),
      });
      for (const run of report.runs) {
        const k = `${run.mode}/${run.seqLen}`;
        const ref = dense.get(k);
        const p: SpeedPoint = {
          ratio,
          mode: run.mode,
          seqLen: run.seqLen,
          kept: keep[0].length,
          ms: run.endToEnd.ms.median,
          samples: run.endToEnd.samples,
          shape: modelShape(model.config),
          gpuMs: run.endToEnd.gpuMs?.median ?? null,
          peakBytes: run.memory.peak,
          speedup: ref ? ref.ms / run.endToEnd.ms.median : 1,
          gpuSpeedup: ref?.gpuMs && run.endToEnd.gpuMs ? ref.gpuMs / run.endToEnd.gpuMs.median : null,
          memoryReductionPct: ref ? (1 - run.memory.peak / ref.peakBytes) * 100 : 0,
        };
        if (ratio === 0) {
          dense.set(k, p);
          if (p.gpuMs !== null) p.gpuSpeedup = 1;
        }
        points.push(p);
      }
    } finally {
      model.dispose();
    }
  }
  return points;
}
