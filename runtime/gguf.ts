/**
 * Reading and writing the GGUF container (llama.cpp / ggml's model file), platform-neutral: a `Uint8Array` in,
 * a `Uint8Array` out.
 *
 * Layout (little-endian, versions 2 and 3): magic `GGUF`, u32 version, u64 tensor count, u64 metadata count; the
 * metadata key/value pairs (a key is a u64-length-prefixed UTF-8 string, then a u32 value type and the value —
 * integers, floats, bools, strings, and arrays of any of these, arrays included); the tensor infos (name, u32
 * dimension count, u64 dimensions with `ne[0]` the fastest-varying, u32 ggml type, u64 offset into the data
 * section); padding to `general.alignment` (default 32); the data section.
 *
 * {@link parseGguf} trusts nothing in the file: every count and length is checked against the bytes actually
 * present before anything is allocated from it, nesting is limited, every tensor must lie inside the data section
 * at an aligned offset without overlapping another, and every failure is a {@link GgufFormatError} naming the
 * file, what is wrong and where. {@link writeGguf} writes a file that `parseGguf`, gguf-py's `GGUFReader` and
 * llama.cpp read.
 *
 * Not `@huggingface/gguf` (0.3.x): its reader, `gguf(url | path)`, fetches header ranges over HTTP (a local path only
 * under Node), where PerfMamba already holds the bytes from a `CheckpointSource` or a file; it serialises metadata
 * (`serializeGgufMetadata`) but writes no tensor data; and it does not promise the hostile-input guarantees above
 * (every count checked against the bytes present before allocating, one named error class). Owning ~400 lines,
 * cross-checked against llama.cpp's gguf-py in tests/runtime/gguf_llama_cpp_test.ts, is cheaper than wrapping and
 * auditing it.
 *
 * @module
 */

import {
  dequantize,
  encodeFloats,
  GGML_TYPE_IDS,
  ggmlBlock,
  type GgmlType,
  ggmlTypeName,
  quantizeQ4_0,
  quantizeQ8_0,
} from "./ggml_types.ts";
import { f16BitsToNumber as f16 } from "./safetensors.ts";

/**
 * GGUF metadata value types (gguf.h `enum gguf_type`).
 *
 * @example
 * ```ts
 * import { GGUF_VALUE_TYPES } from "@perfmamba/perfmamba";
 *
 * console.log(GGUF_VALUE_TYPES.STRING, GGUF_VALUE_TYPES.ARRAY); // 8 9
 * ```
 */
export const GGUF_VALUE_TYPES = {
  UINT8: 0,
  INT8: 1,
  UINT16: 2,
  INT16: 3,
  UINT32: 4,
  INT32: 5,
  FLOAT32: 6,
  BOOL: 7,
  STRING: 8,
  ARRAY: 9,
  UINT64: 10,
  INT64: 11,
  FLOAT64: 12,
} as const;

/**
 * The name of a GGUF metadata value type.
 *
 * @example
 * ```ts
 * import type { GgufValueType } from "@perfmamba/perfmamba";
 *
 * const t: GgufValueType = "UINT32";
 * console.log(t); // UINT32
 * ```
 */
export type GgufValueType = keyof typeof GGUF_VALUE_TYPES;

/**
 * A typed metadata value: `value` is a number (8..32-bit integers, floats), a bigint (UINT64, INT64), a boolean,
 * a string, or for `ARRAY` an array of the element type `arrayType` (nested arrays are {@link GgufTypedValue}s
 * of type `ARRAY`).
 *
 * @example
 * ```ts
 * import type { GgufTypedValue } from "@perfmamba/perfmamba";
 *
 * const nested: GgufTypedValue = {
 *   type: "ARRAY",
 *   arrayType: "ARRAY",
 *   value: [{ type: "ARRAY", arrayType: "INT32", value: [1, 2] }],
 * };
 * console.log(nested.value.length); // 1
 * ```
 */
export interface GgufTypedValue {
  /** The value's type. */
  type: GgufValueType;
  /** The value (see the interface's description). */
  // deno-lint-ignore no-explicit-any
  value: any;
  /** For `ARRAY`: the element type. */
  arrayType?: GgufValueType;
}

/**
 * One metadata key/value pair.
 *
 * @example
 * ```ts
 * import type { GgufMetadataEntry } from "@perfmamba/perfmamba";
 *
 * const arch: GgufMetadataEntry = { key: "general.architecture", type: "STRING", value: "mamba" };
 * const layers: GgufMetadataEntry = { key: "mamba.block_count", type: "UINT32", value: 24 };
 * console.log(arch.value, layers.value); // mamba 24
 * ```
 */
