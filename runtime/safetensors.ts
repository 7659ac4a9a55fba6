/**
 * Reading and writing the safetensors format, platform-neutral (a `Uint8Array` in, a `Uint8Array` out).
 *
 * Layout: `[u64 little-endian header length n][n bytes of UTF-8 JSON header][data section]`. The header maps
 * tensor names to `{dtype, shape, data_offsets: [begin, end]}` (offsets relative to the data section) and may
 * hold a `__metadata__` object of strings.
 *
 * {@link parseSafetensors} validates the header and returns lazy records whose `bytes` are views into the file;
 * {@link toFloat32} converts one record (F32, F16 or BF16) to float32; {@link writeSafetensors} writes F32
 * tensors (pruned checkpoints are saved with it).
 *
 * @module
 */

/**
 * Element types a safetensors header may name, with their sizes in bytes.
 *
 * @example
 * ```ts
 * import { DTYPE_SIZES } from "@perfmamba/perfmamba";
 *
 * // Bytes of a bf16 [768, 1536] matrix.
 * console.log(768 * 1536 * DTYPE_SIZES.BF16); // 2359296
 * ```
 */
export const DTYPE_SIZES = {
  F64: 8,
  F32: 4,
  F16: 2,
  BF16: 2,
  F8_E4M3: 1,
  F8_E5M2: 1,
  I64: 8,
  I32: 4,
  I16: 2,
  I8: 1,
  U64: 8,
  U32: 4,
  U16: 2,
  U8: 1,
  BOOL: 1,
} as const;

/**
 * A dtype name of the safetensors format.
 *
 * @example
 * ```ts
 * import { type Dtype, parseSafetensors, writeSafetensors } from "@perfmamba/perfmamba";
 *
 * const file = parseSafetensors(writeSafetensors([{ name: "w", shape: [1], data: new Float32Array([1]) }]), "m");
 * const dtype: Dtype = file.tensors.get("w")!.dtype;
 * console.log(dtype); // F32
 * ```
 */
export type Dtype = keyof typeof DTYPE_SIZES;

/** The dtypes {@link toFloat32} converts (the ones weights may use). */
export const FLOAT_DTYPES: readonly Dtype[] = ["F32", "F16", "BF16"];

/**
 * One tensor of a parsed file; `bytes` is a view into the file's bytes (nothing is copied or converted).
 *
 * @example
 * ```ts
 * import { type SafetensorRecord, toFloat32 } from "@perfmamba/perfmamba";
 *
 * // Two bfloat16 values, little-endian: 0x3F80 = 1.0 and 0xC000 = −2.0.
 * const record: SafetensorRecord = {
 *   name: "w",
 *   dtype: "BF16",
 *   shape: [2],
 *   bytes: new Uint8Array([0x80, 0x3f, 0x00, 0xc0]),
 *   file: "in memory",
 * };
 * console.log(toFloat32(record)); // Float32Array(2) [ 1, -2 ]
 * ```
 */
export interface SafetensorRecord {
  /** Tensor name as written in the header. */
  name: string;
  /** Element type. */
  dtype: Dtype;
  /** Dimensions, outermost first. */
  shape: number[];
  /** Raw little-endian elements, row-major: product(shape) · DTYPE_SIZES[dtype] bytes. */
  bytes: Uint8Array;
  /** Name of the file it came from (for error messages). */
  file: string;
}

/**
 * A parsed safetensors file.
 *
 * @example
 * ```ts
 * import { parseSafetensors, type SafetensorsFile, writeSafetensors } from "@perfmamba/perfmamba";
 *
 * const bytes = writeSafetensors([{ name: "norm.weight", shape: [4], data: new Float32Array(4).fill(1) }]);
 * const file: SafetensorsFile = parseSafetensors(bytes, "model.safetensors");
 * for (const [name, t] of file.tensors) console.log(file.name, name, t.dtype, t.shape); // model.safetensors norm.weight F32 [ 4 ]
 * ```
 */
export interface SafetensorsFile {
  /** The name given to {@link parseSafetensors}. */
  name: string;
  /** The header's `__metadata__` (empty when absent). */
  metadata: Record<string, string>;
  /** Tensors by name, in header order. */
  tensors: Map<string, SafetensorRecord>;
}

