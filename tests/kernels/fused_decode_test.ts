/**
 * The fused decode path of the WebGPU backend (kernels/fused_decode.ts, runtime/fused_step.ts) against the unfused
 * step path on the same backend: the invariant is that fusing changes only the order of float sums.
 *
 * - logits of every decode step within 1e-4 · max|logit| + 1e-5 (the fixtures' fp32 tolerance: the fused kernels
 *   reorder the same sums the unfused GPU kernels already reorder against the CPU — each norm's 1 / RMS multiplies
 *   the dot product instead of each input, the sums of squares reduce over 64 lanes instead of 128 threads, dt_proj
 *   is a sequential dot instead of a 64-lane tree; measured ≤ 5.5e-7
 *   relative on llvmpipe), and greedy tokens exactly equal over 16 steps;
 * - the conv and SSM states after the steps equal the unfused states (same tolerance, relative to each state);
 * - prefill then fused decode equals the prefill of the longer sequence, batch > 1, f16 weights, matrices split
 *   over binding parts (lm_head), the trained models' greedy tokens (when ../shared/models is present);
 * - the same on Q8_0 / Q4_0 weights (fixtures, mixed f32 / quantized layers, a quantized dt_proj);
 * - the dispatch count of a fused step: 4 per Mamba-1 layer, 3 per Mamba-2 layer + 3 per token (embed, norm_f →
 *   lm_head, argmax), and
 *   Falcon-Mamba, bridged (pruned) layers, quantized Mamba-2 layers whose gated-norm groups are not whole blocks
 *   and batches over 8 fall back to the unfused count.
 */
import assert from "node:assert/strict";
import { dirSource } from "../../cli/fs_source.ts";
import type { WebGpuBackend } from "../../kernels/webgpu_backend.ts";
import { loadWeights } from "../../runtime/checkpoint.ts";
import { MambaModel } from "../../runtime/model.ts";
import { makeConfig } from "../../runtime/presets.ts";
import { pruneWeights } from "../../runtime/prune/apply.ts";
import { quantizeWeights } from "../../runtime/quantize.ts";
import { syntheticWeights } from "../../runtime/synthetic.ts";
import type { InferenceState } from "../../runtime/state.ts";
import {
  assertClose,
  exists,
  fixtureDir,
  type FixtureGolden,
  type ModelGolden,
  readGolden,
  SHARED,
} from "../_golden.ts";
import { gpuTest } from "./_gpu.ts";
import { scanStepWork, ssdStepWork } from "../../kernels/fused_decode.ts";

/** Fixtures with a fused path on every layer, and Falcon-Mamba (its δ/B/C norms run unfused). */
const FUSED_FIXTURES = ["mamba1-tiny", "mamba2-tiny", "mamba2-groups", "ssm-mamba1-tiny"] as const;
const ALL_FIXTURES = [...FUSED_FIXTURES, "falcon-mamba-tiny"] as const;
const REL = 1e-4, ABS = 1e-5;

/** Dispatches of one decode step (logits read back). */
async function stepDispatches(be: WebGpuBackend, model: MambaModel, tokens: number[], state: InferenceState) {
  const before = be.dispatchCount;
  await model.step(tokens, state);
  return be.dispatchCount - before;
}

/** Two states after the same prefill: one to decode fused, one unfused. */
async function twoStates(model: MambaModel, prompt: number[][]): Promise<[InferenceState, InferenceState]> {
  const a = (await model.prefill(prompt, { lastOnly: true })).state;
  return [a, a.clone()];
}

/** Steps fused and unfused side by side, comparing logits per step; returns the largest relative difference. */
async function compareSteps(
  model: MambaModel,
  fused: InferenceState,
  plain: InferenceState,
  tokens: number[][],
  what: string,
): Promise<number> {
  let worst = 0;
  for (let i = 0; i < tokens.length; i++) {
    model.fusedDecode = true;
    const a = await model.step(tokens[i], fused);
    model.fusedDecode = false;
    const b = await model.step(tokens[i], plain);
    model.fusedDecode = true;
    assertClose(a.data, b.data, `${what} step ${i}`, REL, ABS);
    const max = b.data.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
    worst = Math.max(worst, a.data.reduce((m, v, j) => Math.max(m, Math.abs(v - b.data[j])), 0) / max);
  }
  return worst;
}

