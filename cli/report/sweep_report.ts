/**
 * The pruning sweep's report: accuracy per (score, ratio) with impact zones, and speed / memory per (ratio, length)
 * against the dense model (the paper's Table 2), as Markdown tables and a self-contained HTML page with charts.
 */
import type { TopLevelSpec } from "vega-lite";
import type { SpeedPoint } from "../../mod.ts";
import { renderSvg } from "@perfmamba/perfmamba/charts";
import { escapeHtml } from "./html.ts";

/** One pruned model's accuracy. */
export interface AccuracyPoint {
  score: string;
  ratio: number;
  /** Perplexity on the evaluation text. */
  ppl: number;
  /** Task name → accuracy (acc or acc_norm as the task reports), in [0, 1]. */
  tasks: Record<string, number>;
}

/** Everything a sweep measured. */
export interface SweepReport {
  schema: "perfmamba.sweep/1";
  createdAt: string;
  model: string | null;
  backend: string;
  ratios: number[];
  scores: string[];
  scope: "layer" | "global";
  /** The dense model's accuracy (ratio 0). */
  dense: AccuracyPoint | null;
  accuracy: AccuracyPoint[];
  speed: { arch: string; size: string; points: SpeedPoint[] }[];
  notes: string[];
}

/** Impact zone of a pruned model from its perplexity increase over dense (our thresholds, stated in the report). */
export function zone(dense: AccuracyPoint, p: AccuracyPoint): "safe" | "moderate" | "high" {
  const tasks = Object.keys(dense.tasks);
  if (tasks.length > 0) {
    const loss = tasks.reduce((a, t) => a + (dense.tasks[t] - (p.tasks[t] ?? 0)), 0) / tasks.length * 100;
    if (loss > 5) return "high";
    if (loss > 1) return "moderate";
  }
  const rise = p.ppl / dense.ppl - 1;
  return rise <= 0.05 ? "safe" : rise <= 0.25 ? "moderate" : "high";
}

/** The zone thresholds, for the report. */
export const ZONE_NOTE =
  "Zones: safe = perplexity within +5% of dense and mean task accuracy loss ≤ 1 point; moderate = perplexity " +
  "within +25% and loss ≤ 5 points; high impact otherwise.";

const fmt = (v: number, d = 2) => (Number.isFinite(v) ? v.toFixed(d) : String(v));

/** One table of the report: an optional caption line, a header row and body rows (cells as text). */
interface Table {
  caption: string | null;
  head: string[];
  rows: string[][];
  /** A line printed after the table. */
  note: string | null;
}

/** The report's tables: accuracy (perplexity, tasks, zone) and speed / memory per architecture. */
function sweepTables(r: SweepReport): Table[] {
  const tables: Table[] = [];
  if (r.dense) {
    const dense = r.dense;
    const tasks = Object.keys(dense.tasks);
    const pct = (v: number | undefined) => fmt((v ?? NaN) * 100, 1);
    tables.push({
      caption: null,
      head: ["score", "r", "ppl", "Δppl", ...tasks, "zone"],
      rows: [
        ["dense", "0", fmt(dense.ppl), "—", ...tasks.map((t) => pct(dense.tasks[t])), "—"],
        ...r.accuracy.map((p) => {
          const d = (p.ppl / dense.ppl - 1) * 100;
          return [
            p.score,
            String(p.ratio),
            fmt(p.ppl),
            `${d >= 0 ? "+" : ""}${fmt(d, 1)}%`,
            ...tasks.map((t) => pct(p.tasks[t])),
            zone(dense, p),
          ];
        }),
      ],
      note: ZONE_NOTE,
    });
  }
  for (const s of r.speed) {
    tables.push({
      caption: `${s.arch} ${s.size}:`,
      head: ["mode", "L", "r", "kept N", "ms", "speedup ×", "GPU ms", "GPU speedup ×", "peak MB", "memory −%"],
      rows: s.points.map((p) => [
        p.mode,
        String(p.seqLen),
        String(p.ratio),
        String(p.kept),
        fmt(p.ms),
        fmt(p.speedup),
        p.gpuMs === null ? "—" : fmt(p.gpuMs),
        p.gpuSpeedup === null ? "—" : fmt(p.gpuSpeedup),
        fmt(p.peakBytes / 1e6, 1),
        fmt(p.memoryReductionPct, 1),
      ]),
      note: null,
    });
  }
  return tables;
}

