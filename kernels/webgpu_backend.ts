/**
 * The WebGPU {@link Backend}: weights resident on the GPU, activations from a {@link BufferPool}, every op of a
 * forward pass encoded into one command encoder (compute passes) and submitted when the host waits (`read`,
 * `sync`) or when the encoder grows past a threshold.
 *
 * Each op lives in `kernels/<op>.wgsl` + `kernels/<op>.ts`; this file only resolves tensors to buffer
 * bindings, caches pipelines, packs uniforms and records dispatches.
 *
 * @example
 * ```ts ignore
 * import { createWebGpuBackend } from "./webgpu_backend.ts";
 * using backend = await createWebGpuBackend();
 * const a = backend.upload(new Float32Array([1, 2]), [1, 2], "a");
 * const b = backend.add(a, a);
 * console.log(await backend.read(b)); // Float32Array [2, 4]
 * ```
 *
 * @module
 */

import type {
  Backend,
  BackendCapabilities,
  DevicePeaks,
  Matrix,
  MemoryStats,
  PassTimer,
  PassTiming,
  SelectiveScanArgs,
  SsdArgs,
  Tensor,
  View,
} from "../runtime/backend.ts";
import { asView } from "../runtime/backend.ts";
import {
  checkAdd,
  checkConv1d,
  checkEmbed,
  checkGatedRmsNorm,
  checkGatherRows,
  checkIdRange,
  checkLinear,
  checkRmsNorm,
  checkSelectiveScan,
  checkShape,
  checkSsd,
  checkUpload,
  checkUploadMatrix,
} from "../runtime/op_checks.ts";
import { addProgram } from "./add.ts";
import { bucketBytes, BufferPool } from "./buffer_pool.ts";
import { type Conv1dDims, conv1dProgram, convStateProgram } from "./conv1d.ts";
import { acquireDevice } from "./device.ts";
import { gatherProgram } from "./gather.ts";
import { argmaxProgram } from "./argmax.ts";
import { KERNELS } from "./generated/kernels.ts";
import { WGSL } from "./generated/wgsl.ts";
import { linearProgram, splitK, splitkReduceProgram } from "./linear.ts";
import {
  checkBindings,
  layoutEntries,
  paramBytes,
  pipelineKey,
  type Program,
  type Slice,
  writeParams,
} from "./program.ts";
import { gatedRmsNormProgram, rmsNormProgram } from "./rms_norm.ts";
import { type ScanDims, scanScratchFloats, selectiveScanPrograms } from "./selective_scan.ts";
import { type SsdDims, ssdPrograms, ssdRecurrent, ssdScratchFloats } from "./ssd.ts";

/** Options of {@link createWebGpuBackend}. */
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
}

// GPUBufferUsage / GPUMapMode values, spelled out so that importing this module never touches WebGPU globals
// (it must load, and fail only when called, where WebGPU is absent).
const U = { MAP_READ: 0x1, COPY_SRC: 0x4, COPY_DST: 0x8, UNIFORM: 0x40, STORAGE: 0x80, QUERY_RESOLVE: 0x200 } as const;
const MAP_READ = 0x1;
const STORAGE = U.STORAGE | U.COPY_SRC | U.COPY_DST;
const READBACK = U.MAP_READ | U.COPY_DST;
/** Dispatches recorded before the encoder is submitted on its own. */
const MAX_DISPATCHES_PER_SUBMIT = 128;
/**
 * Greedy decode steps per readback: a readback costs ≥ 10 ms in Deno (deno_webgpu polls, then sleeps), a step on an
 * H100 ~2.3 ms (BENCHMARKS.md).
 */
const DECODE_BURST = 32;
/** Perplexity windows per forward pass: enough rows to fill the GEMM tiles. */
const PREFERRED_BATCH = 8;

/** Compute passes timed per submit (2 timestamps each). */
const MAX_TIMED_PASSES = 2048;
/**
 * Shader modules and pipelines per device, shared by every backend on it: compiling is the slowest thing a backend
 * does (seconds per kernel on software adapters), and pipelines belong to the device, not to the backend.
 */
const DEVICE_CACHES = new WeakMap<
  GPUDevice,
  { pipelines: Map<string, PipelineEntry>; modules: Map<string, GPUShaderModule> }
>();

function deviceCache(
  device: GPUDevice,
): { pipelines: Map<string, PipelineEntry>; modules: Map<string, GPUShaderModule> } {
  let c = DEVICE_CACHES.get(device);
  if (!c) DEVICE_CACHES.set(device, c = { pipelines: new Map(), modules: new Map() });
  return c;
}

/** Bytes of one uniform/upload arena page. */
const ARENA_PAGE = 256 * 1024;
/** Bind groups kept for reuse (oldest dropped first beyond this). */
const MAX_CACHED_BIND_GROUPS = 8192;

/** The descriptor of the one compute pass per submit (between copies) when passes are not timed. */
const UNTIMED_PASS: GPUComputePassDescriptor = { label: "perfmamba.compute" };

class GpuTensor implements Tensor {
  readonly size: number;
  constructor(
    readonly shape: readonly number[],
    readonly label: string,
    public buffer: GPUBuffer | null,
    readonly owner: object,
  ) {
    this.size = shape.reduce((a, b) => a * b, 1);
  }
  get bytes(): number {
    return this.size * 4;
  }
}

interface MatrixPart {
  buffer: GPUBuffer; // (rows, k)
  r0: number;
  rows: number;
}

class GpuMatrix implements Matrix {
  constructor(
    readonly n: number,
    readonly k: number,
    readonly label: string,
    public parts: MatrixPart[] | null,
    readonly owner: object,
    /** Stored as f16 pairs (rows padded to an even length) instead of f32. */
    readonly f16: boolean,
  ) {}
  /** Bytes of one stored row. */
  get rowBytes(): number {
    return this.f16 ? Math.ceil(this.k / 2) * 4 : this.k * 4;
  }
}

/** Rows of a row-major [rows, k] f32 matrix as f16, each row padded to an even length (for u32 pairs). */
function toF16Rows(data: Float32Array, rows: number, k: number): Uint16Array {
  const kp = k + (k % 2);
  if (kp === k) return new Uint16Array(new Float16Array(data).buffer);
  const out = new Float16Array(rows * kp);
  for (let r = 0; r < rows; r++) out.set(data.subarray(r * k, (r + 1) * k), r * kp);
  return new Uint16Array(out.buffer);
}

