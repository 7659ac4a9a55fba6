/** Analytic FLOPs against hand counts on tiny shapes. */
import assert from "node:assert/strict";
import type { ComponentBytes } from "../../runtime/cost.ts";
import {
  COMPONENTS,
  componentStateBytes,
  componentWeightBytes,
  forwardBytes,
  forwardFlops,
  total,
} from "../../runtime/cost.ts";
import type { MambaConfig } from "../../runtime/config.ts";
import type { Component } from "../../runtime/model.ts";
import { makeConfig } from "../../runtime/presets.ts";
import { syntheticWeights } from "../../runtime/synthetic.ts";
import type { HostTensor } from "../../runtime/weights.ts";

Deno.test("Mamba-1 FLOPs per component equal a hand count (d 4, D 8, N 2, R 1, K 4, V 10, 1 layer)", () => {
  const c = makeConfig("mamba1", { dModel: 4, nLayer: 1, vocabSize: 10, dState: 2, dConv: 4 });
  assert.equal(c.dtRank, 1);
  const f = forwardFlops(c, 2, 3); // T = 6
  assert.equal(f.norm, 4 * 6 * 4); // 96
  assert.equal(f.in_proj, 2 * 6 * 4 * 16); // 768
  assert.equal(f.conv1d, 2 * 6 * 8 * 4 + 4 * 6 * 8); // 576
  assert.equal(f.x_proj, 2 * 6 * 8 * 5); // 480
  assert.equal(f.dt_proj, 2 * 6 * 1 * 8); // 96
  assert.equal(f.ssm, 7 * 6 * 8 * 2 + 9 * 6 * 8); // 1104
  assert.equal(f.out_proj, 2 * 6 * 8 * 4); // 384
  assert.equal(f.residual, 24);
  assert.equal(f.lm_head, 2 * 6 * 4 * 10);
  assert.equal(f.gate_norm, 0);
  // Only the last position's logits: lm_head and norm_f on 2 rows.
  const last = forwardFlops(c, 2, 3, 2);
  assert.equal(last.lm_head, 2 * 2 * 4 * 10);
  assert.equal(last.norm_f, 4 * 2 * 4);
  assert.equal(total(f) - total(last), (6 - 2) * (2 * 4 * 10 + 4 * 4));
});

Deno.test("Falcon-Mamba bcdt_norm: FLOPs and bytes by hand (R 1, N 2, T 6, 1 layer); plain Mamba-1 has none", () => {
  const c = {
    ...makeConfig("mamba1", { dModel: 4, nLayer: 1, vocabSize: 10, dState: 2, dConv: 4 }),
    bcdtNormEps: 1e-6,
  };
  const f = forwardFlops(c, 2, 3); // T = 6; norms over δ (1), B (2), C (2): 5 values a row, 4 FLOPs each
  assert.equal(f.bcdt_norm, 4 * 6 * 5); // 120
  assert.equal(f.x_proj, 2 * 6 * 8 * 5); // unchanged: the split x_proj does the same work
  const b = forwardBytes(c, 2, 3);
  assert.deepEqual(b.bcdt_norm, { weights: 0, activations: 2 * 6 * 5 * 4, state: 0 }); // 240: read + write, f32
  const plain = makeConfig("mamba1", { dModel: 4, nLayer: 1, vocabSize: 10, dState: 2, dConv: 4 });
  assert.equal(forwardFlops(plain, 2, 3).bcdt_norm, 0);
});

Deno.test("Mamba-2 FLOPs: chunked SSD for prefill, recurrence for decode (d 8, H 2, P 8, G 1, N 4, Q 4)", () => {
  const c = makeConfig("mamba2", { dModel: 8, nLayer: 2, vocabSize: 10, dState: 4, headDim: 8, chunkSize: 4 });
  assert.equal(c.nHeads, 2);
  const f = forwardFlops(c, 1, 8); // T = 8, D = 16, conv channels 16 + 8 = 24, in_proj rows 32 + 8 + 2 = 42
  assert.equal(f.in_proj, 2 * 2 * 8 * 8 * 42);
  assert.equal(f.conv1d, 2 * (2 * 8 * 24 * 4 + 4 * 8 * 24));
  // per token: CBᵀ 2·4·4·1 = 32, intra-chunk 2·4·8·2 = 128, states + output 4·4·8·2 = 256, passing 2·4·8·2/4 = 32,
  // softplus/exp 8, D skip 32 → 488 per token per layer.
  assert.equal(f.ssm, 2 * 8 * 488);
  assert.equal(f.gate_norm, 2 * 8 * 8 * 16);
  const d = forwardFlops(c, 3, 1); // decode: 5·H·P·N + 2·H·P + 4·H = 320 + 32 + 8 per token
  assert.equal(d.ssm, 2 * 3 * 360);
});

// ---------------------------------------------------------------------------------------------------------------
// Hand counts of every component, FLOPs and bytes, for both architectures (the conventions of runtime/cost.ts:
// one multiply-add = 2 FLOPs; bytes = weights once per pass, matrices at `matrixBytes`, vectors / activations /
// state f32, activations and state read and written once). Every expected value is written out per component
// as "layers × (per-layer sum)" with the value in a comment.
// ---------------------------------------------------------------------------------------------------------------

/**
 * Mamba-1: d 4, D = 2·4 = 8, N 2, K 3, R = ⌈4/16⌉ = 1, V 10, 2 layers. makeConfig defaults: no in/out_proj
 * bias, conv bias, tied lm_head.
 */
