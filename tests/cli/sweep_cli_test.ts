/**
 * `perfmamba sweep` end to end on a fixture with the byte tokenizer (no ../shared needed): accuracy per score and
 * ratio against dense with zones, speed and memory of pruned tiny shapes, the report folder; and bad flags.
 */
import assert from "node:assert/strict";
import { fixtureDir } from "../_golden.ts";
import { cli } from "./_cli.ts";
import type { SweepReport } from "../../cli/report/sweep_report.ts";

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
