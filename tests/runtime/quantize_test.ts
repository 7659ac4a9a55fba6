/**
 * Quantized host weights (issue 16): which matrices quantizeWeights quantizes, their blocks against ggml's
 * quantizers, MambaModel.load through uploadQuantizedMatrix, the logits of a quantized model against the f32 model of
 * its dequantized weights (the exact reference) and against the f32 original (a measured tolerance), and every bad
 * input by name.
 */
import assert from "node:assert/strict";
import type { Backend } from "../../runtime/backend.ts";
import { loadCheckpoint, loadWeights, memorySource, toHostWeights, toModelWeights } from "../../runtime/checkpoint.ts";
import { ggufTensorBytes, parseGguf } from "../../runtime/gguf.ts";
import { ggufCheckpoint } from "../../runtime/gguf_mamba.ts";
import { checkpointFiles } from "../../runtime/checkpoint_write.ts";
import {
  parseSafetensors,
  type RawTensorToWrite,
  type TensorToWrite,
  writeSafetensors,
} from "../../runtime/safetensors.ts";
import { componentWeightBytes, forwardBytes, quantizedMatrixBytes, total } from "../../runtime/cost.ts";
import { presetConfig } from "../../runtime/presets.ts";
import { dequantize, quantizeQ4_0, quantizeQ8_0 } from "../../runtime/ggml_types.ts";
import { MambaModel } from "../../runtime/model.ts";
import {
  dequantizeWeights,
  quantizedMatrixNames,
  QuantizeError,
  quantizeWeights,
  requireF32Weights,
  weightsQuantFormat,
} from "../../runtime/quantize.ts";
import type { HostMatrix, MambaWeights } from "../../runtime/weights.ts";
import { isQuantized } from "../../runtime/weights.ts";
import { createWasmBackend } from "../../wasm/backend.ts";
import { dirSource } from "../../cli/fs_source.ts";
import { fixtureDir } from "../_golden.ts";

const TOKENS = [1, 7, 42, 3, 200, 17, 5, 99, 12, 64, 8, 150, 31, 2, 77, 19, 250, 4, 60, 33];

/**
 * A WASM backend, which keeps q8_0 and q4_0 blocks, on its 16-bit integer path (named: the default is 8-bit
 * activations, whose wider bound the op suite checks; the 1e-4 comparisons below are the 16-bit path's).
 */
async function quantBackend(): Promise<{ backend: Backend }> {
  const wasm = await createWasmBackend({ threads: 1, quantActivations: "int16" });
  assert.deepStrictEqual([...wasm.capabilities.quantFormats].sort(), ["q4_0", "q8_0"]);
  return { backend: wasm };
}

/** `inner` as a backend without quantized formats (as WebGPU before its kernels, or a third-party backend). */
function withoutQuant(inner: Backend): Backend {
  const capabilities = { ...inner.capabilities, quantFormats: [] };
  return new Proxy(inner, {
    get(target, prop) {
      if (prop === "capabilities") return capabilities;
      if (prop === "uploadQuantizedMatrix") return undefined;
      const v = Reflect.get(target, prop);
      return typeof v === "function" ? v.bind(target) : v;
    },
  });
}

async function logitsOf(weights: MambaWeights<HostMatrix>, backend: Backend): Promise<Float32Array> {
  const model = MambaModel.load(weights, backend);
  try {
    const { logits, state } = await model.prefill(TOKENS);
    state.dispose();
    return logits.data;
  } finally {
    model.dispose();
  }
}

/** Runs f, which must throw an instance of `type` whose message contains `text`; returns the error. */
function throwsWith(f: () => unknown, type: new (...a: never[]) => Error, text: string): Error {
  try {
    f();
  } catch (e) {
    assert(e instanceof type, `wrong error type: ${e}`);
    assert(e.message.includes(text), `"${e.message}" lacks "${text}"`);
    return e;
  }
  throw new assert.AssertionError({ message: `did not throw (wanted "${text}")` });
}

/** max |a − b| / max |b|. */
function relErr(a: Float32Array, b: Float32Array): number {
  let num = 0, den = 0;
  for (let i = 0; i < a.length; i++) {
    num = Math.max(num, Math.abs(a[i] - b[i]));
    den = Math.max(den, Math.abs(b[i]));
  }
  return num / den;
}

