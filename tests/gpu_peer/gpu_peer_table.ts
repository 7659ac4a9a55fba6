/**
 * The pure part of the GPU peer harness (tests/gpu_peer/peer_gpu.ts): the planned runs, the command lines of both
 * sides (our `bench`, tests/gpu_peer/mamba_ssm_bench.py), their JSON read back and checked, the per-run summaries
 * over the interleaved repetitions, and the one markdown table. Tested by tests/gpu_peer/peer_gpu_test.ts.
 *
 * @module
 */
import type { MambaConfig } from "../../mod.ts";
import { formatSummary, summarize, type Summary } from "../llama_cpp/peer_table.ts";

/** What a row times: prefill of B×L tokens, or one decode step of B tokens (step loop, greedy, sampled). */
export type Mode = "prefill" | "decode" | "greedy" | "sampled";
/** The modes, in table order. */
export const MODES: readonly Mode[] = ["prefill", "decode", "greedy", "sampled"];
/** mamba_ssm's weight dtypes (ours is f32). */
export type Dtype = "fp32" | "bf16";

/** One configuration both sides time. Decode modes have seqLen 1. */
export interface PlannedRun {
  arch: "mamba1" | "mamba2";
  mode: Mode;
  batch: number;
  seqLen: number;
}

/** What to time for one model shape. */
export interface RunPlanOptions {
  modes: readonly Mode[];
  /** Prefill batch sizes (the table: 1). */
  prefillBatch: readonly number[];
  /** Prefill lengths. */
  seqlens: readonly number[];
  /** Decode batch sizes. */
  batches: readonly number[];
}

/**
 * The runs of one architecture, in the order mamba_ssm_bench.py times them (its `plan`): prefill at each prefill batch
 * and length, then per decode batch the decode modes.
 */
export function planRuns(arch: PlannedRun["arch"], o: RunPlanOptions): PlannedRun[] {
  const runs: PlannedRun[] = [];
  if (o.modes.includes("prefill")) {
    for (const batch of o.prefillBatch) {
      for (const seqLen of o.seqlens) runs.push({ arch, mode: "prefill", batch, seqLen });
    }
  }
  for (const batch of o.batches) {
    for (const mode of ["decode", "greedy", "sampled"] as const) {
      if (o.modes.includes(mode)) runs.push({ arch, mode, batch, seqLen: 1 });
    }
  }
  return runs;
}

/** A run's key: "mamba1 prefill B1 L512". */
export function runKey(r: PlannedRun): string {
  return `${r.arch} ${r.mode} B${r.batch} L${r.seqLen}`;
}

/** Options shared by both sides' command lines. */
export interface SideOptions extends RunPlanOptions {
  decodeTokens: number;
  warmup: number;
  iters: number;
}

/**
 * Our `bench` command lines for one shape (`shape`: `["--size", "130m"]` or `["--dims", "..."]`): one for the
 * prefill lengths at the prefill batches, one for decode at the decode batches (its 16-token prompts' prefill rows
 * are not in the plan and are dropped); one only, when the batch lists are equal.
 */
export function oursBenchArgs(
  arch: PlannedRun["arch"],
  shape: readonly string[],
  o: SideOptions,
  extra: readonly string[],
): string[][] {
  const common = ["--warmup", String(o.warmup), "--iters", String(o.iters), "--skip-peaks", ...extra];
  const head = ["bench", "--arch", arch, ...shape];
  const prefill = o.modes.includes("prefill");
  const decode = o.modes.some((m) => m !== "prefill");
  const same = o.prefillBatch.join(",") === o.batches.join(",");
  if (prefill && decode && same) {
    return [[
      ...head,
      "--seqlens",
      o.seqlens.join(","),
      "--batch",
      o.batches.join(","),
      "--decode-tokens",
      String(o.decodeTokens),
      ...common,
    ]];
  }
  const out: string[][] = [];
  if (prefill) {
    out.push([
      ...head,
      "--seqlens",
      o.seqlens.join(","),
      "--batch",
      o.prefillBatch.join(","),
      "--decode-tokens",
      "0",
      ...common,
    ]);
  }
  if (decode) {
    out.push([
      ...head,
      "--seqlens",
      "16",
      "--batch",
      o.batches.join(","),
      "--decode-tokens",
      String(o.decodeTokens),
      ...common,
    ]);
  }
  return out;
}

