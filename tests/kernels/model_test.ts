/**
 * The model on WebGPU beyond what tests/runtime/model_test.ts checks on every backend (golden logits, layer-0
 * components, decode = prefill, greedy tokens): WebGPU and WASM agree on the same batch, and a model whose
 * embedding / lm_head is split over several buffers (lowered binding limit) still matches.
 *
 * Tolerance 1e-4 · max|logit| + 1e-5, as on the CPU: the GPU kernels reorder sums (GEMM k-tiles, tree
 * reductions, chunked scans) yet stay near 1e-5 here — the split-weights case against golden too (measured 2.4e-6
 * on llvmpipe, bound 3e-4).
 * With f16 weight storage: see the bounds stated above those tests.
 */
import { loadWeights } from "../../runtime/checkpoint.ts";
import { MambaModel } from "../../runtime/model.ts";
import { dirSource } from "../../cli/fs_source.ts";
import assert from "node:assert/strict";
import { generate } from "../../runtime/generate.ts";
import {
  assertClose,
  fixtureDir,
  type FixtureGolden,
  FIXTURES,
  type ModelGolden,
  readGolden,
  SHARED,
  sharedSkipReason,
} from "../_golden.ts";
import { gpuTest } from "./_gpu.ts";
import { createWasmBackend } from "../../wasm/backend.ts";

// Logits, layer-0 components, decode = prefill and greedy tokens of every fixture run on WebGPU in
// tests/runtime/model_test.ts (all backends). Here: WebGPU against WASM on the same input, and split weights.
for (const name of FIXTURES) {
  gpuTest(`${name}: WebGPU and WASM logits agree`, async (be) => {
    const dir = fixtureDir(name);
    const golden = readGolden<FixtureGolden>(dir);
    const weights = await loadWeights(dirSource(dir));
    using gpu = MambaModel.load(weights, be);
    using wasmBackend = await createWasmBackend({ threads: 1 });
    using cpu = MambaModel.load(weights, wasmBackend);
    const seqs = [golden.input_ids.slice(0, 29), golden.input_ids.slice(8)];
    const a = await gpu.prefill(seqs);
    const b = await cpu.prefill(seqs);
    a.state.dispose();
    b.state.dispose();
    assertClose(a.logits.data, b.logits.data, `${name} webgpu vs wasm`, 1e-4, 1e-5);
  });
}

gpuTest("mamba2-groups batch of 2 with last-only logits, weights split over buffers", async (be) => {
  // maxBindingSize 60 KiB: the 256×64 embedding (64 KiB) is split in two buffers, and logits go through the
  // split lm_head; every activation of this batch (32 rows) still fits one binding.
  const dir = fixtureDir("mamba2-groups");
  const golden = readGolden<FixtureGolden>(dir);
  using model = MambaModel.load(await loadWeights(dirSource(dir)), be);
  const a = golden.input_ids.slice(0, 16), b = golden.input_ids.slice(9, 25);
  const { logits, state } = await model.prefill([a, b], { lastOnly: true });
  state.dispose();
  const single = await model.prefill(b, { lastOnly: true });
  single.state.dispose();
  const vocab = logits.vocab;
  assertClose(logits.data.subarray(0, vocab), golden.logits[15], "batch row 0 vs golden position 15", 1e-4, 1e-5);
  assertClose(logits.data.subarray(vocab), single.logits.data, "batch row 1 vs the sequence alone", 1e-4, 1e-5);
}, { maxBindingSize: 60 * 1024 });

// f16 weight storage. Fixtures (random f32 weights): rounding each weight to f16 moves the logits by at most
// 1.01e-3 · max|logit| (measured), so the bound here is 2e-3; the greedy tokens must not change. The trained
// models hold bf16 weights, which f16 represents exactly where they lie in its range: their logits must match
// transformers at the f32 tolerance.
for (const name of FIXTURES) {
  gpuTest(`${name}: f16 weights stay within 2e-3 of golden, same greedy tokens`, async (be) => {
    const dir = fixtureDir(name);
    const golden = readGolden<FixtureGolden>(dir);
    using model = MambaModel.load(await loadWeights(dirSource(dir)), be);
    const { logits, state } = await model.prefill(golden.input_ids);
    state.dispose();
    const V = logits.vocab;
    golden.logits.forEach((row, p) => {
      assertClose(logits.data.subarray(p * V, (p + 1) * V), row, `${name} f16 logits at ${p}`, 2e-3, 0);
    });
    const r = await generate(model, golden.greedy_prompt, { maxNewTokens: golden.greedy_continuation.length });
    assert.deepEqual(r.tokens, golden.greedy_continuation);
  }, { f16Weights: true });
}

for (const name of ["mamba1-text-small", "mamba2-text-small"]) {
  const skip = sharedSkipReason(`models/${name}`);
  if (skip) {
    Deno.test({ ignore: true, name: `webgpu ${name}: f16 weights (${skip})`, fn: () => {} });
    continue;
  }
  gpuTest(`${name}: bf16 checkpoint in f16 storage reproduces transformers at the f32 tolerance`, async (be) => {
    const dir = `${SHARED}/models/${name}`;
    const golden = readGolden<ModelGolden>(dir);
    using model = MambaModel.load(await loadWeights(dirSource(dir)), be);
    const { logits, state } = await model.prefill(golden.input_ids);
    state.dispose();
    const V = logits.vocab;
    golden.logits_positions.forEach((pos, i) => {
      assertClose(logits.data.subarray(pos * V, (pos + 1) * V), golden.logits_last4[i], `${name} f16 at ${pos}`);
    });
  }, { f16Weights: true });
}

for (const name of ["mamba1-tiny", "mamba2-tiny"]) {
  gpuTest(
    `${name}: a prefill whose activations exceed the binding limit runs in pieces and matches golden`,
    async (be) => {
      // 16 KiB bindings: in_proj's output for a batch of 2 × 37 tokens (mamba2: 296 floats per token, 88 KiB) and
      // the logits (256 per token) do not fit, so the model runs 6-7 tokens per piece, carrying the state.
      const dir = fixtureDir(name);
      const golden = readGolden<FixtureGolden>(dir);
      using model = MambaModel.load(await loadWeights(dirSource(dir)), be);
      const ids = golden.input_ids;
      const { logits, state } = await model.prefill([ids, ids]);
      state.dispose();
      const V = logits.vocab;
      assert.equal(logits.rows, 2 * ids.length);
      assertClose(logits.data.subarray(0, ids.length * V), golden.logits.flat(), `${name} row 0`, 1e-4, 1e-5);
      assertClose(logits.data.subarray(ids.length * V), golden.logits.flat(), `${name} row 1`, 1e-4, 1e-5);
    },
    { maxBindingSize: 16 * 1024 },
  );
}
