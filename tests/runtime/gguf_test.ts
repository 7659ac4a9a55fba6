/**
 * The GGUF container (runtime/gguf.ts) and ggml's element types (runtime/ggml_types.ts): round trips of every
 * metadata value type and tensor type, a file built byte by byte here (an oracle independent of the writer),
 * Q8_0 / Q4_0 / F16 / BF16 against hand-computed values, and each hostile input with its named error.
 */
import assert from "node:assert/strict";
import {
  GgufFormatError,
  type GgufMetadataEntry,
  ggufTensorBytes,
  ggufTensorToFloat32,
  parseGguf,
  writeGguf,
} from "../../mod.ts";
import { dequantize, f32ToBf16Bits, f32ToF16Bits, quantizeQ8_0 } from "../../runtime/ggml_types.ts";

/** A byte-by-byte GGUF builder: the layout of gguf.h, written out by hand. */
class Raw {
  parts: number[] = [];
  u8(v: number): this {
    this.parts.push(v & 0xff);
    return this;
  }
  u32(v: number): this {
    for (let i = 0; i < 4; i++) this.parts.push((v >>> (8 * i)) & 0xff);
    return this;
  }
  u64(v: bigint | number): this {
    let b = BigInt(v);
    for (let i = 0; i < 8; i++, b >>= 8n) this.parts.push(Number(b & 0xffn));
    return this;
  }
  bytes(b: ArrayLike<number>): this {
    for (let i = 0; i < b.length; i++) this.parts.push(b[i]);
    return this;
  }
  str(s: string): this {
    const b = new TextEncoder().encode(s);
    return this.u64(b.length).bytes(b);
  }
  padTo(n: number): this {
    while (this.parts.length % n !== 0) this.parts.push(0);
    return this;
  }
  get length(): number {
    return this.parts.length;
  }
  done(): Uint8Array {
    return new Uint8Array(this.parts);
  }
}

/** Header of a file: magic, version, counts. */
function head(version: number, tensors: bigint | number, kvs: bigint | number): Raw {
  return new Raw().bytes([0x47, 0x47, 0x55, 0x46]).u32(version).u64(tensors).u64(kvs);
}

/** A complete small file: one string key, one F32 tensor `w` [2] holding 1, 2 (offset `off`, dims `dims`). */
function smallFile(opts: { version?: number; type?: number; off?: number; dims?: bigint[] } = {}): Uint8Array {
  const dims = opts.dims ?? [2n];
  const r = head(opts.version ?? 3, 1, 1).str("general.name").u32(8).str("x");
  r.str("w").u32(dims.length);
  for (const d of dims) r.u64(d);
  r.u32(opts.type ?? 0).u64(opts.off ?? 0).padTo(32);
  return r.bytes([0, 0, 0x80, 0x3f, 0, 0, 0, 0x40]).done();
}

function rejects(bytes: Uint8Array, reason: string, includes: string): void {
  assert.throws(
    () => parseGguf(bytes, "bad.gguf"),
    (e: unknown) => {
      assert.ok(e instanceof GgufFormatError, `expected a GgufFormatError, got ${e}`);
      assert.equal(e.reason, reason, e.message);
      assert.ok(e.message.startsWith("bad.gguf: "), e.message);
      assert.ok(e.message.includes(includes), `"${e.message}" should include "${includes}"`);
      return true;
    },
  );
}

Deno.test("gguf: a file built byte by byte parses to its values and tensor bytes", () => {
  const file = parseGguf(smallFile(), "small.gguf");
  assert.equal(file.version, 3);
  assert.equal(file.metadata.get("general.name")!.value, "x");
  assert.equal(file.alignment, 32);
  assert.equal(file.dataOffset, 96); // 24 + (8+12+4+8+1) + (8+1+4+8+4+8) = 90, aligned to 32
  assert.deepEqual(file.tensors, [{ name: "w", dims: [2], type: "F32", offset: 0, byteLength: 8 }]);
  assert.deepEqual([...ggufTensorToFloat32(file, file.tensors[0])], [1, 2]);
  assert.equal(ggufTensorBytes(file, file.tensors[0]).buffer, file.bytes.buffer, "a view, not a copy");
  // Version 2 has the same layout (64-bit counts).
  assert.equal(parseGguf(smallFile({ version: 2 }), "v2.gguf").version, 2);
});

