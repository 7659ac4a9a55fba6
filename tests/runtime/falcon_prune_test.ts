/**
 * Pruning Falcon-Mamba (tests/fixtures/falcon-mamba-tiny): B and C are RMS-normalised (weightless) over the states
 * after x_proj, and a pruned layer normalises over the k states it keeps — a Falcon-Mamba with d_state = k
 * (runtime/prune/apply.ts says why). On WASM and WebGPU:
 * - r = 0 (every state kept): the pruned model's logits are the dense model's, bit for bit, and transformers'
 *   (golden.json), and the greedy continuation is transformers'.
 * - r = 0.5: the derived invariant of that choice. Layer 0 sees the dense model's input, so its x_proj B / C
 *   outputs are the dense ones restricted to the kept rows, and its bcdt_norm outputs equal an RMS norm over the k
 *   kept values computed here in float64 from the dense x_proj output — and differ from the dense norm's output
 *   restricted to the kept states (the other choice), so the check can fail. Every layer's bcdt_norm output equals
 *   the float64 RMS norm over k of its own x_proj output. Decoding step by step reproduces the prefill. The written
 *   checkpoint reloads as falcon_mamba (mixer_rms_eps, state_size k) with the same logits.
 * - Non-uniform k (layer_state_sizes), host calibration with the norms against the model's own out_proj input, and
 *   the refused modes (mask, bridges).
 */
import assert from "node:assert/strict";
import { loadWeights, memorySource } from "../../runtime/checkpoint.ts";
import { checkpointFiles } from "../../runtime/checkpoint_write.ts";
import { MambaModel } from "../../runtime/model.ts";
import { generate } from "../../runtime/generate.ts";
import { mulberry32 } from "../../runtime/sampling.ts";
import { pruneWeights } from "../../runtime/prune/apply.ts";
import { calibrate } from "../../runtime/prune/calibrate.ts";
import { fitBridges } from "../../runtime/prune/bridge.ts";
import { selectStates } from "../../runtime/prune/select.ts";
import type { Backend } from "../../runtime/backend.ts";
import type { KeepSets } from "../../runtime/prune/types.ts";
import { dirSource } from "../../cli/fs_source.ts";
import { createWasmBackend } from "../../wasm/backend.ts";
import { assertClose, fixtureDir, type FixtureGolden, readGolden } from "../_golden.ts";
import { TEST_BACKENDS } from "../_backends.ts";

const dir = fixtureDir("falcon-mamba-tiny");
const golden = readGolden<FixtureGolden>(dir);
const dense = await loadWeights(dirSource(dir));
const N = dense.config.dState; // 16
const EPS = dense.config.bcdtNormEps!;

/** `k` seeded random distinct states of [0, N), ascending. */
function randomKeep(k: number, seed: number): number[] {
  const rand = mulberry32(seed);
  const idx = Array.from({ length: N }, (_, i) => i);
  for (let i = N - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [idx[i], idx[j]] = [idx[j], idx[i]];
  }
  return idx.slice(0, k).sort((a, b) => a - b);
}

/** Float64 weightless RMS norm of each row of a (T, n) matrix: x / sqrt(mean(x²) + eps). */
function rmsRows(x: ArrayLike<number>, n: number): Float64Array {
  const out = new Float64Array(x.length);
  for (let t = 0; t < x.length / n; t++) {
    let ss = 0;
    for (let i = 0; i < n; i++) ss += x[t * n + i] ** 2;
    const inv = 1 / Math.sqrt(ss / n + EPS);
    for (let i = 0; i < n; i++) out[t * n + i] = x[t * n + i] * inv;
  }
  return out;
}

/** Columns `cols` of a (T, n) matrix. */
function takeCols(x: ArrayLike<number>, n: number, cols: number[]): Float64Array {
  const T = x.length / n;
  const out = new Float64Array(T * cols.length);
  for (let t = 0; t < T; t++) cols.forEach((c, j) => (out[t * cols.length + j] = x[t * n + c]));
  return out;
}

/** Prefill logits and the Falcon captures ("x_proj.B", "bcdt_norm.C", …) of every layer, read to the host. */
async function run(m: MambaModel, ids: number[]) {
  const captured = new Map<string, Float32Array>();
  const { logits, state } = await m.prefill(ids, {
    hooks: {
      capture: async (name, layer, t) => {
        if (name.startsWith("x_proj.") || name.startsWith("bcdt_norm.")) {
          captured.set(`${name}@${layer}`, await m.backend.read(t));
        }
      },
    },
  });
  state.dispose();
  return { logits: logits.data, captured };
}

