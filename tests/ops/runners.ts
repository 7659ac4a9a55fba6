/**
 * How each op case of tests/ops/cases.ts runs on a backend: build the inputs (views into wider NaN-padded tensors
 * where the op takes views), call the op, read back and compare with the float64 reference of tests/ops/reference.ts.
 *
 * @module
 */
import assert from "node:assert/strict";
import {
  type Backend,
  type Matrix,
  type QuantizedMatrixData,
  type SsdArgs,
  type Tensor,
  view,
} from "../../runtime/backend.ts";
import { assertClose } from "../_assert.ts";
import type { OpBackend } from "./backends.ts";
import {
  type ArgmaxCase,
  type Conv1dCase,
  type DataCase,
  type EmbedCase,
  type EmbedFromCase,
  type ErrorCase,
  EXACT,
  F32,
  type GatedNormCase,
  type GatherCase,
  type LinearCase,
  type OpCase,
  type QuantEmbedCase,
  type QuantLinearCase,
  type RowCase,
  type ScanCase,
  type SsdCase,
  type Tol,
} from "./cases.ts";
import {
  bitsToIds,
  f16Rounded,
  idBits,
  joinSegments,
  type Padding,
  quantWeights,
  rand,
  sideBySide,
  tokens,
} from "./data.ts";
import {
  addRef,
  argmaxRef,
  conv1dRef,
  embedRef,
  gatedRmsNormRef,
  linearRef,
  rmsNormRef,
  selectiveScanRef,
  ssdRef,
} from "./reference.ts";

/** What a runner knows besides the case: the configuration and the test's name (for messages). */
interface Ctx {
  cfg: OpBackend;
  tag: string;
}

function close(got: ArrayLike<number>, want: ArrayLike<number>, what: string, tol: Tol): void {
  assertClose(got, want, what, tol.rel, tol.abs);
}

/** The weights a matrix op computes with on this configuration (f16-rounded with f16 storage). */
function stored(cfg: OpBackend, w: Float32Array): Float32Array {
  return cfg.f16Weights ? f16Rounded(w) : w;
}

const MATRIX_OPS = new Set(["linear", "embed", "embedFrom"]);

// Column paddings of the views (NaN columns around the data).
const X_VIEW: Padding = { left: 3, right: 5 }; // odd column offset and row stride
const X_ALIGNED: Padding = { left: 4, right: 8 }; // offset and stride multiples of 4 when K is
const CONV_X: Padding = { left: 5, right: 2 };
const SCAN_XZ: Padding = { left: 1, right: 2 };
const SCAN_BC: Padding = { left: 3, right: 0 }; // x_proj's δ columns in front; C ends the row
const SSD_XBC: Padding = { left: 1, right: 2 };
const Z_VIEW: Padding = { left: 7, right: 30 };
/** dt sits right of z | xBC in in_proj's output, with a few more columns after it. */
const ssdDtPad = (c: SsdCase): Padding => ({ left: c.H * c.P + 2 * c.G * c.N + 2, right: 4 });

const sum = (a: number[]) => a.reduce((x, y) => x + y, 0);
const width = (p: Padding, cols: number) => p.left + cols + p.right;

/**
 * Largest buffer one kernel binds whole, in bytes, for the ops that do not split their operands; linear and embed
 * split matrices and rows, so only a row has to fit. Cases over the limit do not run under a lowered one.
 */