async function compareStates(be: WebGpuBackend, a: InferenceState, b: InferenceState, what: string): Promise<void> {
  for (let l = 0; l < a.conv.length; l++) {
    assertClose(await be.read(a.conv[l]), await be.read(b.conv[l]), `${what} conv state ${l}`, REL, ABS);
    assertClose(await be.read(a.ssm[l]), await be.read(b.ssm[l]), `${what} ssm state ${l}`, REL, ABS);
  }
}

for (const name of ALL_FIXTURES) {
  gpuTest(`${name}: fused decode = unfused decode (logits, states, greedy tokens, dispatches)`, async (be) => {
    const dir = fixtureDir(name);
    const golden = readGolden<FixtureGolden>(dir);
    using model = MambaModel.load(await loadWeights(dirSource(dir)), be);
    const ids = golden.input_ids;
    const [f, u] = await twoStates(model, [ids.slice(0, 8)]);
    const steps = ids.slice(8, 24).map((t) => [t]);
    const worst = await compareSteps(model, f, u, steps, name);
    console.log(`${name}: fused vs unfused logits, max |Δ| / max|logit| = ${worst.toExponential(2)} over 16 steps`);
    await compareStates(be, f, u, name);
    // Greedy: 16 steps from the same state, tokens exactly equal.
    model.fusedDecode = true;
    const gf = await model.greedy([ids[24]], f, 16);
    model.fusedDecode = false;
    const gu = await model.greedy([ids[24]], u, 16);
    model.fusedDecode = true;
    assert.deepEqual(gf, gu, `${name}: greedy tokens fused vs unfused`);
    // Dispatches of one step.
    const nLayer = model.config.nLayer;
    const fusedCount = await stepDispatches(be, model, [ids[0]], f);
    model.fusedDecode = false;
    const plainCount = await stepDispatches(be, model, [ids[0]], u);
    model.fusedDecode = true;
    console.log(`${name}: dispatches per decode step: fused ${fusedCount}, unfused ${plainCount} (${nLayer} layers)`);
    if (name === "falcon-mamba-tiny") {
      // Falcon-Mamba's layers run unfused (their δ/B/C norms); only norm_f → lm_head fuses.
      assert.equal(fusedCount, plainCount - 1, "Falcon-Mamba: unfused layers, fused norm_f → lm_head");
    } else {
      // Mamba-1: in_proj (+ conv), x_proj, scan step, out_proj; Mamba-2: in_proj (+ conv and its state), SSD step,
      // out_proj; + embed and norm_f → lm_head.
      const perLayer = model.config.arch === "mamba1" ? 4 : 3;
      assert.equal(fusedCount, perLayer * nLayer + 2, `${name}: ${fusedCount} dispatches per step`);
      assert.ok(fusedCount < plainCount, `${name}: fused ${fusedCount} not below unfused ${plainCount}`);
    }
    f.dispose();
    u.dispose();
  });
}

