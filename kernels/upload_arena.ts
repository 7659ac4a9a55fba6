/**
 * The upload arena: small host data of a submit (uniform blocks, token ids) packed into CPU pages that mirror GPU
 * buffers, each page written with one `writeBuffer` just before the submit, then reused by the next one.
 *
 * @module
 */

import { U } from "./gpu_flags.ts";
import type { Slice } from "./program.ts";

/** Bytes of one arena page. */
const ARENA_PAGE = 256 * 1024;

/** One page: a GPU buffer, its CPU image and the bytes used this submit. */
export interface ArenaPage {
  buffer: GPUBuffer;
  cpu: Uint8Array<ArrayBuffer>;
  view: DataView;
  used: number;
}

/** Pages of uniform / storage data valid for the work recorded before the next {@link UploadArena.flush}. */
export class UploadArena {
  readonly #device: GPUDevice;
  readonly #pages: ArenaPage[] = [];
  #page = 0;

  constructor(device: GPUDevice) {
    this.#device = device;
  }

  /** Reserve `bytes` at an `align`ed offset of a page; the reservation ends at the page's `used`. */
  reserve(bytes: number, align: number): ArenaPage {
    for (;;) {
      let page = this.#pages[this.#page];
      if (!page) {
        const size = Math.max(ARENA_PAGE, bytes);
        const cpu = new Uint8Array(size);
        page = {
          buffer: this.#device.createBuffer({
            size,
            usage: U.UNIFORM | U.STORAGE | U.COPY_DST,
            label: `arena.${this.#pages.length}`,
          }),
          cpu,
          view: new DataView(cpu.buffer),
          used: 0,
        };
        this.#pages.push(page);
      }
      const offset = Math.ceil(page.used / align) * align;
      if (offset + bytes <= page.cpu.byteLength) {
        page.used = offset + bytes;
        return page;
      }
      this.#page++;
    }
  }

  /** Copy host bytes into the arena (padded to 16 bytes) and return their binding. */
  stage(data: Uint8Array, align: number): Slice {
    const bytes = Math.max(16, Math.ceil(data.byteLength / 16) * 16);
    const page = this.reserve(bytes, align);
    const offset = page.used - bytes;
    page.cpu.set(data, offset);
    return { buffer: page.buffer, offset, size: bytes };
  }

  /** Write the used part of every page to the GPU (call just before submitting) and start over. */
  flush(queue: GPUQueue): void {
    for (const page of this.#pages) {
      if (page.used > 0) queue.writeBuffer(page.buffer, 0, page.cpu, 0, page.used);
      page.used = 0;
    }
    this.#page = 0;
  }

  /** Destroy the pages' buffers. */
  destroy(): void {
    for (const p of this.#pages) p.buffer.destroy();
  }
}
