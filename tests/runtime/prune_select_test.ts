/**
 * Calibration, selection and bridges of state pruning. The calibration's host recomputation of every layer must
 * reproduce what the backend computed (out_proj's input), and on Mamba-1 the energy score of a state must equal
 * the measured effect of masking it (Σ_d ‖out_proj[:, d]‖² · Δ²). Selection and bridges are checked on
 * constructed inputs whose answers are known.
 */
import assert from "node:assert/strict";
import { loadWeights } from "../../runtime/checkpoint.ts";
import { MambaModel } from "../../runtime/model.ts";
import { calibrate, type StateActivity } from "../../runtime/prune/calibrate.ts";
import { keptCount, selectStates } from "../../runtime/prune/select.ts";
import { fitBridges } from "../../runtime/prune/bridge.ts";
import { pruneWeights } from "../../runtime/prune/apply.ts";
import { createWasmBackend } from "../../wasm/backend.ts";
import { referenceForward } from "../_reference_forward.ts";
import { oracleActivity, oracleSelect } from "../_prune_oracles.ts";
import { dirSource } from "../../cli/fs_source.ts";
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

for (const name of FIXTURES) {
  Deno.test(`calibrate ${name}: the host recomputation reproduces every layer's out_proj input`, async () => {
    const dir = fixtureDir(name);
    const golden = readGolden<FixtureGolden>(dir);
    const weights = await loadWeights(dirSource(dir));
    const backend = await createWasmBackend({ threads: 1 });
    try {
      using model = MambaModel.load(weights, backend);
      const seqs = [golden.input_ids.slice(0, 30), golden.input_ids.slice(5)];
      const hostOut: Float64Array[][] = [[], []];
      let seq = 0;
      const activity = await calibrate(model, weights, seqs, {
        onLayerOutput: (l, out) => hostOut[seq][l] = out,
        onProgress: (done) => seq = done,
      });
      for (const [i, ids] of seqs.entries()) {
        const captured: Float32Array[] = [];
        const { state } = await model.prefill(ids, {
          hooks: { capture: async (n, l, t) => void (n === "out_proj.in" && (captured[l] = await backend.read(t))) },
        });
        state.dispose();
        for (let l = 0; l < weights.config.nLayer; l++) {
          assertClose(Float32Array.from(hostOut[i][l]), captured[l], `${name} seq ${i} layer ${l}`, 1e-4, 1e-6);
        }
      }
      assert.equal(activity.tokens, 30 + 32);
      assert.equal(activity.sequences, 2);
      assert.equal(activity.scores.delta_a === null, weights.config.arch === "mamba2");
      for (const [k, rows] of Object.entries(activity.scores)) {
        if (!rows) continue;
        assert.deepEqual(rows.map((r) => r.length), activity.stateSizes, k);
        assert.ok(rows.flat().every((v) => Number.isFinite(v) && v >= 0), `${k} finite and ≥ 0`);
      }
      for (const [l, g] of activity.gram.entries()) {
        const n = activity.stateSizes[l];
        for (let i = 0; i < n; i++) {
          assert.ok(g.matrix[i * n + i] >= 0);
          for (let j = 0; j < n; j++) assert.equal(g.matrix[i * n + j], g.matrix[j * n + i]);
        }
      }
    } finally {
      backend.dispose();
    }
  });
}