Deno.test("quantizeWeights: the big matrices become ggml blocks; SSM parameters, norms, conv and embeddings stay f32", async () => {
  const f32 = await loadWeights(dirSource(fixtureDir("mamba1-tiny")));
  const q4 = quantizeWeights(f32, { bits: 4 });
  // dtRank 4 does not fill a block of 32: it is zero-padded to 32 (runtime/dt_rank_pad.ts, tested in
  // dt_rank_pad_test.ts) so dt_proj holds blocks too; embedding / lm_head only on request.
  assert.deepStrictEqual(quantizedMatrixNames(q4), [
    "layers.0.in_proj",
    "layers.0.x_proj",
    "layers.0.dt_proj",
    "layers.0.out_proj",
    "layers.1.in_proj",
    "layers.1.x_proj",
    "layers.1.dt_proj",
    "layers.1.out_proj",
  ]);
  assert.deepStrictEqual([q4.config.dtRank, q4.config.dtRankPaddedFrom], [32, 4]);
  // dt_proj kept f32: nothing padded, dt_proj (k = 4) stays f32.
  const keepDt = quantizeWeights(f32, { bits: 4, keep: ["dt_proj"] });
  assert(keepDt.config === f32.config && !quantizedMatrixNames(keepDt).some((n) => n.endsWith("dt_proj")));
  assert.deepStrictEqual(weightsQuantFormat(q4), "q4_0");
  const l0 = q4.layers[0], f0 = f32.layers[0];
  assert(l0.arch === "mamba1" && isQuantized(l0.inProj) && isQuantized(l0.dtProj) && l0.dtProj.k === 32);
  assert.deepStrictEqual(l0.inProj.blocks, quantizeQ4_0(f0.inProj.data));
  assert.deepStrictEqual([l0.inProj.n, l0.inProj.k], f0.inProj.shape);
  // conv1d's weight and bias, and D are rounded to f16 (the kernels read halves), A_log moved so that A = −exp(A_log)
  // is the f16 nearest to the original A; dt_proj's bias and the norms are the input's own.
  const half = (a: Float32Array) => new Float32Array(new Float16Array(a));
  for (const [a, b] of [[l0.D, f0.D], [l0.convWeight, f0.convWeight], [l0.convBias, f0.convBias]]) {
    assert.deepStrictEqual(a!.data, half(b!.data));
    assert.notDeepStrictEqual(a!.data, b!.data); // the fixture's values are not halves already
  }
  const A = l0.aLog.data.map((v) => -Math.exp(v)), A0 = half(f0.aLog.data.map((v) => -Math.exp(v)));
  assert(A.every((v, i) => Math.abs(v - A0[i]) <= 1e-6 * Math.abs(A0[i])), "A is the nearest f16 to the original A");
  assert.notDeepStrictEqual(l0.aLog.data, f0.aLog.data);
  assert.equal(q4.paramFormat, "f16");
  assert(f0.arch === "mamba1" && l0.dtProjBias === f0.dtProjBias && l0.norm === f0.norm);
  const keepF32 = quantizeWeights(f32, { bits: 4, params: "f32" });
  assert(keepF32.layers[0].aLog === f0.aLog && keepF32.layers[0].D === f0.D && keepF32.paramFormat === "f32");
  assert(q4.embedding === f32.embedding && q4.normF === f32.normF);
  // The input is left as it was.
  assert.deepStrictEqual(quantizedMatrixNames(f32), []);

  const q8 = quantizeWeights(f32, { bits: 8, embeddings: true, keep: ["x_proj"] });
  const names = quantizedMatrixNames(q8);
  assert(names.includes("embedding") && !names.some((n) => n.endsWith("x_proj")), names.join());
  assert(isQuantized(q8.embedding));
  assert.deepStrictEqual(q8.embedding.blocks, quantizeQ8_0(f32.embedding.data));
  // dequantizeWeights decodes exactly the blocks.
  const back = dequantizeWeights(q8);
  assert.deepStrictEqual(
    back.layers[1].outProj.data,
    dequantize(quantizeQ8_0(f32.layers[1].outProj.data), "Q8_0", 64 * 128),
  );
  assert.deepStrictEqual(back.layers[1].outProj.shape, [64, 128]);
});

