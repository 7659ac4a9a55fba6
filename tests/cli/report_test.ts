/**
 * The profile renderers of cli/report/ on a synthetic report: schema validity of the sample, CSV round trip, trace
 * nesting, HTML self-containment and escaping, the terminal table, chart selection.
 */
import assert from "node:assert/strict";
import { compile } from "vega-lite";
import type { ProfileReport } from "../../runtime/profile_report.ts";
import { CSV_COLUMNS, profileCsv } from "../../cli/report/csv.ts";
import { profileTrace, type TraceEvent } from "../../cli/report/trace.ts";
import { allCharts, memoryRuns, rooflineChart } from "../../cli/report/charts.ts";
import { profileHtml } from "../../cli/report/html.ts";
import { profileTable } from "../../cli/report/table.ts";
import { sampleReport } from "./_profile_sample.ts";
import { assertTraceNests, profileValidator } from "../_profile_checks.ts";

const validator = profileValidator;

/** RFC 4180 parser: quoted fields with "" escapes, CRLF or LF record ends. */
function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [], cell = "", i = 0, quoted = false;
  while (i < text.length) {
    const ch = text[i];
    if (quoted) {
      if (ch === '"' && text[i + 1] === '"') (cell += '"', i += 2);
      else if (ch === '"') (quoted = false, i++);
      else (cell += ch, i++);
    } else if (ch === '"' && cell === "") (quoted = true, i++);
    else if (ch === ",") (row.push(cell), cell = "", i++);
    else if (ch === "\r" && text[i + 1] === "\n" || ch === "\n") {
      row.push(cell), rows.push(row), row = [], cell = "";
      i += ch === "\r" ? 2 : 1;
    } else (cell += ch, i++);
  }
  assert.equal(quoted, false, "unterminated quoted field");
  if (cell !== "" || row.length) row.push(cell), rows.push(row);
  return rows;
}

Deno.test("sample report validates against PROFILE_JSON_SCHEMA; mutations are rejected", () => {
  const validate = validator();
  const report = sampleReport();
  assert.ok(validate(report), JSON.stringify(validate.errors, null, 2));

  const bad = sampleReport();
  (bad.runs[0] as { mode: string }).mode = "train";
  bad.runs[1].components[0].share = 1.5;
  delete (bad.environment as Partial<ProfileReport["environment"]>).timing;
  assert.equal(validate(bad), false);
  const paths = validate.errors!.map((e) => e.instancePath);
  assert.ok(paths.includes("/runs/0/mode"), paths.join(" "));
  assert.ok(paths.includes("/runs/1/components/0/share"), paths.join(" "));

  const extra = sampleReport() as unknown as Record<string, unknown>;
  extra.unexpected = 1;
  assert.equal(validate(extra), false);
  const date = sampleReport();
  date.createdAt = "yesterday";
  assert.equal(validate(date), false);
});

Deno.test("sample report is internally consistent", () => {
  const report = sampleReport();
  assert.equal(report.runs.length, 8);
  for (const run of report.runs) {
    const names = run.components.map((c) => c.name);
    if (run.arch === "mamba1") {
      assert.ok(names.includes("x_proj") && names.includes("dt_proj") && !names.includes("gate_norm"));
    } else assert.ok(names.includes("gate_norm") && !names.includes("x_proj") && !names.includes("dt_proj"));
    const shares = run.components.reduce((a, c) => a + c.share, 0);
    assert.ok(Math.abs(shares - 1) < 1e-12);
    for (const c of run.components) {
      const sum = c.perLayerMs.reduce((a, x) => a + x, 0);
      assert.ok(Math.abs(sum - c.ms.median) < 1e-12, c.name);
      assert.equal(c.perLayerMs.length, c.layers);
      for (const [layer, ms] of c.perLayerMs.entries()) {
        const spans = run.trace.filter((s) =>
          s.component === c.name && (c.layers === 1 ? s.layer === -1 : s.layer === layer)
        );
        assert.equal(spans.length, 1);
        assert.ok(Math.abs(spans[0].duration - ms) < 1e-12);
      }
    }
  }
});