export interface GgufMetadataEntry extends GgufTypedValue {
  /** The key, e.g. `general.architecture`. */
  key: string;
}

/**
 * One tensor of a parsed GGUF file.
 *
 * @example
 * ```ts
 * import { parseGguf, writeGguf } from "@perfmamba/perfmamba";
 *
 * const bytes = writeGguf([], [{ name: "w", dims: [3, 2], type: "F32", data: new Float32Array(6) }]);
 * const t = parseGguf(bytes, "w.gguf").tensors[0];
 * console.log(t.name, t.dims, t.type, t.byteLength); // w [ 3, 2 ] F32 24
 * ```
 */
export interface GgufTensorInfo {
  /** Tensor name, e.g. `blk.0.ssm_in.weight`. */
  name: string;
  /** Dimensions in GGUF order: `dims[0]` varies fastest (torch's shape reversed). */
  dims: number[];
  /** ggml element type. */
  type: GgmlType;
  /** Offset of the tensor's bytes from the start of the data section. */
  offset: number;
  /** Bytes the tensor occupies. */
  byteLength: number;
}

/**
 * A parsed GGUF file.
 *
 * @example
 * ```ts
 * import { type GgufFile, ggufTensorBytes, parseGguf, writeGguf } from "@perfmamba/perfmamba";
 *
 * const bytes = writeGguf(
 *   [{ key: "general.architecture", type: "STRING", value: "mamba" }],
 *   [{ name: "output_norm.weight", dims: [4], type: "F32", data: new Float32Array([1, 2, 3, 4]) }],
 * );
 * const file: GgufFile = parseGguf(bytes, "model.gguf");
 * console.log(file.version, file.alignment, file.metadata.get("general.architecture")!.value); // 3 32 mamba
 * console.log(new Float32Array(ggufTensorBytes(file, file.tensors[0]).slice().buffer)); // Float32Array(4) [ 1, 2, 3, 4 ]
 * ```
 */
export interface GgufFile {
  /** The name given to {@link parseGguf}, used in messages. */
  name: string;
  /** Format version (2 or 3). */
  version: number;
  /** Metadata by key, in file order. */
  metadata: Map<string, GgufMetadataEntry>;
  /** Tensor infos in file order. */
  tensors: GgufTensorInfo[];
  /** `general.alignment` (32 when absent). */
  alignment: number;
  /** Offset of the data section from the start of the file. */
  dataOffset: number;
  /** The whole file. */
  bytes: Uint8Array;
}

/**
 * What is wrong with a GGUF file: `reason` is a stable code, the message names the file and the place.
 *
 * @example
 * ```ts
 * import { GgufFormatError, parseGguf } from "@perfmamba/perfmamba";
 *
 * try {
 *   parseGguf(new TextEncoder().encode("GGML not a gguf"), "bad.gguf");
 * } catch (e) {
 *   if (e instanceof GgufFormatError) console.log(e.reason); // bad-magic
 * }
 * ```
 */
export class GgufFormatError extends Error {
  /**
   * `bad-magic`, `bad-version`, `truncated` (a count, length or value runs past the end), `count-overflow` (a
   * declared count that cannot fit in the bytes present), `bad-value` (an unknown value type, invalid UTF-8, a
   * duplicate key or tensor, too deep nesting, a bad alignment), `unknown-type` (a tensor type ggml does not
   * define), `unsupported-type` (a type ggml defines that PerfMamba does not convert, e.g. Q4_K), `bad-shape` (dimensions or a block size), `tensor-out-of-bounds` (an offset outside the data section,
   * unaligned, or overlapping another tensor).
   */
  readonly reason: GgufErrorReason;
  /** @param reason the code; @param message the full message */
  constructor(reason: GgufErrorReason, message: string) {
    super(message);
    this.name = "GgufFormatError";
    this.reason = reason;
  }
}

/**
 * The codes of {@link GgufFormatError}.
 *
 * @example
 * ```ts
 * import type { GgufErrorReason } from "@perfmamba/perfmamba";
 *
 * const r: GgufErrorReason = "tensor-out-of-bounds";
 * console.log(r); // tensor-out-of-bounds
 * ```
 */
export type GgufErrorReason =
  | "bad-magic"
  | "bad-version"
  | "truncated"
  | "count-overflow"
  | "bad-value"
  | "unknown-type"
  | "unsupported-type"
  | "bad-shape"
  | "tensor-out-of-bounds";

