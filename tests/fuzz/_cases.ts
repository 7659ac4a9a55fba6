/**
 * Fuzz cases: a base checkpoint (tiny synthetic ones, and the mamba1-tiny / mamba2-tiny fixtures) and one mutation
 * of its safetensors bytes, safetensors header, shard index, config.json, tokenizer, token ids or served files; or
 * a damaged pytorch_model.bin (the ssm-mamba1-tiny / ssm-mamba2-tiny-bf16 fixtures); or a damaged model.gguf
 * (synthetic models and fixtures written by `ggufFromWeights` as F32, F16 and Q8_0).
 *
 * Every case says what the hardened loader must do with it: `"error"` (refuse, naming one of `names`), or
 * `"either"` (load and give finite logits, or refuse naming one of `names` when given). Expectations follow issue
 * 14: strict safetensors (header starts with `{`, integer offsets, tensors cover the data section exactly and
 * contiguously, no trailing bytes), NaN/Inf weights refused naming the tensor, shard names plain relative names
 * inside the checkpoint, config keys read but not honoured refused.
 */
import {
  checkpointFiles,
  ggufFromWeights,
  makeConfig,
  type MambaWeights,
  parseConfig,
  parseGguf,
  parseSafetensors,
  syntheticWeights,
  toHostWeights,
} from "../../mod.ts";
import type { Rng } from "./_rng.ts";

/** A checkpoint's files by name. */
export type Files = Record<string, Uint8Array | string>;

/** A hostile twist of a checkpoint folder (dirSource). */
export type DirTwist =
  | { op: "symlink-out" | "symlink-in" | "folder" | "fifo"; file: string }
  | { op: "secret-config" }
  | { op: "outside-shard"; shard: string; tensor: string }
  | { op: "symlinked-subfolder"; shard: string };

/** Marks file content that must never appear in an error message. */
export const SECRET = "SECRET-7f3a-do-not-echo";

/** One generated case. */
export interface FuzzCase {
  /** Mutation kind (a key of {@link KINDS}). */
  kind: string;
  /** What was done, for the failure message. */
  mutation: string;
  /** The checkpoint's files. */
  files: Files;
  /**
   * How the harness reads them: memorySource, urlSource over a fake server, dirSource over a temp folder, or
   * (`gguf`) `parseGguf` + `ggufCheckpoint` of the one file {@link GGUF}.
   */
  via: "memory" | "url" | "dir" | "gguf";
  /** Host weight bytes allowed per input byte (default 2; a Q8_0 GGUF dequantises to f32, 32/8.5 ≈ 3.8×). */
  expansion?: number;
  /** dir only: what is odd about the folder (symlinks, FIFOs, folders, files outside), see the harness. */
  twist?: DirTwist;
  /** Misbehaviour of the fake server (url only). */
  server?: "ok" | "get500" | "throws" | "truncated-body";
  /** What the loader must do. */
  expect: "error" | "either";
  /** Strings of which at least one must appear in an error's message (empty: any non-empty message). */
  names: string[];
  /** Token ids to prefill with when it loads. */
  ids: number[];
  /** A tokenizer.json to load (with cli/tokenizer.ts) and encode `texts` with, instead of `ids`. */
  tokenizer?: { bytes: Uint8Array; texts: string[] };
}

const enc = new TextEncoder();
const dec = new TextDecoder();

export const SINGLE = "model.safetensors";
export const INDEX = "model.safetensors.index.json";
export const CONFIG = "config.json";

interface Base {
  name: string;
  config: string;
  weights: Uint8Array;
  vocab: number;
}

function synthetic(name: string, w: MambaWeights): Base {
  const files = checkpointFiles(w);
  return { name, config: files[CONFIG], weights: files[SINGLE], vocab: w.config.vocabSize };
}

const fixture = (dir: string): Base => {
  const url = new URL(`../fixtures/${dir}/`, import.meta.url);
  const config = Deno.readTextFileSync(new URL(CONFIG, url));
  return { name: dir, config, weights: Deno.readFileSync(new URL(SINGLE, url)), vocab: JSON.parse(config).vocab_size };
};

/** Base checkpoints: two tiny synthetic ones (cheap; most cases) and the two test fixtures. */
export const BASES: Base[] = [
  synthetic("syn-m1", syntheticWeights(makeConfig("mamba1", { dModel: 8, nLayer: 1, vocabSize: 16, dState: 2 }), 1)),
  synthetic(
    "syn-m2",
    syntheticWeights(makeConfig("mamba2", { dModel: 16, nLayer: 1, vocabSize: 16, dState: 4, headDim: 8 }), 2),
  ),
  fixture("mamba1-tiny"),
  fixture("mamba2-tiny"),
];

function pickBase(rng: Rng): Base {
  return rng.chance(0.8) ? BASES[rng.int(0, 1)] : BASES[rng.int(2, 3)];
}

// ---------------------------------------------------------------------------------------------------------------
// safetensors pieces

interface Entry {
  dtype: unknown;
  shape: unknown;
  data_offsets: unknown;
  [k: string]: unknown;
}

interface Split {
  header: Record<string, unknown>;
  data: Uint8Array;
}

/** Header object and data section of a well-formed file. */
export function splitSafetensors(bytes: Uint8Array): Split {
  const n = Number(new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(0, true));
  return { header: JSON.parse(dec.decode(bytes.subarray(8, 8 + n))), data: bytes.subarray(8 + n) };
}

/** A file from header text (padded with spaces to 8 bytes unless `pad` is false) and data. */
export function joinSafetensors(headerText: string | Uint8Array, data: Uint8Array, pad = true): Uint8Array {
  const h = typeof headerText === "string" ? enc.encode(headerText) : headerText;
  const len = pad ? Math.ceil(h.length / 8) * 8 : h.length;
  const out = new Uint8Array(8 + len + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(len), true);
  out.set(h, 8);
  out.fill(0x20, 8 + h.length, 8 + len);
  out.set(data, 8 + len);
  return out;
}

function tensorNames(header: Record<string, unknown>): string[] {
  return Object.keys(header).filter((k) => k !== "__metadata__");
}

function entryOf(header: Record<string, unknown>, name: string): Entry {
  return header[name] as Entry;
}

