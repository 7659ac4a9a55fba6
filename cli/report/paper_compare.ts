/**
 * Our profile beside the paper's Table 1: our components grouped into the paper's five, per architecture, mode and
 * length, with the paper's A100 figures next to ours where the run has the paper's setup (130m, batch 8, prefill,
 * lengths 64 / 512 / 2048). Pure: built from a {@link ProfileReport} and the data in paper_table1.ts.
 *
 * @module
 */

import { type Arch, type Component, presetConfig, type ProfileReport, type ProfileRun } from "../../mod.ts";
import { PAPER_COMPONENTS, PAPER_TABLE1_SETUP, type PaperComponent, paperTable1Row } from "./paper_table1.ts";
import { type PaperCheck, paperChecks } from "./paper_checks.ts";

/**
 * Which of our components make each of the paper's. RMSNorm is the block's norm only (the paper's RMSNorm FLOPs are
 * the same for both architectures, 6·B·L·d·n_layer: neither the final norm nor Mamba-2's gated norm). The gated
 * MLP is in_proj, with Mamba-2's gated RMSNorm (y·SiLU(z), normalised), whose gate the paper's Mamba-2 Gated MLP
 * FLOPs include. The State Space row is the selective SSM with its input-dependent Δ, B, C: in Mamba-1 those come
 * from x_proj and dt_proj (and Falcon-Mamba's δ / B / C norms), so they are counted there.
 */
export const PAPER_COMPONENT_MAP: Readonly<Record<PaperComponent, readonly Component[]>> = {
  "RMSNorm": ["norm"],
  "Gated MLP": ["in_proj", "gate_norm"],
  "Conv. Transform": ["conv1d"],
  "State Space": ["x_proj", "bcdt_norm", "dt_proj", "ssm"],
  "Final Linear": ["out_proj"],
};

/** Our components outside the paper's five (reported apart). */
export const OUTSIDE_PAPER: readonly Component[] = ["embedding", "residual", "norm_f", "lm_head"];

/** Our figures for one of the paper's components (its components of ours summed). */
export interface OursCell {
  /** Our components it sums (those the architecture has). */
  components: Component[];
  /** Analytic FLOPs per forward pass. */
  flops: number;
  /** Analytic minimum bytes moved per pass. */
  minBytes: number;
  /** Bytes held: weights + outputs + state + scratch, from the report's memory figures. */
  memoryBytes: number;
  /** Median latency per pass, ms (sum of the components' medians). */
  ms: number;
  /** minBytes ÷ ms, GB/s. */
  gbs: number;
  /** flops ÷ ms, GFLOP/s. */
  gflops: number;
  /** Share of the five components' time. */
  share: number;
  /** Share of all our components' time (the report's shares summed). */
  shareOfAll: number;
  /** Roofline against the report's measured peaks (null without peaks). */
  roofline: { intensity: number; attainableGflops: number; bound: "memory" | "compute"; ofAttainable: number } | null;
}

/** The paper's figures for one component at one length and architecture. */
export interface PaperCell {
  flopsG: number;
  memoryGB: number;
  ioGBs: number;
  latencyMs: number;
  /** Its latency's share of the five. */
  share: number;
}

/** One component of one point, ours beside the paper's. */
export interface Table1Entry {
  component: PaperComponent;
  ours: OursCell;
  paper: PaperCell | null;
}

/** One (architecture, mode, length) point. */
export interface Table1Point {
  model: string;
  arch: Arch;
  mode: "prefill" | "decode";
  batch: number;
  seqLen: number;
  entries: Table1Entry[];
  /** Our components outside the five: their latency and share of all. */
  outside: { components: Component[]; ms: number; shareOfAll: number };
  /** The largest of the five by latency: ours, and the paper's where it has the point. */
  dominant: { ours: PaperComponent; paper: PaperComponent | null };
  /** How the point was measured: passes and why it stopped. */
  iters: number;
  stopReason: string | null;
}

/** The whole side-by-side, as written to paper.json. */
export interface PaperTable1Comparison {
  schema: "perfmamba.paper-table1/1";
  /** Where ours ran. */
  ours: {
    backend: string;
    description: string;
    timing: string;
    peaks: { bandwidthGBs: number; gemmGflops: number } | null;
  };
  paperSetup: typeof PAPER_TABLE1_SETUP;
  mapping: Record<PaperComponent, readonly Component[]>;
  points: Table1Point[];
  /** Why the paper's figures are not beside some points (shape, batch, mode or length differ), one line each. */
  notes: string[];
  /** The arithmetic checks of the paper's figures. */
  checks: PaperCheck[];
}

