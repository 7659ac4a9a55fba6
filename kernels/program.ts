/**
 * What a kernel's TypeScript half hands the backend: a {@link Program} naming its WGSL source, the override
 * constants that select a pipeline, the storage bindings, the uniform block and the dispatch shape.
 *
 * Every WGSL kernel follows one binding convention: `@group(0) @binding(0)` is the uniform block `Params`
 * (32-bit scalars only, in declaration order), storage buffers follow from `@binding(1)` in the order of
 * {@link Program.storage}. Ops know nothing about the model or about tensors: the backend resolves tensors to
 * {@link Slice}s (a buffer range whose offset is storage-aligned) and element offsets inside them.
 *
 * @module
 */

import type { KernelName } from "./generated/wgsl.ts";

/** A bound range of a GPU buffer (bytes; `offset` is a multiple of minStorageBufferOffsetAlignment). */
export interface Slice {
  /** The buffer. */
  readonly buffer: GPUBuffer;
  /** First byte bound. */
  readonly offset: number;
  /** Bytes bound (a multiple of 4). */
  readonly size: number;
}

/** A 32-bit uniform field: `["u32", 3]`, `["i32", -1]` or `["f32", 1e-5]`. */
export type Uniform = readonly ["u32" | "i32" | "f32", number];

/** One dispatch of one kernel. */
export interface Program {
  /** WGSL source (a file `kernels/<kernel>.wgsl`). */
  readonly kernel: KernelName;
  /** Pass / debug label. */
  readonly label: string;
  /** WGSL `override` constants; part of the pipeline cache key. */
  readonly constants: Readonly<Record<string, number>>;
  /** Storage bindings, `@binding(1)` onwards. */
  readonly storage: readonly Slice[];
  /** The `Params` uniform block, `@binding(0)`. */
  readonly uniforms: readonly Uniform[];
  /** Workgroups in x, y, z. */
  readonly workgroups: readonly [number, number, number];
}

/** Largest workgroup count per dimension guaranteed by WebGPU. */
export const MAX_WORKGROUPS_PER_DIM = 65535;

/**
 * The pipeline cache key of a program: its kernel and override constants (sorted), nothing that varies per call.
 *
 * @example
 * ```ts
 * import { pipelineKey } from "./program.ts";
 * console.log(pipelineKey("add", { WG: 256 })); // add|WG=256
 * ```
 */
export function pipelineKey(kernel: string, constants: Readonly<Record<string, number>>): string {
  const keys = Object.keys(constants).sort();
  return keys.length === 0 ? kernel : `${kernel}|${keys.map((k) => `${k}=${constants[k]}`).join(",")}`;
}

/**
 * Workgroups for `count` independent items of `perGroup` each, as a 2-D grid when one dimension is not enough.
 * Kernels recover the flat workgroup index as `wid.x + wid.y * nwg.x` (and must bound-check it).
 *
 * @example
 * ```ts
 * import { grid } from "./program.ts";
 * console.log(grid(1000, 256)); // [4, 1, 1]
 * ```
 */
export function grid(count: number, perGroup = 1): [number, number, number] {
  const groups = Math.max(1, Math.ceil(count / perGroup));
  if (groups <= MAX_WORKGROUPS_PER_DIM) return [groups, 1, 1];
  const y = Math.ceil(groups / MAX_WORKGROUPS_PER_DIM);
  if (y > MAX_WORKGROUPS_PER_DIM) throw new RangeError(`dispatch of ${groups} workgroups is too large`);
  return [Math.ceil(groups / y), y, 1];
}

/**
 * Pack a uniform block into bytes, padded to a multiple of 16 (the uniform binding granule).
 *
 * @example
 * ```ts
 * import { packUniforms } from "./program.ts";
 * console.log(packUniforms([["u32", 1], ["f32", 0.5]]).byteLength); // 16
 * ```
 */
export function packUniforms(fields: readonly Uniform[]): Uint8Array {
  const bytes = new Uint8Array(Math.max(16, Math.ceil((fields.length * 4) / 16) * 16));
  const dv = new DataView(bytes.buffer);
  fields.forEach(([type, v], i) => {
    if (type === "f32") dv.setFloat32(i * 4, v, true);
    else if (type === "i32") dv.setInt32(i * 4, v, true);
    else dv.setUint32(i * 4, v, true);
  });
  return bytes;
}

/** A finite f32 stand-in for ±Infinity in uniforms (some shader compilers assume finite math). */
export function finiteF32(v: number): number {
  const MAX = 3.4028234663852886e38;
  return v === Infinity ? MAX : v === -Infinity ? -MAX : v;
}
