/**
 * safetensors parsing, validation errors, f16/bf16 conversion and the writer's round trip.
 */
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import {
  f16BitsToNumber,
  parseSafetensors,
  type SafetensorRecord,
  toFloat32,
  writeSafetensors,
} from "../../runtime/safetensors.ts";

const MAMBA1 = new URL("../fixtures/mamba1-tiny/model.safetensors", import.meta.url);

/** Builds a file from a header object and a data section of `dataBytes` (or the given bytes). */
function build(header: unknown, data: number | Uint8Array): Uint8Array {
  const json = new TextEncoder().encode(JSON.stringify(header));
  const body = typeof data === "number" ? new Uint8Array(data) : data;
  const out = new Uint8Array(8 + json.byteLength + body.byteLength);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.byteLength), true);
  out.set(json, 8);
  out.set(body, 8 + json.byteLength);
  return out;
}

/** A record over raw little-endian u16 bit patterns. */
function u16Record(dtype: "F16" | "BF16", bits: number[], offset = 0): SafetensorRecord {
  const buf = new Uint8Array(offset + 2 * bits.length);
  const view = new DataView(buf.buffer);
  bits.forEach((b, i) => view.setUint16(offset + 2 * i, b, true));
  return { name: "t", dtype, shape: [bits.length], bytes: buf.subarray(offset), file: "mem" };
}

Deno.test("safetensors: parses the mamba1-tiny fixture lazily, values match python's struct reads", async () => {
  const bytes = await Deno.readFile(MAMBA1);
  const file = parseSafetensors(bytes, "mamba1-tiny/model.safetensors");
  assert.deepEqual(file.metadata, { format: "pt" });
  assert.equal(file.tensors.size, 2 * 10 + 2); // embeddings, norm_f, per layer: norm + 9 mixer tensors
  const emb = file.tensors.get("backbone.embeddings.weight")!;
  assert.equal(emb.dtype, "F32");
  assert.deepEqual(emb.shape, [256, 64]);
  assert.equal(emb.bytes.buffer, bytes.buffer, "records are views, not copies");
  const data = toFloat32(emb);
  assert.deepEqual([...data.subarray(0, 3)], [-0.012345737777650356, 0.0060166772454977036, -0.0695674866437912]);
  assert.deepEqual([...data.subarray(16381, 16384)], [0.012026256881654263, 0.08004648983478546, -0.13785533607006073]);
  const aLog = file.tensors.get("backbone.layers.0.mixer.A_log")!;
  assert.deepEqual(aLog.shape, [128, 16]);
  assert.deepEqual([...toFloat32(aLog).subarray(0, 3)], [0.04333236441016197, 0.5786669254302979, 0.973387598991394]);
  assert.deepEqual(file.tensors.get("backbone.layers.1.mixer.conv1d.weight")!.shape, [128, 1, 4]);
});

Deno.test("safetensors: file shorter than 8 bytes is reported as truncated, naming the file", () => {
  assert.throws(() => parseSafetensors(new Uint8Array(5), "short.safetensors"), /short\.safetensors: truncated/);
});

Deno.test("safetensors: header length beyond the end of the file", async () => {
  const bytes = (await Deno.readFile(MAMBA1)).slice(0, 1000); // header alone is 2192 bytes
  assert.throws(
    () => parseSafetensors(bytes, "cut.safetensors"),
    /cut\.safetensors: header length 2192 runs past the end of the file \(1000 bytes\)/,
  );
});

Deno.test("safetensors: header that is not JSON, or not an object", async () => {
  const bytes = (await Deno.readFile(MAMBA1)).slice();
  bytes[8] = "x".charCodeAt(0); // the header's opening brace
  assert.throws(
    () => parseSafetensors(bytes, "bad.safetensors"),
    /bad\.safetensors: safetensors header is not valid JSON/,
  );
  assert.throws(
    () => parseSafetensors(build([1, 2], 0), "arr.safetensors"),
    /arr\.safetensors: .*must be a JSON object/,
  );
});

