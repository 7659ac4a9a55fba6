/**
 * Where a WebGPU forward spends its time, per component, from timestamp queries (not a test; the profiler of
 * issue 4 will supersede it): `deno run -A tests/kernels/_gpu_breakdown.ts [seqLen] [f16]`.
 * Prints wall time vs summed GPU pass time for a prefill and a decode step of each 130m-shaped model, GPU time by
 * component, steady decode ms/step, and the cost of an empty `sync()` (the host's wait for the GPU).
 */
import { createWebGpuBackend } from "../../kernels/webgpu_backend.ts";
import { MambaModel } from "../../runtime/model.ts";
import { presetConfig } from "../../runtime/presets.ts";
import { syntheticWeights } from "../../runtime/synthetic.ts";

const seqLen = Number(Deno.args[0] ?? 2048);
const be = await createWebGpuBackend({ timestamps: true, f16Weights: Deno.args[1] === "f16" });
console.log(be.description, "timestamps", be.timestamps);
for (const arch of ["mamba1", "mamba2"] as const) {
  const m = MambaModel.load(syntheticWeights(presetConfig(arch, "130m"), 1), be);
  m.hooks = { begin: (c) => be.setScope(c), end: () => be.setScope(null) };
  const ids = Array.from({ length: seqLen }, (_, i) => (i * 7919) % 50000);
  const runs: [string, () => Promise<void>][] = [
    [`prefill L${seqLen}`, async () => (await m.prefill(ids, { lastOnly: true })).state.dispose()],
    ["decode", async () => {
      const s = m.newState(1);
      await m.step([5], s);
      s.dispose();
    }],
  ];
  for (const [label, run] of runs) {
    await run();
    await run();
    await be.gpuTimings();
    const t0 = performance.now();
    await run();
    const wall = performance.now() - t0;
    const t = await be.gpuTimings();
    const by = new Map<string, number>();
    let sum = 0;
    for (const e of t) {
      by.set(e.label, (by.get(e.label) ?? 0) + e.ms);
      sum += e.ms;
    }
    console.log(`${arch} ${label}: wall ${wall.toFixed(2)} ms, gpu sum ${sum.toFixed(2)} ms over ${t.length} passes`);
    console.log("   " + [...by].sort((a, b) => b[1] - a[1]).map(([k, v]) => `${k} ${v.toFixed(2)}`).join(", "));
  }
  const s = m.newState(1);
  await m.step([1], s);
  const t0 = performance.now();
  for (let i = 0; i < 20; i++) await m.step([i + 2], s);
  console.log(`${arch} decode steady: ${((performance.now() - t0) / 20).toFixed(2)} ms/step`);
  const t1 = performance.now();
  for (let i = 0; i < 20; i++) await be.sync();
  console.log(`empty sync: ${((performance.now() - t1) / 20).toFixed(3)} ms`);
  s.dispose();
  m.dispose();
}
be.dispose();
