import { selectiveScanRef, ssdRef } from "../wasm/reference.ts";
import type { WebGpuBackend } from "../../kernels/webgpu_backend.ts";
import { assertClose, gpuTest, rand, viewIn } from "./_gpu.ts";

// ---- Mamba-1 selective scan ------------------------------------------------------------------------------------

interface ScanData {
  u: Float32Array;
  delta: Float32Array;
  A: Float32Array;
  bc: Float32Array; // (T, R + 2N): [junk R | B | C]
  Dv: Float32Array;
  z: Float32Array;
}

const R = 3; // junk columns in front of B (the δ of x_proj)

function scanData(T: number, D: number, N: number, seed: number): ScanData {
  return {
    u: rand(T * D, seed, -2, 2),
    delta: rand(T * D, seed + 1, -4, 1.5),
    A: rand(D * N, 7, -0.5, 1.2).map((v) => -Math.exp(v)),
    bc: rand(T * (R + 2 * N), seed + 2),
    Dv: rand(D, 8),
    z: rand(T * D, seed + 3, -3, 3),
  };
}

function cols(a: Float32Array, T: number, width: number, c0: number, n: number): Float32Array {
  const out = new Float32Array(T * n);
  for (let t = 0; t < T; t++) out.set(a.subarray(t * width + c0, t * width + c0 + n), t * n);
  return out;
}

function runScan(
  be: WebGpuBackend,
  s: ScanData,
  state: Float32Array | import("../../runtime/backend.ts").Tensor,
  batch: number,
  L: number,
  D: number,
  N: number,
) {
  const T = batch * L;
  const st = state instanceof Float32Array ? be.upload(state, [batch, D, N], "state") : state;
  const xz = viewIn(
    be,
    new Float32Array(T * 2 * D).map((
      _,
      i,
    ) => (i % (2 * D) < D
      ? s.u[Math.floor(i / (2 * D)) * D + (i % (2 * D))]
      : s.z[Math.floor(i / (2 * D)) * D + (i % (2 * D)) - D])
    ),
    T,
    2 * D,
    0,
    0,
    "xz",
  ).tensor;
  const dl = be.upload(s.delta, [T, D], "dt");
  const xdbl = be.upload(s.bc, [T, R + 2 * N], "xdbl");
  const y = be.selectiveScan({
    u: { tensor: xz, col: 0, cols: D },
    delta: { tensor: dl, col: 0, cols: D },
    A: be.upload(s.A, [D, N], "A"),
    B: { tensor: xdbl, col: R, cols: N },
    C: { tensor: xdbl, col: R + N, cols: N },
    D: be.upload(s.Dv, [D], "D"),
    z: { tensor: xz, col: D, cols: D },
    state: st,
    batch,
    seqLen: L,
  });
  return { y, state: st };
}

function scanCase(batch: number, L: number, D: number, N: number, note = "") {
  gpuTest(`selectiveScan batch ${batch}, L=${L}, D=${D}, N=${N}, non-zero state${note}`, async (be) => {
    const T = batch * L;
    const s = scanData(T, D, N, L);
    const s0 = rand(batch * D * N, 50);
    const { y, state } = runScan(be, s, s0, batch, L, D, N);
    const ref = selectiveScanRef(
      s.u,
      s.delta,
      s.A,
      cols(s.bc, T, R + 2 * N, R, N),
      cols(s.bc, T, R + 2 * N, R + N, N),
      s.Dv,
      s.z,
      s0,
      batch,
      L,
      D,
      N,
    );
    assertClose(await be.read(y), ref.out, "scan y");
    assertClose(await be.read(state), ref.state, "scan state");
  });
}

// seqLen 1 (decode), 5 (one chunk), 37 and 70 (several chunks of 32, the last shorter); N = 13, batch 2.
for (const L of [1, 5, 37, 70]) scanCase(2, L, 19, 13);
// Many chunks (the combine's prefetch of 8 chunk summaries, a ragged last group); the model's N = 16.
scanCase(2, 300, 40, 16);
// One token past a whole number of chunks (a last chunk of one token).
scanCase(1, 257, 19, 13);
// D over several workgroups of 64 channels (idle lanes in the last one).
scanCase(1, 45, 70, 16, ", several channel blocks");
// N > 16: two passes over the states, the second padded (partial sums in y).
for (const L of [3, 70]) scanCase(2, L, 11, 20, ", two state passes");