function fitsBinding(c: OpCase, limit: number): boolean {
  const f = 4;
  const align = 256; // WebGPU's usual minStorageBufferOffsetAlignment: linear's row ranges start aligned down
  if ("error" in c) return true;
  switch (c.op) {
    case "data":
      return true;
    case "embed":
      return c.d * f <= limit && c.ids.length * c.d * f <= limit;
    case "embedFrom":
      return c.d * f <= limit && Math.max(c.count * c.d, c.ids.length) * f <= limit;
    case "argmaxInto":
      return c.rows * c.cols * f <= limit;
    case "rmsNorm":
    case "add":
      return c.T * c.d * f <= limit;
    case "linear": {
      // One x row and one y row must fit. Each bound block of rows runs once per matrix part: cases needing more
      // than 500 such dispatches take seconds on a software adapter and test nothing the smaller ones do not.
      const rowBytes = Math.max(width(X_ALIGNED, c.K), c.N) * f;
      if (rowBytes + align > limit || c.K * f > limit || c.N * f > limit) return false;
      const blocks = c.M * rowBytes <= limit ? 1 : Math.ceil(c.M / Math.floor((limit - align) / rowBytes));
      const parts = Math.ceil(c.N / Math.floor(limit / (c.K * f)));
      return blocks * parts <= 500;
    }
    case "gatherRows":
      return c.R * c.cols * f <= limit;
    case "conv1d": {
      const T = c.batch * sum(c.segments);
      return T * Math.max(width(CONV_X, c.C), c.batch * c.C * (c.K - 1)) * f <= limit;
    }
    case "selectiveScan": {
      const T = c.batch * sum(c.segments);
      return Math.max(T * width(SCAN_XZ, 2 * c.D), T * width(SCAN_BC, 2 * c.N), c.batch * c.D * c.N) * f <= limit;
    }
    case "ssd": {
      const T = c.batch * sum(c.segments), GN = c.G * c.N;
      const widest = Math.max(width(SSD_XBC, c.H * c.P + 2 * GN), width(ssdDtPad(c), c.H));
      return Math.max(T * widest, c.batch * c.H * c.P * c.N) * f <= limit;
    }
    case "gatedRmsNorm":
      return c.T * width(Z_VIEW, c.D) * f <= limit;
  }
}

/** Whether a case runs on a configuration (f16 storage: matrix ops only; a lowered binding limit: cases that fit). */
export function runsOn(c: OpCase, cfg: OpBackend): boolean {
  if (cfg.matricesOnly && ("error" in c || !MATRIX_OPS.has(c.op))) return false;
  return cfg.maxBindingSize === null || fitsBinding(c, cfg.maxBindingSize);
}

/** Run one case on a fresh backend of the configuration. */
export async function runCase(be: Backend, c: OpCase, cfg: OpBackend, tag: string): Promise<void> {
  const ctx: Ctx = { cfg, tag };
  if ("error" in c) return await runError(be, c, ctx);
  if ("quant" in c) return c.op === "linear" ? await runQuantLinear(be, c, ctx) : await runQuantEmbed(be, c, ctx);
  switch (c.op) {
    case "data":
      return await runData(be, c, ctx);
    case "embed":
      return await runEmbed(be, c, ctx);
    case "argmaxInto":
      return await runArgmax(be, c);
    case "embedFrom":
      return await runEmbedFrom(be, c, ctx);
    case "rmsNorm":
    case "add":
      return await runRows(be, c, ctx);
    case "linear":
      return await runLinear(be, c, ctx);
    case "gatherRows":
      return await runGather(be, c, ctx);
    case "conv1d":
      return await runConv1d(be, c, ctx);
    case "selectiveScan":
      return await runScan(be, c, ctx);
    case "ssd":
      return await runSsd(be, c, ctx);
    case "gatedRmsNorm":
      return await runGatedNorm(be, c, ctx);
  }
}

// ---- errors -------------------------------------------------------------------------------------------------

/** A RangeError (argument checks: runtime/op_checks.ts, shared by every backend) whose message names `name`. */
function namedError(name: string, what: string): (e: unknown) => boolean {
  return (e) => {
    assert.ok(e instanceof RangeError, `${what}: threw ${String(e)}, not a RangeError`);
    assert.ok(e.message.includes(name), `${what}: message "${e.message}" does not name ${name}`);
    return true;
  };
}

/** An Error whose message names `name` (handle errors: any Error type). */
function mentions(name: string, what: string): (e: unknown) => boolean {
  return (e) => {
    assert.ok(e instanceof Error && e.message.includes(name), `${what}: ${String(e)} does not name ${name}`);
    return true;
  };
}

async function runError(be: Backend, c: ErrorCase, { tag }: Ctx): Promise<void> {
  if ((c.op === "argmaxInto" && !be.argmaxInto) || (c.op === "embedFrom" && !be.embedFrom)) return;
  let thrown: unknown = undefined, threw = false;
  try {
    await c.call(be);
  } catch (e) {
    thrown = e;
    threw = true;
  }
  assert.ok(threw, `${tag}: no error`);
  namedError(c.op, tag)(thrown);
  assert.match((thrown as Error).message, new RegExp(`(^|[^A-Za-z])${c.op}([^A-Za-z]|$)`), `${tag}: names the op`);
}

// ---- data movement ------------------------------------------------------------------------------------------

