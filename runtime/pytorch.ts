/**
 * Reading PyTorch checkpoints (`pytorch_model.bin`, the zip format of `torch.save` since PyTorch 1.6) without
 * executing anything (platform-neutral).
 *
 * A torch file is a zip archive: `<archive>/data.pkl` (a pickle of the state dict), `<archive>/data/<key>` (the raw
 * bytes of each storage), `<archive>/byteorder` ("little" or "big"), `<archive>/version`. {@link readZip} lists and
 * extracts the entries (STORED entries are views of the file; DEFLATE entries are inflated with npm `fflate`);
 * {@link parseTorchCheckpoint} runs an allowlisting unpickler over `data.pkl` and returns one
 * {@link SafetensorRecord} per tensor, so the rest of the loader treats it like a safetensors file.
 *
 * Why our own allowlisting reader rather than an npm pickle parser: a pickle is a program, and the general parsers
 * either emulate `GLOBAL` + `REDUCE` (constructing whatever the file names, with hooks the caller must remember to
 * lock down) or skip them and lose the tensors; neither says, by construction, "this file may only build torch
 * tensors". Here every opcode outside the short list a state dict uses is refused by name, and `GLOBAL` may only
 * name:
 *
 * - `torch._utils._rebuild_tensor_v2` (storage, offset, size, stride, requires_grad, hooks[, metadata]) → a tensor;
 * - `torch._utils._rebuild_parameter` (tensor, requires_grad, hooks) → the tensor (an `nn.Parameter` saved whole);
 * - `collections.OrderedDict` → a map (state dicts are OrderedDicts; `BUILD` of its `_metadata` is ignored);
 * - the typed storage classes `torch.FloatStorage`, `HalfStorage`, `BFloat16Storage`, `DoubleStorage`,
 *   `LongStorage`, `IntStorage`, `ShortStorage`, `CharStorage`, `ByteStorage`, `BoolStorage` (only as the type in a
 *   storage's persistent id; calling one is refused).
 *
 * Anything else is refused naming it (`pytorch_model.bin: refuses global os.system`), before anything is built:
 * there is no path from the file to a function call besides the three rebuilders above, which only make plain data.
 * Tensors are checked against their storage: dtype, shape, strides and storage offset must stay inside it
 * (non-contiguous tensors are copied to row-major; views sharing one storage are allowed), big-endian files are
 * swapped. The zip is checked too: entry names must stay inside the archive (no `..`, no absolute path), sizes must
 * fit the file (a DEFLATE entry declaring more than 1032× its compressed size is a zip bomb and refused before
 * inflating), and a truncated archive is named as such.
 *
 * @module
 */

import { inflateSync } from "fflate";
import { type Dtype, DTYPE_SIZES, numel, type SafetensorRecord } from "./safetensors.ts";

/** The most a DEFLATE stream can expand (1032:1), plus slack for tiny entries. */
const MAX_DEFLATE_RATIO = 1032;

/** Why `name` is not a plain entry path inside an archive, or null when it is one. */
function entryNameProblem(name: string): string | null {
  if (name === "") return "an empty name";
  if (name.startsWith("/") || name.startsWith("\\") || /^[A-Za-z]:/.test(name)) return "an absolute path";
  if (name.includes("\\")) return "a backslash";
  for (let i = 0; i < name.length; i++) {
    const c = name.charCodeAt(i);
    if (c < 0x20 || c === 0x7f) return "a control character";
  }
  if (name.split("/").some((s) => s === ".." || s === ".")) return "a '..' or '.' segment (escapes the archive)";
  return null;
}

/**
 * Lists a zip archive's entries and extracts them: STORED entries are views into `bytes`, DEFLATE ones are inflated.
 *
 * @example
 * ```ts
 * import { readZip } from "@perfmamba/perfmamba";
 *
 * // An empty archive: just the end-of-central-directory record.
 * const empty = new Uint8Array(22);
 * new DataView(empty.buffer).setUint32(0, 0x06054b50, true);
 * console.log(readZip(empty, "empty.zip").size); // 0
 * ```
 *
 * @throws Error naming `file`: a truncated or malformed archive, an entry name that escapes the archive (`..`, an
 *   absolute path), a compression method other than STORED or DEFLATE, sizes beyond the file, a zip bomb.
 */