/** Logits of decoding `ids` one token at a time. */
async function stepwise(m: MambaModel, ids: number[]): Promise<Float32Array> {
  const state = m.newState(1);
  const V = m.config.vocabSize;
  const out = new Float32Array(ids.length * V);
  for (const [t, id] of ids.entries()) out.set((await m.step([id], state)).data, t * V);
  state.dispose();
  return out;
}

async function withBackend(create: () => Promise<Backend>, f: (be: Backend) => Promise<void>): Promise<void> {
  const be = await create();
  try {
    await f(be);
  } finally {
    be.dispose();
  }
}

for (const tb of TEST_BACKENDS) {
  const suffix = tb.skip ? ` (${tb.skip})` : "";

  Deno.test({
    name: `${tb.name} falcon-mamba-tiny pruned at r = 0: the dense model's logits (and transformers')${suffix}`,
    ignore: tb.skip !== null,
    fn: () =>
      withBackend(tb.create, async (be) => {
        const all: KeepSets = dense.layers.map(() => Array.from({ length: N }, (_, s) => s));
        const pruned = pruneWeights(dense, all);
        assert.equal(pruned.config.bcdtNormEps, EPS);
        using d = MambaModel.load(dense, be);
        using p = MambaModel.load(pruned, be);
        const want = (await run(d, golden.input_ids)).logits;
        const got = (await run(p, golden.input_ids)).logits;
        assert.deepEqual(got, want, "r = 0 pruned logits are the dense logits");
        assertClose(got, golden.logits.flat(), "r = 0 pruned vs golden", 1e-4);
        const r = await generate(p, golden.greedy_prompt, { maxNewTokens: golden.greedy_continuation.length });
        assert.deepEqual(r.tokens, golden.greedy_continuation);
      }),
  });

  Deno.test({
    name: `${tb.name} falcon-mamba-tiny pruned at r = 0.5: the B / C norms span the k kept states; decode = prefill; ` +
      `checkpoint round trip${suffix}`,
    ignore: tb.skip !== null,
    fn: () =>
      withBackend(tb.create, async (be) => {
        const keep: KeepSets = [randomKeep(8, 1), randomKeep(8, 2)];
        const pruned = pruneWeights(dense, keep);
        assert.equal(pruned.config.dState, 8);
        assert.equal(pruned.config.layerStateSizes, undefined);
        assert.deepEqual(pruned.layers[0].arch === "mamba1" && pruned.layers[0].xProj.shape, [4 + 2 * 8, 128]);
        using d = MambaModel.load(dense, be);
        using p = MambaModel.load(pruned, be);
        const ids = golden.input_ids;
        const D = await run(d, ids), P = await run(p, ids);
        for (const part of ["B", "C"]) {
          // Layer 0: the dense input, so x_proj gives the dense values of the kept rows.
          const denseRaw = D.captured.get(`x_proj.${part}@0`)!;
          const keptRaw = takeCols(denseRaw, N, keep[0]);
          assertClose(P.captured.get(`x_proj.${part}@0`)!, keptRaw, `layer 0 x_proj.${part} = dense kept rows`, 1e-5);
          const want = rmsRows(keptRaw, 8);
          const got = P.captured.get(`bcdt_norm.${part}@0`)!;
          assertClose(got, want, `layer 0 bcdt_norm.${part} = RMS over the k kept (f64, dense x_proj)`, 1e-5);
          // The other choice (the dense norm over all N, restricted to the kept states) is far from it.
          const other = takeCols(D.captured.get(`bcdt_norm.${part}@0`)!, N, keep[0]);
          assert.throws(() => assertClose(got, other, "norm over N", 1e-3), /norm over N/);
          // Every layer: its norm over k of its own x_proj output.
          for (let l = 0; l < 2; l++) {
            const own = P.captured.get(`x_proj.${part}@${l}`)!;
            assert.equal(own.length, ids.length * 8);
            assertClose(P.captured.get(`bcdt_norm.${part}@${l}`)!, rmsRows(own, 8), `layer ${l} ${part}`, 1e-5);
          }
        }
        assertClose(await stepwise(p, ids), P.logits, "pruned: decode step by step vs prefill", 1e-4);
        // The written checkpoint: a Falcon-Mamba with state_size 8 that transformers' config can describe.
        const files = checkpointFiles(pruned);
        const json = JSON.parse(files["config.json"]);
        assert.deepEqual(
          [json.model_type, json.architectures, json.mixer_rms_eps, json.state_size, json.layer_state_sizes],
          ["falcon_mamba", ["FalconMambaForCausalLM"], EPS, 8, undefined],
        );
        const reloaded = await loadWeights(memorySource(files));
        assert.deepEqual([reloaded.config.bcdtNormEps, reloaded.config.dState], [EPS, 8]);
        using r = MambaModel.load(reloaded, be);
        assert.deepEqual((await run(r, ids)).logits, P.logits, "reloaded pruned checkpoint");
      }),
  });
}