Deno.test("safetensors: entry without dtype / shape / data_offsets names the tensor", () => {
  assert.throws(
    () => parseSafetensors(build({ w: { dtype: "F32", shape: [2] } }, 8), "f.safetensors"),
    /f\.safetensors: tensor "w": header entry lacks data_offsets/,
  );
  assert.throws(
    () => parseSafetensors(build({ w: { data_offsets: [0, 8] } }, 8), "f.safetensors"),
    /tensor "w": header entry lacks dtype, shape/,
  );
});

Deno.test("safetensors: unknown dtype", () => {
  assert.throws(
    () => parseSafetensors(build({ w: { dtype: "F17", shape: [2], data_offsets: [0, 8] } }, 8), "f.safetensors"),
    /f\.safetensors: tensor "w": unknown dtype "F17" \(known: F64, F32, F16, BF16/,
  );
});

Deno.test("safetensors: offsets out of range of the data section", () => {
  const header = { w: { dtype: "F32", shape: [4], data_offsets: [8, 24] } };
  assert.throws(
    () => parseSafetensors(build(header, 16), "f.safetensors"),
    /f\.safetensors: tensor "w": data_offsets \[8, 24\] out of range of the data section \(16 bytes\)/,
  );
  const reversed = { w: { dtype: "F32", shape: [0], data_offsets: [8, 4] } };
  assert.throws(() => parseSafetensors(build(reversed, 16), "f.safetensors"), /out of range/);
});

Deno.test("safetensors: overlapping offsets name both tensors", () => {
  const header = {
    a: { dtype: "F32", shape: [4], data_offsets: [0, 16] },
    b: { dtype: "F32", shape: [4], data_offsets: [12, 28] },
  };
  assert.throws(
    () => parseSafetensors(build(header, 32), "f.safetensors"),
    /f\.safetensors: tensor "b" data_offsets \[12, 28\] overlap tensor "a" \[0, 16\]/,
  );
});

Deno.test("safetensors: byte length disagreeing with shape × dtype size", () => {
  const header = { w: { dtype: "BF16", shape: [3, 2], data_offsets: [0, 16] } };
  assert.throws(
    () => parseSafetensors(build(header, 16), "f.safetensors"),
    /tensor "w": 16 bytes but shape \[3, 2\] of BF16 needs 12/,
  );
});

Deno.test("safetensors: F16 conversion of known bit patterns (normals, subnormals, ±0, ±inf, NaN)", () => {
  const cases: [number, number][] = [
    [0x3c00, 1],
    [0xc000, -2],
    [0x3555, 0.333251953125],
    [0x7bff, 65504],
    [0x0400, 2 ** -14], // smallest normal
    [0x0001, 2 ** -24], // smallest subnormal
    [0x03ff, 1023 * 2 ** -24], // largest subnormal
    [0x8001, -(2 ** -24)],
    [0x0000, 0],
    [0x7c00, Infinity],
    [0xfc00, -Infinity],
  ];
  for (const offset of [0, 1]) { // 1: an unaligned view takes the copying path
    const out = toFloat32(u16Record("F16", [...cases.map((c) => c[0]), 0x8000, 0x7e00, 0xfe01], offset));
    cases.forEach(([bits, want], i) => assert.equal(out[i], want, `f16 0x${bits.toString(16)}`));
    assert.ok(Object.is(out[cases.length], -0), "f16 0x8000 is -0");
    assert.ok(Number.isNaN(out[cases.length + 1]) && Number.isNaN(out[cases.length + 2]), "f16 NaNs");
  }
  assert.equal(f16BitsToNumber(0x3c01), 1 + 2 ** -10);
});

Deno.test("safetensors: BF16 conversion by shift (incl. a value read by python from mamba1-text-small)", () => {
  const cases: [number, number][] = [
    [0x3f80, 1],
    [0xc040, -3],
    [0x3e3f, 0.1865234375], // embeddings[12092, 0] of mamba1-text-small
    [0xbdaf, -0.08544921875],
    [0x0001, 2 ** -133], // bf16 subnormal
    [0x7f80, Infinity],
    [0xff80, -Infinity],
  ];
  for (const offset of [0, 1]) {
    const out = toFloat32(u16Record("BF16", [...cases.map((c) => c[0]), 0x7fc0], offset));
    cases.forEach(([bits, want], i) => assert.equal(out[i], want, `bf16 0x${bits.toString(16)}`));
    assert.ok(Number.isNaN(out[cases.length]));
  }
});

Deno.test("safetensors: non-float dtypes are listed but rejected as weights", () => {
  const file = parseSafetensors(build({ steps: { dtype: "I64", shape: [1], data_offsets: [0, 8] } }, 8), "f.st");
  assert.equal(file.tensors.get("steps")!.dtype, "I64");
  assert.throws(
    () => toFloat32(file.tensors.get("steps")!),
    /f\.st: tensor "steps" has dtype I64; weights must be F32, F16, BF16/,
  );
});

Deno.test("safetensors: writeSafetensors round-trips, sorted, 8-byte aligned, deterministic", () => {
  const tensors = [
    { name: "z.bias", shape: [3], data: new Float32Array([1.5, -2, 3e-8]) },
    { name: "a.weight", shape: [2, 2], data: new Float32Array([0.1, 0.2, -Infinity, 4]) },
    { name: "empty", shape: [0, 5], data: new Float32Array(0) },
  ];
  const bytes = writeSafetensors(tensors, { note: "pruned" });
  assert.deepEqual(bytes, writeSafetensors([...tensors].reverse(), { note: "pruned" }), "order-independent");
  const headerLen = Number(new DataView(bytes.buffer).getBigUint64(0, true));
  assert.equal(headerLen % 8, 0, "the data section starts 8-byte aligned");
  const headerText = new TextDecoder().decode(bytes.subarray(8, 8 + headerLen));
  assert.match(headerText, /^\{"__metadata__":\{"format":"pt","note":"pruned"\},"a\.weight":.*\} *$/);
  const file = parseSafetensors(bytes, "written.safetensors");
  assert.deepEqual(file.metadata, { format: "pt", note: "pruned" });
  assert.deepEqual([...file.tensors.keys()], ["a.weight", "empty", "z.bias"]);
  for (const t of tensors) {
    const rec = file.tensors.get(t.name)!;
    assert.equal(rec.dtype, "F32");
    assert.deepEqual(rec.shape, t.shape);
    assert.deepEqual(toFloat32(rec), t.data);
  }
});

Deno.test("safetensors: writing the fixture's tensors back gives identical tensor bytes", async () => {
  const original = parseSafetensors(await Deno.readFile(MAMBA1), "mamba1-tiny");
  const tensors = [...original.tensors.values()].map((r) => ({ name: r.name, shape: r.shape, data: toFloat32(r) }));
  const again = parseSafetensors(writeSafetensors(tensors), "rewritten");
  assert.equal(again.tensors.size, original.tensors.size);
  for (const [name, rec] of original.tensors) assert.deepEqual(again.tensors.get(name)!.bytes, rec.bytes, name);
});

Deno.test("safetensors: writeSafetensors rejects duplicates and shape/data mismatches", () => {
  const t = { name: "w", shape: [2], data: new Float32Array(2) };
  assert.throws(() => writeSafetensors([t, t]), /duplicate tensor "w"/);
  assert.throws(
    () => writeSafetensors([{ name: "w", shape: [3], data: new Float32Array(2) }]),
    /tensor "w" has 2 elements but shape \[3\]/,
  );
});

Deno.test("safetensors: a Node Buffer (whose slice() is a view, not a copy) converts to the tensor's values", () => {
  const bytes = writeSafetensors([
    { name: "a", shape: [2], data: new Float32Array([1, 2]) },
    { name: "b", shape: [3], data: new Float32Array([3, 4, 5]) },
  ]);
  const file = parseSafetensors(Buffer.from(bytes), "buffer.safetensors");
  assert.deepEqual(toFloat32(file.tensors.get("b")!), new Float32Array([3, 4, 5]));
  // F16 at an odd byte offset takes the copying path of the u16 reader.
  const odd = Buffer.alloc(5);
  odd.set([0x00, 0x3c, 0x00, 0xc0], 1);
  const half: SafetensorRecord = { name: "h", dtype: "F16", shape: [2], bytes: odd.subarray(1), file: "odd" };
  assert.deepEqual(toFloat32(half), new Float32Array([1, -2]));
});

/** Like {@link build}, with the header padded by `pad` spaces and its length field written as `lenDelta` off. */
function buildRaw(headerText: string, data: Uint8Array, lenDelta = 0): Uint8Array {
  const json = new TextEncoder().encode(headerText);
  const out = new Uint8Array(8 + json.byteLength + data.byteLength);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.byteLength + lenDelta), true);
  out.set(json, 8);
  out.set(data, 8 + json.byteLength);
  return out;
}

