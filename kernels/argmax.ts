/**
 * `argmaxInto`: greedy token choice on the device, so several decode steps can run without a readback.
 *
 * @module
 */
import { grid, type Program, type Slice } from "./program.ts";

const WG = 256;

/** ids[offset + r] (i32) = argmax of row r of x (rows, cols), lowest index among ties. */
export function argmaxProgram(x: Slice, ids: Slice, rows: number, cols: number, offset: number): Program {
  return {
    kernel: "argmax",
    label: "argmax",
    constants: { WG },
    storage: [x, ids],
    uniforms: [["u32", rows], ["u32", cols], ["u32", offset]],
    workgroups: grid(rows),
  };
}