gpuTest("selectiveScan: prefill 37 then 3 decode steps equals one run of 40", async (be) => {
  const batch = 2, D = 9, N = 13, L = 40;
  const full = scanData(batch * L, D, N, 3);
  const s0 = rand(batch * D * N, 51);
  const whole = runScan(be, full, s0, batch, L, D, N);
  const want = await be.read(whole.y);
  const wantState = await be.read(whole.state);
  // Same data cut into [0, 37) then single tokens: rows b·L + t of the full run.
  const slice = (a: Float32Array, w: number, t0: number, t1: number) => {
    const out = new Float32Array(batch * (t1 - t0) * w);
    for (let b = 0; b < batch; b++) out.set(a.subarray((b * L + t0) * w, (b * L + t1) * w), b * (t1 - t0) * w);
    return out;
  };
  const part = (t0: number, t1: number): ScanData => ({
    u: slice(full.u, D, t0, t1),
    delta: slice(full.delta, D, t0, t1),
    A: full.A,
    bc: slice(full.bc, R + 2 * N, t0, t1),
    Dv: full.Dv,
    z: slice(full.z, D, t0, t1),
  });
  const first = runScan(be, part(0, 37), s0, batch, 37, D, N);
  const ys = [await be.read(first.y)];
  for (let t = 37; t < L; t++) ys.push(await be.read(runScan(be, part(t, t + 1), first.state, batch, 1, D, N).y));
  const got = new Float32Array(batch * L * D);
  for (let b = 0; b < batch; b++) {
    got.set(ys[0].subarray(b * 37 * D, (b + 1) * 37 * D), b * L * D);
    for (let t = 37; t < L; t++) got.set(ys[t - 36].subarray(b * D, (b + 1) * D), (b * L + t) * D);
  }
  assertClose(got, want, "decode vs prefill y");
  assertClose(await be.read(first.state), wantState, "decode vs prefill state");
});

// ---- Mamba-2 SSD ----------------------------------------------------------------------------------------------

interface SsdCase {
  batch: number;
  L: number;
  H: number;
  P: number;
  G: number;
  N: number;
  Q: number;
  dtMin: number;
  dtMax: number;
}

function ssdData(c: SsdCase, seed: number) {
  const T = c.batch * c.L, HP = c.H * c.P, GN = c.G * c.N;
  return {
    xBC: rand(T * (HP + 2 * GN), seed, -2, 2), // conv output [x | B | C]
    zxbcdt: rand(T * (HP + 2 * GN + c.H + 4), seed + 1, -3, 1), // in_proj output; dt in the last H + 4 cols
    dtBias: rand(c.H, 20, -1, 1),
    A: rand(c.H, 21, -1, 1.5).map((v) => -Math.exp(v)),
    Dv: rand(c.H, 22),
  };
}

function runSsd(
  be: WebGpuBackend,
  c: SsdCase,
  d: ReturnType<typeof ssdData>,
  state: import("../../runtime/backend.ts").Tensor,
) {
  const T = c.batch * c.L, HP = c.H * c.P, GN = c.G * c.N, W = HP + 2 * GN + c.H + 4;
  const xBC = be.upload(d.xBC, [T, HP + 2 * GN], "xBC");
  const zx = be.upload(d.zxbcdt, [T, W], "zxbcdt");
  return be.ssd({
    x: { tensor: xBC, col: 0, cols: HP },
    dt: { tensor: zx, col: HP + 2 * GN + 2, cols: c.H },
    dtBias: be.upload(d.dtBias, [c.H], "dt_bias"),
    A: be.upload(d.A, [c.H], "A"),
    B: { tensor: xBC, col: HP, cols: GN },
    C: { tensor: xBC, col: HP + GN, cols: GN },
    D: be.upload(d.Dv, [c.H], "D"),
    state,
    batch: c.batch,
    seqLen: c.L,
    nHeads: c.H,
    headDim: c.P,
    nGroups: c.G,
    dState: c.N,
    chunkSize: c.Q,
    dtMin: c.dtMin,
    dtMax: c.dtMax,
  });
}

function ssdReference(c: SsdCase, d: ReturnType<typeof ssdData>, s0: Float32Array) {
  const T = c.batch * c.L, HP = c.H * c.P, GN = c.G * c.N, W = HP + 2 * GN + c.H + 4;
  return ssdRef(
    cols(d.xBC, T, HP + 2 * GN, 0, HP),
    cols(d.zxbcdt, T, W, HP + 2 * GN + 2, c.H),
    d.dtBias,
    d.A,
    cols(d.xBC, T, HP + 2 * GN, HP, GN),
    cols(d.xBC, T, HP + 2 * GN, HP + GN, GN),
    d.Dv,
    s0,
    { batch: c.batch, L: c.L, H: c.H, P: c.P, G: c.G, N: c.N, dtMin: c.dtMin, dtMax: c.dtMax },
  );
}

