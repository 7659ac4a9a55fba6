/**
 * Memory checks before allocating: the footprint's weight bytes equal the bytes the model really holds (host
 * weights counted array by array, WASM's live bytes after loading), and what cannot fit a backend — WASM's 4 GiB,
 * a WebGPU binding limit — is a ModelTooLargeError naming the size, the limit and what fits, before any upload.
 */
import assert from "node:assert/strict";
import { makeConfig, presetConfig } from "../../runtime/presets.ts";
import { syntheticWeights } from "../../runtime/synthetic.ts";
import { syntheticSource } from "../../runtime/weight_source.ts";
import { hostWeightBytes, quantizeWeights } from "../../runtime/quantize.ts";
import { MambaModel } from "../../runtime/model.ts";
import { checkModelFits, modelFitProblem, modelFootprint, ModelTooLargeError } from "../../runtime/memory_check.ts";
import { createWasmBackend } from "../../wasm/backend.ts";
import { createWebGpuBackend } from "../../kernels/webgpu_backend.ts";
import { sharedGpuDevice } from "../_gpu_device.ts";
import { PANEL } from "../../wasm/generated/abi.ts";
import { TEST_BACKENDS } from "../_backends.ts";

// dt_rank 4 (not a multiple of 32: dt_proj stays f32 when quantized), rows all multiples of 8 (WASM panels).
const M1 = makeConfig("mamba1", { dModel: 64, nLayer: 2, vocabSize: 96 });
const M2 = makeConfig("mamba2", { dModel: 64, nLayer: 2, vocabSize: 96, dState: 16, headDim: 16, nGroups: 2 });

Deno.test("memory check: weight bytes per storage are the bytes of the weights themselves", () => {
  for (const config of [M1, M2]) {
    const w = syntheticWeights(config, 1);
    assert.equal(modelFootprint(config, "f32").weightBytes, hostWeightBytes(w), `${config.arch} f32`);
    for (const bits of [8, 4] as const) {
      const q = quantizeWeights(w, { bits });
      const storage = bits === 8 ? "q8_0" : "q4_0";
      assert.equal(modelFootprint(config, storage).weightBytes, hostWeightBytes(q), `${config.arch} ${storage}`);
    }
  }
});

Deno.test("memory check: on WASM the live bytes after loading are the footprint's weight bytes", async () => {
  const backend = await createWasmBackend({ threads: 1 });
  try {
    for (const config of [M1, M2]) {
      // WASM packs f32 matrices in panels of PANEL rows: Mamba-1's x_proj (dt_rank 4 + 2·16 = 36 rows of d_inner
      // 128) holds 4 padding rows per layer; every other row count here is a multiple of PANEL.
      const padding = config.arch === "mamba1" ? config.nLayer * (40 - 36) * config.dInner * 4 : 0;
      assert.equal(PANEL, 8);
      for (const quantize of [undefined, "q8_0", "q4_0"] as const) {
        const model = MambaModel.fromSource(syntheticSource(config, 1, { quantize }), backend);
        const pad = quantize && config.dInner % 32 === 0 ? 0 : padding; // x_proj quantized: blocks, no panels
        assert.equal(backend.memory().liveBytes, modelFootprint(config, quantize ?? "f32").weightBytes + pad);
        model.dispose();
      }
    }
  } finally {
    backend.dispose();
  }
});

