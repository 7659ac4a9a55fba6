/**
 * What a kernel's TypeScript half hands the backend: a {@link Program} naming its WGSL source, the override
 * constants that select a pipeline, the storage bindings, the uniform block and the dispatch shape.
 *
 * Uniforms and bindings are records keyed by the names the kernel's WGSL declares (`struct Params` fields and
 * `var<storage>` names, snake_case as written there): `kernels/build.ts` reads them from each `.wgsl` into
 * `generated/kernels.ts` (field offsets, binding order) and `generated/kernel_types.ts` (one record type per
 * kernel), so a missing, extra or misspelled field fails `deno check`, and {@link writeParams} packs each field at
 * its WGSL offset and checks the record again at dispatch time. Every kernel follows one binding convention:
 * `@group(0) @binding(0)` is the uniform block `Params` (32-bit scalars only), storage buffers follow from
 * `@binding(1)` without gaps. Ops know nothing about the model or about tensors: the backend resolves tensors to
 * {@link Slice}s (a buffer range whose offset is storage-aligned) and element offsets inside them.
 *
 * @module
 */

import type { KernelBindings, KernelOverrides, KernelParams } from "./generated/kernel_types.ts";
import { KERNELS } from "./generated/kernels.ts";
import type { KernelName } from "./generated/wgsl.ts";

export type { KernelName };

import type { Slice } from "./slice.ts";
export type { Slice };

/** A field of a kernel's `struct Params` as generated in `KERNELS`: WGSL name, type and byte offset. */
export interface ParamField {
  readonly name: string;
  readonly type: "u32" | "i32" | "f32";
  readonly offset: number;
}

/** One dispatch of kernel `K` (by default: of any kernel, a union discriminated by `kernel`). */
export type Program<K extends KernelName = KernelName> = K extends KernelName ? {
    /** WGSL source (a file `kernels/<kernel>.wgsl`). */
    readonly kernel: K;
    /** Pass / debug label. */
    readonly label: string;
    /** WGSL `override` constants; part of the pipeline cache key. */
    readonly constants: KernelOverrides[K];
    /** Storage bindings by WGSL name. */
    readonly bindings: KernelBindings[K];
    /** The `Params` uniform block by field name. */
    readonly uniforms: KernelParams[K];
    /** Workgroups in x, y, z. */
    readonly workgroups: readonly [number, number, number];
  }
  : never;

