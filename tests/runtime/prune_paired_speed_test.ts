/**
 * The paired design of the pruning speed study (`pruningSpeed(..., { pairing: "paired" })`): the dense model and each
 * pruned one loaded together, passes alternating. Oracles: the memory columns equal the rounds design's (each model's
 * peak, its own weights and state included, the other model's taken off), the speedup is the median of the pairs'
 * ratios recomputed from the samples, and the 95 % interval at 6 pairs is [min, max] of those ratios.
 */
import assert from "node:assert/strict";
import { makeConfig } from "../../runtime/presets.ts";
import { pruningSpeed, type SpeedPoint } from "../../runtime/prune/speed.ts";
import { createWasmBackend } from "../../wasm/backend.ts";

const config = makeConfig("mamba2", { dModel: 32, nLayer: 2, vocabSize: 64, headDim: 16, dState: 16 });
const key = (p: SpeedPoint) => `${p.seqLen}/${p.ratio}/${p.variant}/${p.mode}`;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b), m = (s.length - 1) / 2;
  return (s[Math.floor(m)] + s[Math.ceil(m)]) / 2;
}

Deno.test("pruningSpeed paired: rounds' memory, median of the pairs' ratios, [min, max] interval at 6 pairs", async () => {
  const backend = await createWasmBackend({ threads: 1 });
  try {
    const opts = { seqLens: [24, 40], variants: ["remove", "mask"] as ("remove" | "mask")[], warmup: 1, iters: 6 };
    const rounds = await pruningSpeed(backend, config, [0.5, 0.9], opts);
    const paired = await pruningSpeed(backend, config, [0.5, 0.9], { ...opts, pairing: "paired" });
    assert.deepEqual(paired.map(key), rounds.map(key));
    const configs = 4; // 2 ratios × 2 variants
    for (const p of paired) {
      const r = rounds.find((q) => key(q) === key(p))!;
      assert.equal(p.peakBytes, r.peakBytes, `${key(p)} peak`);
      assert.equal(p.memoryReductionPct, r.memoryReductionPct, `${key(p)} memory`);
      assert.equal(p.shape, r.shape);
      assert.equal(p.kept, r.kept);
      assert.equal(p.gpuMs, null);
      const dense = paired.find((q) => q.seqLen === p.seqLen && q.mode === p.mode && q.variant === "dense")!;
      if (p.variant === "dense") {
        assert.equal(p.samples.length, 6 * configs);
        assert.equal(p.speedup, 1);
        assert.equal(p.speedupInterval, null);
        continue;
      }
      // Dense samples are pooled configuration by configuration, in the order the pruned points come.
      const i = paired.filter((q) => q.seqLen === p.seqLen && q.mode === p.mode && q.variant !== "dense").indexOf(p);
      const denseMs = dense.samples.slice(6 * i, 6 * i + 6);
      const ratios = denseMs.map((d, j) => d / p.samples[j]);
      assert.equal(p.samples.length, 6);
      assert.equal(p.ms, median(p.samples));
      assert.equal(p.speedup, median(ratios));
      assert.deepEqual(p.speedupInterval, { lo: Math.min(...ratios), hi: Math.max(...ratios), coverage: 1 - 2 / 64 });
    }
  } finally {
    backend.dispose();
  }
});

Deno.test("pruningSpeed paired: adaptive stops at 6+ pairs or the budget; rounds > 1 and unknown pairings refused", async () => {
  const backend = await createWasmBackend({ threads: 1 });
  try {
    const pts = await pruningSpeed(backend, config, [0.5], {
      seqLens: [16],
      modes: ["prefill"],
      warmup: "adaptive",
      iters: "adaptive",
      precision: 0.5,
      maxMs: 300,
      pairing: "paired",
    });
    const p = pts.find((q) => q.variant === "remove")!;
    // ±50% is reached at the first interval (6 pairs) unless the machine is wildly noisy; never fewer than 6.
    assert.ok(p.samples.length >= 6, `${p.samples.length} pairs`);
    assert.ok(p.speedupInterval !== null && p.speedupInterval!.lo <= p.speedup && p.speedup <= p.speedupInterval!.hi);
    await assert.rejects(
      () => pruningSpeed(backend, config, [0.5], { seqLens: [8], pairing: "paired", rounds: 2 }),
      /paired design takes rounds = 1, got 2/,
    );
    await assert.rejects(
      // @ts-expect-error: not a pairing
      () => pruningSpeed(backend, config, [0.5], { seqLens: [8], pairing: "pairs" }),
      /pairing must be "rounds" or "paired", got "pairs"/,
    );
  } finally {
    backend.dispose();
  }
});