/** Small host data (uniforms, token ids) packed per submit and written with one `writeBuffer` per page. */
interface ArenaPage {
  buffer: GPUBuffer;
  cpu: Uint8Array<ArrayBuffer>;
  view: DataView;
  used: number;
}

/** A cached pipeline with its bind group layout and a small id for bind group cache keys. */
interface PipelineEntry {
  pipeline: GPUComputePipeline;
  layout: GPUBindGroupLayout;
  id: number;
  /**
   * Whether the layout is explicit with a dynamic offset on the uniform binding (the uniform block's arena offset
   * is then not part of the bind group, so one bind group serves every dispatch over the same buffers); false
   * where the kernel's bindings could not be read from its source ("auto" layout, offset in the bind group).
   */
  dynamic: boolean;
}

/** A cached bind group and the ids of the buffers it references (for invalidation). */
interface CachedBindGroup {
  group: GPUBindGroup;
  buffers: number[];
}

function shapeStr(shape: readonly number[]): string {
  return `[${shape.join(", ")}]`;
}

/**
 * Create the WebGPU backend.
 *
 * @throws Error when WebGPU is missing ("WebGPU is not available: navigator.gpu is undefined"), when there is no
 * adapter, or when a requested feature is missing.
 */
export async function createWebGpuBackend(opts: WebGpuBackendOptions = {}): Promise<WebGpuBackend> {
  const { device, owned, description } = await acquireDevice(opts);
  return new WebGpuBackendImpl(device, owned, description, opts);
}

class WebGpuBackendImpl implements WebGpuBackend {
  readonly name = "webgpu";
  readonly description: string;
  readonly device: GPUDevice;
  readonly maxBindingSize: number;
  readonly f16Weights: boolean;
  readonly passTimer?: PassTimer;
  readonly capabilities: BackendCapabilities;
  get timestamps(): boolean {
    return this.#timing;
  }

  readonly #owned: boolean;
  readonly #pool: BufferPool;
  readonly #align: number; // storage offset alignment
  readonly #uniformAlign: number;
  readonly #maxBufferSize: number;
  readonly #pipelines: Map<string, PipelineEntry>;
  readonly #modules: Map<string, GPUShaderModule>;
  readonly #dummy: GPUBuffer; // bound where an optional operand (bias) is absent
  readonly #dummySlice: Slice;
  readonly #arena: ArenaPage[] = [];
  #arenaPage = 0;
  /** Bind groups by (pipeline, bound buffer ranges); decode steps and repeated prefills hit it. */
  readonly #bindGroups = new Map<string, CachedBindGroup>();
  /** Cache keys that reference each buffer id (dropped when the buffer is destroyed). */
  readonly #bindGroupsOf = new Map<number, Set<string>>();
  readonly #bufferIds = new WeakMap<GPUBuffer, number>();
  #nextBufferId = 1;
  /** Bind group entries reused by every cache miss (resources are replaced in place). */
  readonly #entries: GPUBindGroupEntry[] = [];
  /** The dynamic offset array handed to `setBindGroup` (one element, rewritten per dispatch). */
  readonly #dynamicOffset: number[] = [0];
  readonly bindGroupStats = { hits: 0, misses: 0 };

  #encoder: GPUCommandEncoder | null = null;
  #pass: GPUComputePassEncoder | null = null;
  #passLabel: string | null = null;
  #dispatches = 0;
  #scope: string | null = null;
  #deferredDestroy: GPUBuffer[] = [];

  #timing = false;
  /** Device clock of the first timed pass (timings are reported from it). */
  #clockBase: bigint | null = null;
  #querySet: GPUQuerySet | null = null;
  #resolveBuffer: GPUBuffer | null = null;
  #passLabels: string[] = [];
  #pendingTimings: Promise<GpuTiming[]>[] = [];
  readonly #dispatchesPerSubmit: number;

  #live = 0;
  #peak = 0;
  #disposed = false;
  #lostReason: string | null = null;
  readonly #lostPromise: Promise<never>;
  #gpuError: string | null = null;

