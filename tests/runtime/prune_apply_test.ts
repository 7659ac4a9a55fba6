/**
 * Structured state pruning applied to weights (runtime/prune/apply.ts) and checkpoint writing
 * (runtime/checkpoint_write.ts), on the tiny fixtures.
 *
 * - Keeping every state leaves the logits bit-identical (both modes).
 * - Masked and physically removed models compute the same function (up to summation order).
 * - Removing one state s of layer 0 removes exactly that state's contribution C_s·h_s from the layer's SSM output,
 *   checked against an independent f64 host reference of the layer-0 mixer (conv → projections → scan tracking h
 *   per state), fed with the runtime's own layer-0 in_proj output (identical in the dense and pruned models):
 *   - Mamba-1: out_proj.in = (y + D·x)·SiLU(z) is linear in y, so (dense − pruned) must equal C_s·h_s·SiLU(z) per
 *     (t, d).
 *   - Mamba-2: out_proj.in is the gated RMSNorm of y (nonlinear), so the host reference pushes y_dense and
 *     y_dense − C_s·h_s through its own gated RMSNorm and must reproduce the runtime's dense and pruned
 *     out_proj.in. Both checks assert that the dense/pruned gap is far above the tolerance and that another
 *     state's contribution does not fit (so the check can fail).
 * - checkpointFiles → disk → loadWeights gives back identical weights (dense, pruned uniform / non-uniform,
 *   untied lm_head) and the same logits; config.json mirrors the fixtures' transformers configs.
 * - Mamba-1 bridges: identity rows equal plain removal exactly; a non-trivial W folds as Wᵀ·C and the bridged
 *   model's layer-0 output equals Σ_i C_i·(W·h′)_i from the host reference.
 * - Mamba-2 bridges (a `state_bridge` [G·N′, G·N] = blockdiag(Wᵀ) applied to the conv's C): B pruned, C kept, the
 *   bridge's entries; a selection-matrix bridge gives plain removal's logits; a random W gives the layer-0
 *   out_proj input of the host reference GatedNorm(Σ_i C_i·(W·h′)_i + D·x) (dense C and h′ from the dense layer);
 *   pruning a bridged model again (remove = mask, composition of bridges); checkpoint round trip (weights and
 *   logits; loader errors); decode step by step = prefill; parameter, state and cost counts include the bridge.
 * - Errors.
 */
import assert from "node:assert/strict";
import { loadWeights, memorySource } from "../../runtime/checkpoint.ts";
import { checkpointFiles } from "../../runtime/checkpoint_write.ts";
import { parseConfig, parseConfigText } from "../../runtime/config_parse.ts";
import type { MambaConfig } from "../../runtime/config.ts";
import type { Backend } from "../../runtime/backend.ts";
import { componentStateBytes, componentWeightBytes, forwardBytes, forwardFlops, total } from "../../runtime/cost.ts";
import { MambaModel } from "../../runtime/model.ts";
import { mulberry32 } from "../../runtime/sampling.ts";
import { pruneWeights } from "../../runtime/prune/apply.ts";
import { calibrate } from "../../runtime/prune/calibrate.ts";
import { selectStates } from "../../runtime/prune/select.ts";
import { fitBridges } from "../../runtime/prune/bridge.ts";
import { createWasmBackend } from "../../wasm/backend.ts";
import { referenceForward } from "../_reference_forward.ts";
import { layerOutputError, leastSquaresBridge, stateError } from "../_prune_oracles.ts";
import type { Bridges, KeepSets } from "../../runtime/prune/types.ts";
import { parseSafetensors, toFloat32, writeSafetensors } from "../../runtime/safetensors.ts";
import type { HostTensor, Mamba1LayerWeights, Mamba2LayerWeights, MambaWeights } from "../../runtime/weights.ts";
import { cStateSizeOf, stateSizeOf } from "../../runtime/weights.ts";
import { dirSource } from "../../cli/fs_source.ts";
import { assertClose, fixtureDir, type FixtureGolden, FIXTURES, readGolden } from "../_golden.ts";
import { TEST_BACKENDS } from "../_backends.ts";

// ---------------------------------------------------------------------------------------------------------------
// Helpers

const weightsCache = new Map<string, MambaWeights>();

/** A fixture's weights (loaded once; tests never mutate them, which one test checks). */
async function fixtureWeights(name: string): Promise<MambaWeights> {
  if (!weightsCache.has(name)) weightsCache.set(name, await loadWeights(dirSource(fixtureDir(name))));
  return weightsCache.get(name)!;
}

/** `k` random distinct indices of [0, n), ascending. */
function randomKeep(n: number, k: number, rand: () => number): number[] {
  const idx = Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [idx[i], idx[j]] = [idx[j], idx[i]];
  }
  return idx.slice(0, k).sort((a, b) => a - b);
}

const range = (n: number): number[] => Array.from({ length: n }, (_, i) => i);
const allStates = (w: MambaWeights): KeepSets => w.layers.map((l) => range(stateSizeOf(l, w.config)));

/** A random keep set with a different k per layer (11, 5, 11, 5, … of N = 16). */
function nonUniformKeep(w: MambaWeights, seed: number): KeepSets {
  const rand = mulberry32(seed);
  return w.layers.map((l, i) => {
    const N = stateSizeOf(l, w.config);
    return randomKeep(N, i % 2 === 0 ? Math.ceil(N * 0.7) : Math.ceil(N * 0.3), rand);
  });
}

/** Logits and layer-0 captures ("in_proj.out", "out_proj.in") of one prefill. */
async function runModel(
  backend: Backend,
  weights: MambaWeights,
  ids: number[],
): Promise<{ logits: Float32Array; layer0: Map<string, Float32Array> }> {
  const model = MambaModel.load(weights, backend);
  try {
    const layer0 = new Map<string, Float32Array>();
    const { logits, state } = await model.prefill(ids, {
      hooks: {
        capture: async (name, layer, t) => {
          if (layer === 0 && (name === "in_proj.out" || name === "out_proj.in")) {
            layer0.set(name, await backend.read(t));
          }
        },
      },
    });
    state.dispose();
    return { logits: logits.data, layer0 };
  } finally {
    model.dispose();
  }
}

/** max |a − b|. */
function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

function maxAbs(a: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]));
  return m;
}

// ---------------------------------------------------------------------------------------------------------------
// Independent f64 host reference of a layer-0 mixer, from the runtime's in_proj output.

const silu = (v: number): number => v / (1 + Math.exp(-v));
const softplus = (v: number): number => (v > 20 ? v : Math.log1p(Math.exp(v)));

/** SiLU(causal depthwise conv1d + bias) of columns [col0, col0 + C) of a `[T, width]` matrix (zero history). */
function convSilu(
  src: Float32Array,
  width: number,
  col0: number,
  C: number,
  T: number,
  w: HostTensor,
  bias: HostTensor | null,
): Float64Array {
  const K = w.shape[1];
  const out = new Float64Array(T * C);
  for (let t = 0; t < T; t++) {
    for (let c = 0; c < C; c++) {
      let acc = bias ? bias.data[c] : 0;
      for (let k = 0; k < K; k++) {
        const tt = t - (K - 1) + k;
        if (tt >= 0) acc += w.data[c * K + k] * src[tt * width + col0 + c];
      }
      out[t * C + c] = silu(acc);
    }
  }
  return out;
}

/**
 * The SSM of a layer, per state: `h[s]` is h[..., s] over time (`[T, D]`, channel-major within a token), `cOf(t, s,
 * c)` the C multiplying it for channel c, `skip` = D·x, `z` the raw gate. y = Σ_s C_s·h_s + skip.
 */
interface SsmTrace {
  T: number;
  D: number;
  N: number;
  h: Float64Array[];
  cOf(t: number, s: number, c: number): number;
  skip: Float64Array;
  z: Float64Array;
}

/** contribution of state s: C_s·h_s, `[T, D]`. */
function contribution(tr: SsmTrace, s: number): Float64Array {
  const out = new Float64Array(tr.T * tr.D);
  for (let t = 0; t < tr.T; t++) {
    for (let c = 0; c < tr.D; c++) out[t * tr.D + c] = tr.cOf(t, s, c) * tr.h[s][t * tr.D + c];
  }
  return out;
}

