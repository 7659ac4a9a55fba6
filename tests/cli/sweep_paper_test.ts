/**
 * `sweep --preset paper` and the paper comparison: the preset's plan (and flags overriding it), the paper's Table 2
 * data against ../shared/paper's CSV, the paper's zones and marginal drop on a hand-computed curve, the masked variant
 * on a tiny shape (same sizes: no memory saved), and bad flags.
 */
import assert from "node:assert/strict";
import { cli } from "./_cli.ts";
import { SHARED, sharedSkipReason } from "../_golden.ts";
import { flagsWithPreset } from "../../cli/commands/sweep.ts";
import { PAPER_RATIOS, PAPER_SEQLENS, PAPER_TABLE2, paperTable2 } from "../../cli/report/paper_table2.ts";
import { marginalDrops, paperZone, zoneLosses } from "../../cli/report/paper_curves.ts";
import { sweepMarkdown, type SweepReport } from "../../cli/report/sweep_report.ts";

Deno.test("sweep --preset paper: the paper's ratios, lengths, prefill, both variants; explicit flags override", () => {
  const f = flagsWithPreset(["--preset", "paper", "--out", "x"])!;
  assert.equal(f.speed, true);
  assert.equal(f.arch, "mamba2");
  assert.equal(f.size, "130m");
  assert.equal(f.ratios, "0.1,0.3,0.5,0.7,0.9");
  assert.equal(f.seqlens, "64,512,2048,4096,8192,16384");
  assert.equal(f.mode, "prefill");
  assert.equal(f.variants, "remove,mask");
  assert.equal(f.out, "x");
  const o = flagsWithPreset(["--seqlens", "64", "--preset", "paper", "--variants", "mask", "--warmup", "0"])!;
  assert.equal(o.seqlens, "64");
  assert.equal(o.variants, "mask");
  assert.equal(o.warmup, "0");
  assert.equal(o.ratios, "0.1,0.3,0.5,0.7,0.9"); // not overridden: the preset's
  // Without --preset: the command's own defaults.
  const plain = flagsWithPreset(["--out", "y"])!;
  assert.equal(plain.variants, "remove");
  assert.equal(plain.seqlens, "512,2048");
});

const csvSkip = sharedSkipReason("paper/table2_pruning_speed.csv");
Deno.test({
  name: `paper Table 2 data equals ../shared/paper/table2_pruning_speed.csv${csvSkip ? ` (${csvSkip})` : ""}`,
  ignore: csvSkip !== null,
  fn: () => {
    const lines = Deno.readTextFileSync(`${SHARED}/paper/table2_pruning_speed.csv`).trim().split("\n");
    assert.equal(lines[0], `seqlen,metric,${PAPER_RATIOS.map((r) => `r${r}`).join(",")}`);
    const rows = lines.slice(1).map((l) => l.split(","));
    assert.equal(rows.length, 2 * PAPER_TABLE2.length);
    assert.deepEqual([...new Set(rows.map((r) => Number(r[0])))], [...PAPER_SEQLENS]);
    for (const [l, metric, ...vals] of rows) {
      const row = PAPER_TABLE2.find((r) => r.seqLen === Number(l))!;
      const ours = metric === "speedup_x"
        ? row.speedup
        : metric === "memory_reduction_pct"
        ? row.memoryReductionPct
        : null;
      assert.ok(ours, `metric ${metric}`);
      assert.deepEqual(ours, vals.map(Number), `L${l} ${metric}`);
    }
    assert.deepEqual(paperTable2(16384, 0.9), { speedup: 1.14, memoryReductionPct: 11.47 });
    assert.equal(paperTable2(16384, 0.2), null);
  },
});

Deno.test("paper zones and |ΔAcc/Δr| on a hand-computed curve", () => {
  assert.deepEqual([0.1, 0.3, 0.1 * 3, 0.4, 0.7, 0.1 * 7, 0.71, 0.9].map(paperZone), [
    "safe",
    "safe",
    "safe",
    "moderate",
    "moderate",
    "moderate",
    "high",
    "high",
  ]);
  const acc = [0.5, 0.5, 0.49, 0.48, 0.45, 0.44, 0.40, 0.38, 0.30, 0.25];
  const curve = acc.map((value, i) => ({ ratio: Math.round(i) / 10, value }));
  const zones = zoneLosses(0.5, curve);
  // safe: losses 0, 1, 2 points (0, 2, 4 % of 0.5); moderate: 5, 6, 10, 12 (10, 12, 20, 24 %); high: 20, 25 (40, 50 %).
  const want = [["safe", 1, 2], ["moderate", 8.25, 16.5], ["high", 22.5, 45]] as const;
  assert.equal(zones.length, 3);
  zones.forEach((z, i) => {
    assert.equal(z.zone, want[i][0]);
    assert.ok(Math.abs(z.meanLossPts - want[i][1]) < 1e-9, `${z.zone} pts ${z.meanLossPts}`);
    assert.ok(Math.abs(z.meanLossRelPct - want[i][2]) < 1e-9, `${z.zone} rel ${z.meanLossRelPct}`);
  });
  assert.deepEqual(zones.map((z) => z.ratios.length), [3, 4, 2]);
  const drops = marginalDrops(curve, 0.1);
  const slopes = [0, 0.1, 0.1, 0.3, 0.1, 0.4, 0.2, 0.8, 0.5];
  assert.equal(drops.length, 9);
  drops.forEach((d, i) => assert.ok(Math.abs(d.slope - slopes[i]) < 1e-9, `${d.from} → ${d.to}: ${d.slope}`));
  // Unsorted input is sorted; a gap other than δ is skipped (0.1 → 0.3 here).
  const gapped = marginalDrops([{ ratio: 0.3, value: 0.4 }, { ratio: 0, value: 0.5 }, { ratio: 0.1, value: 0.45 }]);
  assert.equal(gapped.length, 1);
  assert.ok(Math.abs(gapped[0].slope - 0.5) < 1e-9);
});