const MAGIC = 0x46554747; // "GGUF" read as a little-endian u32
/** Deepest array nesting accepted (llama.cpp writes at most one level; a bound keeps recursion finite). */
const MAX_DEPTH = 8;
/** ggml's GGML_MAX_DIMS. */
const MAX_DIMS = 4;
/** Longest key or tensor name accepted, in bytes (gguf.c caps names at GGML_MAX_NAME = 64; keys are free). */
const MAX_NAME_BYTES = 65535;
/** Smallest encoding of one value of each type (for checking a declared count against the bytes present). */
const MIN_VALUE_BYTES: Record<GgufValueType, number> = {
  UINT8: 1,
  INT8: 1,
  UINT16: 2,
  INT16: 2,
  UINT32: 4,
  INT32: 4,
  FLOAT32: 4,
  BOOL: 1,
  STRING: 8,
  ARRAY: 12,
  UINT64: 8,
  INT64: 8,
  FLOAT64: 8,
};
const TYPE_OF_ID = new Map<number, GgufValueType>(
  Object.entries(GGUF_VALUE_TYPES).map(([k, v]) => [v, k as GgufValueType]),
);
const utf8 = new TextDecoder("utf-8", { fatal: true });

/** A bounds-checked little-endian cursor over the file; every read names the file and what was being read. */
class Reader {
  pos = 0;
  readonly view: DataView;
  constructor(readonly bytes: Uint8Array, readonly file: string) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }
  fail(reason: GgufErrorReason, what: string): never {
    throw new GgufFormatError(reason, `${this.file}: ${what}`);
  }
  get left(): number {
    return this.bytes.byteLength - this.pos;
  }
  need(n: number, what: string): void {
    if (n > this.left) {
      this.fail("truncated", `truncated GGUF: ${what} at byte ${this.pos} needs ${n} bytes, ${this.left} left`);
    }
  }
  u8(what: string): number {
    this.need(1, what);
    return this.view.getUint8(this.pos++);
  }
  u32(what: string): number {
    this.need(4, what);
    const v = this.view.getUint32(this.pos, true);
    this.pos += 4;
    return v;
  }
  u64(what: string): bigint {
    this.need(8, what);
    const v = this.view.getBigUint64(this.pos, true);
    this.pos += 8;
    return v;
  }
  /** A u64 that must be a count of things each at least `minBytes` long still to come (checked before use). */
  count(what: string, minBytes: number): number {
    const at = this.pos;
    const n = this.u64(what);
    if (n * BigInt(minBytes) > BigInt(this.left)) {
      this.fail(
        "count-overflow",
        `${what} at byte ${at} is ${n}, but ${this.left} bytes are left (each needs at least ${minBytes})`,
      );
    }
    return Number(n);
  }
  string(what: string, maxBytes = Infinity): string {
    const at = this.pos;
    const len = this.u64(`the length of ${what}`);
    if (len > BigInt(this.left)) {
      this.fail("truncated", `truncated GGUF: ${what} at byte ${at} declares ${len} bytes, ${this.left} left`);
    }
    const n = Number(len);
    if (n > maxBytes) this.fail("bad-value", `${what} at byte ${at} is ${n} bytes long (at most ${maxBytes})`);
    const raw = this.bytes.subarray(this.pos, this.pos + n);
    this.pos += n;
    try {
      return utf8.decode(raw);
    } catch {
      return this.fail("bad-value", `${what} at byte ${at} is not valid UTF-8`);
    }
  }
}