const HOSTILE_NUMBERS: unknown[] = [
  -1,
  -8,
  0.5,
  1.5,
  1e9,
  2 ** 31,
  2 ** 32,
  2 ** 53,
  2 ** 53 + 2,
  1e308,
  -0,
  "4",
  null,
  true,
  [4],
  { n: 4 },
];

function hostileNumber(rng: Rng, around: number): unknown {
  return rng.chance(0.3) ? around + rng.pick([-4, -2, -1, 1, 2, 4, 0.25]) : rng.pick(HOSTILE_NUMBERS);
}

const same = (a: unknown, b: unknown): boolean => JSON.stringify(a) === JSON.stringify(b);

/** One structured mutation of a header; returns its description, whether it must fail, and the names to expect. */
function mutateHeader(
  rng: Rng,
  header: Record<string, unknown>,
  data: Uint8Array,
): { what: string; expect: "error" | "either"; names: string[]; data?: Uint8Array; text?: string } {
  const names = tensorNames(header);
  const t = rng.pick(names);
  const e = entryOf(header, t);
  const [b0, e0] = e.data_offsets as [number, number];
  const shape = e.shape as number[];
  const op = rng.int(0, 16);
  switch (op) {
    case 0: {
      const dtype = rng.pick(["f32", "F8", "I32", "U32", "F64", "F16", "BF16", "I8", "BOOL", "", 4, null, ["F32"]]);
      e.dtype = dtype;
      return { what: `tensor "${t}" dtype → ${JSON.stringify(dtype)}`, expect: "error", names: [t] };
    }
    case 1: {
      const s = [...shape];
      const which = rng.int(0, 4);
      let v: unknown;
      if (which === 0 && s.length > 0) s[rng.int(0, s.length - 1)] = hostileNumber(rng, s[0]) as number;
      else if (which === 1) s.push(1);
      else if (which === 2) s.reverse();
      else if (which === 3) v = rng.pick([[], "[4]", null, [[4]], { 0: 4 }, [2 ** 53, 0], [1e9, 1e9]]);
      else s.splice(0, 1);
      e.shape = v ?? s;
      return {
        what: `tensor "${t}" shape ${JSON.stringify(shape)} → ${JSON.stringify(e.shape)}`,
        expect: same(e.shape, shape) ? "either" : "error",
        names: [t],
      };
    }
    case 2: {
      const which = rng.int(0, 7);
      const hostile = rng.chance(0.5) ? hostileNumber(rng, b0) : hostileNumber(rng, e0);
      let off: unknown;
      if (which === 0) off = [hostile, e0];
      else if (which === 1) off = [b0, hostile];
      else if (which === 2) off = [e0, b0];
      else if (which === 3) off = [b0];
      else if (which === 4) off = [b0, e0, e0];
      else if (which === 5) off = [b0 + 4, e0 + 4]; // shifted: gap before, overlap or overrun after
      else if (which === 6) off = `${b0},${e0}`;
      else off = [b0 + 0.5, e0 + 0.5];
      e.data_offsets = off;
      return {
        what: `tensor "${t}" data_offsets [${b0}, ${e0}] → ${JSON.stringify(off)}`,
        expect: same(off, [b0, e0]) ? "either" : "error",
        names: [t, SINGLE],
      };
    }
    case 3: {
      // Overlap: point this tensor at another one of the same byte size (then a region is uncovered).
      const sameSize = names.filter((n) => {
        const [b, en] = entryOf(header, n).data_offsets as number[];
        return n !== t && en - b === e0 - b0;
      });
      if (sameSize.length === 0) {
        e.data_offsets = [0, e0 - b0];
        return {
          what: `tensor "${t}" data_offsets → [0, ${e0 - b0}]`,
          expect: b0 === 0 ? "either" : "error",
          names: [t, SINGLE],
        };
      }
      const o = rng.pick(sameSize);
      e.data_offsets = [...(entryOf(header, o).data_offsets as number[])];
      return { what: `tensor "${t}" aliases the bytes of "${o}"`, expect: "error", names: [t, o, SINGLE] };
    }
    case 4: {
      // Swap two same-size tensors' offsets: still a valid file (different weights).
      const o = rng.pick(names);
      const oe = entryOf(header, o);
      const [b1, e1] = oe.data_offsets as number[];
      if (e1 - b1 !== e0 - b0) {
        delete header[o];
        return {
          what: `tensor "${o}" removed from the header (bytes left uncovered)`,
          expect: "error",
          names: [o, SINGLE],
        };
      }
      [e.data_offsets, oe.data_offsets] = [oe.data_offsets, e.data_offsets];
      return { what: `data_offsets of "${t}" and "${o}" swapped`, expect: "either", names: [] };
    }
    case 5: {
      // Duplicate name: appended textually after the real entry; JSON.parse keeps the last.
      const dup = { ...e };
      if (rng.chance(0.5)) dup.data_offsets = [0, e0 - b0];
      const base = JSON.stringify(header);
      const text = `${base.slice(0, -1)},${JSON.stringify(t)}:${JSON.stringify(dup)}}`;
      return {
        what: `duplicate header key "${t}" (${JSON.stringify(dup.data_offsets)})`,
        expect: same(dup, e) ? "either" : "error",
        names: [t, SINGLE],
        text,
      };
    }
    case 6: {
      const text = rng.pick(["\uFEFF", " ", "\n", "\t", "\r\n"]) + JSON.stringify(header);
      return { what: `header starts with ${JSON.stringify(text[0])}`, expect: "error", names: [SINGLE], text };
    }
    case 7: {
      const extra = rng.int(1, 64);
      const junk = new Uint8Array(extra).map(() => rng.int(0, 255));
      const d = new Uint8Array(data.length + extra);
      d.set(data);
      d.set(junk, data.length);
      return { what: `${extra} trailing bytes after the data section`, expect: "error", names: [SINGLE], data: d };
    }
    case 8: {
      // NaN / Inf weights (F32).
      if (e.dtype !== "F32" || e0 === b0) return { what: "no-op", expect: "either", names: [] };
      const d = data.slice();
      const i = b0 + 4 * rng.int(0, (e0 - b0) / 4 - 1);
      const v = rng.pick([NaN, Infinity, -Infinity]);
      new DataView(d.buffer).setFloat32(i, v, true);
      return { what: `tensor "${t}" element at byte ${i - b0} := ${v}`, expect: "error", names: [t], data: d };
    }
    case 9: {
      // An extra tensor that nothing consumes (valid file, refused by toHostWeights).
      const name = rng.pick(["backbone.layers.0.mixer.extra", "lm_head.bias", "x", "backbone.layers.99.norm.weight"]);
      header[name] = { dtype: "F32", shape: [1], data_offsets: [data.length, data.length + 4] };
      const d = new Uint8Array(data.length + 4);
      d.set(data);
      return { what: `extra tensor "${name}"`, expect: "error", names: [name], data: d };
    }
    case 10: {
      const to = rng.pick([`${t}x`, t.replace("weight", "bias"), t.toUpperCase(), "", "__metadata__x", `model.${t}`]);
      if (to === t || Object.hasOwn(header, to)) return { what: "no-op", expect: "either", names: [] };
      header[to] = e;
      delete header[t];
      // "model." prefixes are normalised away: still a valid checkpoint.
      return {
        what: `tensor "${t}" renamed "${to}"`,
        expect: to === `model.${t}` ? "either" : "error",
        names: [t, to],
      };
    }
    case 11: {
      const meta = rng.pick<unknown>([[], "x", 1, { format: 1 }, { a: { b: 1 } }, null, { format: "pt", n: "1" }]);
      header.__metadata__ = meta;
      const ok = meta === null || same(meta, { format: "pt", n: "1" });
      return { what: `__metadata__ → ${JSON.stringify(meta)}`, expect: ok ? "either" : "error", names: [SINGLE] };
    }
    case 12: {
      // A tensor converted to F16 or BF16 properly: must load.
      if (e.dtype !== "F32") return { what: "no-op", expect: "either", names: [] };
      const f32 = new Float32Array(data.slice(b0, e0).buffer);
      const bf16 = rng.chance(0.5);
      const half = new Uint16Array(f32.length);
      const u32 = new Uint32Array(f32.buffer);
      for (let i = 0; i < f32.length; i++) half[i] = bf16 ? u32[i] >>> 16 : toHalf(f32[i]);
      const before = data.subarray(0, b0), after = data.subarray(e0);
      const d = new Uint8Array(data.length - (e0 - b0) / 2);
      d.set(before);
      d.set(new Uint8Array(half.buffer), b0);
      d.set(after, b0 + half.byteLength);
      const shift = (e0 - b0) / 2;
      for (const n of names) {
        const en = entryOf(header, n);
        const [b, x] = en.data_offsets as number[];
        if (n === t) en.data_offsets = [b, b + half.byteLength];
        else if (b >= e0) en.data_offsets = [b - shift, x - shift];
      }
      e.dtype = bf16 ? "BF16" : "F16";
      return { what: `tensor "${t}" stored as ${e.dtype}`, expect: "either", names: [t], data: d };
    }
    case 13: {
      const value = rng.pick<unknown>([[], "x", 1, null, { dtype: "F32" }, { ...e, extra: 1 }]);
      header[t] = value;
      return {
        what: `tensor "${t}" entry → ${JSON.stringify(value)}`,
        expect: same(value, { ...e, extra: 1 }) ? "either" : "error",
        names: [t],
      };
    }
    case 14: {
      const text = rng.pick(["[]", "null", "1", '"x"', "{}", "{", "", "[{}]"]);
      return {
        what: `header JSON → ${JSON.stringify(text)}`,
        expect: "error",
        names: [SINGLE],
        text,
      };
    }
    case 15: {
      // A gap: k bytes between this tensor and the next, later offsets shifted (otherwise a valid file).
      const k = rng.pick([1, 4, 8, 64]);
      const d = new Uint8Array(data.length + k);
      d.set(data.subarray(0, e0));
      d.set(data.subarray(e0), e0 + k);
      for (const n of names) {
        const en = entryOf(header, n);
        const [b, x] = en.data_offsets as number[];
        if (b >= e0 && n !== t) en.data_offsets = [b + k, x + k];
      }
      return { what: `${k}-byte gap after tensor "${t}"`, expect: "error", names: [SINGLE, t], data: d };
    }
    default: {
      // Deep nesting / long values in the header: must not blow the stack or the time budget.
      const depth = rng.pick([100, 1000, 5000]);
      header.__metadata__ = { format: "pt", deep: "[".repeat(depth) + "]".repeat(depth) };
      if (rng.chance(0.5)) {
        return { what: `__metadata__ string of ${2 * depth} brackets`, expect: "either", names: [SINGLE] };
      }
      const text = `{"x":${"[".repeat(depth)}${"]".repeat(depth)}}`;
      return { what: `header with nesting depth ${depth}`, expect: "error", names: [SINGLE, "x"], text };
    }
  }
}

