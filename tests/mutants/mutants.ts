/**
 * The mutation table of `deno task mutants` (tests/mutants/run.ts): each row is a defect a reviewer could introduce
 * and the tests that must catch it. Issue 20's six defects that once left the suite green come first (1–6), then
 * a few more on the same figures. A snippet must occur exactly once in its file (checked by mutants_test.ts on
 * every `deno task test`), so a change to the product that moves it breaks the table visibly. Add the mutants a new
 * feature needs as it lands.
 *
 * @module
 */
import type { Mutant } from "./_mutant.ts";

const PROFILER_TESTS = ["tests/runtime/profiler_test.ts", "tests/cli/profile_cli_test.ts"];
const DEMO_BENCH = ["tests/cli/demo_bench_cli_test.ts"];

/** Every mutant, in the order they run. */
export const MUTANTS: Mutant[] = [
  // 1. Profiler times.
  {
    name: "profiler-times-zero",
    file: "runtime/profiler.ts",
    find: 'if (this.method === "wall-clock") ms = performance.now() - t0;',
    replace: 'if (this.method === "wall-clock") ms = (performance.now() - t0) * 0;',
    why: "issue 20 #1: every wall-clock component time × 0",
    killedBy: PROFILER_TESTS,
  },
  {
    name: "profiler-times-constant",
    file: "runtime/profiler.ts",
    find: 'if (this.method === "wall-clock") ms = performance.now() - t0;',
    replace: 'if (this.method === "wall-clock") ms = 0.05;',
    why: "every wall-clock component time a constant 50 µs (positive, but does not grow with the work)",
    killedBy: PROFILER_TESTS,
  },
  {
    name: "profiler-tokens-per-s",
    file: "runtime/profiler.ts",
    find: "tokensPerS: e2e.median > 0 ? (batch * tokens) / (e2e.median / 1e3) : 0,",
    replace: "tokensPerS: e2e.median > 0 ? tokens / (e2e.median / 1e3) : 0,",
    why: "end-to-end tok/s forgets the batch",
    killedBy: ["tests/runtime/profiler_test.ts"],
  },
  {
    name: "profiler-roofline-bandwidth",
    file: "runtime/profiler.ts",
    find: "const attainable = Math.min(peaks.gemmGflops, intensity * peaks.bandwidthGBs);",
    replace: "const attainable = Math.min(peaks.gemmGflops, peaks.bandwidthGBs);",
    why: "roofline: attainable GFLOP/s ignores the arithmetic intensity (bandwidth taken as GFLOP/s)",
    killedBy: ["tests/runtime/profiler_test.ts"],
  },
  // 2. Sweep accuracy (killed by part B's sweep test, branch i20-oracles).
  {
    name: "sweep-dense-weights",
    file: "cli/commands/sweep.ts",
    find: "...(await measure(`${name} r=${ratio}`, pruned))",
    replace: "...(await measure(`${name} r=${ratio}`, weights))",
    why: "issue 20 #2: sweep evaluates the dense weights at every pruned point",
    killedBy: ["tests/cli/sweep_cli_test.ts"],
  },
  // 3. Scores (killed by part B's score oracles).
  {
    name: "score-delta-b-from-c-mamba1",
    file: "runtime/prune/calibrate.ts",
    find: "acc.deltaB[s] += dt[d] * Math.abs(B[s]);",
    replace: "acc.deltaB[s] += dt[d] * Math.abs(C[s]);",
    why: "issue 20 #3: Mamba-1 delta_b from |C_s| instead of |B_s|",
    killedBy: ["tests/runtime/prune_select_test.ts"],
  },
  {
    name: "score-delta-b-from-c-mamba2",
    file: "runtime/prune/calibrate.ts",
    find: "acc.deltaB[s] += dt[hd] * Math.abs(Bt[g * N + s]);",
    replace: "acc.deltaB[s] += dt[hd] * Math.abs(Ct[g * N + s]);",
    why: "issue 20 #3: Mamba-2 delta_b from |C_s| instead of |B_s|",
    killedBy: ["tests/runtime/prune_select_test.ts"],
  },
  // 4. CLI prune (killed by part B's prune CLI test).
  {
    name: "prune-cli-saves-dense",
    file: "cli/commands/prune.ts",
    find: "const pruned = pruneWeights(weights, keep, { mode, bridges });",
    replace: "const pruned = weights;",
    why: "issue 20 #4: the pruned model is saved without pruning",
    killedBy: ["tests/cli/prune_cli_test.ts"],
  },
  {
    name: "prune-cli-no-bridge",
    file: "cli/commands/prune.ts",
    find: "const pruned = pruneWeights(weights, keep, { mode, bridges });",
    replace: "const pruned = pruneWeights(weights, keep, { mode, bridges: undefined });",
    why: "issue 20 #4: --bridge fits the bridge but does not apply it",
    killedBy: ["tests/cli/prune_cli_test.ts"],
  },
  // 5. Eval metrics (killed by part B's eval tests).
  {
    name: "eval-worst-choice",
    file: "runtime/eval/multiple_choice.ts",
    find: "pred: argmax(lls),",
    replace: "pred: argmax(lls.map((ll) => -ll)),",
    why: "issue 20 #5: multiple choice picks the least likely choice (acc)",
    killedBy: ["tests/cli/eval_cli_test.ts", "tests/runtime/eval_test.ts"],
  },
  {
    name: "eval-perplexity-off",
    file: "runtime/eval/perplexity.ts",
    find: "ppl: Math.exp(nll / scored),",
    replace: "ppl: Math.exp(nll / (scored + 1)),",
    why: "issue 20 #5: perplexity divides by one token too many",
    killedBy: ["tests/cli/eval_cli_test.ts", "tests/runtime/eval_test.ts"],
  },
  // 6. Checks the product prints: demo, bench, worker threads.
  {
    name: "demo-check-ignored",
    file: "cli/commands/demo.ts",
    find: "if (!(maxDiff <= bound)) {",
    replace: "if (false) {",
    why: "issue 20 #6: demo computes its decode-vs-prefill difference but never fails on it",
    killedBy: DEMO_BENCH,
  },
  {
    name: "demo-steps-wrong-token",
    file: "cli/commands/demo.ts",
    find: "const stepped = await model.step([prompt[promptLen - 1]], state);",
    replace: "const stepped = await model.step([prompt[promptLen - 2]], state);",
    why: "issue 20 #6: demo's decode continues with the wrong token (decode ≠ prefill) and still exits 0",
    killedBy: DEMO_BENCH,
  },
  {
    name: "bench-tokens-per-s",
    file: "cli/commands/bench.ts",
    find: "tokPerS: (batch * seqLen) / (ms / 1000),",
    replace: "tokPerS: (batch * seqLen) / ms,",
    why: "issue 20 #6: bench prefill tok/s is tokens per millisecond",
    killedBy: DEMO_BENCH,
  },
  {
    name: "bench-gflops-units",
    file: "cli/commands/bench.ts",
    find: "const gflops = sum(forwardFlops(config, batch, seqLen, batch)) / (ms * 1e6);",
    replace: "const gflops = sum(forwardFlops(config, batch, seqLen, batch)) / (ms * 1e3);",
    why: "issue 20 #6: bench prefill GFLOP/s off by 1000 (above the measured peak)",
    killedBy: DEMO_BENCH,
  },
  {
    name: "bench-roofline-bandwidth",
    file: "cli/commands/bench.ts",
    find: "const bwMs = peaks ? bytesPerStep / (peaks.bandwidthGBs * 1e6) : NaN;",
    replace: "const bwMs = peaks ? bytesPerStep / (peaks.bandwidthGBs * 1e9) : NaN;",
    why: "bench decode roofline: bandwidth time with GB/s taken as bytes/µs",
    killedBy: DEMO_BENCH,
  },
  {
    name: "bench-table-not-json",
    file: "cli/commands/bench.ts",
    find: "r.gflops.toFixed(2),",
    replace: "(r.gflops * 1e3).toFixed(2),",
    why: "bench prints MFLOP/s in the GFLOP/s column (table ≠ JSON)",
    killedBy: DEMO_BENCH,
  },
  {
    name: "wasm-threads-caller-only",
    file: "wasm/dispatch.ts",
    find: "if (argsPerThread.length === 1 || !this.#pool) {",
    replace: "if (argsPerThread.length >= 1 || !this.#pool) {",
    why: "issue 20 #6: a 3-thread pool is created but all the work runs on the calling thread",
    killedBy: ["tests/wasm/node_workers_test.ts"],
  },
];
