/**
 * The WASM backend's integer paths on block-quantized weights (16-bit: `quantActivations` true or "int16"; 8-bit,
 * "int8", the default, further down): `linear` quantizes each input row per block of 32 to 16-bit codes (dx = fl(max|x| / 32767), qx = nearest-even(fl(x·fl(1/dx))))
 * and computes per output acc = fl(acc + fl(f32(Σ qw·qx)·fl(dw·dx))) over the blocks, then fl(acc + bias)
 * (wasm/assembly/quant_linear.ts). That arithmetic is emulated here in float64 with Math.fround and must match BIT FOR
 * BIT on every path (the GEMV's groups of 8 and 4 rows and its single-row tail, the GEMM tile, threads splitting
 * features or rows): the integer sums are exact, so any wrong code, order, nibble or scale shows. The exact kernels
 * (`quantActivations: false`) must differ from it, and the description names the path. The default (no option) is
 * the 8-bit path on every build: the same bits as `quantActivations: "int8"`.
 */
import assert from "node:assert/strict";
import type { QuantFormat } from "../../runtime/backend.ts";
import { quantWeights, rand, sideBySide } from "../ops/data.ts";
import { createWasmBackend } from "../../wasm/backend.ts";
import { relaxedSimdSupported } from "../../wasm/module.ts";

