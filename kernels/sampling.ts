/**
 * `sampleInto`: sampled token choice on the device (penalty, temperature, top-k, top-p, one seeded draw per token,
 * by runtime/sampling.ts's definition), so several sampled decode steps can run without a readback.
 *
 * @module
 */
import type { TokenChoice } from "../runtime/sampling.ts";
import { KERNELS } from "./generated/kernels.ts";
import { grid, type Program, type Slice } from "./program.ts";

const WG = KERNELS.sample.overrides.WG;

/** Where a sampled step reads and writes: logits rows, the ids, the draws and the seen-token bitmap. */
export interface SampleSlices {
  x: Slice;
  ids: Slice;
  draws: Slice;
  seen: Slice;
}

/**
 * ids[offset + r] (i32) = the token drawn from the first `cols` columns of row r of x (rows, stride) with the draw
 * draws[drawOffset + r]; marks it in seen (rows, seenWords).
 */
export function sampleProgram(
  s: SampleSlices,
  rows: number,
  cols: number,
  stride: number,
  offset: number,
  drawOffset: number,
  seenWords: number,
  choice: TokenChoice,
): Program<"sample"> {
  const f = Math.fround;
  return {
    kernel: "sample",
    label: "sample",
    constants: { WG },
    bindings: { x: s.x, ids: s.ids, draws: s.draws, seen: s.seen },
    uniforms: {
      rows,
      cols,
      stride,
      offset,
      draw_offset: drawOffset,
      top_k: choice.topK,
      seen_words: seenWords,
      temperature: choice.temperature,
      inv_temperature: choice.temperature > 0 ? f(1 / f(choice.temperature)) : 0,
      top_p: choice.topP,
      penalty: choice.repetitionPenalty,
      inv_penalty: f(1 / f(choice.repetitionPenalty)),
    },
    workgroups: grid(rows),
  };
}
