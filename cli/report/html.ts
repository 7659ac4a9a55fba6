/**
 * The profile as one self-contained HTML page: environment, run summary, charts as inline SVG (rendered here with
 * Vega, no scripts in the page), per-run component tables and the cost conventions. No external resources.
 *
 * @module
 */

import { COST_NOTES, type ProfiledModel, type ProfileReport, type ProfileRun } from "../../mod.ts";
import { PAPER_NAMES, renderSvg } from "@perfmamba/perfmamba/charts";
import { allCharts } from "./charts.ts";
import { fmtBytes, fmtFraction, fmtMs, fmtPercent, fmtRate, group, modelName } from "./format.ts";

/** Text made safe for HTML element content and quoted attribute values. */
export function escapeHtml(text: unknown): string {
  return String(text)
    .replaceAll("&", "&amp;")
    .replaceAll("<", "&lt;")
    .replaceAll(">", "&gt;")
    .replaceAll('"', "&quot;")
    .replaceAll("'", "&#39;");
}

/** The reports' stylesheet (the profile and compare pages share it). */
export const CSS = `
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:2rem auto;max-width:1180px;padding:0 1rem;color:#222}
h1{font-size:1.6rem;margin-bottom:.2rem}h2{margin-top:2.2rem;border-bottom:1px solid #ddd;padding-bottom:.2rem}
h3{margin:1.4rem 0 .4rem;font-size:1.05rem}.meta{color:#666;margin-top:0}
table{border-collapse:collapse;margin:.4rem 0 1rem;font-variant-numeric:tabular-nums}
th,td{padding:.22rem .6rem;border-bottom:1px solid #eee;text-align:right;white-space:nowrap}
th{background:#f6f6f6;font-weight:600}th:first-child,td:first-child,td.l,th.l{text-align:left}
table.kv th{text-align:left;width:11rem;background:none}table.kv td{text-align:left;white-space:normal}
figure{margin:1rem 0 2rem}figcaption{font-weight:600;margin-bottom:.4rem}svg{max-width:100%;height:auto}
.note{color:#555;font-size:.92em}.err{color:#b00}code{background:#f3f3f3;padding:0 .2em;border-radius:3px}
`;

/** A table cell: text, or text aligned left and/or with a tooltip. */
export type Cell = string | { text: string; left?: boolean; title?: string };

/** An HTML table of header and body cells, all text escaped. */
export function table(headers: readonly Cell[], rows: readonly Cell[][]): string {
  const cell = (tag: "th" | "td", c: Cell) => {
    const { text, left, title } = typeof c === "string" ? { text: c, left: false, title: undefined } : c;
    const attrs = (left ? ' class="l"' : "") + (title ? ` title="${escapeHtml(title)}"` : "");
    return `<${tag}${attrs}>${escapeHtml(text)}</${tag}>`;
  };
  const head = `<tr>${headers.map((h) => cell("th", h)).join("")}</tr>`;
  const body = rows.map((r) => `<tr>${r.map((c) => cell("td", c)).join("")}</tr>`).join("\n");
  return `<table>\n<thead>${head}</thead>\n<tbody>\n${body}\n</tbody>\n</table>`;
}

/** A two-column table of labels and values, escaped. */
export function keyValues(pairs: readonly [string, string][]): string {
  const rows = pairs.map(([k, v]) => `<tr><th>${escapeHtml(k)}</th><td>${escapeHtml(v)}</td></tr>`).join("\n");
  return `<table class="kv">\n${rows}\n</table>`;
}

function environmentSection(report: ProfileReport): string {
  const env = report.environment, o = report.options;
  const peaks = env.peaks
    ? `${fmtRate(env.peaks.bandwidthGBs)} GB/s memory bandwidth, ${fmtRate(env.peaks.gemmGflops)} GFLOP/s GEMM` +
      ` (ridge ${(env.peaks.gemmGflops / env.peaks.bandwidthGBs).toPrecision(3)} FLOP/byte) — ${env.peaks.detail}`
    : "not measured (no roofline)";
  return `<h2>Environment</h2>\n` + keyValues([
    ["Backend", env.backend],
    ["Device", env.description],
    ["Timing", `${env.timing}: ${env.timingNote}`],
    ["Weights", env.weights],
    ["Peaks", peaks],
    ["Host", env.host],
    ["Runtime", env.runtime ? `${env.runtime.name} ${env.runtime.version}` : "–"],
    ["CPU", env.cpu ? `${env.cpu.model ?? "model not exposed"}, ${env.cpu.logicalCores ?? "?"} logical cores` : "–"],
    [
      "GPU adapter",
      env.gpu
        ? [env.gpu.vendor, env.gpu.architecture, env.gpu.device, env.gpu.description].filter(Boolean).join(" · ") ||
          "not exposed"
        : "–",
    ],
    ["Program", `${report.tool.name} ${report.tool.version}${env.git ? `, git ${env.git}` : ""}`],
    [
      "Options",
      `sequence lengths ${o.seqLens.join(", ")}; batch ${o.batch}; modes ${o.modes.join(", ")}; ` +
      (o.repetitions?.adaptive
        ? `adaptive repetitions: until the 95% interval of each median is within ±${
          ((o.repetitions.precision ?? 0) * 100).toFixed(1)
        }% or ${
          ((o.repetitions.maxMs ?? 0) / 1000).toFixed(1)
        } s a point are spent (at most ${o.warmup} warm-up and ${o.iters} timed iterations; each run's stop reason in profile.json)`
        : `${o.warmup} warm-up and ${o.iters} timed iterations`),
    ],
  ]);
}

