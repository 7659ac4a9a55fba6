/**
 * Analytic cost of a forward pass: floating-point operations ({@link forwardFlops}) and bytes moved
 * ({@link forwardBytes}) per component. {@link COST_NOTES} states the same conventions for reports.
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
 *   per (t, h) 4 and D skip 2·T·H·P. Decode (seqLen = 1) is the recurrence: 5·H·P·N + 2·H·P + 4·H per token.
 * - Mamba-2 layers pruned with a state bridge (`config.stateBridgeSizes`): in_proj and conv1d produce B of width
 *   G·N′ and C of the original width G·N_C, and "ssm" includes the bridge, a dense linear C′ = C·bridgeᵀ
 *   (T rows, G·N_C → G·N′: 2·T·G·N_C·G·N′), before the SSD with N′ states.
 * - residual add: T·d. norm_f and lm_head (a linear to the vocabulary) run on the rows whose logits are kept:
 *   all T, or one per sequence when only the last position is needed.
 *
 * Bytes moved are the minimum traffic, every operand read or written once per pass: weights (matrices at their
 * storage width, vectors in f32) once per pass whatever the number of rows; activations 4 bytes per element read
 * and written; recurrent state (conv window and SSM state of each sequence) read and written once.
 *
 * @module
 */

import { QUANT_BLOCK_BYTES, type QuantFormat } from "./backend.ts";
import type { MambaConfig } from "./config.ts";
import { convChannels, inProjWidth, layerBridgeSize, layerCStateSize, layerStateSize } from "./config.ts";
import type { Component } from "./component.ts";

/**
 * FLOPs of each component for one forward pass over `batch` sequences of `seqLen` tokens (all layers summed),
 * with logits for `logitRows` rows (default every position; `batch` when only the last position is kept).
 *
 * @example
 * ```ts
 * import { forwardFlops, makeConfig } from "@perfmamba/perfmamba";
 *
 * const config = makeConfig("mamba1", { dModel: 64, nLayer: 2, vocabSize: 256 });
 * // A prefill of one 8-token prompt that keeps only the last position's logits (the profiler's TTFT pass).
 * const flops = forwardFlops(config, 1, 8, 1);
 * console.log(flops.lm_head); // 32768 (2 · 1 row · 64 · 256)
 * console.log(flops.out_proj); // 262144 (2 layers · 2 · 8 rows · 128 · 64)
 * const total = Object.values(flops).reduce((a, b) => a + b, 0);
 * console.log(`${(total / 1e6).toFixed(2)} MFLOP`); // 1.26 MFLOP
 * ```
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
    bcdt_norm: 0,
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
      f.in_proj += 2 * T * d * inProjWidth(config, l);
      f.conv1d += 2 * T * D * K + 4 * T * D;
      f.x_proj += 2 * T * D * (R + 2 * N);
      if (config.bcdtNormEps !== undefined) f.bcdt_norm += 4 * T * (R + 2 * N); // Falcon-Mamba: δ, B, C norms
      f.dt_proj += 2 * T * R * D;
      f.ssm += 7 * T * D * N + 9 * T * D;
    } else {
      const H = config.nHeads, P = config.headDim, G = config.nGroups, Q = config.chunkSize;
      const Nc = layerCStateSize(config, l); // C width per group (N unless bridged)
      const C = convChannels(config, l);
      f.in_proj += 2 * T * d * inProjWidth(config, l);
      f.conv1d += 2 * T * C * K + 4 * T * C;
      const bridged = layerBridgeSize(config, l) > 0;
      if (bridged) f.ssm += 2 * T * G * Nc * G * N; // the state bridge C′ = C·bridgeᵀ
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

/**
 * Bytes one component moves per forward pass, split by kind (see the module notes).
 *
 * @example
 * ```ts
 * import { type ComponentBytes, forwardBytes, makeConfig } from "@perfmamba/perfmamba";
 *
 * const config = makeConfig("mamba1", { dModel: 64, nLayer: 2, vocabSize: 256 });
 * const ssm: ComponentBytes = forwardBytes(config, 1, 8).ssm;
 * console.log(ssm); // { weights: 17408, activations: 34816, state: 32768 }
 * console.log(ssm.weights + ssm.activations + ssm.state); // 84992
 * ```
 */