/** The mamba_ssm_bench.py arguments for one config (its dims from ours, so both sides time one shape). */
export function pythonArgs(
  c: MambaConfig,
  label: string,
  o: SideOptions & { dtypes: readonly Dtype[]; prompt: number },
): string[] {
  return [
    "--arch",
    c.arch,
    "--label",
    label,
    "--d-model",
    String(c.dModel),
    "--n-layer",
    String(c.nLayer),
    "--vocab",
    String(c.vocabSize),
    "--d-state",
    String(c.dState),
    "--expand",
    String(c.dInner / c.dModel),
    "--d-conv",
    String(c.dConv),
    ...(c.arch === "mamba2"
      ? ["--headdim", String(c.headDim), "--ngroups", String(c.nGroups), "--chunk-size", String(c.chunkSize)]
      : []),
    "--prefill-batch",
    o.prefillBatch.join(","),
    "--seqlens",
    o.seqlens.join(","),
    "--batches",
    o.batches.join(","),
    "--modes",
    o.modes.join(","),
    "--dtypes",
    o.dtypes.join(","),
    "--decode-tokens",
    String(o.decodeTokens),
    "--prompt",
    String(o.prompt),
    "--warmup",
    String(o.warmup),
    "--iters",
    String(o.iters),
  ];
}

/** One side's figure for one run in one repetition: ms (per forward for prefill, per step for decode modes). */
export interface RunFigure {
  ms: number;
  /** Ours, where the bench reports it. */
  dispatchesPerToken?: number;
  /** Ours: the GPU time of the same work from device timestamps (bench's `gpuMs`), where the bench reports it. */
  gpuMs?: number;
}

/** One repetition of one side: figures and errors by run key. */
export interface SideRep {
  figures: Map<string, RunFigure>;
  errors: Map<string, string>;
}

function positive(x: unknown): x is number {
  return typeof x === "number" && Number.isFinite(x) && x > 0;
}

/**
 * The planned runs' figures in our `bench --json` output (`what` names the file in errors). Rows outside the plan
 * are ignored; a planned row the bench reported as failed becomes an error.
 * @throws Error naming `what` when the text is not a bench JSON (no rows array, a row without arch/mode/batch/seqLen)
 */
export function parseOursBench(text: string, what: string): SideRep {
  let doc: { rows?: unknown };
  try {
    doc = JSON.parse(text);
  } catch {
    throw new Error(`${what}: not JSON: ${text.slice(0, 200)}`);
  }
  if (!Array.isArray(doc.rows)) throw new Error(`${what}: no "rows" array`);
  const figures = new Map<string, RunFigure>(), errors = new Map<string, string>();
  for (const row of doc.rows as Record<string, unknown>[]) {
    const { arch, mode, batch, seqLen } = row;
    if (
      (arch !== "mamba1" && arch !== "mamba2") || typeof mode !== "string" || !positive(batch) || !positive(seqLen)
    ) {
      throw new Error(`${what}: a row without arch/mode/batch/seqLen: ${JSON.stringify(row).slice(0, 200)}`);
    }
    if (!(MODES as readonly string[]).includes(mode)) continue;
    const key = runKey({ arch, mode: mode as Mode, batch, seqLen });
    if (typeof row.error === "string") errors.set(key, row.error);
    else if (!positive(row.ms)) errors.set(key, `no positive ms in ${what}`);
    else {
      figures.set(key, {
        ms: row.ms,
        ...(positive(row.dispatchesPerToken) ? { dispatchesPerToken: row.dispatchesPerToken } : {}),
        ...(positive(row.gpuMs) ? { gpuMs: row.gpuMs } : {}),
      });
    }
  }
  return { figures, errors };
}