async function runData(be: Backend, c: DataCase, { cfg, tag }: Ctx): Promise<void> {
  const live = () => be.memory().liveBytes, peak = () => be.memory().peakBytes;
  const base = live();
  switch (c.check) {
    case "roundtrip": {
      const data = rand(35, 1), v = rand(13, 2);
      const a = be.upload(data, [5, 7], "a"), b = be.upload(v, [13], "b");
      assert.deepEqual([a.shape, a.size, a.label], [[5, 7], 35, "a"]);
      assert.deepEqual([b.shape, b.size], [[13], 13]);
      assert.deepEqual(await be.read(a), data);
      assert.deepEqual(await be.read(b), v);
      const z = be.zeros([3, 3], "z");
      assert.deepEqual([z.shape, z.size, z.label], [[3, 3], 9, "z"]);
      assert.deepEqual(await be.read(z), new Float32Array(9));
      const cp = be.copy(a, "c");
      assert.deepEqual([cp.shape, cp.label], [[5, 7], "c"]);
      be.fill0(a); // after the copy was recorded: the copy keeps the data
      assert.deepEqual(await be.read(a), new Float32Array(35));
      assert.deepEqual(await be.read(cp), data);
      const held = live() - base, bytes = (35 + 13 + 9 + 35) * 4;
      if (cfg.exactMemory) assert.equal(held, bytes, `${tag}: live bytes`);
      else assert.ok(held >= bytes, `${tag}: ${held} live bytes < ${bytes}`);
      if (cfg.exactMemory) assert.equal(peak(), live(), `${tag}: peak after only allocations`);
      else assert.ok(peak() >= live());
      const before = live(), highest = peak();
      be.free(a);
      if (cfg.exactMemory) assert.equal(live(), before - 35 * 4);
      else assert.ok(live() <= before - 35 * 4);
      assert.equal(peak(), highest, "freeing keeps the peak");
      be.resetPeak();
      assert.equal(peak(), live(), "resetPeak restarts from the live bytes");
      for (const t of [b, z, cp]) be.free(t);
      assert.equal(live(), base, `${tag}: everything freed`);
      await be.sync();
      return;
    }
    case "pooled zeros": {
      const x = be.upload(rand(15, 2), [3, 5], "x");
      const y = be.add(x, x); // recorded before fill0: sees the data
      be.fill0(x);
      close(await be.read(y), Array.from(rand(15, 2), (v) => 2 * v), `${tag}: op before fill0`, EXACT);
      assert.deepEqual(await be.read(x), new Float32Array(15));
      const old = be.upload(rand(15, 3), [3, 5], "old");
      be.free(old);
      assert.deepEqual(await be.read(be.zeros([3, 5], "z")), new Float32Array(15), "zeros reusing a freed buffer");
      return;
    }
    case "handles": {
      const a = be.upload(rand(6, 1), [2, 3], "freed_tensor");
      be.free(a);
      await assert.rejects(async () => await be.read(a), mentions("freed_tensor", tag));
      assert.throws(() => be.free(a), mentions("freed_tensor", tag));
      const alien: Tensor = { shape: [2, 3], size: 6, label: "alien_tensor" };
      const z = be.zeros([2, 3], "z");
      assert.throws(() => be.add(z, alien), mentions("alien_tensor", tag));
      const m = be.uploadMatrix(rand(6, 2), 2, 3, "freed_matrix");
      be.free(m);
      assert.throws(() => be.linear(z, m), mentions("freed_matrix", tag));
      be.free(z);
      assert.equal(live(), base);
      return;
    }
    case "growth": {
      const small = rand(1000, 3), W = rand(100 * 21, 4);
      const a = be.upload(small, [10, 100], "a");
      const big = be.zeros([5_000_000], "big"); // 20 MB: beyond the WASM heap's initial 16 MiB
      const w = be.uploadMatrix(W, 21, 100, "W");
      assert.deepEqual(await be.read(a), small);
      close(await be.read(be.linear(a, w)), linearRef(small, stored(cfg, W), null, 10, 21, 100), tag, F32);
      be.free(big);
      // Freed space is reused, so a second big tensor does not raise the peak by another 20 MB.
      const highest = peak();
      const big2 = be.zeros([5_000_000], "big2");
      assert.equal(peak(), highest, `${tag}: peak after reusing the space`);
      be.free(big2);
      return;
    }
    case "zero-size": {
      const x = be.zeros([0, 5], "x0");
      assert.deepEqual([x.shape, x.size], [[0, 5], 0]);
      assert.equal((await be.read(x)).length, 0);
      const y = be.linear(x, be.uploadMatrix(rand(15, 1), 3, 5, "W"));
      assert.deepEqual(y.shape, [0, 3]);
      assert.equal((await be.read(y)).length, 0);
      const e = be.embed(new Int32Array(0), be.uploadMatrix(rand(4, 1), 2, 2, "E"));
      assert.equal(e.size, 0);
      const g = be.gatherRows(be.upload(rand(15, 2), [3, 5], "r"), new Int32Array(0));
      assert.deepEqual([g.shape, g.size], [[0, 5], 0]);
      return;
    }
    case "dispose": {
      const t = be.upload(rand(4, 1), [4], "t");
      be.dispose();
      assert.throws(() => be.zeros([1], "z"), /dispose/);
      await assert.rejects(async () => await be.read(t), /freed|dispose/);
      be.dispose(); // twice is harmless
      return;
    }
  }
}

