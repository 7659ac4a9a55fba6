/**
 * The PerfMamba paper's Table 1 (Asif et al., "PerfMamba: Performance Analysis and Pruning of Selective State Space
 * Models", arXiv 2511.22849) as data: per component and sequence length, FLOPs (G), memory (GB), I/O (GB/s) and
 * latency (ms) of Mamba-1 and Mamba-2 130m on an NVIDIA A100 40 GB at batch 8, in the paper's units and exactly as
 * published (figures that cannot be right are kept as printed; runtime checks of them are in paper_checks.ts).
 * Product data: nothing here is read from disk at run time.
 *
 * @module
 */

import type { Arch } from "../../mod.ts";

/** The paper's five components of a Mamba block, in its order. */
export const PAPER_COMPONENTS = ["RMSNorm", "Gated MLP", "Conv. Transform", "State Space", "Final Linear"] as const;

/** One of the paper's components. */
export type PaperComponent = typeof PAPER_COMPONENTS[number];

/** A figure of each architecture. */
export type PerArch = Readonly<Record<Arch, number>>;

/** One row of Table 1: a component at one length, both architectures. */
export interface PaperTable1Row {
  seqLen: number;
  component: PaperComponent;
  /** FLOPs, G (10⁹). */
  flopsG: PerArch;
  /** Memory, GB. */
  memoryGB: PerArch;
  /** "I/O", GB/s. */
  ioGBs: PerArch;
  /** Latency, ms. */
  latencyMs: PerArch;
}

/** The setup the paper states for Table 1. */
export const PAPER_TABLE1_SETUP = {
  device: "NVIDIA A100 40 GB",
  software: "PyTorch profiler traces of the Hugging Face Mamba-1 / Mamba-2 implementations",
  size: "130m",
  batch: 8,
  seqLens: [64, 512, 2048],
  mode: "prefill",
} as const;

