/**
 * The profiler on the tiny fixtures, on every timing method this host has: wall-clock (WASM), timestamp-query and
 * fenced (WebGPU). Absolute timings are not asserted; relations between them are on the CPU (positive, inside the
 * pass, growing with their FLOPs across two lengths: tests/_profile_checks.ts `assertTimesScale`). Also: the report's schema, that FLOPs,
 * bytes, weights and state equal the analytic counts of runtime/cost.ts, shares and coverage are computed from the
 * medians, memory comes from the allocator (in_proj leaves its output allocated), the trace nests, and the model
 * still reproduces golden after being profiled (no hooks or timing left behind).
 */
import assert from "node:assert/strict";
import type { Backend, DevicePeaks } from "../../runtime/backend.ts";
import { loadWeights } from "../../runtime/checkpoint.ts";
import { componentStateBytes, componentWeightBytes, forwardBytes, forwardFlops } from "../../runtime/cost.ts";
import { MambaModel } from "../../runtime/model.ts";
import { profileModels, type ProfileProgress, stats } from "../../runtime/profiler.ts";
import { createWasmBackend } from "../../wasm/backend.ts";
import { createWebGpuBackend } from "../../kernels/webgpu_backend.ts";
import { dirSource } from "../../cli/fs_source.ts";
import { profileTrace } from "../../cli/report/trace.ts";
import { assertClose, fixtureDir, type FixtureGolden, readGolden } from "../_golden.ts";
import { TEST_BACKENDS, TIMESTAMP_SKIP } from "../_backends.ts";
import { sharedGpuDevice } from "../_gpu_device.ts";
import {
  assertFusedDecodeFigures,
  assertTimesScale,
  assertTraceNests,
  assertValidProfile,
} from "../_profile_checks.ts";
import { makeConfig } from "../../runtime/presets.ts";
import { syntheticWeights } from "../../runtime/synthetic.ts";

const PEAKS: DevicePeaks = { bandwidthGBs: 20, gemmGflops: 200, detail: "given by the test" };
const gpuSkip = TEST_BACKENDS.find((b) => b.name === "webgpu")!.skip;

const METHODS: { method: string; skip: string | null; create: () => Promise<Backend>; timing?: "fenced" }[] = [
  { method: "wall-clock", skip: null, create: () => createWasmBackend({ threads: 2 }) },
  {
    method: "timestamp-query",
    skip: TIMESTAMP_SKIP,
    create: async () => createWebGpuBackend({ device: await sharedGpuDevice(), timestamps: true }),
  },
  {
    method: "fenced",
    skip: gpuSkip,
    create: async () => createWebGpuBackend({ device: await sharedGpuDevice() }),
    timing: "fenced",
  },
];

const close = (a: number, b: number, what: string) =>
  assert.ok(Math.abs(a - b) <= 1e-9 * Math.max(1, Math.abs(b)), `${what}: ${a} vs ${b}`);

