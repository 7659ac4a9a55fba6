/**
 * Arithmetic checks of the paper's Table 1: each figure set against what the model's shapes, the card and the
 * table's own other columns allow, computed here from runtime/cost.ts' formulas and the A100's data-sheet limits
 * (nothing typed in but those limits and the paper's figures).
 *
 * @module
 */

import {
  type Arch,
  type Component,
  componentStateBytes,
  forwardBytes,
  forwardFlops,
  type MambaConfig,
  presetConfig,
} from "../../mod.ts";
import { PAPER_COMPONENTS, PAPER_TABLE1, PAPER_TABLE1_SETUP, type PaperComponent } from "./paper_table1.ts";

/** NVIDIA A100 40 GB (SXM/PCIe data sheet): memory, HBM2 bandwidth, dense FP32 and tensor-core peaks. */
export const A100_40GB = {
  memoryGB: 40,
  bandwidthGBs: 1555,
  fp32Tflops: 19.5,
  tf32TensorTflops: 156,
  bf16TensorTflops: 312,
} as const;

/** Which check a {@link PaperCheck} is. */
export type PaperCheckKind =
  | "memory-vs-card"
  | "memory-as-traffic"
  | "io-vs-latency"
  | "flops-vs-shapes"
  | "flop-rate";

/** One check of one figure. */
export interface PaperCheck {
  kind: PaperCheckKind;
  arch: Arch;
  seqLen: number;
  component: PaperComponent | "all five";
  /** The paper's figure (its unit in `unit`). */
  paper: number;
  /** What the arithmetic gives for it (same unit). */
  computed: number;
  unit: string;
  /** How `computed` was obtained, in words. */
  formula: string;
  /** Whether the paper's figure is possible / consistent by this check. */
  holds: boolean;
  /** For flops-vs-shapes: the formulas from the shapes that reproduce the paper's figure within its rounding. */
  explainedBy?: string[];
}

/** Which of our components make each paper component, for the analytic checks (mirrors paper_compare.ts). */
const GROUPS: Record<PaperComponent, readonly Component[]> = {
  "RMSNorm": ["norm"],
  "Gated MLP": ["in_proj", "gate_norm"],
  "Conv. Transform": ["conv1d"],
  "State Space": ["x_proj", "bcdt_norm", "dt_proj", "ssm"],
  "Final Linear": ["out_proj"],
};

/** A FLOP formula from the shapes that might explain one of the paper's counts. */
interface Hypothesis {
  label: string;
  flops: (c: MambaConfig, batch: number, seqLen: number) => number;
}

/** Candidate formulas per component (each tested at every length and architecture; kept only where all agree). */
const HYPOTHESES: Record<PaperComponent, Hypothesis[]> = {
  "RMSNorm": [
    { label: "4·B·L·d·n_layer (ours)", flops: (c, b, l) => 4 * b * l * c.dModel * c.nLayer },
    { label: "6·B·L·d·n_layer", flops: (c, b, l) => 6 * b * l * c.dModel * c.nLayer },
  ],
  "Gated MLP": [
    {
      label: "2·B·L·d·2D + 5·B·L·D (in_proj's x and z columns and the SiLU gate, ONE layer)",
      flops: (c, b, l) => 2 * b * l * c.dModel * 2 * c.dInner + 5 * b * l * c.dInner,
    },
    {
      label: "n_layer·(B·L·d·2D + 2·B·L·D) (x and z columns, a multiply-add counted as 1, and the gate)",
      flops: (c, b, l) => c.nLayer * (b * l * c.dModel * 2 * c.dInner + 2 * b * l * c.dInner),
    },
  ],
  "Conv. Transform": [
    {
      label: "n_layer·(2·B·L·C·K + 4·B·L·C), C conv channels (ours)",
      flops: (c, b, l) => {
        const C = c.arch === "mamba2" ? c.dInner + 2 * c.nGroups * c.dState : c.dInner;
        return c.nLayer * (2 * b * l * C * c.dConv + 4 * b * l * C);
      },
    },
  ],
  "State Space": [],
  "Final Linear": [
    { label: "2·B·L·D·d·n_layer (ours)", flops: (c, b, l) => 2 * b * l * c.dInner * c.dModel * c.nLayer },
    {
      label: "B·L·D·d·n_layer (a multiply-add counted as 1)",
      flops: (c, b, l) => b * l * c.dInner * c.dModel * c.nLayer,
    },
  ],
};

/** Whether `value` reproduces a figure printed with two decimals (half a unit in the last place, or 0.1 %). */
export function withinRounding(printed: number, value: number): boolean {
  return Math.abs(printed - value) <= Math.max(0.005, 0.001 * Math.abs(printed));
}

function sumOf(record: Record<Component, number>, names: readonly Component[]): number {
  return names.reduce((a, n) => a + record[n], 0);
}

/**
 * Every check of Table 1, computed from the 130m shapes at the paper's batch 8.
 *
 * - memory-vs-card: a component's "memory" (GB) against the card's 40 GB (and the five together).
 * - memory-as-traffic: if "memory" were bytes moved, memory ÷ latency against the card's 1555 GB/s.
 * - io-vs-latency: "I/O" (GB/s) × latency = the bytes it implies, against our minimum bytes for the component.
 * - flops-vs-shapes: their FLOPs against ours (runtime/cost.ts, all layers) and the formulas that reproduce them.
 * - flop-rate: FLOPs ÷ latency against the A100's dense FP32 peak (19.5 TFLOP/s; tensor cores reach more).
 */