export function readZip(bytes: Uint8Array, file: string): Map<string, Uint8Array> {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const len = bytes.byteLength;
  const fail = (why: string): never => {
    throw new Error(`${file}: ${why}`);
  };
  // End of central directory: the last 0x06054b50 within 22 + 65535 bytes of the end.
  let eocd = -1;
  for (let p = len - 22; p >= Math.max(0, len - 22 - 0xffff); p--) {
    if (view.getUint32(p, true) === 0x06054b50) {
      eocd = p;
      break;
    }
  }
  if (eocd < 0) fail("not a zip archive, or truncated (no end-of-central-directory record)");
  let count = view.getUint16(eocd + 10, true);
  let cdSize = view.getUint32(eocd + 12, true);
  let cdOffset = view.getUint32(eocd + 16, true);
  if (count === 0xffff || cdSize === 0xffffffff || cdOffset === 0xffffffff) {
    const loc = eocd - 20;
    if (loc < 0 || view.getUint32(loc, true) !== 0x07064b50) fail("zip64 archive without a zip64 locator");
    const z = Number(view.getBigUint64(loc + 8, true));
    if (z + 56 > len || view.getUint32(z, true) !== 0x06064b50) fail("truncated (zip64 end record out of the file)");
    count = Number(view.getBigUint64(z + 32, true));
    cdSize = Number(view.getBigUint64(z + 40, true));
    cdOffset = Number(view.getBigUint64(z + 48, true));
  }
  if (cdOffset + cdSize > len) fail(`truncated (central directory at ${cdOffset}+${cdSize} of a ${len}-byte file)`);
  const out = new Map<string, Uint8Array>();
  const decoder = new TextDecoder("utf-8", { fatal: true });
  let declared = 0;
  let p = cdOffset;
  for (let i = 0; i < count; i++) {
    if (p + 46 > cdOffset + cdSize || view.getUint32(p, true) !== 0x02014b50) {
      fail(`malformed central directory (entry ${i} of ${count})`);
    }
    const method = view.getUint16(p + 10, true);
    let compSize = view.getUint32(p + 20, true);
    let size = view.getUint32(p + 24, true);
    const nameLen = view.getUint16(p + 28, true);
    const extraLen = view.getUint16(p + 30, true);
    const commentLen = view.getUint16(p + 32, true);
    let local = view.getUint32(p + 42, true);
    if (p + 46 + nameLen + extraLen + commentLen > cdOffset + cdSize) fail(`malformed central directory entry ${i}`);
    let name: string;
    try {
      name = decoder.decode(bytes.subarray(p + 46, p + 46 + nameLen));
    } catch {
      return fail(`zip entry ${i} has a name that is not UTF-8`);
    }
    // Zip64 extra field: the 64-bit values replace the 0xffffffff ones, in order.
    for (let e = p + 46 + nameLen; e + 4 <= p + 46 + nameLen + extraLen;) {
      const id = view.getUint16(e, true);
      const n = view.getUint16(e + 2, true);
      if (id === 0x0001) {
        let q = e + 4;
        const next = (): number => {
          if (q + 8 > e + 4 + n) fail(`zip entry "${name}": short zip64 field`);
          const v = Number(view.getBigUint64(q, true));
          q += 8;
          return v;
        };
        if (size === 0xffffffff) size = next();
        if (compSize === 0xffffffff) compSize = next();
        if (local === 0xffffffff) local = next();
      }
      e += 4 + n;
    }
    p += 46 + nameLen + extraLen + commentLen;
    const problem = entryNameProblem(name);
    if (problem) fail(`zip entry ${JSON.stringify(name.slice(0, 80))} has ${problem}`);
    if (out.has(name)) fail(`zip entry "${name}" appears twice`);
    if (name.endsWith("/")) continue; // a directory
    if (local + 30 > len || view.getUint32(local, true) !== 0x04034b50) {
      fail(`truncated (zip entry "${name}": local header at ${local} missing)`);
    }
    const start = local + 30 + view.getUint16(local + 26, true) + view.getUint16(local + 28, true);
    if (start + compSize > len) {
      fail(`truncated (zip entry "${name}" needs bytes ${start}..${start + compSize} of a ${len}-byte file)`);
    }
    const data = bytes.subarray(start, start + compSize);
    if (method === 0) {
      if (size !== compSize) fail(`zip entry "${name}" is STORED but declares ${size} bytes for ${compSize}`);
      out.set(name, data);
    } else if (method === 8) {
      declared += size;
      if (size > compSize * MAX_DEFLATE_RATIO + 1024 || declared > len * MAX_DEFLATE_RATIO + 1024) {
        fail(`zip entry "${name}" declares ${size} bytes from ${compSize} compressed: refused as a zip bomb`);
      }
      let inflated: Uint8Array;
      try {
        inflated = inflateSync(data, { out: new Uint8Array(size) });
      } catch (e) {
        return fail(`zip entry "${name}": corrupt DEFLATE data (${(e as Error).message})`);
      }
      if (inflated.byteLength !== size) {
        fail(`zip entry "${name}" inflates to ${inflated.byteLength} bytes, not the ${size} declared`);
      }
      out.set(name, inflated);
    } else {
      fail(`zip entry "${name}" uses compression method ${method}; only STORED (0) and DEFLATE (8) are read`);
    }
  }
  return out;
}

