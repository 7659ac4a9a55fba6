/**
 * Analytic cost of a forward pass: floating-point operations per component.
 *
 * Conventions (one multiply-add = 2 FLOPs; exp / softplus / rsqrt count as 1; comparisons are free):
 * - linear x·Wᵀ of T rows, k inputs, n outputs: 2·T·k·n.
 * - RMSNorm over d: 4·T·d (square, sum, scale, weight). Gated RMSNorm over D: SiLU gate (4) + norm (4) → 8·T·D.
 * - causal conv1d, C channels, kernel K: 2·T·C·K + SiLU 4·T·C.
 * - Mamba-1 selective scan, D channels, N states: per (t, d, n) exp(δA) 2, h update 3, C·h 2 → 7·T·D·N, plus
 *   softplus 2, D skip 2 and SiLU gate 5 per (t, d) → 9·T·D.
 * - Mamba-2 SSD, H heads of P, G groups, N states, chunk Q (prefill, seqLen > 1): the four-step algorithm as run,
 *   dense (masked half counted): C·Bᵀ 2·Q·N·G, intra-chunk Y 2·Q·P·H, chunk states 2·N·P·H, state → output
 *   2·N·P·H per token (state passing per chunk is negligible and counted as 2·N·P·H / Q); plus softplus/exp
 *   per (t, h) 4 and D skip 2·T·H·P. Decode (seqLen = 1) is the recurrence: 5·H·P·N + 2·H·P per token.
 * - residual add: T·d. norm_f and lm_head (a linear to the vocabulary) run on the rows whose logits are kept:
 *   all T, or one per sequence when only the last position is needed.
 *
 * @module
 */

import type { MambaConfig } from "./config.ts";
import { layerStateSize } from "./config.ts";
import type { Component } from "./model.ts";

/**
 * FLOPs of each component for one forward pass over `batch` sequences of `seqLen` tokens (all layers summed),
 * with logits for `logitRows` rows (default every position; `batch` when only the last position is kept).
 */
export function forwardFlops(
  config: MambaConfig,
  batch: number,
  seqLen: number,
  logitRows: number = batch * seqLen,
): Record<Component, number> {
  const T = batch * seqLen;
  const d = config.dModel, D = config.dInner, K = config.dConv, V = config.vocabSize;
  const f: Record<Component, number> = {
    embedding: 0,
    norm: 0,
    in_proj: 0,
    conv1d: 0,
    x_proj: 0,
    dt_proj: 0,
    ssm: 0,
    gate_norm: 0,
    out_proj: 0,
    residual: 0,
    norm_f: 4 * logitRows * d,
    lm_head: 2 * logitRows * d * V,
  };
  for (let l = 0; l < config.nLayer; l++) {
    const N = layerStateSize(config, l);
    f.norm += 4 * T * d;
    f.out_proj += 2 * T * D * d;
    f.residual += T * d;
    if (config.arch === "mamba1") {
      const R = config.dtRank;
      f.in_proj += 2 * T * d * 2 * D;
      f.conv1d += 2 * T * D * K + 4 * T * D;
      f.x_proj += 2 * T * D * (R + 2 * N);
      f.dt_proj += 2 * T * R * D;
      f.ssm += 7 * T * D * N + 9 * T * D;
    } else {
      const H = config.nHeads, P = config.headDim, G = config.nGroups, Q = config.chunkSize;
      const C = D + 2 * G * N;
      f.in_proj += 2 * T * d * (2 * D + 2 * G * N + H);
      f.conv1d += 2 * T * C * K + 4 * T * C;
      f.ssm += seqLen === 1
        ? T * (5 * H * P * N + 2 * H * P + 4 * H)
        : T * (2 * Q * N * G + 2 * Q * P * H + 4 * N * P * H + (2 * N * P * H) / Q + 4 * H + 2 * H * P);
      f.gate_norm += 8 * T * D;
    }
  }
  return f;
}

/** Sum of a per-component record. */
export function total(record: Record<string, number>): number {
  return Object.values(record).reduce((a, b) => a + b, 0);
}