/**
 * A float32 tensor to write with {@link writeSafetensors}.
 *
 * @example
 * ```ts
 * import { parseSafetensors, type TensorToWrite, writeSafetensors } from "@perfmamba/perfmamba";
 *
 * const tensors: TensorToWrite[] = [
 *   { name: "bias", shape: [2], data: new Float32Array([0.5, -0.5]) },
 *   { name: "weight", shape: [2, 2], data: new Float32Array([1, 0, 0, 1]) },
 * ];
 * const file = parseSafetensors(writeSafetensors(tensors), "model.safetensors");
 * console.log([...file.tensors.keys()], file.tensors.get("weight")!.shape); // [ "bias", "weight" ] [ 2, 2 ]
 * ```
 */
export interface TensorToWrite {
  /** Tensor name. */
  name: string;
  /** Dimensions, outermost first; product(shape) must equal data.length. */
  shape: number[];
  /** Elements, row-major (written F32). */
  data: Float32Array;
}

/** A tensor written as it is: raw little-endian bytes of `dtype` (the codes and scales of a quantized matrix). */
export interface RawTensorToWrite {
  /** Tensor name. */
  name: string;
  /** Dimensions, outermost first; product(shape) · DTYPE_SIZES[dtype] must equal bytes.length. */
  shape: number[];
  /** Its dtype. */
  dtype: Dtype;
  /** Its bytes, row-major, little-endian. */
  bytes: Uint8Array;
}

const HOST_LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function isDtype(s: unknown): s is Dtype {
  return typeof s === "string" && Object.hasOwn(DTYPE_SIZES, s);
}

function isNonNegativeInteger(v: unknown): v is number {
  return typeof v === "number" && Number.isSafeInteger(v) && v >= 0;
}

/** Number of elements of a shape (1 for a scalar `[]`). */
export function numel(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/**
 * Parses and validates a safetensors file.
 *
 * @example
 * ```ts
 * import { parseSafetensors, toFloat32, writeSafetensors } from "@perfmamba/perfmamba";
 *
 * // In practice the bytes come from `await (await fetch(url)).bytes()` or `Deno.readFile(path)`.
 * const bytes = writeSafetensors([{ name: "A_log", shape: [2, 2], data: new Float32Array([0, 1, 2, 3]) }], {
 *   source: "example",
 * });
 * const file = parseSafetensors(bytes, "model.safetensors");
 * console.log(file.metadata); // { format: "pt", source: "example" }
 * const record = file.tensors.get("A_log")!;
 * console.log(record.dtype, record.shape, toFloat32(record)); // F32 [ 2, 2 ] Float32Array(4) [ 0, 1, 2, 3 ]
 *
 * try {
 *   parseSafetensors(bytes.subarray(0, bytes.length - 4), "truncated.safetensors");
 * } catch (e) {
 *   console.log((e as Error).message.startsWith("truncated.safetensors: tensor \"A_log\"")); // true
 * }
 * ```
 *
 * @param bytes the whole file
 * @param name the file's name or path, used in every error message
 * @returns the metadata and lazy tensor records (views into `bytes`)
 * @throws Error naming the file (and the tensor, where one is at fault) when the file is truncated, the header
 *   length runs past the end, the header is not a JSON object, an entry lacks dtype/shape/data_offsets, a dtype is
 *   unknown, offsets fall outside the data section or overlap another tensor, or a byte length disagrees with
 *   product(shape) · dtype size; and, as the reference implementation (huggingface/safetensors) requires, when the
 *   header length exceeds 100 MB, the header does not start with `{` (a BOM or whitespace), a key appears twice in
 *   one object, `__metadata__` is not an object of strings, or the tensors do not tile the data section exactly
 *   (a gap before or between tensors, or trailing bytes after the last: the mark of a header length off by a byte).
 */
export function parseSafetensors(bytes: Uint8Array, name: string): SafetensorsFile {
  if (bytes.byteLength < 8) {
    throw new Error(`${name}: truncated safetensors file (${bytes.byteLength} bytes, need at least 8)`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLen = view.getBigUint64(0, true);
  if (headerLen > BigInt(MAX_HEADER_BYTES)) {
    throw new Error(
      `${name}: header length ${headerLen} exceeds the format's limit of ${MAX_HEADER_BYTES} bytes; not a ` +
        `safetensors file`,
    );
  }
  if (headerLen > BigInt(bytes.byteLength - 8)) {
    throw new Error(
      `${name}: header length ${headerLen} runs past the end of the file (${bytes.byteLength} bytes); ` +
        `truncated or not a safetensors file`,
    );
  }
  const dataStart = 8 + Number(headerLen);
  const headerBytes = bytes.subarray(8, dataStart);
  const badStart = (): Error =>
    new Error(
      `${name}: safetensors header must start with "{", got byte 0x${headerBytes[0]?.toString(16)} ` +
        `(a BOM or leading whitespace is not allowed); header length wrong or file corrupt`,
    );
  let text: string;
  let header: unknown;
  try {
    // ignoreBOM: a BOM stays in the text (and is refused) instead of being silently dropped.
    text = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true }).decode(headerBytes);
    header = JSON.parse(text);
  } catch (e) {
    if (headerBytes[0] === 0xef) throw badStart();
    throw new Error(`${name}: safetensors header is not valid JSON (${(e as Error).message})`);
  }
  if (!isPlainObject(header)) {
    throw new Error(`${name}: safetensors header must be a JSON object`);
  }
  if (headerBytes[0] !== 0x7b) throw badStart(); // the reference refuses leading whitespace too
  checkNoDuplicateKeys(text, name);
  const data = bytes.subarray(dataStart);
  const metadata = parseMetadata(header["__metadata__"], name);
  const tensors = new Map<string, SafetensorRecord>();
  const spans: { name: string; begin: number; end: number }[] = [];
  for (const [tensorName, entry] of Object.entries(header)) {
    if (tensorName === "__metadata__") continue;
    const where = `${name}: tensor "${tensorName}"`;
    if (!isPlainObject(entry)) throw new Error(`${where}: header entry must be an object`);
    const { dtype, shape, data_offsets: offsets } = entry;
    if (dtype === undefined || shape === undefined || offsets === undefined) {
      const missing = ["dtype", "shape", "data_offsets"].filter((k) => entry[k] === undefined);
      throw new Error(`${where}: header entry lacks ${missing.join(", ")}`);
    }
    if (!isDtype(dtype)) {
      throw new Error(
        `${where}: unknown dtype ${JSON.stringify(dtype)} (known: ${Object.keys(DTYPE_SIZES).join(", ")})`,
      );
    }
    if (!Array.isArray(shape) || !shape.every(isNonNegativeInteger)) {
      throw new Error(`${where}: shape must be a list of non-negative integers, got ${JSON.stringify(shape)}`);
    }
    if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every(isNonNegativeInteger)) {
      throw new Error(`${where}: data_offsets must be [begin, end] integers, got ${JSON.stringify(offsets)}`);
    }
    const [begin, end] = offsets as [number, number];
    if (begin > end || end > data.byteLength) {
      throw new Error(
        `${where}: data_offsets [${begin}, ${end}] out of range of the data section (${data.byteLength} bytes)`,
      );
    }
    const expected = numel(shape) * DTYPE_SIZES[dtype];
    if (!Number.isSafeInteger(expected)) {
      throw new Error(`${where}: shape [${shape.join(", ")}] of ${dtype} is too large`);
    }
    if (end - begin !== expected) {
      throw new Error(
        `${where}: ${end - begin} bytes but shape [${shape.join(", ")}] of ${dtype} needs ${expected}`,
      );
    }
    spans.push({ name: tensorName, begin, end });
    tensors.set(tensorName, { name: tensorName, dtype, shape, bytes: data.subarray(begin, end), file: name });
  }
  checkCoverage(spans, data.byteLength, name);
  return { name, metadata, tensors };
}