function m1(over: Partial<MambaConfig> = {}): MambaConfig {
  return { ...makeConfig("mamba1", { dModel: 4, nLayer: 2, vocabSize: 10, dState: 2, dConv: 3 }), ...over };
}

/**
 * Mamba-2: d 8, D = 2·8 = 16, P 4, H = 16/4 = 4, G 2, N 3, K 4, Q 4, V 10, 2 layers. in_proj outputs
 * 2·16 + 2·2·3 + 4 = 48; conv channels 16 + 2·2·3 = 28.
 */
function m2(over: Partial<MambaConfig> = {}): MambaConfig {
  return {
    ...makeConfig("mamba2", {
      dModel: 8,
      nLayer: 2,
      vocabSize: 10,
      dState: 3,
      headDim: 4,
      nGroups: 2,
      chunkSize: 4,
      dConv: 4,
    }),
    ...over,
  };
}

const NONE: ComponentBytes = { weights: 0, activations: 0, state: 0 };

/** The components whose bytes/FLOPs differ between two records. */
function changed<T>(a: Record<Component, T>, b: Record<Component, T>): Component[] {
  return COMPONENTS.filter((c) => JSON.stringify(a[c]) !== JSON.stringify(b[c]));
}

Deno.test("tiny configs have the shapes the hand counts assume", () => {
  const a = m1();
  assert.deepEqual(
    [a.dModel, a.dInner, a.dState, a.dConv, a.dtRank, a.vocabSize, a.nLayer],
    [4, 8, 2, 3, 1, 10, 2],
  );
  assert.deepEqual([a.useBias, a.useConvBias, a.tieEmbeddings], [false, true, true]);
  const b = m2();
  assert.deepEqual(
    [b.dModel, b.dInner, b.headDim, b.nHeads, b.nGroups, b.dState, b.dConv, b.chunkSize, b.vocabSize, b.nLayer],
    [8, 16, 4, 4, 2, 3, 4, 4, 10, 2],
  );
  assert.deepEqual([b.useBias, b.useConvBias, b.tieEmbeddings], [false, true, true]);
});

// ----- FLOPs -----------------------------------------------------------------------------------------------------

Deno.test("Mamba-1 prefill FLOPs, every component, last-position and all-position logits (batch 2 × 3, T 6)", () => {
  const c = m1();
  const body = {
    embedding: 0, // a gather
    norm: 2 * (4 * 6 * 4), // 2 layers × 96 = 192
    in_proj: 2 * (2 * 6 * 4 * 16), // 2 × 768 = 1536
    conv1d: 2 * (2 * 6 * 8 * 3 + 4 * 6 * 8), // 2 × (288 + 192) = 960
    x_proj: 2 * (2 * 6 * 8 * (1 + 2 * 2)), // 2 × 480 = 960
    bcdt_norm: 0, // Falcon-Mamba only
    dt_proj: 2 * (2 * 6 * 1 * 8), // 2 × 96 = 192
    ssm: 2 * (7 * 6 * 8 * 2 + 9 * 6 * 8), // 2 × (672 + 432) = 2208
    gate_norm: 0, // Mamba-2 only
    out_proj: 2 * (2 * 6 * 8 * 4), // 2 × 384 = 768
    residual: 2 * (6 * 4), // 48
  };
  // logitRows = batch: norm_f and lm_head on 2 rows.
  const last = forwardFlops(c, 2, 3, 2);
  assert.deepEqual(last, {
    ...body,
    norm_f: 4 * 2 * 4, // 32
    lm_head: 2 * 2 * 4 * 10, // 160
  });
  assert.equal(total(last), 192 + 1536 + 960 + 960 + 192 + 2208 + 768 + 48 + 32 + 160); // 7056
  // logitRows = all 6 rows (also the default).
  const all = {
    ...body,
    norm_f: 4 * 6 * 4, // 96
    lm_head: 2 * 6 * 4 * 10, // 480
  };
  assert.deepEqual(forwardFlops(c, 2, 3, 6), all);
  assert.deepEqual(forwardFlops(c, 2, 3), all);
});

Deno.test("Mamba-1 decode FLOPs, every component (batch 2, seqLen 1, T 2)", () => {
  assert.deepEqual(forwardFlops(m1(), 2, 1, 2), {
    embedding: 0,
    norm: 2 * (4 * 2 * 4), // 2 × 32 = 64
    in_proj: 2 * (2 * 2 * 4 * 16), // 2 × 256 = 512
    conv1d: 2 * (2 * 2 * 8 * 3 + 4 * 2 * 8), // 2 × (96 + 64) = 320
    x_proj: 2 * (2 * 2 * 8 * 5), // 2 × 160 = 320
    bcdt_norm: 0,
    dt_proj: 2 * (2 * 2 * 1 * 8), // 2 × 32 = 64
    ssm: 2 * (7 * 2 * 8 * 2 + 9 * 2 * 8), // 2 × (224 + 144) = 736 (the same formula as prefill)
    gate_norm: 0,
    out_proj: 2 * (2 * 2 * 8 * 4), // 2 × 128 = 256
    residual: 2 * (2 * 4), // 16
    norm_f: 4 * 2 * 4, // 32
    lm_head: 2 * 2 * 4 * 10, // 160
  });
});

