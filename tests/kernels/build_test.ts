/**
 * kernels/build.ts: `#include` resolution, the uniform / binding metadata read from the WGSL, and its errors
 * (each naming the file); the generated modules are current.
 */
import assert from "node:assert/strict";
import { generate, parseKernel, resolveIncludes, sharedConstants } from "../../kernels/build.ts";
import { KERNELS } from "../../kernels/generated/kernels.ts";
import { WGSL } from "../../kernels/generated/wgsl.ts";

const KERNEL = `#include "a.wgsl"
override WG: u32 = 64u;
const TILE: u32 = SHARED;
struct Params {
  rows: u32, // comment
  shift: i32,
  eps: f32,
}
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@compute @workgroup_size(WG)
fn main() {}
`;

Deno.test("build: includes resolve once, nested; Params fields and bindings by name with offsets", () => {
  const includes = { "a.wgsl": '#include "b.wgsl"\nconst SHARED: u32 = 16u; // doc\n', "b.wgsl": "fn f() {}\n" };
  const src = resolveIncludes("kernels/k.wgsl", KERNEL + '#include "b.wgsl"\n', includes);
  assert.equal(src.match(/fn f\(\)/g)?.length, 1, "b.wgsl inlined once");
  assert.ok(!/^#/m.test(src), "no directive left");
  const meta = parseKernel("kernels/k.wgsl", src);
  assert.deepEqual(meta.params, [
    { name: "rows", type: "u32", offset: 0 },
    { name: "shift", type: "i32", offset: 4 },
    { name: "eps", type: "f32", offset: 8 },
  ]);
  assert.deepEqual(meta.storage.map((s) => [s.name, s.binding, s.access]), [["x", 1, "read"], ["y", 2, "read_write"]]);
  assert.deepEqual(meta.overrides, { WG: 64 });
  assert.deepEqual(meta.constants, { SHARED: 16, TILE: 16 });
  assert.deepEqual(sharedConstants(includes).map((c) => [c.name, c.value, c.doc]), [["SHARED", 16, "doc"]]);
});

Deno.test("build: missing includes, cycles, entry points in includes and bad Params fail naming the file", () => {
  assert.throws(
    () => resolveIncludes("kernels/k.wgsl", '#include "nope.wgsl"', {}),
    /kernels\/k\.wgsl:1: .*nope\.wgsl/,
  );
  assert.throws(
    () =>
      resolveIncludes("kernels/k.wgsl", '#include "a.wgsl"', {
        "a.wgsl": '#include "b.wgsl"',
        "b.wgsl": '#include "a.wgsl"',
      }),
    /include cycle: kernels\/k\.wgsl → kernels\/include\/a\.wgsl → kernels\/include\/b\.wgsl → kernels\/include\/a\.wgsl/,
  );
  assert.throws(
    () =>
      resolveIncludes("kernels/k.wgsl", '#include "a.wgsl"', { "a.wgsl": "@compute @workgroup_size(1) fn main() {}" }),
    /kernels\/include\/a\.wgsl: an include file declares no entry point/,
  );
  assert.throws(() => resolveIncludes("kernels/k.wgsl", "#define X 1", {}), /kernels\/k\.wgsl:1: unknown directive/);
  assert.throws(
    () => parseKernel("kernels/k.wgsl", KERNEL.replace("eps: f32", "scale: vec2f")),
    /kernels\/k\.wgsl: struct Params member "scale: vec2f" is not supported/,
  );
  assert.throws(
    () => parseKernel("kernels/k.wgsl", KERNEL.replace("binding(2)", "binding(3)")),
    /kernels\/k\.wgsl: .*gaps/,
  );
  assert.throws(
    () => sharedConstants({ "a.wgsl": "const X: u32 = 1u;", "b.wgsl": "const X: u32 = 2u;" }),
    /kernels\/include\/b\.wgsl: const X is also declared in kernels\/include\/a\.wgsl/,
  );
});

Deno.test("build: the generated modules are current and list every kernel", async () => {
  const g = await generate();
  assert.equal(g.wgsl, await Deno.readTextFile(new URL("../../kernels/generated/wgsl.ts", import.meta.url)));
  assert.equal(g.kernels, await Deno.readTextFile(new URL("../../kernels/generated/kernels.ts", import.meta.url)));
  assert.deepEqual(Object.keys(KERNELS).sort(), Object.keys(WGSL).sort());
  for (const [name, src] of Object.entries(WGSL)) assert.ok(!/^#include/m.test(src), name);
});
