/**
 * A comparison as one self-contained HTML page: the inputs and the test, per pair a ratio chart (B ÷ A with its
 * bootstrap interval for every matched run and component, log scale, a rule at 1) and per matched run the paired
 * medians (A beside B per component), the tables of the text report, and the unmatched runs. Charts are Vega-Lite
 * rendered to inline SVG with the package's `renderSvg`; no scripts, no external resources.
 *
 * @module
 */

import type { TopLevelSpec } from "vega-lite";
import {
  type CompareResult,
  type CompareRunKey,
  type PairComparison,
  type RunComparison,
  runKeyLabel,
} from "../../mod.ts";
import { renderSvg } from "@perfmamba/perfmamba/charts";
import { fmtMs } from "./format.ts";
import { type Cell, CSS, escapeHtml, keyValues, table } from "./html.ts";
import { componentNotes, fmtInterval, fmtRatio, methodLine, verdictText } from "./compare_table.ts";

const SCHEMA = "https://vega.github.io/schema/vega-lite/v6.json";

/** "mamba1 prefill B1 L64": a run without its shape (charts; the headings carry the shape). */
function shortLabel(k: CompareRunKey): string {
  return `${k.arch} ${k.mode} B${k.batch} L${k.seqLen}`;
}
const VERDICT_COLORS = { faster: "#2a9d4b", slower: "#c0392b", "within noise": "#7f8c8d", untested: "#bbbbbb" };

/**
 * Ratio B ÷ A of every compared quantity of a pair, with its interval: one row per (run, quantity), log x axis,
 * a rule at 1, points coloured by verdict. Null when nothing has a ratio.
 */
export function ratioChart(result: CompareResult, pair: PairComparison): TopLevelSpec | null {
  const values = pair.runs.flatMap((r) =>
    [r.endToEnd, ...r.components].filter((s) => s.ratio !== null && s.ratio > 0).map((s) => ({
      row: `${shortLabel(r.key)} · ${s.name}`,
      ratio: s.ratio,
      lo: s.interval?.[0] ?? s.ratio,
      hi: s.interval?.[1] ?? s.ratio,
      verdict: s.verdict,
    }))
  );
  if (values.length === 0) return null;
  const a = result.inputs[pair.a].label, b = result.inputs[pair.b].label;
  const domain = Object.keys(VERDICT_COLORS), range = Object.values(VERDICT_COLORS);
  const y = { field: "row", type: "nominal", sort: null, title: null, axis: { labelLimit: 360 } } as const;
  return {
    $schema: SCHEMA,
    title: `${b} ÷ ${a}: ratio of medians and its 95% bootstrap interval`,
    data: { values },
    width: 460,
    height: { step: 16 },
    layer: [
      {
        mark: { type: "rule" },
        encoding: {
          y,
          x: { field: "lo", type: "quantitative", scale: { type: "log" }, title: `time ratio (${b} ÷ ${a})` },
          x2: { field: "hi" },
          color: { field: "verdict", type: "nominal", scale: { domain, range }, title: "verdict" },
        },
      },
      {
        mark: { type: "point", filled: true, size: 40 },
        encoding: {
          y,
          x: { field: "ratio", type: "quantitative" },
          color: { field: "verdict", type: "nominal", scale: { domain, range }, title: "verdict" },
          tooltip: [{ field: "row" }, { field: "ratio", format: ".3f" }, { field: "lo", format: ".3f" }, {
            field: "hi",
            format: ".3f",
          }],
        },
      },
      { mark: { type: "rule", strokeDash: [4, 3], color: "#333" }, encoding: { x: { datum: 1 } } },
    ],
  } as TopLevelSpec;
}

/**
 * A's and B's medians side by side for each component of one matched run (horizontal bars, ms); end to end alone
 * when the reports time no components (its ratio is in the ratio chart and the table either way).
 */
export function pairedChart(result: CompareResult, pair: PairComparison, run: RunComparison): TopLevelSpec {
  const a = result.inputs[pair.a].label, b = result.inputs[pair.b].label;
  const shown = run.components.length > 0 ? run.components : [run.endToEnd];
  const values = shown.flatMap((s) => [
    { name: s.name, report: `A: ${a}`, ms: s.a.median },
    { name: s.name, report: `B: ${b}`, ms: s.b.median },
  ]);
  return {
    $schema: SCHEMA,
    title: `${shortLabel(run.key)}: median ms${run.components.length > 0 ? " per component" : " end to end"}`,
    data: { values },
    width: 420,
    height: { step: 10 },
    mark: { type: "bar" },
    encoding: {
      y: { field: "name", type: "nominal", sort: null, title: null },
      yOffset: { field: "report", type: "nominal", sort: null },
      x: { field: "ms", type: "quantitative", title: "median ms per pass" },
      color: { field: "report", type: "nominal", sort: null, scale: { range: ["#8da0cb", "#fc8d62"] }, title: null },
      tooltip: [{ field: "report" }, { field: "name" }, { field: "ms", format: ".4f" }],
    },
  } as TopLevelSpec;
}