Deno.test("memory check: 2.8b f32 cannot fit WASM's 4 GiB — refused with the size, limit and alternatives", async () => {
  const backend = await createWasmBackend({ threads: 1 });
  try {
    const config = presetConfig("mamba1", "2.8b");
    // Hand count: 64 layers × (in_proj 10240·2560 + x_proj 192·5120 + dt_proj 5120·160 + out_proj 2560·5120
    // + conv 5120·5 + dt bias, A 5120·16, D 5120 + norm 2560) + embedding 50280·2560 + norm_f 2560, 4 bytes each.
    const perLayer = 10240 * 2560 + 192 * 5120 + 5120 * 160 + 2560 * 5120 + 5120 * 5 + 5120 + 5120 * 16 + 5120 + 2560;
    const params = 64 * perLayer + 50280 * 2560 + 2560;
    assert.equal(modelFootprint(config, "f32").weightBytes, 4 * params);
    let error: unknown;
    const before = backend.memory().liveBytes;
    try {
      MambaModel.fromSource(syntheticSource(config, 1), backend); // refused before generating anything
    } catch (e) {
      error = e;
    }
    assert.ok(error instanceof ModelTooLargeError, String(error));
    assert.equal(backend.memory().liveBytes, before, "nothing was allocated");
    assert.equal(error.limit, "memory");
    assert.equal(error.neededBytes, 4 * params);
    assert.equal(error.limitBytes, 2 ** 32 - before);
    assert.deepEqual(error.fits, ["q8_0", "q4_0"]);
    assert.match(
      error.message,
      /^mamba1 d_model 2560 × 64 layers \(2\.77 B parameters\) needs 10\.31 GiB \(f32 weights 10\.31 GiB\) but the wasm backend can hold 4\.00 GiB .*--weights q8 \(3\.10 GiB\), or --weights q4 \(1\.87 GiB\), or f16 weights on the webgpu backend \(5\.17 GiB\), or the webgpu backend/,
    );
    // q8: in_proj, x_proj, dt_proj (dt_rank 160), out_proj in 34-byte blocks of 32; conv1d (5120·5), A (5120·16)
    // and D (5120) in f16; dt bias and norm f32 (hand count).
    const q8 = 64 * ((10240 * 2560 + 192 * 5120 + 5120 * 160 + 2560 * 5120) * 34 / 32 + 2 * 112640 + 4 * 7680) +
      4 * (50280 * 2560 + 2560);
    assert.equal(modelFootprint(config, "q8_0").weightBytes, q8);
    assert.equal((q8 / 2 ** 30).toFixed(2), "3.10");
    // q8 and q4 fit, and so does a 512-token pass beside them.
    for (const storage of ["q8_0", "q4_0"] as const) {
      assert.equal(modelFitProblem(config, backend, { storage, pass: { batch: 1, seqLen: 512 } }), null);
    }
    // A pass too long for the memory left is refused too, naming its tokens.
    assert.throws(
      () => checkModelFits(config, backend, { storage: "q8_0", pass: { batch: 64, seqLen: 16384 } }),
      (e) => e instanceof ModelTooLargeError && /state and activations for 64 × 16384 tokens/.test(e.message),
    );
  } finally {
    backend.dispose();
  }
});

const gpu = TEST_BACKENDS.find((b) => b.name === "webgpu")!;
Deno.test({
  name: `memory check: a tensor over the WebGPU binding limit is refused before any upload ${gpu.skip ?? ""}`,
  ignore: gpu.skip !== null,
  fn: async () => {
    const device = await sharedGpuDevice();
    const backend = await createWebGpuBackend({ device, maxBindingSize: 65536 });
    try {
      // d_model 512: rows of d_inner 1024 f32 (4096 bytes) bind in parts, but Mamba-1's A ([1024, 16] f32, 65536
      // bytes) is bound whole and just fits; d_model 1024 doubles it (131072 bytes): refused, nothing allocated.
      const fits = makeConfig("mamba1", { dModel: 512, nLayer: 1, vocabSize: 64 });
      assert.equal(modelFitProblem(fits, backend), null);
      const big = makeConfig("mamba1", { dModel: 1024, nLayer: 1, vocabSize: 64 });
      assert.throws(
        () => MambaModel.fromSource(syntheticSource(big, 1), backend),
        (e) =>
          e instanceof ModelTooLargeError && e.limit === "binding" && e.limitBytes === 65536 &&
          e.neededBytes === 2048 * 16 * 4 &&
          /has a f32 row or vector of 131072 bytes, over the webgpu backend's 65536-byte storage binding limit; instead: the wasm backend/
            .test(e.message),
      );
      assert.equal(backend.memory().liveBytes, 0, "nothing was allocated");
    } finally {
      backend.dispose();
    }
  },
});