/** Reads one value of type `type` (recursing into arrays, at most MAX_DEPTH deep). */
function readValue(r: Reader, type: GgufValueType, what: string, depth: number): GgufTypedValue {
  const v = r.view;
  const take = (n: number): number => {
    r.need(n, what);
    const at = r.pos;
    r.pos += n;
    return at;
  };
  switch (type) {
    case "UINT8":
      return { type, value: v.getUint8(take(1)) };
    case "INT8":
      return { type, value: v.getInt8(take(1)) };
    case "UINT16":
      return { type, value: v.getUint16(take(2), true) };
    case "INT16":
      return { type, value: v.getInt16(take(2), true) };
    case "UINT32":
      return { type, value: v.getUint32(take(4), true) };
    case "INT32":
      return { type, value: v.getInt32(take(4), true) };
    case "FLOAT32":
      return { type, value: v.getFloat32(take(4), true) };
    case "UINT64":
      return { type, value: v.getBigUint64(take(8), true) };
    case "INT64":
      return { type, value: v.getBigInt64(take(8), true) };
    case "FLOAT64":
      return { type, value: v.getFloat64(take(8), true) };
    case "BOOL": {
      const at = r.pos;
      const b = r.u8(what);
      if (b > 1) r.fail("bad-value", `${what} at byte ${at} is a bool holding ${b} (must be 0 or 1)`);
      return { type, value: b === 1 };
    }
    case "STRING":
      return { type, value: r.string(what) };
    case "ARRAY": {
      if (depth >= MAX_DEPTH) r.fail("bad-value", `${what} nests arrays deeper than ${MAX_DEPTH} levels`);
      const arrayType = valueType(r, `the element type of ${what}`);
      const n = r.count(`the element count of ${what}`, MIN_VALUE_BYTES[arrayType]);
      const items: unknown[] = [];
      for (let i = 0; i < n; i++) {
        const item = readValue(r, arrayType, `${what}[${i}]`, depth + 1);
        items.push(arrayType === "ARRAY" ? item : item.value);
      }
      return { type, arrayType, value: items };
    }
  }
}

/** A u32 value type id, refused when gguf.h does not define it. */
function valueType(r: Reader, what: string): GgufValueType {
  const at = r.pos;
  const id = r.u32(what);
  const type = TYPE_OF_ID.get(id);
  if (type === undefined) r.fail("bad-value", `${what} at byte ${at} is ${id}, not a GGUF value type (0..12)`);
  return type;
}

/**
 * Parses and validates a GGUF file (version 2 or 3). Tensor bytes are not copied: read them with
 * {@link ggufTensorBytes}.
 *
 * @example
 * ```ts
 * import { parseGguf, writeGguf } from "@perfmamba/perfmamba";
 *
 * const bytes = writeGguf([{ key: "general.name", type: "STRING", value: "tiny" }], [
 *   { name: "token_embd.weight", dims: [8, 4], type: "F16", data: new Float32Array(32).fill(0.5) },
 * ]);
 * const file = parseGguf(bytes, "tiny.gguf");
 * console.log(file.metadata.get("general.name")!.value, file.tensors.map((t) => `${t.name} ${t.type}`)); // tiny [ "token_embd.weight F16" ]
 * try {
 *   parseGguf(bytes.subarray(0, bytes.length - 1), "cut.gguf");
 * } catch (e) {
 *   console.log((e as Error).message.startsWith("cut.gguf: tensor \"token_embd.weight\"")); // true
 * }
 * ```
 *
 * @param bytes the whole file
 * @param file the file's name or path, used in every message
 * @throws GgufFormatError (see its `reason`): a bad magic or version; a count, length or value running past the
 *   end; a count that cannot fit in the bytes left; an unknown value or tensor type; invalid UTF-8; a duplicate key
 *   or tensor name; `general.alignment` not a power-of-two UINT32; a tensor with more than 4 or zero-or-negative
 *   dimensions, a first dimension not a multiple of its type's block, or more than 2^53 bytes; a tensor offset not
 *   aligned, outside the data section, or overlapping another tensor.
 */
