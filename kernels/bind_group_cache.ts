/**
 * Bind groups cached by (pipeline, bound buffer ranges): steady decode steps and repeated prefills create none.
 * Buffer identity goes through small ids (pooled buffers keep theirs across reuse), and the bind groups that
 * reference a buffer are dropped when it is destroyed. The uniform block is bound at offset 0 of its arena page,
 * its per-dispatch offset given to `setBindGroup` (dynamic offset), so it is not part of the key beyond the page.
 *
 * @module
 */

import { KERNELS } from "./generated/kernels.ts";
import type { PipelineEntry } from "./pipeline_cache.ts";
import type { Program, Slice } from "./program.ts";

/** Bind groups kept for reuse (oldest dropped first beyond this). */
const MAX_CACHED_BIND_GROUPS = 8192;

/** A cached bind group and the ids of the buffers it references (for invalidation). */
interface CachedBindGroup {
  group: GPUBindGroup;
  buffers: number[];
}

/** The bind groups of one backend. */
export class BindGroupCache {
  readonly #device: GPUDevice;
  readonly #maxBindingSize: number;
  readonly #groups = new Map<string, CachedBindGroup>();
  /** Cache keys that reference each buffer id (dropped when the buffer is destroyed). */
  readonly #groupsOf = new Map<number, Set<string>>();
  readonly #bufferIds = new WeakMap<GPUBuffer, number>();
  #nextBufferId = 1;
  /** Bind group entries reused by every cache miss (resources are replaced in place). */
  readonly #entries: GPUBindGroupEntry[] = [];
  /** Lookups since creation: hits reuse a bind group, misses create one. */
  readonly stats = { hits: 0, misses: 0 };

  constructor(device: GPUDevice, maxBindingSize: number) {
    this.#device = device;
    this.#maxBindingSize = maxBindingSize;
  }

  /** A stable small id of a buffer. */
  #bufferId(b: GPUBuffer): number {
    let id = this.#bufferIds.get(b);
    if (id === undefined) {
      id = this.#nextBufferId++;
      this.#bufferIds.set(b, id);
    }
    return id;
  }

  /**
   * The bind group of a dispatch: the uniform block (`uSize` bytes of `uBuffer`) at `@binding(0)`, the program's
   * bindings from `@binding(1)` in the kernel's WGSL order.
   */
  get(pipe: PipelineEntry, p: Program, uBuffer: GPUBuffer, uSize: number): GPUBindGroup {
    const names = KERNELS[p.kernel].storage;
    const bindings = p.bindings as unknown as Readonly<Record<string, Slice>>;
    const uId = this.#bufferId(uBuffer);
    let key = `${pipe.id}|${uId}:0:${uSize}`;
    for (let i = 0; i < names.length; i++) {
      const s = bindings[names[i].name];
      if (s.size > this.#maxBindingSize) {
        throw new RangeError(`${p.label}: binding ${i + 1} of ${s.size} bytes exceeds ${this.#maxBindingSize}`);
      }
      key += `|${this.#bufferId(s.buffer)}:${s.offset}:${s.size}`;
    }
    const hit = this.#groups.get(key);
    if (hit) {
      this.stats.hits++;
      return hit.group;
    }
    this.stats.misses++;
    const entries = this.#entries;
    entries.length = 0;
    entries.push({ binding: 0, resource: { buffer: uBuffer, offset: 0, size: uSize } });
    const buffers = [uId];
    for (let i = 0; i < names.length; i++) {
      const s = bindings[names[i].name];
      entries.push({ binding: i + 1, resource: { buffer: s.buffer, offset: s.offset, size: s.size } });
      buffers.push(this.#bufferId(s.buffer));
    }
    const group = this.#device.createBindGroup({ layout: pipe.layout, entries, label: p.label });
    entries.length = 0;
    if (this.#groups.size >= MAX_CACHED_BIND_GROUPS) this.#drop(this.#groups.keys().next().value!); // oldest first
    this.#groups.set(key, { group, buffers });
    for (const id of buffers) {
      let keys = this.#groupsOf.get(id);
      if (!keys) this.#groupsOf.set(id, keys = new Set());
      keys.add(key);
    }
    return group;
  }

  /** Drop the cached bind groups that reference a buffer about to be destroyed. */
  forget(b: GPUBuffer): void {
    const id = this.#bufferIds.get(b);
    if (id === undefined) return;
    const keys = this.#groupsOf.get(id);
    if (keys) {
      for (const key of keys) this.#drop(key);
      this.#groupsOf.delete(id);
    }
  }

  #drop(key: string): void {
    const e = this.#groups.get(key);
    if (!e) return;
    this.#groups.delete(key);
    for (const id of e.buffers) this.#groupsOf.get(id)?.delete(key);
  }

  /** Drop every cached bind group. */
  clear(): void {
    this.#groups.clear();
    this.#groupsOf.clear();
  }
}