Deno.test("gguf: writeGguf's bytes are the hand-built layout", () => {
  const written = writeGguf([{ key: "general.name", type: "STRING", value: "x" }], [
    { name: "w", dims: [2], type: "F32", data: new Float32Array([1, 2]) },
  ]);
  assert.deepEqual([...written], [...smallFile(), ...new Array(24).fill(0)]); // the last tensor padded to 32
});

Deno.test("gguf: every metadata value type and nested arrays round-trip", () => {
  const metadata: GgufMetadataEntry[] = [
    { key: "u8", type: "UINT8", value: 255 },
    { key: "i8", type: "INT8", value: -128 },
    { key: "u16", type: "UINT16", value: 65535 },
    { key: "i16", type: "INT16", value: -32768 },
    { key: "u32", type: "UINT32", value: 2 ** 32 - 1 },
    { key: "i32", type: "INT32", value: -(2 ** 31) },
    { key: "f32", type: "FLOAT32", value: 1.5 },
    { key: "bool", type: "BOOL", value: true },
    { key: "str", type: "STRING", value: "héllo ✓" },
    { key: "u64", type: "UINT64", value: 2n ** 64n - 1n },
    { key: "i64", type: "INT64", value: -(2n ** 63n) },
    { key: "f64", type: "FLOAT64", value: Math.PI },
    { key: "empty", type: "ARRAY", arrayType: "UINT8", value: [] },
    { key: "tokens", type: "ARRAY", arrayType: "STRING", value: ["a", "", "ü"] },
    { key: "bools", type: "ARRAY", arrayType: "BOOL", value: [false, true] },
    {
      key: "nested",
      type: "ARRAY",
      arrayType: "ARRAY",
      value: [
        { type: "ARRAY", arrayType: "INT32", value: [1, -2] },
        { type: "ARRAY", arrayType: "ARRAY", value: [{ type: "ARRAY", arrayType: "FLOAT64", value: [0.25] }] },
      ],
    },
  ];
  const file = parseGguf(writeGguf(metadata, []), "meta.gguf");
  assert.deepEqual([...file.metadata.values()], metadata);
  assert.equal(file.tensors.length, 0);
});

Deno.test("gguf: tensors of each type at aligned offsets; alignment 64 adds general.alignment", () => {
  const values = Float32Array.from({ length: 64 }, (_, i) => (i - 32) / 4);
  const q40 = new Uint8Array(18); // one Q4_0 block, raw
  const file = parseGguf(
    writeGguf([], [
      { name: "f32", dims: [64], type: "F32", data: values },
      { name: "f16", dims: [8, 8], type: "F16", data: values },
      { name: "bf16", dims: [4, 4, 4], type: "BF16", data: values },
      { name: "q8", dims: [32, 2], type: "Q8_0", data: values },
      { name: "q4", dims: [32], type: "Q4_0", data: q40 },
    ], 64),
    "types.gguf",
  );
  assert.equal(file.alignment, 64);
  assert.equal(file.metadata.get("general.alignment")!.value, 64);
  assert.equal(file.dataOffset % 64, 0);
  assert.deepEqual(file.tensors.map((t) => [t.type, t.offset, t.byteLength]), [
    ["F32", 0, 256],
    ["F16", 256, 128],
    ["BF16", 384, 128],
    ["Q8_0", 512, 68],
    ["Q4_0", 640, 18],
  ]);
  // Multiples of 1/4 in [-8, 8) are exact in F16 and BF16.
  for (const name of ["f32", "f16", "bf16"]) {
    assert.deepEqual([...ggufTensorToFloat32(file, file.tensors.find((t) => t.name === name)!)], [...values], name);
  }
  assert.deepEqual([...ggufTensorToFloat32(file, file.tensors[4])], new Array(32).fill(-0)); // d = 0
});