export function parseGguf(bytes: Uint8Array, file: string): GgufFile {
  const r: Reader = new Reader(bytes, file);
  if (bytes.byteLength < 4 || r.view.getUint32(0, true) !== MAGIC) {
    const head = [...bytes.subarray(0, 4)].map((b) => b.toString(16).padStart(2, "0")).join(" ");
    r.fail("bad-magic", `not a GGUF file (the first bytes are ${head || "missing"}, expected 47 47 55 46 "GGUF")`);
  }
  r.pos = 4;
  const version = r.u32("the version");
  if (version !== 2 && version !== 3) {
    r.fail(
      "bad-version",
      `GGUF version ${version} is not supported (2 and 3 are; version 1 is llama.cpp's obsolete 32-bit format)`,
    );
  }
  // Each tensor info needs at least 8 (name length) + 4 (dims) + 4 (type) + 8 (offset) bytes; each pair 8 + 4.
  const tensorCount = r.count("the tensor count", 24);
  const kvCount = r.count("the metadata count", 12);
  const metadata = new Map<string, GgufMetadataEntry>();
  for (let i = 0; i < kvCount; i++) {
    const key = r.string(`metadata key #${i}`, MAX_NAME_BYTES);
    if (metadata.has(key)) r.fail("bad-value", `metadata key "${key}" appears twice`);
    const type = valueType(r, `the value type of "${key}"`);
    metadata.set(key, { key, ...readValue(r, type, `metadata "${key}"`, 0) });
  }
  let alignment = 32;
  const align = metadata.get("general.alignment");
  if (align !== undefined) {
    if (align.type !== "UINT32" || align.value === 0 || (align.value & (align.value - 1)) !== 0) {
      r.fail("bad-value", `general.alignment must be a power-of-two UINT32, got ${align.type} ${align.value}`);
    }
    alignment = align.value;
  }
  const tensors: GgufTensorInfo[] = [];
  const names = new Set<string>();
  for (let i = 0; i < tensorCount; i++) {
    const name = r.string(`the name of tensor #${i}`, MAX_NAME_BYTES);
    if (names.has(name)) r.fail("bad-value", `tensor "${name}" appears twice`);
    names.add(name);
    const where = `tensor "${name}"`;
    const nDims = r.u32(`the dimension count of ${where}`);
    if (nDims === 0 || nDims > MAX_DIMS) {
      r.fail("bad-shape", `${where} has ${nDims} dimensions (1 to ${MAX_DIMS} are allowed)`);
    }
    const dims: number[] = [];
    let elements = 1n;
    for (let d = 0; d < nDims; d++) {
      const n = r.u64(`dimension ${d} of ${where}`);
      if (n === 0n || n > BigInt(Number.MAX_SAFE_INTEGER)) r.fail("bad-shape", `${where} has dimension ${d} = ${n}`);
      elements *= n;
      dims.push(Number(n));
    }
    const typeAt = r.pos;
    const typeId = r.u32(`the type of ${where}`);
    const type = ggmlTypeName(typeId);
    if (type === undefined) {
      r.fail("unknown-type", `${where} has type id ${typeId} at byte ${typeAt}, which ggml does not define`);
    }
    const [perBlock, blockBytes] = ggmlBlock(type);
    if (dims[0] % perBlock !== 0) {
      r.fail("bad-shape", `${where} (${type}) has ne[0] = ${dims[0]}, not a multiple of its block of ${perBlock}`);
    }
    const byteLength = (elements / BigInt(perBlock)) * BigInt(blockBytes);
    if (byteLength > BigInt(Number.MAX_SAFE_INTEGER)) {
      r.fail("bad-shape", `${where} [${dims.join(", ")}] ${type} would be ${byteLength} bytes`);
    }
    const offset = r.u64(`the offset of ${where}`);
    if (offset > BigInt(Number.MAX_SAFE_INTEGER)) {
      r.fail("tensor-out-of-bounds", `${where} has offset ${offset}, past any file`);
    }
    tensors.push({ name, dims, type, offset: Number(offset), byteLength: Number(byteLength) });
  }
  const dataOffset = Math.ceil(r.pos / alignment) * alignment;
  const dataBytes = Math.max(0, bytes.byteLength - dataOffset);
  const byOffset = [...tensors].sort((a, b) => a.offset - b.offset);
  let prevEnd = 0;
  let prev: GgufTensorInfo | null = null;
  for (const t of byOffset) {
    const where = `tensor "${t.name}" [${t.dims.join(", ")}] ${t.type}`;
    if (t.offset % alignment !== 0) {
      r.fail("tensor-out-of-bounds", `${where} has offset ${t.offset}, not a multiple of the alignment ${alignment}`);
    }
    if (t.offset + t.byteLength > dataBytes) {
      r.fail(
        "tensor-out-of-bounds",
        `${where} needs bytes ${t.offset}..${t.offset + t.byteLength} of the data section, which has ${dataBytes} ` +
          `(file truncated or offset corrupt)`,
      );
    }
    if (prev !== null && t.offset < prevEnd) {
      r.fail("tensor-out-of-bounds", `${where} at offset ${t.offset} overlaps tensor "${prev.name}" (ends ${prevEnd})`);
    }
    prev = t;
    prevEnd = t.offset + t.byteLength;
  }
  return { name: file, version, metadata, tensors, alignment, dataOffset, bytes };
}

/**
 * A tensor's bytes: a view into the file (no copy).
 *
 * @example
 * ```ts
 * import { ggufTensorBytes, parseGguf, writeGguf } from "@perfmamba/perfmamba";
 *
 * const file = parseGguf(writeGguf([], [{ name: "b", dims: [2], type: "F32", data: new Float32Array([1, 2]) }]), "b.gguf");
 * console.log(ggufTensorBytes(file, file.tensors[0]).byteLength); // 8
 * ```
 */
export function ggufTensorBytes(file: GgufFile, tensor: GgufTensorInfo): Uint8Array {
  const start = file.dataOffset + tensor.offset;
  return file.bytes.subarray(start, start + tensor.byteLength);
}

