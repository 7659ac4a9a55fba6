/**
 * conv1d, the Mamba-1 selective scan and the Mamba-2 SSD of the WASM backend against float64 references: odd
 * shapes, batch > 1, non-zero initial states, views into wider tensors, and decode steps continuing a prefill.
 */

import assert from "node:assert/strict";
import type { SsdArgs, Tensor } from "../../runtime/backend.ts";
import { assertClose, rand, rowsOf, sideBySide, testEachConfig, type TestWasm } from "./_helpers.ts";
import { conv1dRef, selectiveScanRef, ssdRef, type SsdShape } from "./reference.ts";

/** Rows of sequence-major (batch·L, W) data restricted to tokens [t0, t1) of every sequence. */
function tokens(a: Float32Array, batch: number, L: number, W: number, t0: number, t1: number): Float32Array {
  const out = new Float32Array(batch * (t1 - t0) * W);
  for (let b = 0; b < batch; b++) out.set(rowsOf(a, W, b * L + t0, b * L + t1), b * (t1 - t0) * W);
  return out;
}

testEachConfig("conv1d: K = 2..4, batch 2, odd channels, state in and out", async (be) => {
  const batch = 2, C = 11;
  for (const K of [2, 3, 4]) {
    for (const L of [1, 2, 7]) {
      for (const withBias of [true, false]) {
        const x = rand(batch * L * C, K * 10 + L, -2, 2);
        const w = rand(C * K, K), bias = withBias ? rand(C, K + 1) : null;
        const s0 = rand(batch * C * (K - 1), K + L);
        const { views } = sideBySide(be, batch * L, [rand(batch * L * 3, 1), x], "zxbc");
        const state = be.upload(s0, [batch, C, K - 1], "conv_state");
        const out = be.conv1d(
          views[1],
          be.upload(w, [C, K], "w"),
          bias ? be.upload(bias, [C], "b") : null,
          state,
          batch,
          L,
        );
        const ref = conv1dRef(x, w, bias, s0, batch, L, C, K);
        const tag = `conv1d K=${K} L=${L} bias=${withBias}`;
        assertClose(await be.read(out), ref.out, tag);
        assertClose(await be.read(state), ref.state, `${tag} state`, 0);
      }
    }
  }
});

testEachConfig("conv1d: prefill then decode steps equal one longer run", async (be) => {
  const batch = 2, C = 9, K = 4, L = 6;
  const x = rand(batch * L * C, 3), w = rand(C * K, 4), bias = rand(C, 5), s0 = rand(batch * C * (K - 1), 6);
  const wt = be.upload(w, [C, K], "w"), bt = be.upload(bias, [C], "b");
  const full = be.upload(s0, [batch, C, K - 1], "s_full");
  const outFull = await be.read(
    be.conv1d({ tensor: be.upload(x, [batch * L, C], "x"), col: 0, cols: C }, wt, bt, full, batch, L),
  );
  const st = be.upload(s0, [batch, C, K - 1], "s_steps");
  const parts: Float32Array[] = [];
  for (const [t0, t1] of [[0, 4], [4, 5], [5, 6]]) {
    const xi = tokens(x, batch, L, C, t0, t1);
    const o = be.conv1d(
      { tensor: be.upload(xi, [batch * (t1 - t0), C], "xi"), col: 0, cols: C },
      wt,
      bt,
      st,
      batch,
      t1 - t0,
    );
    parts.push(await be.read(o));
  }
  for (let b = 0; b < batch; b++) {
    let t = 0;
    for (const [i, len] of [[0, 4], [1, 1], [2, 1]]) {
      assertClose(
        parts[i].subarray(b * len * C, (b + 1) * len * C),
        outFull.subarray((b * L + t) * C, (b * L + t + len) * C),
        `conv1d steps b=${b} t=${t}`,
        0,
      );
      t += len;
    }
  }
  assertClose(await be.read(st), await be.read(full), "conv1d state after steps", 0);
});

/** Runs the selective scan on views of one wide x_proj-like tensor [z | u | Δ | B | C]. */
function runScan(
  be: TestWasm,
  d: { u: Float32Array; delta: Float32Array; z: Float32Array; B: Float32Array; C: Float32Array },
  A: Tensor,
  D: Tensor,
  state: Tensor,
  batch: number,
  L: number,
): Tensor {
  const { views } = sideBySide(be, batch * L, [d.z, d.u, d.delta, d.B, d.C], "xz");
  const [z, u, delta, B, C] = views;
  return be.selectiveScan({ u, delta, A, B, C, D, z, state, batch, seqLen: L });
}

testEachConfig("selectiveScan: odd N and D, batch 2, initial state, decode continuation", async (be) => {
  for (const [D, N] of [[11, 13], [8, 16], [5, 3]]) {
    const batch = 2, L = 9;
    const T = batch * L;
    const data = {
      u: rand(T * D, D + 1, -2, 2),
      delta: rand(T * D, D + 2, -5, 3),
      z: rand(T * D, D + 3, -3, 3),
      B: rand(T * N, N + 4),
      C: rand(T * N, N + 5),
    };
    data.delta[3] = 25; // softplus above its threshold
    const Ah = rand(D * N, 6, -4, -0.05), Dh = rand(D, 7), s0 = rand(batch * D * N, 8);
    const A = be.upload(Ah, [D, N], "A"), Dt = be.upload(Dh, [D], "D");
    const state = be.upload(s0, [batch, D, N], "ssm_state");
    const out = runScan(be, data, A, Dt, state, batch, L);
    const ref = selectiveScanRef(data.u, data.delta, Ah, data.B, data.C, Dh, data.z, s0, batch, L, D, N);
    assertClose(await be.read(out), ref.out, `selectiveScan D=${D} N=${N}`);
    assertClose(await be.read(state), ref.state, `selectiveScan D=${D} N=${N} state`);

    // Prefill L−1 tokens, then one decode step: same outputs and state as the full run.
    const st = be.upload(s0, [batch, D, N], "ssm_state2");
    const pick = (L0: number, L1: number) => ({
      u: tokens(data.u, batch, L, D, L0, L1),
      delta: tokens(data.delta, batch, L, D, L0, L1),
      z: tokens(data.z, batch, L, D, L0, L1),
      B: tokens(data.B, batch, L, N, L0, L1),
      C: tokens(data.C, batch, L, N, L0, L1),
    });
    runScan(be, pick(0, L - 1), A, Dt, st, batch, L - 1);
    const last = await be.read(runScan(be, pick(L - 1, L), A, Dt, st, batch, 1));
    assertClose(last, tokens(Float32Array.from(ref.out), batch, L, D, L - 1, L), `selectiveScan D=${D} decode step`);
    assertClose(await be.read(st), ref.state, `selectiveScan D=${D} state after decode`);
  }
});

