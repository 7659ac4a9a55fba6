/**
 * The profile's component breakdown for the page: the package's share charts (`@perfmamba/perfmamba/charts`, the
 * same as the CLI's HTML report) rendered to SVG by vega + vega-lite, and a table of median times.
 *
 * @module
 */

import type { ProfileReport } from "../../mod.ts";
import { renderSvg, shareChart } from "@perfmamba/perfmamba/charts";

/** The share-of-latency charts (prefill, decode) of the report's first model, as SVG strings with titles. */
export async function breakdownCharts(report: ProfileReport): Promise<{ mode: string; svg: string }[]> {
  const out: { mode: string; svg: string }[] = [];
  for (const mode of ["prefill", "decode"] as const) {
    const spec = shareChart(report, 0, mode);
    if (spec) out.push({ mode, svg: await renderSvg(spec) });
  }
  return out;
}

const esc = (s: string): string =>
  s.replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[c]!);

/** An HTML table: per component, the median ms and share of each run (columns "prefill L16", …). */
export function breakdownTable(report: ProfileReport): string {
  const runs = [...report.runs].sort((a, b) => a.mode.localeCompare(b.mode) * -1 || a.seqLen - b.seqLen);
  const names = [...new Set(runs.flatMap((r) => r.components.map((c) => c.name)))];
  const head = `<tr><th>component</th>${runs.map((r) => `<th>${esc(`${r.mode} L${r.seqLen}`)}</th>`).join("")}</tr>`;
  const fmt = (ms: number) => ms === 0 ? "0" : ms >= 10 ? ms.toFixed(1) : ms >= 1 ? ms.toFixed(2) : ms.toPrecision(2);
  const rows = names.map((n) => {
    const cells = runs.map((r) => {
      const c = r.components.find((x) => x.name === n);
      return `<td>${c ? `${fmt(c.ms.median)} ms · ${(c.share * 100).toFixed(1)}%` : "–"}</td>`;
    });
    return `<tr><td>${esc(n)}</td>${cells.join("")}</tr>`;
  });
  const total = `<tr><th>end to end</th>${runs.map((r) => `<th>${fmt(r.endToEnd.ms.median)} ms</th>`).join("")}</tr>`;
  return `<table>${head}${rows.join("")}${total}</table>` +
    `<p class="meta">${esc(report.environment.description)} · timing: ${esc(report.environment.timing)} · ` +
    `median of ${report.options.iters} iterations</p>`;
}
