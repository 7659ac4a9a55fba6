/**
 * `perfmamba profile` end to end on a tiny checkpoint, on WASM and on WebGPU (llvmpipe in CI): the report folder
 * (schema-valid JSON, CSV, a nesting trace, HTML with charts), the printed formats, refusing to overwrite a report,
 * and clear errors for bad flags and impossible shapes.
 */
import assert from "node:assert/strict";
import { fixtureDir } from "../_golden.ts";
import { TEST_BACKENDS } from "../_backends.ts";
import { assertTimesScale, assertTraceNests, assertValidProfile } from "../_profile_checks.ts";
import { cli } from "./_cli.ts";
import type { ProfileReport } from "../../runtime/profile_report.ts";

const FAST = ["--seqlens", "8,16", "--warmup", "1", "--iters", "2", "--quiet"];

for (const tb of TEST_BACKENDS) {
  Deno.test({
    name: `cli profile --model on ${tb.name}: report folder, formats, no overwrite${tb.skip ? ` (${tb.skip})` : ""}`,
    ignore: tb.skip !== null,
    fn: async () => {
      const dir = await Deno.makeTempDir();
      try {
        const out = `${dir}/report`;
        const backend = ["--backend", tb.name, ...(tb.name === "wasm" ? ["--threads", "1"] : [])];
        const r = await cli(
          "profile",
          "--model",
          fixtureDir("mamba2-groups"),
          ...FAST,
          ...backend,
          "--out",
          out,
          "--format",
          "json",
        );
        assert.equal(r.code, 0, r.stderr);
        const printed: ProfileReport = JSON.parse(r.stdout);
        const saved: ProfileReport = JSON.parse(await Deno.readTextFile(`${out}/profile.json`));
        assert.deepEqual(printed, saved);
        assertValidProfile(saved);
        // --iters 2 --warmup 1 force the counts: no adaptive stop.
        for (const run of saved.runs) {
          assert.equal(run.endToEnd.samples.length, 2);
          assert.equal(run.repetitions!.stopReason, "iters");
          assert.equal(run.repetitions!.iters, 2);
          assert.equal(run.repetitions!.warmup, 1);
        }
        assert.deepEqual(saved.options.repetitions, { adaptive: false, warmup: 1 });
        assert.equal(saved.environment.backend, tb.name);
        assert.equal(saved.models[0].name, "mamba2-groups");
        assert.deepEqual(saved.runs.map((x) => `${x.mode}${x.seqLen}`), [
          "prefill8",
          "prefill16",
          "decode8",
          "decode16",
        ]);
        assert.ok(saved.environment.peaks!.bandwidthGBs > 0 && saved.environment.peaks!.gemmGflops > 0);
        assertTraceNests(saved, JSON.parse(await Deno.readTextFile(`${out}/trace.json`)).traceEvents);
        const csv = (await Deno.readTextFile(`${out}/profile.csv`)).trimEnd().split(/\r?\n/);
        // Header, one row per component of each run, one end_to_end row per run.
        assert.equal(csv.length, 1 + saved.runs.reduce((a, x) => a + x.components.length + 1, 0));
        const html = await Deno.readTextFile(`${out}/report.html`);
        assert.ok((html.match(/<svg/g) ?? []).length >= 3, "charts in the HTML");
        assert.match(html, /in_proj/);
        JSON.parse(await Deno.readTextFile(`${out}/profile.schema.json`));

        // The same folder again: refused before any work, nothing overwritten.
        const before = await Deno.readTextFile(`${out}/profile.json`);
        const again = await cli("profile", "--model", fixtureDir("mamba2-groups"), ...FAST, ...backend, "--out", out);
        assert.equal(again.code, 2);
        assert.match(again.stderr, /already holds profile\.json; choose another folder \(nothing was overwritten\)/);
        assert.equal(await Deno.readTextFile(`${out}/profile.json`), before);

        // Table and CSV on stdout.
        const t = await cli(
          "profile",
          "--model",
          fixtureDir("mamba1-tiny"),
          ...FAST,
          ...backend,
          "--mode",
          "decode",
          "--skip-peaks",
          "--out",
          `${dir}/t`,
        );
        assert.equal(t.code, 0, t.stderr);
        for (const c of ["embedding", "in_proj", "x_proj", "dt_proj", "ssm", "out_proj", "lm_head"]) {
          assert.match(t.stdout, new RegExp(`\\n\\s+${c}\\s`), c);
        }
        assert.match(t.stderr, /report: .*report\.html/);
        const c = await cli(
          "profile",
          "--model",
          fixtureDir("mamba1-tiny"),
          ...FAST,
          ...backend,
          "--mode",
          "prefill",
          "--skip-peaks",
          "--out",
          `${dir}/c`,
          "--format",
          "csv",
        );
        assert.equal(c.code, 0, c.stderr);
        assert.match(c.stdout.split("\n")[0], /^model,arch,mode,batch,seq_len,component,/);
      } finally {
        await Deno.remove(dir, { recursive: true });
      }
    },
  });
}