const SSD_CASES: SsdCase[] = [
  { batch: 2, L: 1, H: 4, P: 5, G: 2, N: 13, Q: 8, dtMin: 0, dtMax: Infinity },
  { batch: 2, L: 5, H: 4, P: 5, G: 2, N: 13, Q: 8, dtMin: 0, dtMax: Infinity },
  { batch: 2, L: 37, H: 4, P: 5, G: 2, N: 13, Q: 8, dtMin: 0, dtMax: Infinity },
  { batch: 1, L: 37, H: 6, P: 3, G: 3, N: 7, Q: 16, dtMin: 0.01, dtMax: 0.5 },
  { batch: 3, L: 16, H: 2, P: 4, G: 1, N: 16, Q: 16, dtMin: 0, dtMax: Infinity },
  // Tiled kernels: partial l / s / p / n tiles, several chunks, the last shorter, groups > 1.
  { batch: 2, L: 150, H: 4, P: 16, G: 2, N: 32, Q: 64, dtMin: 0, dtMax: Infinity },
  // More than one 64-wide tile along l, s, p and n, a chunk longer than the scan workgroup, L = 1 chunk + 1.
  { batch: 1, L: 301, H: 2, P: 70, G: 1, N: 67, Q: 300, dtMin: 0.001, dtMax: 0.2 },
];

for (const c of SSD_CASES) {
  gpuTest(
    `ssd batch ${c.batch}, L=${c.L}, H=${c.H}, P=${c.P}, G=${c.G}, N=${c.N}, Q=${c.Q}, Δ∈[${c.dtMin}, ${c.dtMax}]`,
    async (be) => {
      const d = ssdData(c, c.L + c.H);
      const s0 = rand(c.batch * c.H * c.P * c.N, 60);
      const state = be.upload(s0, [c.batch, c.H, c.P, c.N], "state");
      const y = runSsd(be, c, d, state);
      const ref = ssdReference(c, d, s0);
      assertClose(await be.read(y), ref.out, "ssd y");
      assertClose(await be.read(state), ref.state, "ssd state");
    },
  );
}

gpuTest("ssd: prefill 37 then 3 decode steps equals one run of 40", async (be) => {
  const base: SsdCase = { batch: 2, L: 40, H: 4, P: 5, G: 2, N: 13, Q: 8, dtMin: 0, dtMax: Infinity };
  const full = ssdData(base, 9);
  const s0 = rand(base.batch * base.H * base.P * base.N, 61);
  const ref = ssdReference(base, full, s0);
  const slice = (a: Float32Array, w: number, t0: number, t1: number) => {
    const out = new Float32Array(base.batch * (t1 - t0) * w);
    for (let b = 0; b < base.batch; b++) {
      out.set(a.subarray((b * base.L + t0) * w, (b * base.L + t1) * w), b * (t1 - t0) * w);
    }
    return out;
  };
  const HP = base.H * base.P, GN = base.G * base.N;
  const part = (t0: number, t1: number) => ({
    ...full,
    xBC: slice(full.xBC, HP + 2 * GN, t0, t1),
    zxbcdt: slice(full.zxbcdt, HP + 2 * GN + base.H + 4, t0, t1),
  });
  const state = be.upload(s0, [base.batch, base.H, base.P, base.N], "state");
  const ys = [await be.read(runSsd(be, { ...base, L: 37 }, part(0, 37), state))];
  for (let t = 37; t < 40; t++) ys.push(await be.read(runSsd(be, { ...base, L: 1 }, part(t, t + 1), state)));
  const got = new Float32Array(base.batch * 40 * HP);
  for (let b = 0; b < base.batch; b++) {
    got.set(ys[0].subarray(b * 37 * HP, (b + 1) * 37 * HP), b * 40 * HP);
    for (let t = 37; t < 40; t++) got.set(ys[t - 36].subarray(b * HP, (b + 1) * HP), (b * 40 + t) * HP);
  }
  assertClose(got, ref.out, "decode vs reference y");
  assertClose(await be.read(state), ref.state, "decode vs reference state");
});
