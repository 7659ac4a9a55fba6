/**
 * paper.md: a {@link PaperTable1Comparison} as Markdown — ours beside the paper's Table 1 per architecture and
 * length, our decode in addition, which component dominates on each side, and the arithmetic checks of the paper's
 * figures. Pure.
 *
 * @module
 */

import { PAPER_COMPONENTS } from "./paper_table1.ts";
import type { PaperTable1Comparison, Table1Point } from "./paper_compare.ts";
import { A100_40GB, type PaperCheck, type PaperCheckKind, wholeModelGflopsPerToken } from "./paper_checks.ts";

/** A number with about three significant digits; "—" for a missing one. */
export function sig3(v: number | null | undefined): string {
  if (v === null || v === undefined || !Number.isFinite(v)) return "—";
  if (v === 0) return "0";
  const a = Math.abs(v);
  if (a >= 1000) return Math.round(v).toLocaleString("en-US");
  if (a >= 100) return v.toFixed(0);
  return v.toPrecision(3);
}

/** A figure of the paper's, as published. */
function asPublished(v: number | null | undefined): string {
  return v === null || v === undefined ? "—" : String(v);
}

function pct(v: number | null | undefined): string {
  return v === null || v === undefined || !Number.isFinite(v) ? "—" : `${(100 * v).toFixed(1)}%`;
}

function table(header: string[], rows: string[][], right: boolean[]): string {
  const sep = right.map((r) => (r ? "---:" : "---"));
  return [header, sep, ...rows].map((r) => `| ${r.join(" | ")} |`).join("\n");
}

/** One point's rows: ours beside the paper's. */
function pointTable(p: Table1Point): string {
  const header = [
    "component",
    "GFLOP",
    "min bytes GB",
    "memory GB",
    "GB/s",
    "GFLOP/s",
    "of roofline",
    "ms",
    "share",
    "paper GFLOP",
    "paper memory GB",
    "paper I/O GB/s",
    "paper ms",
    "paper share",
  ];
  const rows = p.entries.map((e) => [
    `${e.component} (${e.ours.components.join(" + ") || "—"})`,
    sig3(e.ours.flops / 1e9),
    sig3(e.ours.minBytes / 1e9),
    sig3(e.ours.memoryBytes / 1e9),
    sig3(e.ours.gbs),
    sig3(e.ours.gflops),
    e.ours.roofline ? `${pct(e.ours.roofline.ofAttainable)} (${e.ours.roofline.bound})` : "—",
    sig3(e.ours.ms),
    pct(e.ours.share),
    asPublished(e.paper?.flopsG),
    asPublished(e.paper?.memoryGB),
    asPublished(e.paper?.ioGBs),
    asPublished(e.paper?.latencyMs),
    pct(e.paper?.share),
  ]);
  return table(header, rows, header.map((_, i) => i > 0));
}

const CHECK_TITLES: Record<PaperCheckKind, string> = {
  "memory-vs-card": `"Memory" above the card's ${A100_40GB.memoryGB} GB`,
  "memory-as-traffic": `"Memory" read as bytes moved: faster than the card's ${A100_40GB.bandwidthGBs} GB/s`,
  "io-vs-latency": `"I/O" × latency: fewer bytes than the component must move`,
  "flops-vs-shapes": "FLOPs against the model's shapes",
  "flop-rate": `FLOPs ÷ latency above the A100's dense FP32 peak (${A100_40GB.fp32Tflops} TFLOP/s)`,
};