Deno.test("ggml types: Q8_0 quantises and dequantises as ggml's reference (hand-computed)", () => {
  const x = new Float32Array(96);
  // Block 0: max |x| = 127, so d = 1 (exact in f16) and q = roundf(x): halves round away from zero.
  x.set([127, -127, 0.5, -0.5, 1.5, -2.5, 2.49, 100.7]);
  // Block 1: max |x| = 63.5, so d = 0.5 and q = roundf(2x).
  x.set([63.5, 0.25, -0.25, 0.74, 1], 32);
  // Block 2: all zero: d = 0, q = 0.
  const q = quantizeQ8_0(x);
  assert.equal(q.length, 3 * 34);
  const view = new DataView(q.buffer);
  assert.equal(view.getUint16(0, true), 0x3c00); // f16 1.0
  assert.deepEqual([...new Int8Array(q.buffer, 2, 8)], [127, -127, 1, -1, 2, -3, 2, 101]);
  assert.equal(view.getUint16(34, true), 0x3800); // f16 0.5
  assert.deepEqual([...new Int8Array(q.buffer, 36, 5)], [127, 1, -1, 1, 2]);
  assert.equal(view.getUint16(68, true), 0);
  const back = dequantize(q, "Q8_0", 96);
  assert.deepEqual([...back.subarray(0, 8)], [127, -127, 1, -1, 2, -3, 2, 101]);
  assert.deepEqual([...back.subarray(32, 37)], [63.5, 0.5, -0.5, 0.5, 1]);
  assert.ok(back.subarray(64).every((v) => v === 0));
});

Deno.test("ggml types: Q4_0 dequantises low nibbles to 0..15 and high nibbles to 16..31, minus 8, times d", () => {
  const block = new Uint8Array(18);
  new DataView(block.buffer).setUint16(0, 0x4000, true); // d = 2
  for (let j = 0; j < 16; j++) block[2 + j] = (15 - j) | (j << 4); // low nibble 15 - j, high nibble j
  const out = dequantize(block, "Q4_0", 32);
  for (let j = 0; j < 16; j++) {
    assert.equal(out[j], (15 - j - 8) * 2);
    assert.equal(out[j + 16], (j - 8) * 2);
  }
});

Deno.test("ggml types: f32 → f16 and bf16 round to nearest even, with subnormals, overflow and NaN", () => {
  const f16: [number, number][] = [
    [1, 0x3c00],
    [-2, 0xc000],
    [65504, 0x7bff],
    [65520, 0x7c00], // halfway to the next binade: rounds (to even) to Infinity
    [1e6, 0x7c00],
    [-Infinity, 0xfc00],
    [2 ** -24, 0x0001], // the smallest subnormal
    [2 ** -25, 0x0000], // half of it: a tie, to even (0)
    [3 * 2 ** -25, 0x0002], // 1.5 ulp: a tie, to even (2)
    [2 ** -14, 0x0400], // the smallest normal
    [1 + 2 ** -11, 0x3c00], // a tie between 1 and 1 + 2^-10: to even
    [1 + 3 * 2 ** -11, 0x3c02],
    [-0, 0x8000],
  ];
  for (const [x, bits] of f16) assert.equal(f32ToF16Bits(x), bits, `f16(${x})`);
  assert.equal(f32ToF16Bits(NaN) & 0x7c00, 0x7c00);
  assert.notEqual(f32ToF16Bits(NaN) & 0x3ff, 0);
  const bf16: [number, number][] = [
    [1, 0x3f80],
    [1 + 2 ** -8, 0x3f80], // a tie: to even
    [1 + 3 * 2 ** -8, 0x3f82],
    [-3, 0xc040],
    [Infinity, 0x7f80],
  ];
  for (const [x, bits] of bf16) assert.equal(f32ToBf16Bits(x), bits, `bf16(${x})`);
  assert.equal(f32ToBf16Bits(NaN), 0x7fc0);
});