export function paperChecks(): PaperCheck[] {
  const checks: PaperCheck[] = [];
  const batch = PAPER_TABLE1_SETUP.batch;
  for (const arch of ["mamba1", "mamba2"] as const) {
    const config = presetConfig(arch, PAPER_TABLE1_SETUP.size);
    for (const seqLen of PAPER_TABLE1_SETUP.seqLens) {
      const flops = forwardFlops(config, batch, seqLen);
      const bytes = forwardBytes(config, batch, seqLen);
      const state = componentStateBytes(config, batch);
      const rows = PAPER_TABLE1.filter((r) => r.seqLen === seqLen);
      let memorySum = 0;
      for (const component of PAPER_COMPONENTS) {
        const row = rows.find((r) => r.component === component)!;
        const names = GROUPS[component];
        const memoryGB = row.memoryGB[arch], latencyMs = row.latencyMs[arch];
        const ioGBs = row.ioGBs[arch], flopsG = row.flopsG[arch];
        memorySum += memoryGB;
        const base = { arch, seqLen, component };
        const stateGB = sumOf(state, names) / 1e9;
        checks.push({
          ...base,
          kind: "memory-vs-card",
          paper: memoryGB,
          computed: A100_40GB.memoryGB,
          unit: "GB",
          formula: `the card's memory; this component's recurrent state at batch ${batch} is ${fmtG(stateGB)} GB`,
          holds: memoryGB <= A100_40GB.memoryGB,
        });
        const asTraffic = memoryGB / (latencyMs / 1e3);
        checks.push({
          ...base,
          kind: "memory-as-traffic",
          paper: memoryGB,
          computed: asTraffic,
          unit: "GB/s",
          formula: `memory ÷ latency = ${fmtG(memoryGB)} GB ÷ ${latencyMs} ms, against ${A100_40GB.bandwidthGBs} GB/s`,
          holds: asTraffic <= A100_40GB.bandwidthGBs,
        });
        const minGB = names.reduce((a, n) => a + bytes[n].weights + bytes[n].activations + bytes[n].state, 0) / 1e9;
        const impliedGB = ioGBs * (latencyMs / 1e3);
        checks.push({
          ...base,
          kind: "io-vs-latency",
          paper: ioGBs,
          computed: minGB / (latencyMs / 1e3),
          unit: "GB/s",
          formula: `I/O × latency = ${fmtG(impliedGB)} GB moved; our minimum bytes ${fmtG(minGB)} GB ÷ ${latencyMs} ms`,
          holds: impliedGB >= minGB,
        });
        const ours = sumOf(flops, names) / 1e9;
        const explainedBy = HYPOTHESES[component]
          .filter((h) =>
            PAPER_TABLE1_SETUP.seqLens.every((l) =>
              withinRounding(
                PAPER_TABLE1.find((r) => r.seqLen === l && r.component === component)!.flopsG[arch],
                h.flops(config, batch, l) / 1e9,
              )
            )
          )
          .map((h) => h.label);
        checks.push({
          ...base,
          kind: "flops-vs-shapes",
          paper: flopsG,
          computed: ours,
          unit: "GFLOP",
          formula: `ours (runtime/cost.ts: ${names.filter((n) => flops[n] > 0).join(" + ")}, all ${config.nLayer} ` +
            `layers); theirs ÷ ours = ${(flopsG / ours).toFixed(3)}`,
          holds: withinRounding(flopsG, ours),
          explainedBy,
        });
        const tflops = flopsG / latencyMs; // G / ms = TFLOP/s
        checks.push({
          ...base,
          kind: "flop-rate",
          paper: flopsG,
          computed: tflops,
          unit: "TFLOP/s",
          formula: `FLOPs ÷ latency = ${flopsG} G ÷ ${latencyMs} ms, against ${A100_40GB.fp32Tflops} TFLOP/s dense ` +
            `FP32 (${A100_40GB.bf16TensorTflops} with BF16 tensor cores)`,
          holds: tflops <= A100_40GB.fp32Tflops,
        });
      }
      checks.push({
        kind: "memory-vs-card",
        arch,
        seqLen,
        component: "all five",
        paper: memorySum,
        computed: A100_40GB.memoryGB,
        unit: "GB",
        formula: "the five components' memory added, against the card's memory",
        holds: memorySum <= A100_40GB.memoryGB,
      });
    }
  }
  return checks;
}

/** Three significant digits (GB, GFLOP). */
function fmtG(v: number): string {
  if (v === 0) return "0";
  return Math.abs(v) >= 100 ? v.toFixed(0) : v.toPrecision(3);
}

/** Our whole forward's FLOPs per token (all blocks, final norm and LM head on every row), G. */
export function wholeModelGflopsPerToken(arch: Arch): number {
  const config = presetConfig(arch, PAPER_TABLE1_SETUP.size);
  const f = forwardFlops(config, 1, 1024);
  return Object.values(f).reduce((a, b) => a + b, 0) / 1024 / 1e9;
}