Deno.test("Mamba-2 prefill FLOPs, every component, last-position and all-position logits (batch 2 × 4, T 8)", () => {
  const c = m2();
  // SSD per token (H 4, P 4, G 2, N 3, Q 4): C·Bᵀ 2·4·3·2 = 48, intra-chunk Y 2·4·4·4 = 128, chunk states
  // 2·3·4·4 = 96, state → output 2·3·4·4 = 96, state passing 2·3·4·4/4 = 24, softplus/exp 4·4 = 16,
  // D skip 2·4·4 = 32 → 440 per token per layer.
  const body = {
    embedding: 0,
    norm: 2 * (4 * 8 * 8), // 2 × 256 = 512
    in_proj: 2 * (2 * 8 * 8 * 48), // 2 × 6144 = 12288
    conv1d: 2 * (2 * 8 * 28 * 4 + 4 * 8 * 28), // 2 × (1792 + 896) = 5376
    x_proj: 0, // Mamba-1 only
    bcdt_norm: 0,
    dt_proj: 0, // Mamba-1 only
    ssm: 2 * (8 * (48 + 128 + 96 + 96 + 24 + 16 + 32)), // 2 × 8 × 440 = 7040
    gate_norm: 2 * (8 * 8 * 16), // 2 × 1024 = 2048
    out_proj: 2 * (2 * 8 * 16 * 8), // 2 × 2048 = 4096
    residual: 2 * (8 * 8), // 128
  };
  const last = forwardFlops(c, 2, 4, 2);
  assert.deepEqual(last, {
    ...body,
    norm_f: 4 * 2 * 8, // 64
    lm_head: 2 * 2 * 8 * 10, // 320
  });
  assert.equal(total(last), 512 + 12288 + 5376 + 7040 + 2048 + 4096 + 128 + 64 + 320); // 31872
  const all = {
    ...body,
    norm_f: 4 * 8 * 8, // 256
    lm_head: 2 * 8 * 8 * 10, // 1280
  };
  assert.deepEqual(forwardFlops(c, 2, 4, 8), all);
  assert.deepEqual(forwardFlops(c, 2, 4), all);
});

Deno.test("Mamba-2 decode FLOPs: the ssm switches to the recurrence on seqLen 1 (batch 2, T 2)", () => {
  const c = m2();
  assert.deepEqual(forwardFlops(c, 2, 1, 2), {
    embedding: 0,
    norm: 2 * (4 * 2 * 8), // 2 × 64 = 128
    in_proj: 2 * (2 * 2 * 8 * 48), // 2 × 1536 = 3072
    conv1d: 2 * (2 * 2 * 28 * 4 + 4 * 2 * 28), // 2 × (448 + 224) = 1344
    x_proj: 0,
    bcdt_norm: 0,
    dt_proj: 0,
    // per token 5·H·P·N + 2·H·P + 4·H = 5·4·4·3 + 2·4·4 + 4·4 = 240 + 32 + 16 = 288
    ssm: 2 * (2 * (240 + 32 + 16)), // 2 × 576 = 1152
    gate_norm: 2 * (8 * 2 * 16), // 2 × 256 = 512
    out_proj: 2 * (2 * 2 * 16 * 8), // 2 × 512 = 1024
    residual: 2 * (2 * 8), // 32
    norm_f: 4 * 2 * 8, // 64
    lm_head: 2 * 2 * 8 * 10, // 320
  });
  // The switch is on seqLen, not on T: one sequence of 2 tokens (also T 2) is chunked prefill, 440 per token.
  const prefill = forwardFlops(c, 1, 2, 1);
  assert.equal(prefill.ssm, 2 * (2 * 440)); // 1760
  assert.deepEqual(changed(prefill, forwardFlops(c, 2, 1, 1)), ["ssm"]);
});

Deno.test("biases and tying do not change FLOPs (linear is 2·T·k·n, conv 2·T·C·K + 4·T·C)", () => {
  for (const make of [m1, m2]) {
    const base = forwardFlops(make(), 2, 3, 2);
    assert.deepEqual(forwardFlops(make({ useBias: true, useConvBias: false, tieEmbeddings: false }), 2, 3, 2), base);
  }
});

// ----- Bytes moved -----------------------------------------------------------------------------------------------