/** SSD inputs (dense) for a shape. */
function ssdData(s: SsdShape, seed: number) {
  const T = s.batch * s.L;
  return {
    x: rand(T * s.H * s.P, seed, -2, 2),
    dt: rand(T * s.H, seed + 1, -4, 2),
    B: rand(T * s.G * s.N, seed + 2),
    C: rand(T * s.G * s.N, seed + 3),
    dtBias: rand(s.H, seed + 4, -1, 1),
    A: rand(s.H, seed + 5, -3, -0.2),
    D: rand(s.H, seed + 6),
    state: rand(s.batch * s.H * s.P * s.N, seed + 7),
  };
}

/** Runs the backend SSD on tokens [t0, t1) of the dense data, with in_proj-like views [z | x | B | C | dt]. */
function runSsd(
  be: TestWasm,
  s: SsdShape,
  d: ReturnType<typeof ssdData>,
  state: Tensor,
  chunkSize: number,
  t0: number,
  t1: number,
): Tensor {
  const { batch, L, H, P, G, N } = s;
  const pick = (a: Float32Array, W: number) => tokens(a, batch, L, W, t0, t1);
  const rows = batch * (t1 - t0);
  const { views } = sideBySide(be, rows, [
    rand(rows * 2, 99),
    pick(d.x, H * P),
    pick(d.B, G * N),
    pick(d.C, G * N),
    pick(d.dt, H),
  ], "zxbcdt");
  const args: SsdArgs = {
    x: views[1],
    B: views[2],
    C: views[3],
    dt: views[4],
    dtBias: be.upload(d.dtBias, [H], "dt_bias"),
    A: be.upload(d.A, [H], "A"),
    D: be.upload(d.D, [H], "D"),
    state,
    batch,
    seqLen: t1 - t0,
    nHeads: H,
    headDim: P,
    nGroups: G,
    dState: N,
    chunkSize,
    dtMin: s.dtMin,
    dtMax: s.dtMax,
  };
  return be.ssd(args);
}

testEachConfig("ssd: chunked prefill vs recurrence on odd shapes, groups, clamps", async (be) => {
  const cases: [SsdShape, number][] = [
    [{ batch: 2, L: 11, H: 4, P: 5, G: 2, N: 13, dtMin: 0, dtMax: Infinity }, 4],
    [{ batch: 1, L: 20, H: 3, P: 20, G: 1, N: 16, dtMin: 0.01, dtMax: 0.8 }, 8],
    [{ batch: 2, L: 7, H: 6, P: 16, G: 3, N: 8, dtMin: 0, dtMax: Infinity }, 16],
    [{ batch: 1, L: 33, H: 2, P: 7, G: 2, N: 5, dtMin: 0, dtMax: Infinity }, 32],
    [{ batch: 3, L: 2, H: 2, P: 4, G: 1, N: 4, dtMin: 0, dtMax: Infinity }, 1],
  ];
  let seed = 1;
  for (const [s, Q] of cases) {
    const d = ssdData(s, seed++ * 10);
    const tag = `ssd B=${s.batch} L=${s.L} H=${s.H} P=${s.P} G=${s.G} N=${s.N} Q=${Q}`;
    const state = be.upload(d.state, [s.batch, s.H, s.P, s.N], "ssm_state");
    const out = runSsd(be, s, d, state, Q, 0, s.L);
    assert.deepEqual(out.shape, [s.batch * s.L, s.H * s.P]);
    const ref = ssdRef(d.x, d.dt, d.dtBias, d.A, d.B, d.C, d.D, d.state, s);
    assertClose(await be.read(out), ref.out, tag);
    assertClose(await be.read(state), ref.state, `${tag} state`);
  }
});

testEachConfig("ssd: chunked prefill then seqLen = 1 steps equal one longer run", async (be) => {
  const s: SsdShape = { batch: 2, L: 12, H: 4, P: 6, G: 2, N: 13, dtMin: 0, dtMax: Infinity };
  const d = ssdData(s, 77);
  const ref = ssdRef(d.x, d.dt, d.dtBias, d.A, d.B, d.C, d.D, d.state, s);
  const state = be.upload(d.state, [s.batch, s.H, s.P, s.N], "ssm_state");
  runSsd(be, s, d, state, 4, 0, 9); // 9 tokens: chunks 4 + 4 + 1
  const W = s.H * s.P;
  for (let t = 9; t < s.L; t++) {
    const y = await be.read(runSsd(be, s, d, state, 4, t, t + 1));
    assertClose(y, tokens(Float32Array.from(ref.out), s.batch, s.L, W, t, t + 1), `ssd decode t=${t}`);
  }
  assertClose(await be.read(state), ref.state, "ssd state after decode steps");
});