Deno.test("quantizeWeights: bad input is a named QuantizeError", async () => {
  const f32 = await loadWeights(dirSource(fixtureDir("mamba2-tiny")));
  throwsWith(() => quantizeWeights(f32, { bits: 3 as 8 }), QuantizeError, "bits must be 8 or 4, got 3");
  throwsWith(() => quantizeWeights(f32, { bits: 8, block: 64 }), QuantizeError, "block size 64");
  throwsWith(() => quantizeWeights(f32, { bits: 8, keep: ["A_log"] }), QuantizeError, 'cannot keep "A_log"');
  const q8 = quantizeWeights(f32, { bits: 8 });
  throwsWith(() => quantizeWeights(q8, { bits: 4 }), QuantizeError, "already quantized (layers.0.in_proj holds q8_0");
  throwsWith(() => requireF32Weights(q8, "prune"), QuantizeError, "prune the f32 model first, then quantize");
  assert(requireF32Weights(f32, "prune") === f32);
  const bad = await loadWeights(dirSource(fixtureDir("mamba2-tiny")));
  bad.layers[1].outProj.data[3 * 128 + 5] = NaN;
  throwsWith(() => quantizeWeights(bad, { bits: 4 }), QuantizeError, "layers.1.out_proj holds NaN at row 3, column 5");
  bad.layers[1].outProj.data[3 * 128 + 5] = 0;
  bad.layers[0].inProj.data[0] = -Infinity;
  throwsWith(() => quantizeWeights(bad, { bits: 8 }), QuantizeError, "layers.0.in_proj holds -Infinity at row 0");
});

Deno.test("MambaModel.load: a backend without the quantized format is an error naming it, never a silent fallback", async () => {
  const f32 = await loadWeights(dirSource(fixtureDir("mamba1-tiny")));
  const wasm = await createWasmBackend({ threads: 1 });
  try {
    const bare = withoutQuant(wasm);
    const e = throwsWith(() => MambaModel.load(quantizeWeights(f32, { bits: 4 }), bare), Error, "in_proj");
    assert(e.message.includes("supports no quantized format"), e.message);
    assert(e.message.includes("layers.0.in_proj holds q4_0 blocks"), e.message);
    assert(e.message.includes(`the ${wasm.name} backend cannot keep q4_0`), e.message);
    assert(e.message.includes("load the f32 (dequantized) weights instead"), e.message);
  } finally {
    wasm.dispose();
  }
});

for (const fixture of ["mamba1-tiny", "mamba2-tiny", "mamba2-groups", "falcon-mamba-tiny"]) {
  for (const bits of [8, 4] as const) {
    Deno.test(`quantized ${fixture} q${bits}: logits equal the dequantized f32 model's; parameterCount unchanged`, async () => {
      const f32 = await loadWeights(dirSource(fixtureDir(fixture)));
      const q = quantizeWeights(f32, { bits, embeddings: true });
      const { backend } = await quantBackend();
      const plain = await createWasmBackend({ threads: 1 });
      try {
        const model = MambaModel.load(q, backend);
        const reference = MambaModel.load(f32, plain);
        assert.deepStrictEqual(model.parameterCount, reference.parameterCount);
        model.dispose();
        reference.dispose();
        const got = await logitsOf(q, backend);
        const exact = await logitsOf(dequantizeWeights(q), plain);
        const original = await logitsOf(f32, plain);
        const e = relErr(got, exact);
        assert(e <= 1e-4, `vs the dequantized f32 model: ${e}`);
        // Measured against the f32 original on these random-init fixtures, embeddings quantized too (max |Δ| /
        // max |logit|): q8 0.7–2.0%, q4 10–35%; the bounds leave a factor of about 2.
        const drift = relErr(got, original);
        assert(drift > 0, "quantization changed nothing: the weights were not quantized");
        assert(drift <= (bits === 8 ? 0.04 : 0.7), `vs the f32 original: ${drift}`);
        console.log(`${fixture} q${bits}: vs f32 ${drift.toExponential(2)}`);
      } finally {
        backend.dispose();
        plain.dispose();
      }
    });
  }
}