Deno.test("Mamba-1 prefill bytes, every component (batch 2 × 3, T 6, f16 matrices, last-position logits)", () => {
  assert.deepEqual(forwardBytes(m1(), 2, 3, { logitRows: 2, matrixBytes: 2 }), {
    // T rows of the f16 table gathered: 6·4·2 = 48; written f32 6·4·4 = 96.
    embedding: { weights: 6 * 4 * 2, activations: 6 * 4 * 4, state: 0 },
    // weight d f32 = 16 per layer; x read + y written 2·6·4·4 = 192 per layer.
    norm: { weights: 2 * (4 * 4), activations: 2 * (2 * 6 * 4 * 4), state: 0 }, // 32, 384
    // W (2D × d) f16 16·4·2 = 128; x (6 × 4) read, y (6 × 16) written: 6·(4 + 16)·4 = 480.
    in_proj: { weights: 2 * (16 * 4 * 2), activations: 2 * (6 * (4 + 16) * 4), state: 0 }, // 256, 960
    // weight D·K f32 8·3·4 = 96 + bias 8·4 = 32 → 128; x read + out written 2·6·8·4 = 384;
    // window (K − 1 = 2 inputs) read + written per sequence: 2·2·8·2·4 = 256.
    conv1d: { weights: 2 * (8 * 3 * 4 + 8 * 4), activations: 2 * (2 * 6 * 8 * 4), state: 2 * (2 * 2 * 8 * 2 * 4) }, // 256, 768, 512
    // W (R + 2N = 5) × D f16 5·8·2 = 80, no bias; x (6 × 8) read, (6 × 5) written: 6·13·4 = 312.
    x_proj: { weights: 2 * (5 * 8 * 2), activations: 2 * (6 * (8 + 5) * 4), state: 0 }, // 160, 624
    bcdt_norm: NONE,
    // W D × R f16 8·1·2 = 16 + bias (always) 8·4 = 32 → 48; δ (6 × 1) read, Δ (6 × 8) written: 6·9·4 = 216.
    dt_proj: { weights: 2 * (8 * 1 * 2 + 8 * 4), activations: 2 * (6 * (1 + 8) * 4), state: 0 }, // 96, 432
    // A (D × N) + D f32 (16 + 8)·4 = 96; u, Δ, z (6 × 8 each) + B, C (6 × 2 each) read, y (6 × 8) written:
    // (4·6·8 + 2·6·2)·4 = 864; h (batch × D × N) read + written 2·2·8·2·4 = 256.
    ssm: {
      weights: 2 * ((8 * 2 + 8) * 4),
      activations: 2 * ((4 * 6 * 8 + 2 * 6 * 2) * 4),
      state: 2 * (2 * 2 * 8 * 2 * 4),
    }, // 192, 1728, 512
    gate_norm: NONE,
    // W d × D f16 4·8·2 = 64; y (6 × 8) read, (6 × 4) written: 6·12·4 = 288.
    out_proj: { weights: 2 * (4 * 8 * 2), activations: 2 * (6 * (8 + 4) * 4), state: 0 }, // 128, 576
    // two inputs read, one output written: 3·6·4·4 = 288.
    residual: { weights: 0, activations: 2 * (3 * 6 * 4 * 4), state: 0 }, // 576
    // 2 rows: weight 4·4 = 16; 2·2·4·4 = 64.
    norm_f: { weights: 4 * 4, activations: 2 * 2 * 4 * 4, state: 0 },
    // the (tied) V × d table, read once, f16: 10·4·2 = 80; 2 rows × (4 in + 10 out) × 4 = 112.
    lm_head: { weights: 10 * 4 * 2, activations: 2 * (4 + 10) * 4, state: 0 },
  });
});

Deno.test("Mamba-1 bytes: f32 matrices change only matrix weights; all-position logits change norm_f/lm_head rows", () => {
  const c = m1();
  const f16 = forwardBytes(c, 2, 3, { logitRows: 2, matrixBytes: 2 });
  const f32 = forwardBytes(c, 2, 3, { logitRows: 6, matrixBytes: 4 });
  assert.deepEqual(f32.embedding, { weights: 6 * 4 * 4, activations: 96, state: 0 }); // 96
  assert.equal(f32.in_proj.weights, 2 * (16 * 4 * 4)); // 512
  assert.equal(f32.x_proj.weights, 2 * (5 * 8 * 4)); // 320
  assert.equal(f32.dt_proj.weights, 2 * (8 * 1 * 4 + 8 * 4)); // 128: the bias vector stays f32
  assert.equal(f32.out_proj.weights, 2 * (4 * 8 * 4)); // 256
  assert.deepEqual(f32.norm_f, { weights: 16, activations: 2 * 6 * 4 * 4, state: 0 }); // 6 rows: 192
  assert.deepEqual(f32.lm_head, { weights: 10 * 4 * 4, activations: 6 * (4 + 10) * 4, state: 0 }); // 160, 336
  // Vectors (norm, conv, A/D), activations and state are f32 whatever the matrix width.
  for (const k of ["norm", "conv1d", "ssm", "residual"] as const) assert.deepEqual(f32[k], f16[k]);
  for (const k of ["in_proj", "x_proj", "dt_proj", "out_proj"] as const) {
    assert.equal(f32[k].activations, f16[k].activations);
  }
  // The default is f32 matrices and all rows.
  assert.deepEqual(forwardBytes(c, 2, 3), f32);
});

Deno.test("Mamba-1 decode bytes, every component (batch 2, seqLen 1, f16 matrices)", () => {
  assert.deepEqual(forwardBytes(m1(), 2, 1, { logitRows: 2, matrixBytes: 2 }), {
    embedding: { weights: 2 * 4 * 2, activations: 2 * 4 * 4, state: 0 }, // 16, 32
    norm: { weights: 2 * 16, activations: 2 * (2 * 2 * 4 * 4), state: 0 }, // 32, 128
    in_proj: { weights: 2 * 128, activations: 2 * (2 * (4 + 16) * 4), state: 0 }, // 256, 320
    // weights and state do not depend on T: 2 × 128 and 2 × (2·2·8·2·4 = 256)
    conv1d: { weights: 2 * 128, activations: 2 * (2 * 2 * 8 * 4), state: 2 * 256 }, // 256, 256, 512
    x_proj: { weights: 2 * 80, activations: 2 * (2 * (8 + 5) * 4), state: 0 }, // 160, 208
    bcdt_norm: NONE,
    dt_proj: { weights: 2 * 48, activations: 2 * (2 * (1 + 8) * 4), state: 0 }, // 96, 144
    ssm: { weights: 2 * 96, activations: 2 * ((4 * 2 * 8 + 2 * 2 * 2) * 4), state: 2 * 256 }, // 192, 576, 512
    gate_norm: NONE,
    out_proj: { weights: 2 * 64, activations: 2 * (2 * (8 + 4) * 4), state: 0 }, // 128, 192
    residual: { weights: 0, activations: 2 * (3 * 2 * 4 * 4), state: 0 }, // 192
    norm_f: { weights: 16, activations: 2 * 2 * 4 * 4, state: 0 }, // 64
    lm_head: { weights: 80, activations: 2 * (4 + 10) * 4, state: 0 }, // 112
  });
});

