/**
 * `perfmamba bench --model`: the same prefill and decode rows for a real checkpoint — a fixture folder and its Q8_0
 * GGUF export — on WASM at a tiny run. The JSON names the model (path, arch, dimensions equal to the checkpoint's
 * config, stored tensor types counted from the file, the format it ran as, the parameter count of the weights), and
 * the figures follow from the times as for the built-in shapes: tok/s = 1000·tokens/ms, GFLOP/s = runtime/cost.ts's
 * FLOPs of the model's own config over the time, decode bytes = 4 · parameters + state. Bad combinations are usage
 * errors.
 */
import assert from "node:assert/strict";
import { cli } from "./_cli.ts";
import { forwardFlops } from "../../runtime/cost.ts";
import { loadWeights } from "../../runtime/checkpoint.ts";
import { ggufCheckpoint, ggufFromWeights } from "../../runtime/gguf_mamba.ts";
import { parseGguf } from "../../runtime/gguf.ts";
import { dirSource } from "../../cli/fs_source.ts";
import type { BenchModelFingerprint } from "../../cli/commands/bench.ts";
import { fixtureDir } from "../_golden.ts";

const WASM = ["--backend", "wasm", "--threads", "1", "--skip-peaks"];

interface Row {
  arch: string;
  mode: "prefill" | "decode" | "greedy" | "sampled-step" | "sampled";
  batch: number;
  seqLen: number;
  ms: number;
  tokPerS: number;
  gflops: number;
  bytesPerStep?: number;
  error?: string;
}

const closeRel = (a: number, b: number, rel: number, what: string) =>
  assert.ok(Math.abs(a - b) <= rel * Math.abs(b), `${what}: ${a} vs ${b}`);

Deno.test("cli bench --model: a fixture folder and its Q8_0 GGUF, fingerprinted, figures follow from the times", async () => {
  const tmp = await Deno.makeTempDir({ prefix: "perfmamba-bench-model-" });
  try {
    const dir = fixtureDir("mamba2-tiny");
    const weights = await loadWeights(dirSource(dir));
    const gguf = `${tmp}/tiny-q8_0.gguf`;
    const bytes = ggufFromWeights(weights, { tensorType: "Q8_0" });
    await Deno.writeFile(gguf, bytes);
    // The GGUF's own config (as llama.cpp's metadata gives it: e.g. no chunk size) sets its FLOPs.
    const ggufConfig = ggufCheckpoint(parseGguf(bytes, gguf)).config;
    const c = weights.config;
    // Every parameter: the values of every tensor of the host weights (tied lm_head: none of its own).
    const count = (o: unknown): number =>
      o instanceof Float32Array
        ? o.length
        : o !== null && typeof o === "object"
        ? Object.entries(o).reduce((n, [k, v]) => n + (k === "config" || k === "shape" ? 0 : count(v)), 0)
        : 0;
    const parameters = count({ ...weights, config: null });
    for (const [model, stored] of [[dir, "F32"], [gguf, "Q8_0"]] as const) {
      const json = `${tmp}/${stored}.json`;
      const r = await cli(
        "bench",
        "--model",
        model,
        "--seqlens",
        "8",
        "--decode-tokens",
        "2",
        "--iters",
        "1",
        ...WASM,
        "--json",
        json,
      );
      assert.equal(r.code, 0, r.stderr);
      const report = JSON.parse(await Deno.readTextFile(json)) as {
        size: string;
        model: BenchModelFingerprint;
        rows: Row[];
      };
      assert.equal(report.size, model);
      const fp = report.model;
      assert.equal(fp.path, model);
      assert.equal(fp.arch, "mamba2");
      assert.deepEqual(
        [fp.dims.dModel, fp.dims.nLayer, fp.dims.vocabSize, fp.dims.dInner, fp.dims.dState, fp.dims.nHeads],
        [c.dModel, c.nLayer, c.vocabSize, c.dInner, c.dState, c.nHeads],
      );
      assert.equal(fp.ranAs, stored === "Q8_0" ? "q8_0" : "f32"); // a Q8_0 file keeps its blocks (quantized kernels)
      assert.equal(fp.parameters, parameters);
      assert.ok((fp.storedTypes[stored] ?? 0) > 0, `${model}: ${JSON.stringify(fp.storedTypes)}`);
      if (stored === "Q8_0") {
        // The matrices are Q8_0 (token_embd, in and out per layer); norms, conv, A, D, dt_bias stay F32.
        assert.deepEqual(fp.storedTypes, { Q8_0: 1 + 2 * c.nLayer, F32: 1 + 7 * c.nLayer });
      }
      assert.deepEqual(report.rows.map((row) => row.mode), ["prefill", "decode", "greedy", "sampled-step", "sampled"]);
      for (const row of report.rows) {
        const what = `${stored} ${row.mode}`;
        assert.equal(row.error, undefined, what);
        assert.equal(row.arch, "mamba2");
        assert.ok(row.ms > 0, what);
        const tokens = row.mode === "prefill" ? 8 : 1;
        closeRel(row.tokPerS, (1000 * tokens) / row.ms, 1e-9, `${what} tok/s`);
        const cfg = stored === "Q8_0" ? ggufConfig : c;
        const flops = Object.values(row.mode === "prefill" ? forwardFlops(cfg, 1, 8, 1) : forwardFlops(cfg, 1, 1))
          .reduce((a, b) => a + b, 0);
        closeRel(row.gflops, flops / (row.ms * 1e6), 1e-9, `${what} GFLOP/s`);
        if (row.mode !== "prefill") assert.ok(row.bytesPerStep! > 4 * parameters, what);
      }
    }
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});

Deno.test("cli bench --model: with --dims / --size / --arch, or a missing folder, a clear error", async () => {
  for (const extra of [["--dims", "d_model=64,n_layer=2"], ["--size", "130m"], ["--arch", "mamba1"]]) {
    const r = await cli("bench", "--model", fixtureDir("mamba1-tiny"), ...extra, ...WASM);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, new RegExp(`give either --model or ${extra[0]}, not both`));
  }
  const missing = await cli("bench", "--model", "/nonexistent/perfmamba-model", ...WASM);
  assert.notEqual(missing.code, 0);
  assert.match(missing.stderr, /\/nonexistent\/perfmamba-model/);
});