Deno.test("cli sweep --variants remove,mask: masked points keep the sizes (no memory saved), beside the paper", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const r = await cli(
      "sweep",
      ...["--preset", "paper", "--dims", "d_model=32,n_layer=2,vocab=64,head_dim=16,d_state=16"],
      ...["--seqlens", "64,40", "--ratios", "0.5,0.9", "--warmup", "0", "--iters", "1", "--rounds", "2"],
      ...["--backend", "wasm", "--threads", "1", "--out", `${dir}/s`, "--quiet"],
    );
    assert.equal(r.code, 0, r.stderr);
    const report: SweepReport = JSON.parse(await Deno.readTextFile(`${dir}/s/sweep.json`));
    const [speed] = report.speed;
    assert.equal(speed.arch, "mamba2");
    // Length outermost, then dense and every ratio × variant; kept = ⌊16·(1 − r)⌋; 2 rounds × 1 pass = 2 samples.
    assert.deepEqual(
      speed.points.map((p) => `${p.seqLen}/${p.ratio}/${p.variant}/${p.kept}/${p.mode}`),
      [64, 40].flatMap((l) => [
        `${l}/0/dense/16/prefill`,
        `${l}/0.5/remove/8/prefill`,
        `${l}/0.5/mask/8/prefill`,
        `${l}/0.9/remove/1/prefill`,
        `${l}/0.9/mask/1/prefill`,
      ]),
    );
    for (const p of speed.points) {
      assert.equal(p.samples.length, 2);
      const dense = speed.points.find((q) => q.seqLen === p.seqLen && q.variant === "dense")!;
      assert.ok(Math.abs(p.speedup - dense.ms / p.ms) < 1e-12);
      if (p.variant === "remove") {
        assert.ok(p.memoryReductionPct > 0, `removed r = ${p.ratio}: ${p.memoryReductionPct}`);
        assert.notEqual(p.shape, dense.shape);
      } else {
        // Masked: the dense shape and the dense bytes — no memory saved, by construction.
        assert.equal(p.shape, dense.shape);
        assert.equal(p.peakBytes, dense.peakBytes);
        assert.equal(p.memoryReductionPct, 0);
      }
    }
    // sweep.json carries the paper's cells beside ours: the paper's lengths only (L64, not L40), its two ratios here.
    assert.deepEqual(report.paperTable2!.map((c) => `${c.seqLen}/${c.ratio}`), ["64/0.5", "64/0.9"]);
    const c9 = report.paperTable2![1];
    assert.deepEqual(c9.paper, { speedup: 1.0, memoryReductionPct: 7.82 });
    assert.equal(c9.masked!.memoryReductionPct, 0);
    assert.equal(c9.removed!.n, 2);
    const md = await Deno.readTextFile(`${dir}/s/sweep.md`);
    // The Table 2 comparison: our removed and masked figures beside the paper's (L64, r = 0.9: 1.00×, 7.82%).
    const rm = speed.points.find((p) => p.seqLen === 64 && p.ratio === 0.9 && p.variant === "remove")!;
    const mask = speed.points.find((p) => p.seqLen === 64 && p.ratio === 0.9 && p.variant === "mask")!;
    const cells = [rm.speedup.toFixed(2), mask.speedup.toFixed(2), "1.00", rm.memoryReductionPct.toFixed(1), "0.0"];
    assert.ok(md.includes(`| 64 | 0.9 | ${cells.join(" | ")} | 7.82 |`), md);
    // L40 is not one of the paper's lengths: no comparison row for it; Fig. 5's dense L64 row is there.
    assert.ok(!/\| 40 \| 0\.9 \| [\d.]+ \| [\d.]+ \| /.test(md.split("Against the paper's Table 2")[1]));
    assert.match(md, /\| 64 \| [\d.]+ \| 2 \| 15 \| [\d.]+ \| — \|/);
    assert.match(
      await Deno.readTextFile(`${dir}/s/sweep.html`),
      /Against the paper&#39;s Table 2|Against the paper's Table 2/,
    );

    const cases: [string[], RegExp][] = [
      [["--preset", "table9"], /--preset must be one of paper, got "table9"/],
      [["--speed", "--variants", "remove,sparse"], /--variants must be remove and\/or mask/],
      [["--speed", "--iters", "many"], /--iters must be a whole number/],
      [["--speed", "--warmup", "1.5"], /--warmup must be a whole number/],
      [["--speed", "--rounds", "0"], /--rounds must be a whole number in \[1/],
      [["--speed", "--iters", "auto", "--max-ms", "0"], /--max-ms must be a number in \[1/],
      [["--speed", "--pairing", "pairs"], /--pairing must be one of rounds, paired, got "pairs"/],
      [["--speed", "--pairing", "paired", "--rounds", "2"], /--pairing paired .* --rounds must be 1/],
    ];
    for (const [args, re] of cases) {
      const e = await cli("sweep", "--quiet", "--out", `${dir}/x`, ...args);
      assert.equal(e.code, 2, `${args.join(" ")}: ${e.stderr}`);
      assert.match(e.stderr, re, args.join(" "));
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("sweep.md: the paper's zones and marginal drop tables from a known curve (pure report)", () => {
  // Two tasks whose mean is the hand-computed curve above; perplexity rises 1% per 0.1 of r.
  const acc = [0.5, 0.5, 0.49, 0.48, 0.45, 0.44, 0.40, 0.38, 0.30, 0.25];
  const point = (i: number) => ({
    score: i === 0 ? "dense" : "delta_b",
    ratio: i / 10,
    ppl: 100 * (1 + i / 100),
    tasks: { piqa: acc[i] + 0.1, arc_easy: acc[i] - 0.1 },
  });
  const report: SweepReport = {
    schema: "perfmamba.sweep/1",
    createdAt: "",
    model: "m",
    backend: "b",
    ratios: [],
    scores: ["delta_b"],
    scope: "layer",
    dense: point(0),
    accuracy: acc.slice(1).map((_, i) => point(i + 1)),
    speed: [],
    notes: [],
  };
  const md = sweepMarkdown(report);
  // Zones: acc loss in points and relative, ppl rise (mean of 1, 2, 3 % = 2 %; 4..7 → 5.5 %; 8, 9 → 8.5 %).
  assert.ok(md.includes("| safe (r ≤ 0.3) | 0.1, 0.2, 0.3 | 1.0 | 2.0 | 2.0 | 0.7 |"), md);
  assert.ok(md.includes("| moderate (0.3 < r ≤ 0.7) | 0.4, 0.5, 0.6, 0.7 | 8.3 | 16.5 | 5.5 | 12.2 |"), md);
  assert.ok(md.includes("| high (r > 0.7) | 0.8, 0.9 | 22.5 | 45.0 | 8.5 | 22.3 |"), md);
  // Marginal drop: the header's own bars are escaped; 0.7 → 0.8 drops 0.08 over 0.1 (0.8), ppl 1% (0.1).
  assert.ok(md.includes("| r | zone | \\|ΔAcc/Δr\\| | \\|Δ(ppl/dense)/Δr\\| | paper |"), md);
  assert.ok(md.includes("| 0.7 → 0.8 | high | 0.800 | 0.100 | > 0.03 |"), md);
  assert.ok(md.includes("| 0.4 → 0.5 | moderate | 0.100 | 0.100 | < 0.01 |"), md);
  // Fig. 4: dense → r = 0.9 per task beside the paper's statement.
  assert.ok(md.includes("| piqa | 60.0 | 35.0 | 65% → 60% |"), md);
});

Deno.test("cli sweep --pairing paired: the speedup with its 95% interval in sweep.md and beside the paper", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const r = await cli(
      "sweep",
      ...["--preset", "paper", "--dims", "d_model=32,n_layer=2,vocab=64,head_dim=16,d_state=16", "--pairing", "paired"],
      ...["--seqlens", "64", "--ratios", "0.9", "--warmup", "1", "--iters", "6"],
      ...["--backend", "wasm", "--threads", "1", "--out", `${dir}/s`, "--quiet"],
    );
    assert.equal(r.code, 0, r.stderr);
    const report: SweepReport = JSON.parse(await Deno.readTextFile(`${dir}/s/sweep.json`));
    const pts = report.speed[0].points;
    assert.deepEqual(pts.map((p) => `${p.variant}/${p.samples.length}`), ["dense/12", "remove/6", "mask/6"]);
    const rm = pts[1], ci = rm.speedupInterval!;
    assert.ok(ci.lo <= rm.speedup && rm.speedup <= ci.hi);
    assert.deepEqual(report.paperTable2![0].removed!.speedupInterval, ci);
    const md = await Deno.readTextFile(`${dir}/s/sweep.md`);
    const f = (x: number) => x.toFixed(2);
    assert.ok(md.includes(`| ${f(rm.speedup)} | ${f(ci.lo)}–${f(ci.hi)} |`), md);
    assert.ok(md.includes(`| 64 | 0.9 | ${f(rm.speedup)} (${f(ci.lo)}–${f(ci.hi)}) |`), md);
    assert.match(md, /Paired design: the dense model and each pruned one loaded together/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
