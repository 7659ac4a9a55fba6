/**
 * The HTML report's Vega-Lite specs of a profile beyond the share charts (`@perfmamba/perfmamba/charts`):
 * end-to-end latency against sequence length, the roofline, held memory per component, and {@link allCharts}, the
 * report's charts in reading order. Plain objects with their data inlined; each function returns null when the
 * report has nothing to draw.
 *
 * @module
 */

import type { TopLevelSpec } from "vega-lite";
import { type Component, COMPONENTS, type ProfileReport, type ProfileRun } from "../../mod.ts";
import { componentColor, modelLabel, shareChart } from "@perfmamba/perfmamba/charts";
import { fmtRate, runLabel } from "./format.ts";

/** A chart of {@link allCharts}. */
export interface ChartEntry {
  /** Stable identifier ("share-m0-prefill", "latency", "roofline-m1", "memory"). */
  id: string;
  title: string;
  spec: TopLevelSpec;
}

type Mode = ProfileRun["mode"];

const SCHEMA = "https://vega.github.io/schema/vega-lite/v6.json";

const order = (c: Component): number => COMPONENTS.indexOf(c);

/**
 * End-to-end median latency against sequence length, one line per model and mode, both axes logarithmic
 * (decode: time per step against the context length). Null without runs.
 */
export function latencyChart(report: ProfileReport): TopLevelSpec | null {
  const runs = report.runs.filter((r) => r.endToEnd.ms.median > 0);
  if (runs.length === 0) return null;
  const values = runs.map((r) => ({
    model: modelLabel(report, r.model),
    mode: r.mode,
    batch: r.batch,
    seqLen: r.seqLen,
    ms: r.endToEnd.ms.median,
    iqr: r.endToEnd.ms.iqr,
    tokensPerS: r.endToEnd.tokensPerS,
  }));
  return {
    $schema: SCHEMA,
    title: "End-to-end latency (median)",
    data: { values },
    width: 420,
    height: 280,
    mark: { type: "line", point: { filled: true, size: 50 } },
    encoding: {
      x: {
        field: "seqLen",
        type: "quantitative",
        scale: { type: "log", nice: false, padding: 12 },
        title: "sequence / context length",
      },
      y: {
        field: "ms",
        type: "quantitative",
        scale: { type: "log", nice: false, padding: 12 },
        title: "ms per forward pass",
      },
      color: { field: "model", type: "nominal", title: "model" },
      strokeDash: { field: "mode", type: "nominal", legend: null },
      shape: { field: "mode", type: "nominal", title: "mode" },
      detail: { field: "batch", type: "ordinal" },
      order: { field: "seqLen", type: "quantitative" },
      tooltip: [
        { field: "model", type: "nominal" },
        { field: "mode", type: "nominal" },
        { field: "batch", type: "quantitative", title: "B" },
        { field: "seqLen", type: "quantitative", title: "L" },
        { field: "ms", type: "quantitative", title: "median ms", format: ".4~f" },
        { field: "iqr", type: "quantitative", title: "IQR ms", format: ".4~f" },
        { field: "tokensPerS", type: "quantitative", title: "tokens/s", format: ",.0f" },
      ],
    },
  };
}

/**
 * Roofline of one model (or of every model when `model` is omitted): components as points at (FLOP/byte, achieved
 * GFLOP/s), log-log, colour = component, shape = mode; the roof (bandwidth slope and compute ceiling) from the
 * measured peaks when present. Components without FLOPs cannot sit on log axes and are left out. Null when no
 * point remains.
 */
export function rooflineChart(report: ProfileReport, model?: number): TopLevelSpec | null {
  const runs = report.runs.filter((r) => model === undefined || r.model === model);
  const points = runs.flatMap((r) =>
    r.components
      .filter((c) => c.flops > 0 && c.bytes.total > 0 && c.gflops > 0)
      .map((c) => ({
        model: modelLabel(report, r.model),
        mode: r.mode,
        batch: r.batch,
        seqLen: r.seqLen,
        component: c.name,
        intensity: c.roofline?.intensity ?? c.flops / c.bytes.total,
        gflops: c.gflops,
        gbs: c.gbs,
        ms: c.ms.median,
        bound: c.roofline?.bound ?? "n/a",
        ofAttainable: c.roofline?.ofAttainable ?? null,
      }))
  );
  if (points.length === 0) return null;
  const x = { field: "intensity", type: "quantitative" as const, scale: { type: "log" as const } };
  const y = { field: "gflops", type: "quantitative" as const, scale: { type: "log" as const } };
  const pointLayer = {
    data: { values: points },
    mark: { type: "point" as const, filled: true, size: 70, opacity: 0.85 },
    encoding: {
      x: { ...x, title: "arithmetic intensity (FLOP/byte)" },
      y: { ...y, title: "achieved GFLOP/s" },
      color: componentColor(runs),
      shape: { field: "mode", type: "nominal" as const, title: "mode" },
      tooltip: [
        { field: "model", type: "nominal" as const },
        { field: "mode", type: "nominal" as const },
        { field: "seqLen", type: "quantitative" as const, title: "L" },
        { field: "component", type: "nominal" as const },
        { field: "intensity", type: "quantitative" as const, title: "FLOP/byte", format: ".3~g" },
        { field: "gflops", type: "quantitative" as const, title: "GFLOP/s", format: ",.1f" },
        { field: "gbs", type: "quantitative" as const, title: "GB/s", format: ",.1f" },
        { field: "ms", type: "quantitative" as const, title: "median ms", format: ".4~f" },
        { field: "bound", type: "nominal" as const },
        { field: "ofAttainable", type: "quantitative" as const, title: "of attainable", format: ".1%" },
      ],
    },
  };
  const who = model === undefined ? "" : ` — ${modelLabel(report, model)}`;
  const peaks = report.environment.peaks;
  if (!peaks || !(peaks.bandwidthGBs > 0) || !(peaks.gemmGflops > 0)) {
    return {
      $schema: SCHEMA,
      title: `Roofline${who} (device peaks not measured)`,
      width: 440,
      height: 300,
      layer: [pointLayer],
    };
  }
  const bw = peaks.bandwidthGBs, peak = peaks.gemmGflops, ridge = peak / bw;
  const xs = points.map((p) => p.intensity);
  const lo = Math.min(...xs, ridge) / 2, hi = Math.max(...xs, ridge) * 2;
  const roof = [
    { intensity: lo, gflops: lo * bw },
    { intensity: ridge, gflops: peak },
    { intensity: hi, gflops: peak },
  ];
  const label = (intensity: number, gflops: number, text: string, align: "left" | "right") => ({
    data: { values: [{ intensity, gflops, text }] },
    mark: { type: "text" as const, align, dy: -8, color: "#555", fontSize: 10 },
    encoding: { x, y, text: { field: "text" } },
  });
  return {
    $schema: SCHEMA,
    title: `Roofline${who}`,
    width: 440,
    height: 300,
    layer: [
      {
        data: { values: roof },
        mark: { type: "line", color: "#555", strokeWidth: 1.5 },
        encoding: { x, y },
      },
      label(lo, lo * bw, `${fmtRate(bw)} GB/s`, "left"),
      label(hi, peak, `${fmtRate(peak)} GFLOP/s`, "right"),
      pointLayer,
    ],
  };
}