/** float32 → float16 bits (round to nearest even, enough for small weights). */
function toHalf(v: number): number {
  const f = new Float32Array([v]);
  const x = new Uint32Array(f.buffer)[0];
  const sign = (x >>> 16) & 0x8000;
  const exp = ((x >>> 23) & 0xff) - 127 + 15;
  const mant = x & 0x7fffff;
  if (exp <= 0) return sign | (exp < -10 ? 0 : ((mant | 0x800000) >>> (14 - exp)));
  if (exp >= 31) return sign | 0x7c00;
  return sign | (exp << 10) | (mant >>> 13);
}

// ---------------------------------------------------------------------------------------------------------------
// the kinds

function plainIds(rng: Rng, vocab: number): number[] {
  return Array.from({ length: rng.int(1, 5) }, () => rng.int(0, vocab - 1));
}

function viaOf(rng: Rng): Pick<FuzzCase, "via" | "server"> {
  if (!rng.chance(0.3)) return { via: "memory" };
  return { via: "url", server: rng.chance(0.9) ? "ok" : rng.pick(["get500", "throws", "truncated-body"] as const) };
}

/** `bytes` with `len` random bytes inserted at `i` (one `rng.int` per byte, in order). */
function insertRandom(rng: Rng, bytes: Uint8Array, i: number, len: number): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(bytes.length + len);
  out.set(bytes.subarray(0, i));
  for (let j = 0; j < len; j++) out[i + j] = rng.int(0, 255);
  out.set(bytes.subarray(i), i + len);
  return out;
}