for (const name of FUSED_FIXTURES) {
  gpuTest(`${name}: prefill then fused decode = prefill of the longer sequences (batch 3)`, async (be) => {
    const dir = fixtureDir(name);
    const golden = readGolden<FixtureGolden>(dir);
    using model = MambaModel.load(await loadWeights(dirSource(dir)), be);
    const ids = golden.input_ids;
    const seqs = [ids.slice(0, 10), ids.slice(5, 15), ids.slice(20, 30)];
    const { state } = await model.prefill(seqs.map((s) => s.slice(0, 7)), { lastOnly: true });
    let last: Float32Array | null = null;
    for (let t = 7; t < 10; t++) last = (await model.step(seqs.map((s) => s[t]), state)).data;
    const whole = await model.prefill(seqs, { lastOnly: true });
    assertClose(last!, whole.logits.data, `${name}: prefill 7 + 3 fused steps vs prefill 10 (batch 3)`, REL, ABS);
    await compareStates(be, state, whole.state, `${name} batch 3`);
    state.dispose();
    whole.state.dispose();
    // And batch 3 fused vs unfused over 8 steps.
    const [f, u] = await twoStates(model, seqs);
    await compareSteps(model, f, u, Array.from({ length: 8 }, (_, i) => [ids[i], ids[i + 9], ids[i + 17]]), name);
    f.dispose();
    u.dispose();
  });
}

for (const name of ["mamba1-tiny", "mamba2-groups"] as const) {
  gpuTest(`${name}: fused decode with f16 weights = unfused with f16 weights`, async (be) => {
    const dir = fixtureDir(name);
    const golden = readGolden<FixtureGolden>(dir);
    using model = MambaModel.load(await loadWeights(dirSource(dir)), be);
    const [f, u] = await twoStates(model, [golden.input_ids.slice(0, 8), golden.input_ids.slice(3, 11)]);
    await compareSteps(model, f, u, golden.input_ids.slice(11, 23).map((t, i) => [t, golden.input_ids[i]]), name);
    await compareStates(be, f, u, `${name} f16`);
    f.dispose();
    u.dispose();
  }, { f16Weights: true });

  gpuTest(`${name}: fused decode with lm_head split over binding parts`, async (be) => {
    // 60 KiB binding limit: the 256×64 tied embedding / lm_head (64 KiB) is two parts, one fused GEMV each.
    const dir = fixtureDir(name);
    const golden = readGolden<FixtureGolden>(dir);
    using model = MambaModel.load(await loadWeights(dirSource(dir)), be);
    const [f, u] = await twoStates(model, [golden.input_ids.slice(0, 8)]);
    await compareSteps(model, f, u, golden.input_ids.slice(8, 16).map((t) => [t]), name);
    f.dispose();
    u.dispose();
  }, { maxBindingSize: 60 * 1024 });
}

/**
 * Fused == unfused on block-quantized weights: both paths read the same Q8_0 / Q4_0 blocks and dequantize them in
 * registers (d · q exact in f32), so again only the order of the sums differs: same tolerance, same greedy tokens,
 * every layer fused (≤ 4 dispatches per layer + 2 per token).
 */
async function compareQuantized(be: WebGpuBackend, model: MambaModel, prompt: number[], next: number[], what: string) {
  const [f, u] = await twoStates(model, [prompt]);
  const worst = await compareSteps(model, f, u, next.map((t) => [t]), what);
  console.log(`${what}: fused vs unfused logits, max |Δ| / max|logit| = ${worst.toExponential(2)}`);
  await compareStates(be, f, u, what);
  model.fusedDecode = true;
  const gf = await model.greedy([next[0]], f, 16);
  model.fusedDecode = false;
  const gu = await model.greedy([next[0]], u, 16);
  model.fusedDecode = true;
  assert.deepEqual(gf, gu, `${what}: greedy tokens fused vs unfused`);
  const fusedCount = await stepDispatches(be, model, [next[1]], f);
  model.fusedDecode = false;
  const plainCount = await stepDispatches(be, model, [next[1]], u);
  model.fusedDecode = true;
  f.dispose();
  u.dispose();
  return { fusedCount, plainCount };
}