Deno.test("cost: a quantized model's weights are counted in its formats (q8_0 34, q4_0 18 bytes per 32 weights)", async () => {
  const f32 = await loadWeights(dirSource(fixtureDir("mamba1-tiny")));
  const { backend } = await quantBackend();
  try {
    const model = MambaModel.load(quantizeWeights(f32, { bits: 4, keep: ["out_proj"] }), backend);
    // dt_proj (dtRank 4 zero-padded to 32) holds blocks; out_proj kept f32 on request.
    assert.deepStrictEqual(model.quantFormats, { in_proj: "q4_0", x_proj: "q4_0", dt_proj: "q4_0" });
    const c = model.config;
    const bytes = componentWeightBytes(c, quantizedMatrixBytes(4, model.quantFormats));
    const dense = componentWeightBytes(c);
    const D = c.dInner, d = c.dModel, N = c.dState, R = c.dtRank;
    // Each layer: in_proj [2D, d] → 2D·d/32 blocks of 18 bytes; x_proj [R + 2N, D] likewise.
    assert.equal(bytes.in_proj, c.nLayer * (2 * D * d / 32) * 18);
    assert.equal(bytes.x_proj, c.nLayer * ((R + 2 * N) * D / 32) * 18);
    assert.equal(R, 32);
    assert.equal(bytes.dt_proj, c.nLayer * (D * R / 32) * 18 + c.nLayer * D * 4); // blocks + the f32 bias
    for (const k of ["out_proj", "embedding", "ssm", "conv1d", "norm"] as const) {
      assert.equal(bytes[k], dense[k], k);
    }
    // forwardBytes reads the weights in the same widths.
    const fb = forwardBytes(c, 1, 1, { matrixBytes: quantizedMatrixBytes(4, model.quantFormats) });
    assert.equal(fb.in_proj.weights, bytes.in_proj);
    assert.equal(fb.x_proj.weights, bytes.x_proj);
    model.dispose();
  } finally {
    backend.dispose();
  }
  // 130m shapes, every quantizable matrix (embedding included): the issue's memory targets are q8 ≤ 0.27×, q4 ≤ 0.16×.
  // Mamba-1's dt_proj (k = dtRank 48, not a multiple of 32) kept f32 puts its q8 at 0.2806×; quantizeWeights pads
  // the rank to 64 instead (dt_rank_pad_test.ts: 0.2730×, q4 0.1477×).
  const ratio = (arch: "mamba1" | "mamba2", f: "q8_0" | "q4_0") => {
    const c = presetConfig(arch, "130m");
    const kinds: Record<string, typeof f> = { in_proj: f, x_proj: f, out_proj: f, embedding: f, lm_head: f };
    if (c.dtRank % 32 === 0) kinds.dt_proj = f;
    return total(componentWeightBytes(c, quantizedMatrixBytes(4, kinds))) / total(componentWeightBytes(c));
  };
  assert.equal(ratio("mamba1", "q8_0").toFixed(4), "0.2806");
  assert.equal(ratio("mamba1", "q4_0").toFixed(4), "0.1582");
  assert.equal(ratio("mamba2", "q8_0").toFixed(4), "0.2672");
  assert.equal(ratio("mamba2", "q4_0").toFixed(4), "0.1424");
});

Deno.test("quantized checkpoint: safetensors codes + scales and quantization_config; reloads with every block unchanged", async () => {
  for (const fixture of ["mamba1-tiny", "mamba2-tiny"]) {
    for (const bits of [8, 4] as const) {
      const f32 = await loadWeights(dirSource(fixtureDir(fixture)));
      const q = quantizeWeights(f32, { bits, embeddings: true, keep: ["out_proj"] });
      const files = checkpointFiles(q);
      const cfg = JSON.parse(files["config.json"]);
      const format = bits === 8 ? "q8_0" : "q4_0";
      cfg.quantization_config.modules_quantized.sort();
      assert.deepStrictEqual(cfg.quantization_config, {
        quant_method: "perfmamba_blockwise",
        bits,
        block_size: 32,
        format,
        param_dtype: "float16",
        modules_quantized: quantizedMatrixNames(q).map((n) =>
          n === "embedding" ? "backbone.embeddings" : `backbone.${n.replace(/^layers\.(\d+)\./, "layers.$1.mixer.")}`
        ).sort(),
      });
      const st = parseSafetensors(files["model.safetensors"], "model.safetensors");
      const inProj = st.tensors.get("backbone.layers.0.mixer.in_proj.weight")!;
      const scale = st.tensors.get("backbone.layers.0.mixer.in_proj.weight_scale")!;
      const [n, k] = [inProj.shape[0], 64];
      assert.deepStrictEqual([inProj.dtype, inProj.shape], bits === 8 ? ["I8", [n, k]] : ["U8", [n, k / 2]]);
      assert.deepStrictEqual([scale.dtype, scale.shape], ["F16", [n, k / 32]]);
      assert.equal(st.tensors.get("backbone.layers.0.mixer.out_proj.weight")!.dtype, "F32"); // kept
      for (const name of ["D", "conv1d.weight", "conv1d.bias"]) {
        assert.equal(st.tensors.get(`backbone.layers.0.mixer.${name}`)!.dtype, "F16", name);
      }
      // A_log F32: the A_log whose A is a half is not a half itself.
      assert.equal(st.tensors.get("backbone.layers.0.mixer.A_log")!.dtype, "F32");
      assert.equal(st.tensors.get("backbone.layers.0.norm.weight")!.dtype, "F32");
      const back = toModelWeights(await loadCheckpoint(memorySource(files)));
      assert.deepStrictEqual(back, { ...q, config: back.config });
      assert.deepStrictEqual(back.config, q.config);
      // Writing the reloaded model again gives the same bytes.
      assert.deepStrictEqual(checkpointFiles(back), files);
      // The f32 reader (pruning, export) dequantizes it.
      assert.deepStrictEqual(await loadWeights(memorySource(files)), dequantizeWeights(q));
    }
  }
});

