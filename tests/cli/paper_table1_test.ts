/**
 * The paper's Table 1 beside ours: the product's copy of the table equals ../shared/paper/table1_components.csv, the
 * side-by-side built from a real (tiny, WASM) profile carries the report's own figures, the paper's figures attach
 * only at its setup, and the arithmetic checks give the values derived by hand from the 130m shapes.
 */
import assert from "node:assert/strict";
import { SHARED, sharedSkipReason } from "../_golden.ts";
import { createWasmBackend } from "../../wasm/backend.ts";
import { makeConfig, presetConfig } from "../../runtime/presets.ts";
import { MambaModel } from "../../runtime/model.ts";
import { syntheticWeights } from "../../runtime/synthetic.ts";
import { profileModels } from "../../runtime/profiler.ts";
import type { ProfileReport } from "../../runtime/profile_report.ts";
import { PAPER_COMPONENTS, PAPER_TABLE1, PAPER_TABLE1_SETUP, paperTable1Row } from "../../cli/report/paper_table1.ts";
import { PAPER_COMPONENT_MAP, paperTable1Comparison } from "../../cli/report/paper_compare.ts";
import { A100_40GB, type PaperCheck, paperChecks, withinRounding } from "../../cli/report/paper_checks.ts";
import { paperMarkdown } from "../../cli/report/paper_markdown.ts";

const CSV_SKIP = sharedSkipReason("paper/table1_components.csv");

Deno.test({
  name: `paper Table 1: the product's data equals table1_components.csv cell for cell${
    CSV_SKIP ? ` (${CSV_SKIP})` : ""
  }`,
  ignore: CSV_SKIP !== null,
  fn: () => {
    const [header, ...lines] = Deno.readTextFileSync(`${SHARED}/paper/table1_components.csv`).trim().split(/\r?\n/);
    assert.equal(
      header,
      "seqlen,component,flops_g_m1,flops_g_m2,memory_gb_m1,memory_gb_m2,io_gbps_m1,io_gbps_m2,latency_ms_m1,latency_ms_m2",
    );
    assert.equal(PAPER_TABLE1.length, lines.length);
    lines.forEach((line, i) => {
      const [l, component, ...v] = line.split(",");
      const n = v.map(Number);
      assert.deepEqual(PAPER_TABLE1[i], {
        seqLen: Number(l),
        component,
        flopsG: { mamba1: n[0], mamba2: n[1] },
        memoryGB: { mamba1: n[2], mamba2: n[3] },
        ioGBs: { mamba1: n[4], mamba2: n[5] },
        latencyMs: { mamba1: n[6], mamba2: n[7] },
      }, `row ${i + 1}: ${line}`);
    });
  },
});

Deno.test("paper Table 1: every length has the five components once; the lookup finds them", () => {
  for (const l of PAPER_TABLE1_SETUP.seqLens) {
    assert.deepEqual(PAPER_TABLE1.filter((r) => r.seqLen === l).map((r) => r.component), [...PAPER_COMPONENTS]);
  }
  assert.equal(paperTable1Row(2048, "State Space")!.memoryGB.mamba2, 115.68);
  assert.equal(paperTable1Row(4096, "State Space"), null);
});

Deno.test("paper mapping: each of our block components is in exactly one of the five or outside them", () => {
  const all = Object.values(PAPER_COMPONENT_MAP).flat();
  assert.equal(new Set(all).size, all.length, "no component counted twice");
  assert.deepEqual(PAPER_COMPONENT_MAP["State Space"], ["x_proj", "bcdt_norm", "dt_proj", "ssm"]);
  assert.deepEqual(PAPER_COMPONENT_MAP["Gated MLP"], ["in_proj", "gate_norm"]);
});

/** The checks of one kind, architecture, length and component. */
function check(checks: PaperCheck[], kind: PaperCheck["kind"], arch: string, l: number, c: string): PaperCheck {
  const found = checks.filter((x) => x.kind === kind && x.arch === arch && x.seqLen === l && x.component === c);
  assert.equal(found.length, 1, `${kind} ${arch} L${l} ${c}`);
  return found[0];
}