/**
 * A tensor to write with {@link writeGguf}: `data` is either the raw bytes of `type` or (F32, F16, BF16, Q8_0, Q4_0)
 * float32 values that the writer encodes.
 *
 * @example
 * ```ts
 * import type { GgufTensorToWrite } from "@perfmamba/perfmamba";
 *
 * const t: GgufTensorToWrite = { name: "blk.0.ssm_d", dims: [128], type: "F32", data: new Float32Array(128).fill(1) };
 * console.log(t.dims); // [ 128 ]
 * ```
 */
export interface GgufTensorToWrite {
  /** Tensor name. */
  name: string;
  /** GGUF-order dimensions (`dims[0]` fastest; torch's shape reversed). */
  dims: number[];
  /** ggml type to store. */
  type: GgmlType;
  /** Raw bytes of `type`, or float32 values to encode (F32, F16, BF16, Q8_0, Q4_0). */
  data: Uint8Array | Float32Array;
}

function checkValue(e: GgufTypedValue, what: string, depth: number): void {
  const bad = (msg: string): never => {
    throw new Error(`writeGguf: ${what} ${msg}`);
  };
  if (!Object.hasOwn(GGUF_VALUE_TYPES, e.type)) bad(`has unknown type ${String(e.type)}`);
  const v = e.value;
  const intRange: Partial<Record<GgufValueType, [number, number]>> = {
    UINT8: [0, 255],
    INT8: [-128, 127],
    UINT16: [0, 65535],
    INT16: [-32768, 32767],
    UINT32: [0, 2 ** 32 - 1],
    INT32: [-(2 ** 31), 2 ** 31 - 1],
  };
  const range = intRange[e.type];
  if (range) {
    if (typeof v !== "number" || !Number.isInteger(v) || v < range[0] || v > range[1]) bad(`is not a ${e.type}: ${v}`);
  } else if (e.type === "UINT64" || e.type === "INT64") {
    if (typeof v !== "bigint" && !(typeof v === "number" && Number.isSafeInteger(v))) bad(`is not a ${e.type}`);
  } else if (e.type === "FLOAT32" || e.type === "FLOAT64") {
    if (typeof v !== "number") bad(`is not a number`);
  } else if (e.type === "BOOL") {
    if (typeof v !== "boolean") bad(`is not a boolean`);
  } else if (e.type === "STRING") {
    if (typeof v !== "string") bad(`is not a string`);
  } else if (e.type === "ARRAY") {
    if (!Array.isArray(v) || e.arrayType === undefined || !Object.hasOwn(GGUF_VALUE_TYPES, e.arrayType)) {
      bad(`must be an array with an arrayType`);
    }
    if (depth >= MAX_DEPTH) bad(`nests arrays deeper than ${MAX_DEPTH} levels`);
    for (let i = 0; i < v.length; i++) {
      const item = e.arrayType === "ARRAY" ? v[i] : { type: e.arrayType, value: v[i] };
      if (e.arrayType === "ARRAY" && item?.type !== "ARRAY") bad(`[${i}] must be an ARRAY typed value`);
      checkValue(item, `${what}[${i}]`, depth + 1);
    }
  }
}