/** The files of a q8 mamba1-tiny checkpoint with `edit` applied to its config and tensors. */
async function brokenCheckpoint(
  edit: (cfg: Record<string, unknown>, tensors: (TensorToWrite | RawTensorToWrite)[]) => void,
): Promise<Record<string, string | Uint8Array>> {
  const files = checkpointFiles(quantizeWeights(await loadWeights(dirSource(fixtureDir("mamba1-tiny"))), { bits: 8 }));
  const cfg = JSON.parse(files["config.json"]);
  const st = parseSafetensors(files["model.safetensors"], "model.safetensors");
  const tensors: (TensorToWrite | RawTensorToWrite)[] = [...st.tensors.values()].map((r) => ({
    name: r.name,
    shape: [...r.shape],
    dtype: r.dtype,
    bytes: r.bytes.slice(),
  }));
  edit(cfg, tensors);
  return { "config.json": JSON.stringify(cfg), "model.safetensors": writeSafetensors(tensors) };
}

Deno.test("quantized checkpoint: bad input names the tensor or the config key", async () => {
  const load = async (files: Record<string, string | Uint8Array>) =>
    toModelWeights(await loadCheckpoint(memorySource(files)));
  const IN = "backbone.layers.0.mixer.in_proj.weight";
  const cases: [string, (cfg: Record<string, unknown>, t: (TensorToWrite | RawTensorToWrite)[]) => void, RegExp][] = [
    [
      "scales missing",
      (_c, t) => t.splice(t.findIndex((x) => x.name === IN + "_scale"), 1),
      /model\.safetensors: quantized tensor "backbone\.layers\.0\.mixer\.in_proj\.weight": its scales "[^"]*in_proj\.weight_scale" are missing/,
    ],
    [
      "scales of the wrong shape",
      (_c, t) => {
        const s = t.find((x) => x.name === IN + "_scale") as RawTensorToWrite;
        s.shape = [s.shape[0] * s.shape[1]];
      },
      /in_proj\.weight_scale": F16 \[512\], want F16 \[256, 2\]/,
    ],
    [
      "unknown bits",
      (c) => ((c.quantization_config as Record<string, unknown>).bits = 3),
      /quantization_config\.bits 3: unknown bits \(8 or 4\)/,
    ],
    [
      "a block size that does not divide the row",
      (c) => ((c.quantization_config as Record<string, unknown>).block_size = 48),
      /quantization_config\.block_size 48 is not supported \(32\)/,
    ],
    [
      "codes without a quantization_config",
      (c) => delete c.quantization_config,
      /in_proj\.weight" is I8 \(quantized codes\) but .*config\.json has no quantization_config/,
    ],
    [
      "codes of the wrong dtype for the format",
      (c) => {
        (c.quantization_config as Record<string, unknown>).bits = 4;
        (c.quantization_config as Record<string, unknown>).format = "q4_0";
      },
      /codes are I8 \[256, 64\], q4_0 of \[256, 64\] needs U8 \[256, 32\]/,
    ],
  ];
  for (const [what, edit, want] of cases) {
    await assert.rejects(async () => load(await brokenCheckpoint(edit)), want, what);
  }
});