// ---- embeddings and greedy decoding -------------------------------------------------------------------------

async function runEmbed(be: Backend, c: EmbedCase, { cfg, tag }: Ctx): Promise<void> {
  const table = rand(c.vocab * c.d, c.vocab + c.d);
  const m = be.uploadMatrix(table, c.vocab, c.d, "embeddings");
  const e = be.embed(Int32Array.from(c.ids), m);
  assert.deepEqual(e.shape, [c.ids.length, c.d]);
  close(await be.read(e), embedRef(c.ids, stored(cfg, table), c.d), tag, EXACT);
}

async function runArgmax(be: Backend, c: ArgmaxCase): Promise<void> {
  if (!be.argmaxInto) return; // optional op
  const x = rand(c.rows * c.cols, c.rows + c.cols, -4, 4);
  c.fill?.(x, c.rows, c.cols);
  const before = Array.from({ length: c.idsSize }, (_, i) => 100 + i);
  const ids = be.upload(idBits(before), [c.idsSize], "ids");
  be.argmaxInto(be.upload(x, [c.rows, c.cols], "logits"), ids, c.offset, c.candidates);
  const want = before.slice();
  want.splice(c.offset, c.rows, ...argmaxRef(x, c.rows, c.cols, c.candidates));
  assert.deepEqual(bitsToIds(await be.read(ids)), want);
}

async function runEmbedFrom(be: Backend, c: EmbedFromCase, { cfg, tag }: Ctx): Promise<void> {
  if (!be.embedFrom) return; // optional op
  const table = rand(c.vocab * c.d, c.vocab + c.d + 1);
  const m = be.uploadMatrix(table, c.vocab, c.d, "embeddings");
  const e = be.embedFrom(be.upload(idBits(c.ids), [c.ids.length], "ids"), c.offset, c.count, m);
  assert.deepEqual(e.shape, [c.count, c.d]);
  const want = embedRef(c.ids.slice(c.offset, c.offset + c.count), stored(cfg, table), c.d);
  close(await be.read(e), want, tag, EXACT);
}

// ---- row-wise -----------------------------------------------------------------------------------------------

async function runRows(be: Backend, c: RowCase, { tag }: Ctx): Promise<void> {
  const x = rand(c.T * c.d, c.T + c.d, -c.scale, c.scale);
  const xt = be.upload(x, [c.T, c.d], "x");
  let y: Tensor, want: Float64Array;
  if (c.op === "rmsNorm") {
    const w = rand(c.d, c.d + 1);
    y = be.rmsNorm(xt, be.upload(w, [c.d], "weight"), c.eps);
    want = rmsNormRef(x, w, c.T, c.d, c.eps);
  } else {
    const b = rand(c.T * c.d, c.T + c.d + 2, -c.scale, c.scale);
    y = be.add(xt, be.upload(b, [c.T, c.d], "b"));
    want = addRef(x, b);
  }
  assert.deepEqual(y.shape, [c.T, c.d]);
  close(await be.read(y), want, tag, c.tol);
}

// ---- linear -------------------------------------------------------------------------------------------------

