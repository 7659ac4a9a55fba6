/**
 * `perfmamba demo` and `perfmamba bench` run for real at a tiny shape (`--dims`) on WASM, their figures checked by
 * relations that hold whatever the machine's speed: tok/s = 1000·tokens/ms, GFLOP/s = the analytic FLOPs of
 * runtime/cost.ts over the time, the roofline fractions recomputed from the measured peaks, achieved GFLOP/s not above
 * the measured GEMM peak beyond noise, the printed table equal to the JSON; and demo's decode = prefill check fails the
 * command when decode does not reproduce prefill.
 */
import assert from "node:assert/strict";
import { cli } from "./_cli.ts";
import { checkDecodeMatchesPrefill, DECODE_TOLERANCE } from "../../cli/commands/demo.ts";
import { forwardFlops } from "../../runtime/cost.ts";
import { makeConfig } from "../../runtime/presets.ts";
import { parseDims } from "../../cli/commands/profile.ts";

const DIMS = "d_model=64,n_layer=2,vocab=256";
const WASM = ["--backend", "wasm", "--threads", "1"];
/**
 * How far achieved GFLOP/s may exceed the measured GEMM peak. The peak is the best of 3 runs of a 1024³ GEMM taken
 * once, so on a shared machine it can land in a busy moment while the small prefills land in quiet ones: under load
 * from other processes on the 2-core VM one measurement came out 2.9× below a prefill's rate. So the bound is 2× and
 * the bench runs again (up to {@link PEAK_ATTEMPTS} times) when only this relation fails; a unit slip (1000×) fails
 * every attempt. Every other relation is exact and must hold on every run.
 */
const PEAK_NOISE = 2;
const PEAK_ATTEMPTS = 3;

const closeRel = (a: number, b: number, rel: number, what: string) =>
  assert.ok(Math.abs(a - b) <= rel * Math.abs(b), `${what}: ${a} vs ${b}`);

Deno.test("cli demo --dims on wasm: runs, figures consistent, decode reproduces prefill", async () => {
  const promptLen = 16;
  const r = await cli("demo", "--dims", DIMS, "--prompt-len", String(promptLen), "--new-tokens", "4", ...WASM);
  assert.equal(r.code, 0, r.stderr);
  const lines = r.stdout.split("\n").filter((l) => /^mamba[12] /.test(l));
  assert.deepEqual(lines.map((l) => l.split(" ")[0]), ["mamba1", "mamba2"], r.stdout);
  for (const line of lines) {
    const m = line.match(
      /prefill (\d+) tokens (\d+) ms \((\d+) tok\/s\) \| decode ([\d.]+) ms\/token \(([\d.]+) tok\/s\) \| decode vs prefill max \|Δlogit\| ([\d.e+-]+) \(max \|logit\| ([\d.]+)\)/,
    );
    assert.ok(m, line);
    const [, n, ms, tps, dms, dtps, diff, ref] = m.slice(0).map(Number);
    assert.equal(n, promptLen);
    // Times are printed rounded (prefill to 1 ms, decode to 0.1 ms): each tok/s, itself rounded, must lie between
    // the rates of the shortest and longest time that rounds to the printed one.
    const within = (rate: number, n: number, t: number, half: number, rateHalf: number, what: string) =>
      assert.ok(
        rate >= (1000 * n) / (t + half) - rateHalf && (t <= half || rate <= (1000 * n) / (t - half) + rateHalf),
        `${line}: ${what} ${rate} tok/s for ${n} tokens in ${t} ms (± ${half})`,
      );
    assert.ok(ms >= 0 && dms >= 0 && tps > 0 && dtps > 0, line);
    within(tps, n, ms, 0.5, 0.5, "prefill");
    within(dtps, 1, dms, 0.05, 0.05, "decode");
    assert.ok(diff <= DECODE_TOLERANCE * Math.max(1, ref), line);
  }
});

