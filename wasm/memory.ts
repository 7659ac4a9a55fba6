/**
 * A best-fit free-list allocator over a `WebAssembly.Memory`, managed from JavaScript. The kernels never allocate:
 * every tensor, matrix and scratch buffer is a 64-byte aligned block handed out here.
 *
 * @module
 */

/** Alignment of every block (a cache line; also keeps f32x4 loads aligned). */
export const ALIGN = 64;
const PAGE = 65536;

/** A free block [offset, offset + size). */
interface Block {
  offset: number;
  size: number;
}

/** Allocates blocks in [base, memory end), growing the memory when no free block fits. */
export class Allocator {
  /** Free blocks sorted by offset, coalesced (no two adjacent). */
  #free: Block[] = [];
  /** End of the managed region (the memory size when last grown). */
  #top: number;
  readonly #memory: WebAssembly.Memory;
  readonly #maxBytes: number;

  /**
   * Manages `memory` from byte `base` (a multiple of {@link ALIGN}) to its end; `maxPages` bounds growth.
   */
  constructor(memory: WebAssembly.Memory, base: number, maxPages: number) {
    this.#memory = memory;
    this.#top = memory.buffer.byteLength;
    this.#maxBytes = maxPages * PAGE;
    if (base < this.#top) this.#free.push({ offset: base, size: this.#top - base });
  }

  /** Rounds a byte count up to the block granularity. */
  static round(bytes: number): number {
    return Math.max(ALIGN, Math.ceil(bytes / ALIGN) * ALIGN);
  }

  /** Returns the offset of a new block of at least `bytes` bytes (best fit; grows the memory if needed). */
  alloc(bytes: number): number {
    const size = Allocator.round(bytes);
    let best = -1;
    for (let i = 0; i < this.#free.length; i++) {
      const b = this.#free[i];
      if (b.size >= size && (best < 0 || b.size < this.#free[best].size)) {
        best = i;
        if (b.size === size) break;
      }
    }
    if (best < 0) best = this.#grow(size);
    const b = this.#free[best];
    const offset = b.offset;
    if (b.size === size) this.#free.splice(best, 1);
    else {
      b.offset += size;
      b.size -= size;
    }
    return offset;
  }

  /** Returns a block obtained from {@link alloc} (`bytes` as passed to alloc). */
  free(offset: number, bytes: number): void {
    const size = Allocator.round(bytes);
    const list = this.#free;
    // Binary search for the first free block after offset.
    let lo = 0, hi = list.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (list[mid].offset < offset) lo = mid + 1;
      else hi = mid;
    }
    const prev = lo > 0 ? list[lo - 1] : null;
    const next = lo < list.length ? list[lo] : null;
    if (prev && prev.offset + prev.size > offset || next && offset + size > next.offset) {
      throw new Error(`Allocator.free: block at ${offset} (${size} bytes) overlaps a free block (double free?)`);
    }
    const joinPrev = prev !== null && prev.offset + prev.size === offset;
    const joinNext = next !== null && offset + size === next.offset;
    if (joinPrev && joinNext) {
      prev.size += size + next.size;
      list.splice(lo, 1);
    } else if (joinPrev) prev.size += size;
    else if (joinNext) {
      next.offset = offset;
      next.size += size;
    } else list.splice(lo, 0, { offset, size });
  }

  /** Bytes of memory managed (including free blocks). */
  get capacity(): number {
    return this.#top;
  }

  /** Grows the memory so a block of `size` fits at the end; returns the index of that free block. */
  #grow(size: number): number {
    const last = this.#free.length ? this.#free[this.#free.length - 1] : null;
    const tail = last && last.offset + last.size === this.#top ? last.size : 0;
    const needed = size - tail;
    // Grow by at least 1/8 of the current size to amortise growth.
    const pages = Math.max(Math.ceil(needed / PAGE), Math.ceil(this.#top / PAGE / 8));
    const maxPages = (this.#maxBytes - this.#top) / PAGE;
    const grant = Math.min(pages, maxPages);
    if (grant * PAGE < needed) {
      throw new Error(`WASM memory exhausted: cannot allocate ${size} bytes (limit ${this.#maxBytes} bytes)`);
    }
    this.#memory.grow(grant);
    const oldTop = this.#top;
    this.#top = this.#memory.buffer.byteLength;
    if (tail > 0) last!.size += this.#top - oldTop;
    else this.#free.push({ offset: oldTop, size: this.#top - oldTop });
    return this.#free.length - 1;
  }
}
