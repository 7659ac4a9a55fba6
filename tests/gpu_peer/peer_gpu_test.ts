/**
 * The GPU peer harness (tests/gpu_peer/peer_gpu.ts): its pure parts — the plan, both sides' command lines, their JSON
 * read back, the summaries over repetitions and the markdown table — against hand-computed values; the Python side's
 * plan (`--dry-run`, no torch needed) equal to the Deno side's; our real `bench --json` at a tiny shape (WASM) read
 * back by the harness's parser with every planned run present. And, where python3 has torch with a CUDA device and
 * .mamba_ssm/ holds the source (tests/gpu_peer/fetch_mamba_ssm.sh), the harness end to end at a tiny shape; skipped,
 * saying so, otherwise.
 */
import assert from "node:assert/strict";
import {
  gpuPeerTable,
  mergeRuns,
  oursBenchArgs,
  parseMambaSsm,
  parseOursBench,
  planRuns,
  pythonArgs,
  type SideRep,
  speedRatio,
} from "./gpu_peer_table.ts";
import { BENCH_PY, type GpuPeerResult, MAMBA_SSM_DIR, parseGpuPeerArgs, units } from "./peer_gpu.ts";
import { makeConfig, presetConfig } from "../../mod.ts";

const ROOT = new URL("../../", import.meta.url).pathname;
const TINY = "d_model=64,n_layer=2,vocab=256";

function rep(figures: Record<string, number>, errors: Record<string, string> = {}): SideRep {
  return {
    figures: new Map(Object.entries(figures).map(([k, ms]) => [k, { ms }])),
    errors: new Map(Object.entries(errors)),
  };
}

Deno.test("gpu peer: the plan, in mamba_ssm_bench.py's order", () => {
  const plan = planRuns("mamba2", {
    modes: ["prefill", "greedy", "decode"],
    prefillBatch: [1],
    seqlens: [64, 16384],
    batches: [1, 8],
  });
  assert.deepEqual(plan.map((r) => `${r.mode} B${r.batch} L${r.seqLen}`), [
    "prefill B1 L64",
    "prefill B1 L16384",
    "decode B1 L1",
    "greedy B1 L1",
    "decode B8 L1",
    "greedy B8 L1",
  ]);
  assert.ok(plan.every((r) => r.arch === "mamba2"));
});

Deno.test("gpu peer: our bench's command lines, one or two processes", () => {
  const o = {
    modes: ["prefill", "decode", "greedy"] as const,
    prefillBatch: [1],
    seqlens: [64, 128],
    batches: [1, 4],
    decodeTokens: 32,
    warmup: 1,
    iters: 3,
  };
  const common = ["--warmup", "1", "--iters", "3", "--skip-peaks", "--backend", "webgpu"];
  assert.deepEqual(
    oursBenchArgs("mamba1", ["--size", "130m"], { ...o, modes: [...o.modes] }, ["--backend", "webgpu"]),
    [
      ["bench", "--arch", "mamba1", "--size", "130m", "--seqlens", "64,128", "--batch", "1", "--decode-tokens", "0"]
        .concat(common),
      ["bench", "--arch", "mamba1", "--size", "130m", "--seqlens", "16", "--batch", "1,4", "--decode-tokens", "32"]
        .concat(common),
    ],
  );
  // Equal batch lists: one process does both.
  assert.deepEqual(
    oursBenchArgs("mamba2", ["--dims", TINY], { ...o, modes: [...o.modes], batches: [1] }, []),
    [["bench", "--arch", "mamba2", "--dims", TINY, "--seqlens", "64,128", "--batch", "1", "--decode-tokens", "32"]
      .concat(["--warmup", "1", "--iters", "3", "--skip-peaks"])],
  );
  // Decode modes only: no prefill process.
  assert.equal(oursBenchArgs("mamba1", ["--size", "130m"], { ...o, modes: ["greedy"] }, []).length, 1);
});