for (const bits of [8, 4] as const) {
  for (const name of FUSED_FIXTURES) {
    gpuTest(
      `${name}: fused decode = unfused decode on q${bits}_0 weights (logits, states, greedy, dispatches)`,
      async (be) => {
        const dir = fixtureDir(name);
        const golden = readGolden<FixtureGolden>(dir);
        const weights = quantizeWeights(await loadWeights(dirSource(dir)), { bits }); // embeddings stay f32
        using model = MambaModel.load(weights, be);
        assert.equal(model.quantFormats.in_proj, `q${bits}_0`);
        const ids = golden.input_ids;
        const n = model.config.nLayer;
        const { fusedCount, plainCount } = await compareQuantized(be, model, ids.slice(0, 8), ids.slice(8, 24), name);
        console.log(`${name} q${bits}_0: dispatches per decode step: fused ${fusedCount}, unfused ${plainCount}`);
        const perLayer = model.config.arch === "mamba1" ? 4 : 3;
        assert.equal(fusedCount, perLayer * n + 2, `${name} q${bits}_0: ${fusedCount} dispatches per step`);
        assert.ok(fusedCount < plainCount, `${name} q${bits}_0: fused ${fusedCount} not below unfused ${plainCount}`);
      },
    );
  }
}

for (const name of ["mamba1-tiny", "mamba2-groups"] as const) {
  gpuTest(`${name}: fused decode on q8_0 matrices split over binding parts (in_proj, tied lm_head)`, async (be) => {
    // 16 KiB bindings: the q8_0 in_proj (mamba1: 256 rows, mamba2-groups: 392, 68 bytes each) and the quantized tied
    // embedding / lm_head (256 rows) take two parts each, one fused GEMV per part; the conv epilogue (Mamba-1) finds
    // its channels by the part's first row.
    const dir = fixtureDir(name);
    const golden = readGolden<FixtureGolden>(dir);
    const weights = quantizeWeights(await loadWeights(dirSource(dir)), { bits: 8, embeddings: true });
    using model = MambaModel.load(weights, be);
    const ids = golden.input_ids;
    const n = model.config.nLayer;
    const { fusedCount, plainCount } = await compareQuantized(be, model, ids.slice(0, 8), ids.slice(8, 24), name);
    console.log(`${name} q8_0 in parts: dispatches per decode step: fused ${fusedCount}, unfused ${plainCount}`);
    // Fused: 4 dispatches per Mamba-1 layer, 3 per Mamba-2 layer (its conv state is shifted in in_proj's epilogue), +
    // embed and norm_f → lm_head; one more per split matrix: in_proj of each layer, lm_head's GEMV, gather_q.
    const perLayer = model.config.arch === "mamba1" ? 4 : 3;
    assert.equal(
      fusedCount,
      perLayer * n + 2 + n + 2,
      `${name}: one more dispatch per split in_proj, lm_head, embedding`,
    );
  }, { maxBindingSize: 16 * 1024 });
}

gpuTest("mamba1-tiny: fused decode on mixed formats (q4_0 in_proj / out_proj, f32 x_proj) at batch 2", async (be) => {
  const dir = fixtureDir("mamba1-tiny");
  const golden = readGolden<FixtureGolden>(dir);
  const weights = quantizeWeights(await loadWeights(dirSource(dir)), { bits: 4, keep: ["x_proj"] });
  using model = MambaModel.load(weights, be);
  assert.equal(model.quantFormats.in_proj, "q4_0");
  assert.equal(model.quantFormats.x_proj, undefined);
  const ids = golden.input_ids;
  const [f, u] = await twoStates(model, [ids.slice(0, 8), ids.slice(4, 12)]);
  await compareSteps(model, f, u, ids.slice(12, 24).map((t, i) => [t, ids[i]]), "mixed q4_0 / f32");
  await compareStates(be, f, u, "mixed q4_0 / f32");
  f.dispose();
  u.dispose();
});

