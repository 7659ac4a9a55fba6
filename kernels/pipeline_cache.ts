/**
 * Shader modules and compute pipelines, cached per device and shared by every backend on it: compiling is the
 * slowest thing a backend does (seconds per kernel on software adapters), and pipelines belong to the device, not
 * to a backend. A pipeline is keyed by its kernel and override constants ({@link pipelineKey}) and uses the
 * explicit bind group layout generated from the kernel's WGSL (the uniform block with a dynamic offset).
 *
 * Pipelines are created on first use (synchronously, a "miss"), or ahead of use by {@link PipelineCache.precompile}
 * with `createComputePipelineAsync`, all in parallel.
 *
 * @module
 */

import { WGSL } from "./generated/wgsl.ts";
import { type KernelName, layoutEntries, pipelineKey } from "./program.ts";

/** A pipeline to compile: a kernel and its override constants (as in a {@link Program}). */
export interface PipelineSpec {
  readonly kernel: KernelName;
  readonly constants: object;
}

/** A cached pipeline with its bind group layout and a small id for bind group cache keys. */
export interface PipelineEntry {
  readonly pipeline: GPUComputePipeline;
  readonly layout: GPUBindGroupLayout;
  readonly id: number;
}

/** Lookups of one backend: hits, pipelines created synchronously on a dispatch, pipelines compiled ahead. */
export interface PipelineStats {
  hits: number;
  misses: number;
  precompiled: number;
}

interface DeviceCache {
  pipelines: Map<string, PipelineEntry>;
  modules: Map<string, GPUShaderModule>;
  pending: Map<string, Promise<void>>;
}

const DEVICE_CACHES = new WeakMap<GPUDevice, DeviceCache>();

function deviceCache(device: GPUDevice): DeviceCache {
  let c = DEVICE_CACHES.get(device);
  if (!c) DEVICE_CACHES.set(device, c = { pipelines: new Map(), modules: new Map(), pending: new Map() });
  return c;
}

/** One backend's view of its device's pipeline cache, with its own statistics. */
export class PipelineCache {
  readonly #device: GPUDevice;
  readonly #cache: DeviceCache;
  /** This backend's lookups (see {@link PipelineStats}). */
  readonly stats: PipelineStats = { hits: 0, misses: 0, precompiled: 0 };

  constructor(device: GPUDevice) {
    this.#device = device;
    this.#cache = deviceCache(device);
  }

  /** Whether the pipeline of `spec` exists. */
  has(spec: PipelineSpec): boolean {
    return this.#cache.pipelines.has(pipelineKey(spec.kernel, spec.constants));
  }

  /** The pipeline of a dispatch, created now if needed. */
  get(spec: PipelineSpec): PipelineEntry {
    const key = pipelineKey(spec.kernel, spec.constants);
    const hit = this.#cache.pipelines.get(key);
    if (hit) {
      this.stats.hits++;
      return hit;
    }
    this.stats.misses++;
    const layout = this.#layout(spec.kernel, key);
    const pipeline = this.#device.createComputePipeline(this.#descriptor(spec, key, layout));
    return this.#insert(key, pipeline, layout);
  }

  /**
   * Compile the pipelines of `specs` that do not exist yet, in parallel (`createComputePipelineAsync`), and
   * resolve when all are cached. Resolves to the number compiled here.
   */
  async precompile(specs: Iterable<PipelineSpec>): Promise<number> {
    const waits: Promise<void>[] = [];
    let compiled = 0;
    for (const spec of specs) {
      const key = pipelineKey(spec.kernel, spec.constants);
      if (this.#cache.pipelines.has(key)) continue;
      let pending = this.#cache.pending.get(key);
      if (!pending) {
        const layout = this.#layout(spec.kernel, key);
        pending = this.#device.createComputePipelineAsync(this.#descriptor(spec, key, layout)).then((pipeline) => {
          if (!this.#cache.pipelines.has(key)) this.#insert(key, pipeline, layout); // else made by a dispatch meanwhile
        }).finally(() => this.#cache.pending.delete(key));
        this.#cache.pending.set(key, pending);
        compiled++;
      }
      waits.push(pending);
    }
    await Promise.all(waits);
    this.stats.precompiled += compiled;
    return compiled;
  }

  #layout(kernel: KernelName, key: string): GPUBindGroupLayout {
    return this.#device.createBindGroupLayout({ entries: layoutEntries(kernel), label: key });
  }

  #descriptor(spec: PipelineSpec, key: string, layout: GPUBindGroupLayout): GPUComputePipelineDescriptor {
    let module = this.#cache.modules.get(spec.kernel);
    if (!module) {
      module = this.#device.createShaderModule({ code: WGSL[spec.kernel], label: spec.kernel });
      this.#cache.modules.set(spec.kernel, module);
    }
    return {
      label: key,
      layout: this.#device.createPipelineLayout({ bindGroupLayouts: [layout], label: key }),
      compute: { module, entryPoint: "main", constants: { ...spec.constants } as Record<string, number> },
    };
  }

  #insert(key: string, pipeline: GPUComputePipeline, layout: GPUBindGroupLayout): PipelineEntry {
    const entry = { pipeline, layout, id: this.#cache.pipelines.size + 1 };
    this.#cache.pipelines.set(key, entry);
    return entry;
  }
}