async function runLinear(be: Backend, c: LinearCase, { cfg, tag }: Ctx): Promise<void> {
  const { M, K, N } = c;
  const x = rand(M * K, M + N), W = rand(N * K, K), bias = rand(N, N + 1);
  const before = be.memory().liveBytes;
  const w = be.uploadMatrix(W, N, K, "W");
  const held = be.memory().liveBytes - before;
  if (!cfg.f16Weights) assert.ok(held >= N * K * 4, `${tag}: an f32 matrix holds ${held} B < ${N * K * 4}`);
  else if (cfg.maxBindingSize === null) {
    const half = N * Math.ceil(K / 2) * 4; // pairs of halves, rows padded to an even length
    assert.ok(held >= half && held < half + 16, `${tag}: f16 matrix holds ${held} B, not ≈ ${half}`);
  }
  const Wq = stored(cfg, W);
  const b = be.upload(bias, [N], "bias");
  const withBias = linearRef(x, Wq, bias, M, N, K);

  const xv = sideBySide(be, M, [x], "x.view", X_VIEW).views[0];
  const y1 = be.linear(xv, w, b);
  assert.deepEqual(y1.shape, [M, N]);
  const got = await be.read(y1);
  close(got, withBias, `${tag}: view, bias`, c.tol);
  const xa = sideBySide(be, M, [x], "x.aligned", X_ALIGNED).views[0];
  close(await be.read(be.linear(xa, w, b)), withBias, `${tag}: aligned view, bias`, c.tol);
  const y3 = be.linear(be.upload(x, [M, K], "x"), w);
  assert.deepEqual(y3.shape, [M, N]);
  close(await be.read(y3), linearRef(x, Wq, null, M, N, K), `${tag}: dense, no bias`, c.tol);
  if (cfg.f16Weights) {
    // Not the f32 product: the rounding is visible (so f32 storage would fail here).
    const f32 = linearRef(x, W, bias, M, N, K);
    assert.ok(got.some((v, i) => Math.abs(v - f32[i]) > 1e-6), `${tag}: f16 result equals the f32 product`);
  }
}

// ---- block-quantized weights --------------------------------------------------------------------------------

/**
 * Upload a quantized matrix: the bytes it holds are at least its blocks' (with exact accounting, at most 64 more).
 */
function uploadQuant(be: Backend, data: QuantizedMatrixData, { cfg, tag }: Ctx, label: string): Matrix {
  assert.ok(be.uploadQuantizedMatrix, `${tag}: capabilities list ${data.format} but uploadQuantizedMatrix is absent`);
  const before = be.memory().liveBytes;
  const w = be.uploadQuantizedMatrix(data, label);
  assert.deepEqual([w.n, w.k, w.label], [data.n, data.k, label]);
  const held = be.memory().liveBytes - before, bytes = data.blocks.byteLength;
  assert.ok(held >= bytes, `${tag}: a ${data.format} matrix holds ${held} B < its ${bytes} B of blocks`);
  if (cfg.exactMemory) assert.ok(held <= bytes + 64, `${tag}: a ${data.format} matrix holds ${held} B ≫ ${bytes}`);
  return w;
}

async function runQuantLinear(be: Backend, c: QuantLinearCase, ctx: Ctx): Promise<void> {
  const { M, K, N } = c, tag = ctx.tag;
  const x = rand(M * K, M + N, -2, 2), bias = rand(N, N + 1);
  const { data, values } = quantWeights(c.quant, N, K, K + N);
  const base = be.memory().liveBytes;
  const w = uploadQuant(be, data, ctx, "Wq");
  const b = be.upload(bias, [N], "bias");
  const withBias = linearRef(x, values, bias, M, N, K);
  const noBias = linearRef(x, values, null, M, N, K);
  // The exact kernels: f32 rounding of the product with the dequantized weights. The integer paths: within the
  // bound their 16- or 8-bit activation codes allow (quantIntBound).
  const levels = ctx.cfg.quantLevels;
  const check = (got: Float32Array, want: Float64Array, withB: boolean, what: string) =>
    levels !== null
      ? assertWithin(got, want, quantIntBound(x, values, withB ? bias : null, M, N, K, levels), what)
      : close(got, want, what, c.tol);
  const xv = sideBySide(be, M, [x], "x.view", X_VIEW);
  const y1 = be.linear(xv.views[0], w, b);
  assert.deepEqual(y1.shape, [M, N]);
  check(await be.read(y1), withBias, true, `${tag}: view, bias`);
  const xa = sideBySide(be, M, [x], "x.aligned", X_ALIGNED);
  const y2 = be.linear(xa.views[0], w, b);
  check(await be.read(y2), withBias, true, `${tag}: aligned view, bias`);
  const xd = be.upload(x, [M, K], "x");
  const y3 = be.linear(xd, w);
  assert.deepEqual(y3.shape, [M, N]);
  check(await be.read(y3), noBias, false, `${tag}: dense, no bias`);
  for (const t of [w, b, xv.tensor, xa.tensor, xd, y1, y2, y3]) be.free(t);
  await be.sync();
  if (ctx.cfg.exactMemory) assert.equal(be.memory().liveBytes, base, `${tag}: everything freed`);
}

