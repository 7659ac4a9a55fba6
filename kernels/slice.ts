/**
 * A bound range of a GPU buffer: what a kernel's storage binding receives. Its own module so that the generated
 * binding types (`generated/kernel_types.ts`) and the program contract (`program.ts`) can both name it without
 * importing each other.
 *
 * @module
 */

/** A bound range of a GPU buffer (bytes; `offset` is a multiple of minStorageBufferOffsetAlignment). */
export interface Slice {
  /** The buffer. */
  readonly buffer: GPUBuffer;
  /** First byte bound. */
  readonly offset: number;
  /** Bytes bound (a multiple of 4). */
  readonly size: number;
}
