/**
 * Falcon-Mamba (`model_type: "falcon_mamba"`, transformers FalconMambaForCausalLM) on every backend: Mamba-1 plus
 * weightless RMS norms of δ, B and C after x_proj. The fixture's golden logits and greedy tokens come from
 * transformers; decoding token by token must reproduce the prefill; the profiler reports the norms as bcdt_norm.
 *
 * Tolerance: 1e-4 · max|logit| + 1e-5 on both backends, as tests/runtime/model_test.ts: the WebGPU kernels reorder
 * sums (GEMM k-tiles, tree reductions, chunked scans), but the δ / B / C norms are plain `rmsNorm`s of separate
 * x_proj outputs and add no error of their own, so the looser 1e-3 allowed for WebGPU was not needed.
 */
import assert from "node:assert/strict";
import { loadWeights } from "../../runtime/checkpoint.ts";
import type { MambaModel } from "../../runtime/model.ts";
import { generate } from "../../runtime/generate.ts";
import { profileModels } from "../../runtime/profiler.ts";
import { forwardFlops } from "../../runtime/cost.ts";
import type { Component } from "../../runtime/component.ts";
import { dirSource } from "../../cli/fs_source.ts";
import { assertClose, fixtureDir, type FixtureGolden, readGolden } from "../_golden.ts";
import { TEST_BACKENDS, withFixtureModel } from "../_backends.ts";
import { checkpointFiles } from "../../runtime/checkpoint_write.ts";
import { parseConfig } from "../../runtime/config_parse.ts";

const dir = fixtureDir("falcon-mamba-tiny");
const golden = readGolden<FixtureGolden>(dir);

for (const tb of TEST_BACKENDS) {
  const rel = 1e-4;
  const name = (what: string) => `${tb.name} falcon-mamba-tiny: ${what}${tb.skip ? ` (${tb.skip})` : ""}`;
  const withModel = (f: (m: MambaModel) => Promise<void>) => withFixtureModel(tb, dir, f);

  Deno.test({
    name: name("prefill logits match transformers; the norms run as bcdt_norm"),
    ignore: tb.skip !== null,
    fn: () =>
      withModel(async (m) => {
        assert.equal(m.config.bcdtNormEps, 1e-6);
        const calls = new Map<Component, number>();
        const { logits, state } = await m.prefill(golden.input_ids, {
          hooks: { begin: (c) => void calls.set(c, (calls.get(c) ?? 0) + 1) },
        });
        state.dispose();
        assert.equal(calls.get("bcdt_norm"), m.config.nLayer);
        assert.equal(calls.get("x_proj"), m.config.nLayer);
        assert.equal(logits.rows, golden.input_ids.length);
        assertClose(logits.data, golden.logits.flat(), "logits", rel);
      }),
  });

  Deno.test({
    name: name("decoding one token at a time reproduces prefill at every position"),
    ignore: tb.skip !== null,
    fn: () =>
      withModel(async (m) => {
        const { logits: whole, state: s0 } = await m.prefill(golden.input_ids);
        s0.dispose();
        const state = m.newState(1);
        const vocab = m.config.vocabSize;
        const steps = new Float32Array(golden.input_ids.length * vocab);
        for (let t = 0; t < golden.input_ids.length; t++) {
          const l = await m.step([golden.input_ids[t]], state);
          steps.set(l.data, t * vocab);
        }
        state.dispose();
        assertClose(steps, whole.data, "step-by-step logits vs prefill", rel);
        assertClose(steps, golden.logits.flat(), "step-by-step logits vs golden", rel);
      }),
  });

  Deno.test({
    name: name("greedy continuation equals transformers'"),
    ignore: tb.skip !== null,
    fn: () =>
      withModel(async (m) => {
        const r = await generate(m, golden.greedy_prompt, { maxNewTokens: golden.greedy_continuation.length });
        assert.deepEqual(r.tokens, golden.greedy_continuation);
      }),
  });

  Deno.test({
    name: name("the profiler reports bcdt_norm with its FLOPs"),
    ignore: tb.skip !== null,
    fn: () =>
      withModel(async (m) => {
        const report = await profileModels([{ model: m, name: "falcon" }], {
          seqLens: [8],
          warmup: 0,
          iters: 1,
          peaks: null,
        });
        for (const run of report.runs) {
          const c = run.components.find((c) => c.name === "bcdt_norm");
          assert.ok(c, `${run.mode}: no bcdt_norm component`);
          assert.ok(c.flops > 0, `${run.mode}: bcdt_norm has no FLOPs`);
        }
        assert.ok(forwardFlops(m.config, 1, 8).bcdt_norm > 0);
      }),
  });
}

Deno.test("falcon-mamba-tiny: checkpointFiles keeps the type and mixer_rms_eps (pruning: falcon_prune_test.ts)", async () => {
  const weights = await loadWeights(dirSource(dir));
  const files = checkpointFiles(weights);
  const config = parseConfig(JSON.parse(files["config.json"]), "config.json");
  assert.equal(config.bcdtNormEps, 1e-6);
});
