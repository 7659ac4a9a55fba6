/**
 * The fused decode step of one layer, on a backend with {@link BackendCapabilities.fusedDecode}: the same math as
 * `rmsNorm → mixer → add` (runtime/mixers.ts) in at most 4 dispatches —
 *
 *   Mamba-1: mamba1DecodeStep (norm → in_proj with conv1d; x_proj; conv state, dt_proj, scan, gate)
 *            · fusedLinear(out_proj → + residual)
 *   Mamba-2: mamba2DecodeStep (norm → in_proj with the conv1d epilogue and conv state; SSD + gate)
 *            · fusedLinear(gated norm → out_proj → + residual)
 *
 * A layer the fused ops do not take ({@link fusesLayer}: Falcon-Mamba's δ/B/C norms, a bridged pruned layer, a
 * matrix the backend's fused ops do not take, a state or batch beyond the backend's limits) runs the unfused ops
 * instead.
 *
 * @module
 */

import type { Backend, BackendCapabilities, Tensor } from "./backend.ts";
import type { MambaConfig } from "./config.ts";
import type { DeviceLayer } from "./mixers.ts";
import type { InferenceState } from "./state.ts";

/** Whether layer `w` of a decode step of `batch` sequences can take the fused ops of `be`. */
export function fusesLayer(be: Backend, cfg: MambaConfig, w: DeviceLayer, batch: number): boolean {
  const lim = be.capabilities.fusedDecode;
  if (!lim || !be.fusesMatrix || !be.fusedLinear || batch > lim.maxRows) return false;
  if (!be.fusesMatrix(w.inProj, cfg.dModel)) return false;
  if (cfg.dConv < 2) return false;
  if (w.arch === "mamba1") {
    return !!be.mamba1DecodeStep && w.bcdtNorm === null && w.xProj !== null && be.fusesMatrix(w.xProj) &&
      be.fusesMatrix(w.dtProj) && be.fusesMatrix(w.outProj);
  }
  return !!be.mamba2DecodeStep && w.bridge === null && w.dState <= lim.maxState &&
    cfg.dInner / cfg.normGroupSize <= lim.maxNormGroups && be.fusesMatrix(w.outProj, cfg.normGroupSize);
}

/**
 * One fused decode step of layer `l` (checked by {@link fusesLayer}) on the residual stream h `[batch, d]`:
 * returns h + Mixer(RMSNorm(h)) as a new tensor, advancing the layer's states.
 */
export function fusedLayerStep(
  be: Backend,
  cfg: MambaConfig,
  w: DeviceLayer,
  l: number,
  h: Tensor,
  batch: number,
  state: InferenceState,
): Tensor {
  const fusedLinear = be.fusedLinear!;
  let y: Tensor;
  let gate: { weight: Tensor; eps: number; groupSize: number } | null = null;
  if (w.arch === "mamba1") {
    y = be.mamba1DecodeStep!({
      h,
      norm: { weight: w.norm, eps: cfg.eps },
      inProj: w.inProj,
      inProjBias: w.inProjBias,
      convWeight: w.convWeight,
      convBias: w.convBias,
      convState: state.conv[l],
      xProj: w.xProj!,
      dtProj: w.dtProj,
      dtProjBias: w.dtProjBias,
      A: w.A,
      D: w.D,
      ssmState: state.ssm[l],
      batch,
      dtRank: cfg.dtRank,
      dState: w.dState,
    });
  } else {
    y = be.mamba2DecodeStep!({
      h,
      norm: { weight: w.norm, eps: cfg.eps },
      inProj: w.inProj,
      inProjBias: w.inProjBias,
      convWeight: w.convWeight,
      convBias: w.convBias,
      convState: state.conv[l],
      dtBias: w.dtBias,
      A: w.A,
      D: w.D,
      ssmState: state.ssm[l],
      batch,
      nHeads: cfg.nHeads,
      headDim: cfg.headDim,
      nGroups: cfg.nGroups,
      dState: w.dState,
      dtMin: cfg.timeStepLimit[0],
      dtMax: cfg.timeStepLimit[1],
    });
    gate = { weight: w.gateNorm, eps: cfg.eps, groupSize: cfg.normGroupSize };
  }
  const out = fusedLinear.call(be, y, w.outProj, w.outProjBias, { norm: gate, residual: h });
  be.free(y);
  return out;
}

/** Whether a decode step of `batch` sequences may fuse at all (the per-layer test is {@link fusesLayer}). */
export function fusedDecodeAvailable(caps: BackendCapabilities, batch: number): boolean {
  return !!caps.fusedDecode && batch <= caps.fusedDecode.maxRows;
}