async function figure(id: string, caption: string, spec: TopLevelSpec | null): Promise<string> {
  if (spec === null) return "";
  let body: string;
  try {
    body = await renderSvg(spec);
  } catch (e) {
    body = `<p class="err">chart could not be rendered: ${escapeHtml((e as Error).message)}</p>`;
  }
  return `<figure id="${escapeHtml(id)}">\n<figcaption>${escapeHtml(caption)}</figcaption>\n${body}\n</figure>`;
}

function runTable(result: CompareResult, pair: PairComparison, run: RunComparison): string {
  const a = result.inputs[pair.a].label, b = result.inputs[pair.b].label;
  const rows: Cell[][] = [run.endToEnd, ...run.components].map((s) => [
    { text: s.name, left: true },
    fmtMs(s.a.median),
    fmtMs(s.b.median),
    fmtRatio(s.ratio),
    fmtInterval(s.interval),
    { text: verdictText(s), left: true },
    `${s.a.n}/${s.b.n}`,
  ]);
  const extra = [
    ...componentNotes(run, a, b).map((s) => `${s[0].toUpperCase()}${s.slice(1)}.`),
    run.sameFingerprint === false ? "The model fingerprints differ (other tensors or formats of the same shape)." : "",
  ].filter(Boolean).join(" ");
  return table(
    [{ text: "", left: true }, `${a} ms`, `${b} ms`, "B ÷ A", "95% interval", { text: "verdict", left: true }, "n A/B"],
    rows,
  ) + (extra ? `\n<p class="note">${escapeHtml(extra)}</p>` : "");
}

function unmatchedSection(result: CompareResult, pair: PairComparison): string {
  const parts: string[] = [];
  for (const [who, list] of [[pair.a, pair.unmatchedA], [pair.b, pair.unmatchedB]] as const) {
    if (list.length === 0) continue;
    parts.push(
      `<h4>Unmatched in ${escapeHtml(result.inputs[who].label)} (${list.length})</h4>\n<ul>\n` +
        list.map((k) => `<li>${escapeHtml(`${runKeyLabel(k)} [${k.model}]`)}</li>`).join("\n") + "\n</ul>",
    );
  }
  return parts.join("\n");
}

/** The comparison as a self-contained HTML page. */
export async function compareHtml(result: CompareResult, createdAt: string): Promise<string> {
  const sections: string[] = [];
  for (const [pi, pair] of result.pairs.entries()) {
    const a = result.inputs[pair.a].label, b = result.inputs[pair.b].label;
    sections.push(`<h2>${escapeHtml(`${a} → ${b}`)}</h2>`);
    sections.push(await figure(`ratio-${pi}`, "Ratios with their intervals", ratioChart(result, pair)));
    for (const [ri, run] of pair.runs.entries()) {
      const models = run.modelA === run.modelB ? run.modelA : `${run.modelA} → ${run.modelB}`;
      sections.push(`<h3>${escapeHtml(`${runKeyLabel(run.key)} [${models}]`)}</h3>`);
      sections.push(await figure(`paired-${pi}-${ri}`, "Medians, A beside B", pairedChart(result, pair, run)));
      sections.push(runTable(result, pair, run));
    }
    sections.push(unmatchedSection(result, pair));
  }
  const inputs = keyValues(
    result.inputs.map((x, i) => [i === 0 ? `A (baseline): ${x.label}` : `B: ${x.label}`, `${x.schema} — ${x.summary}`]),
  );
  return [
    "<!doctype html>",
    '<html lang="en">',
    "<head>",
    '<meta charset="utf-8">',
    '<meta name="viewport" content="width=device-width, initial-scale=1">',
    `<title>${escapeHtml(`PerfMamba compare — ${result.inputs.map((x) => x.label).join(" vs ")}`)}</title>`,
    `<style>${CSS}</style>`,
    "</head>",
    "<body>",
    "<h1>PerfMamba compare</h1>",
    `<p class="meta">${escapeHtml(`${result.schema} · ${createdAt}`)}</p>`,
    "<h2>Inputs</h2>",
    inputs,
    `<p class="note">${escapeHtml(methodLine(result))}</p>`,
    ...sections,
    "</body>",
    "</html>",
    "",
  ].join("\n");
}