for (const bits of [8, 4] as const) {
  gpuTest(`Mamba-1 with dt_rank 32: q${bits}_0 dt_proj dequantized inside fused_scan_step = unfused`, async (be) => {
    // dt_rank 32 (a whole block) is the smallest shape whose dt_proj quantizes (130m's 48 stays f32).
    const config = { ...makeConfig("mamba1", { dModel: 64, nLayer: 2, vocabSize: 64 }), dtRank: 32 };
    using model = MambaModel.load(quantizeWeights(syntheticWeights(config, 3), { bits }), be);
    assert.equal(model.quantFormats.dt_proj, `q${bits}_0`);
    const ids = Array.from({ length: 28 }, (_, i) => (i * 37 + 5) % 64);
    const { fusedCount } = await compareQuantized(be, model, ids.slice(0, 8), ids.slice(8, 28), `dt q${bits}_0`);
    assert.ok(fusedCount <= 4 * 2 + 2, `dt q${bits}_0: ${fusedCount} dispatches > 4 per layer + 2`);
  });
}

/**
 * Fused == unfused (logits of 6 steps, then the states) for a batch of two 8-token prompts of a 64-token vocabulary:
 * prompt b is (13 i + prompts[b]) mod 64, step i's tokens (7 i + steps[0], 5 i + steps[1]) mod 64.
 */
async function compareTwoSequences(
  be: WebGpuBackend,
  model: MambaModel,
  what: string,
  prompts: [number, number],
  steps: [number, number],
): Promise<void> {
  const ids = (o: number) => Array.from({ length: 8 }, (_, i) => (i * 13 + o) % 64);
  const [f, u] = await twoStates(model, prompts.map(ids));
  const next = Array.from({ length: 6 }, (_, i) => [(i * 7 + steps[0]) % 64, (i * 5 + steps[1]) % 64]);
  const worst = await compareSteps(model, f, u, next, what);
  console.log(`${what}: fused vs unfused logits, max |Δ| / max|logit| = ${worst.toExponential(2)}`);
  await compareStates(be, f, u, what);
  f.dispose();
  u.dispose();
}

gpuTest(
  "Mamba-2: the fused SSD step spread over several workgroups per head (N 128 · P 64; N 20 · P 40), batch 2",
  async (be) => {
    // fused_ssd_step.wgsl: tpp threads per head channel, ppw channels per workgroup, `blocks` workgroups per head.
    const shapes = [
      { dState: 128, headDim: 64, dModel: 64, work: { tpp: 32, ppw: 8, blocks: 8 } }, // the 130m preset's head
      { dState: 20, headDim: 40, dModel: 80, work: { tpp: 8, ppw: 32, blocks: 2 } }, // n past 4·tpp − tpp, a partial block
    ];
    for (const { dState, headDim, dModel, work } of shapes) {
      assert.deepEqual(ssdStepWork(dState, headDim), work);
      const config = makeConfig("mamba2", { dModel, nLayer: 2, vocabSize: 64, headDim, nGroups: 1, dState });
      using model = MambaModel.load(syntheticWeights(config, 11), be);
      await compareTwoSequences(be, model, `N ${dState} P ${headDim}`, [1, 6], [2, 9]);
    }
  },
);

gpuTest("Mamba-1: the fused scan step with several threads per channel (N 5, 16, 100), batch 2", async (be) => {
  // fused_scan_step.wgsl: tpp threads per channel (thread q takes states q, q + tpp, …), cpw channels per workgroup.
  const shapes = [
    { dState: 5, work: { tpp: 8, cpw: 32 } }, // N not a power of two
    { dState: 16, work: { tpp: 16, cpw: 16 } }, // the presets' N
    { dState: 100, work: { tpp: 64, cpw: 4 } }, // two states for threads q < 36, one for the rest
  ];
  for (const { dState, work } of shapes) {
    assert.deepEqual(scanStepWork(dState), work);
    const config = makeConfig("mamba1", { dModel: 48, nLayer: 2, vocabSize: 64, dState });
    using model = MambaModel.load(syntheticWeights(config, 13), be);
    await compareTwoSequences(be, model, `Mamba-1 N ${dState}`, [2, 7], [3, 1]);
  }
});