/**
 * The error bound of the integer paths (wasm/assembly/quant_linear.ts) per output of x [T, k] · W [n, k]ᵀ (+ bias),
 * W the dequantized weights, activation codes in ±L (L = 32767: 16-bit; 127: 8-bit). Activations are quantized per
 * block of 32 with dx = fl(max|x_block| / L) ≤ max|x_block| / L · (1 + 2^−24), and qx = nearest(fl(x·fl(1/dx))): the
 * two roundings put fl(x·fl(1/dx)) within |x/dx|·2^−23·(1 + 2^−24) ≤ L·2^−23·(1 + 2^−22) of x/dx (< 2^−8 for L =
 * 32767, < 2^−15 for 127), so |x − dx·qx| ≤ dx·(1/2 + e) with e = 2^−8 or 2^−15 (half an LSB per block, plus that):
 * the quantization moves an output by at most Σ_blocks dx·(1/2 + e)·Σ|w_block|. The f32 arithmetic after the exact
 * integer sums — per block 3 roundings (conversion, fl(dw·dx), the product), then nb − 1 additions and the bias —
 * adds at most (nb + 4)·2^−24 · (Σ_blocks |dw·dx·Σ qw·qx| + |bias|), where |dx·qx| ≤ |x| + 0.51·dx.
 */
function quantIntBound(
  x: Float32Array,
  W: Float32Array,
  bias: Float32Array | null,
  T: number,
  n: number,
  k: number,
  levels: 32767 | 127,
) {
  const nb = k / 32, u = 2 ** -24, e = levels === 32767 ? 2 ** -8 : 2 ** -15;
  const bound = new Float64Array(T * n);
  for (let r = 0; r < T; r++) {
    const dx = new Float64Array(nb);
    for (let b = 0; b < nb; b++) {
      let m = 0;
      for (let i = 0; i < 32; i++) m = Math.max(m, Math.abs(x[r * k + b * 32 + i]));
      dx[b] = (m / levels) * (1 + u);
    }
    for (let j = 0; j < n; j++) {
      let q = 0, f = 0;
      for (let b = 0; b < nb; b++) {
        let sw = 0;
        for (let i = 0; i < 32; i++) {
          const wi = Math.abs(W[j * k + b * 32 + i]);
          sw += wi;
          f += wi * (Math.abs(x[r * k + b * 32 + i]) + 0.51 * dx[b]);
        }
        q += dx[b] * (0.5 + e) * sw;
      }
      bound[r * n + j] = q + (nb + 4) * u * (f + (bias ? Math.abs(bias[j]) : 0));
    }
  }
  return bound;
}

/** |got − want| ≤ bound elementwise, naming the first output outside it. */
function assertWithin(got: Float32Array, want: Float64Array, bound: Float64Array, what: string): void {
  assert.equal(got.length, want.length, `${what}: length`);
  for (let i = 0; i < got.length; i++) {
    const err = Math.abs(got[i] - want[i]);
    if (!(err <= bound[i])) {
      assert.fail(`${what}: [${i}] = ${got[i]}, want ${want[i]} ± ${bound[i]} (off by ${err})`);
    }
  }
}

