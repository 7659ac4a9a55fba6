/**
 * The counter-based synthetic weights: any chunk of a tensor is the same values as the whole; the streams are
 * uniform and uncorrelated; every tensor keeps mamba_ssm's initialisation (shapes, scales, A_log, Δ bias); made
 * layer by layer (`syntheticSource`, reusing arrays, quantizing per layer) they are exactly `syntheticWeights`
 * (quantized by `quantizeWeights`), and a model loaded from the source computes the very same logits on every
 * backend.
 */
import assert from "node:assert/strict";
import { makeConfig } from "../../runtime/presets.ts";
import { layerStateSize } from "../../runtime/config.ts";
import { syntheticKey, syntheticLayer, syntheticUniform, syntheticWeights } from "../../runtime/synthetic.ts";
import { syntheticSource } from "../../runtime/weight_source.ts";
import { quantizeWeights } from "../../runtime/quantize.ts";
import { MambaModel } from "../../runtime/model.ts";
import type { HostMatrix, HostTensor, LayerWeights } from "../../runtime/weights.ts";
import { TEST_BACKENDS } from "../_backends.ts";

const M1 = makeConfig("mamba1", { dModel: 64, nLayer: 3, vocabSize: 96 });
const M2 = makeConfig("mamba2", { dModel: 64, nLayer: 3, vocabSize: 96, dState: 16, headDim: 16, nGroups: 2 });

Deno.test("synthetic: any chunk of a stream is the same values as the whole, wherever it starts", () => {
  const key = syntheticKey(7, 123);
  const whole = new Float32Array(100_000);
  syntheticUniform(whole, key, 0, 0.25);
  for (const [start, n] of [[0, 1], [1, 16383], [16383, 2], [50_000, 50_000], [99_999, 1], [31, 40_000]]) {
    const part = new Float32Array(n);
    syntheticUniform(part, key, start, 0.25);
    for (let i = 0; i < n; i++) assert.equal(part[i], whole[start + i], `element ${start + i}`);
  }
  // A key near 2³² wraps the counter instead of leaving u32.
  const wrap = new Float32Array(8), tail = new Float32Array(4);
  syntheticUniform(wrap, 0xfffffffc, 0, 1);
  syntheticUniform(tail, 0, 0, 1);
  assert.deepEqual([...wrap.subarray(4)], [...tail]);
});

Deno.test("synthetic: streams are uniform on [-scale, scale), with the asked standard deviation, uncorrelated", () => {
  const n = 1 << 20, scale = 0.5;
  const a = new Float32Array(n), b = new Float32Array(n);
  syntheticUniform(a, syntheticKey(1, 16), 0, scale);
  syntheticUniform(b, syntheticKey(1, 17), 0, scale);
  // Each value is k · 2⁻²³ · scale for a whole k in [−2²³, 2²³): the grid and the half-open range.
  for (let i = 0; i < n; i += 997) {
    const k = a[i] / scale * 2 ** 23;
    assert.ok(Number.isInteger(k) && k >= -(2 ** 23) && k < 2 ** 23, `a[${i}] = ${a[i]} is off the grid`);
  }
  // 64 equal bins: χ² with 63 degrees of freedom stays under 130 except with probability ~1e-6.
  const bins = new Array(64).fill(0);
  for (const v of a) bins[Math.floor((v / scale + 1) * 32)]++;
  const e = n / 64;
  const chi2 = bins.reduce((s, o) => s + (o - e) ** 2 / e, 0);
  assert.ok(chi2 < 130, `χ² = ${chi2.toFixed(1)} over 64 bins`);
  // Standard deviation scale/√3: the sample variance's relative error is √(0.8 / n) ≈ 0.09%; allow 5σ.
  let s2 = 0, ab = 0, sum = 0;
  for (let i = 0; i < n; i++) {
    s2 += a[i] * a[i];
    ab += a[i] * b[i];
    sum += a[i];
  }
  const variance = s2 / n, std = scale / Math.sqrt(3);
  assert.ok(Math.abs(variance / (std * std) - 1) < 5 * Math.sqrt(0.8 / n), `variance ${variance}`);
  // Mean and correlation of two streams: standard errors std/√n and 1/√n; allow 5σ.
  assert.ok(Math.abs(sum / n) < 5 * std / Math.sqrt(n), `mean ${sum / n}`);
  assert.ok(Math.abs(ab / n / (std * std)) < 5 / Math.sqrt(n), `correlation ${ab / n / (std * std)}`);
});

/** The sample standard deviation of a tensor (its mean is ~0). */
function stdOf(t: HostTensor): number {
  let s = 0;
  for (const v of t.data) s += v * v;
  return Math.sqrt(s / t.data.length);
}