export interface ComponentBytes {
  /** Parameters read: matrices at their storage width, vectors f32 (once per pass, whatever the rows). */
  weights: number;
  /** Activations read and written (f32). */
  activations: number;
  /** Recurrent state (conv window, SSM state) read and written (f32). */
  state: number;
}

/**
 * Options of {@link forwardBytes}.
 *
 * @example
 * ```ts
 * import { type BytesOptions, forwardBytes, makeConfig } from "@perfmamba/perfmamba";
 *
 * const config = makeConfig("mamba1", { dModel: 64, nLayer: 2, vocabSize: 256 });
 * // f16 weight matrices, logits for the last position only.
 * const options: BytesOptions = { matrixBytes: 2, logitRows: 1 };
 * console.log(forwardBytes(config, 1, 8, options).lm_head.weights); // 32768 (256 · 64 · 2 bytes)
 * console.log(forwardBytes(config, 1, 8).lm_head.weights); // 65536 (f32)
 * ```
 */
export interface BytesOptions {
  /** Rows whose logits are computed (default every position). */
  logitRows?: number;
  /**
   * Bytes per element of the weight matrices as stored: 4 for f32, 2 for f16, or per component for a quantized
   * model ({@link MatrixBytes}).
   */
  matrixBytes?: MatrixBytes;
}

/**
 * Bytes per element of the weight matrices: one width for every matrix, or a width per component (a quantized
 * model's in_proj at 34 / 32 bytes, its state bridge still at the backend's 4). A component missing from the record
 * is at `default`. The key `params` is the width of the per-channel SSM parameters A_log (A), conv1d's weight and
 * bias, and D: 2 where they are held in f16 (a quantized model's default), else 4.
 *
 * @example
 * ```ts
 * import { componentWeightBytes, makeConfig, type MatrixBytes } from "@perfmamba/perfmamba";
 *
 * const q8InProj: MatrixBytes = { default: 4, in_proj: 34 / 32 };
 * const config = makeConfig("mamba1", { dModel: 64, nLayer: 1, vocabSize: 64 });
 * console.log(componentWeightBytes(config, q8InProj).in_proj); // 17408
 * ```
 */
export type MatrixBytes = number | { readonly default: number; readonly [component: string]: number };

/**
 * The {@link MatrixBytes} of a model whose components in `formats` hold block-quantized matrices (q8_0: 34 bytes
 * per 32 weights, q4_0: 18) and whose other matrices are `base` bytes wide.
 *
 * @example
 * ```ts
 * import { componentWeightBytes, makeConfig, quantizedMatrixBytes } from "@perfmamba/perfmamba";
 *
 * const config = makeConfig("mamba1", { dModel: 64, nLayer: 2, vocabSize: 256 });
 * const q8 = quantizedMatrixBytes(4, { in_proj: "q8_0", out_proj: "q8_0" });
 * console.log(componentWeightBytes(config, q8).in_proj / componentWeightBytes(config).in_proj); // 0.265625
 * ```
 */
export function quantizedMatrixBytes(
  base: number,
  formats: Partial<Record<Component, QuantFormat>>,
  paramBytes = 4,
): MatrixBytes {
  const m: { default: number; [c: string]: number } = { default: base };
  for (const [c, f] of Object.entries(formats)) if (f) m[c] = QUANT_BLOCK_BYTES[f] / 32;
  if (paramBytes !== 4) m.params = paramBytes;
  return Object.keys(m).length === 1 ? base : m;
}

/** The width of the per-channel SSM parameters (A_log, conv1d's weight and bias, D): `params`, else 4. */
export function paramBytesOf(m: MatrixBytes): number {
  return typeof m === "number" ? 4 : (m.params ?? 4);
}

/** The width of matrices that are never quantized (the state bridge): the default. */
export function baseMatrixBytes(m: MatrixBytes): number {
  return typeof m === "number" ? m : m.default;
}

/** The width of component `c`'s matrices. */
export function matrixBytesOf(m: MatrixBytes, c: Component): number {
  return typeof m === "number" ? m : (m[c] ?? m.default);
}