function dims(m: ProfiledModel): string {
  const c = m.config;
  const common = `d_model ${c.dModel}, ${c.nLayer} layers, d_inner ${c.dInner}, d_state ${c.dState}, ` +
    `conv ${c.dConv}, vocab ${c.vocabSize}`;
  return m.arch === "mamba2"
    ? `${common}, ${c.nHeads} heads × ${c.headDim}, ${c.nGroups} group(s), chunk ${c.chunkSize}`
    : `${common}, dt_rank ${c.dtRank}`;
}

function modelsSection(report: ProfileReport): string {
  const rows = report.models.map((m) => [
    { text: m.name, left: true },
    { text: m.arch, left: true },
    group(m.parameters),
    fmtBytes(m.weightBytes),
    { text: m.weightFormat.label, left: true },
    { text: dims(m), left: true },
    { text: m.fingerprint ?? "–", left: true },
  ]);
  return `<h2>Models</h2>\n` +
    table([
      "model",
      { text: "arch", left: true },
      "parameters",
      "weights",
      { text: "weight format", left: true },
      { text: "shape", left: true },
      { text: "fingerprint", left: true, title: "FNV-1a 64 of the configuration and each matrix's format" },
    ], rows);
}

function summarySection(report: ProfileReport): string {
  const rows = report.runs.map((r) => {
    const e = r.endToEnd;
    return [
      { text: modelName(report, r.model), left: true },
      { text: r.arch, left: true },
      { text: r.mode, left: true },
      String(r.batch),
      String(r.seqLen),
      `${fmtMs(e.ms.median)} ± ${fmtMs(e.ms.iqr)}`,
      fmtRate(e.tokensPerS),
      fmtPercent(e.overheadPct),
      fmtFraction(e.coverage),
      fmtBytes(r.memory.peak),
    ];
  });
  const headers: Cell[] = [
    "model",
    { text: "arch", left: true },
    { text: "mode", left: true },
    "batch",
    { text: "L", title: "prefill: prompt length; decode: context length" },
    { text: "median ± IQR (ms)", title: "un-instrumented forward pass (prefill: whole prompt; decode: one step)" },
    "tokens/s",
    { text: "overhead", title: "instrumented ÷ un-instrumented median − 1" },
    { text: "coverage", title: "Σ component medians ÷ reference time" },
    { text: "peak memory", title: "highest live bytes during the pass" },
  ];
  return `<h2>Runs</h2>\n${table(headers, rows)}`;
}

function componentName(name: string): string {
  return PAPER_NAMES[name] ? `${name} (${PAPER_NAMES[name]})` : name;
}

