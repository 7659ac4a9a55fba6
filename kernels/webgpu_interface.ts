/**
 * The public face of the WebGPU backend: {@link WebGpuBackendOptions} and the {@link WebGpuBackend} interface (a
 * {@link Backend} plus profiling, housekeeping, debugging and pipeline precompilation), implemented by
 * `webgpu_backend.ts`.
 *
 * @module
 */

import type { Backend, Matrix, PassTiming, QuantizedMatrixData, SyntheticUniform, Tensor } from "../runtime/backend.ts";
import type { PipelineSpec, PipelineStats } from "./pipeline_cache.ts";

/** Options of `createWebGpuBackend` (webgpu_backend.ts). */
export interface WebGpuBackendOptions {
  /** Run on this device (not destroyed by `dispose`); default: request one from `navigator.gpu`. */
  device?: GPUDevice;
  /** Storage binding limit in bytes (default: the device's `maxStorageBufferBindingSize`); lower it to test splits. */
  maxBindingSize?: number;
  /** Time every compute pass with `timestamp-query` when the adapter has it (see `gpuTimings`). */
  timestamps?: boolean;
  /** Adapter preference. */
  powerPreference?: GPUPowerPreference;
  /**
   * Store weight matrices (projections, embedding, lm_head) as f16: half the memory and half the bytes a
   * decode step reads; all arithmetic stays f32. Needs no `shader-f16` (pairs are unpacked with WGSL's core
   * `unpack2x16float`), so it works on every adapter. Vectors (norms, conv, A, D, biases) stay f32.
   */
  f16Weights?: boolean;
  /**
   * Dispatches recorded before the encoder is submitted without a read (default 128). Smaller values start the GPU
   * sooner while the host is still encoding, e.g. over the many steps of `MambaModel.greedy`.
   */
  dispatchesPerSubmit?: number;
  /**
   * Validate every dispatch on its own: each is wrapped in a `validation` error scope and submitted alone, and the
   * next `read` or `sync` throws an Error naming the kernel and label of each dispatch the device rejected (instead
   * of an unattributed "WebGPU error"). Slow: for debugging only.
   */
  debug?: boolean;
}

/** Time one labelled compute pass took on the GPU (see {@link PassTiming}). */
export type GpuTiming = PassTiming;

/** The WebGPU backend: a {@link Backend} plus profiling and housekeeping extras. */
export interface WebGpuBackend extends Backend, Disposable {
  /** The device the backend runs on. */
  readonly device: GPUDevice;
  /** Storage binding limit in use (bytes). */
  readonly maxBindingSize: number;
  /** Whether passes are being timed now (timestamps requested and available, and `passTimer.enabled`). */
  readonly timestamps: boolean;
  /** Whether weight matrices are stored as f16 (see {@link WebGpuBackendOptions.f16Weights}). */
  readonly f16Weights: boolean;
  /** Whether dispatches are validated one by one (see {@link WebGpuBackendOptions.debug}). */
  readonly debug: boolean;
  /** Always present: q8_0 and q4_0, dequantized in registers by the `_q` kernels (kernels/linear_q.ts). */
  uploadQuantizedMatrix(data: QuantizedMatrixData, label: string): Matrix;
  /** Always present: kernels/synthetic_uniform.wgsl writes the values straight into the tensor's buffer. */
  generateUniform(u: SyntheticUniform, shape: readonly number[], label: string): Tensor;
  /** Always present: each row part generated in its own buffer, f16 pairs with `f16Weights`. */
  generateUniformMatrix(u: SyntheticUniform, n: number, k: number, label: string): Matrix;
  /**
   * Label the compute passes recorded from now on (null: one pass per kernel, labelled with its name). Meant for
   * a profiler's component hooks: `begin: (c, l) => backend.setScope(`${c}.${l}`)`.
   */
  setScope(label: string | null): void;
  /** Timings of every pass recorded since the last call (submits pending work first). Empty without timestamps. */
  gpuTimings(): Promise<GpuTiming[]>;
  /** Submit the recorded work without waiting for it. */
  flush(): void;
  /** Destroy the idle buffers held by the pool. */
  trim(): void;
  /** Restart the peak of `memory()` from the current live bytes. */
  resetPeak(): void;
  /** Bind group cache lookups since creation: hits reuse a bind group, misses create one. */
  readonly bindGroupStats: { readonly hits: number; readonly misses: number };
  /** Kernel dispatches recorded since creation (planning dry runs not counted): the backend counts every one. */
  readonly dispatchCount: number;
  /**
   * Pipeline lookups of this backend: `misses` are pipelines created synchronously by a dispatch (a stall, seconds
   * per kernel on software adapters), `precompiled` those compiled ahead by {@link WebGpuBackend.precompile}.
   */
  readonly pipelineStats: Readonly<PipelineStats>;
  /**
   * The pipelines `run` would create: it runs with every dispatch recorded instead of encoded (allocation, copies
   * and reads run as usual, so compute results are garbage: use it on a throwaway state, e.g. a dry forward pass of
   * the shapes to come), and returns the pipelines (kernel and override constants) not compiled yet.
   */
  pipelinesFor(run: () => unknown): Promise<PipelineSpec[]>;
  /**
   * Compile pipelines ahead of use, all in parallel (`createComputePipelineAsync`); resolves to how many were new.
   * Pipelines are cached per device, so every backend on the device gains.
   */
  precompile(specs: Iterable<PipelineSpec>): Promise<number>;
}
