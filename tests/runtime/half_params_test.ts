/**
 * A quantized model's per-channel SSM parameters in f16 (A_log, conv1d's weight and bias, D): on both backends the
 * model computes what a float64 forward of its dequantized weights computes — with the f16-rounded parameters, A =
 * −exp(A_log) derived from the rounded A_log — in prefill (chunked scans) and in decode steps (one-token kernels;
 * WebGPU's fused ones, and the unfused ones, which must agree). The same reference with the unrounded parameters is
 * farther than the tolerance, so a kernel reading the original f32 values, or reading halves as f32, or dropping a
 * parameter, fails here. Memory: the backend holds 2 bytes per parameter value, not 4.
 */
import assert from "node:assert/strict";
import type { Backend } from "../../runtime/backend.ts";
import { loadWeights } from "../../runtime/checkpoint.ts";
import { MambaModel } from "../../runtime/model.ts";
import { dequantizeWeights, hostWeightBytes, quantizeWeights } from "../../runtime/quantize.ts";
import { componentWeightBytes, quantizedMatrixBytes, total } from "../../runtime/cost.ts";
import { padDtRankConfig } from "../../runtime/dt_rank_pad.ts";
import { presetConfig } from "../../runtime/presets.ts";
import type { HostMatrix, MambaWeights } from "../../runtime/weights.ts";
import { createWasmBackend } from "../../wasm/backend.ts";
import { dirSource } from "../../cli/fs_source.ts";
import { fixtureDir, readGolden } from "../_golden.ts";
import type { FixtureGolden } from "../_golden.ts";
import { referenceForward } from "../_reference_forward.ts";
import { TEST_BACKENDS } from "../_backends.ts";

/** Prefill this many of the golden tokens, then decode the rest one step at a time. */
const PREFILL = 29;

/** The backends: WASM with its exact quantized kernels (the reference is exact too), and WebGPU (always exact). */
const BACKENDS = [
  {
    name: "wasm",
    skip: null,
    create: (): Promise<Backend> => createWasmBackend({ threads: 2, quantActivations: false }),
  },
  ...TEST_BACKENDS.filter((b) => b.name === "webgpu"),
];

/** Logits [T, V] of every position: a prefill of the first PREFILL tokens, then one decode step per token. */
async function prefillThenSteps(model: MambaModel, ids: number[]): Promise<Float32Array> {
  const V = model.config.vocabSize;
  const out = new Float32Array(ids.length * V);
  const { logits, state } = await model.prefill(ids.slice(0, PREFILL));
  out.set(logits.data, 0);
  try {
    for (let t = PREFILL; t < ids.length; t++) out.set((await model.step([ids[t]], state)).data, t * V);
  } finally {
    state.dispose();
  }
  return out;
}

/** max |a − b| / max |b|. */
function relErr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let num = 0, den = 0;
  for (let i = 0; i < a.length; i++) {
    num = Math.max(num, Math.abs(a[i] - b[i]));
    den = Math.max(den, Math.abs(b[i]));
  }
  return num / den;
}

/** The f32 weights whose A_log, conv1d and D are `from`'s (unrounded): the reference a wrong kernel would match. */
function withParamsOf(w: MambaWeights, from: MambaWeights): MambaWeights {
  return {
    ...w,
    layers: w.layers.map((l, i) => {
      const f = from.layers[i];
      return { ...l, aLog: f.aLog, convWeight: f.convWeight, convBias: f.convBias, D: f.D };
    }),
  };
}

