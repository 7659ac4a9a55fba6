/**
 * `perfmamba quantize` and `--weights q8|q4` end to end: a quantized checkpoint folder whose blocks are the
 * quantizer's, that runs with the logits of the same quantization done at load, prune-then-quantize, and clear
 * errors (exit 2, nothing written) for bad bits, block size, --keep, an already quantized input and an existing
 * output folder.
 */
import assert from "node:assert/strict";
import { loadCheckpoint, loadWeights, toModelWeights } from "../../runtime/checkpoint.ts";
import { MambaModel } from "../../runtime/model.ts";
import { dequantizeWeights, hostWeightBytes, quantizedMatrixNames, quantizeWeights } from "../../runtime/quantize.ts";
import { createWasmBackend } from "../../wasm/backend.ts";
import { dirSource } from "../../cli/fs_source.ts";
import { fixtureDir } from "../_golden.ts";
import { assertClose } from "../_assert.ts";
import { cli } from "./_cli.ts";
import { parseSafetensors } from "../../runtime/safetensors.ts";
import type { HostMatrix, MambaWeights } from "../../runtime/weights.ts";

const TOKENS = "1,7,42,3,200,17,5,99,12,64";

/**
 * Last-position logits from `perfmamba logits` on WASM, one thread; quantized matrices on the 16-bit path (named:
 * the default is 8-bit activations), whose bound makes the 1e-4 comparisons with the dequantized model below hold.
 */
async function cliLogits(...args: string[]): Promise<number[]> {
  const r = await cli(
    "logits",
    ...args,
    "--tokens",
    TOKENS,
    "--backend",
    "wasm",
    "--threads",
    "1",
    "--quant-math",
    "int16",
    "--last",
  );
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout).logits.flat();
}

/** Last-position logits of the f32 model of `w`'s dequantized weights (WASM, one thread). */
async function dequantizedLogits(w: MambaWeights<HostMatrix>): Promise<Float32Array> {
  const backend = await createWasmBackend({ threads: 1 });
  try {
    using m = MambaModel.load(dequantizeWeights(w), backend);
    const { logits, state } = await m.prefill(TOKENS.split(",").map(Number), { lastOnly: true });
    state.dispose();
    return logits.data;
  } finally {
    backend.dispose();
  }
}

