/**
 * The backend's `debug` option: every dispatch in its own validation error scope, so a GPU validation error is
 * thrown at the next sync / read naming the kernel and label; the backend stays usable afterwards.
 */
import assert from "node:assert/strict";
import { RAW_DISPATCH } from "../../kernels/dispatcher.ts";
import { addProgram } from "../../kernels/add.ts";
import type { Program } from "../../kernels/program.ts";
import type { WebGpuBackend } from "../../kernels/webgpu_backend.ts";
import { assertClose } from "../_assert.ts";
import { gpuTest } from "./_gpu.ts";

const STORAGE = 0x80 | 0x4 | 0x8; // GPUBufferUsage STORAGE | COPY_SRC | COPY_DST

/** Record a program as is (the test hook: no op checks in front). */
function dispatch(be: WebGpuBackend, p: Program): void {
  (be as unknown as { [RAW_DISPATCH](p: Program): void })[RAW_DISPATCH](p);
}

gpuTest("debug: a binding past the end of its buffer is a validation error naming the kernel and label", async (be) => {
  assert.equal(be.debug, true);
  const buf = be.device.createBuffer({ size: 256, usage: STORAGE, label: "small" });
  const ok = { buffer: buf, offset: 0, size: 256 };
  const tooLong = { buffer: buf, offset: 0, size: 512 }; // the bind group range exceeds the buffer
  dispatch(be, { ...addProgram(ok, ok, tooLong, 64), label: "deliberately-bad" });
  await assert.rejects(be.sync(), (e: Error) => {
    assert.match(e.message, /validation error in kernel add \(deliberately-bad\): /);
    return true;
  });
  // Reported once; the backend goes on working.
  const a = be.upload(new Float32Array([1, 2, 3]), [3], "a");
  assertClose(await be.read(be.add(a, a)), [2, 4, 6], "add after the error", 0, 0);
  buf.destroy();
}, { debug: true });

gpuTest("records that do not match the WGSL are refused before anything reaches the device", (be) => {
  const buf = be.device.createBuffer({ size: 256, usage: STORAGE, label: "b" });
  const s = { buffer: buf, offset: 0, size: 256 };
  const good = addProgram(s, s, s, 64);
  const bad = (p: object) => () => dispatch(be, { ...good, ...p } as Program);
  assert.throws(
    bad({ uniforms: { count: 64 } }),
    /add \(add\): uniforms do not match the WGSL: missing \[n\], unknown \[count\]/,
  );
  assert.throws(bad({ uniforms: { n: 64, m: 1 } }), /uniforms do not match the WGSL: missing \[\], unknown \[m\]/);
  assert.throws(bad({ uniforms: { n: -1 } }), /uniform n = -1 is not a u32/);
  assert.throws(bad({ bindings: { a: s, b: s } }), /add \(add\): bindings do not match the WGSL: missing \[y\]/);
  buf.destroy();
  return Promise.resolve();
});
