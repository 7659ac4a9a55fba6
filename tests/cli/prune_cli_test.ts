/**
 * `perfmamba prune` end to end: a pruned checkpoint folder that reloads and runs, the activity matrix and heatmap,
 * the input never touched, and clear errors for bad ratios, k = 0, missing calibration text, a tokenizer that does
 * not match the model, and an existing output folder.
 */
import assert from "node:assert/strict";
import { loadWeights } from "../../runtime/checkpoint.ts";
import { MambaModel } from "../../runtime/model.ts";
import { createWasmBackend } from "../../wasm/backend.ts";
import { dirSource } from "../../cli/fs_source.ts";
import { fixtureDir, type FixtureGolden, readGolden, SHARED, sharedSkipReason } from "../_golden.ts";
import { cli } from "./_cli.ts";
import { assertClose } from "../_assert.ts";
import { mulberry32 } from "../../runtime/sampling.ts";
import type { Mamba1LayerWeights, MambaWeights } from "../../runtime/weights.ts";
import { loadTokenizer } from "../../cli/tokenizer.ts";
import { referenceForward } from "../_reference_forward.ts";
import { layerOutputError, leastSquaresBridge, oracleActivity, oracleSelect, stateError } from "../_prune_oracles.ts";

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

/** Float32 logits of `weights` on `ids` (WASM, one thread). */
async function runtimeLogits(weights: MambaWeights, ids: number[]): Promise<Float32Array> {
  const backend = await createWasmBackend({ threads: 1 });
  try {
    using m = MambaModel.load(weights, backend);
    const { logits, state } = await m.prefill(ids);
    state.dispose();
    return logits.data;
  } finally {
    backend.dispose();
  }
}

/**
 * A `--score random --scope global` prune of fixture `fx` into `out`: the kept states are exactly the ones the seed
 * selects (mulberry32(seed) draws one value per state, layer by layer; PRUNING.md's global ranking of the values
 * over the layer mean), config.json records those sizes, and the model computes the reference without the others.
 */
async function checkRandomGlobal(fx: string, out: string, ratio: number, seed: number): Promise<void> {
  const dense = await loadWeights(dirSource(fx));
  const rand = mulberry32(seed);
  const values = dense.layers.map(() => Array.from({ length: dense.config.dState }, () => rand()));
  const { keep } = oracleSelect(values, ratio, true);
  const record = JSON.parse(await Deno.readTextFile(`${out}/pruning.json`));
  assert.deepEqual(record.keep, keep, `seed ${seed}: kept states`);
  assert.equal(record.seed, seed);
  const config = JSON.parse(await Deno.readTextFile(`${out}/config.json`));
  const sizes = keep.map((k) => k.length);
  assert.equal(config.state_size, Math.max(...sizes));
  assert.deepEqual(config.layer_state_sizes, new Set(sizes).size > 1 ? sizes : undefined);
  const ids = readGolden<FixtureGolden>(fx).input_ids;
  const got = await runtimeLogits(await loadWeights(dirSource(out)), ids);
  assertClose(got, referenceForward(dense, ids, { keep }), `random global seed ${seed}: logits vs float64 reference`);
}

const TOKENIZER = `${SHARED}/data/tokenizer/gpt-neox-20b-tokenizer.json`;
const SHAKESPEARE = `${SHARED}/data/text/tinyshakespeare.txt`;

