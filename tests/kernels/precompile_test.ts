/**
 * Pipelines compiled ahead: `pipelinesFor` lists the pipelines a dry forward would create, `precompile` compiles
 * them in parallel, and the real forward then creates none synchronously (and still matches golden).
 */
import assert from "node:assert/strict";
import { loadWeights } from "../../runtime/checkpoint.ts";
import { MambaModel } from "../../runtime/model.ts";
import { generate } from "../../runtime/generate.ts";
import { dirSource } from "../../cli/fs_source.ts";
import { assertClose, fixtureDir, type FixtureGolden, readGolden } from "../_golden.ts";
import { gpuTest } from "./_gpu.ts";

for (const name of ["mamba1-tiny", "mamba2-tiny"]) {
  gpuTest(`${name}: after precompile, prefill and a decode step create no pipeline on dispatch`, async (be) => {
    const dir = fixtureDir(name);
    const golden = readGolden<FixtureGolden>(dir);
    using model = MambaModel.load(await loadWeights(dirSource(dir)), be);
    const forward = async () => {
      const { logits, state } = await model.prefill(golden.input_ids);
      await model.step([golden.input_ids[0]], state);
      state.dispose();
      return logits;
    };
    assert.equal(be.pipelineStats.misses, 0, "a fresh device");
    const specs = await be.pipelinesFor(forward);
    assert.equal(be.pipelineStats.misses, 0, "planning creates no pipeline");
    const kernels = new Set(specs.map((s) => s.kernel));
    // The decode step takes the fused kernels (kernels/fused_decode.ts) in place of gemv, rms_norm, add….
    const step = name === "mamba1-tiny" ? "fused_scan_step" : "fused_ssd_step";
    for (const k of ["gather", "rms_norm", "conv1d", "add", "fused_gemv", step]) assert.ok(kernels.has(k as never), k);
    assert.equal(await be.precompile(specs), specs.length);
    assert.equal(be.pipelineStats.precompiled, specs.length);
    assert.deepEqual(await be.pipelinesFor(forward), [], "nothing left to compile");

    const logits = await forward();
    assert.equal(be.pipelineStats.misses, 0, "no pipeline created synchronously by the forward");
    const V = logits.vocab;
    golden.logits.forEach((row, p) => {
      assertClose(logits.data.subarray(p * V, (p + 1) * V), row, `${name} logits at ${p}`, 1e-4, 1e-5);
    });
  }, { freshDevice: true });
}

gpuTest(
  "MambaModel.prepare compiles what a prefill, a decode step, a greedy and a sampled step need, before they run",
  async (be) => {
    const dir = fixtureDir("mamba2-tiny");
    const golden = readGolden<FixtureGolden>(dir);
    using model = MambaModel.load(await loadWeights(dirSource(dir)), be);
    assert.equal(be.pipelineStats.misses, 0, "a fresh device");
    const compiled = await model.prepare({ seqLens: [golden.input_ids.length] });
    assert.ok(compiled >= 8, `only ${compiled} pipelines compiled`);
    assert.equal(be.pipelineStats.misses, 0, "prepare compiles ahead, not on dispatch");
    assert.equal(await model.prepare({ seqLens: [golden.input_ids.length] }), 0, "a second prepare finds nothing new");
    const { logits, state } = await model.prefill(golden.input_ids, { lastOnly: true });
    await model.step([1], state);
    const [[next]] = await model.greedy([2], state, 1);
    state.dispose();
    // A sampled burst (the device sampler) was compiled too.
    await generate(model, [1, 2, 3], { temperature: 0.8, topP: 0.9, maxNewTokens: 3, decodeChunk: 2 });
    assert.equal(be.pipelineStats.misses, 0, "the real passes compile nothing synchronously");
    assert.ok(Number.isInteger(next));
    const last = golden.logits[golden.logits.length - 1];
    assertClose(logits.data, last, "mamba2-tiny last logits after prepare", 1e-4, 1e-5);
  },
  { freshDevice: true },
);
