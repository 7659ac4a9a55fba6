/**
 * `synthetic_uniform`: synthetic weights (runtime/synthetic.ts) generated straight into a weight buffer on the
 * device — no host array, no upload — with the host generator's bits (f32, or f16 pairs of rows padded to even).
 *
 * @module
 */
import { KERNELS } from "./generated/kernels.ts";
import { grid, type Program, type Slice } from "./program.ts";

const WG = KERNELS.synthetic_uniform.overrides.WG;
const PER = KERNELS.synthetic_uniform.overrides.PER;

/**
 * Fill `y` with elements `e0 …` of the stream `key` at half-range `scale` (already an f32): `words` f32 values, or
 * with `f16` `words` pairs of rows of `k` columns (padded to even), element (r, c) at `e0 + r·k + c`. The kernel
 * stores 16 bytes at a time, so `y`'s buffer must hold `words` rounded up to a multiple of 4 from `y.offset` (the
 * words past `words` keep their contents).
 */
export function syntheticUniformProgram(
  y: Slice,
  words: number,
  key: number,
  e0: number,
  scale: number,
  f16: boolean,
  k: number,
): Program<"synthetic_uniform"> {
  return {
    kernel: "synthetic_uniform",
    label: "synthetic_uniform",
    constants: { WG, PER, F16: f16 ? 1 : 0 },
    // Bound as whole vec4 (the kernel's 16-byte stores): the buffer behind a slice is a multiple of 16 bytes.
    bindings: { y: { ...y, size: Math.ceil(words / 4) * 16 } },
    uniforms: { n: words, first: (key + e0) >>> 0, k, kp: k + (k % 2), scale },
    workgroups: grid(Math.ceil(words / 4), WG * PER),
  };
}