Deno.test("cli bench --quant-math: the report names the WASM quantized path that ran; a bad value is a usage error", async () => {
  const tmp = await Deno.makeTempDir({ prefix: "perfmamba-bench-quant-math-" });
  try {
    const gguf = `${tmp}/tiny-q8_0.gguf`;
    await Deno.writeFile(
      gguf,
      ggufFromWeights(await loadWeights(dirSource(fixtureDir("mamba2-tiny"))), { tensorType: "Q8_0" }),
    );
    const run = ["bench", "--model", gguf, "--seqlens", "8", "--decode-tokens", "2", "--iters", "1", ...WASM];
    for (
      const [flag, want] of [
        [[], /quantized weights: integer dot products on 8-bit activations/], // the default: int8
        [["--quant-math", "integer"], /quantized weights: integer dot products on 16-bit activations/],
        [["--quant-math", "int16"], /quantized weights: integer dot products on 16-bit activations/],
        [["--quant-math", "int8"], /quantized weights: integer dot products on 8-bit activations/],
        [["--quant-math", "exact"], /quantized weights: exact \(dequantized in registers\)/],
      ] as const
    ) {
      const json = `${tmp}/r${flag.length}${flag[1] ?? ""}.json`;
      const r = await cli(...run, ...flag, "--json", json);
      assert.equal(r.code, 0, r.stderr);
      const report = JSON.parse(await Deno.readTextFile(json)) as { description: string; rows: Row[] };
      assert.match(report.description, want, flag.join(" "));
      assert.ok(report.rows.every((row) => row.error === undefined && row.ms > 0), flag.join(" "));
    }
    const bad = await cli(...run, "--quant-math", "int4");
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /--quant-math must be one of int16, int8, exact, integer, got "int4"/);
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});