Deno.test("Mamba-2 prefill bytes, every component (batch 2 × 4, T 8, f16 matrices, last-position logits)", () => {
  assert.deepEqual(forwardBytes(m2(), 2, 4, { logitRows: 2, matrixBytes: 2 }), {
    embedding: { weights: 8 * 8 * 2, activations: 8 * 8 * 4, state: 0 }, // 128, 256
    norm: { weights: 2 * (8 * 4), activations: 2 * (2 * 8 * 8 * 4), state: 0 }, // 64, 1024
    // W 48 × 8 f16 = 768; x (8 × 8) read, (8 × 48) written: 8·56·4 = 1792.
    in_proj: { weights: 2 * (48 * 8 * 2), activations: 2 * (8 * (8 + 48) * 4), state: 0 }, // 1536, 3584
    // weight 28·4·4 = 448 + bias 28·4 = 112 → 560; 2·8·28·4 = 1792; window 2·2·28·3·4 = 1344.
    conv1d: { weights: 2 * (28 * 4 * 4 + 28 * 4), activations: 2 * (2 * 8 * 28 * 4), state: 2 * (2 * 2 * 28 * 3 * 4) }, // 1120, 3584, 2688
    x_proj: NONE,
    bcdt_norm: NONE,
    dt_proj: NONE,
    // A, D, dt_bias (H each) 3·4·4 = 48; x (8 × 16), dt (8 × 4), B, C (8 × 6 each) read, y (8 × 16) written:
    // (2·8·16 + 8·4 + 2·8·2·3)·4 = (256 + 32 + 96)·4 = 1536; h (batch × H × P × N) 2·2·4·4·3·4 = 768.
    ssm: {
      weights: 2 * (3 * 4 * 4),
      activations: 2 * ((2 * 8 * 16 + 8 * 4 + 2 * 8 * 2 * 3) * 4),
      state: 2 * (2 * 2 * 4 * 4 * 3 * 4),
    }, // 96, 3072, 1536
    // weight D f32 16·4 = 64; y, z read + out written 3·8·16·4 = 1536.
    gate_norm: { weights: 2 * (16 * 4), activations: 2 * (3 * 8 * 16 * 4), state: 0 }, // 128, 3072
    out_proj: { weights: 2 * (8 * 16 * 2), activations: 2 * (8 * (16 + 8) * 4), state: 0 }, // 512, 1536
    residual: { weights: 0, activations: 2 * (3 * 8 * 8 * 4), state: 0 }, // 1536
    norm_f: { weights: 8 * 4, activations: 2 * 2 * 8 * 4, state: 0 }, // 32, 128
    lm_head: { weights: 10 * 8 * 2, activations: 2 * (8 + 10) * 4, state: 0 }, // 160, 144
  });
});

Deno.test("Mamba-2 bytes: f32 matrices change only matrix weights; all-position logits change norm_f/lm_head rows", () => {
  const c = m2();
  const f16 = forwardBytes(c, 2, 4, { logitRows: 2, matrixBytes: 2 });
  const f32 = forwardBytes(c, 2, 4, { logitRows: 8, matrixBytes: 4 });
  assert.deepEqual(f32.embedding, { weights: 8 * 8 * 4, activations: 256, state: 0 }); // 256
  assert.equal(f32.in_proj.weights, 2 * (48 * 8 * 4)); // 3072
  assert.equal(f32.out_proj.weights, 2 * (8 * 16 * 4)); // 1024
  assert.deepEqual(f32.norm_f, { weights: 32, activations: 2 * 8 * 8 * 4, state: 0 }); // 512
  assert.deepEqual(f32.lm_head, { weights: 10 * 8 * 4, activations: 8 * (8 + 10) * 4, state: 0 }); // 320, 576
  for (const k of ["norm", "conv1d", "ssm", "gate_norm", "residual", "x_proj", "dt_proj"] as const) {
    assert.deepEqual(f32[k], f16[k]);
  }
  assert.deepEqual(
    changed(f16, f32),
    ["embedding", "in_proj", "out_proj", "norm_f", "lm_head"],
  );
  assert.deepEqual(forwardBytes(c, 2, 4), f32);
});

Deno.test("Mamba-2 decode bytes, every component (batch 2, seqLen 1, f16 matrices)", () => {
  assert.deepEqual(forwardBytes(m2(), 2, 1, { logitRows: 2, matrixBytes: 2 }), {
    embedding: { weights: 2 * 8 * 2, activations: 2 * 8 * 4, state: 0 }, // 32, 64
    norm: { weights: 2 * 32, activations: 2 * (2 * 2 * 8 * 4), state: 0 }, // 64, 256
    in_proj: { weights: 2 * 768, activations: 2 * (2 * (8 + 48) * 4), state: 0 }, // 1536, 896
    conv1d: { weights: 2 * 560, activations: 2 * (2 * 2 * 28 * 4), state: 2 * 1344 }, // 1120, 896, 2688
    x_proj: NONE,
    bcdt_norm: NONE,
    dt_proj: NONE,
    // (2·2·16 + 2·4 + 2·2·2·3)·4 = (64 + 8 + 24)·4 = 384 per layer
    ssm: { weights: 2 * 48, activations: 2 * ((2 * 2 * 16 + 2 * 4 + 2 * 2 * 2 * 3) * 4), state: 2 * 768 }, // 96, 768, 1536
    gate_norm: { weights: 2 * 64, activations: 2 * (3 * 2 * 16 * 4), state: 0 }, // 128, 768
    out_proj: { weights: 2 * 256, activations: 2 * (2 * (16 + 8) * 4), state: 0 }, // 512, 384
    residual: { weights: 0, activations: 2 * (3 * 2 * 8 * 4), state: 0 }, // 384
    norm_f: { weights: 32, activations: 2 * 2 * 8 * 4, state: 0 }, // 128
    lm_head: { weights: 160, activations: 2 * (8 + 10) * 4, state: 0 }, // 144
  });
});