/** The reference implementation's limit on the header length (huggingface/safetensors `MAX_HEADER_SIZE`). */
const MAX_HEADER_BYTES = 100_000_000;

function parseMetadata(raw: unknown, name: string): Record<string, string> {
  if (raw === undefined || raw === null) return {};
  if (!isPlainObject(raw)) throw new Error(`${name}: __metadata__ must be an object of strings`);
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(raw)) {
    if (typeof v !== "string") {
      throw new Error(`${name}: __metadata__.${k} must be a string, got ${JSON.stringify(v)}`);
    }
    out[k] = v;
  }
  return out;
}

/**
 * The tensors must tile the data section exactly, as the reference implementation requires: sorted by offset,
 * each begins where the previous ended (no gap, no overlap), the first at 0, the last at the section's end.
 * A header length off by a byte or two shows up here as a gap or trailing bytes.
 */
function checkCoverage(spans: { name: string; begin: number; end: number }[], dataBytes: number, name: string): void {
  const sorted = [...spans].sort((a, b) => a.begin - b.begin || a.end - b.end);
  let cursor = 0;
  let prev: { name: string; begin: number; end: number } | null = null;
  for (const cur of sorted) {
    if (cur.begin < cursor && prev) {
      throw new Error(
        `${name}: tensor "${cur.name}" data_offsets [${cur.begin}, ${cur.end}] overlap tensor "${prev.name}" ` +
          `[${prev.begin}, ${prev.end}]`,
      );
    }
    if (cur.begin > cursor) {
      const after = prev ? `after tensor "${prev.name}" [${prev.begin}, ${prev.end}]` : "at the start";
      throw new Error(
        `${name}: tensor "${cur.name}" data_offsets [${cur.begin}, ${cur.end}] leave a gap of ` +
          `${cur.begin - cursor} byte(s) ${after} of the data section; header length wrong or file corrupt`,
      );
    }
    cursor = cur.end;
    prev = cur;
  }
  if (cursor !== dataBytes) {
    const last = prev ? `the last tensor "${prev.name}" ends at ${cursor}` : "no tensors";
    throw new Error(
      `${name}: data section has ${dataBytes - cursor} trailing byte(s) (${last}, the section is ${dataBytes} ` +
        `bytes); header length wrong or file corrupt`,
    );
  }
}

