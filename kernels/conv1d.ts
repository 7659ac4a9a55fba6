/**
 * `conv1d`: causal depthwise conv + bias + SiLU (one thread per output), then the conv-state update (one thread
 * per (batch, channel)); two dispatches, ordered by the queue.
 *
 * @module
 */
import { KERNELS } from "./generated/kernels.ts";
import { grid, type Program, type Slice } from "./program.ts";

const WG = KERNELS.conv1d.overrides.WG;
const STATE_WG = KERNELS.conv_state.overrides.WG;

/** Shapes of a conv1d call. x is a view: row stride `xStride`, first column `xCol`. */
export interface Conv1dDims {
  batch: number;
  seqLen: number;
  channels: number;
  k: number;
  xStride: number;
  xCol: number;
}

/**
 * y (batch·L, C) = SiLU(conv(x) + bias), reading the state (batch, C, K−1); w is (C, K), bias (C) or a dummy; both
 * f16 pairs when `p16` (include/half_params.wgsl).
 */
export function conv1dProgram(
  x: Slice,
  w: Slice,
  bias: Slice,
  hasBias: boolean,
  state: Slice,
  y: Slice,
  d: Conv1dDims,
  p16 = false,
): Program<"conv1d"> {
  return {
    kernel: "conv1d",
    label: "conv1d",
    constants: { WG, P16: p16 ? 1 : 0 },
    bindings: { x, w, bias, state, y },
    uniforms: {
      batch: d.batch,
      seq_len: d.seqLen,
      channels: d.channels,
      k: d.k,
      x_stride: d.xStride,
      x_col: d.xCol,
      has_bias: hasBias ? 1 : 0,
    },
    workgroups: grid(d.batch * d.seqLen * d.channels, WG),
  };
}

/** state (batch, C, K−1) ← the last K−1 inputs of state ++ x, in place. */
export function convStateProgram(x: Slice, state: Slice, d: Conv1dDims): Program<"conv_state"> {
  return {
    kernel: "conv_state",
    label: "conv_state",
    constants: { WG: STATE_WG },
    bindings: { x, state },
    uniforms: { batch: d.batch, seq_len: d.seqLen, channels: d.channels, k: d.k, x_stride: d.xStride, x_col: d.xCol },
    workgroups: grid(d.batch * d.channels, STATE_WG),
  };
}