function runSection(report: ProfileReport, run: ProfileRun): string {
  const rows = run.components.map((c) => [
    { text: componentName(c.name), left: true },
    String(c.layers),
    fmtMs(c.ms.median),
    fmtMs(c.ms.iqr),
    fmtFraction(c.share),
    fmtRate(c.gflops),
    fmtRate(c.gbs),
    c.roofline ? (c.roofline.intensity === 0 ? "0" : c.roofline.intensity.toPrecision(3)) : "–",
    c.roofline?.bound ?? "–",
    c.roofline ? fmtFraction(c.roofline.ofAttainable) : "–",
    fmtBytes(c.memory.weights),
    fmtBytes(c.memory.activations),
    fmtBytes(c.memory.state),
    fmtBytes(c.memory.scratch),
  ]);
  const headers: Cell[] = [
    "component",
    "layers",
    "median ms",
    "IQR ms",
    "share",
    "GFLOP/s",
    "GB/s",
    "FLOP/byte",
    { text: "bound", title: "memory or compute, against the measured ridge point" },
    { text: "of attainable", title: "achieved GFLOP/s ÷ min(peak GFLOP/s, intensity × peak GB/s)" },
    "weights",
    "activations",
    "state",
    "scratch",
  ];
  const e = run.endToEnd, m = run.memory;
  const gpu = e.gpuMs ? `; GPU time of the pass ${fmtMs(e.gpuMs.median)} ms` : "";
  const note = `End to end ${fmtMs(e.ms.median)} ± ${fmtMs(e.ms.iqr)} ms (n = ${e.ms.n})${gpu}; ` +
    `instrumented ${fmtMs(e.instrumentedMs.median)} ms (+${fmtPercent(e.overheadPct)}); components cover ` +
    `${fmtFraction(e.coverage)} of ${fmtMs(e.referenceMs)} ms${
      e.passOverheadMs !== null
        ? ` (${fmtFraction(e.rawCoverage)} before subtracting ${fmtMs(e.passOverheadMs)} ms per timed pass)`
        : ""
    }. ${group(run.flops)} FLOPs, ` +
    `${fmtBytes(run.bytes)} moved. Memory: baseline ${fmtBytes(m.baseline)}, peak ${fmtBytes(m.peak)} ` +
    `(weights ${fmtBytes(m.weights)}, state ${fmtBytes(m.state)}).`;
  const title = `${modelName(report, run.model)} — ${run.mode}, batch ${run.batch}, L ${run.seqLen}`;
  return `<h3>${escapeHtml(title)}</h3>\n<p class="note">${escapeHtml(note)}</p>\n${table(headers, rows)}`;
}

async function chartsSection(report: ProfileReport): Promise<string> {
  const figures: string[] = [];
  for (const chart of allCharts(report)) {
    let body: string;
    try {
      body = await renderSvg(chart.spec);
    } catch (e) {
      body = `<p class="err">chart could not be rendered: ${escapeHtml((e as Error).message)}</p>`;
    }
    figures.push(
      `<figure id="${escapeHtml(chart.id)}">\n<figcaption>${escapeHtml(chart.title)}</figcaption>\n${body}\n</figure>`,
    );
  }
  return figures.length ? `<h2>Charts</h2>\n${figures.join("\n")}` : "";
}

function methodSection(): string {
  const defs = [
    "Latency of a component is its time per forward pass summed over the layers it appears in; the median over " +
    "the timed iterations is reported with its interquartile range (IQR).",
    "Share: a component's median ÷ the sum of all component medians. Coverage: that sum ÷ the reference time " +
    "(GPU time of the whole pass with timestamp-query, else the un-instrumented wall time).",
    "Overhead: instrumented ÷ un-instrumented end-to-end median − 1.",
    "GFLOP/s and GB/s: analytic FLOPs and bytes ÷ median time. Intensity: FLOPs ÷ bytes. Attainable: " +
    "min(peak GFLOP/s, intensity × peak GB/s); bound is memory below the ridge point (peak GFLOP/s ÷ peak GB/s).",
    "Memory: weights are a component's parameters; activations the net bytes it leaves allocated; state the " +
    "recurrent state it owns; scratch the temporary bytes above its outputs while it ran.",
    "The paper's “gated MLP” is in_proj and its “final linear” is out_proj.",
  ];
  const li = (s: string) => `<li>${escapeHtml(s)}</li>`;
  return `<h2>How these numbers are computed</h2>\n<ul>\n${defs.map(li).join("\n")}\n</ul>\n` +
    `<h3>FLOP and byte counts</h3>\n<ul>\n${COST_NOTES.map(li).join("\n")}\n</ul>`;
}

/**
 * The report as a self-contained HTML page (inline CSS, charts as inline SVG, no scripts, no external resources);
 * all report text is escaped.
 */
export async function profileHtml(report: ProfileReport): Promise<string> {
  const names = [...new Set(report.models.map((m) => m.name))].join(", ");
  const meta = `${report.tool.name} ${report.tool.version} · ${report.createdAt} · ${report.schema}`;
  return [
    "<!doctype html>",
    '<html lang="en">',
    "<head>",
    '<meta charset="utf-8">',
    '<meta name="viewport" content="width=device-width, initial-scale=1">',
    `<title>${escapeHtml(`PerfMamba profile — ${names}`)}</title>`,
    `<style>${CSS}</style>`,
    "</head>",
    "<body>",
    `<h1>PerfMamba profile</h1>`,
    `<p class="meta">${escapeHtml(meta)}</p>`,
    environmentSection(report),
    modelsSection(report),
    summarySection(report),
    await chartsSection(report),
    "<h2>Components per run</h2>",
    ...report.runs.map((r) => runSection(report, r)),
    methodSection(),
    "</body>",
    "</html>",
    "",
  ].join("\n");
}