Deno.test("calibrate mamba1-tiny: energy of a state = the measured effect of masking it in layer 0", async () => {
  const dir = fixtureDir("mamba1-tiny");
  const golden = readGolden<FixtureGolden>(dir);
  const weights = await loadWeights(dirSource(dir));
  const backend = await createWasmBackend({ threads: 1 });
  try {
    using model = MambaModel.load(weights, backend);
    const ids = golden.input_ids;
    const activity = await calibrate(model, weights, [ids]);
    const cfg = weights.config, N = cfg.dState, D = cfg.dInner, d = cfg.dModel;
    const layer0 = async (m: MambaModel) => {
      let out: Float32Array | null = null;
      const { state } = await m.prefill(ids, {
        hooks: { capture: async (n, l, t) => void (n === "out_proj.in" && l === 0 && (out = await backend.read(t))) },
      });
      state.dispose();
      return out!;
    };
    const dense = await layer0(model);
    const w = weights.layers[0].outProj.data;
    const cn = Array.from(
      { length: D },
      (_, j) => Array.from({ length: d }, (_, i) => w[i * D + j] ** 2).reduce((a, b) => a + b),
    );
    for (const s of [0, 5, N - 1]) {
      const keep = weights.layers.map((_, l) => Array.from({ length: N }, (_, i) => i).filter((i) => l > 0 || i !== s));
      using masked = MambaModel.load(pruneWeights(weights, keep, { mode: "mask" }), backend);
      const diff = await layer0(masked);
      let e = 0;
      for (let t = 0; t < ids.length; t++) {
        for (let j = 0; j < D; j++) e += cn[j] * (dense[t * D + j] - diff[t * D + j]) ** 2;
      }
      e /= ids.length;
      const got = activity.scores.energy![0][s];
      assert.ok(Math.abs(got - e) <= 1e-3 * e + 1e-12, `state ${s}: energy ${got} vs measured ${e}`);
    }
  } finally {
    backend.dispose();
  }
});

/** An activity with given per-layer scores (all four scores equal). */
function fakeActivity(scores: number[][]): StateActivity {
  return {
    arch: "mamba1",
    stateSizes: scores.map((r) => r.length),
    sequences: 1,
    tokens: 1,
    scores: { delta_b: scores, delta_a: scores, energy: scores, ghost: scores },
    gram: [],
  };
}

Deno.test("selectStates: per-layer top k = ⌊N(1 − r)⌋, global budget with ≥ 1 per layer, controls, errors", () => {
  const a = fakeActivity([[5, 1, 4, 2, 3, 0, 7, 6], [0.1, 0.9, 0.5, 0.3, 0.2, 0.8, 0.7, 0.4]]);
  assert.equal(keptCount(8, 0.5), 4);
  assert.equal(keptCount(16, 0.3), 11);
  assert.equal(keptCount(10, 0.7), 3); // 10·0.3 = 2.9999999999999996 in floating point
  assert.deepEqual(selectStates(a, "energy", 0.5), [[0, 2, 6, 7], [1, 2, 5, 6]]);
  assert.deepEqual(selectStates(a, "energy", 0), [[0, 1, 2, 3, 4, 5, 6, 7], [0, 1, 2, 3, 4, 5, 6, 7]]);
  assert.deepEqual(selectStates(a, "index", 0.75), [[0, 1], [0, 1]]);
  const r1 = selectStates(a, "random", 0.5, { seed: 3 }), r2 = selectStates(a, "random", 0.5, { seed: 3 });
  assert.deepEqual(r1, r2);
  assert.ok(r1.every((k) => k.length === 4));
  // Global: layer 0's scores are 10× layer 1's in raw terms but are normalised by the layer mean; budget 8 of 16.
  const big = fakeActivity([[50, 10, 40, 20, 30, 0, 70, 60], [0.1, 0.9, 0.5, 0.3, 0.2, 0.8, 0.7, 0.4]]);
  const g = selectStates(big, "energy", 0.5, { scope: "global" });
  assert.equal(g.flat().length, 8);
  assert.ok(g.every((k) => k.length >= 1));
  // A layer whose scores are all tiny still keeps its best state.
  const skew = fakeActivity([[9, 9, 9, 9], [1e-9, 0, 0, 0]]);
  assert.deepEqual(selectStates(skew, "energy", 0.5, { scope: "global" })[1], [0]);
  assert.throws(() => selectStates(a, "energy", 1), /ratio must be in \[0, 1\)/);
  assert.throws(() => selectStates(a, "energy", -0.1), /ratio must be in \[0, 1\)/);
  assert.throws(() => selectStates(a, "energy", 0.9), /keeps k = ⌊8·\(1 − 0.9\)⌋ = 0 states in layer 0/);
  assert.throws(
    () => selectStates({ ...a, arch: "mamba2", scores: { ...a.scores, delta_a: null } }, "delta_a", 0.5),
    /not defined for mamba2/,
  );
});