Deno.test("profileCsv: header, one row per component plus end_to_end per run, values round-trip", () => {
  const report = sampleReport();
  report.models[1].name = 'mamba2 "tiny", random\nweights';
  const rows = parseCsv(profileCsv(report));
  assert.deepEqual(rows[0], [...CSV_COLUMNS]);
  assert.equal(rows[0].length, 28);
  const expected = report.runs.reduce((a, r) => a + r.components.length + 1, 0);
  assert.equal(rows.length, 1 + expected);
  for (const r of rows) assert.equal(r.length, 28);

  const col = (name: string) => CSV_COLUMNS.indexOf(name);
  const data = rows.slice(1);
  let i = 0;
  for (const run of report.runs) {
    for (const c of run.components) {
      const row = data[i++];
      assert.equal(row[col("model")], report.models[run.model].name);
      assert.equal(row[col("mode")], run.mode);
      assert.equal(Number(row[col("seq_len")]), run.seqLen);
      assert.equal(row[col("component")], c.name);
      assert.equal(Number(row[col("median_ms")]), c.ms.median);
      assert.equal(Number(row[col("share")]), c.share);
      assert.equal(Number(row[col("flops")]), c.flops);
      assert.equal(Number(row[col("bytes_total")]), c.bytes.total);
      assert.equal(Number(row[col("intensity")]), c.roofline!.intensity);
      assert.equal(row[col("bound")], c.roofline!.bound);
      assert.equal(Number(row[col("mem_scratch")]), c.memory.scratch);
    }
    const e2e = data[i++];
    assert.equal(e2e[col("component")], "end_to_end");
    assert.equal(Number(e2e[col("median_ms")]), run.endToEnd.ms.median);
    assert.equal(Number(e2e[col("iqr_ms")]), run.endToEnd.ms.iqr);
    assert.equal(Number(e2e[col("flops")]), run.flops);
    assert.equal(Number(e2e[col("bytes_total")]), run.bytes);
    for (const empty of ["layers", "share", "gflops", "bound", "mem_weights", "bytes_weights"]) {
      assert.equal(e2e[col(empty)], "", empty);
    }
  }
  // The awkward name is quoted in the raw text.
  assert.ok(profileCsv(report).includes('"mamba2 ""tiny"", random\nweights"'));
  // Without peaks the roofline cells are empty but intensity is still computed.
  const noPeaks = sampleReport();
  for (const r of noPeaks.runs) for (const c of r.components) c.roofline = null;
  const row = parseCsv(profileCsv(noPeaks))[3];
  assert.equal(row[col("bound")], "");
  assert.ok(Number(row[col("intensity")]) > 0);
});

Deno.test("profileTrace: JSON, one named process per run, forward ⊃ layer ⊃ component nesting", () => {
  const report = sampleReport();
  const trace = JSON.parse(JSON.stringify(profileTrace(report)));
  assert.equal(trace.displayTimeUnit, "ms");
  const events: TraceEvent[] = trace.traceEvents;
  assertTraceNests(report, events);
  for (const [i, run] of report.runs.entries()) {
    const pid = i + 1;
    const named = events.find((e) => e.pid === pid && e.ph === "M" && e.name === "process_name")!;
    assert.equal(named.args!.name, `${run.arch} ${run.mode} B${run.batch} L${run.seqLen}`);
    const comps = events.filter((e) => e.pid === pid && e.ph === "X" && e.cat === "component");
    for (const e of comps) {
      assert.equal(typeof e.args!.flops, "number");
      assert.equal(typeof e.args!.bytes, "number");
    }
    // The component durations are those of the spans.
    const total = comps.reduce((a, e) => a + e.dur!, 0);
    const spans = run.trace.reduce((a, s) => a + s.duration, 0) * 1000;
    assert.ok(Math.abs(total - spans) < 1e-3 * run.trace.length);
  }
});

Deno.test("profileTrace: containment is exact for awkward floating-point spans", () => {
  const report = sampleReport();
  const run = report.runs[0];
  run.trace = [
    { component: "embedding", layer: -1, start: 0.1 + 0.2, duration: 0.7 },
    { component: "norm", layer: 0, start: 1.0000000000000002, duration: 0.30000000000000004 },
    { component: "in_proj", layer: 0, start: 1.3000000000000003, duration: 1e-7 },
    { component: "norm", layer: 1, start: 1.3000001, duration: 0.1 + 0.7 },
    { component: "lm_head", layer: -1, start: 2.1000001, duration: 0 },
  ];
  report.runs = [run];
  const xs = profileTrace(report).traceEvents.filter((e) => e.ph === "X") as TraceEvent[];
  const forward = xs.find((e) => e.name === "forward")!;
  for (const e of xs) {
    assert.ok(forward.ts! <= e.ts! && e.ts! + e.dur! <= forward.ts! + forward.dur!, e.name);
    if (e.cat === "component" && (e.args!.layer as number) >= 0) {
      const layer = xs.find((l) => l.name === `layer ${e.args!.layer}`)!;
      assert.ok(layer.ts! <= e.ts! && e.ts! + e.dur! <= layer.ts! + layer.dur!, `${e.name} in ${layer.name}`);
    }
    // Whole nanoseconds, so viewers converting to integer ns keep the nesting.
    assert.ok(Math.abs(e.ts! * 1000 - Math.round(e.ts! * 1000)) < 1e-6);
  }
});

