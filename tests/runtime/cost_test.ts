/** Analytic FLOPs against hand counts on tiny shapes. */
import assert from "node:assert/strict";
import { forwardFlops, total } from "../../runtime/cost.ts";
import { makeConfig } from "../../runtime/presets.ts";

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