Deno.test("gpu peer: mamba_ssm_bench.py's arguments carry our config's dims", () => {
  const o = {
    modes: ["prefill" as const],
    prefillBatch: [1],
    seqlens: [512],
    batches: [1],
    decodeTokens: 8,
    warmup: 0,
    iters: 1,
    dtypes: ["fp32" as const, "bf16" as const],
    prompt: 16,
  };
  const a = pythonArgs(presetConfig("mamba2", "2.8b"), "2.8b", o);
  const get = (flag: string) => a[a.indexOf(flag) + 1];
  // mamba2-2.7b: d_model 2560, 64 layers, d_state 128, head 64, 1 group, chunk 256.
  assert.deepEqual(
    ["--d-model", "--n-layer", "--vocab", "--d-state", "--expand", "--headdim", "--ngroups", "--chunk-size"].map(get),
    ["2560", "64", "50280", "128", "2", "64", "1", "256"],
  );
  assert.equal(get("--dtypes"), "fp32,bf16");
  const m1 = pythonArgs(presetConfig("mamba1", "130m"), "130m", o);
  assert.ok(!m1.includes("--headdim"), "Mamba-1 gets no Mamba-2 flags");
  assert.equal(m1[m1.indexOf("--d-state") + 1], "16");
});

Deno.test("gpu peer: medians with min–max over repetitions, ratios and the table", () => {
  const plan = planRuns("mamba1", {
    modes: ["prefill", "decode", "sampled"],
    prefillBatch: [1],
    seqlens: [1000],
    batches: [4],
  });
  const P = "mamba1 prefill B1 L1000", D = "mamba1 decode B4 L1";
  // Ours: prefill 100, 200, 400 ms → 200 (100–400); decode 2, 4, 3 ms → 3 (2–4).
  const ours = [rep({ [P]: 100, [D]: 2 }), rep({ [P]: 200, [D]: 4 }), rep({ [P]: 400, [D]: 3 })];
  // mamba_ssm fp32: prefill 50, 60 (third failed) → 55 (50–60); decode failed every time.
  const fp32 = [rep({ [P]: 50 }, { [D]: "OOM" }), rep({ [P]: 60 }, { [D]: "OOM" }), rep({}, { [P]: "x", [D]: "OOM" })];
  const rows = mergeRuns("130m", plan, ours, new Map([["fp32", fp32]]));
  assert.deepEqual(rows[0].ours.ms, { median: 200, min: 100, max: 400, n: 3 });
  assert.deepEqual(rows[0].theirs.fp32!.ms, { median: 55, min: 50, max: 60, n: 2 });
  assert.deepEqual(rows[1].theirs.fp32, { ms: null, error: "OOM" });
  // Ratio = their ms ÷ ours: 55 / 200 = 0.275 (mamba_ssm faster); none without a figure.
  assert.equal(speedRatio(rows[0].ours, rows[0].theirs.fp32), 0.275);
  assert.equal(speedRatio(rows[1].ours, rows[1].theirs.fp32), null);
  // tok/s from the medians: 1000 tokens / 0.2 s = 5000, / 0.055 s = 18182; decode B4: 4 / 0.003 s = 1333.
  assert.deepEqual(gpuPeerTable(rows, ["fp32"]).split("\n"), [
    "| arch | size | mode | batch | length | ours ms | ours tok/s | mamba_ssm fp32 ms | fp32 tok/s | ratio vs fp32 |",
    "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    "| mamba1 | 130m | prefill | 1 | 1000 | 200.0 (100.0–400.0) | 5000 | 55.00 (50.00–60.00) | 18182 | 0.28× |",
    "| mamba1 | 130m | decode | 4 | 1 step | 3.000 (2.000–4.000) | 1333 | failed: OOM | — | — |",
    // A run neither side reported (our bench without a sampled mode): no figure, no error, "—".
    "| mamba1 | 130m | sampled | 4 | 1 step | — | — | — | — | — |",
  ]);
  assert.deepEqual(rows[2].ours, { ms: null });
});