/** `bytes` without the (up to) `len` bytes from `i`. */
function deleteBytes(bytes: Uint8Array, i: number, len: number): Uint8Array<ArrayBuffer> {
  const end = Math.min(bytes.length, i + len);
  const out = new Uint8Array(bytes.length - (end - i));
  out.set(bytes.subarray(0, i));
  out.set(bytes.subarray(end), i);
  return out;
}

/** Random byte-level damage to model.safetensors: bit flips, inserts, deletes, truncation, header length ± k. */
function safetensorsBytes(rng: Rng): FuzzCase {
  const base = pickBase(rng);
  let bytes = base.weights.slice();
  const headerLen = Number(new DataView(bytes.buffer).getBigUint64(0, true));
  const ops: string[] = [];
  let expect: "error" | "either" = "either";
  const n = rng.int(1, 3);
  for (let k = 0; k < n; k++) {
    // Bias towards the length field and the header, where the parser's decisions are.
    const pos = () =>
      rng.chance(0.7) ? rng.int(0, Math.min(bytes.length - 1, 8 + headerLen)) : rng.int(0, bytes.length - 1);
    const op = rng.int(0, 5);
    if (op === 0) {
      const i = pos(), bit = rng.int(0, 7);
      bytes[i] ^= 1 << bit;
      ops.push(`flip bit ${bit} of byte ${i}`);
    } else if (op === 1) {
      const i = pos(), len = rng.int(1, 16);
      bytes = insertRandom(rng, bytes, i, len);
      ops.push(`insert ${len} bytes at ${i}`);
      expect = "error"; // the data section no longer matches the header exactly
    } else if (op === 2) {
      const i = pos(), len = rng.int(1, 16);
      bytes = deleteBytes(bytes, i, len);
      ops.push(`delete ${len} bytes at ${i}`);
      expect = "error";
    } else if (op === 3) {
      const keep = rng.chance(0.5) ? rng.int(0, 16) : rng.int(0, bytes.length - 1);
      bytes = bytes.slice(0, keep);
      ops.push(`truncate to ${keep} bytes`);
      expect = "error";
    } else if (op === 4) {
      const k = rng.pick([-16, -8, -2, -1, 1, 2, 8, 16, 2 ** 32, 2 ** 53]);
      const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
      if (bytes.length >= 8) view.setBigUint64(0, BigInt.asUintN(64, view.getBigUint64(0, true) + BigInt(k)), true);
      ops.push(`header length ${k > 0 ? "+" : ""}${k}`);
      expect = "error";
    } else {
      const v = rng.pick([0n, 0xffffffffffffffffn, 1n << 63n, 100_000_000n, 2n]);
      if (bytes.length >= 8) new DataView(bytes.buffer, bytes.byteOffset).setBigUint64(0, v, true);
      ops.push(`header length := ${v}`);
      expect = "error";
    }
  }
  return {
    kind: "safetensors-bytes",
    mutation: `${base.name}: ${ops.join("; ")}`,
    files: { [CONFIG]: base.config, [SINGLE]: bytes },
    ...viaOf(rng),
    expect,
    names: [SINGLE],
    ids: plainIds(rng, base.vocab),
  };
}

/** Structured header mutations (dtypes, shapes, offsets, duplicates, BOM, whitespace, trailing bytes, NaN). */
function safetensorsHeader(rng: Rng): FuzzCase {
  const base = pickBase(rng);
  const { header, data } = splitSafetensors(base.weights);
  const m = mutateHeader(rng, header, data.slice());
  const files = { [CONFIG]: base.config, [SINGLE]: joinSafetensors(m.text ?? JSON.stringify(header), m.data ?? data) };
  return {
    kind: "safetensors-header",
    mutation: `${base.name}: ${m.what}`,
    files,
    ...viaOf(rng),
    expect: m.expect,
    names: m.names,
    ids: plainIds(rng, base.vocab),
  };
}

/** Shard names that must never leave the checkpoint (each must be refused, naming the index entry). */
export const HOSTILE_SHARDS = [
  "../x.safetensors",
  "../../model.safetensors",
  "%2e%2e/model-00001-of-00002.safetensors",
  ".%2e/model-00001-of-00002.safetensors",
  "%2E%2E/%2E%2E/x",
  "https://evil.example/x.safetensors",
  "http://evil.example/model-00001-of-00002.safetensors",
  "//evil.example/x",
  "//evil.example/model-00001-of-00002.safetensors",
  "/abs/model-00001-of-00002.safetensors",
  "/model-00001-of-00002.safetensors",
  "\\\\evil.example\\x",
  "/\\evil.example/x",
  "\\/evil.example/x",
  "file:///etc/passwd",
  "data:,x",
  "javascript:alert(1)",
  "blob:https://evil.example/x",
  "a/../../x",
  "a/..%2f..%2fx",
  "sub/../../model-00001-of-00002.safetensors",
  "model-00001-of-00002.safetensors?x=1",
  "model-00001-of-00002.safetensors#frag",
  "?x",
  "#x",
  "model-00001-of-00002.safetensors\u0000.txt",
  "\u0000",
  "",
  ".",
  "./",
  "..",
  " ",
  "model-00001-of-00002.safetensors/",
  "C:\\Windows\\x",
  "\tmodel-00001-of-00002.safetensors",
];

function shardName(i: number, n: number): string {
  return `model-${String(i + 1).padStart(5, "0")}-of-${String(n).padStart(5, "0")}.safetensors`;
}

/** A sharded copy of a base checkpoint: its files and its weight_map. */
function sharded(rng: Rng, base: Base): { files: Files; weightMap: Record<string, string>; shards: string[] } {
  const { header, data } = splitSafetensors(base.weights);
  const names = tensorNames(header);
  const n = rng.int(2, 3);
  const shards = Array.from({ length: n }, (_, i) => shardName(i, n));
  const files: Files = { [CONFIG]: base.config };
  const weightMap: Record<string, string> = {};
  for (let s = 0; s < n; s++) {
    const mine = names.filter((_, i) => i % n === s);
    const h: Record<string, unknown> = { __metadata__: { format: "pt" } };
    const parts: Uint8Array[] = [];
    let off = 0;
    for (const name of mine) {
      const e = entryOf(header, name);
      const [b, x] = e.data_offsets as number[];
      h[name] = { ...e, data_offsets: [off, off + x - b] };
      parts.push(data.subarray(b, x));
      off += x - b;
      weightMap[name] = shards[s];
    }
    const d = new Uint8Array(off);
    let p = 0;
    for (const part of parts) (d.set(part, p), p += part.length);
    files[shards[s]] = joinSafetensors(JSON.stringify(h), d);
  }
  return { files, weightMap, shards };
}