Deno.test("demo's decode = prefill check: fails above its tolerance, naming the difference and the bound", () => {
  checkDecodeMatchesPrefill("ok", 1e-6, 0.5);
  checkDecodeMatchesPrefill("at the bound", DECODE_TOLERANCE * 4, 4);
  assert.throws(
    () => checkDecodeMatchesPrefill("mamba1 tiny", 0.25, 0.5),
    /mamba1 tiny: decode does not reproduce prefill: max \|Δlogit\| 2\.50e-1 > tolerance 1\.00e-3/,
  );
  assert.throws(() => checkDecodeMatchesPrefill("scaled", 5e-3, 4), /tolerance 4\.00e-3/);
  assert.throws(() => checkDecodeMatchesPrefill("nan", NaN, 1), /max \|Δlogit\| NaN/);
});

interface BenchRow {
  arch: "mamba1" | "mamba2";
  mode: "prefill" | "decode" | "greedy" | "sampled-step" | "sampled";
  batch: number;
  seqLen: number;
  ms: number;
  tokPerS: number;
  gflops: number;
  ofPeak: number | null;
  bytesPerStep?: number;
  bound?: "bandwidth" | "compute";
  dispatchesPerToken?: number | null;
  error?: string;
}

/** Runs bench into `json`, checks every exact relation, and returns the largest achieved GFLOP/s ÷ measured peak. */
async function benchOnce(json: string): Promise<{ ratio: number; where: string }> {
  const r = await cli(
    "bench",
    "--dims",
    DIMS,
    "--seqlens",
    "8,24",
    "--batch",
    "1,2",
    "--decode-tokens",
    "3",
    "--iters",
    "2",
    ...WASM,
    "--json",
    json,
  );
  assert.equal(r.code, 0, r.stderr);
  const report = JSON.parse(await Deno.readTextFile(json)) as {
    backend: string;
    size: string;
    peaks: { bandwidthGBs: number; gemmGflops: number };
    rows: BenchRow[];
  };
  assert.equal(report.backend, "wasm");
  assert.equal(report.size, DIMS);
  const { bandwidthGBs: bw, gemmGflops: peak } = report.peaks;
  assert.ok(bw > 0 && peak > 0);
  // 2 archs × 2 batches × (2 prefill lengths + decode + greedy), and sampled-step + sampled at batch 1.
  assert.equal(report.rows.length, 2 * 2 * 4 + 2 * 2);
  for (const arch of ["mamba1", "mamba2"]) {
    const modes = report.rows.filter((row) => row.arch === arch && row.batch === 1).map((row) => row.mode);
    assert.deepEqual(modes.slice(-2), ["sampled-step", "sampled"], arch);
  }
  let worst = { ratio: 0, where: "" };
  for (const row of report.rows) {
    const what = `${row.arch} ${row.mode} B${row.batch} L${row.seqLen}`;
    assert.equal(row.error, undefined, what);
    assert.ok(row.ms > 0, what);
    const cfg = makeConfig(row.arch, parseDims(DIMS));
    const tokens = row.mode === "prefill" ? row.seqLen : 1;
    closeRel(row.tokPerS, (1000 * row.batch * tokens) / row.ms, 1e-9, `${what} tok/s`);
    const flops = Object.values(
      row.mode === "prefill" ? forwardFlops(cfg, row.batch, tokens, row.batch) : forwardFlops(cfg, row.batch, 1),
    ).reduce((a, b) => a + b, 0);
    closeRel(row.gflops, flops / (row.ms * 1e6), 1e-9, `${what} GFLOP/s`);
    if (row.gflops / peak > worst.ratio) {
      worst = { ratio: row.gflops / peak, where: `${what}: ${row.gflops} GFLOP/s, measured peak ${peak}` };
    }
    if (row.mode === "prefill") closeRel(row.ofPeak!, row.gflops / peak, 1e-9, `${what} of peak`);
    else {
      // Decode moves every f32 weight once per step and the state twice (read and written).
      assert.ok(row.bytesPerStep! > 0, what);
      const bwMs = row.bytesPerStep! / (bw * 1e6), flopMs = flops / (peak * 1e6);
      closeRel(row.ofPeak!, Math.max(bwMs, flopMs) / row.ms, 1e-9, `${what} of roofline`);
      assert.equal(row.bound, bwMs >= flopMs ? "bandwidth" : "compute", what);
      // Every decode row says its dispatches per step: WASM does not count them.
      assert.equal(row.dispatchesPerToken, null, `${what} dispatchesPerToken`);
    }
  }
  // The printed table shows the JSON's figures, row for row.
  const table = r.stdout.trimEnd().split("\n");
  assert.match(table[0], /^arch\s+mode\s+batch\s+seqlen\s+ms\s+tok\/s\s+GFLOP\/s\s+of peak$/);
  assert.equal(table.length, 1 + report.rows.length);
  for (const [i, row] of report.rows.entries()) {
    const cells = table[i + 1].split(/\s{2,}/);
    const pct = `${(100 * row.ofPeak!).toFixed(0)}% ` +
      (row.mode === "prefill" ? "of GEMM peak" : `of roofline (${row.bound})`);
    assert.deepEqual(cells, [
      row.arch,
      row.mode,
      String(row.batch),
      String(row.seqLen),
      row.ms.toFixed(row.ms < 10 ? 2 : 1),
      row.tokPerS.toFixed(1),
      row.gflops.toFixed(2),
      pct,
    ], table[i + 1]);
  }
  return worst;
}