async function runQuantEmbed(be: Backend, c: QuantEmbedCase, ctx: Ctx): Promise<void> {
  const { data, values } = quantWeights(c.quant, c.vocab, c.d, c.vocab + c.d);
  const m = uploadQuant(be, data, ctx, "embeddings");
  const e = be.embed(Int32Array.from(c.ids), m);
  assert.deepEqual(e.shape, [c.ids.length, c.d]);
  close(await be.read(e), embedRef(c.ids, values, c.d), ctx.tag, EXACT);
  if (!be.embedFrom) return; // optional op
  // The same rows through embedFrom: ids from offset 1 of a device tensor.
  const f = be.embedFrom(be.upload(idBits([0, ...c.ids]), [c.ids.length + 1], "ids"), 1, c.ids.length, m);
  assert.deepEqual(f.shape, [c.ids.length, c.d]);
  close(await be.read(f), embedRef(c.ids, values, c.d), `${ctx.tag}: embedFrom`, EXACT);
}

async function runGather(be: Backend, c: GatherCase, { tag }: Ctx): Promise<void> {
  const x = rand(c.R * c.cols, c.R + c.cols);
  const g = be.gatherRows(be.upload(x, [c.R, c.cols], "x"), Int32Array.from(c.rows));
  assert.deepEqual(g.shape, [c.rows.length, c.cols]);
  close(await be.read(g), embedRef(c.rows, x, c.cols), tag, EXACT);
}

// ---- conv1d -------------------------------------------------------------------------------------------------

async function runConv1d(be: Backend, c: Conv1dCase, { tag }: Ctx): Promise<void> {
  const { batch, C, K } = c, L = sum(c.segments);
  const x = rand(batch * L * C, K * 10 + L + C, -2, 2), w = rand(C * K, K), s0 = rand(batch * C * (K - 1), K + L);
  const bias = c.bias ? rand(C, K + 1) : null;
  const ref = conv1dRef(x, w, bias, s0, batch, L, C, K);
  const wt = be.upload(w, [C, K], "conv.weight"), bt = bias ? be.upload(bias, [C], "conv.bias") : null;
  const run = async (segments: number[]) => {
    const state = be.upload(s0, [batch, C, K - 1], "conv_state");
    const outs: Float32Array[] = [];
    let t0 = 0;
    for (const len of segments) {
      const xv = sideBySide(be, batch * len, [tokens(x, batch, L, C, t0, t0 + len)], "xBC", CONV_X).views[0];
      const out = be.conv1d(xv, wt, bt, state, batch, len);
      assert.deepEqual(out.shape, [batch * len, C]);
      outs.push(await be.read(out));
      t0 += len;
    }
    return { out: joinSegments(outs, segments, batch, C), state: await be.read(state) };
  };
  const whole = await run([L]);
  close(whole.out, ref.out, `${tag}: y`, F32);
  close(whole.state, ref.state, `${tag}: state`, EXACT);
  if (c.segments.length > 1) {
    // Each output sums the same K products whichever call it falls in: bit-identical to the single run.
    const steps = await run(c.segments);
    close(steps.out, whole.out, `${tag}: y over ${c.segments.join("+")} vs one run`, EXACT);
    close(steps.state, whole.state, `${tag}: state over ${c.segments.join("+")}`, EXACT);
  }
}

// ---- Mamba-1 selective scan ---------------------------------------------------------------------------------

async function runScan(be: Backend, c: ScanCase, { tag }: Ctx): Promise<void> {
  const { batch, D, N, seed } = c, L = sum(c.segments), T = batch * L;
  const u = rand(T * D, seed, -2, 2), delta = rand(T * D, seed + 1, -5, 3), z = rand(T * D, seed + 2, -3, 3);
  delta[3] = 25; // softplus above its threshold (20): Δ = 25 as is
  const B = rand(T * N, seed + 3), C = rand(T * N, seed + 4);
  const A = rand(D * N, seed + 5, -4, -0.05), Dv = rand(D, seed + 6), s0 = rand(batch * D * N, seed + 7);
  const ref = selectiveScanRef(u, delta, A, B, C, Dv, z, s0, batch, L, D, N);
  const At = be.upload(A, [D, N], "A"), Dt = be.upload(Dv, [D], "D");
  const run = async (segments: number[]) => {
    const state = be.upload(s0, [batch, D, N], "ssm_state");
    const outs: Float32Array[] = [];
    let t0 = 0;
    for (const len of segments) {
      const rows = batch * len, pick = (a: Float32Array, w: number) => tokens(a, batch, L, w, t0, t0 + len);
      const [uv, zv] = sideBySide(be, rows, [pick(u, D), pick(z, D)], "xz", SCAN_XZ).views;
      const [Bv, Cv] = sideBySide(be, rows, [pick(B, N), pick(C, N)], "x_dbl", SCAN_BC).views;
      const dv = view(be.upload(pick(delta, D), [rows, D], "dt")); // a whole dense tensor
      const y = be.selectiveScan({ u: uv, delta: dv, A: At, B: Bv, C: Cv, D: Dt, z: zv, state, batch, seqLen: len });
      assert.deepEqual(y.shape, [rows, D]);
      outs.push(await be.read(y));
      t0 += len;
    }
    return { out: joinSegments(outs, segments, batch, D), state: await be.read(state) };
  };
  for (const segments of c.segments.length > 1 ? [[L], c.segments] : [[L]]) {
    const got = await run(segments), how = segments.join("+");
    close(got.out, ref.out, `${tag}: y (${how})`, F32);
    close(got.state, ref.state, `${tag}: state (${how})`, F32);
  }
}

