/**
 * The two mixers of a Mamba block on device tensors: each layer's weights as uploaded ({@link uploadLayer}) and its
 * forward pass as a sequence of `Backend` ops ({@link mamba1Mixer}, {@link mamba2Mixer}); `MambaModel` (model.ts)
 * wraps them with the embedding, norms, residual stream and lm_head.
 *
 * @module
 */

import type { Backend, Matrix, Tensor, View } from "./backend.ts";
import { QUANT_BLOCK_BYTES, view } from "./backend.ts";
import type { Component } from "./component.ts";
import type { MambaConfig } from "./config.ts";
import { layerBridgeSize } from "./config.ts";
import type { InferenceState } from "./state.ts";
import type { HostMatrix, HostTensor, LayerWeights } from "./weights.ts";
import { cStateSizeOf, isQuantized, stateSizeOf } from "./weights.ts";

/** Runs one component of layer `layer` between the model's begin/end hooks. */
export type RunComponent = <T>(c: Component, layer: number, f: () => T) => Promise<T>;
/** Hands a named intermediate tensor of layer `layer` to the capture hook. */
export type Capture = (name: string, layer: number, t: Tensor) => Promise<void>;

/** How {@link uploadLayer} puts host tensors on the backend (and counts them): MambaModel.load's uploaders. */
export interface LayerUploader {
  /** A vector or small tensor as it is. */
  vec(t: HostTensor, label: string): Tensor;
  /** A tensor computed on the host from the weights (A = −exp(A_log)). */
  derived(data: Float32Array, shape: number[], label: string): Tensor;
  /** An optional tensor (bias). */
  opt(t: HostTensor | null, label: string): Tensor | null;
  /**
   * A per-channel SSM parameter (A_log, conv1d's weight and bias, D): f16 (`Backend.uploadHalf`) when
   * {@link LayerUploader.halfParams} holds, else as {@link LayerUploader.vec}.
   */
  param(t: HostTensor, label: string): Tensor;
  /** The parameters are held in f16 (`param` uploads A = −exp(A_log) as halves too). */
  halfParams: boolean;
  /** A weight matrix [n, k], f32 or block-quantized. */
  mat(t: HostMatrix, label: string): Matrix;
}

/** A Mamba-1 layer's weights on the device. */
export interface Mamba1Device {
  arch: "mamba1";
  norm: Tensor; // (d)
  inProj: Matrix; // (2D, d)
  inProjBias: Tensor | null; // (2D)
  convWeight: Tensor; // (D, K)
  convBias: Tensor | null; // (D)
  xProj: Matrix | null; // (R + 2N, D); null when bcdtNorm holds it split
  bcdtNorm: BcdtNormDevice | null; // Falcon-Mamba: x_proj split in three, and the weightless δ / B / C norms
  dtProj: Matrix; // (D, R)
  dtProjBias: Tensor; // (D)
  A: Tensor; // (D, N) = −exp(A_log), f32 or f16 (LayerUploader.halfParams)
  D: Tensor; // (D)
  outProj: Matrix; // (d, D)
  outProjBias: Tensor | null; // (d)
  dState: number;
}

/**
 * Falcon-Mamba's x_proj, split by rows into its δ, B and C parts so that each output is a whole tensor the
 * backend's `rmsNorm` can normalise (with a weight of ones: the norms have none).
 */
export interface BcdtNormDevice {
  dt: Matrix; // (R, D)
  B: Matrix; // (N, D)
  C: Matrix; // (N, D)
  onesR: Tensor; // (R)
  onesN: Tensor; // (N)
  eps: number;
}

/** A Mamba-2 layer's weights on the device. */
export interface Mamba2Device {
  arch: "mamba2";
  norm: Tensor; // (d)
  inProj: Matrix; // (2D + GN + GNc + H, d), Nc = N unless bridged
  inProjBias: Tensor | null;
  convWeight: Tensor; // (D + GN + GNc, K)
  convBias: Tensor | null; // (D + GN + GNc)
  bridge: Matrix | null; // (GN, GNc): C′ = C · bridgeᵀ
  cState: number; // Nc: per-group width of the conv's C
  dtBias: Tensor; // (H)
  A: Tensor; // (H) = −exp(A_log)
  D: Tensor; // (H)
  gateNorm: Tensor; // (D)
  outProj: Matrix; // (d, D)
  outProjBias: Tensor | null;
  dState: number;
}

/** A layer of either architecture on the device. */
export type DeviceLayer = Mamba1Device | Mamba2Device;

function negExp(t: HostTensor): Float32Array {
  return t.data.map((v) => -Math.exp(v));
}

function rows(t: HostMatrix, from: number, count: number): HostMatrix {
  if (isQuantized(t)) {
    const rowBytes = (t.k / 32) * QUANT_BLOCK_BYTES[t.format];
    return { ...t, n: count, blocks: t.blocks.slice(from * rowBytes, (from + count) * rowBytes) };
  }
  const cols = t.shape[1];
  return { shape: [count, cols], data: t.data.slice(from * cols, (from + count) * cols) };
}