/** y = Σ_i C_i·(W·h′)_i + D·x: the SSM output of a bridged layer whose kept states follow h′ = h[keep]. */
function bridgedOutput(tr: SsmTrace, keep: number[], W: Float64Array): Float64Array {
  const y = tr.skip.slice();
  for (let t = 0; t < tr.T; t++) {
    for (let d = 0; d < tr.D; d++) {
      let acc = 0;
      for (let i = 0; i < tr.N; i++) {
        let hi = 0;
        keep.forEach((s, j) => (hi += W[i * keep.length + j] * tr.h[s][t * tr.D + d]));
        acc += tr.cOf(t, i, d) * hi;
      }
      y[t * tr.D + d] += acc;
    }
  }
  return y;
}

/** y = Σ_s C_s·h_s + D·x (before any gate). */
function ssmOutput(tr: SsmTrace): Float64Array {
  const y = tr.skip.slice();
  for (let s = 0; s < tr.N; s++) {
    const c = contribution(tr, s);
    for (let i = 0; i < y.length; i++) y[i] += c[i];
  }
  return y;
}

function mamba1Trace(w: Mamba1LayerWeights, cfg: MambaConfig, xz: Float32Array, T: number): SsmTrace {
  const D = cfg.dInner, R = cfg.dtRank, N = w.aLog.shape[1];
  const x = convSilu(xz, 2 * D, 0, D, T, w.convWeight, w.convBias);
  const z = new Float64Array(T * D);
  for (let t = 0; t < T; t++) for (let d = 0; d < D; d++) z[t * D + d] = xz[t * 2 * D + D + d];
  const rows = R + 2 * N;
  const xdbl = new Float64Array(T * rows);
  for (let t = 0; t < T; t++) {
    for (let r = 0; r < rows; r++) {
      let acc = 0;
      for (let d = 0; d < D; d++) acc += w.xProj.data[r * D + d] * x[t * D + d];
      xdbl[t * rows + r] = acc;
    }
  }
  const dt = new Float64Array(T * D);
  for (let t = 0; t < T; t++) {
    for (let d = 0; d < D; d++) {
      let acc = w.dtProjBias.data[d];
      for (let r = 0; r < R; r++) acc += w.dtProj.data[d * R + r] * xdbl[t * rows + r];
      dt[t * D + d] = softplus(acc);
    }
  }
  const h = range(N).map((s) => {
    const hs = new Float64Array(T * D);
    for (let d = 0; d < D; d++) {
      const A = -Math.exp(w.aLog.data[d * N + s]);
      let prev = 0;
      for (let t = 0; t < T; t++) {
        const delta = dt[t * D + d];
        prev = Math.exp(delta * A) * prev + delta * xdbl[t * rows + R + s] * x[t * D + d];
        hs[t * D + d] = prev;
      }
    }
    return hs;
  });
  const skip = new Float64Array(T * D);
  for (let t = 0; t < T; t++) for (let d = 0; d < D; d++) skip[t * D + d] = w.D.data[d] * x[t * D + d];
  return { T, D, N, h, cOf: (t, s) => xdbl[t * rows + R + N + s], skip, z };
}

function mamba2Trace(w: Mamba2LayerWeights, cfg: MambaConfig, zxbcdt: Float32Array, T: number): SsmTrace {
  const D = cfg.dInner, G = cfg.nGroups, H = cfg.nHeads, P = cfg.headDim;
  const N = stateSizeOf(w, cfg), GN = G * N;
  const width = 2 * D + 2 * GN + H;
  const conv = convSilu(zxbcdt, width, D, D + 2 * GN, T, w.convWeight, w.convBias);
  const CW = D + 2 * GN;
  const z = new Float64Array(T * D);
  for (let t = 0; t < T; t++) for (let c = 0; c < D; c++) z[t * D + c] = zxbcdt[t * width + c];
  const [lo, hi] = cfg.timeStepLimit;
  const dt = new Float64Array(T * H);
  for (let t = 0; t < T; t++) {
    for (let hh = 0; hh < H; hh++) {
      const v = softplus(zxbcdt[t * width + 2 * D + 2 * GN + hh] + w.dtBias.data[hh]);
      dt[t * H + hh] = Math.min(Math.max(v, lo), hi);
    }
  }
  const groupOf = (c: number): number => Math.floor(Math.floor(c / P) / (H / G));
  const h = range(N).map((s) => {
    const hs = new Float64Array(T * D);
    for (let c = 0; c < D; c++) {
      const head = Math.floor(c / P), g = groupOf(c);
      const A = -Math.exp(w.aLog.data[head]);
      let prev = 0;
      for (let t = 0; t < T; t++) {
        const delta = dt[t * H + head];
        prev = Math.exp(delta * A) * prev + delta * conv[t * CW + D + g * N + s] * conv[t * CW + c];
        hs[t * D + c] = prev;
      }
    }
    return hs;
  });
  const skip = new Float64Array(T * D);
  for (let t = 0; t < T; t++) {
    for (let c = 0; c < D; c++) skip[t * D + c] = w.D.data[Math.floor(c / P)] * conv[t * CW + c];
  }
  return { T, D, N, h, cOf: (t, s, c) => conv[t * CW + D + GN + groupOf(c) * N + s], skip, z };
}

/** Mamba-1's gate: y·SiLU(z). */
function gate1(y: Float64Array, z: Float64Array): Float64Array {
  return y.map((v, i) => v * silu(z[i]));
}

/** Mamba-2's gated RMSNorm (norm_before_gate = false): g = y·SiLU(z), RMS-normalised per group, × weight. */
function gatedNorm(y: Float64Array, z: Float64Array, weight: HostTensor, cfg: MambaConfig, T: number): Float64Array {
  const D = cfg.dInner, gs = cfg.normGroupSize;
  const out = new Float64Array(T * D);
  for (let t = 0; t < T; t++) {
    for (let g0 = 0; g0 < D; g0 += gs) {
      let ss = 0;
      for (let c = g0; c < g0 + gs; c++) {
        const v = y[t * D + c] * silu(z[t * D + c]);
        out[t * D + c] = v;
        ss += v * v;
      }
      const inv = 1 / Math.sqrt(ss / gs + cfg.eps);
      for (let c = g0; c < g0 + gs; c++) out[t * D + c] *= inv * weight.data[c];
    }
  }
  return out;
}

function trace(w: MambaWeights, xz: Float32Array, T: number): SsmTrace {
  const layer = w.layers[0];
  return layer.arch === "mamba1" ? mamba1Trace(layer, w.config, xz, T) : mamba2Trace(layer, w.config, xz, T);
}

/** The layer-0 out_proj input the host reference predicts for an SSM output y. */
function outProjIn(w: MambaWeights, tr: SsmTrace, y: Float64Array): Float64Array {
  const layer = w.layers[0];
  return layer.arch === "mamba1" ? gate1(y, tr.z) : gatedNorm(y, tr.z, layer.gateNorm, w.config, tr.T);
}

/** States of layer 0 ordered by their largest |contribution|, largest first. */
function statesByContribution(tr: SsmTrace): number[] {
  const size = range(tr.N).map((s) => maxAbs(contribution(tr, s)));
  return range(tr.N).sort((a, b) => size[b] - size[a]);
}

// ---------------------------------------------------------------------------------------------------------------
// Host-only tests: shapes, config, immutability, checkpoint round trip, errors.