Deno.test("paper checks: values derived by hand from the 130m shapes and the A100's data sheet", () => {
  const checks = paperChecks();
  // 130m: d = 768, n_layer = 24, D = 1536; Mamba-2: 24 heads × 64, N = 128, in_proj 768 → 2·1536 + 2·128 + 24 = 3352.
  const m1 = presetConfig("mamba1", "130m"), m2 = presetConfig("mamba2", "130m");
  assert.deepEqual([m1.dModel, m1.nLayer, m1.dInner, m1.dState], [768, 24, 1536, 16]);
  assert.deepEqual([m2.nHeads, m2.headDim, m2.dState, m2.nGroups], [24, 64, 128, 1]);

  // 115.68 GB of Mamba-2 SSM memory on a 40 GB card: impossible; as traffic 115.68 GB / 51.79 ms = 2233.6 GB/s.
  const mem = check(checks, "memory-vs-card", "mamba2", 2048, "State Space");
  assert.equal(mem.paper, 115.68);
  assert.equal(mem.holds, false);
  assert.ok(mem.formula.includes("0.151 GB"), mem.formula); // state: 8 · 24 layers · 24·64·128 · 4 B = 0.151 GB
  const traffic = check(checks, "memory-as-traffic", "mamba2", 2048, "State Space");
  assert.ok(Math.abs(traffic.computed - 115.68 / 0.05179) < 1e-6);
  assert.ok(Math.abs(traffic.computed - 2233.6) < 0.1 && !traffic.holds);
  // The five together at Mamba-1 L2048: 25.18 + 10.32 + 7.44 + 86.64 + 23.04 = 152.62 GB.
  const all = check(checks, "memory-vs-card", "mamba1", 2048, "all five");
  assert.ok(Math.abs(all.paper - 152.62) < 1e-9 && !all.holds);
  assert.ok(check(checks, "memory-vs-card", "mamba1", 64, "all five").holds); // 8.67 GB

  // I/O × latency: Mamba-2 SSM L2048 moves 9.87 GB/s · 51.79 ms = 0.511 GB; the SSD alone must move x, dt, B, C, y:
  // 24 · 4 B · (2·16384·1536 + 16384·24 + 2·16384·128) + state 2 · 24 · 8·24·64·128 · 4 B = 5.57 GB.
  const io = check(checks, "io-vs-latency", "mamba2", 2048, "State Space");
  const minBytes = 24 * 4 * (2 * 16384 * 1536 + 16384 * 24 + 2 * 16384 * 128) + 24 * 3 * 24 * 4 +
    2 * 24 * 8 * 24 * 64 * 128 * 4;
  assert.ok(Math.abs(io.computed - minBytes / 1e9 / 0.05179) < 1e-6, `${io.computed} vs ${minBytes / 1e9 / 0.05179}`);
  assert.ok(io.formula.includes("0.511 GB moved"), io.formula);
  assert.equal(io.holds, false);

  // FLOPs: Mamba-1 Final Linear is exactly ours, 2 · 8·64 · 1536 · 768 · 24 = 28.99 G.
  const fl = check(checks, "flops-vs-shapes", "mamba1", 64, "Final Linear");
  assert.equal(fl.computed, 2 * 8 * 64 * 1536 * 768 * 24 / 1e9);
  assert.ok(fl.holds);
  assert.deepEqual(fl.explainedBy, ["2·B·L·D·d·n_layer (ours)"]);
  // Mamba-2 Gated MLP 29.03 G at L64 against our in_proj + gated norm 2·512·768·3352·24 + 8·512·1536·24 = 63.4 G;
  // reproduced by 24 · (512·768·3072 + 2·512·1536) = 29.03 G (multiply-add as one FLOP, x and z columns only).
  const gm = check(checks, "flops-vs-shapes", "mamba2", 64, "Gated MLP");
  assert.equal(gm.computed, (2 * 512 * 768 * 3352 * 24 + 8 * 512 * 1536 * 24) / 1e9);
  assert.ok(!gm.holds);
  assert.equal(gm.explainedBy!.length, 1);
  assert.match(gm.explainedBy![0], /^n_layer·\(B·L·d·2D \+ 2·B·L·D\)/);
  assert.ok(withinRounding(29.03, 24 * (512 * 768 * 3072 + 2 * 512 * 1536) / 1e9));
  // Mamba-1 Gated MLP 2.42 G: one layer of in_proj (2·512·768·3072 = 2.416 G), 1/24 of ours.
  const g1 = check(checks, "flops-vs-shapes", "mamba1", 64, "Gated MLP");
  assert.match(g1.explainedBy![0], /ONE layer/);
  assert.ok(Math.abs(g1.paper / g1.computed - 2.42 / (2 * 512 * 768 * 3072 * 24 / 1e9)) < 1e-12);
  // RMSNorm 0.45 G at L512 = 6 · 4096 · 768 · 24 (0.453 G), ours 4 · … (0.302 G).
  const rn = check(checks, "flops-vs-shapes", "mamba2", 512, "RMSNorm");
  assert.equal(rn.computed, 4 * 4096 * 768 * 24 / 1e9);
  assert.deepEqual(rn.explainedBy, ["6·B·L·d·n_layer"]);
  // Mamba-2 conv: ours, 24 · (2·512·1792·4 + 4·512·1792) = 0.264 G against the paper's 0.26.
  const cv = check(checks, "flops-vs-shapes", "mamba2", 64, "Conv. Transform");
  assert.equal(cv.computed, 24 * (2 * 512 * 1792 * 4 + 4 * 512 * 1792) / 1e9);
  assert.ok(cv.holds);

  // FLOP rate: Mamba-1 SSM at L2048, 2193.73 G in 74.82 ms = 29.32 TFLOP/s, above the 19.5 of dense FP32.
  const fr = check(checks, "flop-rate", "mamba1", 2048, "State Space");
  assert.ok(Math.abs(fr.computed - 2193.73 / 74.82) < 1e-12 && !fr.holds);
  assert.ok(check(checks, "flop-rate", "mamba1", 2048, "Final Linear").holds); // 927.71 / 59.99 = 15.5
  assert.equal(A100_40GB.memoryGB, 40);
  // 5 kinds × 5 components + 1 "all five", per arch and length.
  assert.equal(checks.length, 2 * 3 * (5 * 5 + 1));
});

