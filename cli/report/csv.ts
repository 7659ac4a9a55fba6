/**
 * The profile as CSV (RFC 4180): one row per (run, component) and one `end_to_end` row per run.
 *
 * @module
 */

import type { ProfileReport, ProfileRun } from "../../mod.ts";
import { modelName } from "./format.ts";

/** Columns of {@link profileCsv}, in order. */
export const CSV_COLUMNS: readonly string[] = [
  "model",
  "arch",
  "mode",
  "batch",
  "seq_len",
  "component",
  "layers",
  "median_ms",
  "mean_ms",
  "std_ms",
  "iqr_ms",
  "min_ms",
  "max_ms",
  "share",
  "flops",
  "bytes_weights",
  "bytes_activations",
  "bytes_state",
  "bytes_total",
  "gflops",
  "gbs",
  "intensity",
  "bound",
  "of_attainable",
  "mem_weights",
  "mem_activations",
  "mem_state",
  "mem_scratch",
];

type Cell = string | number | null | undefined;

/** One CSV cell: numbers in full precision (empty when not finite), text quoted when it holds `,` `"` CR or LF. */
export function csvCell(v: Cell): string {
  if (v === null || v === undefined) return "";
  if (typeof v === "number") return Number.isFinite(v) ? String(v) : "";
  return /[",\r\n]/.test(v) ? `"${v.replaceAll('"', '""')}"` : v;
}

function runCells(report: ProfileReport, run: ProfileRun): Cell[] {
  return [modelName(report, run.model), run.arch, run.mode, run.batch, run.seqLen];
}

/**
 * The report as RFC 4180 CSV (CRLF line ends, header row first): per run, one row per component in report order,
 * then an `end_to_end` row with the un-instrumented wall-time statistics and the run's total FLOPs and bytes.
 * `intensity` is FLOPs per byte (from the roofline when present, else computed); roofline cells are empty when the
 * device peaks were not measured.
 */
export function profileCsv(report: ProfileReport): string {
  const rows: Cell[][] = [[...CSV_COLUMNS]];
  for (const run of report.runs) {
    for (const c of run.components) {
      const intensity = c.roofline?.intensity ?? (c.bytes.total > 0 ? c.flops / c.bytes.total : null);
      rows.push([
        ...runCells(report, run),
        c.name,
        c.layers,
        c.ms.median,
        c.ms.mean,
        c.ms.std,
        c.ms.iqr,
        c.ms.min,
        c.ms.max,
        c.share,
        c.flops,
        c.bytes.weights,
        c.bytes.activations,
        c.bytes.state,
        c.bytes.total,
        c.gflops,
        c.gbs,
        intensity,
        c.roofline?.bound,
        c.roofline?.ofAttainable,
        c.memory.weights,
        c.memory.activations,
        c.memory.state,
        c.memory.scratch,
      ]);
    }
    const e = run.endToEnd.ms;
    const row: Cell[] = [...runCells(report, run), "end_to_end", null, e.median, e.mean, e.std, e.iqr, e.min, e.max];
    row.length = CSV_COLUMNS.length;
    row[CSV_COLUMNS.indexOf("flops")] = run.flops;
    row[CSV_COLUMNS.indexOf("bytes_total")] = run.bytes;
    rows.push(row);
  }
  return rows.map((r) => Array.from(r, csvCell).join(",")).join("\r\n") + "\r\n";
}