  constructor(device: GPUDevice, owned: boolean, description: string, opts: WebGpuBackendOptions) {
    const cache = deviceCache(device);
    this.#pipelines = cache.pipelines;
    this.#modules = cache.modules;
    this.device = device;
    this.#owned = owned;
    this.description = opts.f16Weights ? `${description}, f16 weights` : description;
    const limit = device.limits.maxStorageBufferBindingSize;
    this.maxBindingSize = Math.min(limit, opts.maxBindingSize ?? limit);
    if (this.maxBindingSize < 4096) throw new RangeError(`maxBindingSize ${this.maxBindingSize} is below 4096 bytes`);
    this.#align = device.limits.minStorageBufferOffsetAlignment;
    this.#uniformAlign = Math.max(device.limits.minUniformBufferOffsetAlignment, this.#align);
    this.#maxBufferSize = device.limits.maxBufferSize;
    this.#pool = new BufferPool(device, (b) => this.#forgetBuffer(b));
    this.#dummy = device.createBuffer({ size: 256, usage: U.STORAGE, label: "dummy" });
    this.#dummySlice = { buffer: this.#dummy, offset: 0, size: 16 };
    const canTime = !!opts.timestamps && device.features.has("timestamp-query");
    this.#timing = canTime;
    this.f16Weights = !!opts.f16Weights;
    this.capabilities = {
      queued: true,
      timestamps: canTime,
      deviceTokenChoice: true,
      decodeBurst: DECODE_BURST,
      threads: 1,
      weightFormats: ["f32", "f16"],
      weightFormat: this.f16Weights ? "f16" : "f32",
      preferredBatch: PREFERRED_BATCH,
      deviceSampling: false,
    };
    this.#dispatchesPerSubmit = opts.dispatchesPerSubmit ?? MAX_DISPATCHES_PER_SUBMIT;
    if (canTime) {
      // deno-lint-ignore no-this-alias
      const self = this;
      this.passTimer = {
        get enabled(): boolean {
          return self.#timing;
        },
        set enabled(on: boolean) {
          if (on !== self.#timing) self.flush(); // passes recorded so far keep their mode
          self.#timing = on;
        },
        setScope: (label) => this.setScope(label),
        timings: () => this.gpuTimings(),
      };
      this.#querySet = device.createQuerySet({ type: "timestamp", count: 2 * MAX_TIMED_PASSES, label: "timestamps" });
      this.#resolveBuffer = device.createBuffer({
        size: 2 * MAX_TIMED_PASSES * 8,
        usage: U.QUERY_RESOLVE | U.COPY_SRC,
        label: "timestamps.resolve",
      });
    }
    this.#lostPromise = device.lost.then((info) => {
      if (!this.#disposed) this.#lostReason = info.message || String(info.reason);
      throw new Error(`WebGPU device lost: ${this.#lostReason ?? "destroyed"}`);
    });
    this.#lostPromise.catch(() => {}); // observed through #wait
    device.addEventListener("uncapturederror", (e) => {
      this.#gpuError ??= (e as GPUUncapturedErrorEvent).error.message;
    });
  }

  // ---- housekeeping ------------------------------------------------------------------------------------------

  #check(): void {
    if (this.#disposed) throw new Error("WebGPU backend used after dispose()");
    if (this.#lostReason !== null) throw new Error(`WebGPU device lost: ${this.#lostReason}`);
  }

  #throwGpuError(): void {
    if (this.#gpuError !== null) {
      const m = this.#gpuError;
      this.#gpuError = null;
      throw new Error(`WebGPU error: ${m}`);
    }
  }

  /** Wait for a GPU promise, failing (with a message naming `what`) instead of hanging when the device is lost. */
  async #wait<T>(p: Promise<T>, what = "operation"): Promise<T> {
    try {
      return await Promise.race([p, this.#lostPromise]);
    } catch (e) {
      await Promise.race([this.#lostPromise, new Promise((r) => setTimeout(r, 0))]).catch(() => {});
      const lost = this.#lostReason !== null ? ` (WebGPU device lost: ${this.#lostReason})` : "";
      throw new Error(`WebGPU ${what} failed${lost}: ${(e as Error).message}`, { cause: e });
    }
  }

  #tensor(t: Tensor | View, op: string): GpuTensor {
    const x = "tensor" in t ? t.tensor : t;
    if (!(x instanceof GpuTensor) || x.owner !== this) {
      throw new Error(`${op}: ${x.label} is not a tensor of this WebGPU backend`);
    }
    if (!x.buffer) throw new Error(`${op}: tensor ${x.label} used after free`);
    return x;
  }

  #matrix(m: Matrix, op: string): GpuMatrix {
    if (!(m instanceof GpuMatrix) || m.owner !== this) {
      throw new Error(`${op}: ${m.label} is not a matrix of this WebGPU backend`);
    }
    if (!m.parts) throw new Error(`${op}: matrix ${m.label} used after free`);
    return m;
  }

  #track(bytes: number): void {
    this.#live += bytes;
    if (this.#live > this.#peak) this.#peak = this.#live;
  }

  #alloc(shape: readonly number[], label: string): GpuTensor {
    const size = checkShape(label, shape);
    if (size * 4 > this.#maxBufferSize) {
      throw new RangeError(`${label}: ${size * 4} bytes exceed the device's maxBufferSize ${this.#maxBufferSize}`);
    }
    const { buffer } = this.#pool.acquire(size * 4, STORAGE, label);
    this.#track(buffer.size);
    return new GpuTensor([...shape], label, buffer, this);
  }

  /** The whole tensor as one binding (an error when it is over the binding limit). */
  #slice(t: GpuTensor, op: string): Slice {
    const size = Math.max(4, t.bytes);
    if (size > this.maxBindingSize) {
      throw new RangeError(
        `${op}: ${t.label} ${shapeStr(t.shape)} is ${size} bytes, over the ${this.maxBindingSize}-byte storage ` +
          "binding limit (linear and embed split their operands; MambaModel.prefill splits long sequences so " +
          "that the other ops' tensors fit)",
      );
    }
    return { buffer: t.buffer!, offset: 0, size };
  }

  /** Elements [e0, e1) of a tensor as a binding whose offset is aligned, and the element index of e0 in it. */
  #range(t: GpuTensor, e0: number, e1: number): { slice: Slice; base: number } {
    const offset = Math.floor((e0 * 4) / this.#align) * this.#align;
    const size = Math.max(4, e1 * 4 - offset);
    return { slice: { buffer: t.buffer!, offset, size }, base: (e0 * 4 - offset) / 4 };
  }

  // ---- recording ---------------------------------------------------------------------------------------------

  #enc(): GPUCommandEncoder {
    return this.#encoder ??= this.device.createCommandEncoder({ label: "perfmamba.forward" });
  }

  #endPass(): void {
    if (this.#pass) {
      this.#pass.end();
      this.#pass = null;
      this.#passLabel = null;
    }
  }

  #passFor(label: string): GPUComputePassEncoder {
    if (this.#pass) {
      // Untimed: every dispatch between two copies/clears shares one pass (each dispatch is its own usage scope,
      // so ordering and visibility are the same as with a pass per op). Timed: a pass per scope, or per kernel
      // when no scope is set, since a pass's timestampWrites are the only portable per-op timing.
      if (!this.#timing) return this.#pass;
      if (this.#passLabel === label && this.#scope !== null) return this.#pass;
    }
    this.#endPass();
    if (!this.#timing) {
      this.#pass = this.#enc().beginComputePass(UNTIMED_PASS);
      this.#passLabel = UNTIMED_PASS.label!;
      return this.#pass;
    }
    if (this.#passLabels.length >= MAX_TIMED_PASSES) this.flush();
    const desc: GPUComputePassDescriptor = { label };
    {
      const q = 2 * this.#passLabels.length;
      desc.timestampWrites = { querySet: this.#querySet!, beginningOfPassWriteIndex: q, endOfPassWriteIndex: q + 1 };
      this.#passLabels.push(label);
    }
    this.#pass = this.#enc().beginComputePass(desc);
    this.#passLabel = label;
    return this.#pass;
  }

  /** Copy host bytes into the arena; the returned binding is valid for work recorded before the next submit. */
  #stage(data: Uint8Array, align: number): Slice {
    const bytes = Math.max(16, Math.ceil(data.byteLength / 16) * 16);
    const page = this.#reserve(bytes, align);
    const offset = page.used - bytes;
    page.cpu.set(data, offset);
    return { buffer: page.buffer, offset, size: bytes };
  }

  /** Reserve `bytes` at an `align`ed offset of an arena page; the reservation ends at the page's `used`. */
  #reserve(bytes: number, align: number): ArenaPage {
    for (;;) {
      let page = this.#arena[this.#arenaPage];
      if (!page) {
        const size = Math.max(ARENA_PAGE, bytes);
        page = {
          buffer: this.device.createBuffer({
            size,
            usage: U.UNIFORM | U.STORAGE | U.COPY_DST,
            label: `arena.${this.#arena.length}`,
          }),
          cpu: new Uint8Array(size),
          view: new DataView(new ArrayBuffer(0)),
          used: 0,
        };
        page.view = new DataView(page.cpu.buffer);
        this.#arena.push(page);
      }
      const offset = Math.ceil(page.used / align) * align;
      if (offset + bytes <= page.cpu.byteLength) {
        page.used = offset + bytes;
        return page;
      }
      this.#arenaPage++;
    }
  }

  /** A stable small id of a buffer (bind group cache keys). */
  #bufferId(b: GPUBuffer): number {
    let id = this.#bufferIds.get(b);
    if (id === undefined) {
      id = this.#nextBufferId++;
      this.#bufferIds.set(b, id);
    }
    return id;
  }

  /** Drop the cached bind groups that reference a buffer about to be destroyed. */
  #forgetBuffer(b: GPUBuffer): void {
    const id = this.#bufferIds.get(b);
    if (id === undefined) return;
    const keys = this.#bindGroupsOf.get(id);
    if (keys) {
      for (const key of keys) this.#dropBindGroup(key);
      this.#bindGroupsOf.delete(id);
    }
  }

  #dropBindGroup(key: string): void {
    const e = this.#bindGroups.get(key);
    if (!e) return;
    this.#bindGroups.delete(key);
    for (const id of e.buffers) this.#bindGroupsOf.get(id)?.delete(key);
  }

  #pipeline(p: Program): PipelineEntry {
    const key = pipelineKey(p.kernel, p.constants);
    let entry = this.#pipelines.get(key);
    if (!entry) {
      let module = this.#modules.get(p.kernel);
      if (!module) {
        module = this.device.createShaderModule({ code: WGSL[p.kernel], label: p.kernel });
        this.#modules.set(p.kernel, module);
      }
      const bgl = this.device.createBindGroupLayout({ entries: layoutEntries(p.kernel), label: key });
      const pipeline = this.device.createComputePipeline({
        label: key,
        layout: this.device.createPipelineLayout({ bindGroupLayouts: [bgl], label: key }),
        compute: { module, entryPoint: "main", constants: { ...p.constants } as Record<string, number> },
      });
      entry = { pipeline, layout: bgl, id: this.#pipelines.size + 1, dynamic: true };
      this.#pipelines.set(key, entry);
    }
    return entry;
  }

  /**
   * The bind group of a dispatch: uniforms at `@binding(0)`, storage from `@binding(1)`. Cached by pipeline and
   * buffer ranges (buffer identity via ids; pooled buffers keep theirs across reuse), so steady decode steps and
   * repeated prefills create none. The uniform range is in an arena page rewritten every submit; with a dynamic
   * layout it is bound at offset 0 and the dispatch's offset is passed to `setBindGroup`.
   */
  #bindGroup(pipe: PipelineEntry, p: Program, uBuffer: GPUBuffer, uOffset: number, uSize: number): GPUBindGroup {
    const names = KERNELS[p.kernel].storage;
    const bindings = p.bindings as unknown as Readonly<Record<string, Slice>>;
    const uId = this.#bufferId(uBuffer);
    if (pipe.dynamic) uOffset = 0;
    let key = `${pipe.id}|${uId}:${uOffset}:${uSize}`;
    for (let i = 0; i < names.length; i++) {
      const s = bindings[names[i].name];
      if (s.size > this.maxBindingSize) {
        throw new RangeError(`${p.label}: binding ${i + 1} of ${s.size} bytes exceeds ${this.maxBindingSize}`);
      }
      key += `|${this.#bufferId(s.buffer)}:${s.offset}:${s.size}`;
    }
    const hit = this.#bindGroups.get(key);
    if (hit) {
      this.bindGroupStats.hits++;
      return hit.group;
    }
    this.bindGroupStats.misses++;
    const entries = this.#entries;
    entries.length = 0;
    entries.push({ binding: 0, resource: { buffer: uBuffer, offset: uOffset, size: uSize } });
    const buffers = [uId];
    for (let i = 0; i < names.length; i++) {
      const s = bindings[names[i].name];
      entries.push({ binding: i + 1, resource: { buffer: s.buffer, offset: s.offset, size: s.size } });
      buffers.push(this.#bufferId(s.buffer));
    }
    const group = this.device.createBindGroup({ layout: pipe.layout, entries, label: p.label });
    entries.length = 0;
    if (this.#bindGroups.size >= MAX_CACHED_BIND_GROUPS) {
      this.#dropBindGroup(this.#bindGroups.keys().next().value!); // oldest first
    }
    this.#bindGroups.set(key, { group, buffers });
    for (const id of buffers) {
      let keys = this.#bindGroupsOf.get(id);
      if (!keys) this.#bindGroupsOf.set(id, keys = new Set());
      keys.add(key);
    }
    return group;
  }

  #run(p: Program): void {
    const pipe = this.#pipeline(p);
    checkBindings(p.kernel, p.label, p.bindings);
    const uSize = paramBytes(p.kernel);
    const page = this.#reserve(uSize, this.#uniformAlign);
    const uOffset = page.used - uSize;
    writeParams(page.view, uOffset, uSize, p.kernel, p.label, p.uniforms);
    const bindGroup = this.#bindGroup(pipe, p, page.buffer, uOffset, uSize);
    const pass = this.#passFor(this.#scope ?? p.label);
    pass.setPipeline(pipe.pipeline);
    if (pipe.dynamic) {
      this.#dynamicOffset[0] = uOffset;
      pass.setBindGroup(0, bindGroup, this.#dynamicOffset);
    } else {
      pass.setBindGroup(0, bindGroup);
    }
    const wg = p.workgroups;
    pass.dispatchWorkgroups(wg[0], wg[1], wg[2]);
    if (++this.#dispatches >= this.#dispatchesPerSubmit) this.flush();
  }

  #runAll(ps: Program[]): void {
    for (const p of ps) this.#run(p);
  }

  flush(): void {
    this.#check();
    if (!this.#encoder) return;
    this.#endPass();
    const enc = this.#encoder;
    let readback: GPUBuffer | null = null;
    const labels = this.#passLabels;
    if (labels.length > 0) {
      const bytes = labels.length * 16;
      readback = this.device.createBuffer({ size: bytes, usage: READBACK, label: "timestamps.readback" });
      enc.resolveQuerySet(this.#querySet!, 0, labels.length * 2, this.#resolveBuffer!, 0);
      enc.copyBufferToBuffer(this.#resolveBuffer!, 0, readback, 0, bytes);
    }
    for (const page of this.#arena) {
      if (page.used > 0) this.device.queue.writeBuffer(page.buffer, 0, page.cpu, 0, page.used);
      page.used = 0;
    }
    this.#arenaPage = 0;
    this.device.queue.submit([enc.finish()]);
    this.#encoder = null;
    this.#dispatches = 0;
    this.#passLabels = [];
    this.#flushDeferred();
    if (readback) {
      const rb = readback;
      this.#pendingTimings.push(
        this.#wait(rb.mapAsync(MAP_READ), "timestamp readback").then(() => {
          const t = new BigUint64Array(rb.getMappedRange().slice(0));
          rb.destroy();
          const base = this.#clockBase ??= t[0];
          const ms = (v: bigint) => Number(v - base) / 1e6;
          return labels.map((label, i) => ({
            label,
            ms: Number(t[2 * i + 1] - t[2 * i]) / 1e6,
            start: ms(t[2 * i]),
            end: ms(t[2 * i + 1]),
          }));
        }),
      );
    }
  }

  async sync(): Promise<void> {
    this.flush();
    await this.#wait(this.device.queue.onSubmittedWorkDone(), "sync");
    this.#throwGpuError();
  }

  async read(t: Tensor): Promise<Float32Array> {
    this.#check();
    const x = this.#tensor(t, "read");
    const bytes = x.bytes;
    const out = new Float32Array(x.size);
    if (bytes === 0) return out;
    const { buffer: staging } = this.#pool.acquire(bytes, READBACK, `read:${x.label}`);
    this.#endPass();
    this.#enc().copyBufferToBuffer(x.buffer!, 0, staging, 0, bytes);
    this.flush();
    try {
      await this.#wait(staging.mapAsync(MAP_READ, 0, bytes), `read of ${x.label}`);
      out.set(new Float32Array(staging.getMappedRange(0, bytes)));
      staging.unmap();
    } finally {
      if (!this.#disposed) this.#pool.release(staging);
    }
    this.#throwGpuError();
    return out;
  }

  async gpuTimings(): Promise<GpuTiming[]> {
    this.flush();
    const pending = this.#pendingTimings;
    this.#pendingTimings = [];
    return (await Promise.all(pending)).flat();
  }

  setScope(label: string | null): void {
    this.#scope = label;
  }

  memory(): MemoryStats {
    return { liveBytes: this.#live, peakBytes: this.#peak };
  }

  resetPeak(): void {
    this.#peak = this.#live;
  }

  trim(): void {
    this.flush();
    this.#pool.trim();
  }

  dispose(): void {
    if (this.#disposed) return;
    this.#disposed = true;
    this.#pass = null;
    this.#encoder = null;
    this.#pool.dispose();
    this.#bindGroups.clear();
    this.#bindGroupsOf.clear();
    for (const b of this.#deferredDestroy) b.destroy();
    for (const p of this.#arena) p.buffer.destroy();
    this.#dummy.destroy();
    this.#querySet?.destroy();
    this.#resolveBuffer?.destroy();
    if (this.#owned) this.device.destroy();
  }

  [Symbol.dispose](): void {
    this.dispose();
  }

  async measurePeaks(): Promise<DevicePeaks> {
    this.#check();
    await this.sync();
    // Every wait for the GPU has a fixed cost (in Deno ≥ 10 ms, from deno_webgpu's poll sleep) that would swamp
    // short runs: time n and 2n repetitions, each run at least ~200 ms, and keep the difference per repetition.
    const msPerRep = async (issue: () => void, wait: () => Promise<void>): Promise<number> => {
      const run = async (n: number) => {
        const t0 = performance.now();
        for (let i = 0; i < n; i++) issue();
        await wait();
        return performance.now() - t0;
      };
      await run(1); // warm-up: pipelines, first touch of the buffers
      let n = 1;
      while ((await run(n)) < 200 && n < 1 << 14) n *= 2;
      const a = await run(n), b = await run(2 * n);
      // If noise made the difference implausible, fall back to the longer run's plain average.
      return b - a > b / 4 ? (b - a) / n : b / (2 * n);
    };
    // Streaming bandwidth: buffer-to-buffer copies (bytes read + written).
    const bytes = Math.min(1 << 28, this.#maxBufferSize);
    const src = this.device.createBuffer({ size: bytes, usage: STORAGE, label: "peaks.src" });
    const dst = this.device.createBuffer({ size: bytes, usage: STORAGE, label: "peaks.dst" });
    const copyMs = await msPerRep(() => {
      const enc = this.device.createCommandEncoder();
      enc.copyBufferToBuffer(src, 0, dst, 0, bytes);
      this.device.queue.submit([enc.finish()]);
    }, () => this.#wait(this.device.queue.onSubmittedWorkDone()));
    src.destroy();
    dst.destroy();
    const copyBw = (2 * bytes) / (copyMs * 1e6);
    // Read bandwidth: the decode GEMV streaming a 4096-wide matrix of the same size (copies through some drivers
    // reach well under what kernels read; the larger of the two is the device's streaming rate).
    const k = 4096, n = Math.floor(Math.min(bytes, 1 << 27) / (4 * k)); // 128 MiB: well beyond any L2
    const wm = this.uploadMatrix(new Float32Array(n * k), n, k, "peaks.gemv.w");
    const xv = this.upload(new Float32Array(k), [1, k], "peaks.gemv.x");
    const gemvMs = await msPerRep(() => this.free(this.linear(xv, wm)), () => this.sync());
    this.free(wm);
    this.free(xv);
    const readBw = (n * k * 4) / (gemvMs * 1e6);
    const bw = Math.max(copyBw, readBw);
    // GEMM peak: the prefill kernel on random data (zeros can run faster than real data), on the largest square
    // size up to 4096 that fits a binding and that this device runs in under ~30 ms.
    let rand = 12345;
    const random = (n: number) => {
      const a = new Float32Array(n);
      for (let i = 0; i < n; i++) a[i] = ((rand = (Math.imul(rand, 1103515245) + 12345) >>> 0) / 2 ** 32) - 0.5;
      return a;
    };
    let size = 0, gemmMs = Infinity;
    for (let s = 512; s <= 4096 && s * s * 4 <= this.maxBindingSize; s *= 2) {
      const x = this.upload(random(s * s), [s, s], "peaks.x");
      const w = this.uploadMatrix(random(s * s), s, s, "peaks.w");
      const ms = await msPerRep(() => this.free(this.linear(x, w)), () => this.sync());
      this.free(x);
      this.free(w);
      if (size === 0 || (2 * s ** 3) / ms > (2 * size ** 3) / gemmMs) [size, gemmMs] = [s, ms];
      if (ms > 30) break;
    }
    const gflops = (2 * size ** 3) / (gemmMs * 1e6);
    return {
      bandwidthGBs: bw,
      gemmGflops: gflops,
      detail: `bandwidth max(copy ${bytes >> 20} MiB: ${copyBw.toFixed(1)} GB/s read + written, ` +
        `GEMV over a ${(n * k * 4) >> 20} MiB matrix: ${readBw.toFixed(1)} GB/s read); ` +
        `gemm ${size}×${size}×${size} on random data; ` +
        "per repetition from the difference of n and 2n repetitions (cancels the fixed cost of waiting for the GPU)",
    };
  }

  // ---- memory ops --------------------------------------------------------------------------------------------

  /** A new buffer holding `data` (mapped at creation: no ordering hazard with recorded work). */
  #filled(data: ArrayBufferView, label: string, pooled: boolean): GPUBuffer {
    const size = pooled ? bucketBytes(data.byteLength) : Math.max(16, Math.ceil(data.byteLength / 16) * 16);
    const buffer = this.device.createBuffer({ size, usage: STORAGE, label, mappedAtCreation: true });
    new Uint8Array(buffer.getMappedRange()).set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
    buffer.unmap();
    if (pooled) this.#pool.adopt(buffer);
    return buffer;
  }

  upload(data: Float32Array, shape: readonly number[], label: string): Tensor {
    this.#check();
    const size = checkUpload(data, shape, label);
    if (size * 4 > this.#maxBufferSize) {
      throw new RangeError(`upload(${label}): ${size * 4} bytes exceed maxBufferSize`);
    }
    const buffer = this.#filled(data, label, true);
    this.#track(buffer.size);
    return new GpuTensor([...shape], label, buffer, this);
  }

  uploadMatrix(data: Float32Array, n: number, k: number, label: string): Matrix {
    this.#check();
    checkUploadMatrix(data, n, k, label);
    const f16 = this.f16Weights;
    const rowBytes = f16 ? Math.ceil(k / 2) * 4 : k * 4;
    if (rowBytes > this.maxBindingSize) {
      throw new RangeError(`uploadMatrix(${label}): a row of ${rowBytes} bytes exceeds the binding limit`);
    }
    const rowsPerPart = Math.max(1, Math.floor(this.maxBindingSize / rowBytes));
    const parts: MatrixPart[] = [];
    for (let r0 = 0; r0 < n || parts.length === 0; r0 += rowsPerPart) {
      const rows = Math.min(rowsPerPart, n - r0);
      const suffix = n > rowsPerPart ? `[${r0}:${r0 + rows}]` : "";
      const rowsData = data.subarray(r0 * k, (r0 + rows) * k);
      const buffer = this.#filled(f16 ? toF16Rows(rowsData, rows, k) : rowsData, label + suffix, false);
      this.#track(buffer.size);
      parts.push({ buffer, r0, rows });
      if (rows <= 0) break;
    }
    return new GpuMatrix(n, k, label, parts, this, f16);
  }

  zeros(shape: readonly number[], label: string): Tensor {
    this.#check();
    const t = this.#alloc(shape, label);
    this.#endPass();
    this.#enc().clearBuffer(t.buffer!);
    return t;
  }

  copy(t: Tensor, label?: string): Tensor {
    this.#check();
    const src = this.#tensor(t, "copy");
    const out = this.#alloc(src.shape, label ?? `${src.label}.copy`);
    if (src.bytes > 0) {
      this.#endPass();
      this.#enc().copyBufferToBuffer(src.buffer!, 0, out.buffer!, 0, src.bytes);
    }
    return out;
  }

  fill0(t: Tensor): void {
    this.#check();
    const x = this.#tensor(t, "fill0");
    this.#endPass();
    this.#enc().clearBuffer(x.buffer!);
  }

  free(t: Tensor | Matrix): void {
    if (this.#disposed) return;
    if (t instanceof GpuTensor && t.owner === this) {
      if (!t.buffer) throw new Error(`free: tensor ${t.label} freed twice`);
      this.#live -= t.buffer.size;
      this.#pool.release(t.buffer);
      t.buffer = null;
    } else if (t instanceof GpuMatrix && t.owner === this) {
      if (!t.parts) throw new Error(`free: matrix ${t.label} freed twice`);
      for (const p of t.parts) {
        this.#live -= p.buffer.size;
        this.#deferredDestroy.push(p.buffer); // recorded work may still read it: destroyed after the next submit
      }
      if (!this.#encoder) this.#flushDeferred();
      t.parts = null;
    } else {
      throw new Error(`free: ${t.label} does not belong to this WebGPU backend`);
    }
  }

  /** Destroy buffers whose last use has been submitted. */
  #flushDeferred(): void {
    for (const b of this.#deferredDestroy) {
      this.#forgetBuffer(b);
      b.destroy();
    }
    this.#deferredDestroy = [];
  }

  // ---- compute ops -------------------------------------------------------------------------------------------

  embed(ids: Int32Array, table: Matrix): Tensor {
    this.#check();
    const m = this.#matrix(table, "embed");
    checkEmbed(ids, m);
    const out = this.#alloc([ids.length, m.k], "embed.out");
    if (ids.length === 0) return out;
    const idSlice = this.#stage(new Uint8Array(ids.buffer, ids.byteOffset, ids.byteLength), this.#align);
    const o = this.#slice(out, "embed");
    for (const part of m.parts!) {
      const src = { buffer: part.buffer, offset: 0, size: Math.max(4, part.rows * m.rowBytes) };
      this.#run(gatherProgram(idSlice, src, o, ids.length, m.k, part.r0, part.rows, m.f16));
    }
    return out;
  }

  argmaxInto(x: Tensor, ids: Tensor, offset: number): void {
    this.#check();
    const xt = this.#tensor(x, "argmaxInto"), it = this.#tensor(ids, "argmaxInto");
    const [rows, cols] = xt.shape;
    checkIdRange("argmaxInto", it, offset, rows);
    if (rows === 0 || cols === 0) return;
    this.#run(argmaxProgram(this.#slice(xt, "argmaxInto"), this.#slice(it, "argmaxInto"), rows, cols, offset));
  }

  embedFrom(ids: Tensor, offset: number, count: number, table: Matrix): Tensor {
    this.#check();
    const m = this.#matrix(table, "embedFrom"), it = this.#tensor(ids, "embedFrom");
    checkIdRange("embedFrom", it, offset, count);
    const out = this.#alloc([count, m.k], "embed.out");
    if (count === 0) return out;
    const idSlice = this.#slice(it, "embedFrom");
    const o = this.#slice(out, "embedFrom");
    for (const part of m.parts!) {
      const src = { buffer: part.buffer, offset: 0, size: Math.max(4, part.rows * m.rowBytes) };
      this.#run(gatherProgram(idSlice, src, o, count, m.k, part.r0, part.rows, m.f16, offset));
    }
    return out;
  }

  gatherRows(x: Tensor, rows: Int32Array): Tensor {
    this.#check();
    const src = this.#tensor(x, "gatherRows");
    const { rows: R, cols } = checkGatherRows(src, rows);
    const out = this.#alloc([rows.length, cols], `${src.label}.rows`);
    if (rows.length === 0 || cols === 0) return out;
    const idSlice = this.#stage(new Uint8Array(rows.buffer, rows.byteOffset, rows.byteLength), this.#align);
    this.#run(
      gatherProgram(idSlice, this.#slice(src, "gatherRows"), this.#slice(out, "gatherRows"), rows.length, cols, 0, R),
    );
    return out;
  }

  rmsNorm(x: Tensor, weight: Tensor, eps: number): Tensor {
    this.#check();
    const xt = this.#tensor(x, "rmsNorm"), w = this.#tensor(weight, "rmsNorm");
    const { rows, cols } = checkRmsNorm(xt, w);
    const out = this.#alloc(xt.shape, "rms_norm.out");
    if (rows > 0) {
      this.#run(
        rmsNormProgram(
          this.#slice(xt, "rmsNorm"),
          this.#slice(w, "rmsNorm"),
          this.#slice(out, "rmsNorm"),
          rows,
          cols,
          eps,
        ),
      );
    }
    return out;
  }

  add(a: Tensor, b: Tensor): Tensor {
    this.#check();
    const at = this.#tensor(a, "add"), bt = this.#tensor(b, "add");
    checkAdd(at, bt);
    const out = this.#alloc(at.shape, "add.out");
    if (at.size > 0) {
      this.#run(addProgram(this.#slice(at, "add"), this.#slice(bt, "add"), this.#slice(out, "add"), at.size));
    }
    return out;
  }

  linear(x: Tensor | View, w: Matrix, bias?: Tensor | null): Tensor {
    this.#check();
    const v = asView(x);
    const xt = this.#tensor(v.tensor, "linear");
    const m = this.#matrix(w, "linear");
    const bt = bias ? this.#tensor(bias, "linear") : null;
    checkLinear(v, m, bt);
    const [M, xStride] = xt.shape;
    const N = m.n;
    const out = this.#alloc([M, N], `${m.label}.out`);
    if (M === 0 || N === 0) return out;
    const biasSlice = bt ? this.#slice(bt, "linear") : this.#dummySlice;
    // Rows per chunk so that both the x rows and the y rows fit one binding (with alignment slack).
    const rowBytes = Math.max(xStride, N) * 4;
    const fitRows = Math.floor((this.maxBindingSize - this.#align) / rowBytes);
    const whole = M * xStride * 4 <= this.maxBindingSize && M * N * 4 <= this.maxBindingSize;
    const chunk = whole ? M : fitRows;
    if (chunk < 1) throw new RangeError(`linear(${m.label}): one row exceeds the binding limit`);
    for (let m0 = 0; m0 < M; m0 += chunk) {
      const m1 = Math.min(M, m0 + chunk);
      const xr = this.#range(xt, m0 * xStride + v.col, (m1 - 1) * xStride + v.col + m.k);
      const yr = this.#range(out, m0 * N, m1 * N);
      for (const part of m.parts!) {
        if (part.rows <= 0) continue;
        const w = { buffer: part.buffer, offset: 0, size: part.rows * m.rowBytes };
        const dims = {
          m: m1 - m0,
          n: part.rows,
          k: m.k,
          xStride,
          xBase: xr.base,
          yStride: N,
          yBase: yr.base + part.r0,
          biasBase: bt ? part.r0 : -1,
        };
        const split = splitK(dims.m, dims.n, dims.k);
        if (split.splits > 1 && split.splits * dims.m * dims.n * 4 <= this.maxBindingSize) {
          // Too few output tiles to fill the GPU: partial sums over k ranges into a scratch, then one reduce.
          const part32 = this.#alloc([split.splits * dims.m * dims.n], `${m.label}.splitk`);
          const ps = this.#slice(part32, "linear");
          const toScratch = { ...dims, yStride: dims.n, yBase: 0, biasBase: -1 };
          this.#run(linearProgram(xr.slice, w, this.#dummySlice, ps, toScratch, m.f16, split));
          this.#run(splitkReduceProgram(ps, biasSlice, yr.slice, { ...dims, splits: split.splits }));
          this.free(part32);
        } else {
          this.#run(linearProgram(xr.slice, w, biasSlice, yr.slice, dims, m.f16));
        }
      }
    }
    return out;
  }

  conv1d(x: View, weight: Tensor, bias: Tensor | null, state: Tensor, batch: number, seqLen: number): Tensor {
    this.#check();
    const xt = this.#tensor(x, "conv1d"), w = this.#tensor(weight, "conv1d"), st = this.#tensor(state, "conv1d");
    const bt = bias ? this.#tensor(bias, "conv1d") : null;
    const { C, K } = checkConv1d(x, w, bt, st, batch, seqLen);
    const out = this.#alloc([batch * seqLen, C], "conv1d.out");
    if (batch * seqLen * C === 0) return out;
    const d: Conv1dDims = { batch, seqLen, channels: C, k: K, xStride: xt.shape[1], xCol: x.col };
    const xs = this.#slice(xt, "conv1d");
    const ss = K > 1 ? this.#slice(st, "conv1d") : { buffer: this.#dummy, offset: 0, size: 16 };
    const bs = bt ? this.#slice(bt, "conv1d") : { buffer: this.#dummy, offset: 0, size: 16 };
    this.#run(conv1dProgram(xs, this.#slice(w, "conv1d"), bs, !!bt, ss, this.#slice(out, "conv1d"), d));
    if (K > 1) this.#run(convStateProgram(xs, ss, d));
    return out;
  }

  selectiveScan(a: SelectiveScanArgs): Tensor {
    this.#check();
    const op = "selectiveScan";
    const u = this.#tensor(a.u, op), dl = this.#tensor(a.delta, op), A = this.#tensor(a.A, op);
    const B = this.#tensor(a.B, op), C = this.#tensor(a.C, op), Dt = this.#tensor(a.D, op);
    const z = this.#tensor(a.z, op), st = this.#tensor(a.state, op);
    const { T, D, N } = checkSelectiveScan(a);
    const out = this.#alloc([T, D], "ssm.out");
    if (T * D === 0) return out;
    const place = (v: View) => ({ stride: v.tensor.shape[1], col: v.col });
    const dims: ScanDims = {
      batch: a.batch,
      seqLen: a.seqLen,
      d: D,
      n: N,
      u: place(a.u),
      delta: place(a.delta),
      B: place(a.B),
      C: place(a.C),
      z: place(a.z),
    };
    const scratchFloats = scanScratchFloats(dims);
    const scratch = scratchFloats > 0 ? this.#alloc([scratchFloats], "scan.scratch") : null;
    this.#runAll(selectiveScanPrograms({
      u: this.#slice(u, op),
      delta: this.#slice(dl, op),
      A: this.#slice(A, op),
      B: this.#slice(B, op),
      C: this.#slice(C, op),
      D: this.#slice(Dt, op),
      z: this.#slice(z, op),
      state: this.#slice(st, op),
      y: this.#slice(out, op),
      scratch: scratch ? this.#slice(scratch, op) : null,
      scratchStates: scratch ? { buffer: scratch.buffer!, offset: 0, size: (scratchFloats / 2) * 4 } : null,
    }, dims));
    if (scratch) this.free(scratch); // reuse after this point is ordered after the scan by the queue
    return out;
  }

  ssd(a: SsdArgs): Tensor {
    this.#check();
    const op = "ssd";
    const x = this.#tensor(a.x, op), dt = this.#tensor(a.dt, op), dtBias = this.#tensor(a.dtBias, op);
    const A = this.#tensor(a.A, op), B = this.#tensor(a.B, op), C = this.#tensor(a.C, op);
    const Dt = this.#tensor(a.D, op), st = this.#tensor(a.state, op);
    const { T, H, P, G, N } = checkSsd(a);
    const out = this.#alloc([T, H * P], "ssm.out");
    if (T === 0) return out;
    const place = (v: View) => ({ stride: v.tensor.shape[1], col: v.col });
    const dims: SsdDims = {
      batch: a.batch,
      seqLen: a.seqLen,
      heads: H,
      headDim: P,
      groups: G,
      n: N,
      chunk: Math.min(a.chunkSize, a.seqLen),
      dtMin: a.dtMin,
      dtMax: a.dtMax,
      x: place(a.x),
      dt: place(a.dt),
      B: place(a.B),
      C: place(a.C),
    };
    const scratch: GpuTensor[] = [];
    const tmp = (floats: number, label: string): Slice => {
      const t = this.#alloc([floats], label);
      scratch.push(t);
      return this.#slice(t, op);
    };
    const recurrent = ssdRecurrent(dims);
    const f = recurrent ? null : ssdScratchFloats(dims);
    this.#runAll(ssdPrograms({
      x: this.#slice(x, op),
      dt: this.#slice(dt, op),
      dtBias: this.#slice(dtBias, op),
      A: this.#slice(A, op),
      B: this.#slice(B, op),
      C: this.#slice(C, op),
      D: this.#slice(Dt, op),
      state: this.#slice(st, op),
      y: this.#slice(out, op),
      dtc: f ? tmp(f.dtc, "ssd.dt") : null,
      acs: f ? tmp(f.acs, "ssd.acum") : null,
      cb: f ? tmp(f.cb, "ssd.cb") : null,
      st: f ? tmp(f.st, "ssd.states") : null,
    }, dims));
    for (const t of scratch) this.free(t);
    return out;
  }

  gatedRmsNorm(y: Tensor, z: View, weight: Tensor, groupSize: number, eps: number): Tensor {
    this.#check();
    const op = "gatedRmsNorm";
    const yt = this.#tensor(y, op), zt = this.#tensor(z, op), w = this.#tensor(weight, op);
    const { T: rows, D: cols } = checkGatedRmsNorm(yt, z, w, groupSize);
    const out = this.#alloc([rows, cols], "gate_norm.out");
    if (rows * cols === 0) return out;
    this.#run(gatedRmsNormProgram(this.#slice(yt, op), this.#slice(zt, op), this.#slice(w, op), this.#slice(out, op), {
      rows,
      cols,
      group: groupSize,
      zStride: zt.shape[1],
      zCol: z.col,
      eps,
    }));
    return out;
  }
}