/** A growable little-endian byte buffer. */
class Writer {
  buf = new Uint8Array(1024);
  view = new DataView(this.buf.buffer);
  pos = 0;
  reserve(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.pos + n) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.buf.subarray(0, this.pos));
    this.buf = next;
    this.view = new DataView(next.buffer);
  }
  u32(v: number): void {
    this.reserve(4);
    this.view.setUint32(this.pos, v, true);
    this.pos += 4;
  }
  u64(v: number | bigint): void {
    this.reserve(8);
    this.view.setBigUint64(this.pos, BigInt(v), true);
    this.pos += 8;
  }
  bytes(b: Uint8Array): void {
    this.reserve(b.byteLength);
    this.buf.set(b, this.pos);
    this.pos += b.byteLength;
  }
  string(s: string): void {
    const b = new TextEncoder().encode(s);
    this.u64(b.byteLength);
    this.bytes(b);
  }
  value(type: GgufValueType, v: GgufTypedValue["value"], arrayType?: GgufValueType): void {
    this.reserve(8);
    const d = this.view;
    const at = this.pos;
    switch (type) {
      case "UINT8":
        d.setUint8(at, v), this.pos += 1;
        return;
      case "INT8":
        d.setInt8(at, v), this.pos += 1;
        return;
      case "UINT16":
        d.setUint16(at, v, true), this.pos += 2;
        return;
      case "INT16":
        d.setInt16(at, v, true), this.pos += 2;
        return;
      case "UINT32":
        d.setUint32(at, v, true), this.pos += 4;
        return;
      case "INT32":
        d.setInt32(at, v, true), this.pos += 4;
        return;
      case "FLOAT32":
        d.setFloat32(at, v, true), this.pos += 4;
        return;
      case "UINT64":
        d.setBigUint64(at, BigInt(v), true), this.pos += 8;
        return;
      case "INT64":
        d.setBigInt64(at, BigInt(v), true), this.pos += 8;
        return;
      case "FLOAT64":
        d.setFloat64(at, v, true), this.pos += 8;
        return;
      case "BOOL":
        d.setUint8(at, v ? 1 : 0), this.pos += 1;
        return;
      case "STRING":
        this.string(v);
        return;
      case "ARRAY": {
        this.u32(GGUF_VALUE_TYPES[arrayType!]);
        this.u64(v.length);
        for (const item of v) {
          if (arrayType === "ARRAY") this.value("ARRAY", item.value, item.arrayType);
          else this.value(arrayType!, item);
        }
        return;
      }
    }
  }
  pad(alignment: number): void {
    const to = Math.ceil(this.pos / alignment) * alignment;
    this.reserve(to - this.pos);
    this.buf.fill(0, this.pos, to);
    this.pos = to;
  }
}

/**
 * Serialises metadata and tensors as a GGUF version 3 file: the metadata in the order given, the tensor infos and
 * data in the order given, each tensor at an offset aligned to `alignment` (zero padding), as gguf-py's
 * `GGUFWriter` lays them out. A `general.alignment` entry is added when `alignment` is not 32.
 *
 * @example
 * ```ts
 * import { parseGguf, writeGguf } from "@perfmamba/perfmamba";
 *
 * const bytes = writeGguf(
 *   [
 *     { key: "general.architecture", type: "STRING", value: "mamba" },
 *     { key: "tokenizer.ggml.tokens", type: "ARRAY", arrayType: "STRING", value: ["a", "b"] },
 *   ],
 *   [
 *     { name: "a", dims: [32, 2], type: "Q8_0", data: new Float32Array(64).fill(0.25) },
 *     { name: "b", dims: [3], type: "BF16", data: new Float32Array([1, 2, 3]) },
 *   ],
 * );
 * const file = parseGguf(bytes, "out.gguf");
 * console.log(file.tensors.map((t) => [t.type, t.offset])); // [ [ "Q8_0", 0 ], [ "BF16", 96 ] ]
 * ```
 *
 * @param metadata key/value pairs (keys unique; values checked against their types)
 * @param tensors tensors (names unique; `data` raw bytes of exactly the type's size, or float32 values)
 * @param alignment data alignment, a power of two (default 32, GGUF's default)
 * @throws Error naming the entry or tensor at fault
 */