Deno.test("gguf: bad magic and unsupported versions are refused", () => {
  rejects(new TextEncoder().encode("GGML1234"), "bad-magic", "not a GGUF file");
  rejects(new Uint8Array(0), "bad-magic", "missing");
  rejects(new Uint8Array(3).fill(0x47), "bad-magic", "not a GGUF file");
  rejects(smallFile({ version: 1 }), "bad-version", "version 1");
  rejects(smallFile({ version: 4 }), "bad-version", "version 4");
  rejects(head(3, 0, 0).done().subarray(0, 6), "truncated", "the version");
});

Deno.test("gguf: counts and lengths sized by the attacker are checked against the bytes present", () => {
  // A tensor count that would overflow (2^63, 2^64 − 1): refused before anything is allocated from it.
  rejects(head(3, 2n ** 63n, 0).done(), "count-overflow", "the tensor count");
  rejects(head(3, 2n ** 64n - 1n, 0).done(), "count-overflow", "the tensor count");
  rejects(head(3, 0, 2n ** 40n).done(), "count-overflow", "the metadata count");
  // A string length past the end.
  rejects(
    head(3, 0, 1).u64(2n ** 62n).bytes(new Uint8Array(16)).done(),
    "truncated",
    "metadata key #0 at byte 24 declares",
  );
  rejects(head(3, 0, 1).str("k").u32(8).u64(1000).bytes([1, 2]).done(), "truncated", 'metadata "k"');
  // An array of 2^40 u8 in a few bytes; of 2^33 strings (each at least 8 bytes) in 16.
  rejects(
    head(3, 0, 1).str("k").u32(9).u32(0).u64(2n ** 40n).done(),
    "count-overflow",
    'element count of metadata "k"',
  );
  rejects(
    head(3, 0, 1).str("k").u32(9).u32(8).u64(2n ** 33n).bytes(new Uint8Array(16)).done(),
    "count-overflow",
    "element count",
  );
  // Nesting deeper than 8 arrays.
  const deep = head(3, 0, 1).str("k").u32(9);
  for (let i = 0; i < 9; i++) deep.u32(9).u64(1);
  rejects(deep.u32(0).u64(0).done(), "bad-value", "nests arrays deeper than 8");
});

Deno.test("gguf: unknown value and tensor types, bad values and duplicates are refused", () => {
  rejects(head(3, 0, 1).str("k").u32(13).done(), "bad-value", "not a GGUF value type");
  rejects(smallFile({ type: 99 }), "unknown-type", "type id 99");
  rejects(smallFile({ type: 4 }), "unknown-type", "type id 4"); // ggml's removed Q4_2
  rejects(head(3, 0, 1).str("b").u32(7).u8(2).done(), "bad-value", "bool holding 2");
  rejects(head(3, 0, 1).u64(2).bytes([0xc3, 0x28]).u32(0).u8(0).done(), "bad-value", "not valid UTF-8");
  rejects(head(3, 0, 2).str("k").u32(0).u8(1).str("k").u32(0).u8(2).done(), "bad-value", 'key "k" appears twice');
  for (const [type, value] of [[4, 0], [4, 48], [10, 32]]) {
    const r = head(3, 0, 1).str("general.alignment").u32(type);
    rejects((type === 10 ? r.u64(value) : r.u32(value)).done(), "bad-value", "general.alignment");
  }
  const twice = head(3, 2, 0);
  for (let i = 0; i < 2; i++) twice.str("w").u32(1).u64(2).u32(0).u64(32 * i);
  rejects(twice.padTo(32).bytes(new Uint8Array(64)).done(), "bad-value", 'tensor "w" appears twice');
});

