/**
 * `add`: y = a + b elementwise (the residual stream).
 *
 * @module
 */
import { KERNELS } from "./generated/kernels.ts";
import { grid, type Program, type Slice } from "./program.ts";

const WG = KERNELS.add.overrides.WG;

/** y (n) = a (n) + b (n). */
export function addProgram(a: Slice, b: Slice, y: Slice, n: number): Program<"add"> {
  return {
    kernel: "add",
    label: "add",
    constants: { WG },
    bindings: { a, b, y },
    uniforms: { n },
    workgroups: grid(n, WG),
  };
}