Deno.test("safetensors: a header length one byte short (pad space dropped) is refused, not read one byte off", () => {
  const good = writeSafetensors([{ name: "w", shape: [2], data: new Float32Array([1, 2]) }]);
  const view = new DataView(good.buffer);
  const n = Number(view.getBigUint64(0, true));
  assert.equal(good[8 + n - 1], 0x20, "the writer pads with spaces, so the short header is still valid JSON");
  const short = good.slice();
  new DataView(short.buffer).setBigUint64(0, BigInt(n - 1), true);
  assert.throws(
    () => parseSafetensors(short, "short.safetensors"),
    /short\.safetensors: data section has 1 trailing byte\(s\) \(the last tensor "w" ends at 8, the section is 9 bytes\)/,
  );
  const long = good.slice();
  new DataView(long.buffer).setBigUint64(0, BigInt(n + 1), true);
  // One byte long: the header swallows the first data byte, so it is no longer JSON (or a tensor runs past the end).
  assert.throws(() => parseSafetensors(long, "long.safetensors"), /long\.safetensors: /);
});

Deno.test("safetensors: header must start with '{' (no BOM, no leading whitespace)", () => {
  const entry = '{"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}';
  const data = new Uint8Array(4);
  assert.ok(parseSafetensors(buildRaw(entry + "  ", data), "ok.safetensors").tensors.has("w"), "trailing pad ok");
  assert.throws(
    () => parseSafetensors(buildRaw(" " + entry, data), "sp.safetensors"),
    /sp\.safetensors: .*start with "\{"/,
  );
  assert.throws(() => parseSafetensors(buildRaw("\n" + entry, data), "nl.safetensors"), /nl\.safetensors: .*start/);
  assert.throws(
    () => parseSafetensors(buildRaw("\uFEFF" + entry, data), "bom.safetensors"),
    /bom\.safetensors: safetensors header must start with "\{", got byte 0xef/,
  );
});