/** The sharded index: hostile shard paths and URLs, missing shards, tensors in the wrong shard, bad JSON. */
function shardIndex(rng: Rng): FuzzCase {
  const base = pickBase(rng);
  const { files, weightMap, shards } = sharded(rng, base);
  const tensors = Object.keys(weightMap);
  const t = rng.pick(tensors);
  let index: unknown = { metadata: { total_size: 0 }, weight_map: weightMap };
  let what: string;
  let expect: "error" | "either" = "error";
  let names = [INDEX];
  const op = rng.int(0, 9);
  if (op <= 4) {
    const hostile = rng.pick(HOSTILE_SHARDS);
    weightMap[t] = hostile;
    // An evil server would answer with a real shard, so that an escape would load.
    what = `weight_map["${t}"] = ${JSON.stringify(hostile)}`;
    names = [t, INDEX];
  } else if (op === 5) {
    const s = rng.pick(shards);
    delete files[s];
    what = `shard ${s} missing`;
    names = [s];
  } else if (op === 6) {
    const other = rng.pick(shards.filter((s) => s !== weightMap[t]));
    weightMap[t] = other;
    what = `weight_map["${t}"] moved to ${other}`;
    names = [t, other];
  } else if (op === 7) {
    index = rng.pick<unknown>([
      [],
      null,
      "x",
      { weight_map: [] },
      { weight_map: null },
      { weight_map: "x" },
      { weight_map: {} },
      { weight_map: { [t]: 1 } },
      { weight_map: { [t]: null } },
      { weight_map: { [t]: [shards[0]] } },
      { weight_map: { ...weightMap, [t]: { f: shards[0] } } },
    ]);
    what = `index → ${JSON.stringify(index)}`;
  } else if (op === 8) {
    // A subfolder name served from that subfolder: inside the checkpoint; loading or refusing are both fine.
    const s = weightMap[t];
    const moved = `sub/${s}`;
    for (const k of tensors) if (weightMap[k] === s) weightMap[k] = moved;
    files[moved] = files[s];
    delete files[s];
    what = `shard ${s} moved to ${moved}`;
    expect = "either";
    names = [moved, INDEX];
  } else {
    delete weightMap[t];
    what = `weight_map["${t}"] removed (still in its shard)`;
    expect = "either";
    names = [t];
  }
  files[INDEX] = typeof index === "string" ? index : JSON.stringify(index);
  if (rng.chance(0.1)) {
    files[INDEX] = (files[INDEX] as string).slice(0, rng.int(0, (files[INDEX] as string).length - 1));
    what += " (index truncated)";
    expect = "error";
    names = [INDEX];
  }
  return {
    kind: "shard-index",
    mutation: `${base.name}: ${what}`,
    files,
    ...(rng.chance(0.7) ? { via: "url", server: "ok" } : { via: "memory" }),
    expect,
    names,
    ids: plainIds(rng, base.vocab),
  };
}

const CONFIG_VALUES: unknown[] = [
  -1,
  0,
  0.5,
  2.5,
  1e9,
  2 ** 31,
  2 ** 53,
  1e308,
  -1e308,
  "NaN",
  "Infinity",
  "-Infinity",
  "64",
  "",
  null,
  true,
  false,
  [],
  [64],
  {},
  { __float__: "NaN" },
  { __float__: "Infinity" },
  "x".repeat(100_000),
];

/** config.json: swapped types, hostile dims, missing keys, unknown architectures, unhonoured keys, garbage. */
function configCase(rng: Rng): FuzzCase {
  const base = pickBase(rng);
  const cfg = JSON.parse(base.config) as Record<string, unknown>;
  const keys = Object.keys(cfg);
  const key = rng.pick(keys);
  let what: string;
  let expect: "error" | "either" = "either";
  let names = [key, CONFIG, "backbone.", "lm_head"];
  let text: string | undefined;
  const op = rng.int(0, 8);
  if (op === 0) {
    delete cfg[key];
    what = `"${key}" removed`;
  } else if (op <= 2) {
    const v = typeof cfg[key] === "number" && rng.chance(0.3)
      ? (cfg[key] as number) * rng.pick([2, 0.5, -1, 1000])
      : rng.pick(CONFIG_VALUES);
    cfg[key] = v;
    what = `"${key}" → ${JSON.stringify(v)}`;
  } else if (op === 3) {
    const v = rng.pick(["mamba3", "Mamba", "mamba2 ", "", "transformer", 1, null, ["mamba"]]);
    cfg.model_type = v;
    what = `model_type → ${JSON.stringify(v)}`;
    expect = v === null ? "either" : "error"; // null: state-spaces detection (no d_model) then refused
    names = ["model_type", CONFIG];
    if (v === null) expect = "error";
  } else if (op === 4) {
    // Read but not honoured: refused (issue 14; the audit in runtime/config_parse.ts). Hugging Face's own
    // `norm_before_gate` is not among them: transformers ignores it (gate, then norm) and so do we; the state-spaces
    // `ssm_cfg.norm_before_gate: true`, which mamba_ssm honours, is refused (tests/runtime/config_parse_test.ts).
    const k = "hidden_act", v = rng.pick(["gelu", "relu", "tanh", 1]);
    cfg[k] = v;
    what = `"${k}" → ${JSON.stringify(v)}`;
    expect = "error";
    names = [k];
  } else if (op === 5) {
    const depth = rng.pick([10, 1000, 10000]);
    cfg[key] = JSON.parse("[".repeat(Math.min(depth, 1000)) + "]".repeat(Math.min(depth, 1000)));
    what = `"${key}" → nested arrays, depth ${Math.min(depth, 1000)}`;
  } else if (op === 6) {
    const k = rng.pick(["layer_state_sizes", "state_bridge_sizes"]);
    const v = rng.pick<unknown>([[1e9, 1e9], [0], Array(100000).fill(1), [2 ** 53], [-1, -1], "16", [16.5, 16]]);
    cfg[k] = v;
    what = `"${k}" → ${JSON.stringify(v).slice(0, 40)}`;
    names = [k, CONFIG];
  } else if (op === 7) {
    const raw = rng.pick(["NaN", "Infinity", "-Infinity", "1e999", "-0", "0x40", "064", "6.4e1", "64.0"]);
    text = base.config.replace(/"hidden_size": \d+/, `"hidden_size": ${raw}`);
    what = `hidden_size written as ${raw}`;
    expect = ["6.4e1", "64.0"].includes(raw) ? "either" : "error";
    names = ["hidden_size", CONFIG];
  } else {
    const cut = rng.int(0, base.config.length - 2);
    text = rng.chance(0.5) ? base.config.slice(0, cut) : `\uFEFF${base.config}`;
    what = text.startsWith("\uFEFF") ? "config.json with a BOM" : `config.json truncated to ${cut} chars`;
    expect = text.startsWith("\uFEFF") ? "either" : "error";
    names = [CONFIG];
  }
  return {
    kind: "config",
    mutation: `${base.name}: ${what}`,
    files: { [CONFIG]: text ?? JSON.stringify(cfg, null, 2), [SINGLE]: base.weights },
    ...viaOf(rng),
    expect,
    names,
    ids: plainIds(rng, base.vocab),
  };
}