Deno.test("biases: useBias adds f32 in_proj/out_proj bias bytes, useConvBias removes the conv bias", () => {
  // Mamba-1, f16 matrices.
  const a0 = forwardBytes(m1(), 2, 3, { logitRows: 2, matrixBytes: 2 });
  const a1 = forwardBytes(m1({ useBias: true, useConvBias: false }), 2, 3, { logitRows: 2, matrixBytes: 2 });
  assert.equal(a1.in_proj.weights, 2 * (16 * 4 * 2 + 16 * 4)); // 2 × (128 + 64) = 384
  assert.equal(a1.out_proj.weights, 2 * (4 * 8 * 2 + 4 * 4)); // 2 × (64 + 16) = 160
  assert.equal(a1.conv1d.weights, 2 * (8 * 3 * 4)); // 2 × 96 = 192
  assert.equal(a1.dt_proj.weights, 2 * (8 * 1 * 2 + 8 * 4)); // 96: dt_proj's bias is always there
  assert.equal(a1.x_proj.weights, 2 * (5 * 8 * 2)); // 160: x_proj never has one
  assert.deepEqual(changed(a0, a1), ["in_proj", "conv1d", "out_proj"]);
  for (const k of COMPONENTS) assert.equal(a1[k].activations, a0[k].activations);
  // Mamba-2.
  const b0 = forwardBytes(m2(), 2, 4, { logitRows: 2, matrixBytes: 2 });
  const b1 = forwardBytes(m2({ useBias: true, useConvBias: false }), 2, 4, { logitRows: 2, matrixBytes: 2 });
  assert.equal(b1.in_proj.weights, 2 * (48 * 8 * 2 + 48 * 4)); // 2 × (768 + 192) = 1920
  assert.equal(b1.out_proj.weights, 2 * (8 * 16 * 2 + 8 * 4)); // 2 × (256 + 32) = 576
  assert.equal(b1.conv1d.weights, 2 * (28 * 4 * 4)); // 2 × 448 = 896
  assert.deepEqual(changed(b0, b1), ["in_proj", "conv1d", "out_proj"]);
  // componentWeightBytes agrees.
  const w1 = componentWeightBytes(m1({ useBias: true, useConvBias: false }), 2);
  assert.deepEqual([w1.in_proj, w1.out_proj, w1.conv1d, w1.dt_proj], [384, 160, 192, 96]);
  const w2 = componentWeightBytes(m2({ useBias: true, useConvBias: false }), 2);
  assert.deepEqual([w2.in_proj, w2.out_proj, w2.conv1d], [1920, 576, 896]);
});

// ----- Parameter and state bytes ---------------------------------------------------------------------------------

Deno.test("Mamba-1 componentWeightBytes: tied vs untied lm_head, f16 vs f32 matrices", () => {
  const tied16 = {
    embedding: 10 * 4 * 2, // V × d f16 = 80
    norm: 2 * (4 * 4), // 32
    in_proj: 2 * (16 * 4 * 2), // 256
    conv1d: 2 * (8 * 3 * 4 + 8 * 4), // 2 × 128 = 256
    x_proj: 2 * (5 * 8 * 2), // 160
    bcdt_norm: 0,
    dt_proj: 2 * (8 * 1 * 2 + 8 * 4), // 2 × 48 = 96
    ssm: 2 * ((8 * 2 + 8) * 4), // A, D: 2 × 96 = 192
    gate_norm: 0,
    out_proj: 2 * (4 * 8 * 2), // 128
    residual: 0,
    norm_f: 4 * 4, // 16
    lm_head: 0, // tied: the embedding's matrix
  };
  assert.deepEqual(componentWeightBytes(m1(), 2), tied16);
  assert.equal(total(tied16), 80 + 32 + 256 + 256 + 160 + 96 + 192 + 128 + 16); // 1216
  assert.deepEqual(componentWeightBytes(m1({ tieEmbeddings: false }), 2), { ...tied16, lm_head: 10 * 4 * 2 }); // 80
  const tied32 = {
    ...tied16,
    embedding: 10 * 4 * 4, // 160
    in_proj: 2 * (16 * 4 * 4), // 512
    x_proj: 2 * (5 * 8 * 4), // 320
    bcdt_norm: 0,
    dt_proj: 2 * (8 * 1 * 4 + 8 * 4), // 128
    out_proj: 2 * (4 * 8 * 4), // 256
  };
  assert.deepEqual(componentWeightBytes(m1(), 4), tied32);
  assert.deepEqual(componentWeightBytes(m1()), tied32); // default f32
  assert.deepEqual(componentWeightBytes(m1({ tieEmbeddings: false }), 4), { ...tied32, lm_head: 10 * 4 * 4 }); // 160
});

