/**
 * The model on WebGPU beyond what tests/runtime/model_test.ts checks on every backend (golden logits, layer-0
 * components, decode = prefill, greedy tokens): WebGPU and WASM agree on the same batch, and a model whose
 * embedding / lm_head is split over several buffers (lowered binding limit) still matches.
 *
 * Tolerance 1e-4 · max|logit| + 1e-5, as on the CPU: the GPU kernels reorder sums (GEMM k-tiles, tree
 * reductions, chunked scans) yet stay near 1e-5 here; the split-weights case against golden uses 1e-3.
 */
import { loadWeights } from "../../runtime/checkpoint.ts";
import { MambaModel } from "../../runtime/model.ts";
import { dirSource } from "../../cli/fs_source.ts";
import { assertClose, fixtureDir, type FixtureGolden, FIXTURES, readGolden } from "../_golden.ts";
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
  assertClose(logits.data.subarray(0, vocab), golden.logits[15], "batch row 0 vs golden position 15", 1e-3, 0);
  assertClose(logits.data.subarray(vocab), single.logits.data, "batch row 1 vs the sequence alone", 1e-4, 1e-5);
}, { maxBindingSize: 60 * 1024 });