for (const fixture of ["mamba1-tiny", "mamba2-tiny", "mamba2-groups"]) {
  for (const tb of BACKENDS) {
    Deno.test({
      name: `f16 parameters, ${fixture} q8 on ${tb.name}: prefill and decode equal the float64 forward of the ` +
        `rounded parameters${tb.skip ? ` (${tb.skip})` : ""}`,
      ignore: tb.skip !== null,
      async fn() {
        const f32 = await loadWeights(dirSource(fixtureDir(fixture)));
        const q: MambaWeights<HostMatrix> = quantizeWeights(f32, { bits: 8 });
        assert.equal(q.paramFormat, "f16");
        const ids = readGolden<FixtureGolden>(fixtureDir(fixture)).input_ids;
        const deq = dequantizeWeights(q);
        const ref = referenceForward(deq, ids);
        const unrounded = referenceForward(withParamsOf(deq, f32), ids);
        const backend = await tb.create();
        try {
          const before = backend.memory().liveBytes;
          const model = MambaModel.load(q, backend);
          const halfBytes = backend.memory().liveBytes - before;
          assert.equal(model.paramFormat, "f16");
          const got = await prefillThenSteps(model, ids);
          // All 37 tokens in one prefill: WebGPU's Mamba-1 scan then takes two chunks (chunk, combine and output
          // kernels), not one.
          const whole = await model.prefill(ids);
          whole.state.dispose();
          const ew = relErr(whole.logits.data, ref);
          // Unfused decode steps (WebGPU: the fused path is the default) must agree with the fused ones.
          model.fusedDecode = false;
          const unfused = await prefillThenSteps(model, ids);
          model.dispose();
          // f32 arithmetic against float64, measured max |Δ| / max |logit|: WASM ≤ 6.3e-7 (bound 1e-5), llvmpipe ≤ 6.5e-7 (bound
          // 1e-4): tighter than the fixtures. README. 1e-4 / 1e-3, so that the unrounded reference (1.4e-4 and up) fails.
          const tol = tb.name === "wasm" ? 1e-5 : 1e-4;
          const e = relErr(got, ref), eu = relErr(unfused, ref), miss = relErr(got, unrounded);
          console.log(
            `${fixture} ${tb.name}: vs rounded ${e.toExponential(2)}, unfused ${eu.toExponential(2)}, ` +
              `vs unrounded ${miss.toExponential(2)}`,
          );
          assert(e <= tol, `vs the float64 forward of the rounded parameters: ${e}`);
          assert(ew <= tol, `one prefill of every token vs the float64 forward: ${ew}`);
          assert(eu <= tol, `unfused decode vs the float64 forward: ${eu}`);
          assert(relErr(got, unfused) <= tol, "fused and unfused decode disagree");
          // The test can tell: the unrounded parameters' forward is farther than the tolerance (by the rounding).
          assert(miss > 3 * e && miss > 1e-4, `the rounding does not show: ${miss} vs ${e}`);

          // Memory: the same model with f32 parameters holds 2 more bytes per parameter value.
          const before32 = backend.memory().liveBytes;
          const m32 = MambaModel.load(quantizeWeights(f32, { bits: 8, params: "f32" }), backend);
          const f32Bytes = backend.memory().liveBytes - before32;
          assert.equal(m32.paramFormat, "f32");
          m32.dispose();
          let values = 0, tensors = 0;
          for (const l of q.layers) {
            values += l.aLog.data.length + l.convWeight.data.length + l.D.data.length + (l.convBias?.data.length ?? 0);
            tensors += l.convBias ? 4 : 3;
          }
          // WASM counts bytes exactly; WebGPU's pooled buffers are rounded up to a 256-byte bucket each.
          const slack = tb.name === "wasm" ? 0 : 256 * tensors;
          assert(f32Bytes - halfBytes >= 2 * values - slack, `${f32Bytes} − ${halfBytes} < 2 · ${values} − ${slack}`);
          if (tb.name === "wasm") assert.equal(f32Bytes - halfBytes, 2 * values);
        } finally {
          backend.dispose();
        }
      },
    });
  }
}

Deno.test("uploadHalf: rounds to the nearest half (subnormals too) and reads back as f32; other ops refuse it", async () => {
  const backend = await createWasmBackend({ threads: 1 });
  try {
    const values = new Float32Array([1 / 3, -2, 2 ** -24, 3 * 2 ** -25, 65504, -1e-9, 0.1]);
    const t = backend.uploadHalf!(values, [7], "p");
    assert.deepStrictEqual(await backend.read(t), new Float32Array(new Float16Array(values)));
    assert.throws(() => backend.add(t, t), /"p" is stored as f16, which add does not read/);
    assert.throws(
      () => backend.uploadHalf!(new Float32Array([1, 65520]), [2], "big"),
      /65520 at index 1 is not a finite f16/,
    );
    backend.free(t);
  } finally {
    backend.dispose();
  }
});