/**
 * Minimum bytes each component moves for one forward pass over `batch` sequences of `seqLen` tokens (all layers
 * summed): weights once, activations and state read and written once.
 *
 * @example
 * ```ts
 * import { forwardBytes, forwardFlops, makeConfig } from "@perfmamba/perfmamba";
 *
 * const config = makeConfig("mamba1", { dModel: 64, nLayer: 2, vocabSize: 256 });
 * const bytes = forwardBytes(config, 1, 8);
 * const flops = forwardFlops(config, 1, 8);
 * // Arithmetic intensity (FLOPs per byte) of the LM head: low, so it is memory-bound.
 * const b = bytes.lm_head;
 * const intensity = flops.lm_head / (b.weights + b.activations + b.state);
 * console.log(intensity.toFixed(2)); // 3.46
 * ```
 */
export function forwardBytes(
  config: MambaConfig,
  batch: number,
  seqLen: number,
  options: BytesOptions = {},
): Record<Component, ComponentBytes> {
  const T = batch * seqLen;
  const R = options.logitRows ?? T;
  const mb = options.matrixBytes ?? 4;
  const f = 4; // activations, vectors and state are f32
  const pb = paramBytesOf(mb); // A_log / A, conv1d, D: 2 where held in f16
  const d = config.dModel, D = config.dInner, K = config.dConv, V = config.vocabSize;
  const zero = (): ComponentBytes => ({ weights: 0, activations: 0, state: 0 });
  const b = {} as Record<Component, ComponentBytes>;
  for (const c of COMPONENTS) b[c] = zero();
  const add = (c: Component, weights: number, activations: number, state = 0) => {
    b[c].weights += weights;
    b[c].activations += activations;
    b[c].state += state;
  };
  // y = x·Wᵀ (+ bias): W once, x (rows × k) read, y (rows × n) written.
  // The state bridge (counted in ssm) is never quantized: it is at the default width.
  const linear = (c: Component, rows: number, k: number, n: number, bias = false) =>
    add(c, n * k * (c === "ssm" ? baseMatrixBytes(mb) : matrixBytesOf(mb, c)) + (bias ? n * f : 0), rows * (k + n) * f);

  add("embedding", Math.min(T, V) * d * matrixBytesOf(mb, "embedding"), T * d * f); // the rows gathered (at most the table), written out
  for (let l = 0; l < config.nLayer; l++) {
    const N = layerStateSize(config, l);
    add("norm", d * f, 2 * T * d * f);
    add("residual", 0, 3 * T * d * f);
    linear("out_proj", T, D, d, config.useBias);
    if (config.arch === "mamba1") {
      const Rk = config.dtRank;
      linear("in_proj", T, d, inProjWidth(config, l), config.useBias);
      // conv over x: weights (+bias), x read, SiLU(conv) written; the window of K − 1 inputs read and written.
      add("conv1d", D * K * pb + (config.useConvBias ? D * pb : 0), 2 * T * D * f, 2 * batch * D * (K - 1) * f);
      linear("x_proj", T, D, Rk + 2 * N);
      // Falcon-Mamba's weightless δ / B / C norms: x_proj's output read, the normalised copy written.
      if (config.bcdtNormEps !== undefined) add("bcdt_norm", 0, 2 * T * (Rk + 2 * N) * f);
      linear("dt_proj", T, Rk, D, true);
      // scan: u, Δ, z (T × D) and B, C (T × N) read, y written; A (D × N) and D read; h read and written.
      add("ssm", (D * N + D) * pb, (4 * T * D + 2 * T * N) * f, 2 * batch * D * N * f);
    } else {
      const H = config.nHeads, P = config.headDim, G = config.nGroups;
      const Nc = layerCStateSize(config, l); // C width per group (N unless bridged)
      const C = convChannels(config, l);
      linear("in_proj", T, d, inProjWidth(config, l), config.useBias);
      add("conv1d", C * K * pb + (config.useConvBias ? C * pb : 0), 2 * T * C * f, 2 * batch * C * (K - 1) * f);
      // The state bridge: its matrix, C (T × G·N_C) read, C′ (T × G·N) written.
      if (layerBridgeSize(config, l) > 0) linear("ssm", T, G * Nc, G * N);
      // SSD: x (T × D), dt (T × H), B and C (T × G·N) read, y written; A, D, dt_bias read; h read and written.
      add("ssm", 2 * H * pb + H * f, (2 * T * D + T * H + 2 * T * G * N) * f, 2 * batch * H * P * N * f);
      // gate + norm: y and z read, output written; the norm weight.
      add("gate_norm", D * f, 3 * T * D * f);
    }
  }
  add("norm_f", d * f, 2 * R * d * f);
  linear("lm_head", R, d, V);
  return b;
}