Deno.test("Mamba-2 componentWeightBytes: tied vs untied lm_head, f16 vs f32 matrices", () => {
  const tied16 = {
    embedding: 10 * 8 * 2, // 160
    norm: 2 * (8 * 4), // 64
    in_proj: 2 * (48 * 8 * 2), // 1536
    conv1d: 2 * (28 * 4 * 4 + 28 * 4), // 2 × 560 = 1120
    x_proj: 0,
    bcdt_norm: 0,
    dt_proj: 0,
    ssm: 2 * (3 * 4 * 4), // A, D, dt_bias: 2 × 48 = 96
    gate_norm: 2 * (16 * 4), // 128
    out_proj: 2 * (8 * 16 * 2), // 512
    residual: 0,
    norm_f: 8 * 4, // 32
    lm_head: 0,
  };
  assert.deepEqual(componentWeightBytes(m2(), 2), tied16);
  assert.deepEqual(componentWeightBytes(m2({ tieEmbeddings: false }), 2), { ...tied16, lm_head: 10 * 8 * 2 }); // 160
  assert.deepEqual(componentWeightBytes(m2({ tieEmbeddings: false }), 4), {
    ...tied16,
    embedding: 10 * 8 * 4, // 320
    in_proj: 2 * (48 * 8 * 4), // 3072
    out_proj: 2 * (8 * 16 * 4), // 1024
    lm_head: 10 * 8 * 4, // 320
  });
});

Deno.test("componentStateBytes: conv window and SSM state per sequence (hand counts, both architectures)", () => {
  const zero = Object.fromEntries(COMPONENTS.map((c) => [c, 0]));
  // Mamba-1: conv batch·D·(K − 1)·4 = 2·8·2·4 = 128, ssm batch·D·N·4 = 2·8·2·4 = 128, per layer.
  assert.deepEqual(componentStateBytes(m1(), 2), { ...zero, conv1d: 2 * 128, ssm: 2 * 128 }); // 256, 256
  assert.deepEqual(componentStateBytes(m1(), 1), { ...zero, conv1d: 2 * 64, ssm: 2 * 64 });
  // Mamba-2: conv batch·(D + 2GN)·(K − 1)·4 = 2·28·3·4 = 672, ssm batch·H·P·N·4 = 2·4·4·3·4 = 384, per layer.
  assert.deepEqual(componentStateBytes(m2(), 2), { ...zero, conv1d: 2 * 672, ssm: 2 * 384 }); // 1344, 768
  // Biases, matrix width and tying do not touch state.
  assert.deepEqual(componentStateBytes(m2({ useBias: true, useConvBias: false, tieEmbeddings: false }), 2), {
    ...zero,
    conv1d: 1344,
    ssm: 768,
  });
});

Deno.test("forwardBytes state is componentStateBytes read and written; weights match componentWeightBytes", () => {
  for (const [c, seqLen] of [[m1({ tieEmbeddings: false }), 3], [m2({ tieEmbeddings: false }), 4]] as const) {
    for (const seq of [seqLen, 1]) {
      const b = forwardBytes(c, 2, seq, { logitRows: 2, matrixBytes: 2 });
      const s = componentStateBytes(c, 2);
      const w = componentWeightBytes(c, 2);
      for (const k of COMPONENTS) {
        assert.equal(b[k].state, 2 * s[k], k);
        // The embedding is a gather (rows, not the table); every other weight is read once.
        if (k !== "embedding") assert.equal(b[k].weights, w[k], k);
      }
    }
  }
});

Deno.test("componentWeightBytes(f32) sums to 4 bytes per parameter of the synthetic weights", () => {
  const count = (w: ReturnType<typeof syntheticWeights>) => {
    let n = w.embedding.data.length + w.normF.data.length + (w.lmHead?.data.length ?? 0);
    for (const layer of w.layers) {
      for (const t of Object.values(layer)) if (t && typeof t === "object") n += (t as HostTensor).data.length;
    }
    return n;
  };
  for (const make of [m1, m2]) {
    for (
      const c of [
        make(),
        make({ useBias: true, useConvBias: false, tieEmbeddings: false }),
        make({ layerStateSizes: [2, 1] }),
      ]
    ) {
      assert.equal(total(componentWeightBytes(c, 4)), 4 * count(syntheticWeights(c)));
    }
  }
});

// ----- Per-layer state sizes (pruned checkpoints) ----------------------------------------------------------------

Deno.test("Mamba-1 layerStateSizes [2, 1]: x_proj, ssm and SSM state use each layer's N", () => {
  const base = m1();
  const c = m1({ layerStateSizes: [2, 1] });
  // FLOPs (batch 2 × 3, T 6).
  const f = forwardFlops(c, 2, 3, 2);
  assert.equal(f.x_proj, 2 * 6 * 8 * (1 + 2 * 2) + 2 * 6 * 8 * (1 + 2 * 1)); // 480 + 288 = 768
  assert.equal(f.ssm, (7 * 6 * 8 * 2 + 9 * 6 * 8) + (7 * 6 * 8 * 1 + 9 * 6 * 8)); // 1104 + 768 = 1872
  assert.deepEqual(changed(forwardFlops(base, 2, 3, 2), f), ["x_proj", "ssm"]);
  // Bytes (f16 matrices).
  const b = forwardBytes(c, 2, 3, { logitRows: 2, matrixBytes: 2 });
  assert.deepEqual(b.x_proj, {
    weights: 5 * 8 * 2 + 3 * 8 * 2, // 80 + 48 = 128
    activations: 6 * (8 + 5) * 4 + 6 * (8 + 3) * 4, // 312 + 264 = 576
    state: 0,
  });
  assert.deepEqual(b.ssm, {
    weights: (8 * 2 + 8) * 4 + (8 * 1 + 8) * 4, // 96 + 64 = 160
    activations: (4 * 6 * 8 + 2 * 6 * 2) * 4 + (4 * 6 * 8 + 2 * 6 * 1) * 4, // 864 + 816 = 1680
    state: 2 * 2 * 8 * 2 * 4 + 2 * 2 * 8 * 1 * 4, // 256 + 128 = 384
  });
  assert.deepEqual(changed(forwardBytes(base, 2, 3, { logitRows: 2, matrixBytes: 2 }), b), ["x_proj", "ssm"]);
  // Parameters and state.
  const w = componentWeightBytes(c, 2);
  assert.equal(w.x_proj, 5 * 8 * 2 + 3 * 8 * 2); // 128
  assert.equal(w.ssm, (8 * 2 + 8) * 4 + (8 * 1 + 8) * 4); // 160
  assert.deepEqual(changed(componentWeightBytes(base, 2), w), ["x_proj", "ssm"]);
  const s = componentStateBytes(c, 2);
  assert.equal(s.ssm, 2 * 8 * 2 * 4 + 2 * 8 * 1 * 4); // 128 + 64 = 192
  assert.equal(s.conv1d, 2 * (2 * 8 * 2 * 4)); // 256: the conv window does not depend on N
});