Deno.test("weight memory with A_log, conv1d and D in f16: the 130m and 2.8b shapes' q8 ≤ 0.27×, q4 ≤ 0.16× (issue 16)", () => {
  type F = "q8_0" | "q4_0";
  // Every quantizable matrix in blocks, the Δ rank padded where quantizeWeights pads it, against the f32 model.
  const ratio = (arch: "mamba1" | "mamba2", size: string, f: F, paramBytes: number) => {
    const c = presetConfig(arch, size), p = padDtRankConfig(c);
    const kinds: Record<string, F> = { in_proj: f, x_proj: f, out_proj: f, embedding: f, lm_head: f };
    if (p.dtRank % 32 === 0) kinds.dt_proj = f;
    return total(componentWeightBytes(p, quantizedMatrixBytes(4, kinds, paramBytes))) / total(componentWeightBytes(c));
  };
  const got: string[] = [];
  for (const arch of ["mamba1", "mamba2"] as const) {
    for (const size of ["130m", "2.8b"]) {
      const q8 = ratio(arch, size, "q8_0", 2), q4 = ratio(arch, size, "q4_0", 2);
      assert(q8 <= 0.27 && q4 <= 0.16, `${arch} ${size}: q8 ${q8}, q4 ${q4}`);
      // The f16 parameters save exactly 2 bytes per value of A_log, conv1d's weight and bias, and D.
      const c = padDtRankConfig(presetConfig(arch, size));
      const N = c.dState, K = c.dConv, D = c.dInner;
      const values = c.arch === "mamba1"
        ? c.nLayer * (D * N + D * K + D + D)
        : c.nLayer * (2 * c.nHeads + (D + 2 * c.nGroups * N) * (K + 1));
      const f32Total = total(componentWeightBytes(presetConfig(arch, size)));
      assert(Math.abs((ratio(arch, size, "q8_0", 4) - q8) * f32Total - 2 * values) < 1e-3 * values, `${arch} ${size}`);
      got.push(`${arch} ${size} ${q8.toFixed(4)} ${q4.toFixed(4)}`);
    }
  }
  // QUANTIZATION.md's "Bytes" table.
  assert.deepStrictEqual(got, [
    "mamba1 130m 0.2698 0.1445",
    "mamba1 2.8b 0.2664 0.1417",
    "mamba2 130m 0.2663 0.1416",
    "mamba2 2.8b 0.2659 0.1410",
  ]);
});

Deno.test("hostWeightBytes (info, quantize) and the profiler's byte model agree on a q8 model with f16 parameters", async () => {
  for (const fixture of ["mamba1-tiny", "mamba2-tiny"]) {
    const f32 = await loadWeights(dirSource(fixtureDir(fixture)));
    for (const params of ["f16", "f32"] as const) {
      const q = quantizeWeights(f32, { bits: 8, params });
      const formats = { in_proj: "q8_0", out_proj: "q8_0", x_proj: "q8_0", dt_proj: "q8_0" } as const;
      const model = total(componentWeightBytes(q.config, quantizedMatrixBytes(4, formats, params === "f16" ? 2 : 4)));
      assert.equal(hostWeightBytes(q), model, `${fixture} ${params}`);
    }
  }
});