Deno.test("cli quantize: a q8 / q4 checkpoint of the quantizer's blocks, running as --weights at load does", async () => {
  const dir = await Deno.makeTempDir({ prefix: "perfmamba-quantize-" });
  try {
    for (const fixture of ["mamba1-tiny", "mamba2-tiny"]) {
      const fx = fixtureDir(fixture);
      const before = await Deno.readFile(`${fx}/model.safetensors`);
      for (const bits of ["8", "4"]) {
        const out = `${dir}/${fixture}-q${bits}`;
        const r = await cli("quantize", "--model", fx, "--out", out, "--bits", bits);
        assert.equal(r.code, 0, r.stderr);
        assert.match(r.stdout, new RegExp(`matrices to q${bits}_0; weights \\d+ → \\d+ bytes`));
        const f32 = await loadWeights(dirSource(fx));
        const want = quantizeWeights(f32, { bits: bits === "8" ? 8 : 4 });
        const got = toModelWeights(await loadCheckpoint(dirSource(out)));
        assert.deepStrictEqual(got.layers, want.layers);
        const record = JSON.parse(await Deno.readTextFile(`${out}/quantization.json`));
        assert.deepStrictEqual(record.quantized, quantizedMatrixNames(want));
        assert(record.weightBytes.after < record.weightBytes.before);
        // info counts the same parameters and the bytes as stored.
        const info = async (m: string) => {
          const r = await cli("info", "--model", m, "--format", "json");
          assert.equal(r.code, 0, r.stderr);
          return JSON.parse(r.stdout);
        };
        const [qi, fi] = [await info(out), await info(fx)];
        assert.equal(qi.parameters, fi.parameters);
        assert.equal(qi.weight_format, `q${bits}_0`);
        assert.equal(fi.weight_format, "f32");
        assert.equal(qi.weight_bytes, hostWeightBytes(want));
        assert.equal(fi.weight_bytes, 4 * fi.parameters);
        // The folder runs with the logits of --weights q8|q4 on the f32 checkpoint (the same blocks) ...
        const folder = await cliLogits("--model", out);
        assert.deepStrictEqual(folder, await cliLogits("--model", fx, "--weights", `q${bits}`));
        // ... which are the f32 model's of the dequantized weights.
        assertClose(Float32Array.from(folder), await dequantizedLogits(want), `${fixture} q${bits}`, 1e-4);
      }
      assert.deepStrictEqual(await Deno.readFile(`${fx}/model.safetensors`), before, "input untouched");
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("cli quantize: prune, then quantize", async () => {
  const dir = await Deno.makeTempDir({ prefix: "perfmamba-quantize-" });
  try {
    const fx = fixtureDir("mamba2-tiny");
    const p = await cli("prune", "--model", fx, "--out", `${dir}/p`, "--ratio", "0.5", "--score", "index", "--quiet");
    assert.equal(p.code, 0, p.stderr);
    const q = await cli("quantize", "--model", `${dir}/p`, "--out", `${dir}/pq`, "--bits", "4", "--embeddings");
    assert.equal(q.code, 0, q.stderr);
    const pruned = await loadWeights(dirSource(`${dir}/p`));
    const got = toModelWeights(await loadCheckpoint(dirSource(`${dir}/pq`)));
    assert.deepStrictEqual(got, quantizeWeights(pruned, { bits: 4, embeddings: true }));
    assert.equal(got.config.layerStateSizes?.[0] ?? got.config.dState, 8);
    assertClose(
      Float32Array.from(await cliLogits("--model", `${dir}/pq`)),
      await dequantizedLogits(got),
      "pruned q4 vs its dequantized f32 model",
      1e-4,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("cli quantize / --weights: bad input exits 2 naming the flag, and writes nothing", async () => {
  const dir = await Deno.makeTempDir({ prefix: "perfmamba-quantize-" });
  try {
    const fx = fixtureDir("mamba1-tiny");
    const ok = await cli("quantize", "--model", fx, "--out", `${dir}/q8`, "--bits", "8");
    assert.equal(ok.code, 0, ok.stderr);
    const cases: [string[], RegExp][] = [
      [["--model", fx, "--bits", "3"], /--bits must be one of 8, 4, got "3"/],
      [["--model", fx], /--bits/],
      [["--model", fx, "--bits", "8", "--block", "64"], /--block 64: q8_0 \/ q4_0 blocks hold 32 weights/],
      [["--model", fx, "--bits", "8", "--keep", "A_log"], /--keep A_log: not a matrix kind/],
      [["--model", `${dir}/q8`, "--bits", "4"], /the model is already quantized \(layers\.0\.in_proj holds q8_0/],
    ];
    for (const [args, want] of cases) {
      const r = await cli("quantize", ...args, "--out", `${dir}/x`);
      assert.equal(r.code, 2, `${args.join(" ")}: ${r.stderr}`);
      assert.match(r.stderr, want);
      await assert.rejects(() => Deno.stat(`${dir}/x`), Deno.errors.NotFound, `${args.join(" ")} wrote --out`);
    }
    const exists = await cli("quantize", "--model", fx, "--out", `${dir}/q8`, "--bits", "4");
    assert.equal(exists.code, 2);
    assert.match(exists.stderr, /already exists/);
    const again = await cli(
      "logits",
      "--model",
      `${dir}/q8`,
      "--tokens",
      "1,2",
      "--backend",
      "wasm",
      "--weights",
      "q4",
    );
    assert.equal(again.code, 2);
    assert.match(again.stderr, /--weights q4: quantize: the model is already quantized/);
    const badW = await cli("logits", "--model", fx, "--tokens", "1,2", "--backend", "wasm", "--weights", "q3");
    assert.equal(badW.code, 2);
    assert.match(badW.stderr, /--weights must be one of f32, f16, q8, q4/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("cli quantize --params / --params: A_log, conv1d and D stored F16 (default) or F32, held as asked", async () => {
  const dir = await Deno.makeTempDir({ prefix: "perfmamba-quantize-" });
  try {
    const fx = fixtureDir("mamba1-tiny");
    const f32 = await loadWeights(dirSource(fx));
    for (const params of ["f16", "f32"] as const) {
      const out = `${dir}/q8-${params}`;
      const r = await cli("quantize", "--model", fx, "--out", out, "--bits", "8", "--params", params);
      assert.equal(r.code, 0, r.stderr);
      const ckpt = await loadCheckpoint(dirSource(out));
      assert.equal(ckpt.quantization?.param_dtype, params === "f16" ? "float16" : "float32");
      const st = parseSafetensors(await Deno.readFile(`${out}/model.safetensors`), "model.safetensors");
      for (const name of ["D", "conv1d.weight", "conv1d.bias"]) {
        assert.equal(st.tensors.get(`backbone.layers.1.mixer.${name}`)!.dtype, params === "f16" ? "F16" : "F32");
      }
      assert.equal(st.tensors.get("backbone.layers.1.mixer.A_log")!.dtype, "F32"); // snapped, not a half
      assert.equal(st.tensors.get("backbone.layers.1.mixer.dt_proj.bias")!.dtype, "F32");
      const want = quantizeWeights(f32, { bits: 8, params });
      assert.deepStrictEqual(toModelWeights(ckpt), want);
      const record = JSON.parse(await Deno.readTextFile(`${out}/quantization.json`));
      assert.equal(record.params, params);
      assert.equal(record.weightBytes.after, hostWeightBytes(want));
      // The folder runs as --weights q8 --params … does on the f32 checkpoint.
      assert.deepStrictEqual(
        await cliLogits("--model", out),
        await cliLogits("--model", fx, "--weights", "q8", "--params", params),
      );
    }
    // f16 saves 2 bytes per value of the four tensors: 2 layers · (128·16 + 128·4 + 128 + 128).
    const bytes = async (p: string) =>
      JSON.parse(await Deno.readTextFile(`${dir}/q8-${p}/quantization.json`)).weightBytes.after;
    assert.equal((await bytes("f32")) - (await bytes("f16")), 2 * 2 * (128 * 16 + 128 * 4 + 128 + 128));
    const bad = await cli("quantize", "--model", fx, "--out", `${dir}/x`, "--bits", "8", "--params", "bf16");
    assert.equal(bad.code, 2, bad.stderr);
    assert.match(bad.stderr, /--params must be one of f16, f32, got "bf16"/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
