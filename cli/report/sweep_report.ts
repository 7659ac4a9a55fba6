/**
 * The pruning sweep's report: accuracy per (score, ratio) with impact zones, and speed / memory per (ratio, length)
 * against the dense model (the paper's Table 2), as Markdown tables and a self-contained HTML page with charts.
 */
import type { TopLevelSpec } from "vega-lite";
import type { SpeedPoint } from "../../mod.ts";
import { renderSvg } from "@perfmamba/perfmamba/charts";
import { escapeHtml } from "./html.ts";
import { marginalDrops, paperZone, zoneLosses } from "./paper_curves.ts";
import {
  PAPER_FIG4_ACCURACY,
  PAPER_FIG5_MS,
  PAPER_MARGINAL,
  PAPER_RATIOS,
  PAPER_ZONES,
  paperTable2,
} from "./paper_table2.ts";

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
  /** The paper's Table 2 beside our speed points (see {@link paperTable2Comparison}); absent without such points. */
  paperTable2?: PaperTable2Comparison[];
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
      head: [
        "mode",
        "L",
        "r",
        "variant",
        "kept N",
        "n",
        "ms",
        "speedup ×",
        "95% interval",
        "GPU ms",
        "GPU speedup ×",
        "peak MB",
        "memory −%",
      ],
      rows: s.points.map((p) => [
        p.mode,
        String(p.seqLen),
        String(p.ratio),
        p.variant ?? "remove",
        String(p.kept),
        String(p.samples.length),
        fmt(p.ms),
        fmt(p.speedup),
        p.speedupInterval ? `${fmt(p.speedupInterval.lo)}–${fmt(p.speedupInterval.hi)}` : "—",
        p.gpuMs === null ? "—" : fmt(p.gpuMs),
        p.gpuSpeedup === null ? "—" : fmt(p.gpuSpeedup),
        fmt(p.peakBytes / 1e6, 1),
        fmt(p.memoryReductionPct, 1),
      ]),
      note: s.points.some((p) => p.speedupInterval !== undefined)
        ? "Paired design: the dense model and each pruned one loaded together, passes alternating; n = pairs, " +
          "speedup = the median of the pairs' dense ÷ pruned ratios, with the 95% interval of that median."
        : null,
    });
  }
  tables.push(...paperSpeedTables(r), ...paperAccuracyTables(r));
  return tables;
}

/** The accuracy points the paper comparison uses: delta_b (the paper's score) where measured, else the first score. */
function paperScore(r: SweepReport): string | null {
  const scores = [...new Set(r.accuracy.map((p) => p.score))];
  return scores.includes("delta_b") ? "delta_b" : scores[0] ?? null;
}

/** Table 2 and Fig. 5 beside ours: Mamba-2 prefill points at the paper's lengths and ratios. */
/** One cell of the paper's Table 2 beside ours: removed and masked (null where not measured). */
export interface PaperTable2Comparison {
  arch: string;
  size: string;
  seqLen: number;
  ratio: number;
  paper: { speedup: number; memoryReductionPct: number };
  removed: OursTable2 | null;
  masked: OursTable2 | null;
}

/** Our side of a Table 2 cell: the speedup (with its 95% interval in the paired design), memory, passes or pairs. */
export interface OursTable2 {
  speedup: number;
  speedupInterval?: { lo: number; hi: number; coverage: number } | null;
  memoryReductionPct: number;
  n: number;
}

/** Our Mamba-2 prefill points at the paper's lengths and ratios, beside Table 2 (written into sweep.json). */
export function paperTable2Comparison(r: SweepReport): PaperTable2Comparison[] {
  const out: PaperTable2Comparison[] = [];
  for (const s of r.speed) {
    if (s.arch !== "mamba2") continue;
    const pts = s.points.filter((p) => p.mode === "prefill");
    const at = (l: number, ratio: number, v: string) => {
      const p = pts.find((p) => p.seqLen === l && Math.abs(p.ratio - ratio) < 1e-9 && (p.variant ?? "remove") === v);
      if (!p) return null;
      const ours: OursTable2 = { speedup: p.speedup, memoryReductionPct: p.memoryReductionPct, n: p.samples.length };
      if (p.speedupInterval !== undefined) ours.speedupInterval = p.speedupInterval;
      return ours;
    };
    for (const seqLen of [...new Set(pts.map((p) => p.seqLen))]) {
      for (const ratio of PAPER_RATIOS) {
        const paper = paperTable2(seqLen, ratio);
        const removed = at(seqLen, ratio, "remove"), masked = at(seqLen, ratio, "mask");
        if (paper && (removed || masked)) {
          out.push({ arch: s.arch, size: s.size, seqLen, ratio, paper, removed, masked });
        }
      }
    }
  }
  return out;
}