/**
 * Components in forward order (those a given architecture lacks cost 0).
 *
 * @example
 * ```ts
 * import { COMPONENTS, forwardFlops, makeConfig } from "@perfmamba/perfmamba";
 *
 * const config = makeConfig("mamba2", { dModel: 64, nLayer: 2, vocabSize: 256, dState: 16, headDim: 16 });
 * const flops = forwardFlops(config, 1, 16);
 * for (const c of COMPONENTS) if (flops[c] > 0) console.log(c.padEnd(10), flops[c]);
 * console.log(COMPONENTS.length, COMPONENTS[0], COMPONENTS.at(-1)); // 13 embedding lm_head
 * ```
 */
export const COMPONENTS: readonly Component[] = [
  "embedding",
  "norm",
  "in_proj",
  "conv1d",
  "x_proj",
  "bcdt_norm",
  "dt_proj",
  "ssm",
  "gate_norm",
  "out_proj",
  "residual",
  "norm_f",
  "lm_head",
];

/**
 * The FLOP and byte conventions of this module, one line each, for reports.
 *
 * @example
 * ```ts
 * import { COST_NOTES } from "@perfmamba/perfmamba";
 *
 * // A footnote block for a Markdown report.
 * const footnotes = COST_NOTES.map((line) => `- ${line}`).join("\n");
 * console.log(footnotes.split("\n")[0]);
 * // - One multiply-add = 2 FLOPs; exp, softplus and rsqrt count 1; comparisons are free.
 * ```
 */
export const COST_NOTES: readonly string[] = [
  "One multiply-add = 2 FLOPs; exp, softplus and rsqrt count 1; comparisons are free.",
  "linear x·Wᵀ (T rows, k in, n out): 2·T·k·n FLOPs; bytes: W once (n·k at its storage width) + x and y once.",
  "RMSNorm over d: 4·T·d; gated RMSNorm over D (Mamba-2 gate + norm): 8·T·D.",
  "Falcon-Mamba bcdt_norm (weightless RMSNorms of δ, B, C after x_proj): 4·T·(R + 2N); bytes: x_proj's output read and written.",
  "causal conv1d (C channels, kernel K): 2·T·C·K + SiLU 4·T·C; state: the last K − 1 inputs per channel.",
  "Mamba-1 selective scan (D channels, N states): 7·T·D·N + 9·T·D (exp(δA), state update, C·h, softplus, D skip, SiLU gate).",
  "Mamba-2 SSD prefill (H heads of P, G groups, N states, chunk Q): T·(2QNG + 2QPH + 4NPH + 2NPH/Q + 4H + 2HP); decode: T·(5HPN + 2HP + 4H).",
  "Mamba-2 state bridge (pruned layers with stateBridgeSizes): a linear G·N_C → G·N′ counted in ssm; in_proj and conv1d carry B at G·N′ and C at G·N_C.",
  "residual add: T·d; norm_f and lm_head run on the rows whose logits are kept (all T, or the last of each sequence).",
  "Bytes are the minimum traffic: every weight, activation (f32) and state element read or written once per pass.",
];