Deno.test("cli profile: built-in shapes from --dims, and clear errors for bad flags and impossible shapes", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const ok = await cli(
      "profile",
      "--dims",
      "d_model=64,n_layer=2,vocab=300,head_dim=32",
      ...FAST,
      "--backend",
      "wasm",
      "--threads",
      "1",
      "--skip-peaks",
      "--out",
      `${dir}/d`,
      "--format",
      "json",
    );
    assert.equal(ok.code, 0, ok.stderr);
    const report: ProfileReport = JSON.parse(ok.stdout);
    // --arch both: one model after the other on the backend, merged into one report.
    assert.deepEqual(report.models.map((m) => [m.arch, m.config.dModel, m.config.nLayer, m.config.nHeads]), [
      ["mamba1", 64, 2, 0],
      ["mamba2", 64, 2, 4],
    ]);
    assert.deepEqual(report.runs.map((r) => `${r.model}${r.arch}`), [
      ...Array(4).fill("0mamba1"),
      ...Array(4).fill("1mamba2"),
    ]);
    // Each run's baseline holds one model's weights, not both.
    for (const r of report.runs) {
      assert.ok(r.memory.baseline < r.memory.weights + r.memory.state + 65536, JSON.stringify(r.memory));
    }
    const cases: [string[], number, RegExp][] = [
      [["--seqlens", "0"], 2, /--seqlens values must be in \[1, 16384\]/],
      [["--seqlens", "20000"], 2, /--seqlens values must be in \[1, 16384\]/],
      [["--mode", "train"], 2, /--mode must be one of prefill, decode, both/],
      [["--format", "xml"], 2, /--format must be one of table, json, csv/],
      [["--arch", "mamba3"], 2, /--arch must be one of mamba1, mamba2, both/],
      [["--size", "9b"], 2, /--size must be one of 130m, 370m, 790m, 1.4b, 2.8b/],
      [["--dims", "d_model=64"], 2, /--dims needs at least d_model= and n_layer=/],
      [["--dims", "width=3,n_layer=2"], 2, /--dims: "width=3" is not one of d_model/],
      [
        ["--arch", "mamba2", "--dims", "d_model=100,n_layer=2"],
        2,
        /--dims for mamba2: d_inner 200 .* not a multiple of head_dim 64/,
      ],
      [["--batch", "0"], 2, /--batch must be a whole number in \[1, 1024\]/],
      [["--iters", "0"], 2, /--iters must be a whole number/],
      [["--timing", "magic"], 2, /--timing must be one of auto, fenced/],
      [["--model", "/nonexistent/ckpt"], 1, /\/nonexistent\/ckpt/],
      [["--model", fixtureDir("mamba1-tiny"), "--dims", "d_model=64,n_layer=2"], 2, /either --model or --dims/],
      [
        ["--arch", "mamba1", "--size", "2.8b", "--seqlens", "16384", "--backend", "wasm"],
        2,
        /^error: mamba1 d_model 2560 × 64 layers \(2\.77 B parameters\) needs 1\d\.\d\d GiB \(f32 weights 10\.31 GiB \+ state and activations for 1 × 16384 tokens\) but the wasm backend can hold 4\.00 GiB .*; instead: f16 weights on the webgpu backend \(5\.17 GiB\), or the webgpu backend \(no fixed memory limit\), or a smaller batch or fewer tokens per pass$/m,
      ],
    ];
    for (const [args, code, re] of cases) {
      const r = await cli("profile", "--quiet", "--out", `${dir}/x`, ...args);
      assert.equal(r.code, code, `${args.join(" ")}: exit ${r.code}, stderr: ${r.stderr}`);
      assert.match(r.stderr, re, args.join(" "));
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("cli profile on wasm: printed times are positive, inside the pass and grow with their FLOPs", async () => {
  const dir = await Deno.makeTempDir();
  try {
    // Both architectures at d_model 256, 64 and 256 tokens: see assertTimesScale for the relations and margins.
    let n = 0;
    await assertTimesScale(async () => {
      const r = await cli(
        "profile",
        "--dims",
        "d_model=256,n_layer=2,vocab=512",
        "--seqlens",
        "64,256",
        "--mode",
        "prefill",
        "--warmup",
        "1",
        "--iters",
        "5",
        "--backend",
        "wasm",
        "--threads",
        "1",
        "--skip-peaks",
        "--quiet",
        "--out",
        `${dir}/r${++n}`,
        "--format",
        "json",
      );
      assert.equal(r.code, 0, r.stderr);
      const report: ProfileReport = JSON.parse(r.stdout);
      assert.deepEqual(report.models.map((m) => m.arch), ["mamba1", "mamba2"]);
      return report;
    }, 4);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("cli profile --out: a new or empty folder is written whole; a file or a non-empty folder is refused", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const run = (out: string) =>
      cli("profile", "--model", fixtureDir("mamba1-tiny"), ...FAST, "--skip-peaks", "--backend", "wasm", "--out", out);
    await Deno.writeTextFile(`${dir}/file`, "mine");
    await Deno.mkdir(`${dir}/full`);
    await Deno.writeTextFile(`${dir}/full/notes.txt`, "mine");
    for (const [out, re] of [[`${dir}/file`, /exists and is not a folder/], [`${dir}/full`, /is not empty/]] as const) {
      const r = await run(out);
      assert.equal(r.code, 2, r.stderr);
      assert.match(r.stderr, re);
    }
    assert.equal(await Deno.readTextFile(`${dir}/file`), "mine");
    assert.deepEqual(await Array.fromAsync(Deno.readDir(`${dir}/full`), (e) => e.name), ["notes.txt"]);
    await Deno.mkdir(`${dir}/empty`);
    const ok = await run(`${dir}/empty`);
    assert.equal(ok.code, 0, ok.stderr);
    const names = (await Array.fromAsync(Deno.readDir(`${dir}/empty`), (e) => e.name)).sort();
    assert.deepEqual(names, ["profile.csv", "profile.json", "profile.schema.json", "report.html", "trace.json"]);
    // Nothing but the user's files and the report beside it: no temporary left.
    assert.deepEqual((await Array.fromAsync(Deno.readDir(dir), (e) => e.name)).sort(), ["empty", "file", "full"]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

/**
 * Bytes of a checkpoint's weights if `--weights q8|q4` quantizes it at load, counted from the safetensors header
 * alone (not the runtime's byte functions): in_proj, x_proj, dt_proj and out_proj whose rows (k) are a multiple of
 * 32 become blocks of 32 weights (q8_0 34 bytes, q4_0 18); every other tensor, the embedding included, stays f32.
 * A Mamba-1 dt_rank R that is not a multiple of 32 is zero-padded to the next one, R′, first: dt_proj [D, R] becomes
 * [D, R′] (blocks) and x_proj gains R′ − R rows of D weights.
 */
async function expectedWeightBytes(dir: string, blockBytes: number | null): Promise<number> {
  const file = await Deno.readFile(`${dir}/model.safetensors`);
  const headerLength = Number(new DataView(file.buffer).getBigUint64(0, true));
  const header: Record<string, { dtype: string; shape: number[] }> = JSON.parse(
    new TextDecoder().decode(file.subarray(8, 8 + headerLength)),
  );
  let bytes = 0;
  for (const [name, t] of Object.entries(header)) {
    if (name === "__metadata__") continue;
    assert.equal(t.dtype, "F32", name);
    let numel = t.shape.reduce((a, b) => a * b, 1);
    const shape = [...t.shape];
    if (blockBytes !== null && /\.(x_proj|dt_proj)\.weight$/.test(name)) {
      const dt = header[name.replace(/x_proj\.weight$/, "dt_proj.weight")].shape; // [D, R]
      const pad = Math.ceil(dt[1] / 32) * 32 - dt[1];
      numel += pad * dt[0];
      if (name.endsWith("dt_proj.weight")) shape[1] += pad;
    }
    const quantized = blockBytes !== null && /\.(in_proj|x_proj|dt_proj|out_proj)\.weight$/.test(name) &&
      shape.length === 2 && shape[1] % 32 === 0;
    // A quantized model holds A (= −exp(A_log)), conv1d's weight and bias, and D in f16 (QUANTIZATION.md).
    const half = blockBytes !== null && /\.(A_log|D|conv1d\.weight|conv1d\.bias)$/.test(name);
    bytes += quantized ? (numel / 32) * blockBytes : (half ? 2 : 4) * numel;
  }
  return bytes;
}

Deno.test("cli profile --weights q8|q4: the report says the format the model ran in and counts its real bytes", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const cases = [
      // Mamba-2: every layer matrix has rows of 64 or 128 weights, so all are q8_0.
      // WASM's default arithmetic on them: integer dot products on 8-bit activation codes.
      {
        fixture: "mamba2-tiny",
        weights: "q8",
        math: null,
        block: 34,
        matrices: "q8_0",
        activations: "int8",
        label: /^q8_0, embedding f32, activations int8$/,
      },
      // 16-bit activations, named.
      {
        fixture: "mamba2-tiny",
        weights: "q8",
        math: "int16",
        block: 34,
        matrices: "q8_0",
        activations: "int16",
        label: /^q8_0, embedding f32, activations int16$/,
      },
      {
        fixture: "mamba2-tiny",
        weights: "q4",
        math: "exact",
        block: 18,
        matrices: "q4_0",
        activations: "f32",
        label: /^q4_0, embedding f32, activations f32$/,
      },
      {
        fixture: "mamba2-tiny",
        weights: "q4",
        math: "int8",
        block: 18,
        matrices: "q4_0",
        activations: "int8",
        label: /^q4_0, embedding f32, activations int8$/,
      },
      // Mamba-1: dt_proj's rows are dt_rank = 4 weights, zero-padded to 32 at quantization, so it is q8_0 too.
      {
        fixture: "mamba1-tiny",
        weights: "q8",
        math: null,
        block: 34,
        matrices: "q8_0",
        activations: "int8",
        label: /^q8_0, embedding f32, activations int8$/,
      },
      // No quantized matrix: no activation arithmetic to state.
      {
        fixture: "mamba1-tiny",
        weights: null,
        math: null,
        block: null,
        matrices: "f32",
        activations: null,
        label: /^f32, embedding f32$/,
      },
    ] as const;
    for (const [i, c] of cases.entries()) {
      const out = `${dir}/r${i}`;
      const r = await cli(
        "profile",
        "--model",
        fixtureDir(c.fixture),
        ...(c.weights ? ["--weights", c.weights] : []),
        ...(c.math ? ["--quant-math", c.math] : []),
        "--seqlens",
        "8",
        "--warmup",
        "0",
        "--iters",
        "1",
        "--quiet",
        "--skip-peaks",
        "--backend",
        "wasm",
        "--threads",
        "1",
        "--out",
        out,
        "--format",
        "json",
      );
      assert.equal(r.code, 0, r.stderr);
      const report: ProfileReport = JSON.parse(await Deno.readTextFile(`${out}/profile.json`));
      assertValidProfile(report);
      const what = `${c.fixture} --weights ${c.weights}`;
      const m = report.models[0];
      assert.equal(m.weightFormat.matrices, c.matrices, what);
      assert.equal(report.environment.weights, c.matrices, what);
      assert.equal(m.weightFormat.embedding, "f32", what);
      assert.match(m.weightFormat.label, c.label, what);
      assert.equal(m.weightFormat.activations, c.activations, what);
      assert.equal(m.weightBytes, await expectedWeightBytes(fixtureDir(c.fixture), c.block), what);
      // The HTML report shows the label.
      const html = await Deno.readTextFile(`${out}/report.html`);
      assert.ok(html.includes(`<td class="l">${m.weightFormat.label}</td>`), what);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