Deno.test("pruneWeights: removed shapes and rows, masked zeros, config, input untouched", async () => {
  for (const fixture of FIXTURES) {
    const w = await withBiases(fixture);
    const before = structuredClone(w);
    const keep = nonUniformKeep(w, 7);
    const removed = pruneWeights(w, keep);
    const masked = pruneWeights(w, keep, { mode: "mask" });
    const uniform = pruneWeights(w, w.layers.map(() => [1, 4, 9, 15]));
    assert.deepEqual(w, before, `${fixture}: input weights were mutated`);

    assert.deepEqual(removed.config.layerStateSizes, keep.map((k) => k.length));
    assert.equal(removed.config.dState, Math.max(...keep.map((k) => k.length)));
    assert.equal(uniform.config.dState, 4);
    assert.ok(!("layerStateSizes" in uniform.config), "uniform k drops layerStateSizes");
    assert.deepEqual(masked.config, w.config);
    assert.deepEqual(removed.layers.map((l) => stateSizeOf(l, removed.config)), keep.map((k) => k.length));

    const c = w.config;
    w.layers.forEach((layer, l) => {
      const N = stateSizeOf(layer, c), k = keep[l];
      const drop = range(N).filter((s) => !k.includes(s));
      const rem = removed.layers[l], msk = masked.layers[l];
      const row = (t: HostTensor, r: number): Float32Array => {
        const cols = t.data.length / t.shape[0];
        return t.data.subarray(r * cols, (r + 1) * cols);
      };
      const isZero = (a: Float32Array): boolean => a.every((v) => v === 0);
      if (layer.arch === "mamba1" && rem.arch === "mamba1" && msk.arch === "mamba1") {
        const R = c.dtRank, D = c.dInner;
        assert.deepEqual(rem.xProj.shape, [R + 2 * k.length, D]);
        assert.deepEqual(rem.aLog.shape, [D, k.length]);
        k.forEach((s, j) => {
          assert.deepEqual(row(rem.xProj, R + j), row(layer.xProj, R + s));
          assert.deepEqual(row(rem.xProj, R + k.length + j), row(layer.xProj, R + N + s));
          assert.equal(rem.aLog.data[5 * k.length + j], layer.aLog.data[5 * N + s]);
        });
        for (const s of drop) assert.ok(isZero(row(msk.xProj, R + s)) && isZero(row(msk.xProj, R + N + s)));
        for (const s of k) assert.deepEqual(row(msk.xProj, R + N + s), row(layer.xProj, R + N + s));
        assert.equal(rem.inProj, layer.inProj, "unchanged tensors are shared");
      } else if (layer.arch === "mamba2" && rem.arch === "mamba2" && msk.arch === "mamba2") {
        const D = c.dInner, G = c.nGroups, H = c.nHeads, GN = G * N, kn = k.length;
        assert.deepEqual(rem.inProj.shape, [2 * D + 2 * G * kn + H, c.dModel]);
        assert.deepEqual(rem.convWeight.shape, [D + 2 * G * kn, c.dConv]);
        for (let g = 0; g < G; g++) {
          k.forEach((s, j) => {
            assert.deepEqual(row(rem.inProj, 2 * D + g * kn + j), row(layer.inProj, 2 * D + g * N + s));
            assert.deepEqual(row(rem.inProj, 2 * D + G * kn + g * kn + j), row(layer.inProj, 2 * D + GN + g * N + s));
            assert.deepEqual(row(rem.convWeight, D + G * kn + g * kn + j), row(layer.convWeight, D + GN + g * N + s));
            assert.equal(rem.convBias!.data[D + g * kn + j], layer.convBias!.data[D + g * N + s]);
            assert.equal(rem.inProjBias!.data[2 * D + g * kn + j], layer.inProjBias!.data[2 * D + g * N + s]);
            assert.equal(
              rem.inProjBias!.data[2 * D + G * kn + g * kn + j],
              layer.inProjBias!.data[2 * D + GN + g * N + s],
            );
          });
          for (const s of drop) {
            for (const r of [2 * D + g * N + s, 2 * D + GN + g * N + s]) {
              assert.ok(isZero(row(msk.inProj, r)));
              assert.equal(msk.inProjBias!.data[r], 0, "the in_proj bias of a masked state is zeroed");
            }
            for (const ch of [D + g * N + s, D + GN + g * N + s]) {
              assert.ok(isZero(row(msk.convWeight, ch)));
              assert.equal(msk.convBias!.data[ch], 0, "the conv bias of a masked state is zeroed");
            }
          }
        }
        assert.deepEqual(row(rem.inProj, 2 * D + 2 * G * kn + H - 1), row(layer.inProj, 2 * D + 2 * GN + H - 1));
        assert.deepEqual(
          rem.inProjBias!.data.subarray(2 * D + 2 * G * kn),
          layer.inProjBias!.data.subarray(2 * D + 2 * GN),
        );
        assert.equal(rem.outProjBias, layer.outProjBias);
        assert.equal(rem.aLog, layer.aLog);
      } else assert.fail("arch mismatch");
    });
  }
});