/**
 * Bytes of the parameters each component holds (all layers; matrices at `matrixBytes` per element, vectors f32).
 * A tied lm_head holds nothing of its own: its matrix is the embedding's.
 *
 * @example
 * ```ts
 * import { componentWeightBytes, makeConfig } from "@perfmamba/perfmamba";
 *
 * const config = makeConfig("mamba1", { dModel: 64, nLayer: 2, vocabSize: 256 });
 * const f32 = componentWeightBytes(config);
 * console.log(f32.embedding, f32.lm_head); // 65536 0 (the LM head is tied to the embedding)
 * const total = (w: Record<string, number>) => Object.values(w).reduce((a, b) => a + b, 0);
 * console.log(total(f32)); // 327424: 4 bytes for each of the model's 81856 parameters
 * console.log(total(componentWeightBytes(config, 2)) < total(f32)); // true (f16 matrices)
 * ```
 */
export function componentWeightBytes(config: MambaConfig, matrixBytes: MatrixBytes = 4): Record<Component, number> {
  const f = 4;
  const pb = paramBytesOf(matrixBytes); // A_log, conv1d, D: 2 where held in f16
  const wb = (c: Component) => matrixBytesOf(matrixBytes, c);
  const d = config.dModel, D = config.dInner, K = config.dConv, V = config.vocabSize;
  const w = {} as Record<Component, number>;
  for (const c of COMPONENTS) w[c] = 0;
  const bias = (n: number) => (config.useBias ? n * f : 0);
  w.embedding = V * d * wb("embedding");
  w.lm_head = config.tieEmbeddings ? 0 : V * d * wb("lm_head");
  w.norm_f = d * f;
  for (let l = 0; l < config.nLayer; l++) {
    const N = layerStateSize(config, l);
    w.norm += d * f;
    w.out_proj += D * d * wb("out_proj") + bias(d);
    if (config.arch === "mamba1") {
      const R = config.dtRank;
      w.in_proj += inProjWidth(config, l) * (d * wb("in_proj")) + bias(inProjWidth(config, l));
      w.conv1d += D * K * pb + (config.useConvBias ? D * pb : 0);
      w.x_proj += (R + 2 * N) * D * wb("x_proj");
      w.dt_proj += D * R * wb("dt_proj") + D * f;
      w.ssm += (D * N + D) * pb; // A, D
    } else {
      const H = config.nHeads, G = config.nGroups;
      const Nc = layerCStateSize(config, l); // C width per group (N unless bridged)
      const C = convChannels(config, l);
      w.in_proj += inProjWidth(config, l) * (d * wb("in_proj")) + bias(inProjWidth(config, l));
      w.conv1d += C * K * pb + (config.useConvBias ? C * pb : 0);
      w.ssm += 2 * H * pb + H * f; // A, D; dt_bias f32
      if (layerBridgeSize(config, l) > 0) w.ssm += G * N * G * Nc * baseMatrixBytes(matrixBytes); // the state bridge (never quantized)
      w.gate_norm += D * f;
    }
  }
  return w;
}

/**
 * Bytes of recurrent state each component holds for `batch` sequences (conv window, SSM state; all layers).
 *
 * @example
 * ```ts
 * import { componentStateBytes, makeConfig } from "@perfmamba/perfmamba";
 *
 * const config = makeConfig("mamba1", { dModel: 64, nLayer: 2, vocabSize: 256 });
 * const state = componentStateBytes(config, 1);
 * console.log(state.ssm); // 16384: 2 layers · 128 channels · 16 states · 4 bytes
 * console.log(state.conv1d); // 3072: 2 layers · 128 channels · 3 (d_conv − 1) inputs · 4 bytes
 * console.log(componentStateBytes(config, 4).ssm); // 65536: linear in the batch
 * ```
 */
export function componentStateBytes(config: MambaConfig, batch: number): Record<Component, number> {
  const s = {} as Record<Component, number>;
  for (const c of COMPONENTS) s[c] = 0;
  const D = config.dInner, K = config.dConv;
  for (let l = 0; l < config.nLayer; l++) {
    const N = layerStateSize(config, l);
    if (config.arch === "mamba1") {
      s.conv1d += batch * D * (K - 1) * 4;
      s.ssm += batch * D * N * 4;
    } else {
      s.conv1d += batch * convChannels(config, l) * (K - 1) * 4;
      s.ssm += batch * config.nHeads * config.headDim * N * 4;
    }
  }
  return s;
}