gpuTest(
  "Mamba-2 q8_0 with gated-norm groups of 16 (not whole blocks): layers fall back to the unfused ops",
  async (be) => {
    const config = makeConfig("mamba2", { dModel: 64, nLayer: 2, vocabSize: 64, headDim: 16, nGroups: 8, dState: 16 });
    assert.equal(config.normGroupSize, 16);
    using model = MambaModel.load(quantizeWeights(syntheticWeights(config, 5), { bits: 8 }), be);
    const ids = Array.from({ length: 28 }, (_, i) => (i * 11 + 3) % 64);
    const { fusedCount, plainCount } = await compareQuantized(
      be,
      model,
      ids.slice(0, 8),
      ids.slice(8, 28),
      "groups 16",
    );
    assert.equal(fusedCount, plainCount - 1, `groups of 16: fused ${fusedCount} vs unfused ${plainCount}`);
  },
);

gpuTest("mamba2-tiny with bridged (pruned) layers: those layers fall back to the unfused ops", async (be) => {
  // Selection bridges (W = the kept rows of the identity) on every layer: the bridge's extra GEMV is not fused.
  const eye = (N: number, k: number[]): Float64Array => {
    const W = new Float64Array(N * k.length);
    k.forEach((s, j) => (W[s * k.length + j] = 1));
    return W;
  };
  const keep = [[0, 3, 7, 12], [1, 2, 5, 9, 15]];
  const weights = pruneWeights(await loadWeights(dirSource(fixtureDir("mamba2-tiny"))), keep, {
    bridges: keep.map((k) => eye(16, k)),
  });
  using model = MambaModel.load(weights, be);
  const ids = readGolden<FixtureGolden>(fixtureDir("mamba2-tiny")).input_ids;
  const { fusedCount, plainCount } = await compareQuantized(be, model, ids.slice(0, 8), ids.slice(8, 28), "bridged");
  assert.equal(fusedCount, plainCount - 1, `bridged: fused ${fusedCount} vs unfused ${plainCount}`);
});

gpuTest("mamba1-tiny at batch 9 (over the fused GEMV's 8 rows): the whole step runs unfused", async (be) => {
  using model = MambaModel.load(await loadWeights(dirSource(fixtureDir("mamba1-tiny"))), be);
  const ids = readGolden<FixtureGolden>(fixtureDir("mamba1-tiny")).input_ids;
  const batch = Array.from({ length: 9 }, (_, b) => ids.slice(b, b + 6));
  const [f, u] = await twoStates(model, batch);
  const tokens = batch.map((s) => s[0]);
  const fusedCount = await stepDispatches(be, model, tokens, f);
  model.fusedDecode = false;
  const plainCount = await stepDispatches(be, model, tokens, u);
  model.fusedDecode = true;
  assert.equal(fusedCount, plainCount, `batch 9: ${fusedCount} dispatches with fusing allowed, ${plainCount} without`);
  f.dispose();
  u.dispose();
});

for (const name of ["mamba1-text-small", "mamba2-text-small"]) {
  const dir = `${SHARED}/models/${name}`;
  if (!exists(`${dir}/golden.json`)) {
    Deno.test({ ignore: true, name: `webgpu ${name}: fused greedy (skipped: ${dir} absent)`, fn: () => {} });
    continue;
  }
  gpuTest(`${name}: fused greedy tokens = unfused greedy tokens = transformers (8 tokens)`, async (be) => {
    const golden = readGolden<ModelGolden>(dir);
    using model = MambaModel.load(await loadWeights(dirSource(dir)), be);
    const [f, u] = await twoStates(model, [golden.greedy_prompt]);
    const first = golden.greedy_continuation[0];
    const gf = await model.greedy([first], f, 7);
    model.fusedDecode = false;
    const gu = await model.greedy([first], u, 7);
    model.fusedDecode = true;
    assert.deepEqual(gf, gu, `${name}: fused vs unfused greedy`);
    assert.deepEqual(gf[0], golden.greedy_continuation.slice(1, 8), `${name}: fused greedy vs transformers`);
    f.dispose();
    u.dispose();
  });
}
