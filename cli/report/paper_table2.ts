/**
 * The PerfMamba paper's pruning figures (Asif et al., arXiv 2511.22849) as data, so that `sweep` can set ours beside
 * them without reading anything at run time: Table 2 (speedup × and memory reduction % of Mamba-2-130M pruned at
 * r = 0.1–0.9 against dense, prefill at L = 64–16384, A100) and what the text states of Fig. 4, 5 and 6.
 * tests/cli/paper_table2_test.ts checks Table 2 against ../shared/paper/table2_pruning_speed.csv.
 *
 * @module
 */

/** The pruning ratios of Table 2's columns. */
export const PAPER_RATIOS: readonly number[] = [0.1, 0.3, 0.5, 0.7, 0.9];

/** The sequence lengths of Table 2's rows. */
export const PAPER_SEQLENS: readonly number[] = [64, 512, 2048, 4096, 8192, 16384];

/** One row of Table 2: a length and its figures per ratio (in the order of {@link PAPER_RATIOS}). */
export interface PaperTable2Row {
  seqLen: number;
  /** Speedup over dense, ×. */
  speedup: number[];
  /** Memory reduction against dense, %. */
  memoryReductionPct: number[];
}

/** Table 2 as the paper prints it. */
export const PAPER_TABLE2: readonly PaperTable2Row[] = [
  { seqLen: 64, speedup: [1.01, 1.00, 1.01, 1.00, 1.00], memoryReductionPct: [0.82, 2.58, 4.35, 6.05, 7.82] },
  { seqLen: 512, speedup: [1.01, 1.03, 1.05, 1.08, 1.10], memoryReductionPct: [0.84, 2.07, 4.79, 7.99, 10.30] },
  { seqLen: 2048, speedup: [1.04, 1.05, 1.06, 1.12, 1.14], memoryReductionPct: [0.88, 3.45, 6.08, 8.31, 10.97] },
  { seqLen: 4096, speedup: [1.03, 1.05, 1.07, 1.11, 1.13], memoryReductionPct: [1.32, 3.66, 6.21, 8.87, 11.20] },
  { seqLen: 8192, speedup: [1.03, 1.06, 1.07, 1.12, 1.14], memoryReductionPct: [1.18, 3.82, 6.35, 8.88, 11.50] },
  { seqLen: 16384, speedup: [1.03, 1.05, 1.07, 1.12, 1.14], memoryReductionPct: [1.40, 3.59, 6.38, 8.78, 11.47] },
];

/** Table 2's figure at (length, ratio), or null where the paper has none. */
export function paperTable2(seqLen: number, ratio: number): { speedup: number; memoryReductionPct: number } | null {
  const row = PAPER_TABLE2.find((r) => r.seqLen === seqLen);
  const i = PAPER_RATIOS.findIndex((r) => Math.abs(r - ratio) < 1e-9);
  return row && i >= 0 ? { speedup: row.speedup[i], memoryReductionPct: row.memoryReductionPct[i] } : null;
}

/**
 * Fig. 5 (Mamba-2-130M prefill latency against the ratio, A100) as the text states it: dense ms and ms at r = 0.9
 * where given ("about"; L64 and L512: "little change with pruning").
 */
export const PAPER_FIG5_MS: readonly { seqLen: number; denseMs: number; r09Ms: number | null }[] = [
  { seqLen: 64, denseMs: 15, r09Ms: null },
  { seqLen: 512, denseMs: 45, r09Ms: null },
  { seqLen: 4096, denseMs: 300, r09Ms: 280 },
  { seqLen: 8192, denseMs: 400, r09Ms: 370 },
  { seqLen: 16384, denseMs: 630, r09Ms: 560 },
];

/** Fig. 4 / Section 6.2: zero-shot accuracy (%) dense and at r = 0.9, as the text states it. */
export const PAPER_FIG4_ACCURACY: readonly { task: string; densePct: number; r09Pct: number; note: string }[] = [
  { task: "piqa", densePct: 65, r09Pct: 60, note: "65% → 60%" },
  { task: "arc_easy", densePct: 57, r09Pct: 25, note: "57% → 25%" },
  { task: "hellaswag", densePct: 37, r09Pct: 28, note: "37% → 28%" },
  { task: "openbookqa", densePct: 21, r09Pct: 21, note: "20–22% throughout" },
];

/** The paper's impact zones by pruning ratio and the mean accuracy loss it states for each (percentage points). */
export const PAPER_ZONES: readonly { zone: "safe" | "moderate" | "high"; range: string; meanLossPct: number }[] = [
  { zone: "safe", range: "r ≤ 0.3", meanLossPct: 0.7 },
  { zone: "moderate", range: "0.3 < r ≤ 0.7", meanLossPct: 12.2 },
  { zone: "high", range: "r > 0.7", meanLossPct: 22.3 },
];

/**
 * Fig. 6: the marginal accuracy drop |ΔAcc/Δr| over steps of δ = 0.1, accuracy as a fraction: below 0.01 for r ≤ 0.5
 * and above 0.03 beyond, as the text states it.
 */
export const PAPER_MARGINAL = { delta: 0.1, upTo: 0.5, below: 0.01, beyondAbove: 0.03 } as const;