/** Markdown tables: accuracy (perplexity, tasks, zone) and speed / memory. */
export function sweepMarkdown(r: SweepReport): string {
  const row = (cells: string[]) => `| ${cells.join(" | ")} |`;
  return sweepTables(r).flatMap((t) => [
    ...(t.caption ? [t.caption, ""] : []),
    row(t.head),
    row(t.head.map((_, i) => (i === 0 || t.head[i] === "mode" || t.head[i] === "zone" ? "---" : "--:"))),
    ...t.rows.map(row),
    ...(t.note ? ["", t.note] : []),
    "",
  ]).join("\n");
}

function pplChart(r: SweepReport): TopLevelSpec | null {
  if (!r.dense || r.accuracy.length === 0) return null;
  const values = [
    ...[...new Set(r.accuracy.map((p) => p.score))].map((score) => ({ score, ratio: 0, ppl: r.dense!.ppl })),
    ...r.accuracy.map((p) => ({ score: p.score, ratio: p.ratio, ppl: p.ppl })),
  ];
  return {
    title: "Perplexity vs pruning ratio, by score",
    width: 480,
    height: 280,
    data: { values },
    mark: { type: "line", point: true },
    encoding: {
      x: { field: "ratio", type: "quantitative", title: "pruning ratio r" },
      y: { field: "ppl", type: "quantitative", scale: { type: "log" }, title: "perplexity" },
      color: { field: "score", type: "nominal" },
    },
  } as TopLevelSpec;
}

function speedChart(r: SweepReport, key: "speedup" | "memoryReductionPct"): TopLevelSpec | null {
  const values = r.speed.flatMap((s) =>
    s.points.map((p) => ({ ...p, series: `${s.arch} ${p.mode} L${p.seqLen}`, arch: s.arch }))
  );
  if (values.length === 0) return null;
  return {
    title: key === "speedup" ? "End-to-end speedup over dense" : "Peak memory reduction vs dense (%)",
    width: 480,
    height: 280,
    data: { values },
    mark: { type: "line", point: true },
    encoding: {
      x: { field: "ratio", type: "quantitative", title: "pruning ratio r" },
      y: { field: key, type: "quantitative", title: key === "speedup" ? "× vs dense" : "% less than dense" },
      color: { field: "series", type: "nominal", title: "" },
    },
  } as TopLevelSpec;
}

/** Self-contained HTML: the tables and the charts as inline SVG. */
export async function sweepHtml(r: SweepReport): Promise<string> {
  const charts = [pplChart(r), speedChart(r, "speedup"), speedChart(r, "memoryReductionPct")].filter((c) => c);
  const svgs = await Promise.all(charts.map((c) => renderSvg(c!)));
  const tables = sweepTables(r).map((t) =>
    `${t.caption ? `<p>${escapeHtml(t.caption)}</p>` : ""}<table><tr>${
      t.head.map((c) => `<th>${escapeHtml(c)}</th>`).join("")
    }</tr>${t.rows.map((b) => `<tr>${b.map((c) => `<td>${escapeHtml(c)}</td>`).join("")}</tr>`).join("")}</table>${
      t.note ? `<p>${escapeHtml(t.note)}</p>` : ""
    }`
  );
  return `<!doctype html><html><head><meta charset="utf-8"><title>PerfMamba pruning sweep</title><style>
body{font:14px/1.45 system-ui,sans-serif;margin:2rem auto;max-width:1100px;padding:0 1rem;color:#222}
table{border-collapse:collapse;margin:.5rem 0 1.2rem;font-variant-numeric:tabular-nums}
th,td{padding:.2rem .55rem;border-bottom:1px solid #eee;text-align:right}th{background:#f6f6f6}svg{max-width:100%}
</style></head><body><h1>Pruning sweep</h1><p>${escapeHtml(r.model ?? "shapes only")} · ${escapeHtml(r.backend)} · ${
    escapeHtml(r.createdAt)
  }</p>${r.notes.map((n) => `<p>${escapeHtml(n)}</p>`).join("")}${tables.join("\n")}${
    svgs.map((s) => `<figure>${s}</figure>`).join("\n")
  }</body></html>\n`;
}