Deno.test("fitBridges: recovers W when h is exactly W·h′, and identity rows for kept states", () => {
  // h = (h0, h1, h2, h3) with h2 = 2·h0 − h1 and h3 = 0.5·h1: keeping {0, 1} loses nothing.
  const n = 4, samples: number[][] = [];
  for (let i = 0; i < 50; i++) {
    const h0 = Math.sin(i), h1 = Math.cos(3 * i);
    samples.push([h0, h1, 2 * h0 - h1, 0.5 * h1]);
  }
  const gram = new Float64Array(n * n);
  for (const v of samples) for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) gram[i * n + j] += v[i] * v[j];
  const a: StateActivity = { ...fakeActivity([[1, 1, 1, 1]]), gram: [{ matrix: gram, samples: 50 }] };
  const [W] = fitBridges(a, [[0, 1]], 0);
  const want = [1, 0, 0, 1, 2, -1, 0, 0.5]; // rows h0..h3 over (h0, h1)
  want.forEach((v, i) => assert.ok(Math.abs(W![i] - v) < 1e-9, `W[${i}] = ${W![i]}, want ${v}`));
  assert.throws(() => fitBridges(a, [[0, 1], [0]]), /2 keep sets for 1 layers/);
});

// ---------------------------------------------------------------------------------------------------------------
// Score oracles: every score recomputed in float64 from the layer inputs of an independent reference forward
// (tests/_reference_forward.ts), by the definitions written in PRUNING.md, on every fixture; and the states that
// selectStates keeps are the ones these oracle scores rank first, per layer and global.

for (const name of FIXTURES) {
  Deno.test(`calibrate ${name}: every score and the Gram matrix = the float64 oracle from PRUNING.md's definitions`, async () => {
    const dir = fixtureDir(name);
    const golden = readGolden<FixtureGolden>(dir);
    const weights = await loadWeights(dirSource(dir));
    const seqs = [golden.input_ids.slice(0, 30), golden.input_ids.slice(5)];
    // The reference forward itself reproduces transformers' logits (so its layer inputs are the model's).
    const V = weights.config.vocabSize;
    const ref = referenceForward(weights, golden.input_ids);
    assertClose(
      Float32Array.from(ref),
      Float32Array.from(golden.logits.flat(2) as number[]),
      `${name}: reference forward vs transformers`,
      1e-4,
      1e-5,
    );
    assert.equal(ref.length, golden.input_ids.length * V);

    const backend = await createWasmBackend({ threads: 1 });
    let activity: StateActivity;
    try {
      using model = MambaModel.load(weights, backend);
      activity = await calibrate(model, weights, seqs, { gramChannels: weights.config.dInner });
    } finally {
      backend.dispose();
    }
    const oracle = oracleActivity(weights, seqs);
    let maxRel = 0; // the largest relative difference of any score from its oracle
    for (const score of ["delta_b", "delta_a", "energy", "ghost"] as const) {
      const want = oracle.scores[score], got = activity.scores[score];
      if (want === null) {
        assert.equal(got, null, `${name}: ${score} is Mamba-1 only`);
        continue;
      }
      for (const [l, row] of want.entries()) {
        assertClose(Float32Array.from(got![l]), Float32Array.from(row), `${name} ${score} layer ${l}`, 1e-5, 0);
        row.forEach((v, s) => (maxRel = Math.max(maxRel, Math.abs(got![l][s] - v) / v)));
        // The scores of different states differ well beyond the tolerance (a wrong score cannot hide in it).
        assert.ok(Math.max(...row) > 1.5 * Math.min(...row), `${name} ${score} layer ${l}: states indistinct`);
      }
    }
    for (const [l, g] of oracle.gram.entries()) {
      assert.equal(activity.gram[l].samples, g.samples, `${name} layer ${l}: Gram samples = T·d_inner`);
      assertClose(
        Float32Array.from(activity.gram[l].matrix),
        Float32Array.from(g.matrix),
        `${name} Gram ${l}`,
        2e-4,
        1e-9,
      );
    }

    // Selection: the kept states are the ones the oracle scores rank first, per layer and global.
    let decided = 0;
    for (const score of ["delta_b", "delta_a", "energy", "ghost"] as const) {
      const scores = oracle.scores[score];
      if (!scores) continue;
      for (const ratio of [0.25, 0.5, 0.75]) {
        for (const global of [false, true]) {
          const { keep, margin } = oracleSelect(scores, ratio, global);
          if (margin < 4 * maxRel) continue; // a near-tie at the cut, within the measured float32 error
          decided++;
          const got = selectStates(activity, score, ratio, { scope: global ? "global" : "layer" });
          assert.deepEqual(got, keep, `${name} ${score} r = ${ratio} ${global ? "global" : "per layer"}`);
        }
      }
    }
    const total = (weights.config.arch === "mamba1" ? 4 : 3) * 3 * 2;
    assert.equal(decided, total, `${name}: only ${decided} of ${total} selections decidable`);
  });
}

