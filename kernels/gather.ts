/**
 * `embed` and `gatherRows`: out[i, :] = src[ids[i], :], one dispatch per row-part of a split table (block-quantized
 * tables through `gather_q`, dequantizing).
 *
 * @module
 */
import type { QuantFormat } from "../runtime/backend.ts";
import { KERNELS } from "./generated/kernels.ts";
import { grid, type Program, type Slice } from "./program.ts";

const WG = KERNELS.gather.overrides.WG;

/**
 * out (rows, cols) gets the rows of src (partRows, cols) = table rows [r0, r0 + partRows) named by ids (rows, i32);
 * other rows of out are not written. `f16`: src holds f16 pairs, rows padded to an even length. `idOffset`: the
 * first id read from `ids`.
 */
export function gatherProgram(
  ids: Slice,
  src: Slice,
  out: Slice,
  rows: number,
  cols: number,
  r0: number,
  partRows: number,
  f16 = false,
  idOffset = 0,
): Program<"gather"> {
  return {
    kernel: "gather",
    label: "gather",
    constants: { WG, F16: f16 ? 1 : 0 },
    bindings: { ids, src, o: out },
    uniforms: { rows, cols, r0, part_rows: partRows, id_offset: idOffset },
    workgroups: grid(rows * cols, WG),
  };
}

/**
 * {@link gatherProgram} over a block-quantized table part (kernels/include/quant_blocks.wgsl; `cols` a multiple
 * of 32, its scales from word `scaleBase` of `src`): rows dequantized as they are copied.
 */
export function gatherQuantProgram(
  ids: Slice,
  src: Slice,
  out: Slice,
  rows: number,
  cols: number,
  r0: number,
  partRows: number,
  format: QuantFormat,
  scaleBase: number,
  idOffset = 0,
): Program<"gather_q"> {
  return {
    kernel: "gather_q",
    label: "gather_q",
    constants: { WG, Q4: format === "q4_0" ? 1 : 0 },
    bindings: { ids, src, o: out },
    uniforms: { rows, cols, r0, part_rows: partRows, id_offset: idOffset, scale_base: scaleBase },
    workgroups: grid(rows * cols, WG),
  };
}