/** Table 1, row for row as published (table1_components.csv in the project's shared paper folder). */
export const PAPER_TABLE1: readonly PaperTable1Row[] = [
  {
    seqLen: 64,
    component: "RMSNorm",
    flopsG: { mamba1: 0.06, mamba2: 0.06 },
    memoryGB: { mamba1: 0.75, mamba2: 0.5 },
    ioGBs: { mamba1: 0.0016, mamba2: 0.08 },
    latencyMs: { mamba1: 3.20, mamba2: 2.90 },
  },
  {
    seqLen: 64,
    component: "Gated MLP",
    flopsG: { mamba1: 2.42, mamba2: 29.03 },
    memoryGB: { mamba1: 0.24, mamba2: 0.48 },
    ioGBs: { mamba1: 0.0039, mamba2: 0.45 },
    latencyMs: { mamba1: 4.08, mamba2: 3.99 },
  },
  {
    seqLen: 64,
    component: "Conv. Transform",
    flopsG: { mamba1: 0.60, mamba2: 0.26 },
    memoryGB: { mamba1: 0.48, mamba2: 0.24 },
    ioGBs: { mamba1: 0.0032, mamba2: 0.19 },
    latencyMs: { mamba1: 9.40, mamba2: 0.21 },
  },
  {
    seqLen: 64,
    component: "State Space",
    flopsG: { mamba1: 68.63, mamba2: 48.95 },
    memoryGB: { mamba1: 6.24, mamba2: 7.44 },
    ioGBs: { mamba1: 0.042, mamba2: 0.31 },
    latencyMs: { mamba1: 16.76, mamba2: 45.88 },
  },
  {
    seqLen: 64,
    component: "Final Linear",
    flopsG: { mamba1: 28.99, mamba2: 14.50 },
    memoryGB: { mamba1: 0.96, mamba2: 0.48 },
    ioGBs: { mamba1: 0.0024, mamba2: 0.23 },
    latencyMs: { mamba1: 3.13, mamba2: 2.18 },
  },
  {
    seqLen: 512,
    component: "RMSNorm",
    flopsG: { mamba1: 0.45, mamba2: 0.45 },
    memoryGB: { mamba1: 6.25, mamba2: 4.0 },
    ioGBs: { mamba1: 0.01, mamba2: 0.6 },
    latencyMs: { mamba1: 2.02, mamba2: 1.37 },
  },
  {
    seqLen: 512,
    component: "Gated MLP",
    flopsG: { mamba1: 19.37, mamba2: 232.23 },
    memoryGB: { mamba1: 2.64, mamba2: 0.2 },
    ioGBs: { mamba1: 0.03, mamba2: 1.87 },
    latencyMs: { mamba1: 26.16, mamba2: 28.51 },
  },
  {
    seqLen: 512,
    component: "Conv. Transform",
    flopsG: { mamba1: 4.83, mamba2: 2.11 },
    memoryGB: { mamba1: 1.92, mamba2: 2.16 },
    ioGBs: { mamba1: 0.03, mamba2: 1.51 },
    latencyMs: { mamba1: 9.59, mamba2: 1.23 },
  },
  {
    seqLen: 512,
    component: "State Space",
    flopsG: { mamba1: 548.49, mamba2: 391.64 },
    memoryGB: { mamba1: 22.08, mamba2: 29.76 },
    ioGBs: { mamba1: 0.34, mamba2: 2.47 },
    latencyMs: { mamba1: 23.73, mamba2: 35.87 },
  },
  {
    seqLen: 512,
    component: "Final Linear",
    flopsG: { mamba1: 231.93, mamba2: 115.96 },
    memoryGB: { mamba1: 7.44, mamba2: 2.88 },
    ioGBs: { mamba1: 0.02, mamba2: 1.02 },
    latencyMs: { mamba1: 15.12, mamba2: 13.20 },
  },
  {
    seqLen: 2048,
    component: "RMSNorm",
    flopsG: { mamba1: 1.81, mamba2: 1.81 },
    memoryGB: { mamba1: 25.18, mamba2: 15.75 },
    ioGBs: { mamba1: 0.05, mamba2: 2.42 },
    latencyMs: { mamba1: 7.65, mamba2: 5.53 },
  },
  {
    seqLen: 2048,
    component: "Gated MLP",
    flopsG: { mamba1: 77.45, mamba2: 928.92 },
    memoryGB: { mamba1: 10.32, mamba2: 11.52 },
    ioGBs: { mamba1: 0.13, mamba2: 6.73 },
    latencyMs: { mamba1: 98.58, mamba2: 109.83 },
  },
  {
    seqLen: 2048,
    component: "Conv. Transform",
    flopsG: { mamba1: 19.33, mamba2: 8.46 },
    memoryGB: { mamba1: 7.44, mamba2: 8.4 },
    ioGBs: { mamba1: 0.10, mamba2: 6.04 },
    latencyMs: { mamba1: 12.81, mamba2: 4.78 },
  },
  {
    seqLen: 2048,
    component: "State Space",
    flopsG: { mamba1: 2193.73, mamba2: 1566.55 },
    memoryGB: { mamba1: 86.64, mamba2: 115.68 },
    ioGBs: { mamba1: 1.35, mamba2: 9.87 },
    latencyMs: { mamba1: 74.82, mamba2: 51.79 },
  },
  {
    seqLen: 2048,
    component: "Final Linear",
    flopsG: { mamba1: 927.71, mamba2: 463.86 },
    memoryGB: { mamba1: 23.04, mamba2: 5.04 },
    ioGBs: { mamba1: 0.08, mamba2: 3.74 },
    latencyMs: { mamba1: 59.99, mamba2: 52.35 },
  },
];

/** The row of `component` at `seqLen`, or null where the paper has none. */
export function paperTable1Row(seqLen: number, component: PaperComponent): PaperTable1Row | null {
  return PAPER_TABLE1.find((r) => r.seqLen === seqLen && r.component === component) ?? null;
}