Deno.test("cli prune: index/random controls on a fixture; reload and run; errors", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const fx = fixtureDir("mamba2-groups");
    const before = await Deno.readFile(`${fx}/model.safetensors`);
    const r = await cli("prune", "--model", fx, "--out", `${dir}/p`, "--ratio", "0.5", "--score", "index", "--quiet");
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /kept 16 of 32 states \(per layer: 8, 8\)/);
    const record = JSON.parse(await Deno.readTextFile(`${dir}/p/pruning.json`));
    assert.deepEqual(record.keep, [[0, 1, 2, 3, 4, 5, 6, 7], [0, 1, 2, 3, 4, 5, 6, 7]]);
    assert.ok(record.parameters.after < record.parameters.before);
    const weights = await loadWeights(dirSource(`${dir}/p`));
    assert.equal(weights.config.dState, 8);
    const backend = await createWasmBackend({ threads: 1 });
    try {
      using m = MambaModel.load(weights, backend);
      const golden = readGolden<FixtureGolden>(fx);
      const { logits, state } = await m.prefill(golden.input_ids);
      state.dispose();
      assert.ok(logits.data.every(Number.isFinite));
      // The pruned model computes the dense model without states 8–15: the float64 reference forward says so.
      const dense = await loadWeights(dirSource(fx));
      const want = referenceForward(dense, golden.input_ids, { keep: record.keep });
      assertClose(logits.data, want, "index-pruned logits vs float64 reference");
      assert.ok(maxAbsDiff(want, referenceForward(dense, golden.input_ids)) > 1e-2, "pruning barely changed logits");
    } finally {
      backend.dispose();
    }
    assert.deepEqual(await Deno.readFile(`${fx}/model.safetensors`), before, "input untouched");
    const g = await cli(
      "prune",
      "--model",
      fx,
      "--out",
      `${dir}/g`,
      "--ratio",
      "0.3",
      "--score",
      "random",
      "--scope",
      "global",
      "--quiet",
    );
    assert.equal(g.code, 0, g.stderr);
    await checkRandomGlobal(fx, `${dir}/g`, 0.3, 0);
    const g7 = await cli(
      ...["prune", "--model", fx, "--out", `${dir}/g7`, "--ratio", "0.6", "--score", "random", "--scope", "global"],
      ...["--seed", "7", "--quiet"],
    );
    assert.equal(g7.code, 0, g7.stderr);
    await checkRandomGlobal(fx, `${dir}/g7`, 0.6, 7);

    const cases: [string[], number, RegExp][] = [
      [["--ratio", "1"], 2, /--ratio must be in \[0, 1\)/],
      [["--ratio=-0.5"], 2, /--ratio must be a number in \[0, ∞\]/],
      [["--ratio", "0.95", "--score", "index"], 2, /k = ⌊16·\(1 − 0.95\)⌋ = 0 states in layer 0; k must be ≥ 1/],
      [["--ratio", "0.5"], 2, /--calib is required to calibrate/],
      [
        ["--ratio", "0.5", "--calib", `${dir}/missing.txt`, "--tokenizer", TOKENIZER],
        2,
        /--calib .*missing\.txt: cannot read/,
      ],
      [["--ratio", "0.5", "--score", "index", "--out", `${dir}/p`], 2, /--out .* already exists/],
      [["--ratio", "0.5", "--score", "index", "--out", fx], 2, /--out must differ from --model/],
      [
        ["--ratio", "0.5", "--score", "bogus"],
        2,
        /--score must be one of delta_b, delta_a, energy, ghost, random, index/,
      ],
    ];
    for (const [args, code, re] of cases) {
      const out = args.includes("--out") ? [] : ["--out", `${dir}/x`];
      const e = await cli("prune", "--model", fx, ...out, "--quiet", ...args);
      assert.equal(e.code, code, `${args.join(" ")}: exit ${e.code}, ${e.stderr}`);
      assert.match(e.stderr, re, args.join(" "));
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

const dataSkip = sharedSkipReason("data");
Deno.test({
  name: `cli prune: a calibration tokenizer that does not match the model is a usage error naming both${
    dataSkip ? ` (${dataSkip})` : ""
  }`,
  ignore: dataSkip !== null,
  fn: async () => {
    const dir = await Deno.makeTempDir();
    try {
      // GPT-NeoX ids on a 256-token fixture: the tokenizer does not match the model.
      const fx = fixtureDir("mamba1-tiny");
      const e = await cli(
        "prune",
        "--model",
        fx,
        "--out",
        `${dir}/y`,
        "--ratio",
        "0.5",
        "--calib",
        SHAKESPEARE,
        "--tokenizer",
        TOKENIZER,
        "--quiet",
      );
      assert.equal(e.code, 2);
      assert.match(e.stderr, /produced id \d+ but the model's vocabulary has 256 entries/);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test("cli prune: Falcon-Mamba (remove mode; its B / C norms span the kept states); mask and --bridge refused", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const fx = fixtureDir("falcon-mamba-tiny");
    const r = await cli("prune", "--model", fx, "--out", `${dir}/p`, "--ratio", "0.5", "--score", "index", "--quiet");
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /kept 16 of 32 states \(per layer: 8, 8\)/);
    const config = JSON.parse(await Deno.readTextFile(`${dir}/p/config.json`));
    assert.deepEqual([config.model_type, config.mixer_rms_eps, config.state_size], ["falcon_mamba", 1e-6, 8]);
    const weights = await loadWeights(dirSource(`${dir}/p`));
    assert.deepEqual([weights.config.bcdtNormEps, weights.config.dState], [1e-6, 8]);
    const backend = await createWasmBackend({ threads: 1 });
    try {
      using m = MambaModel.load(weights, backend);
      const { logits, state } = await m.prefill(readGolden<FixtureGolden>(fx).input_ids);
      state.dispose();
      assert.ok(logits.data.every(Number.isFinite));
    } finally {
      backend.dispose();
    }
    for (const flag of [["--mode", "mask"], ["--bridge"]]) {
      const e = await cli("prune", "--model", fx, "--out", `${dir}/m`, "--ratio", "0.5", "--score", "index", ...flag);
      assert.equal(e.code, 2, e.stderr);
      assert.match(e.stderr, new RegExp(`is a Falcon-Mamba model: ${flag.join(" ")} is not available`));
      await assert.rejects(() => Deno.stat(`${dir}/m`), Deno.errors.NotFound, "nothing written");
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

const skip = sharedSkipReason("models/mamba1-text-small") ?? sharedSkipReason("data");
Deno.test({
  name: `cli prune: calibrated energy pruning with a bridge on the trained Mamba-1${skip ? ` (${skip})` : ""}`,
  ignore: skip !== null,
  fn: async () => {
    const dir = await Deno.makeTempDir();
    try {
      const model = `${SHARED}/models/mamba1-text-small`;
      const r = await cli(
        "prune",
        "--model",
        model,
        "--out",
        `${dir}/b`,
        "--ratio",
        "0.5",
        "--calib",
        SHAKESPEARE,
        "--tokenizer",
        TOKENIZER,
        "--calib-seqs",
        "2",
        "--calib-len",
        "128",
        "--bridge",
        "--backend",
        "wasm",
        "--threads",
        "1",
        "--quiet",
      );
      assert.equal(r.code, 0, r.stderr);
      const activity = JSON.parse(await Deno.readTextFile(`${dir}/b/state_activity.json`));
      assert.equal(activity.tokens, 256);
      assert.equal(activity.scores.energy.length, 12);
      assert.match(await Deno.readTextFile(`${dir}/b/state_activity.svg`), /^<svg/);
      const w = await loadWeights(dirSource(`${dir}/b`));
      assert.equal(w.config.dState, 8);
      // Reusing the activity file gives the same keep sets without calibrating.
      const again = await cli(
        "prune",
        "--model",
        model,
        "--out",
        `${dir}/c`,
        "--ratio",
        "0.5",
        "--activity",
        `${dir}/b/state_activity.json`,
        "--quiet",
      );
      assert.equal(again.code, 0, again.stderr);
      const a = JSON.parse(await Deno.readTextFile(`${dir}/b/pruning.json`));
      const b = JSON.parse(await Deno.readTextFile(`${dir}/c/pruning.json`));
      assert.deepEqual(a.keep, b.keep);

      // The bridge: c is the same selection without it. b's x_proj C rows are Wᵀ·C with W the least-squares
      // solution of the saved Gram matrices (solved independently here), which changes them, and W lowers the
      // objective it minimises, Σ‖h − W·h′‖² = Σ_i G_ii − 2·Σ_ij W_ij·G[k_j, i] + Σ_i (W·G[k, k]·Wᵀ)_ii.
      const dense = await loadWeights(dirSource(model));
      const plain = await loadWeights(dirSource(`${dir}/c`));
      const N = 16, R = dense.config.dtRank, D = dense.config.dInner;
      let changed = 0;
      for (const [l, k] of (a.keep as number[][]).entries()) {
        const G = activity.gram[l].matrix as number[], m = k.length;
        const W = leastSquaresBridge(G, N, k);
        const orig = dense.layers[l] as Mamba1LayerWeights;
        const got = (w.layers[l] as Mamba1LayerWeights).xProj.data.subarray((R + m) * D, (R + 2 * m) * D);
        const want = new Float64Array(m * D);
        for (let j = 0; j < m; j++) {
          for (let c = 0; c < D; c++) {
            for (let i = 0; i < N; i++) want[j * D + c] += W[i * m + j] * orig.xProj.data[(R + N + i) * D + c];
          }
        }
        assertClose(got, want, `layer ${l}: x_proj C rows = Wᵀ·C`, 1e-4, 1e-6);
        const plainC = (plain.layers[l] as Mamba1LayerWeights).xProj.data.subarray((R + m) * D, (R + 2 * m) * D);
        changed = Math.max(changed, maxAbsDiff(got, plainC));
        let fitted = 0, removed = 0;
        for (let i = 0; i < N; i++) {
          fitted += G[i * N + i];
          if (!k.includes(i)) removed += G[i * N + i];
          for (let j = 0; j < m; j++) {
            fitted -= 2 * W[i * m + j] * G[k[j] * N + i];
            for (let q = 0; q < m; q++) fitted += W[i * m + j] * G[k[j] * N + k[q]] * W[i * m + q];
          }
        }
        assert.ok(fitted < 0.9 * removed, `layer ${l}: bridged state error ${fitted} vs removal's ${removed}`);
      }
      assert.ok(changed > 1e-3, "the bridge left x_proj's C rows as plain removal has them");
      // Measured: layer 0's out_proj input (the same input in every model) on the calibration tokens is closer to
      // the dense model's with the bridge than without.
      const tokenizer = await loadTokenizer(TOKENIZER);
      const ids =
        tokenizer.encode((await Deno.readTextFile(SHAKESPEARE)).slice(0, 20000), { add_special_tokens: false }).ids;
      const layer0 = async (weights: MambaWeights) => {
        const backend = await createWasmBackend({ threads: 1 });
        try {
          using m = MambaModel.load(weights, backend);
          const outs: number[] = [];
          for (const seq of [ids.slice(0, 128), ids.slice(128, 256)]) {
            const { state } = await m.prefill(seq, {
              lastOnly: true,
              hooks: {
                capture: async (n, l, t) =>
                  void (n === "out_proj.in" && l === 0 && outs.push(...await backend.read(t))),
              },
            });
            state.dispose();
          }
          return outs;
        } finally {
          backend.dispose();
        }
      };
      const d0 = await layer0(dense), b0 = await layer0(w), p0 = await layer0(plain);
      const sq = (x: number[]) => x.reduce((s, v, i) => s + (v - d0[i]) ** 2, 0);
      assert.ok(sq(b0) < 0.9 * sq(p0), `layer-0 output error: bridged ${sq(b0)}, plain ${sq(p0)}`);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

const BYTES = new URL("../fixtures/eval/byte-tokenizer.json", import.meta.url).pathname;

for (const fixture of ["mamba1-tiny", "mamba2-groups"]) {
  Deno.test(`cli prune ${fixture}: calibrated global energy prune with --bridge = the float64 oracle; the bridge changed and lowered the error it minimises`, async () => {
    const dir = await Deno.makeTempDir();
    try {
      const fx = fixtureDir(fixture);
      const calib = "Some calibration sentences, about ships, weather and the price of bread in town. ".repeat(2);
      await Deno.writeTextFile(`${dir}/calib.txt`, calib);
      const [count, len, ratio] = [2, 40, 0.5];
      const common = ["--model", fx, "--ratio", `${ratio}`, "--score", "energy", "--scope", "global", "--quiet"];
      const b = await cli(
        "prune",
        ...common,
        ...["--out", `${dir}/b`, "--calib", `${dir}/calib.txt`, "--tokenizer", BYTES, "--bridge"],
        ...["--calib-seqs", `${count}`, "--calib-len", `${len}`, "--backend", "wasm", "--threads", "1"],
      );
      assert.equal(b.code, 0, b.stderr);
      // The same selection without the bridge, from the saved activity.
      const p = await cli("prune", ...common, "--out", `${dir}/p`, "--activity", `${dir}/b/state_activity.json`);
      assert.equal(p.code, 0, p.stderr);

      const dense = await loadWeights(dirSource(fx));
      const N = dense.config.dState;
      const ids = Array.from(new TextEncoder().encode(calib)); // the byte tokenizer's ids are the UTF-8 bytes
      const seqs = [ids.slice(0, len), ids.slice(len, 2 * len)];
      const oracle = oracleActivity(dense, seqs, 32); // calibrate's Gram: 32 evenly spaced channels per token
      const { keep, margin } = oracleSelect(oracle.scores.energy!, ratio, true);
      assert.ok(margin > 1e-4, `a near-tie at the cut (${margin}): choose other calibration text`);
      const record = JSON.parse(await Deno.readTextFile(`${dir}/b/pruning.json`));
      assert.deepEqual(record.keep, keep, "kept states = the oracle's global energy ranking");
      assert.deepEqual(JSON.parse(await Deno.readTextFile(`${dir}/p/pruning.json`)).keep, keep);
      const bridges = keep.map((k, l) => leastSquaresBridge(oracle.gram[l].matrix, N, k));

      // Both checkpoints compute the float64 reference: plain removal, and the bridge fitted from the oracle Gram.
      const golden = readGolden<FixtureGolden>(fx).input_ids;
      const bridgedW = await loadWeights(dirSource(`${dir}/b`)), plainW = await loadWeights(dirSource(`${dir}/p`));
      const bridgedRef = referenceForward(dense, golden, { keep, bridges });
      const plainRef = referenceForward(dense, golden, { keep });
      assertClose(await runtimeLogits(bridgedW, golden), bridgedRef, `${fixture} bridged logits vs float64 reference`);
      assertClose(await runtimeLogits(plainW, golden), plainRef, `${fixture} plain logits vs float64 reference`);
      assert.ok(maxAbsDiff(bridgedRef, plainRef) > 1e-2, "the bridge changed nothing");

      // The bridge lowers what it minimises, Σ‖h − W·h′‖² over the calibration samples, and the layer output error
      // Σ (y − y_pruned)² measured on the calibration text, in every layer (float64 reference of the dense layers).
      const err = { state: [0, 0], out: [0, 0] };
      for (const seq of seqs) {
        referenceForward(dense, seq, {
          onLayer: (l, tr) => {
            err.state[0] += stateError(tr, keep[l], bridges[l]);
            err.state[1] += stateError(tr, keep[l], null);
            err.out[0] += layerOutputError(tr, keep[l], bridges[l]);
            err.out[1] += layerOutputError(tr, keep[l], null);
          },
        });
      }
      assert.ok(err.state[0] < 0.9 * err.state[1], `state error: bridged ${err.state[0]}, plain ${err.state[1]}`);
      assert.ok(err.out[0] < err.out[1], `layer output error: bridged ${err.out[0]}, plain ${err.out[1]}`);
      // And measured on the written checkpoints: layer 0's out_proj input (same input in all three) on the text.
      const layer0 = async (w: MambaWeights) => {
        const backend = await createWasmBackend({ threads: 1 });
        try {
          using m = MambaModel.load(w, backend);
          const outs: number[] = [];
          for (const seq of seqs) {
            const { state } = await m.prefill(seq, {
              hooks: {
                capture: async (n, l, t) =>
                  void (n === "out_proj.in" && l === 0 && outs.push(...await backend.read(t))),
              },
            });
            state.dispose();
          }
          return outs;
        } finally {
          backend.dispose();
        }
      };
      const [d0, b0, p0] = [await layer0(dense), await layer0(bridgedW), await layer0(plainW)];
      const sq = (a: number[]) => a.reduce((s, v, i) => s + (v - d0[i]) ** 2, 0);
      assert.ok(sq(b0) < sq(p0), `runtime layer-0 error: bridged ${sq(b0)}, plain ${sq(p0)}`);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  });
}