/** Hostile token ids straight to prefill (checked before any Int32 conversion). */
function idsCase(rng: Rng): FuzzCase {
  const base = BASES[rng.int(0, 1)];
  const ids = plainIds(rng, base.vocab);
  const bad = rng.pick([
    -1,
    base.vocab,
    2 ** 31,
    2 ** 32,
    2 ** 32 + 1,
    -(2 ** 31) - 1,
    1.5,
    NaN,
    Infinity,
    2 ** 53 + 2,
  ]);
  const valid = rng.chance(0.1);
  if (!valid) ids[rng.int(0, ids.length - 1)] = bad;
  return {
    kind: "ids",
    mutation: `${base.name}: ids ${JSON.stringify(ids.map(String))}`,
    files: { [CONFIG]: base.config, [SINGLE]: base.weights },
    via: "memory",
    expect: valid ? "either" : "error",
    names: valid ? [] : [String(bad)],
    ids,
  };
}

const TOKENIZERS: { name: string; bytes: Uint8Array | null; why: string }[] = [
  {
    name: "tests/fixtures/eval/byte-tokenizer.json",
    bytes: Deno.readFileSync(new URL("../fixtures/eval/byte-tokenizer.json", import.meta.url)),
    why: "",
  },
];

/** The shared GPT-NeoX tokenizer (../shared/data/tokenizer), or why it is absent. */
export const SHARED_TOKENIZER: { bytes: Uint8Array | null; why: string } = (() => {
  const url = new URL("../../../shared/data/tokenizer/gpt-neox-20b-tokenizer.json", import.meta.url);
  try {
    return { bytes: Deno.readFileSync(url), why: "" };
  } catch (e) {
    return { bytes: null, why: `${url.pathname}: ${(e as Error).message}` };
  }
})();

/** tokenizer.json: truncated or mutated JSON of the byte tokenizer (and, rarely, the shared GPT-NeoX one). */
function tokenizerCase(rng: Rng, useShared: boolean): FuzzCase {
  const base = BASES[2]; // mamba1-tiny: vocab 256, the byte tokenizer's size
  const src = useShared && SHARED_TOKENIZER.bytes ? SHARED_TOKENIZER.bytes : TOKENIZERS[0].bytes!;
  let bytes = src.slice();
  let what: string;
  const op = rng.int(0, 4);
  if (op === 0) {
    const keep = rng.int(0, bytes.length - 1);
    bytes = bytes.slice(0, keep);
    what = `truncated to ${keep} bytes`;
  } else if (op === 1) {
    for (let k = rng.int(1, 4); k > 0; k--) bytes[rng.int(0, bytes.length - 1)] ^= 1 << rng.int(0, 7);
    what = "bit flips";
  } else {
    const json = JSON.parse(dec.decode(src));
    const vocab = json.model.vocab as Record<string, number>;
    const keys = Object.keys(vocab);
    if (op === 2) {
      const k = rng.pick(keys);
      const v = rng.pick<unknown>([1e9, 2 ** 31, 2 ** 32 + 3, -1, 1.5, "3", null, 256, 300]);
      vocab[k] = v as number;
      what = `vocab[${JSON.stringify(k)}] → ${JSON.stringify(v)}`;
    } else if (op === 3) {
      const part = rng.pick(["model", "pre_tokenizer", "decoder", "normalizer", "added_tokens"]);
      json[part] = rng.pick<unknown>([null, 1, "x", [], { type: "Nope" }, { type: "BPE" }]);
      what = `${part} → ${JSON.stringify(json[part])}`;
    } else {
      json.added_tokens = [{ id: rng.pick([2 ** 40, 256, -5, 1e9]), content: "zz", special: false }];
      what = `added token id ${json.added_tokens[0].id}`;
    }
    bytes = enc.encode(JSON.stringify(json));
  }
  return {
    kind: useShared ? "tokenizer-shared" : "tokenizer",
    mutation: `${useShared ? "gpt-neox-20b-tokenizer.json" : "byte-tokenizer.json"}: ${what}`,
    files: { [CONFIG]: base.config, [SINGLE]: base.weights },
    via: "memory",
    expect: "either",
    names: ["tokenizer"],
    ids: [],
    tokenizer: { bytes, texts: ["hello", "zz a\u00e9\u4e2d", String.fromCharCode(rng.int(0, 0x2fff))] },
  };
}

/** Unmutated bases through both sources: the control group (must load and give finite logits). */
function controlCase(rng: Rng): FuzzCase {
  const base = rng.pick(BASES);
  const shard = rng.chance(0.5);
  const files = shard
    ? (() => {
      const s = sharded(rng, base);
      s.files[INDEX] = JSON.stringify({ weight_map: s.weightMap });
      return s.files;
    })()
    : { [CONFIG]: base.config, [SINGLE]: base.weights };
  return {
    kind: "control",
    mutation: `${base.name}${shard ? " sharded" : ""} unmutated`,
    files,
    via: rng.chance(0.5) ? "url" : "memory",
    server: "ok",
    expect: "either",
    names: [],
    ids: plainIds(rng, base.vocab),
  };
}

