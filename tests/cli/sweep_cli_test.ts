/**
 * `perfmamba sweep` end to end on a fixture with the byte tokenizer (no ../shared needed): accuracy per score and
 * ratio against dense with zones, speed and memory of pruned tiny shapes, the report folder; and bad flags.
 */
import assert from "node:assert/strict";
import { fixtureDir } from "../_golden.ts";
import { cli } from "./_cli.ts";
import type { SweepReport } from "../../cli/report/sweep_report.ts";
import { loadWeights } from "../../runtime/checkpoint.ts";
import { dirSource } from "../../cli/fs_source.ts";
import { leastSquaresBridge, oracleActivity, oracleSelect, referencePerplexity } from "../_prune_oracles.ts";

const BYTES = new URL("../fixtures/eval/byte-tokenizer.json", import.meta.url).pathname;

Deno.test("cli sweep: accuracy and speed sections, report folder, errors", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const text = "The quick brown fox jumps over the lazy dog. ".repeat(40);
    await Deno.writeTextFile(`${dir}/calib.txt`, text);
    await Deno.writeTextFile(`${dir}/eval.txt`, "A different text to score, with other words in it. ".repeat(12));
    const r = await cli(
      "sweep",
      "--model",
      fixtureDir("mamba2-tiny"),
      "--calib",
      `${dir}/calib.txt`,
      "--tokenizer",
      BYTES,
      "--calib-seqs",
      "2",
      "--calib-len",
      "64",
      "--eval-text",
      `${dir}/eval.txt`,
      "--eval-window",
      "64",
      "--eval-windows",
      "0",
      "--ratios",
      "0.25,0.5",
      "--scores",
      "energy,random",
      "--speed",
      "--arch",
      "mamba2",
      "--dims",
      "d_model=32,n_layer=2,vocab=64,head_dim=16,d_state=16",
      "--seqlens",
      "16",
      "--mode",
      "both",
      "--warmup",
      "0",
      "--iters",
      "1",
      "--backend",
      "wasm",
      "--threads",
      "1",
      "--out",
      `${dir}/s`,
      "--quiet",
    );
    assert.equal(r.code, 0, r.stderr);
    const report: SweepReport = JSON.parse(await Deno.readTextFile(`${dir}/s/sweep.json`));
    assert.ok(report.dense && Number.isFinite(report.dense.ppl) && report.dense.ppl > 1);
    assert.deepEqual(report.accuracy.map((p) => `${p.score}@${p.ratio}`), [
      "energy@0.25",
      "energy@0.5",
      "random@0.25",
      "random@0.5",
    ]);
    assert.ok(report.accuracy.every((p) => Number.isFinite(p.ppl)));
    const [speed] = report.speed;
    // Dense (r = 0) plus two ratios, prefill and decode at one length; kept = ⌊16·(1 − r)⌋.
    assert.deepEqual(speed.points.map((p) => `${p.ratio}/${p.mode}/${p.kept}`), [
      "0/prefill/16",
      "0/decode/16",
      "0.25/prefill/12",
      "0.25/decode/12",
      "0.5/prefill/8",
      "0.5/decode/8",
    ]);
    for (const p of speed.points.filter((q) => q.ratio === 0)) assert.equal(p.speedup, 1);
    for (const p of speed.points) {
      const dense = speed.points.find((q) => q.ratio === 0 && q.mode === p.mode)!;
      assert.ok(Math.abs(p.speedup - dense.ms / p.ms) < 1e-9);
      assert.ok(Math.abs(p.memoryReductionPct - (1 - p.peakBytes / dense.peakBytes) * 100) < 1e-9);
    }
    // Fewer states hold fewer bytes: the pruned shapes' peak memory is below dense.
    assert.ok(speed.points.filter((p) => p.ratio > 0).every((p) => p.memoryReductionPct > 0));
    const md = await Deno.readTextFile(`${dir}/s/sweep.md`);
    assert.match(md, /\| energy \| 0\.5 \| [\d.]+ \| [+-][\d.]+% \| +(safe|moderate|high) \|/);
    assert.match(await Deno.readTextFile(`${dir}/s/sweep.html`), /<svg/);
    // The calibration it pruned with: the activity matrix and its heatmaps (the paper's Fig. 3).
    const activity = JSON.parse(await Deno.readTextFile(`${dir}/s/state_activity.json`));
    assert.deepEqual(activity.stateSizes, [16, 16]);
    assert.match(await Deno.readTextFile(`${dir}/s/state_activity_energy.svg`), /^<svg/);

    const cases: [string[], RegExp][] = [
      [["--speed"], /--out is required/],
      [["--out", `${dir}/x`], /give --model \(accuracy\) and\/or --speed/],
      [["--out", `${dir}/x`, "--speed", "--ratios", "0.5,1.2"], /--ratios must all be in \[0, 1\)/],
      [["--out", `${dir}/x`, "--speed", "--scores", "magic"], /--scores: "magic" is not one of/],
      [["--out", `${dir}/s`, "--speed"], /--out .* already exists/],
      [["--out", `${dir}/x`, "--model", fixtureDir("mamba2-tiny")], /--eval-text is required with --model/],
    ];
    for (const [args, re] of cases) {
      const e = await cli("sweep", "--quiet", ...args);
      assert.equal(e.code, 2, `${args.join(" ")}: ${e.stderr}`);
      assert.match(e.stderr, re, args.join(" "));
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("cli sweep: dense and every pruned point's perplexity = the float64 reference of the states the oracle scores select", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const calib = "Calibration text: a few plain sentences about boats, rivers and bread. ".repeat(3);
    const evalText = "Held-out words to predict, quite unlike the calibration sentences above! ".repeat(2);
    await Deno.writeTextFile(`${dir}/calib.txt`, calib);
    await Deno.writeTextFile(`${dir}/eval.txt`, evalText);
    const fixture = fixtureDir("mamba1-tiny");
    const [seqs, len, window, windows] = [2, 48, 32, 3];
    for (const bridge of [false, true]) {
      const out = `${dir}/s${bridge ? "b" : ""}`;
      const r = await cli(
        "sweep",
        ...["--model", fixture, "--calib", `${dir}/calib.txt`, "--tokenizer", BYTES],
        ...["--calib-seqs", `${seqs}`, "--calib-len", `${len}`, "--eval-text", `${dir}/eval.txt`],
        ...["--eval-window", `${window}`, "--eval-windows", `${windows}`, "--ratios", "0.25,0.5"],
        ...["--scores", "energy,index", "--backend", "wasm", "--threads", "1", "--out", out, "--quiet"],
        ...(bridge ? ["--bridge"] : []),
      );
      assert.equal(r.code, 0, r.stderr);
      const report: SweepReport = JSON.parse(await Deno.readTextFile(`${out}/sweep.json`));
      // The byte tokenizer's ids are the UTF-8 bytes.
      const bytes = (s: string) => Array.from(new TextEncoder().encode(s));
      const calibIds = bytes(calib), evalIds = bytes(evalText);
      const weights = await loadWeights(dirSource(fixture));
      const oracle = oracleActivity(weights, [calibIds.slice(0, len), calibIds.slice(len, 2 * len)], 32); // sweep's Gram: 32 channels per token
      const dense = referencePerplexity(weights, evalIds, window, windows);
      assert.equal(dense.predictions, windows * (window - 1));
      assert.ok(
        Math.abs(report.dense!.ppl - dense.ppl) <= 2e-6 * dense.ppl,
        `dense ${report.dense!.ppl} vs ${dense.ppl}`,
      );
      assert.equal(report.accuracy.length, 4);
      for (const p of report.accuracy) {
        const score = p.score.replace("+bridge", "");
        assert.equal(p.score, bridge ? `${score}+bridge` : score);
        const keep = score === "index"
          ? weights.layers.map(() => Array.from({ length: Math.floor(16 * (1 - p.ratio)) }, (_, s) => s))
          : oracleSelect(oracle.scores.energy!, p.ratio, false).keep;
        const bridges = bridge ? keep.map((k, l) => leastSquaresBridge(oracle.gram[l].matrix, 16, k)) : undefined;
        const want = referencePerplexity(weights, evalIds, window, windows, { keep, bridges });
        const tol = 2e-6 * want.ppl; // 20× the float32-vs-float64 gap seen (1e-7); pruning moves ppl by > 1e-4
        assert.ok(Math.abs(p.ppl - want.ppl) <= tol, `${p.score} r = ${p.ratio}: ppl ${p.ppl}, reference ${want.ppl}`);
        assert.ok(Math.abs(want.ppl - dense.ppl) > 20 * tol, `${p.score} r = ${p.ratio}: pruning barely moves ppl`);
      }
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
