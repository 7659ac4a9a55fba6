/**
 * The pure part of the CPU peer harness (tests/llama_cpp/peer_cpu.ts): summaries of repeated timings (median and
 * min–max), the llama.cpp bench runner's reply lines checked, and the one markdown table. Tested by
 * tests/llama_cpp/peer_cpu_test.ts.
 *
 * @module
 */

/** Median and range of repeated measurements. */
export interface Summary {
  median: number;
  min: number;
  max: number;
  n: number;
}

/** Median (mean of the middle two for an even count), min and max of `xs` (at least one finite value). */
export function summarize(xs: readonly number[]): Summary {
  if (xs.length === 0 || xs.some((x) => !Number.isFinite(x))) {
    throw new RangeError(`summarize: need finite values, got [${xs.join(", ")}]`);
  }
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  const median = s.length % 2 === 1 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
  return { median, min: s[0], max: s[s.length - 1], n: s.length };
}

/** One timed run of a runtime: prefill time of L tokens and each decode step's time (ms). */
export interface RunTiming {
  prefillMs: number;
  decodeMs: number[];
}

/** Prefill tok/s and decode ms/token (mean over the run's steps) of one run. */
export function runRates(run: RunTiming, prefillTokens: number): { prefillTokS: number; decodeMsPerToken: number } {
  const decode = run.decodeMs.length === 0 ? NaN : run.decodeMs.reduce((a, b) => a + b, 0) / run.decodeMs.length;
  return { prefillTokS: prefillTokens / (run.prefillMs / 1000), decodeMsPerToken: decode };
}

/**
 * The timing in one reply line of tests/llama_cpp/llama_cpp_bench_runner.mjs to a "run" request of `decode` steps.
 * @throws Error quoting the line when it is not JSON, reports a failure, or lacks a positive prefill time or the
 *   `decode` positive step times
 */
export function parseRunnerRun(line: string, decode: number): RunTiming {
  let r: { ok?: boolean; error?: string; prefillMs?: unknown; decodeMs?: unknown };
  try {
    r = JSON.parse(line);
  } catch {
    throw new Error(`llama.cpp bench runner: not a JSON line: ${line.slice(0, 200)}`);
  }
  if (r.ok !== true) throw new Error(`llama.cpp bench runner failed: ${r.error ?? line.slice(0, 200)}`);
  const ok = (x: unknown): x is number => typeof x === "number" && Number.isFinite(x) && x > 0;
  if (!ok(r.prefillMs)) throw new Error(`llama.cpp bench runner: no positive prefillMs in ${line.slice(0, 200)}`);
  if (!Array.isArray(r.decodeMs) || r.decodeMs.length !== decode || !r.decodeMs.every(ok)) {
    throw new Error(`llama.cpp bench runner: expected ${decode} positive decodeMs in ${line.slice(0, 200)}`);
  }
  return { prefillMs: r.prefillMs, decodeMs: r.decodeMs as number[] };
}

/** Both runtimes' figures for one model, format and thread count. */
export interface PeerRow {
  model: string;
  /** The GGUF type of the matrices llama.cpp ran (F32, Q8_0, Q4_0). */
  format: string;
  threads: number;
  /** What our runtime really computed with, e.g. "f32", "q8_0" or "q4_0". */
  oursRanAs: string;
  ours: { prefillTokS: Summary; decodeMs: Summary };
  llama: { prefillTokS: Summary; decodeMs: Summary };
}

/** One row from the runs of both sides (interleaved by the caller). */
export function peerRow(
  head: Omit<PeerRow, "ours" | "llama">,
  prefillTokens: number,
  ours: readonly RunTiming[],
  llama: readonly RunTiming[],
): PeerRow {
  const side = (runs: readonly RunTiming[]) => {
    const rates = runs.map((r) => runRates(r, prefillTokens));
    return {
      prefillTokS: summarize(rates.map((r) => r.prefillTokS)),
      decodeMs: summarize(rates.map((r) => r.decodeMsPerToken)),
    };
  };
  return { ...head, ours: side(ours), llama: side(llama) };
}

/** A figure with its range: "233 (220–240)"; `digits` decimals. */
export function formatSummary(s: Summary, digits: number): string {
  const f = (x: number) => x.toFixed(digits);
  return s.n === 1 ? f(s.median) : `${f(s.median)} (${f(s.min)}–${f(s.max)})`;
}

/**
 * The markdown table: per row the model, llama.cpp's format, what ours ran, threads, prefill tok/s of both (median and
 * min–max over the runs), decode ms/token of both, and the speed ratios ours ÷ llama.cpp (prefill: tok/s over tok/s;
 * decode: llama.cpp's ms over ours; above 1 = ours faster), from the medians.
 */
export function peerTable(rows: readonly PeerRow[], prefillTokens: number): string {
  const head = [
    "model",
    "format",
    "ours ran",
    "threads",
    `prefill L${prefillTokens} tok/s ours`,
    "llama.cpp",
    "decode ms/token ours",
    "llama.cpp",
    "prefill ratio",
    "decode ratio",
  ];
  const lines = [`| ${head.join(" | ")} |`, `|${head.map((_, i) => (i < 3 ? " --- " : " ---: ")).join("|")}|`];
  for (const r of rows) {
    const cells = [
      r.model,
      r.format,
      r.oursRanAs,
      String(r.threads),
      formatSummary(r.ours.prefillTokS, 0),
      formatSummary(r.llama.prefillTokS, 0),
      formatSummary(r.ours.decodeMs, 2),
      formatSummary(r.llama.decodeMs, 2),
      `${(r.ours.prefillTokS.median / r.llama.prefillTokS.median).toFixed(2)}×`,
      `${(r.llama.decodeMs.median / r.ours.decodeMs.median).toFixed(2)}×`,
    ];
    lines.push(`| ${cells.join(" | ")} |`);
  }
  return lines.join("\n");
}
