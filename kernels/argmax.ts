/**
 * `argmaxInto`: greedy token choice on the device, so several decode steps can run without a readback.
 *
 * @module
 */
import { KERNELS } from "./generated/kernels.ts";
import { grid, type Program, type Slice } from "./program.ts";

const WG = KERNELS.argmax.overrides.WG;

/**
 * ids[offset + r] (i32) = argmax of the first `cols` columns of row r of x (rows, stride), lowest index among ties.
 */
export function argmaxProgram(
  x: Slice,
  ids: Slice,
  rows: number,
  cols: number,
  stride: number,
  offset: number,
): Program<"argmax"> {
  return {
    kernel: "argmax",
    label: "argmax",
    constants: { WG },
    bindings: { x, ids },
    uniforms: { rows, cols, stride, offset },
    workgroups: grid(rows),
  };
}