for (const arch of ["mamba1", "mamba2"]) {
  const dir = `${SHARED}/models/${arch}-text-small`;
  const skip = sharedSkipReason(`models/${arch}-text-small`);
  Deno.test({
    name: `calibrate the trained ${arch}-text-small: every score = the float64 oracle; selection = the oracle ranking${
      skip ? ` (${skip})` : ""
    }`,
    ignore: skip !== null,
    fn: async () => {
      const weights = await loadWeights(dirSource(dir));
      const ids = readGolden<ModelGolden>(dir).input_ids.slice(0, 32); // WikiText
      const backend = await createWasmBackend({ threads: 1 });
      let activity: StateActivity;
      try {
        using model = MambaModel.load(weights, backend);
        activity = await calibrate(model, weights, [ids], { gramChannels: weights.config.dInner });
      } finally {
        backend.dispose();
      }
      const oracle = oracleActivity(weights, [ids]);
      let maxRel = 0, decided = 0;
      for (const score of ["delta_b", "delta_a", "energy", "ghost"] as const) {
        const want = oracle.scores[score];
        if (!want) continue;
        for (const [l, row] of want.entries()) {
          assertClose(Float32Array.from(activity.scores[score]![l]), Float32Array.from(row), `${score} ${l}`, 2e-5, 0);
          row.forEach((v, s) => (maxRel = Math.max(maxRel, Math.abs(activity.scores[score]![l][s] - v) / v)));
        }
        for (const ratio of [0.5, 0.75]) {
          for (const global of [false, true]) {
            const { keep, margin } = oracleSelect(want, ratio, global);
            if (margin < 4 * maxRel) continue; // a near-tie within the measured float32 error: not decidable
            decided++;
            const got = selectStates(activity, score, ratio, { scope: global ? "global" : "layer" });
            assert.deepEqual(got, keep, `${score} r = ${ratio} ${global ? "global" : "per layer"}`);
          }
        }
      }
      const total = (arch === "mamba1" ? 4 : 3) * 2 * 2;
      assert.ok(
        decided >= total - 1,
        `only ${decided} of ${total} selections decidable (max relative error ${maxRel})`,
      );
      for (const [l, g] of oracle.gram.entries()) {
        assertClose(Float32Array.from(activity.gram[l].matrix), Float32Array.from(g.matrix), `Gram ${l}`, 1e-4, 0);
      }
    },
  });
}