/** Storage classes torch pickles, by the safetensors dtype of their elements. */
const STORAGE_DTYPES: Record<string, Dtype> = {
  FloatStorage: "F32",
  HalfStorage: "F16",
  BFloat16Storage: "BF16",
  DoubleStorage: "F64",
  LongStorage: "I64",
  IntStorage: "I32",
  ShortStorage: "I16",
  CharStorage: "I8",
  ByteStorage: "U8",
  BoolStorage: "BOOL",
};

class Global {
  constructor(readonly module: string, readonly name: string) {}
  get full(): string {
    return `${this.module}.${this.name}`;
  }
}
class Storage {
  constructor(readonly dtype: Dtype, readonly key: string, readonly numel: number) {}
}
class Tensor {
  constructor(
    readonly storage: Storage,
    readonly offset: number,
    readonly shape: number[],
    readonly stride: number[],
  ) {}
}
class Tuple {
  constructor(readonly items: unknown[]) {}
}

const ALLOWED_GLOBALS = new Set([
  "torch._utils._rebuild_tensor_v2",
  "torch._utils._rebuild_parameter",
  "collections.OrderedDict",
  ...Object.keys(STORAGE_DTYPES).map((s) => `torch.${s}`),
]);

const OPCODE_NAMES: Record<number, string> = {
  0x63: "GLOBAL",
  0x93: "STACK_GLOBAL",
  0x69: "INST",
  0x6f: "OBJ",
  0x81: "NEWOBJ",
  0x92: "NEWOBJ_EX",
  0x50: "PERSID",
  0x82: "EXT1",
  0x83: "EXT2",
  0x84: "EXT4",
};

function isInt(v: unknown): v is number {
  return typeof v === "number" && Number.isSafeInteger(v);
}

/**
 * Runs the allowlisting unpickler over `pkl` and returns the top-level value (a state dict: a Map of name → Tensor).
 * Persistent ids must be torch storages; `file` names the file in errors.
 */
