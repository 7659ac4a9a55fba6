/**
 * A pool of GPU buffers keyed by (size bucket, usage). Activations are released back to the pool by `free` and
 * reused by later ops: safe inside one command encoder and across submits, because the queue runs passes in
 * order. Buffers are labelled with the tensor they currently hold.
 *
 * @module
 */

/**
 * Round a byte count up to its pool bucket: multiples of 256 B below 64 KiB, then 1/16 steps of the next power
 * of two (≤ 6.25 % waste), so tensors of similar size share buffers.
 *
 * @example
 * ```ts
 * import { bucketBytes } from "./buffer_pool.ts";
 * console.log(bucketBytes(1), bucketBytes(70_000)); // 256 73728
 * ```
 */
export function bucketBytes(bytes: number): number {
  const b = Math.max(256, Math.ceil(bytes / 256) * 256);
  if (b <= 65536) return b;
  const step = 2 ** Math.ceil(Math.log2(b)) / 16;
  return Math.ceil(b / step) * step;
}

/** A buffer from the pool, and whether it is new (hence already zero). */
export interface Acquired {
  buffer: GPUBuffer;
  fresh: boolean;
}

/** The free-list key of (bucket bytes, usage): usage flags fit 16 bits; exact below 2^37 bytes. */
function poolKey(size: number, usage: number): number {
  return size * 65536 + usage;
}

/** Buffers by (bucket, usage); owns every buffer it ever created until `dispose`. */
export class BufferPool implements Disposable {
  readonly #device: GPUDevice;
  readonly #free = new Map<number, GPUBuffer[]>();
  readonly #owned = new Set<GPUBuffer>();
  readonly #onDestroy: ((buffer: GPUBuffer) => void) | null;
  #freeBytes = 0;

  /**
   * @param device creates the buffers.
   * @param onDestroy called with each buffer just before `trim` destroys it (e.g. to drop cached bind groups).
   */
  constructor(device: GPUDevice, onDestroy?: (buffer: GPUBuffer) => void) {
    this.#device = device;
    this.#onDestroy = onDestroy ?? null;
  }

  /** A buffer of at least `bytes` (its size is {@link bucketBytes}) with exactly `usage`, labelled. */
  acquire(bytes: number, usage: GPUBufferUsageFlags, label: string): Acquired {
    const size = bucketBytes(bytes);
    const list = this.#free.get(poolKey(size, usage));
    const reused = list?.pop();
    if (reused) {
      this.#freeBytes -= reused.size;
      reused.label = label;
      return { buffer: reused, fresh: false };
    }
    const buffer = this.#device.createBuffer({ size, usage, label });
    this.#owned.add(buffer);
    return { buffer, fresh: true };
  }

  /** Adopt a buffer created elsewhere (e.g. mapped at creation) so it returns to this pool on release. */
  adopt(buffer: GPUBuffer): void {
    this.#owned.add(buffer);
  }

  /** Return a buffer for reuse. */
  release(buffer: GPUBuffer): void {
    const key = poolKey(buffer.size, buffer.usage);
    let list = this.#free.get(key);
    if (!list) this.#free.set(key, list = []);
    buffer.label = `pool:${buffer.size}`;
    list.push(buffer);
    this.#freeBytes += buffer.size;
  }

  /** Bytes sitting unused in the pool. */
  get freeBytes(): number {
    return this.#freeBytes;
  }

  /** Destroy the idle buffers (call after the work using them was submitted). */
  trim(): void {
    for (const list of this.#free.values()) {
      for (const b of list) {
        this.#owned.delete(b);
        this.#onDestroy?.(b);
        b.destroy();
      }
    }
    this.#free.clear();
    this.#freeBytes = 0;
  }

  /** Destroy every buffer this pool created or adopted. */
  dispose(): void {
    for (const b of this.#owned) b.destroy();
    this.#owned.clear();
    this.#free.clear();
    this.#freeBytes = 0;
  }

  [Symbol.dispose](): void {
    this.dispose();
  }
}