const MEMORY_KINDS = ["weights", "activations", "state", "scratch"] as const;

/** Per model, the run whose memory is drawn: its longest prefill (else decode) run, largest batch on ties. */
export function memoryRuns(report: ProfileReport): ProfileRun[] {
  return report.models.flatMap((_, m) => {
    const own = report.runs.filter((r) => r.model === m);
    const pool = own.some((r) => r.mode === "prefill") ? own.filter((r) => r.mode === "prefill") : own;
    const best = pool.reduce<ProfileRun | null>(
      (a, r) => !a || r.seqLen > a.seqLen || (r.seqLen === a.seqLen && r.batch > a.batch) ? r : a,
      null,
    );
    return best ? [best] : [];
  });
}

/**
 * Bytes each component holds (weights, activations it leaves, state, scratch), stacked, for the longest run of
 * every model (see {@link memoryRuns}); one panel per model. Null without runs.
 */
export function memoryChart(report: ProfileReport): TopLevelSpec | null {
  const runs = memoryRuns(report);
  if (runs.length === 0) return null;
  const values = runs.flatMap((r) =>
    r.components.flatMap((c) =>
      MEMORY_KINDS.map((kind, k) => ({
        run: runLabel(report, r),
        component: c.name,
        order: order(c.name),
        kind,
        kindOrder: k,
        bytes: c.memory[kind],
        mib: c.memory[kind] / 2 ** 20,
      }))
    )
  );
  return {
    $schema: SCHEMA,
    title: "Memory held per component (longest run of each model)",
    data: { values },
    facet: { column: { field: "run", type: "nominal", title: null, sort: runs.map((r) => runLabel(report, r)) } },
    spec: {
      width: { step: 26 },
      height: 240,
      mark: { type: "bar" },
      encoding: {
        x: {
          field: "component",
          type: "nominal",
          sort: { field: "order", op: "min" },
          title: null,
          axis: { labelAngle: -40 },
        },
        y: { field: "mib", type: "quantitative", stack: "zero", title: "MiB held" },
        color: {
          field: "kind",
          type: "nominal",
          title: "held as",
          sort: [...MEMORY_KINDS],
          scale: { domain: [...MEMORY_KINDS], range: ["#4e79a7", "#f28e2b", "#59a14f", "#bab0ac"] },
        },
        order: { field: "kindOrder", type: "quantitative" },
        tooltip: [
          { field: "run", type: "nominal" },
          { field: "component", type: "nominal" },
          { field: "kind", type: "nominal" },
          { field: "bytes", type: "quantitative", format: ",d" },
          { field: "mib", type: "quantitative", title: "MiB", format: ".3~f" },
        ],
      },
    },
    resolve: { scale: { x: "independent" } },
  };
}

/**
 * Every chart that has data, in reading order: the share charts (per model, prefill then decode), the latency
 * chart, one roofline per model, the memory chart.
 */
export function allCharts(report: ProfileReport): ChartEntry[] {
  const out: ChartEntry[] = [];
  const push = (id: string, title: string, spec: TopLevelSpec | null) => {
    if (spec) out.push({ id, title, spec });
  };
  const modes: Mode[] = ["prefill", "decode"];
  for (const mode of modes) {
    report.models.forEach((_, m) => {
      push(
        `share-m${m}-${mode}`,
        `${modelLabel(report, m)} ${mode}: component latency share`,
        shareChart(report, m, mode),
      );
    });
  }
  push("latency", "End-to-end latency vs sequence length", latencyChart(report));
  report.models.forEach((_, m) => {
    push(`roofline-m${m}`, `${modelLabel(report, m)}: roofline`, rooflineChart(report, m));
  });
  push("memory", "Memory held per component", memoryChart(report));
  return out;
}