/**
 * Duplicate keys in any object of the (already valid) header JSON. `JSON.parse` silently keeps the last one, so
 * a scan of the text finds them; the header is small next to the data, so the scan costs nothing.
 */
function checkNoDuplicateKeys(text: string, name: string): void {
  const stack: { keys: Set<string> | null; owner: string }[] = [];
  let lastKey = "";
  for (let i = 0; i < text.length; i++) {
    const ch = text.charCodeAt(i);
    if (ch === 0x7b /* { */ || ch === 0x5b /* [ */) {
      stack.push({ keys: ch === 0x7b ? new Set() : null, owner: lastKey });
    } else if (ch === 0x7d /* } */ || ch === 0x5d /* ] */) {
      stack.pop();
    } else if (ch === 0x22 /* " */) {
      let j = i + 1;
      while (text.charCodeAt(j) !== 0x22) j += text.charCodeAt(j) === 0x5c /* \ */ ? 2 : 1;
      const raw = text.slice(i, j + 1);
      i = j;
      let k = j + 1;
      while (k < text.length && /\s/.test(text[k])) k++;
      const top = stack[stack.length - 1];
      if (text[k] === ":" && top?.keys) {
        const key = JSON.parse(raw) as string;
        if (top.keys.has(key)) {
          const inside = stack.length > 1 ? ` in "${top.owner}"` : "";
          throw new Error(`${name}: safetensors header has duplicate key "${key}"${inside}`);
        }
        top.keys.add(key);
        lastKey = key;
      }
    }
  }
}

let f16Table: Float32Array | null = null;

/** Value of an IEEE-754 binary16 bit pattern (subnormals, ±0, ±Infinity and NaN included). */
export function f16BitsToNumber(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exp = (bits >> 10) & 0x1f;
  const frac = bits & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24;
  if (exp === 0x1f) return frac ? NaN : sign * Infinity;
  return sign * (1 + frac / 1024) * 2 ** (exp - 15);
}

/** All 65536 f16 values, built on first use (256 KiB). */
function halfTable(): Float32Array {
  if (!f16Table) {
    f16Table = new Float32Array(65536);
    for (let i = 0; i < 65536; i++) f16Table[i] = f16BitsToNumber(i);
  }
  return f16Table;
}