/** A checkpoint folder read with dirSource: symlinks out and in, FIFOs, folders, shards outside, secrets. */
function dirCase(rng: Rng): FuzzCase {
  const base = BASES[rng.int(0, 1)];
  const op = rng.int(0, 6);
  let files: Files = { [CONFIG]: base.config, [SINGLE]: base.weights };
  let twist: DirTwist;
  let expect: "error" | "either" = "error";
  let names: string[];
  if (op <= 3) {
    const kind = (["symlink-out", "symlink-in", "folder", "fifo"] as const)[op];
    const file = rng.pick([CONFIG, SINGLE]);
    twist = { op: kind, file };
    if (kind === "symlink-in") expect = "either";
    names = kind === "folder" && file === SINGLE ? [SINGLE, "no weights"] : [file];
  } else if (op === 4) {
    twist = { op: "secret-config" };
    files = { ...files, [CONFIG]: `${SECRET}\n` };
    names = [CONFIG];
  } else {
    const s = sharded(rng, base);
    const t = rng.pick(Object.keys(s.weightMap));
    const shard = s.weightMap[t];
    files = s.files;
    if (op === 5) {
      const hostile = rng.pick(["../outside.safetensors", "sub/../../outside.safetensors", "ABSOLUTE"]);
      twist = { op: "outside-shard", shard, tensor: t };
      for (const k of Object.keys(s.weightMap)) if (s.weightMap[k] === shard) s.weightMap[k] = hostile;
      names = [t, INDEX];
    } else {
      twist = { op: "symlinked-subfolder", shard };
      for (const k of Object.keys(s.weightMap)) if (s.weightMap[k] === shard) s.weightMap[k] = `sub/${shard}`;
      names = [`sub/${shard}`, INDEX];
    }
    files[INDEX] = JSON.stringify({ weight_map: s.weightMap });
  }
  return {
    kind: "dir",
    mutation: `${base.name}: ${JSON.stringify(twist)}`,
    files,
    via: "dir",
    twist,
    expect,
    names,
    ids: plainIds(rng, base.vocab),
  };
}

const TORCH = "pytorch_model.bin";
const TORCH_BASES = ["ssm-mamba1-tiny", "ssm-mamba2-tiny-bf16"].map((dir) => {
  const url = new URL(`../fixtures/${dir}/`, import.meta.url);
  const config = Deno.readTextFileSync(new URL(CONFIG, url));
  return { name: dir, config, bin: Deno.readFileSync(new URL(TORCH, url)), vocab: JSON.parse(config).vocab_size };
});

/**
 * Byte-level damage to a pytorch_model.bin (the allowlisting reader of runtime/pytorch.ts): bit flips and byte
 * overwrites biased towards data.pkl and the zip's directories, inserts, deletes, truncation. A cut that loses the
 * end-of-central-directory record must be refused; the rest may load (a flip inside a storage is just a different
 * weight) or be refused naming the file.
 */
function pytorchBytes(rng: Rng): FuzzCase {
  const base = rng.pick(TORCH_BASES);
  let bytes = base.bin.slice();
  const pklAt = 0; // data.pkl is torch's first entry
  const pklEnd = Math.min(bytes.length, 2400);
  const ops: string[] = [];
  let expect: "error" | "either" = "either";
  const n = rng.int(1, 3);
  for (let k = 0; k < n; k++) {
    // data.pkl, or the central directory and end record (flips inside a storage only change a weight, and a huge
    // finite one may overflow the forward pass: not the reader's concern).
    const cd = new DataView(base.bin.buffer).getUint32(base.bin.length - 22 + 16, true);
    const at = () => rng.chance(0.5) ? rng.int(pklAt, pklEnd - 1) : rng.int(cd, base.bin.length - 1);
    const pos = () => Math.max(0, Math.min(bytes.length - 1, at())); // within the current (maybe cut) bytes
    const op = rng.int(0, 4);
    if (op === 0) {
      const i = pos(), bit = rng.int(0, 7);
      if (bytes.length) bytes[i] ^= 1 << bit;
      ops.push(`flip bit ${bit} of byte ${i}`);
    } else if (op === 1) {
      const i = pos(), v = rng.pick([0, 0xff, 0x7f, 0x80, 0x2e, 0x63, 0x52, 0x28, rng.int(0, 255)]);
      if (bytes.length) bytes[i] = v;
      ops.push(`byte ${i} := ${v}`);
    } else if (op === 2) {
      const i = pos(), len = rng.int(1, 16);
      bytes = insertRandom(rng, bytes, i, len);
      ops.push(`insert ${len} bytes at ${i}`);
    } else if (op === 3) {
      const i = pos(), len = rng.int(1, 16);
      bytes = deleteBytes(bytes, i, len);
      ops.push(`delete ${len} bytes at ${i}`);
    } else {
      const keep = rng.chance(0.5) ? rng.int(0, 64) : rng.int(0, bytes.length - 1);
      bytes = bytes.slice(0, keep);
      ops.push(`truncate to ${keep} bytes`);
      if (keep < 64) expect = "error";
    }
  }
  return {
    kind: "pytorch-bytes",
    mutation: `${base.name}: ${ops.join("; ")}`,
    files: { [CONFIG]: base.config, [TORCH]: bytes },
    ...viaOf(rng),
    expect,
    names: [TORCH],
    ids: plainIds(rng, base.vocab),
  };
}

/** The file name of gguf cases. */
export const GGUF = "model.gguf";

interface GgufBase {
  name: string;
  bytes: Uint8Array;
  headerEnd: number;
  dataEnd: number;
  vocab: number;
}

/** A fixture's weights, read synchronously (no top-level await: the worker must set onmessage at once). */
function fixtureWeights(dir: string): MambaWeights {
  const url = new URL(`../fixtures/${dir}/`, import.meta.url);
  const file = `${dir}/${SINGLE}`;
  const config = parseConfig(JSON.parse(Deno.readTextFileSync(new URL(CONFIG, url))), `${dir}/${CONFIG}`);
  const tensors = parseSafetensors(Deno.readFileSync(new URL(SINGLE, url)), file).tensors;
  return toHostWeights({ config, tensors, files: [CONFIG, SINGLE], source: dir });
}