/** Round to nearest, ties to even (f32x4.nearest). */
function nearestEven(v: number): number {
  const r = Math.round(v);
  return Math.abs(v - Math.trunc(v)) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** IEEE half bits → number (exact). */
function half(h: number): number {
  const e = (h >> 10) & 31, m = h & 1023, s = h & 0x8000 ? -1 : 1;
  if (e === 31) return m ? NaN : s * Infinity;
  return s * (e === 0 ? m * 2 ** -24 : (1024 + m) * 2 ** (e - 25));
}

/** The weights' integer codes q (Q4_0: nibble − 8) and per-block f16 scales dw from GGUF blocks. */
function codesAndScales(blocks: Uint8Array, format: QuantFormat, count: number) {
  const per = format === "q8_0" ? 34 : 18, nb = count / 32;
  const q = new Int32Array(count), dw = new Float64Array(nb);
  for (let b = 0; b < nb; b++) {
    const at = b * per;
    dw[b] = half(blocks[at] | (blocks[at + 1] << 8));
    for (let j = 0; j < 32; j++) {
      if (format === "q8_0") q[b * 32 + j] = (blocks[at + 2 + j] << 24) >> 24;
      else q[b * 32 + j] = (j < 16 ? blocks[at + 2 + j] & 15 : blocks[at + 2 + j - 16] >> 4) - 8;
    }
  }
  return { q, dw };
}

/** The integer path's result, emulated exactly: activation codes of ±levels (32767: int16; 127: int8). */
function emulate(
  x: Float32Array,
  blocks: Uint8Array,
  format: QuantFormat,
  bias: Float32Array | null,
  T: number,
  n: number,
  k: number,
  levels = 32767,
): Float32Array {
  const nb = k / 32, f = Math.fround;
  const { q, dw } = codesAndScales(blocks, format, n * k);
  const out = new Float32Array(T * n);
  const qx = new Int32Array(k), dx = new Float64Array(nb);
  for (let r = 0; r < T; r++) {
    for (let b = 0; b < nb; b++) {
      let m = 0;
      for (let i = 0; i < 32; i++) m = Math.max(m, Math.abs(x[r * k + b * 32 + i]));
      const d = f(m / levels), id = d !== 0 ? f(1 / d) : 0;
      dx[b] = d;
      for (let i = 0; i < 32; i++) {
        const c = nearestEven(f(x[r * k + b * 32 + i] * id));
        assert.ok(Math.abs(c) <= levels, `code ${c} outside ±${levels}`);
        qx[b * 32 + i] = c;
      }
    }
    for (let j = 0; j < n; j++) {
      let acc = 0;
      for (let b = 0; b < nb; b++) {
        let s = 0;
        for (let i = 0; i < 32; i++) s += q[j * k + b * 32 + i] * qx[b * 32 + i];
        acc = f(acc + f(f(s) * f(dw[j * nb + b] * dx[b])));
      }
      out[r * n + j] = bias ? f(acc + bias[j]) : acc;
    }
  }
  return out;
}

function assertBitEqual(got: Float32Array, want: Float32Array, what: string): void {
  assert.equal(got.length, want.length, `${what}: length`);
  for (let i = 0; i < got.length; i++) {
    if (!Object.is(got[i], want[i])) assert.fail(`${what}: [${i}] = ${got[i]}, emulated ${want[i]}`);
  }
}

// M < 4: the GEMV; M ≥ 4: the GEMM tile. N: multiples of 8, of 4 only, neither (every tail); K: 1 to 48 blocks,
// multiples of 4 blocks (the GEMV's scales 16 at a time) and not (its block tail).
const SHAPES: [number, number, number][] = [
  [1, 32, 29],
  [1, 160, 24],
  [2, 224, 45],
  [1, 768, 37],
  [1, 1536, 80],
  [2, 96, 16],
  [3, 96, 17],
  [4, 64, 12],
  [5, 160, 70],
  [67, 160, 131],
  [130, 256, 66],
  [70, 32, 300],
];

for (const threads of [1, 2]) {
  for (const format of ["q8_0", "q4_0"] as QuantFormat[]) {
    Deno.test(`WASM ×${threads} integer path ${format}: linear equals the emulated arithmetic bit for bit`, async () => {
      const be = await createWasmBackend({ threads, minWorkPerThread: 0, quantActivations: "int16" });
      const exact = await createWasmBackend({ threads, minWorkPerThread: 0, quantActivations: false });
      try {
        assert.match(be.description, /integer dot products on 16-bit activations/);
        assert.match(exact.description, /exact \(dequantized in registers\)/);
        for (const [M, K, N] of SHAPES) {
          const tag = `${format} M=${M} K=${K} N=${N}`;
          const x = rand(M * K, M + N, -2, 2), bias = rand(N, N + 1);
          // (K ≥ 64) A block of zeros (dx = 0) and one of a single large value among small ones.
          if (K >= 64) {
            x.fill(0, 0, 32);
            x[32 + 7] = 37.5;
          }
          const { data } = quantWeights(format, N, K, K + N);
          const w = be.uploadQuantizedMatrix!(data, "Wq");
          const xv = sideBySide(be, M, [x], "x.view", { left: 3, right: 5 }).views[0];
          const got = await be.read(be.linear(xv, w, be.upload(bias, [N], "bias")));
          assertBitEqual(got, emulate(x, data.blocks, format, bias, M, N, K), `${tag}: view, bias`);
          const dense = await be.read(be.linear(be.upload(x, [M, K], "x"), w));
          assertBitEqual(dense, emulate(x, data.blocks, format, null, M, N, K), `${tag}: dense, no bias`);
          // The exact kernels on the same matrix compute something else (else the path above would not be tested).
          const we = exact.uploadQuantizedMatrix!(data, "Wq");
          const ex = await exact.read(exact.linear(exact.upload(x, [M, K], "x"), we));
          assert.ok(ex.some((v, i) => v !== dense[i]), `${tag}: the exact kernels equal the integer path`);
        }
      } finally {
        be.dispose();
        exact.dispose();
      }
    });
  }
}

// 8-bit activations (`quantActivations: "int8"`, llama.cpp's q8_0 quantization): the same arithmetic with codes of
// ±127, bit for bit on both builds — the relaxed one's one-token GEMV takes the sign-trick relaxed i8 dot, the
// baseline's (and the GEMM tile) the 16-bit kernels; the integer sums are exact, so the two builds agree exactly.
for (const threads of [1, 2]) {
  for (const format of ["q8_0", "q4_0"] as QuantFormat[]) {
    Deno.test(`WASM ×${threads} int8 path ${format}: linear equals the emulated arithmetic bit for bit on both builds`, async () => {
      const relaxed = await createWasmBackend({
        threads,
        minWorkPerThread: 0,
        quantActivations: "int8",
        relaxedSimd: true,
      });
      const base = await createWasmBackend({
        threads,
        minWorkPerThread: 0,
        quantActivations: "int8",
        relaxedSimd: false,
      });
      const int16 = await createWasmBackend({ threads, minWorkPerThread: 0, quantActivations: "int16" });
      try {
        assert.equal(relaxed.capabilities.quantActivations, "int8");
        assert.match(relaxed.description, /integer dot products on 8-bit activations \(relaxed i8 dot, sign trick\)/);
        assert.match(base.description, /integer dot products on 8-bit activations \(widened to i16\)/);
        for (const [M, K, N] of SHAPES) {
          const tag = `${format} M=${M} K=${K} N=${N}`;
          const x = rand(M * K, M + N, -2, 2), bias = rand(N, N + 1);
          if (K >= 64) {
            x.fill(0, 0, 32);
            x[32 + 7] = 37.5;
          }
          const { data } = quantWeights(format, N, K, K + N);
          const want = emulate(x, data.blocks, format, bias, M, N, K, 127);
          const outs: Float32Array[] = [];
          for (const be of [relaxed, base]) {
            const w = be.uploadQuantizedMatrix!(data, "Wq");
            const xv = sideBySide(be, M, [x], "x.view", { left: 3, right: 5 }).views[0];
            const got = await be.read(be.linear(xv, w, be.upload(bias, [N], "bias")));
            assertBitEqual(got, want, `${tag} ${be.description}: view, bias`);
            outs.push(got);
          }
          assertBitEqual(outs[0], outs[1], `${tag}: relaxed vs baseline build`);
          // 16-bit activations compute something else (else the 8-bit path would not be tested).
          const w16 = int16.uploadQuantizedMatrix!(data, "Wq");
          const y16 = await int16.read(
            int16.linear(int16.upload(x, [M, K], "x"), w16, int16.upload(bias, [N], "bias")),
          );
          assert.ok(y16.some((v, i) => v !== outs[0][i]), `${tag}: int16 equals int8`);
        }
        if (format === "q8_0") {
          // A −128 weight code (GGUF allows it; the sign trick cannot negate it): still exact, by the 16-bit layout.
          const [M, K, N] = [1, 96, 13];
          const x = rand(M * K, 5, -2, 2);
          const { data } = quantWeights(format, N, K, 7);
          data.blocks[34 * 4 + 2 + 5] = 0x80;
          data.blocks[34 * 9 + 2 + 31] = 0x80;
          x[5] = -Math.abs(x[5]) - 0.5;
          const want = emulate(x, data.blocks, format, null, M, N, K, 127);
          for (const be of [relaxed, base]) {
            const got = await be.read(be.linear(be.upload(x, [M, K], "x"), be.uploadQuantizedMatrix!(data, "Wq")));
            assertBitEqual(got, want, `−128 code ${be.description}`);
          }
        }
        // f16 scales at the edges. Subnormal ones (and a negative one): exact like the rest, in every part of the
        // kernels — the GEMV's groups of 8 and 4 rows and its single-row tail, its blocks 4 at a time and the block
        // tail, the GEMM tile. ±inf / NaN: the integer kernels convert scales assuming them finite, so such a matrix
        // takes the exact path, which keeps them (rows 3 and 10 non-finite, the others as exact's).
        // (the exact kernels use fused multiply-adds on the relaxed build: one exact backend per build)
        const exacts = await Promise.all(
          [true, false].map((relaxedSimd) =>
            createWasmBackend({ threads, minWorkPerThread: 0, quantActivations: false, relaxedSimd })
          ),
        );
        try {
          const [K, N] = [160, 13], per = format === "q8_0" ? 34 : 18, nb = K / 32;
          const { data } = quantWeights(format, N, K, 23);
          const setScale = (row: number, b: number, h: number) => {
            data.blocks[per * (row * nb + b)] = h & 255;
            data.blocks[per * (row * nb + b) + 1] = h >> 8;
          };
          setScale(1, 2, 0x0001); // the smallest subnormal
          setScale(6, 4, 0x83ff); // the largest subnormal, negative
          setScale(9, 0, 0x0200);
          setScale(12, 3, 0x0400); // the smallest normal
          for (const M of [1, 5]) {
            const x = rand(M * K, 40 + M, -2, 2);
            const want = emulate(x, data.blocks, format, null, M, N, K, 127);
            for (const be of [relaxed, base]) {
              const got = await be.read(be.linear(be.upload(x, [M, K], "x"), be.uploadQuantizedMatrix!(data, "Wq")));
              assertBitEqual(got, want, `subnormal scales M=${M} ${be.description}`);
            }
          }
          setScale(3, 1, 0x7c00); // +inf
          setScale(10, 4, 0x7e00); // NaN
          for (const M of [1, 5]) {
            const x = rand(M * K, 50 + M, -2, 2);
            for (const [i, be] of [relaxed, base].entries()) {
              const exact = exacts[i];
              const ref = await exact.read(
                exact.linear(exact.upload(x, [M, K], "x"), exact.uploadQuantizedMatrix!(data, "Wq")),
              );
              for (let r = 0; r < M; r++) {
                assert.ok(!Number.isFinite(ref[r * N + 3]) && Number.isNaN(ref[r * N + 10]), `exact keeps inf / NaN`);
              }
              const got = await be.read(be.linear(be.upload(x, [M, K], "x"), be.uploadQuantizedMatrix!(data, "Wq")));
              assertBitEqual(got, ref, `non-finite scales M=${M} ${be.description}: the exact path`);
            }
          }
        } finally {
          for (const e of exacts) e.dispose();
        }
      } finally {
        relaxed.dispose();
        base.dispose();
        int16.dispose();
      }
    });
  }
}

Deno.test("createWasmBackend: the default is 8-bit activations, bit-identical to int8 on both builds", async () => {
  const [M, K, N] = [5, 160, 70];
  const { data } = quantWeights("q8_0", N, K, 9);
  const x = rand(M * K, 3, -2, 2), bias = rand(N, 4);
  const run = async (opts: Parameters<typeof createWasmBackend>[0]) => {
    const be = await createWasmBackend({ threads: 1, minWorkPerThread: 0, ...opts });
    try {
      const w = be.uploadQuantizedMatrix!(data, "Wq");
      const y = await be.read(be.linear(be.upload(x, [M, K], "x"), w, be.upload(bias, [N], "bias")));
      return { y, description: be.description, math: be.capabilities.quantActivations };
    } finally {
      be.dispose();
    }
  };
  const int8 = await run({ quantActivations: "int8", relaxedSimd: false });
  const int16 = await run({ quantActivations: "int16", relaxedSimd: false });
  assert.ok(int16.y.some((v, i) => v !== int8.y[i]), "int16 equals int8 here: the default would not be told apart");
  const builds = [false, ...(relaxedSimdSupported() ? [true] : [])];
  for (const relaxedSimd of builds) {
    const d = await run({ relaxedSimd });
    assert.equal(d.math, "int8", `relaxedSimd ${relaxedSimd}`);
    assert.match(d.description, /integer dot products on 8-bit activations/);
    assert.deepStrictEqual(d.y, int8.y, `default on relaxedSimd ${relaxedSimd} vs int8 on the baseline build`);
  }
});

Deno.test("createWasmBackend: a bad quantActivations names the option", async () => {
  await assert.rejects(
    // @ts-expect-error: not a QuantMath
    () => createWasmBackend({ quantActivations: "int4" }),
    /quantActivations must be true, false, "int16" or "int8", got "int4"/,
  );
});