function uploadBcdt(xProj: HostMatrix, R: number, N: number, eps: number, p: string, up: LayerUploader) {
  return {
    dt: up.mat(rows(xProj, 0, R), p + "x_proj.dt"),
    B: up.mat(rows(xProj, R, N), p + "x_proj.B"),
    C: up.mat(rows(xProj, R + N, N), p + "x_proj.C"),
    onesR: up.derived(new Float32Array(R).fill(1), [R], p + "bcdt_norm.onesR"),
    onesN: up.derived(new Float32Array(N).fill(1), [N], p + "bcdt_norm.onesN"),
    eps,
  };
}

/** Upload layer `l`'s host weights (checking a bridged layer against the config). */
export function uploadLayer(w: LayerWeights<HostMatrix>, l: number, cfg: MambaConfig, up: LayerUploader): DeviceLayer {
  const { vec, derived, opt, mat, param } = up;
  const p = `layers.${l}.`;
  // Fields both mixers have.
  const common = {
    norm: vec(w.norm, p + "norm"),
    inProj: mat(w.inProj, p + "in_proj"),
    inProjBias: opt(w.inProjBias, p + "in_proj.bias"),
    convWeight: param(w.convWeight, p + "conv1d.weight"),
    convBias: w.convBias ? param(w.convBias, p + "conv1d.bias") : null,
    // f16: A = −exp(A_log) held as halves (A_log snapped so that A is one: runtime/half_params.ts).
    A: up.halfParams
      ? param({ shape: w.aLog.shape, data: negExp(w.aLog) }, p + "A")
      : derived(negExp(w.aLog), w.aLog.shape, p + "A"),
    D: param(w.D, p + "D"),
    outProj: mat(w.outProj, p + "out_proj"),
    outProjBias: opt(w.outProjBias, p + "out_proj.bias"),
    dState: stateSizeOf(w, cfg),
  };
  if (w.arch === "mamba1") {
    const eps = cfg.bcdtNormEps;
    return {
      arch: "mamba1",
      ...common,
      xProj: eps === undefined ? mat(w.xProj, p + "x_proj") : null,
      bcdtNorm: eps === undefined ? null : uploadBcdt(w.xProj, cfg.dtRank, common.dState, eps, p, up),
      dtProj: mat(w.dtProj, p + "dt_proj"),
      dtProjBias: vec(w.dtProjBias, p + "dt_proj.bias"),
    };
  }
  const bridgeSize = w.bridge ? cStateSizeOf(w, cfg) : 0;
  if (bridgeSize !== layerBridgeSize(cfg, l)) {
    const has = w.bridge ? `a state bridge from N = ${bridgeSize}` : "no state bridge";
    throw new Error(
      `MambaModel.load: layer ${l} has ${has}, but config.stateBridgeSizes says ${layerBridgeSize(cfg, l)} ` +
        `(0 = none)`,
    );
  }
  return {
    arch: "mamba2",
    ...common,
    dtBias: vec(w.dtBias, p + "dt_bias"),
    gateNorm: vec(w.gateNorm, p + "gate_norm"),
    bridge: w.bridge ? mat(w.bridge, p + "state_bridge") : null,
    cState: cStateSizeOf(w, cfg),
  };
}

/**
 * Mamba-1 mixer of layer `l` on its normalised input u (T, d): returns out_proj's output (T, d), or only its rows
 * `outRows` (the last layer when only the last logits are wanted: out_proj's other rows would be discarded).
 */