/** "1.05", or "1.05 (1.02–1.08)" with the paired design's 95% interval. */
function speedupCell(p: OursTable2): string {
  const ci = p.speedupInterval;
  return ci ? `${fmt(p.speedup)} (${fmt(ci.lo)}–${fmt(ci.hi)})` : fmt(p.speedup);
}

function paperSpeedTables(r: SweepReport): Table[] {
  const tables: Table[] = [];
  const all = paperTable2Comparison(r);
  for (const s of r.speed) {
    if (s.arch !== "mamba2") continue;
    const pts = s.points.filter((p) => p.mode === "prefill");
    const at = (l: number, ratio: number, v: string) =>
      pts.find((p) => p.seqLen === l && Math.abs(p.ratio - ratio) < 1e-9 && (p.variant ?? "remove") === v);
    type Ours = PaperTable2Comparison["removed"];
    const cell = (p: Ours, f: (p: NonNullable<Ours>) => string) => (p ? f(p) : "—");
    const rows = all.filter((c) => c.size === s.size).map((c) => [
      String(c.seqLen),
      String(c.ratio),
      cell(c.removed, speedupCell),
      cell(c.masked, speedupCell),
      fmt(c.paper.speedup),
      cell(c.removed, (p) => fmt(p.memoryReductionPct, 1)),
      cell(c.masked, (p) => fmt(p.memoryReductionPct, 1)),
      fmt(c.paper.memoryReductionPct),
    ]);
    if (rows.length === 0) continue;
    tables.push({
      caption: `Against the paper's Table 2 (Mamba-2 130M prefill, A100; ours: mamba2 ${s.size}, ${r.backend}):`,
      head: ["L", "r", "speedup × removed", "× masked", "× paper", "memory −% removed", "−% masked", "−% paper"],
      rows,
      note: "Removed: the states are physically removed (smaller in_proj, conv, A, state). Masked: the paper's " +
        '"sparse variant", same sizes with the dropped states zeroed — the same work as dense, so its speedup is ' +
        "1 up to noise and its memory reduction 0 by construction.",
    });
    const fig5: string[][] = [];
    for (const f of PAPER_FIG5_MS) {
      const dense = at(f.seqLen, 0, "dense") ?? pts.find((p) => p.seqLen === f.seqLen && p.ratio === 0);
      if (!dense) continue;
      const r9 = at(f.seqLen, 0.9, "remove");
      fig5.push([
        String(f.seqLen),
        fmt(dense.ms, 1),
        String(dense.samples.length),
        String(f.denseMs),
        r9 ? fmt(r9.ms, 1) : "—",
        f.r09Ms === null ? "—" : String(f.r09Ms),
      ]);
    }
    if (fig5.length) {
      tables.push({
        caption: "Dense prefill latency beside the paper's Fig. 5 (figures its text states, A100):",
        head: ["L", "dense ms", "n", "paper dense ms", "r = 0.9 removed ms", "paper r = 0.9 ms"],
        rows: fig5,
        note: null,
      });
    }
  }
  return tables;
}

