/**
 * `add`: y = a + b elementwise (the residual stream).
 *
 * @module
 */
import { grid, type Program, type Slice } from "./program.ts";

const WG = 256;

/** y (n) = a (n) + b (n). */
export function addProgram(a: Slice, b: Slice, y: Slice, n: number): Program {
  return {
    kernel: "add",
    label: "add",
    constants: { WG },
    storage: [a, b, y],
    uniforms: [["u32", n]],
    workgroups: grid(n, WG),
  };
}