Deno.test("cli bench --dims on wasm: tok/s, GFLOP/s and roofline follow from the times; table = JSON", async () => {
  const dir = await Deno.makeTempDir({ prefix: "perfmamba-bench-" });
  try {
    const seen: string[] = [];
    for (let i = 1; i <= PEAK_ATTEMPTS; i++) {
      const worst = await benchOnce(`${dir}/bench${i}.json`);
      if (worst.ratio <= PEAK_NOISE) return;
      seen.push(`attempt ${i}: ${worst.where}`);
    }
    assert.fail(`achieved GFLOP/s above ${PEAK_NOISE}× the measured peak in every attempt:\n${seen.join("\n")}`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("cli demo and bench: --dims errors are clear usage errors", async () => {
  for (const cmd of ["demo", "bench"]) {
    const bad = await cli(cmd, "--dims", "d_model=64", ...WASM);
    assert.equal(bad.code, 2, bad.stderr);
    assert.match(bad.stderr, /--dims needs at least d_model= and n_layer=/);
    const shape = await cli(cmd, "--dims", "d_model=100,n_layer=2", ...WASM);
    assert.equal(shape.code, 2, shape.stderr);
    assert.match(shape.stderr, /--dims for mamba2: .*head_dim/);
  }
});

Deno.test("cli bench --size 2.8b on wasm: f32 refused at once (exit 2, one line naming size, limit, what fits)", async () => {
  const t0 = performance.now();
  const r = await cli("bench", "--size", "2.8b", "--skip-peaks", ...WASM);
  const seconds = (performance.now() - t0) / 1000;
  assert.equal(r.code, 2, r.stderr);
  const errors = r.stderr.split("\n").filter((l) => l.startsWith("error: "));
  assert.equal(errors.length, 1, r.stderr);
  assert.match(
    errors[0],
    /^error: mamba1 d_model 2560 × 64 layers \(2\.77 B parameters\) needs 10\.\d\d GiB \(f32 weights 10\.31 GiB \+ state and activations for 1 × 512 tokens\) but the wasm backend can hold 4\.00 GiB \(its fixed memory limit\); instead: --weights q8 \(3\.\d\d GiB\), or --weights q4 \(1\.\d\d GiB\), or f16 weights on the webgpu backend/,
  );
  assert.doesNotMatch(r.stderr, /generating weights/, "refused before generating anything");
  // Nothing is generated: the refusal costs the process start and the backend, seconds on a loaded machine.
  assert.ok(seconds < 60, `took ${seconds.toFixed(1)} s`);
});