/** Fig. 4 / Fig. 6 beside ours: tasks dense → r = 0.9, the paper's zones and its marginal-drop criterion. */
function paperAccuracyTables(r: SweepReport): Table[] {
  const score = paperScore(r);
  if (!r.dense || !score) return [];
  const dense = r.dense;
  const curve = r.accuracy.filter((p) => p.score === score).sort((a, b) => a.ratio - b.ratio);
  const tasks = Object.keys(dense.tasks);
  const tables: Table[] = [];
  const mean = (p: AccuracyPoint) => tasks.reduce((a, t) => a + (p.tasks[t] ?? NaN), 0) / tasks.length;
  const r9 = curve.find((p) => Math.abs(p.ratio - 0.9) < 1e-9);
  if (tasks.length > 0) {
    const pct = (v: number | undefined) => fmt((v ?? NaN) * 100, 1);
    tables.push({
      caption: `Against the paper's Fig. 4 (zero-shot accuracy %, dense → r = 0.9; ours: score ${score}):`,
      head: ["task", "dense", "r = 0.9", "paper"],
      rows: tasks.map((t) => {
        const paper = PAPER_FIG4_ACCURACY.find((f) => f.task === t);
        return [t, pct(dense.tasks[t]), r9 ? pct(r9.tasks[t]) : "—", paper ? paper.note : "—"];
      }),
      note: null,
    });
  }
  const accCurve = [
    { ratio: 0, value: tasks.length ? mean(dense) : NaN },
    ...curve.map((p) => ({
      ratio: p.ratio,
      value: tasks.length ? mean(p) : NaN,
    })),
  ];
  const pplCurve = [{ ratio: 0, value: dense.ppl }, ...curve.map((p) => ({ ratio: p.ratio, value: p.ppl }))];
  const accZones = zoneLosses(accCurve[0].value, accCurve);
  const pplZones = zoneLosses(dense.ppl, pplCurve);
  if (pplZones.length > 0) {
    tables.push({
      caption: `The paper's zones on our curves (score ${score}; accuracy = mean of ${
        tasks.join(", ") || "no tasks"
      }):`,
      head: ["zone", "ratios", "acc loss pts", "acc loss rel %", "ppl rise %", "paper acc loss %"],
      rows: pplZones.map((z) => {
        const a = accZones.find((x) => x.zone === z.zone);
        const paper = PAPER_ZONES.find((x) => x.zone === z.zone)!;
        return [
          `${z.zone} (${paper.range})`,
          z.ratios.join(", "),
          a && tasks.length ? fmt(a.meanLossPts, 1) : "—",
          a && tasks.length ? fmt(a.meanLossRelPct, 1) : "—",
          fmt(-z.meanLossRelPct, 1),
          String(paper.meanLossPct),
        ];
      }),
      note: "Loss per zone: the mean over the zone's pruned ratios of dense − accuracy (points) and of " +
        "1 − accuracy ÷ dense (relative); ppl rise: the mean of ppl ÷ dense ppl − 1.",
    });
  }
  const accDrops = marginalDrops(accCurve, PAPER_MARGINAL.delta);
  const pplDrops = marginalDrops(pplCurve.map((p) => ({ ratio: p.ratio, value: p.value / dense.ppl })));
  if (pplDrops.length > 0) {
    tables.push({
      caption: `The paper's marginal drop |ΔAcc/Δr| (δ = ${PAPER_MARGINAL.delta}) on our curves (score ${score}):`,
      head: ["r", "zone", "|ΔAcc/Δr|", "|Δ(ppl/dense)/Δr|", "paper"],
      rows: pplDrops.map((d) => {
        const a = accDrops.find((x) => x.to === d.to);
        const paper = d.to <= PAPER_MARGINAL.upTo + 1e-9
          ? `< ${PAPER_MARGINAL.below}`
          : `> ${PAPER_MARGINAL.beyondAbove}`;
        return [
          `${d.from} → ${d.to}`,
          paperZone(d.to),
          a && tasks.length ? fmt(a.slope, 3) : "—",
          fmt(d.slope, 3),
          paper,
        ];
      }),
      note: "Accuracy as a fraction (mean of the tasks), as the paper's criterion reads.",
    });
  }
  return tables;
}

/** Markdown tables: accuracy (perplexity, tasks, zone) and speed / memory. */
export function sweepMarkdown(r: SweepReport): string {
  // A cell's own "|" (as in |ΔAcc/Δr|) is escaped so that it does not split the Markdown row.
  const row = (cells: string[]) => `| ${cells.map((c) => c.replaceAll("|", "\\|")).join(" | ")} |`;
  return sweepTables(r).flatMap((t) => [
    ...(t.caption ? [t.caption, ""] : []),
    row(t.head),
    row(t.head.map((_, i) => (i === 0 || ["mode", "zone", "variant", "paper"].includes(t.head[i]) ? "---" : "--:"))),
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
