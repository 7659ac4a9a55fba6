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
  // Called per dispatch: no allocation beyond the key for the common cases of zero or one constant.
  let key = kernel, n = 0;
  for (const k in constants) {
    key += `${n === 0 ? "|" : ","}${k}=${constants[k]}`;
    n++;
  }
  if (n <= 1) return key;
  const keys = Object.keys(constants).sort();
  return `${kernel}|${keys.map((k) => `${k}=${constants[k]}`).join(",")}`;
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
  const bytes = new Uint8Array(uniformBytes(fields.length));
  writeUniforms(new DataView(bytes.buffer), 0, bytes.byteLength, fields);
  return bytes;
}

/** Bytes of a uniform block of `fields` 32-bit fields: a multiple of 16, at least 16. */
export function uniformBytes(fields: number): number {
  return Math.max(16, Math.ceil((fields * 4) / 16) * 16);
}

/**
 * Write a uniform block into `size` bytes of `dv` at `offset` (as {@link packUniforms} packs it, zero padding
 * included), without allocating: the backend packs uniforms straight into its upload arena.
 *
 * @example
 * ```ts
 * import { packUniforms, writeUniforms } from "./program.ts";
 * const dv = new DataView(new ArrayBuffer(32));
 * writeUniforms(dv, 16, 16, [["i32", -1], ["f32", 2]]);
 * console.log(new Uint8Array(dv.buffer, 16).join() === packUniforms([["i32", -1], ["f32", 2]]).join()); // true
 * ```
 */
export function writeUniforms(dv: DataView, offset: number, size: number, fields: readonly Uniform[]): void {
  const n = fields.length;
  for (let i = 0; i < n; i++) {
    const f = fields[i];
    const type = f[0], at = offset + i * 4;
    if (type === "f32") dv.setFloat32(at, f[1], true);
    else if (type === "i32") dv.setInt32(at, f[1], true);
    else dv.setUint32(at, f[1], true);
  }
  for (let at = offset + n * 4; at < offset + size; at += 4) dv.setUint32(at, 0, true);
}

/** A finite f32 stand-in for ±Infinity in uniforms (some shader compilers assume finite math). */
export function finiteF32(v: number): number {
  const MAX = 3.4028234663852886e38;
  return v === Infinity ? MAX : v === -Infinity ? -MAX : v;
}

const COMPUTE_STAGE = 0x4; // GPUShaderStage.COMPUTE
const BINDING_DECL = /@group\(0\)\s*@binding\((\d+)\)\s*var\s*<\s*(uniform|storage)\s*(?:,\s*(read|read_write)\s*)?>/g;

/**
 * Layout entries of a kernel from its WGSL declarations (`@group(0) @binding(0) var<uniform>`, then
 * `var<storage, read | read_write>` from `@binding(1)` on, contiguous), the uniform with a dynamic offset; null
 * when the source does not follow that convention (the backend then falls back to an "auto" layout).
 *
 * @example
 * ```ts
 * import { kernelLayoutEntries } from "./program.ts";
 * const src = "@group(0) @binding(0) var<uniform> p: P;\n@group(0) @binding(1) var<storage, read_write> y: array<f32>;";
 * console.log(kernelLayoutEntries(src)?.map((e) => e.buffer?.type)); // [ "uniform", "storage" ]
 * ```
 */
export function kernelLayoutEntries(wgsl: string): GPUBindGroupLayoutEntry[] | null {
  const found: GPUBindGroupLayoutEntry[] = [];
  const code = wgsl.replace(/\/\*[\s\S]*?\*\//g, "").replace(/\/\/.*$/gm, "");
  for (const m of code.matchAll(BINDING_DECL)) {
    const binding = Number(m[1]);
    if (found.some((e) => e.binding === binding)) return null;
    const buffer: GPUBufferBindingLayout = m[2] === "uniform"
      ? { type: "uniform", hasDynamicOffset: true }
      : { type: m[3] === "read_write" ? "storage" : "read-only-storage" };
    found.push({ binding, visibility: COMPUTE_STAGE, buffer });
  }
  found.sort((a, b) => a.binding - b.binding);
  const ok = found.length > 0 && found.every((e, i) => e.binding === i && (i === 0) === (e.buffer!.type === "uniform"));
  return ok ? found : null;
}