/** The record's elements as little-endian u16 values (copied only when unaligned or on a big-endian host). */
function u16Elements(bytes: Uint8Array): Uint16Array {
  const n = bytes.byteLength / 2;
  if (HOST_LITTLE_ENDIAN) {
    if (bytes.byteOffset % 2 === 0) return new Uint16Array(bytes.buffer, bytes.byteOffset, n);
    return new Uint16Array(new Uint8Array(bytes).buffer); // a copy (Node's Buffer.slice() would be a view)
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out = new Uint16Array(n);
  for (let i = 0; i < n; i++) out[i] = view.getUint16(2 * i, true);
  return out;
}

/**
 * Converts a record to a new float32 array (row-major, `product(shape)` elements).
 *
 * @example
 * ```ts
 * import { type SafetensorRecord, toFloat32 } from "@perfmamba/perfmamba";
 *
 * // float16, little-endian: 0x3C00 = 1, 0x3555 ≈ 1/3, 0x7C00 = +Infinity.
 * const half: SafetensorRecord = {
 *   name: "x",
 *   dtype: "F16",
 *   shape: [3],
 *   bytes: new Uint8Array([0x00, 0x3c, 0x55, 0x35, 0x00, 0x7c]),
 *   file: "in memory",
 * };
 * const [one, third, inf] = toFloat32(half);
 * console.log(one, third.toFixed(4), inf); // 1 0.3333 Infinity
 * ```
 *
 * F32 is copied; F16 is widened exactly (subnormals, infinities and NaN included); BF16 is widened by a 16-bit
 * shift (exact).
 *
 * @throws Error naming the tensor and the file for any other dtype.
 */
export function toFloat32(record: SafetensorRecord): Float32Array {
  const { bytes, dtype } = record;
  const n = bytes.byteLength / DTYPE_SIZES[dtype];
  switch (dtype) {
    case "F32": {
      if (HOST_LITTLE_ENDIAN) return new Float32Array(new Uint8Array(bytes).buffer); // a copy, as above
      const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
      const out = new Float32Array(n);
      for (let i = 0; i < n; i++) out[i] = view.getFloat32(4 * i, true);
      return out;
    }
    case "BF16": {
      const src = u16Elements(bytes);
      const out = new Float32Array(n);
      const bits = new Uint32Array(out.buffer);
      for (let i = 0; i < n; i++) bits[i] = src[i] << 16;
      return out;
    }
    case "F16": {
      const src = u16Elements(bytes);
      const table = halfTable();
      const out = new Float32Array(n);
      for (let i = 0; i < n; i++) out[i] = table[src[i]];
      return out;
    }
    default:
      throw new Error(
        `${record.file}: tensor "${record.name}" has dtype ${dtype}; weights must be ${FLOAT_DTYPES.join(", ")}`,
      );
  }
}

/**
 * Serialises float32 tensors as a safetensors file.
 *
 * @example
 * ```ts
 * import { writeSafetensors } from "@perfmamba/perfmamba";
 *
 * const bytes = writeSafetensors([{ name: "D", shape: [4], data: new Float32Array([1, 1, 1, 1]) }]);
 * const headerLength = Number(new DataView(bytes.buffer).getBigUint64(0, true));
 * console.log(headerLength % 8, bytes.length === 8 + headerLength + 4 * 4); // 0 true
 * // Save it with e.g. `await Deno.writeFile("model.safetensors", bytes)`.
 * ```
 *
 * Deterministic: tensors are sorted by name, laid out back to back in that order, the header is compact JSON
 * (`__metadata__` first) padded with spaces to a multiple of 8 bytes so every tensor starts 8-byte aligned.
 *
 * @param tensors F32 tensors; names must be unique and data.length must equal product(shape)
 * @param metadata string metadata; `format: "pt"` is added unless given (transformers expects it)
 * @returns the file's bytes
 */
export function writeSafetensors(
  tensors: (TensorToWrite | RawTensorToWrite)[],
  metadata: Record<string, string> = {},
): Uint8Array {
  const sorted = [...tensors].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const header: Record<string, unknown> = { __metadata__: { format: "pt", ...metadata } };
  let offset = 0;
  for (const t of sorted) {
    if (t.name === "__metadata__") throw new Error(`writeSafetensors: "__metadata__" is not a tensor name`);
    if (Object.hasOwn(header, t.name)) throw new Error(`writeSafetensors: duplicate tensor "${t.name}"`);
    const dtype: Dtype = "bytes" in t ? t.dtype : "F32";
    const size = "bytes" in t ? t.bytes.byteLength : t.data.length * 4;
    if (!t.shape.every(isNonNegativeInteger) || numel(t.shape) * DTYPE_SIZES[dtype] !== size) {
      const has = "bytes" in t ? `${size} bytes` : `${t.data.length} elements`;
      throw new Error(`writeSafetensors: tensor "${t.name}" has ${has} but shape [${t.shape.join(", ")}] of ${dtype}`);
    }
    const end = offset + size;
    header[t.name] = { dtype, shape: t.shape, data_offsets: [offset, end] };
    offset = end;
  }
  const json = new TextEncoder().encode(JSON.stringify(header));
  const headerLen = Math.ceil(json.byteLength / 8) * 8;
  const out = new Uint8Array(8 + headerLen + offset);
  const view = new DataView(out.buffer);
  view.setBigUint64(0, BigInt(headerLen), true);
  out.set(json, 8);
  out.fill(0x20, 8 + json.byteLength, 8 + headerLen);
  let pos = 8 + headerLen;
  for (const t of sorted) {
    if ("bytes" in t) {
      out.set(t.bytes, pos);
      pos += t.bytes.byteLength;
      continue;
    }
    if (HOST_LITTLE_ENDIAN) {
      out.set(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength), pos);
    } else {
      for (let i = 0; i < t.data.length; i++) view.setFloat32(pos + 4 * i, t.data[i], true);
    }
    pos += t.data.byteLength;
  }
  return out;
}
