/**
 * Warming the kernels up: V8 first runs wasm in its baseline tier (Liftoff) and switches a function to optimised
 * code only on a later call once it has run enough, so without this the first large prefill GEMM would run ~3×
 * slower.
 *
 * @module
 */

import type { Kernels } from "./generated/abi.ts";
import type { Allocator } from "./memory.ts";

/** Runs every loop-heavy kernel a few times on small zeroed data in a temporary block (a few milliseconds). */
export function warmUp(k: Kernels, alloc: Allocator): void {
  const bytes = 1 << 20;
  const buf = alloc.alloc(bytes);
  try {
    k.fill_zero({ p: buf, bytes });
    const a = buf, b = buf + (256 << 10), o = buf + (512 << 10), sc = buf + (768 << 10);
    const lin = { x: a, xStride: 256, k: 256, w: b, n: 64, bias: 0, out: o, outStride: 64 } as const;
    // Both SSD kernels: H 2, P 16, G 1, N 16, heads [0, 2).
    const ssd = {
      x: a,
      xS: 32,
      dt: a,
      dtS: 2,
      dtBias: b,
      A: b,
      B: a,
      bS: 16,
      C: a,
      cS: 16,
      Dskip: b,
      half: 0,
    } as const;
    const ssdShape = {
      state: b + 4096,
      out: o,
      H: 2,
      P: 16,
      G: 1,
      N: 16,
      dtMin: 0,
      dtMax: 1e30,
      h0: 0,
      h1: 2,
    } as const;
    for (let rep = 0; rep < 4; rep++) {
      k.linear({ ...lin, r0: 0, r1: 32, p0: 0, p1: 8 });
      k.linear({ ...lin, r0: 0, r1: 1, p0: 0, p1: 8 });
      k.selective_scan({
        u: a,
        uS: 16,
        delta: a,
        dS: 16,
        A: b,
        B: a,
        bS: 16,
        C: a,
        cS: 16,
        Dskip: b,
        half: 0,
        z: a,
        zS: 16,
        state: b,
        out: o,
        D: 16,
        N: 16,
        batch: 1,
        seqLen: 256,
        d0: 0,
        d1: 16,
        scratch: sc,
      });
      k.ssd_chunked({ ...ssd, ...ssdShape, batch: 1, seqLen: 128, Q: 64, scratch: sc });
      k.ssd_step({ ...ssd, ...ssdShape, batch: 64 });
      k.conv1d({
        x: a,
        xStride: 64,
        w: b,
        bias: 0,
        state: b + 4096,
        out: o,
        wt: sc,
        half: 0,
        C: 64,
        K: 4,
        batch: 1,
        seqLen: 256,
        c0: 0,
        c1: 64,
      });
      k.rms_norm({ x: a, w: b, out: o, rows: 64, d: 256, eps: 1e-5 });
      k.gated_rms_norm({ y: a, z: a, zStride: 256, w: b, out: o, rows: 64, d: 256, groupSize: 64, eps: 1e-5 });
      k.add({ a, b, out: o, n: 16384 });
    }
  } finally {
    alloc.free(buf, bytes);
  }
}