Deno.test("gpu peer: ours' GPU time beside the wall time, over the repetitions that reported one", () => {
  const plan = planRuns("mamba2", { modes: ["prefill"], prefillBatch: [1], seqlens: [64, 128], batches: [1] });
  const A = "mamba2 prefill B1 L64", B = "mamba2 prefill B1 L128";
  const withGpu = (ms: number, gpuMs?: number) => ({ ms, ...(gpuMs === undefined ? {} : { gpuMs }) });
  // L64: GPU 3, 1 and none (a bench without timestamps) → 2 (1–3) over 2; L128: never a GPU time → "—".
  const ours: SideRep[] = [[10, 3], [12, 1], [11, undefined]].map(([ms, g]) => ({
    figures: new Map([[A, withGpu(ms!, g)], [B, withGpu(20)]]),
    errors: new Map(),
  }));
  const rows = mergeRuns("130m", plan, ours, new Map([["fp32", [rep({ [A]: 5, [B]: 40 })]]]));
  assert.deepEqual(rows[0].ours.gpu, { median: 2, min: 1, max: 3, n: 2 });
  assert.equal(rows[1].ours.gpu, undefined);
  assert.deepEqual(gpuPeerTable(rows, ["fp32"]).split("\n"), [
    "| arch | size | mode | batch | length | ours ms | ours tok/s | ours GPU ms | mamba_ssm fp32 ms | fp32 tok/s | ratio vs fp32 |",
    "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    "| mamba2 | 130m | prefill | 1 | 64 | 11.00 (10.00–12.00) | 5818 | 2.000 (1.000–3.000) | 5.000 | 12800 | 0.45× |",
    "| mamba2 | 130m | prefill | 1 | 128 | 20.00 (20.00–20.00) | 6400 | — | 40.00 | 3200 | 2.00× |",
  ]);
});

Deno.test("gpu peer: both sides' JSON read back; bad JSON named", () => {
  const ours = parseOursBench(
    JSON.stringify({
      backend: "webgpu",
      rows: [
        { arch: "mamba2", mode: "prefill", batch: 1, seqLen: 64, ms: 1.5, tokPerS: 42667 },
        { arch: "mamba2", mode: "prefill", batch: 1, seqLen: 128, ms: null, error: "too big" },
        { arch: "mamba2", mode: "greedy", batch: 2, seqLen: 1, ms: 0.5, dispatchesPerToken: 170, gpuMs: 0.25 },
        { arch: "mamba2", mode: "decode", batch: 2, seqLen: 1, ms: 9, gpuMs: null },
        { arch: "mamba2", mode: "profile-only", batch: 2, seqLen: 1, ms: 1 },
      ],
    }),
    "ours.json",
  );
  assert.deepEqual([...ours.figures], [
    ["mamba2 prefill B1 L64", { ms: 1.5 }],
    ["mamba2 greedy B2 L1", { ms: 0.5, dispatchesPerToken: 170, gpuMs: 0.25 }],
    ["mamba2 decode B2 L1", { ms: 9 }],
  ]);
  assert.deepEqual([...ours.errors], [["mamba2 prefill B1 L128", "too big"]]);
  assert.throws(() => parseOursBench("{", "ours.json"), /ours.json: not JSON/);
  assert.throws(() => parseOursBench('{"rows":[{"mode":"prefill"}]}', "ours.json"), /ours.json: a row without/);

  const meta = {
    mambaSsm: { version: "2.3.2.post1", commit: "e9594ce" },
    torch: "2.11.0",
    triton: "3.6.0",
    device: "GPU",
    tf32Matmul: false,
    tf32Cudnn: true,
    parameters: 129135360,
    paths: { "mamba1 prefill scan": "selective_scan_ref" },
  };
  const theirs = parseMambaSsm(
    JSON.stringify({
      ...meta,
      rows: [
        { arch: "mamba1", mode: "decode", batch: 1, seqLen: 1, dtype: "fp32", ms: 0.25 },
        { arch: "mamba1", mode: "decode", batch: 1, seqLen: 1, dtype: "bf16", error: "RuntimeError: x" },
      ],
    }),
    "py.json",
  );
  assert.deepEqual(theirs.meta, meta);
  assert.deepEqual([...theirs.byDtype.get("fp32")!.figures], [["mamba1 decode B1 L1", { ms: 0.25 }]]);
  assert.deepEqual([...theirs.byDtype.get("bf16")!.errors], [["mamba1 decode B1 L1", "RuntimeError: x"]]);
  assert.throws(() => parseMambaSsm('{"rows":[]}', "py.json"), /py.json: not mamba_ssm_bench.py output/);
});