function unpickle(pkl: Uint8Array, file: string): unknown {
  const view = new DataView(pkl.buffer, pkl.byteOffset, pkl.byteLength);
  const fail = (why: string): never => {
    throw new Error(`${file}: ${why}`);
  };
  const decoder = new TextDecoder("utf-8", { fatal: true });
  let stack: unknown[] = [];
  const marks: unknown[][] = [];
  const memo = new Map<number, unknown>();
  let p = 0;
  const need = (n: number): number => {
    if (p + n > pkl.byteLength) fail(`data.pkl is truncated at byte ${p}`);
    const at = p;
    p += n;
    return at;
  };
  const pop = (): unknown => {
    if (stack.length === 0) fail(`data.pkl pops an empty stack at byte ${p}`);
    return stack.pop();
  };
  const popMark = (): unknown[] => {
    const items = stack;
    const prev = marks.pop();
    if (!prev) return fail(`data.pkl has no MARK before byte ${p}`);
    stack = prev;
    return items;
  };
  const text = (at: number, n: number): string => {
    try {
      return decoder.decode(pkl.subarray(at, at + n));
    } catch {
      return fail(`data.pkl has a string that is not UTF-8 at byte ${at}`);
    }
  };
  const line = (): string => {
    const end = pkl.indexOf(0x0a, p);
    if (end < 0) fail(`data.pkl is truncated at byte ${p}`);
    const s = text(p, end - p);
    p = end + 1;
    return s;
  };
  const global = (module: string, name: string): Global => {
    const g = new Global(module, name);
    if (!ALLOWED_GLOBALS.has(g.full)) fail(`refuses global ${g.full.slice(0, 120)}`);
    return g;
  };
  const setItems = (target: unknown, items: unknown[]): void => {
    if (!(target instanceof Map)) return fail(`data.pkl sets items on something that is not a dict`);
    if (items.length % 2) fail("data.pkl has an odd SETITEMS");
    for (let i = 0; i < items.length; i += 2) target.set(items[i], items[i + 1]);
  };
  const reduce = (fn: unknown, args: unknown): unknown => {
    if (!(fn instanceof Global)) return fail("data.pkl calls something that is not an allowed global");
    if (!(args instanceof Tuple)) return fail(`data.pkl calls ${fn.full} without an argument tuple`);
    const a = args.items;
    switch (fn.full) {
      case "collections.OrderedDict":
        if (a.length !== 0) fail("data.pkl calls collections.OrderedDict with arguments");
        return new Map();
      case "torch._utils._rebuild_parameter":
        if (!(a[0] instanceof Tensor)) fail("data.pkl rebuilds a parameter from something that is not a tensor");
        return a[0];
      case "torch._utils._rebuild_tensor_v2": {
        const [storage, offset, size, stride] = a;
        if (a.length < 4 || !(storage instanceof Storage)) fail("data.pkl rebuilds a tensor without a storage");
        if (!isInt(offset) || offset < 0) fail("data.pkl rebuilds a tensor with a bad storage offset");
        const ints = (v: unknown): number[] | null =>
          v instanceof Tuple && v.items.every((x) => isInt(x) && x >= 0) ? v.items as number[] : null;
        const shape = ints(size);
        const strides = ints(stride);
        if (!shape || !strides || shape.length !== strides.length) {
          fail("data.pkl rebuilds a tensor whose size and stride are not matching tuples of integers");
        }
        return new Tensor(storage as Storage, offset as number, shape!, strides!);
      }
      default:
        return fail(`refuses to call ${fn.full}`);
    }
  };

  while (true) {
    const op = pkl[need(1)];
    switch (op) {
      case 0x80: // PROTO
        need(1);
        break;
      case 0x95: // FRAME
        need(8);
        break;
      case 0x7d: // EMPTY_DICT
        stack.push(new Map());
        break;
      case 0x29: // EMPTY_TUPLE
        stack.push(new Tuple([]));
        break;
      case 0x5d: // EMPTY_LIST
        stack.push([]);
        break;
      case 0x28: // MARK
        marks.push(stack);
        stack = [];
        break;
      case 0x58: { // BINUNICODE
        const n = view.getUint32(need(4), true);
        stack.push(text(need(n), n));
        break;
      }
      case 0x8c: { // SHORT_BINUNICODE
        const n = pkl[need(1)];
        stack.push(text(need(n), n));
        break;
      }
      case 0x71: // BINPUT
        memo.set(pkl[need(1)], stack[stack.length - 1]);
        break;
      case 0x72: // LONG_BINPUT
        memo.set(view.getUint32(need(4), true), stack[stack.length - 1]);
        break;
      case 0x94: // MEMOIZE
        memo.set(memo.size, stack[stack.length - 1]);
        break;
      case 0x68: // BINGET
      case 0x6a: { // LONG_BINGET
        const i = op === 0x68 ? pkl[need(1)] : view.getUint32(need(4), true);
        if (!memo.has(i)) fail(`data.pkl reads memo ${i}, which was never stored`);
        stack.push(memo.get(i));
        break;
      }
      case 0x63: { // GLOBAL
        const module = line();
        stack.push(global(module, line()));
        break;
      }
      case 0x93: { // STACK_GLOBAL
        const name = pop();
        const module = pop();
        if (typeof module !== "string" || typeof name !== "string") fail("data.pkl has a STACK_GLOBAL of non-strings");
        stack.push(global(module as string, name as string));
        break;
      }
      case 0x51: { // BINPERSID
        const pid = pop();
        const t = pid instanceof Tuple ? pid.items : [];
        const [kind, type, key, _location, count] = t;
        if (t.length !== 5 || kind !== "storage" || !(type instanceof Global) || !(type.name in STORAGE_DTYPES)) {
          fail("data.pkl has a persistent id that is not a torch storage");
        }
        if (typeof key !== "string" || !/^[A-Za-z0-9_]{1,64}$/.test(key)) fail("data.pkl names a bad storage key");
        if (!isInt(count) || count < 0) fail(`data.pkl gives storage ${key} a bad element count`);
        stack.push(new Storage(STORAGE_DTYPES[(type as Global).name], key as string, count as number));
        break;
      }
      case 0x74: { // TUPLE
        const items = popMark(); // before reading `stack`, which popMark replaces
        stack.push(new Tuple(items));
        break;
      }
      case 0x85: // TUPLE1
        stack.push(new Tuple([pop()]));
        break;
      case 0x86: { // TUPLE2
        const b = pop();
        stack.push(new Tuple([pop(), b]));
        break;
      }
      case 0x87: { // TUPLE3
        const c = pop();
        const b = pop();
        stack.push(new Tuple([pop(), b, c]));
        break;
      }
      case 0x4a: // BININT
        stack.push(view.getInt32(need(4), true));
        break;
      case 0x4b: // BININT1
        stack.push(pkl[need(1)]);
        break;
      case 0x4d: // BININT2
        stack.push(view.getUint16(need(2), true));
        break;
      case 0x8a: { // LONG1
        const n = pkl[need(1)];
        const at = need(n);
        let v = 0n;
        for (let i = n - 1; i >= 0; i--) v = (v << 8n) | BigInt(pkl[at + i]);
        if (n > 0 && pkl[at + n - 1] & 0x80) v -= 1n << BigInt(8 * n);
        stack.push(v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v);
        break;
      }
      case 0x47: // BINFLOAT
        stack.push(view.getFloat64(need(8), false));
        break;
      case 0x88: // NEWTRUE
        stack.push(true);
        break;
      case 0x89: // NEWFALSE
        stack.push(false);
        break;
      case 0x4e: // NONE
        stack.push(null);
        break;
      case 0x52: { // REDUCE
        const args = pop();
        stack.push(reduce(pop(), args));
        break;
      }
      case 0x73: { // SETITEM
        const v = pop();
        const k = pop();
        setItems(stack[stack.length - 1], [k, v]);
        break;
      }
      case 0x75: { // SETITEMS
        const items = popMark();
        setItems(stack[stack.length - 1], items);
        break;
      }
      case 0x61: { // APPEND
        const v = pop();
        const list = stack[stack.length - 1];
        if (!Array.isArray(list)) fail("data.pkl appends to something that is not a list");
        (list as unknown[]).push(v);
        break;
      }
      case 0x65: { // APPENDS
        const items = popMark();
        const list = stack[stack.length - 1];
        if (!Array.isArray(list)) fail("data.pkl appends to something that is not a list");
        (list as unknown[]).push(...items);
        break;
      }
      case 0x62: { // BUILD: only an OrderedDict's own state (its _metadata), which is ignored
        const state = pop();
        const target = stack[stack.length - 1];
        if (!(target instanceof Map) || !(state === null || state instanceof Map)) {
          fail("data.pkl sets the state of something other than a dict");
        }
        break;
      }
      case 0x2e: // STOP
        if (stack.length !== 1 || marks.length) fail("data.pkl stops with a malformed stack");
        return stack[0];
      default:
        fail(
          `data.pkl uses pickle opcode ${OPCODE_NAMES[op] ?? `0x${op.toString(16).padStart(2, "0")}`} at byte ${
            p - 1
          }, which a torch state dict does not need`,
        );
    }
  }
}

