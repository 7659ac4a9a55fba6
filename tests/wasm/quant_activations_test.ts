/**
 * The WASM backend's opt-in integer path on block-quantized weights (`quantActivations: true`): `linear` quantizes
 * each input row per block of 32 (dx = max|x| / 127, codes rounded to nearest, ties to even) and sums dw·dx·Σ qw·qx.
 * Checked two ways: against a float64 emulation of exactly that arithmetic (fp32 tolerance: the integer sums are
 * exact, only the f32 scaling and accumulation round), and against the exact product with the dequantized weights
 * within the bound the input quantization allows — |Δy_j| ≤ Σ_blocks (max|x_block| / 254)·Σ|w_block| — while
 * differing from it (else the path would not be the integer one).
 */
import assert from "node:assert/strict";
import type { QuantFormat } from "../../runtime/backend.ts";
import { assertClose } from "../_assert.ts";
import { quantWeights, rand, sideBySide } from "../ops/data.ts";
import { linearRef } from "../ops/reference.ts";
import { createWasmBackend } from "../../wasm/backend.ts";

/** Round to nearest, ties to even (f32x4.nearest). */
function nearestEven(v: number): number {
  const r = Math.round(v);
  return Math.abs(v - Math.trunc(v)) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** x [T, k] as the kernel quantizes it: dequantized activations dx·qx (exact in float64). */
function quantizedActivations(x: Float32Array, T: number, k: number): { xq: Float64Array; bound: Float64Array } {
  const xq = new Float64Array(T * k), amax = new Float64Array(T * (k / 32));
  for (let r = 0; r < T; r++) {
    for (let b = 0; b < k / 32; b++) {
      let m = 0;
      for (let i = 0; i < 32; i++) m = Math.max(m, Math.abs(x[r * k + b * 32 + i]));
      const d = Math.fround(m / 127), id = d !== 0 ? Math.fround(1 / d) : 0;
      for (let i = 0; i < 32; i++) xq[r * k + b * 32 + i] = d * nearestEven(Math.fround(x[r * k + b * 32 + i] * id));
      amax[r * (k / 32) + b] = m;
    }
  }
  return { xq, bound: amax };
}

const SHAPES: [number, number, number][] = [[1, 32, 29], [1, 768, 37], [3, 96, 17], [5, 160, 70], [67, 160, 131], [
  130,
  256,
  66,
]];

for (const threads of [1, 2]) {
  for (const format of ["q8_0", "q4_0"] as QuantFormat[]) {
    Deno.test(`WASM ×${threads} quantActivations ${format}: linear equals the emulated integer arithmetic; within the input-quantization bound of the exact product`, async () => {
      const be = await createWasmBackend({ threads, minWorkPerThread: 0, quantActivations: true });
      try {
        for (const [M, K, N] of SHAPES) {
          const tag = `${format} M=${M} K=${K} N=${N}`;
          const x = rand(M * K, M + N, -2, 2), bias = rand(N, N + 1);
          const { data, values } = quantWeights(format, N, K, K + N);
          const w = be.uploadQuantizedMatrix!(data, "Wq");
          const xv = sideBySide(be, M, [x], "x.view", { left: 3, right: 5 }).views[0];
          const got = await be.read(be.linear(xv, w, be.upload(bias, [N], "bias")));
          const { xq, bound: amax } = quantizedActivations(x, M, K);
          assertClose(got, linearRef(xq, values, bias, M, N, K), `${tag}: emulated`, 1e-5, 1e-6);
          const exact = linearRef(x, values, bias, M, N, K);
          let differs = false;
          for (let r = 0; r < M; r++) {
            for (let j = 0; j < N; j++) {
              let b = 0;
              for (let blk = 0; blk < K / 32; blk++) {
                let s = 0;
                for (let i = 0; i < 32; i++) s += Math.abs(values[j * K + blk * 32 + i]);
                b += (amax[r * (K / 32) + blk] / 254) * s;
              }
              const err = Math.abs(got[r * N + j] - exact[r * N + j]);
              assert.ok(err <= b * (1 + 1e-5) + 1e-5, `${tag}: y[${r}, ${j}] off by ${err} > bound ${b}`);
              if (err > 1e-4 * (b + 1e-30)) differs = true;
            }
          }
          assert.ok(differs, `${tag}: equals the exact product: the integer path did not run`);
        }
      } finally {
        be.dispose();
      }
    });
  }
}