Deno.test("paper side by side: built from a real tiny WASM profile, ours equals the report's own fields", async () => {
  const backend = await createWasmBackend({ threads: 1 });
  const models = (["mamba1", "mamba2"] as const).map((arch) => ({
    name: arch,
    model: MambaModel.load(
      syntheticWeights(makeConfig(arch, { dModel: 64, nLayer: 2, vocabSize: 256, dState: 16, headDim: 16 }), 1),
      backend,
    ),
  }));
  let report: ProfileReport;
  try {
    report = await profileModels(models, {
      seqLens: [16, 64],
      batch: 2,
      warmup: 0,
      iters: 2,
      peaks: { bandwidthGBs: 20, gemmGflops: 200, detail: "given" },
    });
  } finally {
    for (const m of models) m.model.dispose();
    backend.dispose();
  }
  const cmp = paperTable1Comparison(report);
  assert.equal(cmp.points.length, report.runs.length);
  for (const [i, p] of cmp.points.entries()) {
    const run = report.runs[i];
    assert.deepEqual([p.arch, p.mode, p.batch, p.seqLen], [run.arch, run.mode, run.batch, run.seqLen]);
    let fiveMs = 0;
    for (const e of p.entries) {
      const cs = run.components.filter((c) => PAPER_COMPONENT_MAP[e.component].includes(c.name));
      const sum = (f: (c: typeof cs[number]) => number) => cs.reduce((a, c) => a + f(c), 0);
      assert.equal(e.ours.flops, sum((c) => c.flops), `${e.component} flops`);
      assert.equal(e.ours.minBytes, sum((c) => c.bytes.total));
      assert.equal(e.ours.ms, sum((c) => c.ms.median));
      assert.equal(e.ours.shareOfAll, sum((c) => c.share));
      assert.equal(
        e.ours.memoryBytes,
        sum((c) => c.memory.weights + c.memory.activations + c.memory.state + c.memory.scratch),
      );
      assert.ok(Math.abs(e.ours.gbs - e.ours.minBytes / e.ours.ms / 1e6) <= 1e-9 * e.ours.gbs);
      assert.ok(e.ours.ms > 0, `${run.arch} ${run.mode} ${e.component} was timed`);
      const r = e.ours.roofline!;
      assert.equal(r.attainableGflops, Math.min(200, (e.ours.flops / e.ours.minBytes) * 20));
      fiveMs += e.ours.ms;
      assert.equal(e.paper, null, "a tiny shape at batch 2 gets no paper figures");
    }
    for (const e of p.entries) assert.ok(Math.abs(e.ours.share - e.ours.ms / fiveMs) < 1e-12);
    const largest = p.entries.reduce((a, b) => (b.ours.ms > a.ours.ms ? b : a));
    assert.equal(p.dominant.ours, largest.component);
    assert.equal(p.dominant.paper, null);
    // Mamba-1's State Space sums x_proj, dt_proj and the scan; Mamba-2's is the SSD alone.
    const ss = p.entries.find((e) => e.component === "State Space")!;
    assert.deepEqual(ss.ours.components, run.arch === "mamba1" ? ["x_proj", "dt_proj", "ssm"] : ["ssm"]);
    // Everything timed is in the five or outside them.
    const allMs = run.components.reduce((a, c) => a + c.ms.median, 0);
    assert.ok(Math.abs(fiveMs + p.outside.ms - allMs) < 1e-9 * allMs);
  }
  assert.ok(cmp.notes.some((n) => n.includes("not the 130m shape")), cmp.notes.join("; "));

  // The same report relabelled as the paper's setup (130m dims, batch 8, prefill L64): the paper's row attaches,
  // its shares are of its five latencies, and its dominant is its largest latency (Mamba-2 L64: State Space).
  const as130m: ProfileReport = structuredClone(report);
  for (const m of as130m.models) {
    const c = presetConfig(m.arch, "130m");
    Object.assign(m.config, { dModel: c.dModel, nLayer: c.nLayer, dInner: c.dInner, dState: c.dState });
  }
  for (const run of as130m.runs) Object.assign(run, { batch: 8, seqLen: run.seqLen === 16 ? 64 : 512 });
  const cmp130 = paperTable1Comparison(as130m);
  const p = cmp130.points.find((x) => x.arch === "mamba2" && x.mode === "prefill" && x.seqLen === 64)!;
  const ssm = p.entries.find((e) => e.component === "State Space")!.paper!;
  assert.deepEqual([ssm.flopsG, ssm.memoryGB, ssm.ioGBs, ssm.latencyMs], [48.95, 7.44, 0.31, 45.88]);
  assert.ok(Math.abs(ssm.share - 45.88 / (2.9 + 3.99 + 0.21 + 45.88 + 2.18)) < 1e-12);
  assert.equal(p.dominant.paper, "State Space");
  assert.ok(cmp130.points.filter((x) => x.mode === "decode").every((x) => x.entries.every((e) => e.paper === null)));

  const md = paperMarkdown(cmp130, "deno run -A cli/main.ts profile --preset paper");
  assert.match(md, /Made by `deno run -A cli\/main\.ts profile --preset paper`/);
  assert.match(md, /\| State Space \(ssm\) \|/);
  assert.match(md, /"Memory" above the card's 40 GB: 5 of 36 figures/);
  assert.match(md, /\| 48\.95 \| 7\.44 \| 0\.31 \| 45\.88 \| 83\.2% \|/); // the paper's Mamba-2 L64 SSM row, as published
});
