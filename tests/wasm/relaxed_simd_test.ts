/**
 * Relaxed SIMD: the run-time probe (validates on this host, Deno 2.9.6's V8; a corrupted probe does not), the choice
 * of build from `createWasmBackend({ relaxedSimd })` and the named error when it is forced on a host without it,
 * and both builds reporting themselves (backend.relaxedSimd, description, capabilities).
 */
import assert from "node:assert/strict";
import { chooseRelaxedSimd, createWasmBackend, RelaxedSimdUnsupportedError } from "../../wasm/backend.ts";
import { RELAXED_SIMD_PROBE, relaxedSimdSupported, wasmKernelBytes } from "../../wasm/module.ts";

Deno.test("relaxed SIMD probe validates on this host; corrupted probes do not", () => {
  assert.equal(WebAssembly.validate(RELAXED_SIMD_PROBE), true, "Deno 2.9.6 (V8 15) implements relaxed SIMD");
  assert.equal(relaxedSimdSupported(), true);
  // The relaxed_madd opcode (0xfd 0x105) replaced by an unassigned SIMD opcode (0xfd 0x1ff).
  const badOp = RELAXED_SIMD_PROBE.slice();
  const at = badOp.length - 3;
  assert.deepEqual([...badOp.subarray(at - 1, at + 2)], [0xfd, 0x85, 0x02]);
  badOp[at] = 0xff;
  badOp[at + 1] = 0x03;
  assert.equal(WebAssembly.validate(badOp), false);
  // Truncated body, and a broken magic number.
  assert.equal(WebAssembly.validate(RELAXED_SIMD_PROBE.slice(0, -1)), false);
  const badMagic = RELAXED_SIMD_PROBE.slice();
  badMagic[1] = 0x62;
  assert.equal(WebAssembly.validate(badMagic), false);
});

/** Occurrences of f32x4.relaxed_madd's encoding (0xfd 0x85 0x02) in a module's bytes. */
function relaxedMadds(bytes: Uint8Array): number {
  let n = 0;
  for (let i = 0; i + 2 < bytes.length; i++) {
    if (bytes[i] === 0xfd && bytes[i + 1] === 0x85 && bytes[i + 2] === 0x02) n++;
  }
  return n;
}

Deno.test("every build validates here; the relaxed builds hold relaxed_madd (the GEMM's fma4)", () => {
  for (const v of ["simd", "threads", "simd-relaxed", "threads-relaxed"] as const) {
    assert.equal(WebAssembly.validate(wasmKernelBytes(v)), true, v);
  }
  // linear's 6×8 tile alone has 12 fma4 per k step, the GEMV 8 more.
  assert.ok(relaxedMadds(wasmKernelBytes("simd-relaxed")) >= 16);
  assert.ok(relaxedMadds(wasmKernelBytes("threads-relaxed")) >= 16);
  assert.throws(() => wasmKernelBytes("relaxed" as never), /unknown WASM kernel variant "relaxed"/);
});

Deno.test("chooseRelaxedSimd: auto follows the host, true requires it, false never", () => {
  assert.equal(chooseRelaxedSimd("auto", true), true);
  assert.equal(chooseRelaxedSimd("auto", false), false);
  assert.equal(chooseRelaxedSimd(true, true), true);
  assert.equal(chooseRelaxedSimd(false, true), false);
  assert.equal(chooseRelaxedSimd(false, false), false);
  assert.throws(() => chooseRelaxedSimd(true, false), RelaxedSimdUnsupportedError);
  assert.throws(() => chooseRelaxedSimd(true, false), /relaxedSimd: true.*does not validate.*relaxed SIMD/);
  assert.throws(() => chooseRelaxedSimd("yes" as never, true), /relaxedSimd must be "auto", true or false/);
});

Deno.test("each build reports itself: relaxedSimd, capabilities and description", async () => {
  for (const [opt, expect] of [["auto", true], [true, true], [false, false]] as const) {
    for (const threads of [1, 2]) {
      const be = await createWasmBackend({ threads, relaxedSimd: opt });
      try {
        assert.equal(be.relaxedSimd, expect, `relaxedSimd: ${opt}, ${threads} thread(s)`);
        assert.equal(be.capabilities.relaxedSimd, expect);
        assert.equal(be.description.includes("relaxed"), expect, be.description);
      } finally {
        be.dispose();
      }
    }
  }
  // A caller-supplied module reports its own build, whatever the option says.
  const module = await WebAssembly.compile(wasmKernelBytes("simd-relaxed"));
  const be = await createWasmBackend({ module, threads: 1, relaxedSimd: false });
  assert.equal(be.relaxedSimd, true);
  be.dispose();
});
