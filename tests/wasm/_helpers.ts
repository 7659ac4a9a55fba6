/**
 * Shared helpers of the WASM backend tests: deterministic data, tolerance checks, views inside wider tensors and
 * one test registration per thread configuration.
 *
 * @module
 */

import assert from "node:assert/strict";
import type { Backend, Tensor, View } from "../../runtime/backend.ts";
import { createWasmBackend, type WasmBackendExtras } from "../../wasm/backend.ts";
import type { Arr } from "./reference.ts";

/** The backend under test. */
export type TestWasm = Backend & WasmBackendExtras;

/** Thread configurations every op is tested with (minWorkPerThread 0 threads even tiny shapes). */
export const CONFIGS: { name: string; threads: number }[] = [
  { name: "1 thread", threads: 1 },
  { name: "3 threads", threads: 3 },
];

/** Registers one Deno test per thread configuration, disposing the backend afterwards. */
export function testEachConfig(name: string, fn: (be: TestWasm, t: Deno.TestContext) => Promise<void> | void): void {
  for (const cfg of CONFIGS) {
    Deno.test(`wasm ${name} (${cfg.name})`, async (t) => {
      const be = await createWasmBackend({ threads: cfg.threads, minWorkPerThread: 0 });
      try {
        await fn(be, t);
      } finally {
        be.dispose();
      }
    });
  }
}

/** Deterministic pseudo-random floats in [lo, hi). */
export function rand(count: number, seed: number, lo = -1, hi = 1): Float32Array {
  const out = new Float32Array(count);
  let s = (seed * 2654435761) >>> 0 || 1;
  for (let i = 0; i < count; i++) {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    out[i] = lo + (hi - lo) * (s / 2 ** 32);
  }
  return out;
}

/** Asserts |actual − expected| ≤ rel · max|expected| (+ a tiny absolute floor) element-wise. */
export function assertClose(actual: Arr, expected: Arr, label: string, rel = 1e-5): void {
  assert.equal(actual.length, expected.length, `${label}: length`);
  let maxRef = 0;
  for (let i = 0; i < expected.length; i++) maxRef = Math.max(maxRef, Math.abs(expected[i]));
  const tol = rel * maxRef + 1e-30;
  let worst = 0, at = -1;
  for (let i = 0; i < expected.length; i++) {
    const e = Math.abs(actual[i] - expected[i]);
    if (!(e <= worst)) {
      worst = e;
      at = i;
    }
  }
  assert.ok(
    worst <= tol,
    `${label}: max error ${worst} at ${at} (got ${actual[at]}, want ${expected[at]}) > ${tol} (max|ref| ${maxRef})`,
  );
}

/**
 * Uploads several (rows, width_i) blocks side by side in one (rows, 1 + Σ width_i + 2) tensor with NaN in the
 * padding columns (so a kernel reading outside its view poisons the result), and returns a view of each block.
 */
export function sideBySide(be: Backend, rows: number, parts: Float32Array[], label: string): {
  tensor: Tensor;
  views: View[];
} {
  const widths = parts.map((p) => p.length / rows);
  const W = 1 + widths.reduce((a, b) => a + b, 0) + 2;
  const data = new Float32Array(rows * W).fill(NaN);
  const views: { col: number; cols: number }[] = [];
  let col = 1;
  for (let i = 0; i < parts.length; i++) {
    for (let r = 0; r < rows; r++) data.set(parts[i].subarray(r * widths[i], (r + 1) * widths[i]), r * W + col);
    views.push({ col, cols: widths[i] });
    col += widths[i];
  }
  const tensor = be.upload(data, [rows, W], label);
  return { tensor, views: views.map((v) => ({ tensor, ...v })) };
}

/** Rows [r0, r1) of a row-major (rows, width) array. */
export function rowsOf(a: Float32Array, width: number, r0: number, r1: number): Float32Array {
  return a.slice(r0 * width, r1 * width);
}