export function writeGguf(
  metadata: readonly GgufMetadataEntry[],
  tensors: readonly GgufTensorToWrite[],
  alignment = 32,
): Uint8Array {
  if (!Number.isInteger(alignment) || alignment <= 0 || (alignment & (alignment - 1)) !== 0 || alignment > 2 ** 31) {
    throw new Error(`writeGguf: alignment ${alignment} is not a power of two`);
  }
  const entries = [...metadata];
  const keys = new Set<string>();
  for (const e of entries) {
    if (keys.has(e.key)) throw new Error(`writeGguf: metadata key "${e.key}" appears twice`);
    keys.add(e.key);
    checkValue(e, `metadata "${e.key}"`, 0);
  }
  const align = entries.find((e) => e.key === "general.alignment");
  if (align !== undefined && (align.type !== "UINT32" || align.value !== alignment)) {
    throw new Error(`writeGguf: metadata general.alignment (${align.value}) disagrees with alignment ${alignment}`);
  }
  if (align === undefined && alignment !== 32) {
    entries.push({ key: "general.alignment", type: "UINT32", value: alignment });
  }
  const names = new Set<string>();
  const encoded: { t: GgufTensorToWrite; bytes: Uint8Array }[] = [];
  for (const t of tensors) {
    if (names.has(t.name)) throw new Error(`writeGguf: tensor "${t.name}" appears twice`);
    names.add(t.name);
    if (t.dims.length === 0 || t.dims.length > MAX_DIMS || !t.dims.every((d) => Number.isSafeInteger(d) && d > 0)) {
      throw new Error(`writeGguf: tensor "${t.name}" has dims [${t.dims.join(", ")}] (1 to 4 positive integers)`);
    }
    const n = t.dims.reduce((a, b) => a * b, 1);
    const [perBlock, blockBytes] = ggmlBlock(t.type);
    if (t.dims[0] % perBlock !== 0) {
      throw new Error(`writeGguf: tensor "${t.name}" (${t.type}) needs ne[0] = ${t.dims[0]} a multiple of ${perBlock}`);
    }
    const bytes = t.data instanceof Float32Array ? encodeTensor(t.data, t.type, t.name, n) : t.data;
    if (bytes.byteLength !== (n / perBlock) * blockBytes) {
      throw new Error(
        `writeGguf: tensor "${t.name}" [${t.dims.join(", ")}] ${t.type} needs ${(n / perBlock) * blockBytes} bytes, ` +
          `got ${bytes.byteLength}`,
      );
    }
    encoded.push({ t, bytes });
  }
  const w = new Writer();
  w.u32(MAGIC);
  w.u32(3);
  w.u64(encoded.length);
  w.u64(entries.length);
  for (const e of entries) {
    w.string(e.key);
    w.u32(GGUF_VALUE_TYPES[e.type]);
    w.value(e.type, e.value, e.arrayType);
  }
  let offset = 0;
  for (const { t, bytes } of encoded) {
    w.string(t.name);
    w.u32(t.dims.length);
    for (const d of t.dims) w.u64(d);
    w.u32(GGML_TYPE_IDS[t.type]);
    w.u64(offset);
    offset = Math.ceil((offset + bytes.byteLength) / alignment) * alignment;
  }
  w.pad(alignment);
  for (const { bytes } of encoded) {
    w.bytes(bytes);
    w.pad(alignment);
  }
  return w.buf.slice(0, w.pos);
}

/** Float32 values encoded as `type`. */
function encodeTensor(data: Float32Array, type: GgmlType, name: string, n: number): Uint8Array {
  if (data.length !== n) throw new Error(`writeGguf: tensor "${name}" has ${data.length} values for ${n} elements`);
  if (type === "F32" || type === "F16" || type === "BF16") return encodeFloats(data, type);
  if (type === "Q8_0") return quantizeQ8_0(data);
  if (type === "Q4_0") return quantizeQ4_0(data);
  throw new Error(`writeGguf: tensor "${name}": float32 data cannot be encoded as ${type} (pass raw bytes)`);
}

/**
 * A tensor's values as float32 (F32, F16, BF16 widened exactly; Q8_0 and Q4_0 dequantised as ggml does).
 *
 * @example
 * ```ts
 * import { ggufTensorToFloat32, parseGguf, writeGguf } from "@perfmamba/perfmamba";
 *
 * const values = Float32Array.from({ length: 32 }, (_, i) => i - 16);
 * const file = parseGguf(writeGguf([], [{ name: "q", dims: [32], type: "Q8_0", data: values }]), "q.gguf");
 * const back = ggufTensorToFloat32(file, file.tensors[0]);
 * console.log(Math.max(...back.map((v, i) => Math.abs(v - values[i]))) < 0.07); // true
 * ```
 *
 * @throws GgufFormatError (`unsupported-type`) naming the file and tensor for any other type
 */
export function ggufTensorToFloat32(file: GgufFile, tensor: GgufTensorInfo): Float32Array {
  const bytes = ggufTensorBytes(file, tensor);
  const n = tensor.dims.reduce((a, b) => a * b, 1);
  switch (tensor.type) {
    case "F32": {
      const out = new Float32Array(n);
      const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
      for (let i = 0; i < n; i++) out[i] = view.getFloat32(4 * i, true);
      return out;
    }
    case "F16":
    case "BF16": {
      const out = new Float32Array(n);
      const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
      if (tensor.type === "BF16") {
        const bits = new Uint32Array(out.buffer);
        for (let i = 0; i < n; i++) bits[i] = view.getUint16(2 * i, true) << 16;
      } else {
        for (let i = 0; i < n; i++) out[i] = f16(view.getUint16(2 * i, true));
      }
      return out;
    }
    case "Q8_0":
    case "Q4_0":
      return dequantize(bytes, tensor.type, n);
    default:
      throw new GgufFormatError(
        "unsupported-type",
        `${file.name}: tensor "${tensor.name}" has type ${tensor.type}; PerfMamba reads F32, F16, BF16, Q8_0 and Q4_0`,
      );
  }
}