Deno.test("gpu peer: flags, defaults and clear errors", () => {
  const o = parseGpuPeerArgs([]);
  assert.deepEqual(
    [o.arches, o.sizes, o.seqlens, o.prefillBatch, o.batches, o.modes, o.dtypes, o.backend],
    [
      ["mamba1", "mamba2"],
      ["130m", "2.8b"],
      [64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384],
      [1],
      [1, 2, 4, 8, 16, 32, 64],
      ["prefill", "decode", "greedy", "sampled"],
      ["fp32"],
      "webgpu",
    ],
  );
  assert.deepEqual(parseGpuPeerArgs(["--dims", TINY]).sizes, []);
  assert.deepEqual([o.noLock, parseGpuPeerArgs(["--no-lock"]).noLock], [false, true]);
  assert.throws(() => parseGpuPeerArgs(["--sizes", "7b"]), /unknown size "7b"/);
  assert.throws(() => parseGpuPeerArgs(["--modes", "beam"]), /--modes: "beam" is not one of prefill, decode/);
  assert.throws(() => parseGpuPeerArgs(["--dtypes", "fp16"]), /--dtypes: "fp16" is not one of fp32, bf16/);
  assert.throws(() => parseGpuPeerArgs(["--batches", "0"]), /--batches: 0 is not a whole number in \[1, 65536\]/);
  assert.throws(() => parseGpuPeerArgs(["--reps", ""]), /--reps/);
  assert.throws(() => parseGpuPeerArgs(["--dims", "d_model=64"]), /--dims needs at least d_model= and n_layer=/);
  assert.throws(() => parseGpuPeerArgs(["--bogus"]), /bogus/);
});

/** Runs mamba_ssm_bench.py with `args`; null when there is no python3. */
function python(args: string[]): { code: number; out: string; err: string } | null {
  try {
    const r = new Deno.Command("python3", { args: [BENCH_PY, ...args], stdout: "piped", stderr: "piped" })
      .outputSync();
    return { code: r.code, out: new TextDecoder().decode(r.stdout), err: new TextDecoder().decode(r.stderr) };
  } catch {
    return null;
  }
}
const noPython = python(["--help"]) === null ? "skipped: no python3 on the PATH" : null;

Deno.test({
  name: `gpu peer: mamba_ssm_bench.py compiles, and its --dry-run plan equals ours${noPython ? ` (${noPython})` : ""}`,
  ignore: noPython !== null,
  fn() {
    // py_compile, its byte code written to a temporary file (no __pycache__ in the tree).
    const pyc = Deno.makeTempFileSync({ suffix: ".pyc" });
    const compile = `import py_compile, sys; py_compile.compile(sys.argv[1], cfile=sys.argv[2], doraise=True)`;
    const c = new Deno.Command("python3", { args: ["-B", "-c", compile, BENCH_PY, pyc], stderr: "piped" }).outputSync();
    Deno.removeSync(pyc);
    assert.equal(c.code, 0, new TextDecoder().decode(c.stderr));
    for (
      const flags of [
        [],
        ["--dims", TINY, "--modes", "greedy,prefill", "--batches", "3,1", "--dtypes", "bf16,fp32"],
        ["--sizes", "2.8b", "--arches", "mamba2", "--prefill-batch", "1,2", "--seqlens", "16384"],
      ]
    ) {
      const o = parseGpuPeerArgs(flags);
      for (const u of units(o)) {
        const r = python([...u.pyArgs, "--dry-run"])!;
        assert.equal(r.code, 0, r.err);
        const planned = r.out.trim().split("\n").map((l) => JSON.parse(l));
        assert.deepEqual(planned, o.dtypes.flatMap((dtype) => u.plan.map((p) => ({ ...p, dtype }))));
      }
    }
    // Bad arguments: a clear error naming the flag, exit status 2 (argparse).
    const bad = python(["--arch", "mamba1", "--d-model", "64", "--n-layer", "2", "--vocab", "256", "--d-state", "16"]
      .concat(["--modes", "prefill,beam", "--dry-run"]))!;
    assert.equal(bad.code, 2);
    assert.match(bad.err, /--modes: 'beam' is not one of prefill, decode, greedy, sampled/);
    const badHead = python(["--arch", "mamba2", "--d-model", "64", "--n-layer", "2", "--vocab", "256"]
      .concat(["--d-state", "16", "--headdim", "48", "--dry-run"]))!;
    assert.equal(badHead.code, 2);
    assert.match(badHead.err, /--headdim 48 \/ --ngroups 1 do not divide d_inner 128/);
  },
});