/** What mamba_ssm_bench.py says about itself (versions, device, the paths that ran). */
export interface MambaSsmMeta {
  mambaSsm: { version: string; commit: string | null };
  torch: string;
  triton: string;
  device: string;
  tf32Matmul: boolean;
  /** cuDNN's TF32 switch (PyTorch's default: on), which the prefill's torch conv1d may use. */
  tf32Cudnn: boolean;
  parameters: number;
  paths: Record<string, string>;
}

/**
 * mamba_ssm_bench.py's JSON: per dtype, the planned runs' figures (the median of its timed runs) and errors.
 * @throws Error naming `what` when the text is not its JSON
 */
export function parseMambaSsm(text: string, what: string): { meta: MambaSsmMeta; byDtype: Map<Dtype, SideRep> } {
  let doc: Record<string, unknown>;
  try {
    doc = JSON.parse(text);
  } catch {
    throw new Error(`${what}: not JSON: ${text.slice(0, 200)}`);
  }
  if (!Array.isArray(doc.rows) || typeof doc.paths !== "object" || typeof doc.torch !== "string") {
    throw new Error(`${what}: not mamba_ssm_bench.py output (no rows, paths or torch)`);
  }
  const byDtype = new Map<Dtype, SideRep>();
  for (const row of doc.rows as Record<string, unknown>[]) {
    const { arch, mode, batch, seqLen, dtype } = row;
    if (
      (arch !== "mamba1" && arch !== "mamba2") || !(MODES as readonly string[]).includes(mode as string) ||
      !positive(batch) || !positive(seqLen) || (dtype !== "fp32" && dtype !== "bf16")
    ) {
      throw new Error(`${what}: a row without arch/mode/batch/seqLen/dtype: ${JSON.stringify(row).slice(0, 200)}`);
    }
    if (!byDtype.has(dtype)) byDtype.set(dtype, { figures: new Map(), errors: new Map() });
    const side = byDtype.get(dtype)!;
    const key = runKey({ arch, mode: mode as Mode, batch, seqLen });
    if (typeof row.error === "string") side.errors.set(key, row.error);
    else if (!positive(row.ms)) side.errors.set(key, `no positive ms in ${what}`);
    else side.figures.set(key, { ms: row.ms });
  }
  const { mambaSsm, torch, triton, device, tf32Matmul, tf32Cudnn, parameters, paths } = doc as unknown as MambaSsmMeta;
  return { meta: { mambaSsm, torch, triton, device, tf32Matmul, tf32Cudnn, parameters, paths }, byDtype };
}

/** One side's summary of one run over the repetitions: ms median and range, or why it has none. */
export interface SideSummary {
  ms: Summary | null;
  /** The first error seen, when no repetition gave a figure; absent when the side has no such run (e.g. a bench
   * without the sampled mode). */
  error?: string;
}

/** Both sides' figures for one planned run of one shape. */
export interface GpuPeerRow extends PlannedRun {
  size: string;
  /** `gpu`: the GPU time's median and range over the repetitions that reported one. */
  ours: SideSummary & { dispatchesPerToken?: number; gpu?: Summary };
  theirs: Partial<Record<Dtype, SideSummary>>;
}

function side(reps: readonly SideRep[], key: string): SideSummary {
  const ms = reps.flatMap((r) => (r.figures.has(key) ? [r.figures.get(key)!.ms] : []));
  if (ms.length > 0) return { ms: summarize(ms) };
  const error = reps.map((r) => r.errors.get(key)).find((e) => e !== undefined);
  return error === undefined ? { ms: null } : { ms: null, error };
}