Deno.test("pruneWeights: clear errors", async () => {
  const m1 = await fixtureWeights("mamba1-tiny");
  const m2 = await fixtureWeights("mamba2-tiny");
  const all = allStates(m1);
  assert.throws(() => pruneWeights(m1, [all[0], []]), /^Error: layer 1 keeps no state: k must be ≥ 1$/);
  assert.throws(
    () => pruneWeights(m1, [[0, 16], all[1]]),
    /layer 0: state index 16 \(position 1\) is outside \[0, 16\)/,
  );
  assert.throws(() => pruneWeights(m1, [[-1, 2], all[1]]), /state index -1 .* outside \[0, 16\)/);
  assert.throws(() => pruneWeights(m1, [[0.5], all[1]]), /state index 0.5/);
  assert.throws(
    () => pruneWeights(m1, [all[0], [3, 2]]),
    /layer 1: keep indices must be ascending and unique \(unsorted/,
  );
  assert.throws(() => pruneWeights(m1, [[1, 1, 2], all[1]]), /layer 0: .*ascending and unique \(duplicate 1/);
  assert.throws(() => pruneWeights(m1, [all[0]]), /one index set per layer \(2\), got 1/);
  assert.throws(() => pruneWeights(m1, [...all, all[0]]), /one index set per layer \(2\), got 3/);
  assert.throws(
    () => pruneWeights(m1, all, { mode: "bogus" as "mask" }),
    /mode must be "remove" or "mask"/,
  );
  const eye = (N: number, k: number[]): Float64Array => {
    const W = new Float64Array(N * k.length);
    k.forEach((s, j) => (W[s * k.length + j] = 1));
    return W;
  };
  const keep = [[0, 3], [1, 2, 5]];
  const bridges = [eye(16, keep[0]), null];
  // Mamba-2 bridges are supported in remove mode (see the Mamba-2 bridge tests), refused with mask, size-checked.
  assert.equal(stateSizeOf(pruneWeights(m2, keep, { bridges }).layers[0], m2.config), 2);
  assert.throws(() => pruneWeights(m2, keep, { mode: "mask", bridges }), /bridges need mode "remove"/);
  assert.throws(
    () => pruneWeights(m2, keep, { bridges: [null, eye(16, [1, 2])] }),
    /layer 1: bridge must be a Float64Array \[N, N′\] = \[16, 3\] \(48 values\), got 32 values/,
  );
  assert.throws(
    () => pruneWeights(m2, keep, { bridges: [eye(16, keep[0]).map((v, i) => (i === 3 ? NaN : v)), null] }),
    /layer 0: bridge has non-finite values/,
  );
  assert.throws(() => pruneWeights(m1, keep, { mode: "mask", bridges }), /bridges need mode "remove"/);
  assert.throws(() => pruneWeights(m1, keep, { bridges: [bridges[0]] }), /one entry \(or null\) per layer \(2\)/);
  assert.throws(
    () => pruneWeights(m1, keep, { bridges: [eye(16, [0, 3, 4]), null] }),
    /layer 0: bridge must be a Float64Array \[N, N′\] = \[16, 2\] \(32 values\), got 48 values/,
  );
  // All-null bridges are no bridges, in any mode and architecture.
  assert.deepEqual(pruneWeights(m2, keep, { bridges: [null, null] }), pruneWeights(m2, keep));
  assert.deepEqual(
    pruneWeights(m1, keep, { mode: "mask", bridges: [null, null] }),
    pruneWeights(m1, keep, { mode: "mask" }),
  );
});

/** Writes a checkpoint's files into a fresh temp dir; returns the dir. */
async function writeCheckpoint(weights: MambaWeights): Promise<string> {
  const files = checkpointFiles(weights);
  const dir = await Deno.makeTempDir({ prefix: "perfmamba-prune-" });
  await Deno.writeTextFile(`${dir}/config.json`, files["config.json"]);
  await Deno.writeFile(`${dir}/model.safetensors`, files["model.safetensors"]);
  return dir;
}

/** A fixture with random in_proj / out_proj biases (`use_bias` true), which the fixtures lack. */
async function withBiases(fixture: string): Promise<MambaWeights> {
  const w = await fixtureWeights(fixture);
  const rand = mulberry32(13);
  const random = (n: number): HostTensor => ({
    shape: [n],
    data: Float32Array.from({ length: n }, () => rand() - 0.5),
  });
  return {
    ...w,
    config: { ...w.config, useBias: true },
    layers: w.layers.map((l) => ({
      ...l,
      inProjBias: random(l.inProj.shape[0]),
      outProjBias: random(w.config.dModel),
    })),
  };
}

/**
 * The variants every round-trip test writes: dense, pruned uniform / non-uniform, masked, untied lm_head, biases.
 */
async function variants(fixture: string): Promise<[string, MambaWeights][]> {
  const w = await fixtureWeights(fixture);
  const biased = await withBiases(fixture);
  const rand = mulberry32(11);
  const untied: MambaWeights = {
    ...w,
    config: { ...w.config, tieEmbeddings: false },
    lmHead: { shape: [...w.embedding.shape], data: w.embedding.data.map((v) => v + (rand() - 0.5) * 0.01) },
  };
  return [
    ["dense", w],
    ["pruned uniform", pruneWeights(w, w.layers.map(() => [0, 2, 3, 7, 8, 13]))],
    ["pruned non-uniform", pruneWeights(w, nonUniformKeep(w, 3))],
    ["masked", pruneWeights(w, nonUniformKeep(w, 3), { mode: "mask" })],
    ["untied, pruned non-uniform", pruneWeights(untied, nonUniformKeep(w, 5))],
    ["biases, pruned non-uniform", pruneWeights(biased, nonUniformKeep(w, 5))],
    ["biases, masked", pruneWeights(biased, nonUniformKeep(w, 5), { mode: "mask" })],
  ];
}

Deno.test("checkpointFiles → disk → loadWeights reloads identical weights", async () => {
  for (const fixture of FIXTURES) {
    for (const [what, weights] of await variants(fixture)) {
      const dir = await writeCheckpoint(weights);
      try {
        const back = await loadWeights(dirSource(dir));
        assert.deepEqual(back, weights, `${fixture} ${what}: reloaded weights differ`);
      } finally {
        await Deno.remove(dir, { recursive: true });
      }
    }
  }
});

Deno.test("checkpointFiles: transformers names, shapes and config keys (as the fixtures)", async () => {
  const tokenKeys = ["bos_token_id", "eos_token_id", "pad_token_id", "transformers_version"];
  for (const fixture of FIXTURES) {
    const dir = fixtureDir(fixture);
    const w = await fixtureWeights(fixture);
    const files = checkpointFiles(w);
    // Tensor names, dtypes and shapes are exactly those transformers saved.
    const header = (bytes: Uint8Array): string[] =>
      [...parseSafetensors(bytes, fixture).tensors.values()].map((r) => `${r.name} ${r.dtype} [${r.shape}]`).sort();
    assert.deepEqual(header(files["model.safetensors"]), header(await Deno.readFile(`${dir}/model.safetensors`)));
    // Every key of the fixture's config.json with the same value, except token ids and the version.
    const want = JSON.parse(await Deno.readTextFile(`${dir}/config.json`)) as Record<string, unknown>;
    const got = JSON.parse(files["config.json"]) as Record<string, unknown>;
    for (const [key, value] of Object.entries(want)) {
      if (tokenKeys.includes(key)) assert.ok(!(key in got), `${fixture}: ${key} written`);
      else assert.deepEqual(got[key], value, `${fixture}: config key ${key}`);
    }
    const extra = Object.keys(got).filter((k) => !(k in want)).sort();
    assert.deepEqual(extra, w.config.arch === "mamba2" ? ["norm_before_gate", "rms_norm"] : []);
    assert.deepEqual(parseConfig(parseConfigText(files["config.json"], "x"), "x"), w.config);
    // Token ids of the original config can be carried over.
    const withIds = checkpointFiles(w, { extraConfig: { bos_token_id: 0, eos_token_id: 0, pad_token_id: 0 } });
    assert.equal(JSON.parse(withIds["config.json"]).eos_token_id, 0);
  }
  // Per-layer state sizes: layer_state_sizes, state_size the largest; uniform k: only state_size.
  const m2 = await fixtureWeights("mamba2-groups");
  const nonUniform = JSON.parse(checkpointFiles(pruneWeights(m2, [[0, 1, 2], [4, 5, 6, 7, 9]]))["config.json"]);
  assert.deepEqual(nonUniform.layer_state_sizes, [3, 5]);
  assert.equal(nonUniform.state_size, 5);
  assert.deepEqual(nonUniform.time_step_limit, [0, { __float__: "Infinity" }]);
  const uniform = JSON.parse(checkpointFiles(pruneWeights(m2, [[0, 1, 2], [4, 5, 6]]))["config.json"]);
  assert.ok(!("layer_state_sizes" in uniform));
  assert.equal(uniform.state_size, 3);
  // A config that disagrees with the weights is refused.
  assert.throws(
    () => checkpointFiles({ ...m2, config: { ...m2.config, dState: 8 } }),
    /layer 0 has state size 16 but the config says 8/,
  );
});

// ---------------------------------------------------------------------------------------------------------------
// Model tests on every backend.

for (const tb of TEST_BACKENDS) {
  const name = (what: string): string => `${tb.name}: ${what}${tb.skip ? ` (${tb.skip})` : ""}`;
  const withBackend = async (f: (be: Backend) => Promise<void>): Promise<void> => {
    const backend = await tb.create();
    try {
      await f(backend);
    } finally {
      backend.dispose();
    }
  };

  for (const fixture of FIXTURES) {
    const golden = readGolden<FixtureGolden>(fixtureDir(fixture));
    const ids = golden.input_ids;

    Deno.test({
      name: name(`${fixture}: keeping every state gives bit-identical logits (remove and mask)`),
      ignore: tb.skip !== null,
      fn: () =>
        withBackend(async (be) => {
          const w = await fixtureWeights(fixture);
          const dense = (await runModel(be, w, ids)).logits;
          assertClose(dense, golden.logits.flat(), "dense logits vs transformers");
          for (const mode of ["remove", "mask"] as const) {
            const pruned = pruneWeights(w, allStates(w), { mode });
            assert.deepEqual(pruned.config, w.config);
            assert.deepEqual((await runModel(be, pruned, ids)).logits, dense, `mode ${mode}`);
          }
        }),
    });

    Deno.test({
      name: name(`${fixture}: masked and removed models give the same logits (k differs per layer)`),
      ignore: tb.skip !== null,
      fn: () =>
        withBackend(async (be) => {
          const w = await fixtureWeights(fixture);
          for (const seed of [1, 2]) {
            const keep = nonUniformKeep(w, seed);
            const removed = (await runModel(be, pruneWeights(w, keep), ids)).logits;
            const masked = (await runModel(be, pruneWeights(w, keep, { mode: "mask" }), ids)).logits;
            assertClose(removed, masked, `seed ${seed}: removed vs masked`, 1e-5, 0);
            const dense = (await runModel(be, w, ids)).logits;
            assert.ok(maxAbsDiff(dense, removed) > 1e-3 * maxAbs(dense), "pruning changed nothing");
          }
        }),
    });

    Deno.test({
      name: name(`${fixture}: removing one state of layer 0 removes exactly its contribution C_s·h_s`),
      ignore: tb.skip !== null,
      fn: () =>
        withBackend(async (be) => {
          const w = await fixtureWeights(fixture);
          const T = ids.length;
          const dense = await runModel(be, w, ids);
          const tr = trace(w, dense.layer0.get("in_proj.out")!, T);
          const yDense = ssmOutput(tr);
          const denseOut = dense.layer0.get("out_proj.in")!;
          // The host reference reproduces the runtime's dense layer 0.
          assertClose(denseOut, outProjIn(w, tr, yDense), "host reference vs runtime, dense layer 0");

          const [s, other] = statesByContribution(tr);
          const keep = allStates(w);
          keep[0] = keep[0].filter((i) => i !== s);
          const pruned = await runModel(be, pruneWeights(w, keep), ids);
          const prunedOut = pruned.layer0.get("out_proj.in")!;
          const gap = maxAbsDiff(denseOut, prunedOut);
          const tol = 1e-5 * maxAbs(denseOut) + 1e-7;
          assert.ok(gap > 50 * tol, `removing state ${s} barely changes layer 0 (${gap} vs tol ${tol})`);

          const predicted = (state: number): Float64Array => {
            const c = contribution(tr, state);
            return w.config.arch === "mamba1"
              ? gate1(c, tr.z) // (dense − pruned) = C_s·h_s·SiLU(z): out_proj.in is linear in y
              : outProjIn(w, tr, yDense.map((v, i) => v - c[i])); // pruned = GatedNorm(y_dense − C_s·h_s)
          };
          const observed = w.config.arch === "mamba1"
            ? Float64Array.from(denseOut, (v, i) => v - prunedOut[i])
            : Float64Array.from(prunedOut);
          const err = maxAbsDiff(observed, predicted(s));
          assert.ok(err <= tol, `state ${s}: max error ${err} > ${tol} (gap ${gap})`);
          // The check can fail: another state's contribution does not fit.
          const wrong = maxAbsDiff(observed, predicted(other));
          assert.ok(wrong > 10 * tol, `state ${other} fits as well (${wrong}); the check has no teeth`);
        }),
    });

    Deno.test({
      name: name(`${fixture}: checkpoint written and reloaded gives the same logits`),
      ignore: tb.skip !== null,
      fn: () =>
        withBackend(async (be) => {
          for (const [what, weights] of (await variants(fixture)).slice(1, 3)) {
            const dir = await writeCheckpoint(weights);
            try {
              const back = await loadWeights(dirSource(dir));
              const a = (await runModel(be, weights, ids)).logits;
              const b = (await runModel(be, back, ids)).logits;
              assert.deepEqual(b, a, `${what}`);
            } finally {
              await Deno.remove(dir, { recursive: true });
            }
          }
        }),
    });
  }

  Deno.test({
    name: name("mamba1-tiny: bridges fold into x_proj as Wᵀ·C (identity = removal; non-trivial W as predicted)"),
    ignore: tb.skip !== null,
    fn: () =>
      withBackend(async (be) => {
        const w = await fixtureWeights("mamba1-tiny");
        const ids = readGolden<FixtureGolden>(fixtureDir("mamba1-tiny")).input_ids;
        const c = w.config, N = c.dState, R = c.dtRank, D = c.dInner;
        const keep = nonUniformKeep(w, 9);
        const identity = keep.map((k) => {
          const W = new Float64Array(N * k.length);
          k.forEach((s, j) => (W[s * k.length + j] = 1));
          return W;
        });
        const plain = pruneWeights(w, keep);
        assert.deepEqual(pruneWeights(w, keep, { bridges: identity }), plain, "identity bridge ≠ plain removal");

        const rand = mulberry32(21);
        const bridges = identity.map((W) => W.map((v) => v + (rand() - 0.5) * 0.6));
        const bridged = pruneWeights(w, keep, { bridges });
        // x_proj's C rows are Wᵀ·C (host computation, column by column), the rest is plain removal.
        bridged.layers.forEach((layer, l) => {
          const k = keep[l].length, orig = w.layers[l] as Mamba1LayerWeights, W = bridges[l];
          const got = (layer as Mamba1LayerWeights).xProj;
          const plainX = (plain.layers[l] as Mamba1LayerWeights).xProj;
          assert.deepEqual(got.data.subarray(0, (R + k) * D), plainX.data.subarray(0, (R + k) * D));
          const want = new Float64Array(k * D);
          for (let col = 0; col < D; col++) {
            for (let j = 0; j < k; j++) {
              let acc = 0;
              for (let i = N - 1; i >= 0; i--) acc += W[i * k + j] * orig.xProj.data[(R + N + i) * D + col];
              want[j * D + col] = acc;
            }
          }
          assertClose(got.data.subarray((R + k) * D), want, `layer ${l} C rows`, 1e-6, 0);
        });
        const plainRun = await runModel(be, plain, ids);
        const run = await runModel(be, bridged, ids);
        assert.ok(maxAbsDiff(run.logits, plainRun.logits) > 1e-3 * maxAbs(plainRun.logits), "bridge changed nothing");
        // Semantics: y = Σ_i C_i·(W·h′)_i + D·x with h′ the kept states' trajectories of the dense model.
        const T = ids.length;
        const tr = trace(w, run.layer0.get("in_proj.out")!, T);
        const y = bridgedOutput(tr, keep[0], bridges[0]!);
        const out = run.layer0.get("out_proj.in")!;
        assertClose(out, gate1(y, tr.z), "bridged layer 0 vs Σ C·(W·h′)");
        assert.ok(maxAbsDiff(out, plainRun.layer0.get("out_proj.in")!) > 100 * (1e-4 * maxAbs(out)));
      }),
  });
}

// ---------------------------------------------------------------------------------------------------------------
// Mamba-2 state bridges: the layer keeps its full C and applies C′ = blockdiag(Wᵀ)·C after the conv.

const MAMBA2_FIXTURES = ["mamba2-tiny", "mamba2-groups"] as const;

/** Selection matrices W[keep[j], j] = 1 (a bridge equivalent to plain removal). */
function selectionBridges(w: MambaWeights, keep: KeepSets): Float64Array[] {
  return keep.map((k, l) => {
    const N = stateSizeOf(w.layers[l], w.config);
    const W = new Float64Array(N * k.length);
    k.forEach((s, j) => (W[s * k.length + j] = 1));
    return W;
  });
}

/** Selection matrices plus uniform noise of width 0.6: a bridge far from removal. */
function randomBridges(w: MambaWeights, keep: KeepSets, seed: number): Float64Array[] {
  const rand = mulberry32(seed);
  return selectionBridges(w, keep).map((W) => W.map((v) => v + (rand() - 0.5) * 0.6));
}

/** Number of parameters (every host tensor's elements). */
function parameterCount(w: MambaWeights): number {
  const tensors = [w.embedding, w.lmHead, w.normF, ...w.layers.flatMap((l) => Object.values(l))];
  return tensors.reduce((a, t) => a + (t && typeof t === "object" && "data" in t ? t.data.length : 0), 0);
}

/** Per fixture: the keep sets and bridges every Mamba-2 bridge test uses (layer 0 keeps 12, layer 1 keeps 5). */
async function bridgedCase(fixture: string, seed = 9): Promise<{
  w: MambaWeights;
  keep: KeepSets;
  bridges: Float64Array[];
  bridged: MambaWeights;
  plain: MambaWeights;
}> {
  const w = await fixtureWeights(fixture);
  const keep = nonUniformKeep(w, seed);
  const bridges = randomBridges(w, keep, seed + 12);
  return { w, keep, bridges, bridged: pruneWeights(w, keep, { bridges }), plain: pruneWeights(w, keep) };
}

Deno.test("pruneWeights: Mamba-2 bridges prune B, keep C and add state_bridge = blockdiag(Wᵀ)", async () => {
  for (const fixture of MAMBA2_FIXTURES) {
    const w = await withBiases(fixture);
    const before = structuredClone(w);
    const c = w.config, D = c.dInner, G = c.nGroups, H = c.nHeads, N = c.dState, d = c.dModel, K = c.dConv;
    const keep = nonUniformKeep(w, 9);
    const W = randomBridges(w, keep, 4);
    const bridges: Bridges = [W[0], null];
    const bridged = pruneWeights(w, keep, { bridges });
    const plain = pruneWeights(w, keep);
    assert.deepEqual(w, before, `${fixture}: input weights were mutated`);
    assert.deepEqual(bridged.config, { ...plain.config, stateBridgeSizes: [N, 0] });
    assert.deepEqual(bridged.layers.map((l) => stateSizeOf(l, bridged.config)), keep.map((k) => k.length));
    assert.deepEqual(bridged.layers.map((l) => cStateSizeOf(l, bridged.config)), [N, keep[1].length]);
    assert.deepEqual(bridged.layers[1], plain.layers[1], "a layer without a bridge is plainly pruned");

    const k = keep[0].length, GN = G * N, Gk = G * k;
    const orig = w.layers[0] as Mamba2LayerWeights;
    const got = bridged.layers[0] as Mamba2LayerWeights, ref = plain.layers[0] as Mamba2LayerWeights;
    const rows = (t: HostTensor, r0: number, r1: number): Float32Array => {
      const cols = t.data.length / t.shape[0];
      return t.data.subarray(r0 * cols, r1 * cols);
    };
    // in_proj [z, x, B (G·k), C (G·N), dt]: z, x, B as plain removal; C and dt as the original.
    assert.deepEqual(got.inProj.shape, [2 * D + Gk + GN + H, d]);
    assert.deepEqual(got.inProjBias!.shape, [2 * D + Gk + GN + H]);
    for (const t of ["inProj", "inProjBias"] as const) {
      assert.deepEqual(rows(got[t]!, 0, 2 * D + Gk), rows(ref[t]!, 0, 2 * D + Gk), `${t}: z, x, B`);
      assert.deepEqual(rows(got[t]!, 2 * D + Gk, 2 * D + Gk + GN + H), rows(orig[t]!, 2 * D + GN, 2 * D + 2 * GN + H));
    }
    // conv channels [x, B (G·k), C (G·N)].
    assert.deepEqual(got.convWeight.shape, [D + Gk + GN, K]);
    for (const t of ["convWeight", "convBias"] as const) {
      assert.deepEqual(rows(got[t]!, 0, D + Gk), rows(ref[t]!, 0, D + Gk), `${t}: x, B`);
      assert.deepEqual(rows(got[t]!, D + Gk, D + Gk + GN), rows(orig[t]!, D + GN, D + 2 * GN), `${t}: C`);
    }
    assert.equal(got.aLog, orig.aLog);
    // bridge[g·k + j, g′·N + i] = W[i, j] if g = g′, else 0.
    assert.deepEqual(got.bridge!.shape, [Gk, GN]);
    for (let r = 0; r < Gk; r++) {
      for (let col = 0; col < GN; col++) {
        const g = Math.floor(r / k), j = r % k, i = col % N;
        const want = Math.floor(col / N) === g ? Math.fround(W[0][i * k + j]) : 0;
        assert.equal(got.bridge!.data[r * GN + col], want, `bridge[${r}, ${col}]`);
      }
    }

    // Pruning a bridged model again: keeping everything changes nothing; masking zeroes bridge rows, not C.
    assert.deepEqual(pruneWeights(bridged, allStates(bridged)), bridged);
    const drop = keep[0].length - 1;
    const keep2 = [range(drop), allStates(bridged)[1]];
    const masked = pruneWeights(bridged, keep2, { mode: "mask" }).layers[0] as Mamba2LayerWeights;
    assert.deepEqual(masked.inProj.shape, got.inProj.shape);
    for (let g = 0; g < G; g++) {
      assert.ok(rows(masked.bridge!, g * k + drop, g * k + drop + 1).every((v) => v === 0), "bridge row zeroed");
      assert.ok(rows(masked.inProj, 2 * D + g * k + drop, 2 * D + g * k + drop + 1).every((v) => v === 0));
      assert.ok(rows(masked.convWeight, D + g * k + drop, D + g * k + drop + 1).every((v) => v === 0));
    }
    assert.deepEqual(rows(masked.inProj, 2 * D + Gk, 2 * D + Gk + GN), rows(got.inProj, 2 * D + Gk, 2 * D + Gk + GN));
    const removed = pruneWeights(bridged, keep2).layers[0] as Mamba2LayerWeights;
    assert.deepEqual(removed.bridge!.shape, [G * drop, GN]);
    assert.deepEqual(removed.inProj.shape, [2 * D + G * drop + GN + H, d]);
  }
});

Deno.test("pruneWeights: bridging a bridged Mamba-2 model composes the bridges (W₁·W₂)", async () => {
  for (const fixture of MAMBA2_FIXTURES) {
    const { w, keep, bridges, bridged } = await bridgedCase(fixture);
    const rand = mulberry32(31);
    const keep2 = keep.map((k) => randomKeep(k.length, Math.ceil(k.length / 2), rand));
    const W2 = randomBridges(bridged, keep2, 17);
    const twice = pruneWeights(bridged, keep2, { bridges: W2 });
    // One step: keep keep[keep2], bridge W₁·W₂ (h ≈ W₁·h′ ≈ W₁·W₂·h″).
    const once = pruneWeights(w, keep.map((k, l) => keep2[l].map((j) => k[j])), {
      bridges: keep.map((k, l) => {
        const N = stateSizeOf(w.layers[l], w.config), k1 = k.length, k2 = keep2[l].length;
        const W = new Float64Array(N * k2);
        for (let i = 0; i < N; i++) {
          for (let j = 0; j < k2; j++) {
            for (let m = 0; m < k1; m++) W[i * k2 + j] += bridges[l][i * k1 + m] * W2[l][m * k2 + j];
          }
        }
        return W;
      }),
    });
    assert.deepEqual(twice.config, once.config);
    twice.layers.forEach((layer, l) => {
      const a = layer as Mamba2LayerWeights, b = once.layers[l] as Mamba2LayerWeights;
      assert.deepEqual({ ...a, bridge: null }, { ...b, bridge: null }, `${fixture} layer ${l}`);
      assert.deepEqual(a.bridge!.shape, b.bridge!.shape);
      assertClose(a.bridge!.data, b.bridge!.data, `${fixture} layer ${l}: composed bridge`, 1e-6, 0);
    });
  }
});

Deno.test("Mamba-2 bridged checkpoint: format, identical weights after reload, loader errors", async () => {
  for (const fixture of MAMBA2_FIXTURES) {
    const { w, keep, bridges, bridged } = await bridgedCase(fixture);
    const biased = await withBiases(fixture);
    const variants: [string, MambaWeights][] = [
      ["both layers", bridged],
      ["layer 0 only", pruneWeights(w, keep, { bridges: [bridges[0], null] })],
      [
        "uniform k, layer 1 only",
        pruneWeights(w, [range(6), range(6)], { bridges: [null, randomBridges(w, [[], range(6)], 2)[1]] }),
      ],
      ["biases", pruneWeights(biased, keep, { bridges })],
      ["bridged then masked", pruneWeights(bridged, bridged.layers.map((_, l) => range(l + 2)), { mode: "mask" })],
    ];
    for (const [what, weights] of variants) {
      const files = checkpointFiles(weights);
      const json = JSON.parse(files["config.json"]);
      assert.deepEqual(json.state_bridge_sizes, weights.config.stateBridgeSizes, `${what}: state_bridge_sizes`);
      const names = [...parseSafetensors(files["model.safetensors"], "x").tensors.keys()];
      const bridgeNames = names.filter((n) => n.endsWith("mixer.state_bridge.weight")).sort();
      const want = weights.config.stateBridgeSizes!.flatMap((n, i) =>
        n > 0 ? [`backbone.layers.${i}.mixer.state_bridge.weight`] : []
      );
      assert.deepEqual(bridgeNames, want, `${what}: bridge tensors`);
      const dir = await writeCheckpoint(weights);
      try {
        assert.deepEqual(await loadWeights(dirSource(dir)), weights, `${fixture} ${what}: reloaded weights differ`);
      } finally {
        await Deno.remove(dir, { recursive: true });
      }
    }
    assert.deepEqual(JSON.parse(checkpointFiles(bridged)["config.json"]).state_bridge_sizes, [16, 16]);

    // Loader errors name the tensor or the config key.
    const files = checkpointFiles(bridged);
    const config = JSON.parse(files["config.json"]);
    const load = (cfg: unknown, st = files["model.safetensors"]) =>
      loadWeights(memorySource({ "config.json": JSON.stringify(cfg), "model.safetensors": st }));
    await assert.rejects(
      load({ ...config, state_bridge_sizes: undefined }),
      /tensor "backbone\.layers\.0\.mixer\.state_bridge\.weight" is present but config "state_bridge_sizes" gives layer 0 no bridge/,
    );
    await assert.rejects(
      load({ ...config, state_bridge_sizes: [16, 0] }),
      /"backbone\.layers\.1\.mixer\.state_bridge\.weight" is present but config "state_bridge_sizes" gives layer 1/,
    );
    await assert.rejects(
      load({ ...config, state_bridge_sizes: [16] }),
      /field "state_bridge_sizes" must be a list of 2/,
    );
    await assert.rejects(
      load({ ...config, state_bridge_sizes: [16, -1] }),
      /"state_bridge_sizes" \[1\] must be a non-negative integer/,
    );
    await assert.rejects(
      load({ ...config, state_bridge_sizes: [12, 16] }),
      /implies state size .* for layer 0, but config says/,
    );
    const records = [...parseSafetensors(files["model.safetensors"], "x").tensors.values()];
    const rewrite = (f: (name: string) => TensorLike | null): Uint8Array =>
      writeSafetensors(records.flatMap((r) => {
        const t = f(r.name) ?? { shape: r.shape, data: toFloat32(r) };
        return t === DROP ? [] : [{ name: r.name, ...t }];
      }));
    const b0 = "backbone.layers.0.mixer.state_bridge.weight";
    await assert.rejects(
      load(config, rewrite((n) => (n === b0 ? DROP : null))),
      /missing tensor "backbone\.layers\.0\.mixer\.state_bridge\.weight": config "state_bridge_sizes"\[0\] is 16/,
    );
    const [rows0, cols0] = (bridged.layers[0] as Mamba2LayerWeights).bridge!.shape;
    await assert.rejects(
      load(
        config,
        rewrite((n) => (n === b0 ? { shape: [rows0, cols0 - 1], data: new Float32Array(rows0 * (cols0 - 1)) } : null)),
      ),
      new RegExp(
        `tensor "${b0.replaceAll(".", "\\.")}" has shape \\[${rows0}, ${
          cols0 - 1
        }\\], expected \\[${rows0}, ${cols0}\\]`,
      ),
    );
    // A bridged model whose config lost its stateBridgeSizes is refused by the writer and by MambaModel.load.
    const lost = { ...bridged, config: { ...bridged.config, stateBridgeSizes: undefined } };
    assert.throws(
      () => checkpointFiles(lost),
      /layer 0 has a state bridge from N = 16 but config\.stateBridgeSizes says 0/,
    );
  }
  // The key is Mamba-2 only; all zeros means no bridge.
  const m1 = JSON.parse(await Deno.readTextFile(`${fixtureDir("mamba1-tiny")}/config.json`));
  assert.throws(
    () => parseConfig({ ...m1, state_bridge_sizes: [16, 0] }, "c.json"),
    /c\.json: field "state_bridge_sizes" is only for Mamba-2/,
  );
  assert.ok(!("stateBridgeSizes" in parseConfig({ ...m1, state_bridge_sizes: [0, 0] }, "c.json")));
});

type TensorLike = { shape: number[]; data: Float32Array };
const DROP: TensorLike = { shape: [], data: new Float32Array(0) };

Deno.test("cost: forwardFlops, forwardBytes, componentWeightBytes and componentStateBytes count Mamba-2 bridges", async () => {
  for (const fixture of MAMBA2_FIXTURES) {
    for (const useBias of [false, true]) {
      const w = useBias ? await withBiases(fixture) : await fixtureWeights(fixture);
      const keep = nonUniformKeep(w, 9);
      const bridged = pruneWeights(w, keep, { bridges: randomBridges(w, keep, 3) });
      const plain = pruneWeights(w, keep);
      const cb = bridged.config, cp = plain.config;
      const G = cb.nGroups, N = w.config.dState, K = cb.dConv, d = cb.dModel;
      // Every parameter is counted once: Σ componentWeightBytes (f32) = 4 · parameters.
      assert.equal(total(componentWeightBytes(cb)), 4 * parameterCount(bridged), `${fixture}: weight bytes`);
      assert.equal(total(componentWeightBytes(cp)), 4 * parameterCount(plain));
      // Extra over plain removal, per layer: C channels G·(N − k) in in_proj and conv1d, and the bridge G·k × G·N.
      const extraC = keep.reduce((a, k) => a + G * (N - k.length), 0);
      const bridgeParams = keep.reduce((a, k) => a + G * k.length * G * N, 0);
      const wb = componentWeightBytes(cb, 2), wp = componentWeightBytes(cp, 2);
      assert.equal(wb.in_proj - wp.in_proj, extraC * (d * 2 + (useBias ? 4 : 0)));
      assert.equal(wb.conv1d - wp.conv1d, extraC * (K + 1) * 4);
      assert.equal(wb.ssm - wp.ssm, bridgeParams * 2);
      for (const [batch, seqLen] of [[1, 37], [2, 1]]) {
        const T = batch * seqLen;
        const fb = forwardFlops(cb, batch, seqLen), fp = forwardFlops(cp, batch, seqLen);
        assert.equal(fb.in_proj - fp.in_proj, 2 * T * d * extraC);
        assert.equal(fb.conv1d - fp.conv1d, (2 * K + 4) * T * extraC);
        assert.equal(fb.ssm - fp.ssm, 2 * T * bridgeParams, "the bridge is a linear G·N → G·k in ssm");
        for (const comp of ["norm", "gate_norm", "out_proj", "lm_head"] as const) assert.equal(fb[comp], fp[comp]);
        const bb = forwardBytes(cb, batch, seqLen), bp = forwardBytes(cp, batch, seqLen);
        assert.deepEqual(
          {
            w: bb.ssm.weights - bp.ssm.weights,
            a: bb.ssm.activations - bp.ssm.activations,
            s: bb.ssm.state - bp.ssm.state,
          },
          { w: bridgeParams * 4, a: T * keep.reduce((a, k) => a + G * N + G * k.length, 0) * 4, s: 0 },
        );
        assert.equal(bb.in_proj.activations - bp.in_proj.activations, T * extraC * 4);
        assert.equal(bb.conv1d.state - bp.conv1d.state, 2 * batch * extraC * (K - 1) * 4);
        assert.equal(bb.conv1d.weights - bp.conv1d.weights, extraC * (K + 1) * 4);
      }
      assert.equal(
        total(componentStateBytes(cb, 3)) - total(componentStateBytes(cp, 3)),
        3 * extraC * (K - 1) * 4,
      );
    }
  }
});

for (const tb of TEST_BACKENDS) {
  const name = (what: string): string => `${tb.name}: ${what}${tb.skip ? ` (${tb.skip})` : ""}`;
  const withBackend = async (f: (be: Backend) => Promise<void>): Promise<void> => {
    const backend = await tb.create();
    try {
      await f(backend);
    } finally {
      backend.dispose();
    }
  };

  for (const fixture of MAMBA2_FIXTURES) {
    const ids = readGolden<FixtureGolden>(fixtureDir(fixture)).input_ids;

    Deno.test({
      name: name(`${fixture}: Mamba-2 bridge (selection matrix = plain removal; random W = GatedNorm(Σ C·(W·h′)))`),
      ignore: tb.skip !== null,
      fn: () =>
        withBackend(async (be) => {
          const { w, keep, bridges, bridged, plain } = await bridgedCase(fixture);
          const plainRun = await runModel(be, plain, ids);
          const selection = pruneWeights(w, keep, { bridges: selectionBridges(w, keep) });
          assert.deepEqual(selection.config.stateBridgeSizes, [16, 16]);
          const selRun = await runModel(be, selection, ids);
          assertClose(selRun.logits, plainRun.logits, "selection bridge vs plain removal", 1e-5, 0);

          const run = await runModel(be, bridged, ids);
          assert.ok(maxAbsDiff(run.logits, plainRun.logits) > 1e-3 * maxAbs(plainRun.logits), "bridge changed nothing");
          // Host f64 reference from the dense layer 0 (its in_proj output holds every B and C row; the kept
          // states' h trajectories are h′): y = Σ_i C_i·(W·h′)_i + D·x, then the gated RMSNorm.
          const T = ids.length;
          const dense = await runModel(be, w, ids);
          const tr = trace(w, dense.layer0.get("in_proj.out")!, T);
          const y = bridgedOutput(tr, keep[0], bridges[0]!);
          const out = run.layer0.get("out_proj.in")!;
          assertClose(out, outProjIn(w, tr, y), "bridged layer 0 vs host GatedNorm(Σ C·(W·h′) + D·x)");
          const tol = 1e-4 * maxAbs(out) + 1e-5;
          assert.ok(maxAbsDiff(out, plainRun.layer0.get("out_proj.in")!) > 20 * tol, "the check has no teeth");
        }),
    });

    Deno.test({
      name: name(`${fixture}: Mamba-2 bridged model: checkpoint reload, decode = prefill, pruning it again`),
      ignore: tb.skip !== null,
      fn: () =>
        withBackend(async (be) => {
          const { bridged } = await bridgedCase(fixture);
          const logits = (await runModel(be, bridged, ids)).logits;
          // Checkpoint round trip: same logits, bit for bit.
          const dir = await writeCheckpoint(bridged);
          try {
            const back = await loadWeights(dirSource(dir));
            assert.deepEqual((await runModel(be, back, ids)).logits, logits, "reloaded bridged checkpoint");
          } finally {
            await Deno.remove(dir, { recursive: true });
          }

          // Decode one token at a time (two sequences) = prefill at every position; state and parameter sizes.
          const model = MambaModel.load(bridged, be);
          try {
            assert.equal(model.parameterCount, parameterCount(bridged));
            assert.deepEqual(model.layerStateSizes, bridged.config.layerStateSizes);
            const seqs = [ids, [...ids].reverse()];
            const T = ids.length, V = bridged.config.vocabSize;
            const pre = await model.prefill(seqs);
            assert.equal(pre.state.bytes, total(componentStateBytes(bridged.config, 2)));
            assertClose(pre.logits.data.subarray(0, T * V), logits, "batched prefill vs single", 1e-5, 1e-6);
            const state = model.newState(2);
            const steps = new Float32Array(2 * T * V);
            for (let t = 0; t < T; t++) {
              const l = await model.step([seqs[0][t], seqs[1][t]], state);
              for (let b = 0; b < 2; b++) steps.set(l.data.subarray(b * V, (b + 1) * V), (b * T + t) * V);
            }
            assertClose(steps, pre.logits.data, "bridged: step-by-step vs prefill");
            // Chunked prefill carries the conv window of the wider C through the state.
            const chunked = await model.prefill(seqs, { chunkTokens: 5 });
            assertClose(chunked.logits.data, pre.logits.data, "bridged: chunked prefill vs whole");
            for (const s of [pre.state, state, chunked.state]) s.dispose();
          } finally {
            model.dispose();
          }

          // Pruning the bridged model again: removed = masked; a selection bridge on top = plain removal.
          const rand = mulberry32(5);
          const keep2 = bridged.layers.map((l) => {
            const k = stateSizeOf(l, bridged.config);
            return randomKeep(k, Math.ceil(k / 2), rand);
          });
          const removed = (await runModel(be, pruneWeights(bridged, keep2), ids)).logits;
          const masked = (await runModel(be, pruneWeights(bridged, keep2, { mode: "mask" }), ids)).logits;
          assertClose(removed, masked, "bridged, pruned again: removed vs masked", 1e-5, 0);
          const selected = pruneWeights(bridged, keep2, { bridges: selectionBridges(bridged, keep2) });
          assertClose((await runModel(be, selected, ids)).logits, removed, "bridged: selection bridge on top", 1e-5, 0);
          assert.ok(maxAbsDiff(removed, logits) > 1e-3 * maxAbs(logits), "pruning again changed nothing");
        }),
    });
  }
}

// ---------------------------------------------------------------------------------------------------------------
// The whole pruned model against the float64 reference forward (tests/_reference_forward.ts) that drops the
// removed states of the DENSE weights (or bridges them, h ≈ W·h′), and calibrate → select → fitBridges → apply end
// to end: the bridge is the least-squares minimiser of the state error over the calibration samples, and lowers the
// measured layer-output error.

for (const fixture of FIXTURES) {
  Deno.test(`wasm: ${fixture}: pruned, masked and bridged logits = the float64 reference forward without the removed states`, async () => {
    const w = await fixtureWeights(fixture);
    const golden = readGolden<FixtureGolden>(fixtureDir(fixture));
    const ids = golden.input_ids;
    const seqs = [ids.slice(0, 30), ids.slice(5)];
    const be = await createWasmBackend({ threads: 1 });
    try {
      // Calibrate the dense model (every channel in the Gram matrix), choose globally (k differs per layer), bridge.
      const model = MambaModel.load(w, be);
      const activity = await calibrate(model, w, seqs, { gramChannels: w.config.dInner });
      model.dispose();
      const keep = selectStates(activity, "energy", 0.5, { scope: "global" });
      const bridges = fitBridges(activity, keep);
      bridges.forEach((W, l) => {
        const want = leastSquaresBridge(activity.gram[l].matrix, w.config.dState, keep[l]);
        assertClose(W!, want, `${fixture} layer ${l}: fitBridges vs the independent least-squares solve`, 1e-6, 1e-9);
      });

      const dense = referenceForward(w, ids);
      const tol = 1e-4 * maxAbs(dense) + 1e-5;
      const cases: [string, MambaWeights, Float64Array][] = [
        ["removed", pruneWeights(w, keep), referenceForward(w, ids, { keep })],
        ["masked", pruneWeights(w, keep, { mode: "mask" }), referenceForward(w, ids, { keep })],
        ["bridged", pruneWeights(w, keep, { bridges }), referenceForward(w, ids, { keep, bridges })],
        [
          "random keep",
          pruneWeights(w, nonUniformKeep(w, 4)),
          referenceForward(w, ids, { keep: nonUniformKeep(w, 4) }),
        ],
      ];
      for (const [what, weights, want] of cases) {
        const got = (await runModel(be, weights, ids)).logits;
        assertClose(got, want, `${fixture} ${what}: runtime vs float64 reference`);
        // The reference's pruned logits are far from the dense ones: the comparison can tell them apart.
        assert.ok(maxAbsDiff(want, dense) > 20 * tol, `${fixture} ${what}: pruning barely changes the logits`);
      }

      // The bridge's objective, measured on the calibration sequences from the reference's dense layers.
      for (const seq of seqs) {
        referenceForward(w, seq, {
          onLayer: (l, tr) => {
            const W = bridges[l]!;
            const fitted = stateError(tr, keep[l], W), removed = stateError(tr, keep[l], null);
            assert.ok(fitted < removed, `${fixture} layer ${l}: bridge state error ${fitted} ≥ removal's ${removed}`);
            const outFitted = layerOutputError(tr, keep[l], W), outRemoved = layerOutputError(tr, keep[l], null);
            assert.ok(
              outFitted < outRemoved,
              `${fixture} layer ${l}: bridged layer-output error ${outFitted} not below removal's ${outRemoved}`,
            );
          },
        });
      }
      // W minimises Σ‖h − W·h′‖² over both sequences: any perturbation raises it.
      const total = (bridgeSet: (Float64Array | null)[]) => {
        const e = keep.map(() => 0);
        for (const seq of seqs) {
          referenceForward(w, seq, { onLayer: (l, tr) => (e[l] += stateError(tr, keep[l], bridgeSet[l])) });
        }
        return e;
      };
      const best = total(bridges);
      const rand = mulberry32(8);
      for (let trial = 0; trial < 3; trial++) {
        const nudged = total(bridges.map((W) => W!.map((v) => v + (rand() - 0.5) * 1e-2)));
        nudged.forEach((e, l) =>
          assert.ok(e > best[l], `${fixture} layer ${l}: a nudged W fits better (${e} < ${best[l]})`)
        );
      }
      // Measured on the runtime: layer 0 (same input in every model) is closer to dense with the bridge.
      const runs = await Promise.all([w, pruneWeights(w, keep), pruneWeights(w, keep, { bridges })].map(async (x) => {
        const out: Float32Array[] = [];
        for (const seq of seqs) out.push((await runModel(be, x, seq)).layer0.get("out_proj.in")!);
        return out;
      }));
      const sq = (a: Float32Array[], b: Float32Array[]) =>
        a.reduce((s, x, i) => s + x.reduce((t, v, j) => t + (v - b[i][j]) ** 2, 0), 0);
      const plainErr = sq(runs[1], runs[0]), bridgedErr = sq(runs[2], runs[0]);
      assert.ok(
        bridgedErr < 0.9 * plainErr,
        `${fixture}: runtime layer-0 error bridged ${bridgedErr} vs plain ${plainErr}`,
      );
    } finally {
      be.dispose();
    }
  });
}