Deno.test("gpu peer: our real bench --json at a tiny shape (WASM) has every planned run", async () => {
  const o = parseGpuPeerArgs([
    "--dims",
    TINY,
    "--seqlens",
    "8,12",
    "--batches",
    "1,2",
    "--decode-tokens",
    "2",
    "--warmup",
    "0",
    "--iters",
    "1",
    "--backend",
    "wasm",
  ]);
  const tmp = await Deno.makeTempDir({ prefix: "perfmamba-gpu-peer-test-" });
  try {
    for (const u of units(o)) {
      const figures = new Map<string, number>();
      for (const [i, args] of u.oursArgs.entries()) {
        const file = `${tmp}/${u.config.arch}-${i}.json`;
        const r = await new Deno.Command(Deno.execPath(), {
          args: ["run", "-A", `${ROOT}cli/main.ts`, ...args, "--threads", "1", "--json", file],
          stdout: "null",
          stderr: "piped",
        }).output();
        assert.equal(r.code, 0, new TextDecoder().decode(r.stderr));
        const part = parseOursBench(await Deno.readTextFile(file), file);
        assert.equal(part.errors.size, 0, JSON.stringify([...part.errors]));
        for (const [k, f] of part.figures) figures.set(k, f.ms);
      }
      for (const run of u.plan) {
        const key = `${run.arch} ${run.mode} B${run.batch} L${run.seqLen}`;
        // "sampled" rows come from a bench that has the mode; where it has none the table shows "—".
        if (run.mode === "sampled" && !figures.has(key)) continue;
        assert.ok((figures.get(key) ?? 0) > 0, `${key} missing from our bench's JSON: ${[...figures.keys()]}`);
      }
    }
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});

/** Why the end-to-end run is skipped here, or null. */
function e2eSkip(): string | null {
  try {
    Deno.statSync(`${MAMBA_SSM_DIR}/mamba_ssm/__init__.py`);
  } catch {
    return `skipped: no mamba_ssm source in ${MAMBA_SSM_DIR} (tests/gpu_peer/fetch_mamba_ssm.sh)`;
  }
  try {
    const r = new Deno.Command("python3", {
      args: ["-c", "import torch, triton, einops; assert torch.cuda.is_available()"],
      stdout: "null",
      stderr: "null",
    }).outputSync();
    if (!r.success) return "skipped: python3 has no torch + triton + einops with a CUDA device";
  } catch {
    return "skipped: no python3 on the PATH";
  }
  return null;
}
const skip = e2eSkip();

Deno.test({
  name: `gpu peer end to end at a tiny shape, 1 repetition: every run timed on both sides${skip ? ` (${skip})` : ""}`,
  ignore: skip !== null,
  async fn() {
    const tmp = await Deno.makeTempDir({ prefix: "perfmamba-gpu-peer-e2e-" });
    try {
      const json = `${tmp}/peer.json`;
      const args = ["run", "-A", new URL("./peer_gpu.ts", import.meta.url).pathname, "--dims", TINY];
      args.push("--seqlens", "16,32", "--batches", "1,2", "--decode-tokens", "4", "--reps", "1", "--iters", "1");
      args.push("--backend", "auto", "--modes", "prefill,decode,greedy", "--dtypes", "fp32,bf16", "--json", json);
      const r = await new Deno.Command(Deno.execPath(), { args, stdout: "piped", stderr: "piped" }).output();
      assert.equal(r.code, 0, new TextDecoder().decode(r.stderr));
      const doc = JSON.parse(await Deno.readTextFile(json)) as GpuPeerResult;
      assert.equal(doc.rows.length, 2 * (2 + 2 * 2));
      for (const row of doc.rows) {
        for (const s of [row.ours, row.theirs.fp32!, row.theirs.bf16!]) assert.ok(s.ms && s.ms.median > 0, s.error);
      }
      const table = new TextDecoder().decode(r.stdout).split("\n").filter((l) => l.startsWith("|"));
      assert.deepEqual(table, gpuPeerTable(doc.rows, ["fp32", "bf16"]).split("\n"));
      assert.match(doc.mambaSsm!.paths["mamba1 prefill scan"], /selective_scan/);
    } finally {
      await Deno.remove(tmp, { recursive: true });
    }
  },
});

Deno.test("gpu peer: units take our presets' dims for both sides", () => {
  const [u1, u2] = units(parseGpuPeerArgs(["--sizes", "130m"]));
  assert.deepEqual(u1.config, presetConfig("mamba1", "130m"));
  assert.deepEqual(u2.config, presetConfig("mamba2", "130m"));
  const [t] = units(parseGpuPeerArgs(["--dims", TINY, "--arches", "mamba2"]));
  assert.deepEqual(t.config, makeConfig("mamba2", { dModel: 64, nLayer: 2, vocabSize: 256 }));
  assert.deepEqual(t.shape, ["--dims", TINY]);
});
