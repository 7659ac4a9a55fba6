/**
 * The backend configurations every op case runs over. WASM always (1 thread, and 2 threads with every op spread
 * over both however small; each in the baseline SIMD build and the relaxed-SIMD one where the host has it; and with
 * the exact quantized kernels, `quantActivations: false`, and the 8-bit activations, `quantActivations: "int8"`, for the
 * ops that take matrices); WebGPU where an adapter
 * exists, on the process's shared device (tests/_gpu_device.ts),
 * as is, with a lowered binding limit (matrices split over several buffers, linear's rows bound a few at a time),
 * and with f16 weight storage for the ops that take matrices. Without an adapter the WebGPU cases are registered
 * as ignored with the reason in their names.
 *
 * @module
 */
import type { Backend } from "../../runtime/backend.ts";
import { probeWebGpu } from "../../runtime/select_backend.ts";
import { createWasmBackend } from "../../wasm/backend.ts";
import { relaxedSimdSupported } from "../../wasm/module.ts";
import { createWebGpuBackend } from "../../kernels/webgpu_backend.ts";
import { sharedGpuDevice } from "../_gpu_device.ts";

/** The lowered WebGPU storage binding limit: the smallest the backend accepts. */
export const LOW_BINDING = 4096;

/** One backend configuration of the suite. */
export interface OpBackend {
  /** Short name in test names: `op add [wasm×2] …`. */
  label: string;
  /** Which backend: references and error expectations differ only by this and the flags below. */
  kind: "wasm" | "webgpu";
  /** Why this configuration's cases are skipped here, or null. */
  skip: string | null;
  /** Weight matrices stored as f16: references use the f16-rounded weights. */
  f16Weights: boolean;
  /** The lowered storage binding limit in bytes, or null for the device's own. */
  maxBindingSize: number | null;
  /** Only the ops that take a Matrix (linear, embed, embedFrom) run here. */
  matricesOnly: boolean;
  /** memory() counts exactly 4 bytes per element (WASM); WebGPU counts its pooled buffers' sizes. */
  exactMemory: boolean;
  /**
   * linear on q8_0 / q4_0 weights takes an integer path with activation codes in ±quantLevels (32767: 16-bit, the
   * WASM default; 127: 8-bit): checked against the float64 product within the bound derived from the activations'
   * quantization step, not to f32 rounding. null: the weights dequantized (f32 rounding only).
   */
  quantLevels: 32767 | 127 | null;
  create(): Promise<Backend>;
}

const gpu = await probeWebGpu();
const noGpu = gpu.adapter ? null : `skipped: no WebGPU adapter (${gpu.detail})`;

/**
 * WASM on `threads` threads, the baseline SIMD build or the relaxed-SIMD one (fused multiply-adds where the host
 * fuses them): the references' bounds must hold for both. quantActivations true: 16-bit activations (named
 * explicitly: the backend's default is "int8"); false: the exact quantized kernels; "int8": 8-bit activations, the
 * default (only the ops that take matrices change).
 */
function wasm(threads: number, relaxedSimd: boolean, quantActivations: boolean | "int8" = true): OpBackend {
  // minWorkPerThread 0: every op is split over all threads, however small the case. Passed through a variable
  // (no excess-property check) so that the suite still compiles should the option be renamed.
  const opts = { threads, minWorkPerThread: 0, relaxedSimd, quantActivations };
  return {
    label: `wasm×${threads}${relaxedSimd ? " relaxed" : ""}${
      quantActivations === "int8" ? " int8 quant" : quantActivations ? "" : " exact quant"
    }`,
    kind: "wasm",
    skip: relaxedSimd && !relaxedSimdSupported() ? "skipped: this host has no WebAssembly relaxed SIMD" : null,
    f16Weights: false,
    maxBindingSize: null,
    // The exact quantized kernels (quantActivations: false) and the 8-bit activations change only linear on q8_0 /
    // q4_0 matrices.
    matricesOnly: quantActivations !== true,
    exactMemory: true,
    quantLevels: quantActivations === "int8" ? 127 : quantActivations ? 32767 : null,
    create: () => createWasmBackend(opts),
  };
}

function webgpu(label: string, f16Weights: boolean, maxBindingSize: number | null): OpBackend {
  return {
    label,
    kind: "webgpu",
    skip: noGpu,
    f16Weights,
    maxBindingSize,
    matricesOnly: f16Weights,
    exactMemory: false,
    quantLevels: null,
    create: async () =>
      createWebGpuBackend({ device: await sharedGpuDevice(), f16Weights, maxBindingSize: maxBindingSize ?? undefined }),
  };
}

/** Every configuration, in registration order. */
export const OP_BACKENDS: OpBackend[] = [
  wasm(1, false),
  wasm(2, false),
  wasm(1, true),
  wasm(2, true),
  wasm(1, false, false),
  wasm(2, true, false),
  wasm(1, true, "int8"),
  wasm(2, false, "int8"),
  webgpu("webgpu", false, null),
  webgpu(`webgpu bind ${LOW_BINDING / 1024} KiB`, false, LOW_BINDING),
  webgpu("webgpu f16", true, null),
  webgpu(`webgpu f16 bind ${LOW_BINDING / 1024} KiB`, true, LOW_BINDING),
];