for (const m of METHODS) {
  Deno.test({
    name: `profiler (${m.method}): fixtures in prefill and decode${m.skip ? ` (${m.skip})` : ""}`,
    ignore: m.skip !== null,
    fn: async () => {
      const backend = await m.create();
      const names = ["mamba1-tiny", "mamba2-tiny"];
      const models = await Promise.all(
        names.map(async (n) => ({
          model: MambaModel.load(await loadWeights(dirSource(fixtureDir(n))), backend),
          name: n,
        })),
      );
      try {
        if (m.method === "timestamp-query") {
          assert.ok(backend.passTimer, "the adapter has timestamp-query: a pass timer");
        }
        const ticks: ProfileProgress[] = [];
        const report = await profileModels(models, {
          seqLens: [8, 21],
          batch: 2,
          warmup: 1,
          iters: 2,
          peaks: PEAKS,
          timing: m.timing,
          onProgress: (p) => ticks.push(p),
        });
        assertValidProfile(report);
        assert.equal(report.environment.timing, m.method);
        assert.equal(report.environment.backend, backend.name);
        assert.deepEqual(report.environment.peaks, PEAKS);
        // The GPU adapter's info on WebGPU (the one the backend describes), none on the CPU.
        const gpu = report.environment.gpu;
        if (!backend.capabilities.queued) assert.equal(gpu, null);
        else {
          assert.ok(gpu !== null, "a WebGPU report names its adapter");
          if (gpu.description) assert.ok(backend.description.includes(gpu.description), backend.description);
        }
        assert.ok(ticks.length > 0 && ticks.every((t, i) => t.done === i + 1));
        assert.equal(ticks.at(-1)!.done, ticks.at(-1)!.total);
        assert.equal(report.runs.length, 2 * 2 * 2);
        assertTraceNests(report, profileTrace(report).traceEvents);
        // Components come from the unfused ops; WebGPU's fused decode step is timed beside them.
        assertFusedDecodeFigures(report, backend.capabilities.fusedDecode !== undefined);

        for (const run of report.runs) {
          const cfg = models[run.model].model.config;
          const what = `${cfg.arch} ${run.mode} L${run.seqLen}`;
          const tokens = run.mode === "prefill" ? run.seqLen : 1;
          const names = run.components.map((c) => c.name);
          const blocks = cfg.arch === "mamba1"
            ? ["norm", "in_proj", "conv1d", "x_proj", "dt_proj", "ssm", "out_proj", "residual"]
            : ["norm", "in_proj", "conv1d", "ssm", "gate_norm", "out_proj", "residual"];
          assert.deepEqual(names, ["embedding", ...blocks, "norm_f", "lm_head"], what);
          const flops = forwardFlops(cfg, 2, tokens, 2);
          const bytes = forwardBytes(cfg, 2, tokens, { logitRows: 2 });
          const weights = componentWeightBytes(cfg);
          const state = componentStateBytes(cfg, 2);
          const medianSum = run.components.reduce((a, c) => a + c.ms.median, 0);
          for (const c of run.components) {
            assert.equal(c.layers, blocks.includes(c.name) ? cfg.nLayer : 1, `${what} ${c.name} layers`);
            assert.equal(c.perLayerMs.length, c.layers);
            assert.equal(c.ms.n, 2);
            assert.equal(c.flops, flops[c.name]);
            const b = bytes[c.name];
            assert.deepEqual(c.bytes, { ...b, total: b.weights + b.activations + b.state });
            assert.equal(c.memory.weights, weights[c.name]);
            assert.equal(c.memory.state, state[c.name]);
            close(c.share, medianSum > 0 ? c.ms.median / medianSum : 0, `${what} ${c.name} share`);
            const r = c.roofline!;
            close(r.intensity, c.flops / c.bytes.total, `${what} ${c.name} intensity`);
            close(r.attainableGflops, Math.min(200, r.intensity * 20), `${what} ${c.name} attainable`);
            assert.equal(r.bound, r.intensity < 10 ? "memory" : "compute");
          }
          // in_proj leaves its output allocated: at least T × width f32.
          const width = cfg.arch === "mamba1"
            ? 2 * cfg.dInner
            : 2 * cfg.dInner + 2 * cfg.nGroups * cfg.dState + cfg.nHeads;
          const inProj = run.components.find((c) => c.name === "in_proj")!;
          assert.ok(inProj.memory.activations >= 2 * tokens * width * 4, `${what} in_proj output bytes`);
          assert.ok(run.memory.peak >= run.memory.baseline);
          const e = run.endToEnd;
          assert.equal(e.ms.n, 2);
          assert.equal(e.gpuMs !== null, m.method === "timestamp-query");
          close(e.referenceMs, e.gpuMs ? e.gpuMs.median : e.instrumentedMs.median, `${what} reference`);
          close(e.coverage, medianSum / e.referenceMs, `${what} coverage`);
          assert.equal(e.passOverheadMs !== null, m.method === "timestamp-query");
          // Timed components take ≥ 1 pass per instance; the correction only ever lowers the sum.
          for (const c of run.components) assert.ok(c.passes >= (m.method === "timestamp-query" ? c.layers : 0));
          if (m.method !== "timestamp-query") close(e.rawCoverage, e.coverage, `${what} raw coverage`);
          close(e.tokensPerS, (2 * tokens) / (e.ms.median / 1e3), `${what} tok/s`);
          assert.equal(run.trace.length, 1 + cfg.nLayer * blocks.length + 2);
          assert.equal(run.flops, Object.values(flops).reduce((a, v) => a + v, 0));
        }

        // Nothing left switched on: the models still reproduce golden.
        if (backend.passTimer) assert.equal(backend.passTimer.enabled, false);
        for (const [i, n] of names.entries()) {
          const golden = readGolden<FixtureGolden>(fixtureDir(n));
          const { logits, state } = await models[i].model.prefill(golden.input_ids);
          state.dispose();
          assertClose(logits.data, golden.logits.flat(), `${n} after profiling`);
        }
      } finally {
        for (const x of models) x.model.dispose();
        backend.dispose();
      }
    },
  });
}

Deno.test("profiler (wall-clock): component times are positive, lie inside the pass and grow with their FLOPs", async () => {
  // d_model 256 and 64 → 256 tokens: large enough that the ops, not the hooks, dominate (in_proj ~1 → ~5 ms).
  const backend = await createWasmBackend({ threads: 1 });
  const models = (["mamba1", "mamba2"] as const).map((arch) => ({
    name: arch,
    model: MambaModel.load(syntheticWeights(makeConfig(arch, { dModel: 256, nLayer: 2, vocabSize: 512 }), 1), backend),
  }));
  try {
    await assertTimesScale(() => profileModels(models, { seqLens: [64, 256], warmup: 1, iters: 5, peaks: null }), 4);
  } finally {
    for (const m of models) m.model.dispose();
    backend.dispose();
  }
});

Deno.test("profiler: bad options give clear errors", async () => {
  const backend = await createWasmBackend({ threads: 1 });
  using model = MambaModel.load(await loadWeights(dirSource(fixtureDir("mamba1-tiny"))), backend);
  const one = [{ model, name: "m" }];
  try {
    await assert.rejects(() => profileModels([]), /at least one model/);
    await assert.rejects(() => profileModels(one, { seqLens: [0] }), /sequence lengths must be positive/);
    await assert.rejects(() => profileModels(one, { batch: 0 }), /batch must be ≥ 1/);
    await assert.rejects(() => profileModels(one, { iters: 0 }), /iters must be ≥ 1/);
    // deno-lint-ignore no-explicit-any
    await assert.rejects(() => profileModels(one, { modes: ["train" as any] }), /modes must be prefill/);
  } finally {
    model.dispose();
    backend.dispose();
  }
});

Deno.test("stats: median, spread and std of known samples", () => {
  const s = stats([4, 1, 3, 2]);
  assert.deepEqual({ n: s.n, min: s.min, max: s.max, median: s.median, mean: s.mean }, {
    n: 4,
    min: 1,
    max: 4,
    median: 2.5,
    mean: 2.5,
  });
  close(s.iqr, 3.25 - 1.75, "iqr");
  close(s.std, Math.sqrt(5 / 3), "std");
  assert.equal(stats([7]).std, 0);
});