function checksSection(checks: PaperCheck[]): string {
  const out: string[] = [];
  const m = (a: string) => (a === "mamba1" ? "Mamba-1" : "Mamba-2");
  for (const kind of ["memory-vs-card", "memory-as-traffic", "io-vs-latency", "flop-rate"] as const) {
    const all = checks.filter((c) => c.kind === kind);
    const failed = all.filter((c) => !c.holds);
    out.push(`### ${CHECK_TITLES[kind]}: ${failed.length} of ${all.length} figures\n`);
    if (failed.length === 0) continue;
    out.push(table(
      ["arch", "L", "component", "paper", "computed", "how"],
      failed.map((c) => [
        m(c.arch),
        String(c.seqLen),
        c.component,
        `${sig3(c.paper)} ${kind === "flop-rate" ? "GFLOP" : kind === "io-vs-latency" ? "GB/s" : "GB"}`,
        `${sig3(c.computed)} ${c.unit}`,
        c.formula,
      ]),
      [false, true, false, true, true, false],
    ));
    out.push("");
  }
  const flops = checks.filter((c) => c.kind === "flops-vs-shapes");
  out.push(`### ${CHECK_TITLES["flops-vs-shapes"]}\n`);
  out.push(
    'Ours: runtime/cost.ts at batch 8, all 24 layers, a multiply-add = 2 FLOPs. "Reproduced by": the formulas ' +
      "from the shapes that give the paper's figure within its rounding at all three lengths.\n",
  );
  out.push(table(
    [
      "arch",
      "component",
      "L64 paper / ours",
      "L512 paper / ours",
      "L2048 paper / ours",
      "theirs ÷ ours",
      "reproduced by",
    ],
    (["mamba1", "mamba2"] as const).flatMap((arch) =>
      PAPER_COMPONENTS.map((component) => {
        const cs = flops.filter((c) => c.arch === arch && c.component === component);
        const ratios = cs.map((c) => c.paper / c.computed);
        return [
          m(arch),
          component,
          ...cs.map((c) => `${sig3(c.paper)} / ${sig3(c.computed)}`),
          ratios.map((r) => r.toFixed(3)).join(", "),
          cs[0].explainedBy!.length ? cs[0].explainedBy!.join("; ") : "none of the formulas tried",
        ];
      })
    ),
    [false, false, true, true, true, true, false],
  ));
  const perToken = (["mamba1", "mamba2"] as const).map((arch) => {
    const c = flops.find((x) => x.arch === arch && x.component === "State Space" && x.seqLen === 2048)!;
    const theirs = c.paper / (8 * 2048);
    return `${m(arch)}: the paper's State Space at L2048 is ${sig3(theirs * 1e3)} MFLOP per token; our whole ` +
      `forward (every component, LM head on every row) is ${
        sig3(wholeModelGflopsPerToken(arch) * 1e3)
      } MFLOP per token`;
  });
  out.push("");
  out.push(perToken.map((l) => `- ${l}.`).join("\n"));
  return out.join("\n");
}

/** Render paper.md. */
export function paperMarkdown(cmp: PaperTable1Comparison, command: string): string {
  const o = cmp.ours;
  const lines: string[] = [
    "# Ours beside the paper's Table 1",
    "",
    `Made by \`${command}\`. Ours: ${o.backend} (${o.description}), timing ${o.timing}` +
    (o.peaks ? `, measured peaks ${sig3(o.peaks.gemmGflops)} GFLOP/s and ${sig3(o.peaks.bandwidthGBs)} GB/s.` : "."),
    `The paper: ${cmp.paperSetup.device}, ${cmp.paperSetup.software}, ${cmp.paperSetup.size}, batch ` +
    `${cmp.paperSetup.batch}, ${cmp.paperSetup.mode} at L ${cmp.paperSetup.seqLens.join(", ")}.`,
    "",
    "Units: GFLOP = 10⁹ FLOPs, GB = 10⁹ bytes. Ours per forward pass over the batch: analytic FLOPs and minimum " +
    "bytes (runtime/cost.ts), memory held (weights + outputs + state + scratch, from the backend's allocator), " +
    "achieved GB/s and GFLOP/s (analytic ÷ median latency), the roofline against the measured peaks, the median " +
    "latency and its share of the five. The paper's: as published (FLOPs, memory, I/O, latency); its share is of " +
    "its five latencies.",
    "",
    "Which of our components make each of the paper's:",
    "",
    table(
      ["paper", "ours"],
      PAPER_COMPONENTS.map((c) => [c, cmp.mapping[c].join(" + ")]),
      [false, false],
    ),
    "",
  ];
  if (cmp.notes.length) lines.push(`Without the paper's figures: ${cmp.notes.join("; ")}.`, "");
  for (const mode of ["prefill", "decode"] as const) {
    const pts = cmp.points.filter((p) => p.mode === mode);
    if (pts.length === 0) continue;
    lines.push(
      `## ${mode === "prefill" ? "Prefill (the paper's Table 1)" : "Decode (ours only: one token, context L)"}`,
    );
    lines.push("");
    for (const p of pts) {
      lines.push(
        `### ${p.model}, ${mode} B${p.batch} L${p.seqLen} (n = ${p.iters}${p.stopReason ? `, ${p.stopReason}` : ""})`,
      );
      lines.push("");
      lines.push(pointTable(p));
      lines.push("");
      const outside = `outside the five: ${p.outside.components.join(", ")} ${sig3(p.outside.ms)} ms ` +
        `(${pct(p.outside.shareOfAll)} of all)`;
      lines.push(
        `Dominant: ours **${p.dominant.ours}**` + (p.dominant.paper ? `, the paper's **${p.dominant.paper}**` : "") +
          `; ${outside}.`,
      );
      lines.push("");
    }
  }
  lines.push("## Arithmetic checks of the paper's figures", "");
  lines.push(checksSection(cmp.checks));
  lines.push("");
  return lines.join("\n");
}