/** Why the gguf-py cases are skipped here, or null. */
const GGUF_PY_SKIP: string | null = (() => {
  try {
    const r = new Deno.Command("python3", { args: ["-c", "import gguf, numpy"], stdout: "null", stderr: "null" })
      .outputSync();
    return r.success ? null : "skipped: python3 cannot import gguf-py (pip install gguf==0.19.0)";
  } catch (e) {
    return `skipped: no python3 (${(e as Error).message})`;
  }
})();

for (const fixture of ["mamba1-tiny", "mamba2-tiny"]) {
  for (const type of ["Q8_0", "Q4_0"] as const) {
    Deno.test({
      name: `GGUF ${fixture} ${type} made by gguf-py: its matrices load block for block, not requantized` +
        (GGUF_PY_SKIP ? ` (${GGUF_PY_SKIP})` : ""),
      ignore: GGUF_PY_SKIP !== null,
      async fn() {
        const tmp = await Deno.makeTempDir({ prefix: "perfmamba-quant-" });
        try {
          const path = `${tmp}/theirs.gguf`;
          const script = new URL("./gguf_llama_cpp.py", import.meta.url).pathname;
          const r = await new Deno.Command("python3", {
            args: [script, "convert", fixtureDir(fixture), path, type.toLowerCase()],
            stderr: "piped",
          }).output();
          assert(r.success, new TextDecoder().decode(r.stderr));
          const file = parseGguf(await Deno.readFile(path), path);
          const ckpt = ggufCheckpoint(file);
          const format = type === "Q8_0" ? "q8_0" : "q4_0";
          assert.equal(ckpt.quantization?.format, format);
          const w = toModelWeights(ckpt);
          const raw = (name: string) => ggufTensorBytes(file, file.tensors.find((t) => t.name === name)!);
          const l0 = w.layers[0];
          for (
            const [m, name] of [[l0.inProj, "blk.0.ssm_in.weight"], [l0.outProj, "blk.0.ssm_out.weight"], [
              w.embedding,
              "token_embd.weight",
            ]] as const
          ) {
            assert(isQuantized(m), name);
            assert.equal(m.format, format);
            assert.deepStrictEqual(m.blocks, raw(name).slice(), `${name}: blocks differ from the file's`);
          }
          // gguf-py's blocks are ggml's quantizer's, which ours reproduces byte for byte.
          const f32 = await loadWeights(dirSource(fixtureDir(fixture)));
          const q = isQuantized(l0.inProj) ? l0.inProj.blocks : null;
          assert.deepStrictEqual(q, (type === "Q8_0" ? quantizeQ8_0 : quantizeQ4_0)(f32.layers[0].inProj.data));
          // The model on the kept blocks computes what the dequantized file computes.
          const { backend } = await quantBackend();
          const plain = await createWasmBackend({ threads: 1 });
          try {
            const e = relErr(await logitsOf(w, backend), await logitsOf(toHostWeights(ckpt), plain));
            assert(e <= 1e-4, `vs the dequantized file: ${e}`);
          } finally {
            backend.dispose();
            plain.dispose();
          }
        } finally {
          await Deno.remove(tmp, { recursive: true });
        }
      },
    });
  }
}

Deno.test("quantized checkpoint written before param_dtype (F32 parameters, no key) loads holding them in f16", async () => {
  const f32 = await loadWeights(dirSource(fixtureDir("mamba1-tiny")));
  const old = checkpointFiles(quantizeWeights(f32, { bits: 8, params: "f32" }));
  const cfg = JSON.parse(old["config.json"]);
  assert.equal(cfg.quantization_config.param_dtype, "float32");
  delete cfg.quantization_config.param_dtype; // as written before the key existed
  const back = toModelWeights(await loadCheckpoint(memorySource({ ...old, "config.json": JSON.stringify(cfg) })));
  // The default rule: rounded (A_log snapped) and held in f16, exactly as quantizing the f32 model today.
  assert.deepStrictEqual(back, { ...quantizeWeights(f32, { bits: 8 }), config: back.config });
  assert.equal(back.paramFormat, "f16");
  // A param_dtype that is neither is an error naming the key.
  cfg.quantization_config.param_dtype = "bfloat16";
  await assert.rejects(
    async () => toModelWeights(await loadCheckpoint(memorySource({ ...old, "config.json": JSON.stringify(cfg) }))),
    /quantization_config\.param_dtype "bfloat16" is not supported \("float16" or "float32"\)/,
  );
});