Deno.test("falcon-mamba-tiny: per-layer k (layer_state_sizes) round trip; decode = prefill", async () => {
  const pruned = pruneWeights(dense, [randomKeep(12, 3), randomKeep(5, 4)]);
  assert.deepEqual([pruned.config.dState, pruned.config.layerStateSizes], [12, [12, 5]]);
  const files = checkpointFiles(pruned);
  const json = JSON.parse(files["config.json"]);
  assert.deepEqual([json.model_type, json.state_size, json.layer_state_sizes], ["falcon_mamba", 12, [12, 5]]);
  const reloaded = await loadWeights(memorySource(files));
  assert.deepEqual(reloaded, pruned);
  await withBackend(() => createWasmBackend({ threads: 1 }), async (be) => {
    using m = MambaModel.load(reloaded, be);
    const { logits, captured } = await run(m, golden.input_ids);
    assert.equal(captured.get("bcdt_norm.B@1")!.length, golden.input_ids.length * 5);
    assertClose(captured.get("bcdt_norm.C@1")!, rmsRows(captured.get("x_proj.C@1")!, 5), "layer 1 C over 5", 1e-5);
    assertClose(await stepwise(m, golden.input_ids), logits, "decode step by step vs prefill", 1e-4);
  });
});

Deno.test("falcon-mamba-tiny: calibration recomputes the layers with the norms; select → prune runs", async () => {
  await withBackend(() => createWasmBackend({ threads: 1 }), async (be) => {
    using m = MambaModel.load(dense, be);
    const seqs = [golden.input_ids.slice(0, 20), golden.input_ids.slice(4)];
    const host: Float64Array[][] = [[], []];
    let seq = 0;
    const activity = await calibrate(m, dense, seqs, {
      onLayerOutput: (l, out) => (host[seq][l] = out),
      onProgress: (done) => (seq = done),
    });
    for (const [i, ids] of seqs.entries()) {
      const captured: Float32Array[] = [];
      const { state } = await m.prefill(ids, {
        hooks: { capture: async (n, l, t) => void (n === "out_proj.in" && (captured[l] = await be.read(t))) },
      });
      state.dispose();
      for (let l = 0; l < 2; l++) {
        assertClose(Float32Array.from(host[i][l]), captured[l], `seq ${i} layer ${l} host vs model`, 1e-4, 1e-6);
      }
    }
    const keep = selectStates(activity, "delta_b", 0.25);
    assert.deepEqual(keep.map((k) => k.length), [12, 12]);
    using p = MambaModel.load(pruneWeights(dense, keep), be);
    const { logits, state } = await p.prefill(golden.input_ids);
    state.dispose();
    assert.ok(logits.data.every(Number.isFinite));
    // Bridges cannot be folded through the norm of C: refused, naming the reason.
    assert.throws(
      () => pruneWeights(dense, keep, { bridges: fitBridges(activity, keep) }),
      /pruneWeights: bridges are not available for Falcon-Mamba .*layer 0 has one.*normalised after x_proj/,
    );
  });
});

Deno.test("falcon-mamba-tiny: mask mode is refused (zeroed states would still count in the norm over N)", () => {
  const keep = dense.layers.map(() => randomKeep(8, 5));
  assert.throws(
    () => pruneWeights(dense, keep, { mode: "mask" }),
    /pruneWeights: mode "mask" is not available for Falcon-Mamba .*use mode "remove"/,
  );
});