/**
 * Reads a `torch.save` zip checkpoint (a state dict) into tensor records, without executing anything.
 *
 * @example
 * ```ts
 * import { parseTorchCheckpoint } from "@perfmamba/perfmamba";
 *
 * // A bare pickle (the pre-1.6 format) is refused before a single opcode runs; so is any zip whose data.pkl
 * // names a global outside the allowlist ("pytorch_model.bin: refuses global os.system").
 * try {
 *   parseTorchCheckpoint(new Uint8Array([0x80, 0x02, 0x63, ...new TextEncoder().encode("os\nsystem\n")]), "x.bin");
 * } catch (e) {
 *   console.log((e as Error).message); // x.bin: the legacy torch.save format (before PyTorch 1.6) is not read; …
 * }
 * ```
 *
 * @throws Error naming `file` for a zip problem ({@link readZip}), a pickle that names a global outside the
 *   allowlist or uses an opcode a state dict does not, a top level that is not a dict of tensors, or a tensor
 *   outside its storage (offset, strides, a storage shorter than it declares).
 */
export function parseTorchCheckpoint(bytes: Uint8Array, file: string): Map<string, SafetensorRecord> {
  if (bytes.byteLength >= 2 && bytes[0] === 0x80) {
    throw new Error(`${file}: the legacy torch.save format (before PyTorch 1.6) is not read; re-save it with torch`);
  }
  const entries = readZip(bytes, file);
  const pkls = [...entries.keys()].filter((n) => n === "data.pkl" || n.endsWith("/data.pkl"));
  if (pkls.length !== 1) throw new Error(`${file}: expected one data.pkl in the archive, found ${pkls.length}`);
  const prefix = pkls[0].slice(0, -"data.pkl".length);
  const byteorderBytes = entries.get(`${prefix}byteorder`);
  const byteorder = byteorderBytes ? new TextDecoder().decode(byteorderBytes).trim() : "little";
  if (byteorder !== "little" && byteorder !== "big") throw new Error(`${file}: unknown byteorder "${byteorder}"`);
  const top = unpickle(entries.get(pkls[0])!, file);
  if (!(top instanceof Map)) throw new Error(`${file}: data.pkl is not a state dict (a dict of tensors)`);
  const out = new Map<string, SafetensorRecord>();
  for (const [name, t] of top) {
    if (typeof name !== "string") throw new Error(`${file}: state dict has a key that is not a string`);
    if (!(t instanceof Tensor)) throw new Error(`${file}: state dict entry "${name}" is not a tensor`);
    out.set(name, { name, dtype: t.storage.dtype, shape: t.shape, bytes: tensorBytes(t, name), file });
  }
  return out;

  function tensorBytes(t: Tensor, name: string): Uint8Array {
    const { storage } = t;
    const size = DTYPE_SIZES[storage.dtype];
    const data = entries.get(`${prefix}data/${storage.key}`);
    if (!data) throw new Error(`${file}: tensor "${name}" uses storage ${storage.key}, which is not in the archive`);
    if (data.byteLength < storage.numel * size) {
      throw new Error(
        `${file}: storage ${storage.key} of tensor "${name}" has ${data.byteLength} bytes, ` +
          `shorter than its ${storage.numel} ${storage.dtype} elements`,
      );
    }
    const n = numel(t.shape);
    if (n > storage.numel) {
      // Only a broadcast view (stride 0) can be larger than its storage; refused, which also bounds the copy below.
      throw new Error(
        `${file}: tensor "${name}" has ${n} elements, more than the ${storage.numel} of its storage ${storage.key}`,
      );
    }
    let last = t.offset;
    for (let d = 0; d < t.shape.length; d++) if (t.shape[d] > 0) last += (t.shape[d] - 1) * t.stride[d];
    if (n > 0 && last >= storage.numel) {
      throw new Error(
        `${file}: tensor "${name}" (offset ${t.offset}, size [${t.shape}], stride [${t.stride}]) reaches element ` +
          `${last} of storage ${storage.key}, which has ${storage.numel}: out of bounds`,
      );
    }
    let contiguous = true;
    for (let d = t.shape.length - 1, expect = 1; d >= 0; d--) {
      if (t.shape[d] !== 1 && t.stride[d] !== expect) contiguous = false;
      expect *= t.shape[d];
    }
    let bytes: Uint8Array;
    if (contiguous) {
      bytes = data.subarray(t.offset * size, (t.offset + n) * size);
    } else {
      bytes = new Uint8Array(n * size);
      const idx = new Array<number>(t.shape.length).fill(0);
      for (let i = 0; i < n; i++) {
        let src = t.offset;
        for (let d = 0; d < idx.length; d++) src += idx[d] * t.stride[d];
        bytes.set(data.subarray(src * size, src * size + size), i * size);
        for (let d = idx.length - 1; d >= 0; d--) {
          if (++idx[d] < t.shape[d]) break;
          idx[d] = 0;
        }
      }
    }
    if (byteorder === "big" && size > 1) {
      bytes = bytes.slice();
      for (let i = 0; i < bytes.byteLength; i += size) bytes.subarray(i, i + size).reverse();
    }
    return bytes;
  }
}
