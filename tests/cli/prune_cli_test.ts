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
    if (sharedSkipReason("data") === null) {
      // GPT-NeoX ids on a 256-token fixture: the tokenizer does not match the model.
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
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
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
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