Deno.test("charts: every spec compiles; decode and roof charts only when there is data", () => {
  const report = sampleReport();
  const charts = allCharts(report);
  assert.deepEqual(charts.map((c) => c.id), [
    "share-m0-prefill",
    "share-m1-prefill",
    "share-m0-decode",
    "share-m1-decode",
    "latency",
    "roofline-m0",
    "roofline-m1",
    "memory",
  ]);
  for (const c of charts) compile(c.spec);
  // Memory chart uses the longest prefill run of each model.
  assert.deepEqual(memoryRuns(report).map((r) => [r.model, r.mode, r.seqLen]), [[0, "prefill", 128], [
    1,
    "prefill",
    128,
  ]]);

  const prefillOnly = sampleReport();
  prefillOnly.runs = prefillOnly.runs.filter((r) => r.mode === "prefill");
  assert.ok(allCharts(prefillOnly).every((c) => !c.id.includes("decode")));

  const withRoof = rooflineChart(report, 0) as { layer: unknown[] };
  assert.equal(withRoof.layer.length, 4);
  const noPeaks = sampleReport();
  noPeaks.environment.peaks = null;
  const noRoof = rooflineChart(noPeaks, 0) as { layer: unknown[] };
  assert.equal(noRoof.layer.length, 1);
  compile(rooflineChart(noPeaks, 0)!);
});

Deno.test("profileHtml: self-contained, one <svg> per chart, components listed, text escaped", async () => {
  const report = sampleReport();
  report.models[0].name = `<script>alert("x")</script> & co`;
  const html = await profileHtml(report);
  assert.ok(html.startsWith("<!doctype html>"));
  const charts = allCharts(report);
  assert.equal(html.match(/<svg[\s>]/g)?.length, charts.length);
  for (const c of charts) assert.ok(html.includes(`id="${c.id}"`));
  for (const name of ["embedding", "norm", "in_proj", "conv1d", "x_proj", "dt_proj", "ssm", "gate_norm"]) {
    assert.ok(html.includes(`<td class="l">${name}`), name);
  }
  assert.ok(!html.includes("<script"), "raw <script> in the page");
  assert.ok(html.includes("&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; co"));
  const urls = [...html.matchAll(/https?:\/\/[^\s"'<>)]*/g)].map((m) => m[0]);
  for (const u of urls) assert.ok(["http://www.w3.org/2000/svg", "http://www.w3.org/1999/xlink"].includes(u), u);
  for (const tag of ["<link", "<img", "<iframe", "@import", "src="]) assert.ok(!html.includes(tag), tag);
  assert.ok(html.includes("How these numbers are computed"));
  assert.ok(html.includes("timestamp-query"));
});

Deno.test("profileTable: a header line per run and one aligned line per component", () => {
  const report = sampleReport();
  const text = profileTable(report);
  const lines = text.split("\n");
  assert.ok(!text.includes("\u001b["), "no colours");
  for (const run of report.runs) {
    const header = `${report.models[run.model].name}  ${run.mode}  B${run.batch}  L${run.seqLen}  `;
    const start = lines.findIndex((l) => l.startsWith(header));
    assert.ok(start >= 0, header);
    assert.match(lines[start], /± .* ms .* tok\/s {2}coverage \d+\.\d%( \(raw \d+\.\d%\))? {2}overhead \d+\.\d%$/);
    assert.match(lines[start + 1], /^ {2}component +median ms +share +GFLOP\/s +GB\/s +bound +of attainable$/);
    const rows = lines.slice(start + 2, start + 2 + run.components.length);
    assert.deepEqual(rows.map((l) => l.trim().split(/\s+/)[0]), run.components.map((c) => c.name));
    const next = lines[start + 2 + run.components.length];
    assert.ok(next === undefined || next === "", "one line per component");
    // Aligned: the median column ends at the same position on every row.
    const medianEnd = lines[start + 1].indexOf("median ms") + "median ms".length;
    for (const r of rows) assert.equal(r[medianEnd - 1] !== " " && r[medianEnd] === " ", true, r);
  }
});
