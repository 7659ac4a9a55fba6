/**
 * A comparison (`CompareResult`) as plain text: the inputs and the test, then per pair and matched run one row for
 * end to end and one per component (A and B medians, B ÷ A, its 95% interval, verdict, sample counts), and the runs
 * and components that matched nothing.
 *
 * @module
 */

import { type CompareResult, type RunComparison, runKeyLabel, type SeriesComparison } from "../../mod.ts";
import { fmtMs } from "./format.ts";

/** A ratio with three significant digits ("0.981", "12.3"). */
export function fmtRatio(v: number | null): string {
  if (v === null || !Number.isFinite(v)) return "–";
  return v >= 100 ? v.toFixed(0) : v.toPrecision(3);
}

/** "[0.95, 1.02]" or "–" when untested. */
export function fmtInterval(i: [number, number] | null): string {
  return i ? `[${fmtRatio(i[0])}, ${fmtRatio(i[1])}]` : "–";
}

/** The verdict, or "untested (why)". */
export function verdictText(s: SeriesComparison): string {
  return s.verdict === "untested" && s.note ? `untested: ${s.note}` : s.verdict;
}

/** The one-line statement of the test. */
export function methodLine(result: CompareResult): string {
  const m = result.method;
  return `test: ${m.test}; ${m.resamples} resamples, ${m.confidence * 100}% interval, seed ${m.seed}; ` +
    `faster / slower when the interval excludes 1; fewer than ${m.minSamples} samples a side: untested`;
}

/** What the component rows leave out: components on one side only, or a side that times whole passes only. */
export function componentNotes(r: RunComparison, a: string, b: string): string[] {
  if (r.components.length === 0 && (r.onlyInA.length === 0 || r.onlyInB.length === 0)) {
    const [who, other] = r.onlyInA.length > 0 ? [b, a] : [a, b];
    return r.onlyInA.length + r.onlyInB.length > 0
      ? [`${who} times whole passes only: ${other}'s components have no partner`]
      : [];
  }
  return [
    ...(r.onlyInA.length ? [`components only in ${a}: ${r.onlyInA.join(", ")}`] : []),
    ...(r.onlyInB.length ? [`components only in ${b}: ${r.onlyInB.join(", ")}`] : []),
  ];
}

function align(rows: string[][]): string[] {
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => [...r[i]].length)));
  return rows.map((r) =>
    "  " + r.map((c, i) => (i === 0 || i >= 5 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join("  ").trimEnd()
  );
}

/** The comparison as text, ending with a newline. */
export function compareTable(result: CompareResult): string {
  const lines: string[] = [];
  const [base] = result.inputs;
  lines.push(`A (baseline): ${base.label} — ${base.schema} — ${base.summary}`);
  for (const p of result.pairs) {
    const b = result.inputs[p.b];
    lines.push(`B${result.pairs.length > 1 ? p.b : ""}: ${b.label} — ${b.schema} — ${b.summary}`);
  }
  lines.push(methodLine(result));
  if (result.ignoreShape) lines.push("runs matched without the model shape (--ignore-shape)");
  for (const p of result.pairs) {
    const a = result.inputs[p.a].label, b = result.inputs[p.b].label;
    lines.push("", `== ${a} → ${b}: ${p.runs.length} run${p.runs.length === 1 ? "" : "s"} matched ==`);
    for (const r of p.runs) {
      const models = r.modelA === r.modelB ? r.modelA : `${r.modelA} → ${r.modelB}`;
      const fp = r.sameFingerprint === false ? "  (model fingerprints differ)" : "";
      lines.push("", `${runKeyLabel(r.key)}  [${models}]${fp}`);
      const rows: string[][] = [["", `${a} ms`, `${b} ms`, "B/A", "95% interval", "verdict", "n A/B"]];
      for (const s of [r.endToEnd, ...r.components]) {
        rows.push([
          s.name,
          fmtMs(s.a.median),
          fmtMs(s.b.median),
          fmtRatio(s.ratio),
          fmtInterval(s.interval),
          verdictText(s),
          `${s.a.n}/${s.b.n}`,
        ]);
      }
      lines.push(...align(rows));
      lines.push(...componentNotes(r, a, b).map((s) => `  ${s}`));
    }
    for (const [who, list] of [[a, p.unmatchedA], [b, p.unmatchedB]] as const) {
      if (list.length === 0) continue;
      lines.push("", `unmatched in ${who} (${list.length}):`);
      for (const k of list) lines.push(`  ${runKeyLabel(k)}  [${k.model}]`);
    }
  }
  return lines.join("\n") + "\n";
}