/** Whether a run has the paper's Table 1 setup (a 130m shape, batch 8, prefill, one of its lengths). */
function paperHas(report: ProfileReport, run: ProfileRun): string | null {
  const m = report.models[run.model];
  const ref = presetConfig(run.arch, PAPER_TABLE1_SETUP.size);
  const c = m.config;
  if (c.dModel !== ref.dModel || c.nLayer !== ref.nLayer || c.dInner !== ref.dInner || c.dState !== ref.dState) {
    return `${m.name}: not the ${PAPER_TABLE1_SETUP.size} shape`;
  }
  if (run.mode !== "prefill") return null; // decode is ours only, not a mismatch
  if (run.batch !== PAPER_TABLE1_SETUP.batch) return `batch ${run.batch}, the paper's is ${PAPER_TABLE1_SETUP.batch}`;
  if (!(PAPER_TABLE1_SETUP.seqLens as readonly number[]).includes(run.seqLen)) {
    return `L${run.seqLen}: not one of the paper's lengths (${PAPER_TABLE1_SETUP.seqLens.join(", ")})`;
  }
  return "";
}

function oursCell(report: ProfileReport, run: ProfileRun, names: readonly Component[]): OursCell {
  const cs = run.components.filter((c) => names.includes(c.name) && c.flops + c.bytes.total + c.ms.median > 0);
  const sum = (f: (c: ProfileRun["components"][number]) => number) => cs.reduce((a, c) => a + f(c), 0);
  const flops = sum((c) => c.flops), minBytes = sum((c) => c.bytes.total), ms = sum((c) => c.ms.median);
  const peaks = report.environment.peaks;
  const gflops = ms > 0 ? flops / (ms * 1e6) : 0;
  let roofline: OursCell["roofline"] = null;
  if (peaks && minBytes > 0 && flops > 0) {
    const intensity = flops / minBytes;
    const attainableGflops = Math.min(peaks.gemmGflops, intensity * peaks.bandwidthGBs);
    roofline = {
      intensity,
      attainableGflops,
      bound: intensity * peaks.bandwidthGBs < peaks.gemmGflops ? "memory" : "compute",
      ofAttainable: gflops / attainableGflops,
    };
  }
  return {
    components: cs.map((c) => c.name),
    flops,
    minBytes,
    memoryBytes: sum((c) => c.memory.weights + c.memory.activations + c.memory.state + c.memory.scratch),
    ms,
    gbs: ms > 0 ? minBytes / (ms * 1e6) : 0,
    gflops,
    share: 0, // filled once the five are known
    shareOfAll: sum((c) => c.share),
    roofline,
  };
}

function argmax(entries: { component: PaperComponent; ms: number }[]): PaperComponent {
  return entries.reduce((a, b) => (b.ms > a.ms ? b : a)).component;
}

/**
 * Build the side-by-side of a profile report and the paper's Table 1.
 * Mode, batch and length come from the report: a run off the paper's setup gets no paper figures (and a note).
 */
export function paperTable1Comparison(report: ProfileReport): PaperTable1Comparison {
  const notes = new Set<string>();
  const points: Table1Point[] = report.runs.map((run) => {
    const why = paperHas(report, run);
    if (why) notes.add(why);
    const withPaper = why === "";
    const entries: Table1Entry[] = PAPER_COMPONENTS.map((component) => {
      const row = withPaper ? paperTable1Row(run.seqLen, component) : null;
      return {
        component,
        ours: oursCell(report, run, PAPER_COMPONENT_MAP[component]),
        paper: row
          ? {
            flopsG: row.flopsG[run.arch],
            memoryGB: row.memoryGB[run.arch],
            ioGBs: row.ioGBs[run.arch],
            latencyMs: row.latencyMs[run.arch],
            share: 0,
          }
          : null,
      };
    });
    const oursMs = entries.reduce((a, e) => a + e.ours.ms, 0);
    const paperMs = entries.reduce((a, e) => a + (e.paper?.latencyMs ?? 0), 0);
    for (const e of entries) {
      e.ours.share = oursMs > 0 ? e.ours.ms / oursMs : 0;
      if (e.paper) e.paper.share = e.paper.latencyMs / paperMs;
    }
    const outside = oursCell(report, run, OUTSIDE_PAPER);
    return {
      model: report.models[run.model].name,
      arch: run.arch,
      mode: run.mode,
      batch: run.batch,
      seqLen: run.seqLen,
      entries,
      outside: { components: outside.components, ms: outside.ms, shareOfAll: outside.shareOfAll },
      dominant: {
        ours: argmax(entries.map((e) => ({ component: e.component, ms: e.ours.ms }))),
        paper: withPaper ? argmax(entries.map((e) => ({ component: e.component, ms: e.paper!.latencyMs }))) : null,
      },
      iters: run.repetitions?.iters ?? run.endToEnd.samples.length,
      stopReason: run.repetitions?.stopReason ?? null,
    };
  });
  const peaks = report.environment.peaks;
  return {
    schema: "perfmamba.paper-table1/1",
    ours: {
      backend: report.environment.backend,
      description: report.environment.description,
      timing: report.environment.timing,
      peaks: peaks ? { bandwidthGBs: peaks.bandwidthGBs, gemmGflops: peaks.gemmGflops } : null,
    },
    paperSetup: PAPER_TABLE1_SETUP,
    mapping: { ...PAPER_COMPONENT_MAP },
    points,
    notes: [...notes].filter((n) => n !== ""),
    checks: paperChecks(),
  };
}
