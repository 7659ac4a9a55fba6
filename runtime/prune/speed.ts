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
import { syntheticWeights } from "../synthetic.ts";
import { pruneWeights } from "./apply.ts";
import { keptCount } from "./select.ts";

/** One (ratio, mode, length) measurement against the dense model. */
export interface SpeedPoint {
  ratio: number;
  mode: "prefill" | "decode";
  seqLen: number;
  /** States kept per layer. */
  kept: number;
  /** End-to-end wall time (median) and GPU time of the pass (timestamp-query only, else null), ms. */
  ms: number;
  gpuMs: number | null;
  /** Highest live bytes during the pass. */
  peakBytes: number;
  /** dense ms ÷ ms, and the same for GPU time. */
  speedup: number;
  gpuSpeedup: number | null;
  /** 1 − peak ÷ dense peak, in percent. */
  memoryReductionPct: number;
}

/** Options of {@link pruningSpeed}. */
export interface SpeedOptions {
  seqLens: number[];
  modes?: ("prefill" | "decode")[];
  warmup?: number;
  iters?: number;
  seed?: number;
  onProgress?: (p: ProfileProgress & { ratio: number }) => void;
}

/** Profile `config` dense and pruned at each ratio on `backend` (ratio 0 is the dense reference, always measured). */
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