Deno.test("gguf: bad shapes are refused", () => {
  rejects(smallFile({ dims: [] }), "bad-shape", "0 dimensions");
  rejects(smallFile({ dims: [1n, 1n, 1n, 1n, 2n] }), "bad-shape", "5 dimensions");
  rejects(smallFile({ dims: [2n, 0n] }), "bad-shape", "dimension 1 = 0");
  rejects(smallFile({ dims: [2n ** 60n] }), "bad-shape", "dimension 0");
  rejects(smallFile({ dims: [2n ** 26n, 2n ** 26n, 2n ** 26n] }), "bad-shape", "bytes");
  rejects(smallFile({ type: 8, dims: [16n] }), "bad-shape", "not a multiple of its block of 32");
});

Deno.test("gguf: tensor offsets outside the file, unaligned or overlapping are refused", () => {
  rejects(smallFile({ off: 32 }), "tensor-out-of-bounds", 'tensor "w" [2] F32 needs bytes 32..40');
  rejects(smallFile({ off: 2 ** 40 }), "tensor-out-of-bounds", "data section");
  rejects(smallFile({ dims: [3n] }), "tensor-out-of-bounds", "needs bytes 0..12"); // 12 bytes, 8 present
  rejects(smallFile().subarray(0, 100), "tensor-out-of-bounds", "file truncated or offset corrupt");
  rejects(smallFile().subarray(0, 60), "truncated", "the name of tensor #0");
  rejects(smallFile().subarray(0, 70), "truncated", 'dimension 0 of tensor "w"');
  rejects(smallFile({ off: 4 }), "tensor-out-of-bounds", "not a multiple of the alignment 32");
  rejects(smallFile({ off: Number.MAX_SAFE_INTEGER + 1 }), "tensor-out-of-bounds", "past any file");
  const overlap = head(3, 2, 0);
  overlap.str("a").u32(1).u64(16).u32(0).u64(0);
  overlap.str("b").u32(1).u64(16).u32(0).u64(32);
  rejects(overlap.padTo(32).bytes(new Uint8Array(96)).done(), "tensor-out-of-bounds", 'overlaps tensor "a"');
});

Deno.test("gguf: a type ggml defines but PerfMamba does not convert is refused when read", () => {
  const file = parseGguf(
    writeGguf([], [{ name: "k", dims: [256], type: "Q4_K", data: new Uint8Array(144) }]),
    "k.gguf",
  );
  assert.equal(file.tensors[0].type, "Q4_K");
  assert.throws(
    () => ggufTensorToFloat32(file, file.tensors[0]),
    (e: unknown) =>
      e instanceof GgufFormatError && e.reason === "unsupported-type" && /"k" has type Q4_K/.test(e.message),
  );
});

Deno.test("gguf: writeGguf refuses what it cannot write faithfully", () => {
  const t = { name: "w", dims: [2], type: "F32" as const, data: new Float32Array(2) };
  assert.throws(() => writeGguf([{ key: "k", type: "UINT8", value: 300 }], []), /metadata "k" is not a UINT8: 300/);
  assert.throws(() => writeGguf([{ key: "k", type: "BOOL", value: 1 }], []), /metadata "k" is not a boolean/);
  assert.throws(
    () => writeGguf([{ key: "k", type: "STRING", value: "a" }, { key: "k", type: "STRING", value: "b" }], []),
    /"k" appears twice/,
  );
  assert.throws(() => writeGguf([], [t, t]), /tensor "w" appears twice/);
  assert.throws(() => writeGguf([], [{ ...t, dims: [3] }]), /tensor "w" has 2 values for 3 elements/);
  assert.throws(() => writeGguf([], [{ ...t, type: "Q8_0", dims: [2] }]), /needs ne\[0\] = 2 a multiple of 32/);
  assert.throws(() => writeGguf([], [{ ...t, dims: [0] }]), /dims \[0\]/);
  assert.throws(() => writeGguf([], [{ ...t, data: new Uint8Array(7) }]), /needs 8 bytes, got 7/);
  assert.throws(() => writeGguf([], [], 48), /alignment 48 is not a power of two/);
  assert.throws(
    () => writeGguf([{ key: "general.alignment", type: "UINT32", value: 64 }], [], 32),
    /disagrees with alignment 32/,
  );
});