export async function mamba1Mixer(
  be: Backend,
  cfg: MambaConfig,
  w: Mamba1Device,
  l: number,
  u: Tensor,
  batch: number,
  seqLen: number,
  state: InferenceState,
  run: RunComponent,
  capture: Capture,
  outRows?: Int32Array,
): Promise<Tensor> {
  const D = cfg.dInner, N = w.dState, R = cfg.dtRank;
  const xz = await run("in_proj", l, () => be.linear(u, w.inProj, w.inProjBias)); // (T, 2D): [x | z]
  await capture("in_proj.out", l, xz);
  const x = await run(
    "conv1d",
    l,
    () => be.conv1d(view(xz, 0, D), w.convWeight, w.convBias, state.conv[l], batch, seqLen),
  ); // (T, D)
  // [δ | B | C] = x_proj(x), as one (T, R + 2N) tensor read through views, or (Falcon-Mamba) as three tensors,
  // each then normalised by a weightless RMS norm.
  const bc = w.bcdtNorm;
  let parts: { dt: View; B: View; C: View; free: Tensor[] };
  if (bc) {
    const raw = await run("x_proj", l, () => [be.linear(x, bc.dt), be.linear(x, bc.B), be.linear(x, bc.C)]);
    const [dtN, bN, cN] = await run("bcdt_norm", l, () => [
      be.rmsNorm(raw[0], bc.onesR, bc.eps),
      be.rmsNorm(raw[1], bc.onesN, bc.eps),
      be.rmsNorm(raw[2], bc.onesN, bc.eps),
    ]);
    await capture("x_proj.B", l, raw[1]);
    await capture("x_proj.C", l, raw[2]);
    await capture("bcdt_norm.B", l, bN);
    await capture("bcdt_norm.C", l, cN);
    for (const t of raw) be.free(t);
    parts = { dt: view(dtN), B: view(bN), C: view(cN), free: [dtN, bN, cN] };
  } else {
    const xProj = w.xProj!;
    const xdbl = await run("x_proj", l, () => be.linear(x, xProj)); // (T, R + 2N): [δ | B | C]
    parts = { dt: view(xdbl, 0, R), B: view(xdbl, R, N), C: view(xdbl, R + N, N), free: [xdbl] };
  }
  const dt = await run("dt_proj", l, () => be.linear(parts.dt, w.dtProj, w.dtProjBias)); // (T, D)
  const y = await run("ssm", l, () =>
    be.selectiveScan({
      u: view(x),
      delta: view(dt),
      A: w.A,
      B: parts.B,
      C: parts.C,
      D: w.D,
      z: view(xz, D, D),
      state: state.ssm[l],
      batch,
      seqLen,
    })); // (T, D), gated by SiLU(z)
  be.free(xz);
  be.free(x);
  for (const t of parts.free) be.free(t);
  be.free(dt);
  await capture("out_proj.in", l, y);
  return await outProj(be, w, l, y, run, outRows);
}

/** out_proj of the mixer's gated output g (T, D), on all rows or only on outRows; frees g. */
async function outProj(
  be: Backend,
  w: Mamba1Device | Mamba2Device,
  l: number,
  g: Tensor,
  run: RunComponent,
  outRows: Int32Array | undefined,
): Promise<Tensor> {
  const rows = outRows ? be.gatherRows(g, outRows) : g;
  if (outRows) be.free(g);
  const out = await run("out_proj", l, () => be.linear(rows, w.outProj, w.outProjBias)); // (T or rows, d)
  be.free(rows);
  return out;
}

/** Mamba-2 mixer of layer `l` on its normalised input u (T, d): returns out_proj's output, as mamba1Mixer. */
export async function mamba2Mixer(
  be: Backend,
  cfg: MambaConfig,
  w: Mamba2Device,
  l: number,
  u: Tensor,
  batch: number,
  seqLen: number,
  state: InferenceState,
  run: RunComponent,
  capture: Capture,
  outRows?: Int32Array,
): Promise<Tensor> {
  const D = cfg.dInner, N = w.dState, G = cfg.nGroups, H = cfg.nHeads;
  const GN = G * N, GNc = G * w.cState; // B and state have N; C has Nc (= N unless the layer is bridged)
  const zxbcdt = await run("in_proj", l, () => be.linear(u, w.inProj, w.inProjBias)); // (T, 2D + GN + GNc + H)
  await capture("in_proj.out", l, zxbcdt);
  const xBC = await run(
    "conv1d",
    l,
    () => be.conv1d(view(zxbcdt, D, D + GN + GNc), w.convWeight, w.convBias, state.conv[l], batch, seqLen),
  ); // (T, D + GN + GNc): [x | B | C]
  const y = await run("ssm", l, () => {
    // Bridged: the SSD reads C′ = C · bridgeᵀ (T, GN), a linear map of the conv's C (T, GNc).
    const bridged = w.bridge ? be.linear(view(xBC, D + GN, GNc), w.bridge) : null;
    const out = be.ssd({
      x: view(xBC, 0, D),
      dt: view(zxbcdt, 2 * D + GN + GNc, H),
      dtBias: w.dtBias,
      A: w.A,
      B: view(xBC, D, GN),
      C: bridged ? view(bridged) : view(xBC, D + GN, GN),
      D: w.D,
      state: state.ssm[l],
      batch,
      seqLen,
      nHeads: H,
      headDim: cfg.headDim,
      nGroups: G,
      dState: N,
      chunkSize: cfg.chunkSize,
      dtMin: cfg.timeStepLimit[0],
      dtMax: cfg.timeStepLimit[1],
    }); // (T, D)
    if (bridged) be.free(bridged);
    return out;
  });
  be.free(xBC);
  const g = await run(
    "gate_norm",
    l,
    () => be.gatedRmsNorm(y, view(zxbcdt, 0, D), w.gateNorm, cfg.normGroupSize, cfg.eps),
  ); // (T, D)
  be.free(y);
  be.free(zxbcdt);
  await capture("out_proj.in", l, g);
  return await outProj(be, w, l, g, run, outRows);
}