/** The rows of one shape: per planned run, ours and mamba_ssm's per dtype over the repetitions given. */
export function mergeRuns(
  size: string,
  plan: readonly PlannedRun[],
  ours: readonly SideRep[],
  theirs: ReadonlyMap<Dtype, readonly SideRep[]>,
): GpuPeerRow[] {
  return plan.map((run) => {
    const key = runKey(run);
    const dispatches = ours.map((r) => r.figures.get(key)?.dispatchesPerToken).find((d) => d !== undefined);
    const gpu = ours.flatMap((r) => {
      const g = r.figures.get(key)?.gpuMs;
      return g === undefined ? [] : [g];
    });
    const t: Partial<Record<Dtype, SideSummary>> = {};
    for (const [dtype, reps] of theirs) t[dtype] = side(reps, key);
    return {
      ...run,
      size,
      ours: {
        ...side(ours, key),
        ...(dispatches !== undefined ? { dispatchesPerToken: dispatches } : {}),
        ...(gpu.length > 0 ? { gpu: summarize(gpu) } : {}),
      },
      theirs: t,
    };
  });
}

/** Tokens one timed unit processes: B·L for prefill, B for a decode step. */
export function tokensOf(r: PlannedRun): number {
  return r.mode === "prefill" ? r.batch * r.seqLen : r.batch;
}

/** Speed ratio ours ÷ mamba_ssm from the medians (their ms over ours: above 1 = ours faster), or null. */
export function speedRatio(ours: SideSummary, theirs: SideSummary | undefined): number | null {
  if (ours.ms === null || theirs?.ms == null) return null;
  return theirs.ms.median / ours.ms.median;
}

function msCell(s: SideSummary | undefined): string {
  if (s === undefined || (s.ms === null && s.error === undefined)) return "—";
  if (s.ms === null) return `failed: ${(s.error ?? "").slice(0, 40).replaceAll("|", "/")}`;
  const digits = s.ms.median < 10 ? 3 : s.ms.median < 100 ? 2 : 1;
  return formatSummary(s.ms, digits);
}

function tokSCell(r: PlannedRun, s: SideSummary | undefined): string {
  return s?.ms ? (tokensOf(r) / (s.ms.median / 1000)).toFixed(0) : "—";
}

/**
 * The markdown table: per run the shape, mode, batch and length; our ms (median and min–max over the repetitions) and
 * tok/s; ours' GPU time from device timestamps where the bench reports it (what the GPU needed, without the host's
 * encoding and the readback's wait); mamba_ssm's per dtype with the ratio ours ÷ mamba_ssm (above 1 = ours faster,
 * from the wall times); ours' dispatches per token where the bench reports them.
 */
export function gpuPeerTable(rows: readonly GpuPeerRow[], dtypes: readonly Dtype[]): string {
  const withDispatches = rows.some((r) => r.ours.dispatchesPerToken !== undefined);
  const withGpu = rows.some((r) => r.ours.gpu !== undefined);
  const head = ["arch", "size", "mode", "batch", "length", "ours ms", "ours tok/s"];
  if (withGpu) head.push("ours GPU ms");
  for (const d of dtypes) head.push(`mamba_ssm ${d} ms`, `${d} tok/s`, `ratio vs ${d}`);
  if (withDispatches) head.push("ours dispatches/token");
  const lines = [`| ${head.join(" | ")} |`, `|${head.map((_, i) => (i < 3 ? " --- " : " ---: ")).join("|")}|`];
  for (const r of rows) {
    const cells = [
      r.arch,
      r.size,
      r.mode,
      String(r.batch),
      r.mode === "prefill" ? String(r.seqLen) : "1 step",
      msCell(r.ours),
      tokSCell(r, r.ours),
    ];
    if (withGpu) cells.push(r.ours.gpu ? msCell({ ms: r.ours.gpu }) : "—");
    for (const d of dtypes) {
      const ratio = speedRatio(r.ours, r.theirs[d]);
      cells.push(msCell(r.theirs[d]), tokSCell(r, r.theirs[d]), ratio === null ? "—" : `${ratio.toFixed(2)}×`);
    }
    if (withDispatches) cells.push(r.ours.dispatchesPerToken?.toFixed(0) ?? "—");
    lines.push(`| ${cells.join(" | ")} |`);
  }
  return lines.join("\n");
}
