/**
 * The profile as a plain-text terminal table (what `perfmamba profile` prints by default). No colours.
 *
 * @module
 */

import type { ProfileReport, ProfileRun } from "../../mod.ts";
import { fmtFraction, fmtMs, fmtPercent, fmtRate, modelName } from "./format.ts";

const HEADERS = ["component", "median ms", "share", "GFLOP/s", "GB/s", "bound", "of attainable"] as const;
/** Columns aligned left (the others align right). */
const LEFT = new Set([0, 5]);

/** Lays out rows of cells in columns two spaces apart, each line indented by `indent`. */
function align(rows: readonly string[][], indent: string): string[] {
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => [...r[i]].length)));
  return rows.map((r) =>
    indent + r.map((cell, i) => {
      const pad = " ".repeat(widths[i] - [...cell].length);
      return LEFT.has(i) ? cell + pad : pad + cell;
    }).join("  ").trimEnd()
  );
}

/** "n=6 ±1.2% (precision)": iterations, the 95 % interval's relative half-width, why the run stopped. */
function repetitionsText(r: NonNullable<ProfileRun["repetitions"]>): string {
  const ci = r.relHalfWidth === null ? "no 95% interval" : `±${(r.relHalfWidth * 100).toFixed(1)}%`;
  return `n=${r.iters} ${ci} (${r.stopReason})`;
}

/** Header line of a run: model, mode, batch, length, end-to-end median ± IQR, tokens/s, coverage, overhead. */
function runHeader(report: ProfileReport, run: ProfileRun): string {
  const e = run.endToEnd;
  return [
    modelName(report, run.model),
    run.mode,
    `B${run.batch}`,
    `L${run.seqLen}`,
    `${fmtMs(e.ms.median)} ± ${fmtMs(e.ms.iqr)} ms`,
    `${fmtRate(e.tokensPerS)} tok/s`,
    `coverage ${fmtFraction(e.coverage)}${e.passOverheadMs !== null ? ` (raw ${fmtFraction(e.rawCoverage)})` : ""}`,
    `overhead ${fmtPercent(e.overheadPct)}`,
    // Decode with fused kernels: the figures before are the unfused ops' (components need them); the fused step's.
    ...(e.fusedDecode
      ? [
        `[unfused; fused step ${fmtMs(e.fusedDecode.ms.median)} ms` +
        (e.fusedDecode.dispatches !== null
          ? `, ${e.fusedDecode.dispatches} dispatches vs ${e.fusedDecode.unfusedDispatches}]`
          : "]"),
      ]
      : []),
    ...(run.repetitions ? [repetitionsText(run.repetitions)] : []),
  ].join("  ");
}

/**
 * One line on the environment: backend, device, timing method, weights and measured peaks. The weights are the one
 * model's full label (formats of its matrices, embedding, activations), or the environment's summary for several.
 */
function environmentLine(report: ProfileReport): string {
  const env = report.environment;
  const peaks = env.peaks
    ? `peaks ${fmtRate(env.peaks.bandwidthGBs)} GB/s, ${fmtRate(env.peaks.gemmGflops)} GFLOP/s`
    : "peaks not measured";
  const weights = report.models.length === 1 ? report.models[0].weightFormat.label : env.weights;
  return `${env.backend} (${env.description})  timing: ${env.timing}  weights: ${weights}  ${peaks}`;
}

/**
 * The report as text: an environment line, then per run a header line (model, mode, B, L, end-to-end median ± IQR
 * ms, tok/s, coverage %, overhead %), a column header and one aligned row per component (median ms, share %,
 * GFLOP/s, GB/s, bound, % of attainable), runs separated by blank lines. Ends with a newline.
 */
export function profileTable(report: ProfileReport): string {
  const lines = [environmentLine(report)];
  for (const run of report.runs) {
    const rows: string[][] = [[...HEADERS]];
    for (const c of run.components) {
      rows.push([
        c.name,
        fmtMs(c.ms.median),
        fmtFraction(c.share),
        fmtRate(c.gflops),
        fmtRate(c.gbs),
        c.roofline?.bound ?? "–",
        c.roofline ? fmtFraction(c.roofline.ofAttainable) : "–",
      ]);
    }
    lines.push("", runHeader(report, run), ...align(rows, "  "));
  }
  return lines.join("\n") + "\n";
}