Deno.test("safetensors: header length over the format's 100 MB limit", () => {
  const bytes = new Uint8Array(16);
  new DataView(bytes.buffer).setBigUint64(0, 100_000_001n, true);
  assert.throws(
    () => parseSafetensors(bytes, "huge.safetensors"),
    /huge\.safetensors: header length 100000001 exceeds/,
  );
});

Deno.test("safetensors: tensors must tile the data section: gaps at the start, between, and trailing bytes", () => {
  const gapStart = { w: { dtype: "F32", shape: [1], data_offsets: [4, 8] } };
  assert.throws(
    () => parseSafetensors(build(gapStart, 8), "g.safetensors"),
    /g\.safetensors: tensor "w" data_offsets \[4, 8\] leave a gap of 4 byte\(s\) at the start/,
  );
  const gapBetween = {
    b: { dtype: "F32", shape: [1], data_offsets: [8, 12] },
    a: { dtype: "F32", shape: [1], data_offsets: [0, 4] },
  };
  assert.throws(
    () => parseSafetensors(build(gapBetween, 12), "g.safetensors"),
    /tensor "b" data_offsets \[8, 12\] leave a gap of 4 byte\(s\) after tensor "a" \[0, 4\]/,
  );
  const trailing = { w: { dtype: "F32", shape: [1], data_offsets: [0, 4] } };
  assert.throws(
    () => parseSafetensors(build(trailing, 6), "t.safetensors"),
    /t\.safetensors: data section has 2 trailing/,
  );
  assert.throws(() => parseSafetensors(build({}, 3), "e.safetensors"), /e\.safetensors: data section has 3 trailing/);
  // Out of header order but contiguous, with an empty tensor in between: fine.
  const shuffled = {
    b: { dtype: "F32", shape: [1], data_offsets: [4, 8] },
    e: { dtype: "F32", shape: [0], data_offsets: [4, 4] },
    a: { dtype: "F32", shape: [1], data_offsets: [0, 4] },
  };
  assert.deepEqual([...parseSafetensors(build(shuffled, 8), "s.safetensors").tensors.keys()], ["b", "e", "a"]);
});