for (const tb of BACKENDS) {
  Deno.test({
    name: `f16 parameters on ${tb.name}: conv1d and the scans give the bits of the same values in f32 (subnormals, ` +
      `signs)${tb.skip ? ` (${tb.skip})` : ""}`,
    ignore: tb.skip !== null,
    async fn() {
      const be = await tb.create();
      try {
        // Halves of every kind: normal, subnormal (2⁻²⁴, 3·2⁻²⁰), both signs, and a few ordinary values.
        const special = [2 ** -24, -3 * 2 ** -20, -1.5, 1 / 3, -0.7, 2.5, -(2 ** -14), 65504 / 1024];
        const vals = (n: number, f: (i: number) => number) =>
          new Float32Array(
            new Float16Array(Array.from({ length: n }, (_, i) => i < special.length ? special[i] : f(i))),
          );
        const D = 8, N = 4, K = 4, T = 3;
        const cw = vals(D * K, (i) => Math.sin(i)), cb = vals(D, (i) => Math.cos(i) / 4);
        const A = vals(D * N, (i) => -0.5 - (i % 5)).map((v) => -Math.abs(v) || -(2 ** -24));
        const Dv = vals(D, (i) => 0.1 * i - 0.3);
        const x = be.upload(new Float32Array(T * 5 * D).map((_, i) => Math.sin(i * 0.37)), [T, 5 * D], "x");
        const run = async (half: boolean): Promise<Float32Array[]> => {
          const up = (d: Float32Array, shape: number[], l: string) =>
            half ? be.uploadHalf!(d, shape, l) : be.upload(d, shape, l);
          const w = up(cw, [D, K], "conv.w"), b = up(cb, [D], "conv.b"), a = up(A, [D, N], "A"), dd = up(Dv, [D], "D");
          const conv = be.zeros([1, D, K - 1], "conv.state"), h = be.zeros([1, D, N], "h");
          const u = be.conv1d({ tensor: x, col: 0, cols: D }, w, b, conv, 1, T);
          const y = be.selectiveScan({
            u: { tensor: u, col: 0, cols: D },
            delta: { tensor: x, col: D, cols: D },
            A: a,
            B: { tensor: x, col: 2 * D, cols: N },
            C: { tensor: x, col: 3 * D, cols: N },
            D: dd,
            z: { tensor: x, col: 4 * D, cols: D },
            state: h,
            batch: 1,
            seqLen: T,
          });
          const out = [await be.read(u), await be.read(y), await be.read(h), await be.read(a), await be.read(dd)];
          for (const t of [w, b, a, dd, conv, h, u, y]) be.free(t);
          return out;
        };
        const [f32, f16] = [await run(false), await run(true)];
        for (let i = 0; i < f32.length; i++) assert.deepStrictEqual(f16[i], f32[i], `output ${i}`);
        // The Mamba-2 SSD with f16 A and D: one step and a 3-token chunk, the same bits as in f32.
        const H = 2, P = 4, G = 1, Ns = 4;
        const Ah = vals(H, () => -1).map((v) => -Math.abs(v)), Dh = vals(H, () => 0.5);
        const xs = be.upload(new Float32Array(T * 16).map((_, i) => Math.cos(i * 0.29)), [T, 16], "xs");
        const ssd = async (half: boolean, L: number): Promise<Float32Array> => {
          const up = (d: Float32Array, l: string) => half ? be.uploadHalf!(d, [H], l) : be.upload(d, [H], l);
          const a = up(Ah, "A"), dd = up(Dh, "D"), bias = be.upload(new Float32Array(H).fill(0.1), [H], "dt_bias");
          const st = be.zeros([L, H, P, Ns], "ssm");
          const y = be.ssd(
            {
              x: { tensor: xs, col: 0, cols: H * P },
              dt: { tensor: xs, col: 8, cols: H },
              A: a,
              B: { tensor: xs, col: 10, cols: G * Ns },
              C: { tensor: xs, col: 12, cols: G * Ns },
              D: dd,
              dtBias: bias,
              state: st,
              batch: L,
              seqLen: T / L,
              nHeads: H,
              headDim: P,
              nGroups: G,
              dState: Ns,
              chunkSize: 16,
              dtMin: 0,
              dtMax: Infinity,
            } as Parameters<typeof be.ssd>[0],
          );
          const out = await be.read(y);
          for (const t of [a, dd, bias, st, y]) be.free(t);
          return out;
        };
        for (const L of [1, 3]) assert.deepStrictEqual(await ssd(true, L), await ssd(false, L), `ssd batch ${L}`);
        be.free(x);
        be.free(xs);
      } finally {
        be.dispose();
      }
    },
  });
}