// ---- Mamba-2 SSD --------------------------------------------------------------------------------------------

async function runSsd(be: Backend, c: SsdCase, { tag }: Ctx): Promise<void> {
  const { batch, H, P, G, N, seed } = c, L = sum(c.segments), T = batch * L, HP = H * P, GN = G * N;
  const x = rand(T * HP, seed, -2, 2), dt = rand(T * H, seed + 1, -4, 2);
  const B = rand(T * GN, seed + 2), C = rand(T * GN, seed + 3);
  const dtBias = rand(H, seed + 4), A = rand(H, seed + 5, -1.6, 1.5).map((v) => -Math.exp(v));
  const Dv = rand(H, seed + 6);
  const s0 = c.zeroState ? new Float32Array(batch * H * P * N) : rand(batch * H * P * N, seed + 7);
  const shape = { batch, L, H, P, G, N, dtMin: c.dtMin, dtMax: c.dtMax };
  const ref = ssdRef(x, dt, dtBias, A, B, C, Dv, s0, shape);
  const params = {
    dtBias: be.upload(dtBias, [H], "dt_bias"),
    A: be.upload(A, [H], "A"),
    D: be.upload(Dv, [H], "D"),
  };
  const run = async (segments: number[]) => {
    const state = be.upload(s0, [batch, H, P, N], "ssm_state");
    const outs: Float32Array[] = [];
    let t0 = 0;
    for (const len of segments) {
      const rows = batch * len, pick = (a: Float32Array, w: number) => tokens(a, batch, L, w, t0, t0 + len);
      const [xv, Bv, Cv] = sideBySide(be, rows, [pick(x, HP), pick(B, GN), pick(C, GN)], "xBC", SSD_XBC).views;
      const [dv] = sideBySide(be, rows, [pick(dt, H)], "zxbcdt", ssdDtPad(c)).views;
      const args: SsdArgs = {
        x: xv,
        dt: dv,
        B: Bv,
        C: Cv,
        ...params,
        state,
        batch,
        seqLen: len,
        nHeads: H,
        headDim: P,
        nGroups: G,
        dState: N,
        chunkSize: c.Q,
        dtMin: c.dtMin,
        dtMax: c.dtMax,
      };
      const y = be.ssd(args);
      assert.deepEqual(y.shape, [rows, HP]);
      outs.push(await be.read(y));
      t0 += len;
    }
    return { out: joinSegments(outs, segments, batch, HP), state: await be.read(state) };
  };
  for (const segments of c.segments.length > 1 ? [[L], c.segments] : [[L]]) {
    const got = await run(segments), how = segments.join("+");
    close(got.out, ref.out, `${tag}: y (${how})`, F32);
    close(got.state, ref.state, `${tag}: state (${how})`, F32);
  }
}

// ---- gated RMSNorm ------------------------------------------------------------------------------------------

async function runGatedNorm(be: Backend, c: GatedNormCase, { tag }: Ctx): Promise<void> {
  const { T, D } = c;
  const y = rand(T * D, D, -2, 2), z = rand(T * D, D + 1, -4, 4), w = rand(D, D + 2);
  const zv = sideBySide(be, T, [z], "zxbcdt", Z_VIEW).views[0];
  const out = be.gatedRmsNorm(be.upload(y, [T, D], "y"), zv, be.upload(w, [D], "norm.weight"), c.group, c.eps);
  assert.deepEqual(out.shape, [T, D]);
  close(await be.read(out), gatedRmsNormRef(y, z, w, T, D, c.group, c.eps), tag, F32);
}