Deno.test("safetensors: data_offsets must be integers; __metadata__ must map strings to strings", () => {
  const frac = { w: { dtype: "F32", shape: [1], data_offsets: [0, 4.5] } };
  assert.throws(
    () => parseSafetensors(build(frac, 8), "f.safetensors"),
    /tensor "w": data_offsets must be \[begin, end\] integers/,
  );
  const neg = { w: { dtype: "F32", shape: [1], data_offsets: [-4, 0] } };
  assert.throws(() => parseSafetensors(build(neg, 8), "f.safetensors"), /tensor "w": data_offsets must be/);
  const meta = { __metadata__: { format: "pt", step: 3 }, w: { dtype: "F32", shape: [1], data_offsets: [0, 4] } };
  assert.throws(
    () => parseSafetensors(build(meta, 4), "m.safetensors"),
    /m\.safetensors: __metadata__\.step must be a string/,
  );
  const metaArr = { __metadata__: ["pt"], w: { dtype: "F32", shape: [1], data_offsets: [0, 4] } };
  assert.throws(
    () => parseSafetensors(build(metaArr, 4), "m.safetensors"),
    /__metadata__ must be an object of strings/,
  );
});

Deno.test("safetensors: duplicate keys (which JSON.parse would silently collapse) are refused", () => {
  const e = '"dtype":"F32","shape":[1],"data_offsets":';
  const dupTensor = `{"w":{${e}[0,4]},"w":{${e}[4,8]}}`;
  assert.throws(
    () => parseSafetensors(buildRaw(dupTensor, new Uint8Array(8)), "d.safetensors"),
    /d\.safetensors: safetensors header has duplicate key "w"$/,
  );
  const dupField = `{"w":{${e}[0,4],"shape":[1]}}`;
  assert.throws(
    () => parseSafetensors(buildRaw(dupField, new Uint8Array(4)), "d.safetensors"),
    /duplicate key "shape" in "w"/,
  );
  const dupMeta = `{"__metadata__":{"a":"1","a":"2"},"w":{${e}[0,4]}}`;
  assert.throws(
    () => parseSafetensors(buildRaw(dupMeta, new Uint8Array(4)), "d.safetensors"),
    /duplicate key "a" in "__metadata__"/,
  );
  // Escapes in keys and values, and a key-like string as a value, are not confused.
  const tricky = `{"__metadata__":{"x":"\\"w\\":","y":"w"},"w\\"":{${e}[0,4]}}`;
  assert.ok(parseSafetensors(buildRaw(tricky, new Uint8Array(4)), "t.safetensors").tensors.has('w"'));
});