const COMPUTE_STAGE = 0x4; // GPUShaderStage.COMPUTE

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
export function pipelineKey(kernel: string, constants: object): string {
  // Called per dispatch: no allocation beyond the key for the common cases of zero or one constant.
  const c = constants as Readonly<Record<string, number>>;
  let key = kernel, n = 0;
  for (const k in c) {
    key += `${n === 0 ? "|" : ","}${k}=${c[k]}`;
    n++;
  }
  if (n <= 1) return key;
  const keys = Object.keys(c).sort();
  return `${kernel}|${keys.map((k) => `${k}=${c[k]}`).join(",")}`;
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

/** Bytes of a uniform block of `fields` 32-bit fields: a multiple of 16, at least 16. */
function uniformBytes(fields: number): number {
  return Math.max(16, Math.ceil((fields * 4) / 16) * 16);
}

/**
 * Bytes of a kernel's uniform block as bound: its `Params` fields, a multiple of 16.
 *
 * @example
 * ```ts
 * import { paramBytes } from "./program.ts";
 * console.log(paramBytes("ssd_step")); // 64
 * ```
 */
export function paramBytes(kernel: KernelName): number {
  return uniformBytes(KERNELS[kernel].params.length);
}

function fail(kernel: string, label: string, what: string): never {
  throw new Error(`${kernel} (${label}): ${what}`);
}

/** Why a record's keys differ from the expected names (missing and extra names). */
function keyMismatch(kind: string, names: readonly { name: string }[], record: object): string {
  const want = new Set(names.map((f) => f.name)), have = Object.keys(record);
  const missing = [...want].filter((n) => !have.includes(n)), extra = have.filter((n) => !want.has(n));
  return `${kind} do not match the WGSL: missing [${missing.join(", ")}], unknown [${extra.join(", ")}]`;
}

/**
 * Write a program's uniform record into `size` bytes of `dv` at `offset`: each field at its WGSL offset, zero
 * padding after, no allocation (the backend packs straight into its upload arena).
 *
 * @throws Error naming the kernel and label when the record's keys are not exactly the `Params` fields, or a value
 * does not fit its field's type (u32: an integer in [0, 2³²), i32: an integer in [−2³¹, 2³¹), f32: a number).
 *
 * @example
 * ```ts
 * import { writeParams } from "./program.ts";
 * const dv = new DataView(new ArrayBuffer(16));
 * writeParams(dv, 0, 16, "rms_norm", "norm", { rows: 2, cols: 3, eps: 0.5 });
 * console.log(dv.getUint32(4, true), dv.getFloat32(8, true)); // 3 0.5
 * try {
 *   writeParams(dv, 0, 16, "rms_norm", "norm", { rows: 2, cols: 3, epsilon: 0.5 } as never);
 * } catch (e) {
 *   console.log((e as Error).message); // rms_norm (norm): uniforms do not match the WGSL: missing [eps], …
 * }
 * ```
 */
export function writeParams(
  dv: DataView,
  offset: number,
  size: number,
  kernel: KernelName,
  label: string,
  uniforms: object,
): void {
  const fields: readonly ParamField[] = KERNELS[kernel].params;
  const u = uniforms as Readonly<Record<string, unknown>>;
  let keys = 0;
  for (const _ in u) keys++;
  let end = offset;
  for (const f of fields) {
    const v = u[f.name];
    const at = offset + f.offset;
    if (typeof v !== "number") {
      fail(kernel, label, v === undefined ? keyMismatch("uniforms", fields, u) : `uniform ${f.name} is not a number`);
    }
    if (f.type === "f32") dv.setFloat32(at, v, true);
    else if (f.type === "u32") {
      if (v !== v >>> 0) fail(kernel, label, `uniform ${f.name} = ${v} is not a u32`);
      dv.setUint32(at, v, true);
    } else {
      if (v !== (v | 0)) fail(kernel, label, `uniform ${f.name} = ${v} is not an i32`);
      dv.setInt32(at, v, true);
    }
    end = at + 4;
  }
  if (keys !== fields.length) fail(kernel, label, keyMismatch("uniforms", fields, u));
  for (let at = end; at < offset + size; at += 4) dv.setUint32(at, 0, true);
}

/**
 * Check that a program's binding record names exactly its kernel's storage bindings (cheap: a key count, each
 * name present and a {@link Slice}).
 *
 * @throws Error naming the kernel and label otherwise.
 *
 * @example
 * ```ts
 * import { checkBindings } from "./program.ts";
 * const s = { buffer: {} as GPUBuffer, offset: 0, size: 16 };
 * checkBindings("add", "sum", { a: s, b: s, y: s }); // ok
 * try {
 *   checkBindings("add", "sum", { a: s, b: s });
 * } catch (e) {
 *   console.log((e as Error).message); // add (sum): bindings do not match the WGSL: missing [y], unknown []
 * }
 * ```
 */
export function checkBindings(kernel: KernelName, label: string, bindings: object): void {
  const names = KERNELS[kernel].storage;
  const b = bindings as Readonly<Record<string, Slice | undefined>>;
  let keys = 0;
  for (const _ in b) keys++;
  if (keys !== names.length) fail(kernel, label, keyMismatch("bindings", names, b));
  for (const s of names) {
    const v = b[s.name];
    if (v === undefined) fail(kernel, label, keyMismatch("bindings", names, b));
    if (typeof v !== "object" || v === null || !("buffer" in v)) {
      fail(kernel, label, `binding ${s.name} is not a Slice`);
    }
  }
}

/**
 * The bind group layout entries of a kernel, from its generated binding list: the uniform block at `@binding(0)`
 * with a dynamic offset, then its storage bindings (read-only or read-write as declared).
 *
 * @example
 * ```ts
 * import { layoutEntries } from "./program.ts";
 * console.log(layoutEntries("add").map((e) => e.buffer?.type)); // [ "uniform", "read-only-storage", …, "storage" ]
 * ```
 */
export function layoutEntries(kernel: KernelName): GPUBindGroupLayoutEntry[] {
  return [
    { binding: 0, visibility: COMPUTE_STAGE, buffer: { type: "uniform", hasDynamicOffset: true } },
    ...KERNELS[kernel].storage.map((s): GPUBindGroupLayoutEntry => ({
      binding: s.binding,
      visibility: COMPUTE_STAGE,
      buffer: { type: s.access === "read_write" ? "storage" : "read-only-storage" },
    })),
  ];
}

/** A finite f32 stand-in for ±Infinity in uniforms (some shader compilers assume finite math). */
export function finiteF32(v: number): number {
  const MAX = 3.4028234663852886e38;
  return v === Infinity ? MAX : v === -Infinity ? -MAX : v;
}