Deno.test("Mamba-2 layerStateSizes [2, 1]: in_proj, conv1d, ssm and state use each layer's N", () => {
  const base = m2();
  const c = m2({ layerStateSizes: [2, 1] });
  // layer 0: N 2, GN 4, in_proj 32 + 8 + 4 = 44 outputs, conv 16 + 8 = 24 channels;
  // layer 1: N 1, GN 2, in_proj 32 + 4 + 4 = 40 outputs, conv 16 + 4 = 20 channels.
  const f = forwardFlops(c, 2, 4, 2); // T 8
  assert.equal(f.in_proj, 2 * 8 * 8 * 44 + 2 * 8 * 8 * 40); // 5632 + 5120 = 10752
  assert.equal(f.conv1d, (2 * 8 * 24 * 4 + 4 * 8 * 24) + (2 * 8 * 20 * 4 + 4 * 8 * 20)); // 2304 + 1920 = 4224
  // per token, N 2: 2·4·2·2 = 32 + 128 + 2·2·4·4 = 64 + 64 + 64/4 = 16 + 16 + 32 = 352;
  //            N 1: 2·4·1·2 = 16 + 128 + 32 + 32 + 8 + 16 + 32 = 264.
  assert.equal(f.ssm, 8 * (32 + 128 + 64 + 64 + 16 + 16 + 32) + 8 * (16 + 128 + 32 + 32 + 8 + 16 + 32)); // 2816 + 2112
  assert.deepEqual(changed(forwardFlops(base, 2, 4, 2), f), ["in_proj", "conv1d", "ssm"]);
  // decode: 5·4·4·2 + 32 + 16 = 208 and 5·4·4·1 + 32 + 16 = 128 per token.
  assert.equal(forwardFlops(c, 2, 1, 2).ssm, 2 * (160 + 32 + 16) + 2 * (80 + 32 + 16)); // 416 + 256 = 672
  const b = forwardBytes(c, 2, 4, { logitRows: 2, matrixBytes: 2 });
  assert.deepEqual(b.in_proj, {
    weights: 44 * 8 * 2 + 40 * 8 * 2, // 704 + 640 = 1344
    activations: 8 * (8 + 44) * 4 + 8 * (8 + 40) * 4, // 1664 + 1536 = 3200
    state: 0,
  });
  assert.deepEqual(b.conv1d, {
    weights: (24 * 4 * 4 + 24 * 4) + (20 * 4 * 4 + 20 * 4), // 480 + 400 = 880
    activations: 2 * 8 * 24 * 4 + 2 * 8 * 20 * 4, // 1536 + 1280 = 2816
    state: 2 * 2 * 24 * 3 * 4 + 2 * 2 * 20 * 3 * 4, // 1152 + 960 = 2112
  });
  assert.deepEqual(b.ssm, {
    weights: 2 * (3 * 4 * 4), // 96: A, D, dt_bias do not depend on N
    activations: (2 * 8 * 16 + 8 * 4 + 2 * 8 * 2 * 2) * 4 + (2 * 8 * 16 + 8 * 4 + 2 * 8 * 2 * 1) * 4, // 1408 + 1280
    state: 2 * 2 * 4 * 4 * 2 * 4 + 2 * 2 * 4 * 4 * 1 * 4, // 512 + 256 = 768
  });
  assert.deepEqual(changed(forwardBytes(base, 2, 4, { logitRows: 2, matrixBytes: 2 }), b), [
    "in_proj",
    "conv1d",
    "ssm",
  ]);
  const w = componentWeightBytes(c, 2);
  assert.deepEqual([w.in_proj, w.conv1d, w.ssm], [1344, 880, 96]);
  assert.deepEqual(changed(componentWeightBytes(base, 2), w), ["in_proj", "conv1d"]);
  const s = componentStateBytes(c, 2);
  assert.equal(s.conv1d, 2 * 24 * 3 * 4 + 2 * 20 * 3 * 4); // 576 + 480 = 1056
  assert.equal(s.ssm, 2 * 4 * 4 * 2 * 4 + 2 * 4 * 4 * 1 * 4); // 256 + 128 = 384
});

// ----- The embedding gather reads each table row at most once --------------------------------------------------

// The gather reads at most min(T, V) distinct rows: T = 2·6 = 12 tokens of a 10-row table read the table once,
// 10·4·2 = 80 bytes (not 12·4·2 = 96).
Deno.test("embedding weight bytes never exceed the table (T 12 > V 10)", () => {
  const b = forwardBytes(m1(), 2, 6, { logitRows: 2, matrixBytes: 2 });
  assert.equal(b.embedding.weights, Math.min(12, 10) * 4 * 2); // 80
});
