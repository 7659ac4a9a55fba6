/**
 * The two mixers of a Mamba block on device tensors: each layer's weights as uploaded ({@link uploadLayer}) and its
 * forward pass as a sequence of `Backend` ops ({@link mamba1Mixer}, {@link mamba2Mixer}); `MambaModel` (model.ts)
 * wraps them with the embedding, norms, residual stream and lm_head.
 *
 * @module
 */

import type { Backend, Matrix, Tensor } from "./backend.ts";
import { view } from "./backend.ts";
import type { Component } from "./component.ts";
import type { MambaConfig } from "./config.ts";
import { layerBridgeSize } from "./config.ts";
import type { InferenceState } from "./state.ts";
import type { HostTensor, LayerWeights } from "./weights.ts";
import { cStateSizeOf, stateSizeOf } from "./weights.ts";

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
  /** A weight matrix [n, k]. */
  mat(t: HostTensor, label: string): Matrix;
}

/** A Mamba-1 layer's weights on the device. */
export interface Mamba1Device {
  arch: "mamba1";
  norm: Tensor; // (d)
  inProj: Matrix; // (2D, d)
  inProjBias: Tensor | null; // (2D)
  convWeight: Tensor; // (D, K)
  convBias: Tensor | null; // (D)
  xProj: Matrix; // (R + 2N, D)
  dtProj: Matrix; // (D, R)
  dtProjBias: Tensor; // (D)
  A: Tensor; // (D, N) = −exp(A_log)
  D: Tensor; // (D)
  outProj: Matrix; // (d, D)
  outProjBias: Tensor | null; // (d)
  dState: number;
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

/** Upload layer `l`'s host weights (checking a bridged layer against the config). */
export function uploadLayer(w: LayerWeights, l: number, cfg: MambaConfig, up: LayerUploader): DeviceLayer {
  const { vec, derived, opt, mat } = up;
  const p = `layers.${l}.`;
  // Fields both mixers have.
  const common = {
    norm: vec(w.norm, p + "norm"),
    inProj: mat(w.inProj, p + "in_proj"),
    inProjBias: opt(w.inProjBias, p + "in_proj.bias"),
    convWeight: vec(w.convWeight, p + "conv1d.weight"),
    convBias: opt(w.convBias, p + "conv1d.bias"),
    A: derived(negExp(w.aLog), w.aLog.shape, p + "A"),
    D: vec(w.D, p + "D"),
    outProj: mat(w.outProj, p + "out_proj"),
    outProjBias: opt(w.outProjBias, p + "out_proj.bias"),
    dState: stateSizeOf(w, cfg),
  };
  if (w.arch === "mamba1") {
    return {
      arch: "mamba1",
      ...common,
      xProj: mat(w.xProj, p + "x_proj"),
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

/** Mamba-1 mixer of layer `l` on its normalised input u (T, d): returns out_proj's output (T, d). */
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
): Promise<Tensor> {
  const D = cfg.dInner, N = w.dState, R = cfg.dtRank;
  const xz = await run("in_proj", l, () => be.linear(u, w.inProj, w.inProjBias)); // (T, 2D): [x | z]
  await capture("in_proj.out", l, xz);
  const x = await run(
    "conv1d",
    l,
    () => be.conv1d(view(xz, 0, D), w.convWeight, w.convBias, state.conv[l], batch, seqLen),
  ); // (T, D)
  const xdbl = await run("x_proj", l, () => be.linear(x, w.xProj)); // (T, R + 2N): [δ | B | C]
  const dt = await run("dt_proj", l, () => be.linear(view(xdbl, 0, R), w.dtProj, w.dtProjBias)); // (T, D)
  const y = await run("ssm", l, () =>
    be.selectiveScan({
      u: view(x),
      delta: view(dt),
      A: w.A,
      B: view(xdbl, R, N),
      C: view(xdbl, R + N, N),
      D: w.D,
      z: view(xz, D, D),
      state: state.ssm[l],
      batch,
      seqLen,
    })); // (T, D), gated by SiLU(z)
  be.free(xz);
  be.free(x);
  be.free(xdbl);
  be.free(dt);
  await capture("out_proj.in", l, y);
  const out = await run("out_proj", l, () => be.linear(y, w.outProj, w.outProjBias)); // (T, d)
  be.free(y);
  return out;
}

/** Mamba-2 mixer of layer `l` on its normalised input u (T, d): returns out_proj's output (T, d). */
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
  const out = await run("out_proj", l, () => be.linear(g, w.outProj, w.outProjBias)); // (T, d)
  be.free(g);
  return out;
}