let ggufBases: GgufBase[] | null = null;

/** Base GGUFs (built on first use): synthetic models and fixtures as F32, F16 and Q8_0. */
function ggufBasesOnce(): GgufBase[] {
  if (ggufBases) return ggufBases;
  const syn1 = syntheticWeights(makeConfig("mamba1", { dModel: 8, nLayer: 1, vocabSize: 16, dState: 2 }), 1);
  const syn2 = syntheticWeights(
    makeConfig("mamba2", { dModel: 16, nLayer: 1, vocabSize: 16, dState: 4, headDim: 8 }),
    2,
  );
  const bases: { name: string; w: MambaWeights; type: "F32" | "F16" | "Q8_0" }[] = [
    { name: "syn-m1", w: syn1, type: "F32" },
    { name: "syn-m2", w: syn2, type: "F16" },
    { name: "mamba1-tiny", w: fixtureWeights("mamba1-tiny"), type: "Q8_0" },
    { name: "falcon-mamba-tiny", w: fixtureWeights("falcon-mamba-tiny"), type: "F16" },
    { name: "mamba2-groups", w: fixtureWeights("mamba2-groups"), type: "Q8_0" },
  ];
  ggufBases = bases.map(({ name, w, type }) => {
    const bytes = ggufFromWeights(w, { tensorType: type });
    const file = parseGguf(bytes, name);
    const last = Math.max(...file.tensors.map((t) => t.offset + t.byteLength));
    return {
      name: `${name} ${type}`,
      bytes,
      headerEnd: file.dataOffset,
      dataEnd: file.dataOffset + last,
      vocab: w.config.vocabSize,
    };
  });
  return ggufBases;
}

/** u64 values an attacker would put in a count, a length, a dimension or an offset. */
const HOSTILE_U64 = [0n, 1n, 2n ** 31n, 2n ** 32n - 1n, 2n ** 32n, 2n ** 53n + 1n, 2n ** 63n, 2n ** 64n - 1n, 1000000n];

/**
 * Damage to a model.gguf (runtime/gguf.ts, runtime/gguf_mamba.ts): bit flips and byte overwrites biased to the
 * header (metadata and tensor infos), hostile u64s written over counts, lengths, dimensions and offsets, hostile
 * u32 value and tensor types, inserts, deletes, truncation. A cut into the tensors, or a damaged magic or version,
 * must be refused; the rest may load (a flip in a weight, a metadata value that still describes the tensors) or be
 * refused naming the file.
 */
function ggufBytes(rng: Rng): FuzzCase {
  const base = rng.pick(ggufBasesOnce());
  let bytes = base.bytes.slice();
  const ops: string[] = [];
  let expect: "error" | "either" = "either";
  const n = rng.int(1, 3);
  for (let k = 0; k < n; k++) {
    const head = () => Math.max(0, Math.min(bytes.length - 1, rng.int(0, base.headerEnd - 1)));
    const pos = () => rng.chance(0.85) ? head() : Math.max(0, Math.min(bytes.length - 1, rng.int(0, bytes.length)));
    const op = rng.int(0, 7);
    if (op === 0) {
      const i = pos(), bit = rng.int(0, 7);
      if (bytes.length) bytes[i] ^= 1 << bit;
      ops.push(`flip bit ${bit} of byte ${i}`);
      if (i < 8 && k === 0) expect = "error"; // the magic or the version (a later insert could shift them back)
    } else if (op === 1) {
      const i = pos(), v = rng.pick([0, 0xff, 0x7f, 0x80, 0x01, 0x0c, 0x1e, rng.int(0, 255)]);
      if (bytes.length) bytes[i] = v;
      ops.push(`byte ${i} := ${v}`);
    } else if (op === 2 || op === 3) {
      const i = head(), v = rng.pick(HOSTILE_U64);
      if (i + 8 <= bytes.length) new DataView(bytes.buffer).setBigUint64(i, v, true);
      ops.push(`u64 at ${i} := ${v}`);
    } else if (op === 4) {
      const i = head(), v = rng.pick([9, 12, 13, 31, 40, 255, 2 ** 31, 2 ** 32 - 1]);
      if (i + 4 <= bytes.length) new DataView(bytes.buffer).setUint32(i, v, true);
      ops.push(`u32 at ${i} := ${v}`);
    } else if (op === 5) {
      const i = pos(), len = rng.int(1, 16);
      bytes = insertRandom(rng, bytes, i, len);
      ops.push(`insert ${len} bytes at ${i}`);
    } else if (op === 6) {
      const i = pos(), len = rng.int(1, 16);
      bytes = deleteBytes(bytes, i, len);
      ops.push(`delete ${len} bytes at ${i}`);
    } else {
      const keep = rng.chance(0.5) ? rng.int(0, base.headerEnd) : rng.int(0, bytes.length - 1);
      bytes = bytes.slice(0, keep);
      ops.push(`truncate to ${keep} bytes`);
      if (keep < base.dataEnd && k === n - 1 && ops.length === 1) expect = "error";
    }
  }
  return {
    kind: "gguf-bytes",
    mutation: `${base.name}: ${ops.join("; ")}`,
    files: { [GGUF]: bytes },
    via: "gguf",
    expansion: 4,
    expect,
    names: [GGUF],
    ids: plainIds(rng, base.vocab),
  };
}

/** The mutation kinds, with their share of the cases. */
export const KINDS: Record<string, { weight: number; make: (rng: Rng) => FuzzCase }> = {
  "control": { weight: 1, make: controlCase },
  "safetensors-bytes": { weight: 10, make: safetensorsBytes },
  "safetensors-header": { weight: 12, make: safetensorsHeader },
  "shard-index": { weight: 8, make: shardIndex },
  "pytorch-bytes": { weight: 6, make: pytorchBytes },
  "config": { weight: 8, make: configCase },
  "ids": { weight: 2, make: idsCase },
  "dir": { weight: 1, make: dirCase },
  "tokenizer": { weight: 2, make: (rng) => tokenizerCase(rng, false) },
  "tokenizer-shared": { weight: 0.05, make: (rng) => tokenizerCase(rng, true) },
  "gguf-bytes": { weight: 6, make: ggufBytes },
};

export const KIND_NAMES: string[] = Object.keys(KINDS);