Deno.test("synthetic: mamba_ssm's initialisation — shapes, standard deviations, A_log, Δ bias, unit norms", () => {
  for (const config of [M1, M2]) {
    const w = syntheticWeights(config, 3);
    const d = config.dModel, D = config.dInner;
    assert.deepEqual(w.embedding.shape, [config.vocabSize, d]);
    assert.equal(w.lmHead, null);
    // Relative error of a sample std of n uniform values: ≈ √(0.2 / n); 6σ bounds below.
    const near = (t: HostTensor, std: number, what: string) => {
      const tol = 6 * Math.sqrt(0.2 / t.data.length);
      assert.ok(Math.abs(stdOf(t) / std - 1) < tol, `${config.arch} ${what}: std ${stdOf(t)} vs ${std}`);
      assert.ok(t.data.every((v) => Math.abs(v) <= std * Math.sqrt(3)), `${what} exceeds std·√3`);
    };
    near(w.embedding as HostTensor, 0.02, "embedding");
    for (const [l, layer] of w.layers.entries()) {
      const N = layerStateSize(config, l);
      assert.ok(layer.norm.data.every((v) => v === 1));
      near(layer.inProj as HostTensor, d ** -0.5, "in_proj");
      near(layer.convWeight, config.dConv ** -0.5, "conv");
      near(layer.convBias!, 0.1, "conv bias");
      near(layer.outProj as HostTensor, D ** -0.5 / Math.sqrt(config.nLayer), "out_proj");
      const dtBias = layer.arch === "mamba1" ? layer.dtProjBias : layer.dtBias;
      for (const b of dtBias.data) {
        const dt = Math.log1p(Math.exp(b)); // softplus: Δ at zero input, log-uniform in [0.001, 0.1]
        assert.ok(dt >= 0.001 * (1 - 1e-5) && dt <= 0.1 * (1 + 1e-5), `Δ ${dt}`);
      }
      if (layer.arch === "mamba1") {
        assert.deepEqual(layer.inProj.shape, [2 * D, d]);
        assert.deepEqual(layer.xProj.shape, [config.dtRank + 2 * N, D]);
        near(layer.xProj as HostTensor, D ** -0.5, "x_proj");
        near(layer.dtProj as HostTensor, config.dtRank ** -0.5, "dt_proj");
        layer.aLog.data.forEach((v, i) => assert.equal(v, Math.fround(Math.log((i % N) + 1))));
        assert.ok(layer.D.data.every((v) => v === 1));
      } else {
        const G = config.nGroups, H = config.nHeads;
        assert.deepEqual(layer.inProj.shape, [2 * D + 2 * G * N + H, d]);
        assert.deepEqual(layer.convWeight.shape, [D + 2 * G * N, config.dConv]);
        assert.ok(layer.aLog.data.every((v) => v >= 0 && v < Math.log(16)), "A in [1, 16)");
        assert.ok(layer.D.data.every((v) => v === 1) && layer.gateNorm.data.every((v) => v === 1));
      }
    }
    // Different tensors and seeds are different streams.
    const other = syntheticWeights(config, 4);
    assert.notEqual(w.layers[0].inProj.data[0], other.layers[0].inProj.data[0]);
    assert.notEqual(w.layers[0].inProj.data[0], w.layers[1].inProj.data[0]);
  }
});

/** Every f32 array or quantized block array of a layer, by field name. */
function arrays(layer: LayerWeights<HostMatrix>): [string, Float32Array | Uint8Array][] {
  return Object.entries(layer).flatMap(([k, v]) =>
    v && typeof v === "object" ? [[k, "blocks" in v ? v.blocks : v.data] as [string, Float32Array | Uint8Array]] : []
  );
}

Deno.test("synthetic: layer by layer (arrays reused, quantized per layer) is exactly syntheticWeights", () => {
  for (const config of [M1, M2]) {
    const whole = syntheticWeights(config, 9);
    for (const quantize of [undefined, "q8_0", "q4_0"] as const) {
      const expect = quantize ? quantizeWeights(whole, { bits: quantize === "q8_0" ? 8 : 4 }) : whole;
      const source = syntheticSource(config, 9, { quantize });
      assert.equal(source.quantFormat, quantize ?? null);
      let previous: LayerWeights<HostMatrix> | null = null;
      for (let l = 0; l < config.nLayer; l++) {
        const layer = source.layer(l);
        if (!quantize && previous) {
          assert.equal((layer.inProj as HostTensor).data, (previous.inProj as HostTensor).data, "arrays reused");
        }
        previous = layer;
        const want = new Map(arrays(expect.layers[l]));
        const got = arrays(layer);
        assert.deepEqual(got.map(([k]) => k).sort(), [...want.keys()].sort());
        for (const [k, a] of got) assert.deepEqual(a, want.get(k), `${config.arch} ${quantize} layer ${l} ${k}`);
      }
      assert.deepEqual((source.embedding() as HostTensor).data, (expect.embedding as HostTensor).data);
    }
    // Reusing a layer of the other architecture (or none) changes nothing.
    const fresh = syntheticLayer(config, 1, 9);
    const reused = syntheticLayer(config, 1, 9, syntheticLayer(config === M1 ? M2 : M1, 0, 1));
    assert.deepEqual(arrays(reused), arrays(fresh));
  }
});

for (const tb of TEST_BACKENDS) {
  Deno.test({
    name: `synthetic: MambaModel.fromSource(syntheticSource) == MambaModel.load(syntheticWeights) on ${tb.name} ${
      tb.skip ?? ""
    }`,
    ignore: tb.skip !== null,
    fn: async () => {
      const backend = await tb.create();
      try {
        for (const config of [M1, M2]) {
          for (const quantize of [undefined, "q8_0"] as const) {
            const host = syntheticWeights(config, 5);
            const a = MambaModel.fromSource(syntheticSource(config, 5, { quantize }), backend);
            const b = MambaModel.load(quantize ? quantizeWeights(host, { bits: 8 }) : host, backend);
            assert.equal(a.parameterCount, b.parameterCount);
            assert.deepEqual(a.quantFormats, b.quantFormats);
            const [x, y] = [
              await a.prefill([1, 5, 9, 2], { lastOnly: true }),
              await b.prefill([1, 5, 9, 2], { lastOnly: true }),
            ];
            assert.deepEqual(x.logits.data, y.logits.data, `${config.arch} ${quantize ?? "f32"}`);
            for (const r of [x, y]) r.state.dispose();
            a.dispose();
            b.dispose();
          }
        }
      } finally {
        backend.dispose();
      }
    },
  });
}
