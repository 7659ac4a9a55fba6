/**
 * Shared labels and number formats of the profile renderers (table, HTML, charts, trace). Pure functions.
 *
 * @module
 */

import type { ProfileReport, ProfileRun } from "../../mod.ts";
import { modelLabel } from "@perfmamba/perfmamba/charts";

/** Label of a run: "mamba2 prefill B1 L2048". */
export function runLabel(report: ProfileReport, run: ProfileRun): string {
  return `${modelLabel(report, run.model)} ${run.mode} B${run.batch} L${run.seqLen}`;
}

/** Display name of a model (its report name, or a placeholder when the index is out of range). */
export function modelName(report: ProfileReport, index: number): string {
  return report.models[index]?.name ?? `model ${index}`;
}

/** Milliseconds with about three significant digits ("12.346", "0.00512"). */
export function fmtMs(v: number): string {
  if (!Number.isFinite(v)) return "–";
  if (v === 0) return "0";
  const a = Math.abs(v);
  if (a >= 100) return v.toFixed(1);
  if (a >= 1) return v.toFixed(3);
  return v.toPrecision(3);
}

/** A rate (GFLOP/s, GB/s, tokens/s): whole numbers with thousands separators from 100 up, else 1–2 digits. */
export function fmtRate(v: number): string {
  if (!Number.isFinite(v)) return "–";
  if (v === 0) return "0";
  const a = Math.abs(v);
  if (a >= 100) return group(Math.round(v));
  if (a >= 1) return v.toFixed(1);
  return v.toPrecision(2);
}

/** A fraction (0‥1) as a percentage: "12.3%". */
export function fmtFraction(v: number, digits = 1): string {
  return Number.isFinite(v) ? `${(v * 100).toFixed(digits)}%` : "–";
}

/** A number that already is a percentage: "12.3%". */
export function fmtPercent(v: number, digits = 1): string {
  return Number.isFinite(v) ? `${v.toFixed(digits)}%` : "–";
}

/** Bytes in binary units: "512 B", "1.5 MiB". */
export function fmtBytes(v: number): string {
  if (!Number.isFinite(v)) return "–";
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let x = Math.abs(v);
  let u = 0;
  while (x >= 1024 && u < units.length - 1) {
    x /= 1024;
    u++;
  }
  const sign = v < 0 ? "−" : "";
  return u === 0 ? `${sign}${x} B` : `${sign}${x.toFixed(x >= 100 ? 0 : 1)} ${units[u]}`;
}

/** An integer with thousands separators ("1,234,567"). */
export function group(n: number): string {
  const s = Math.abs(Math.round(n)).toString().replace(/\B(?=(\d{3})+(?!\d))/g, ",");
  return n < 0 ? `−${s}` : s;
}
