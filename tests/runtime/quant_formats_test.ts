/**
 * The host quantizers of runtime/ggml_types.ts against the outside oracle, gguf-py's `gguf.quants.quantize`
 * (llama.cpp's Python package): the same Q8_0 and Q4_0 bytes on random blocks of many magnitudes, all-zero blocks,
 * ties of ±(largest magnitude) in either order, codes that fall exactly halfway between two integers (Q8_0 rounds
 * them away from zero, Q4_0 truncates x/d + 8.5), scales that are f16 subnormals and scales that round in f16; and
 * `dequantize` of those bytes equal to gguf-py's `gguf.quants.dequantize`. Skipped, saying so, where
 * `python3 -c "import gguf"` fails (`pip install gguf==0.19.0`).
 */
import assert from "node:assert/strict";
import { dequantize, quantizeQ4_0, quantizeQ8_0 } from "../../runtime/ggml_types.ts";
import { rand } from "../ops/data.ts";

/** Why the gguf-py cases are skipped here, or null. */
const skip: string | null = (() => {
  try {
    const r = new Deno.Command("python3", { args: ["-c", "import gguf, numpy"], stdout: "null", stderr: "piped" })
      .outputSync();
    if (r.success) return null;
    const why = new TextDecoder().decode(r.stderr).trim().split("\n").pop();
    return `skipped: python3 cannot import gguf-py (${why}; pip install gguf==0.19.0)`;
  } catch (e) {
    return `skipped: no python3 (${(e as Error).message})`;
  }
})();

// Reads float32 values (stdin), writes gguf-py's blocks of them, then the float32 values those blocks dequantize to.
const ORACLE = `
import sys, numpy as np
from gguf import GGMLQuantizationType as T, quants
qtype = T[sys.argv[1]]
x = np.frombuffer(sys.stdin.buffer.read(), dtype=np.float32).reshape(-1, 32)
q = quants.quantize(x, qtype)
sys.stdout.buffer.write(q.tobytes())
sys.stdout.buffer.write(quants.dequantize(q, qtype).astype(np.float32).tobytes())
`;

async function ggufPy(type: "Q8_0" | "Q4_0", x: Float32Array): Promise<{ blocks: Uint8Array; values: Float32Array }> {
  const child = new Deno.Command("python3", {
    args: ["-c", ORACLE, type],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  })
    .spawn();
  const w = child.stdin.getWriter();
  await w.write(new Uint8Array(x.buffer, x.byteOffset, x.byteLength));
  await w.close();
  const r = await child.output();
  if (!r.success) throw new Error(`gguf-py ${type} failed:\n${new TextDecoder().decode(r.stderr)}`);
  const bytes = (x.length / 32) * (type === "Q8_0" ? 34 : 18);
  assert.equal(r.stdout.length, bytes + x.length * 4, "gguf-py's output size");
  return { blocks: r.stdout.slice(0, bytes), values: new Float32Array(r.stdout.slice(bytes).buffer) };
}

/** 200 blocks of 32: random at magnitudes 1e-7..1e4, and the special blocks listed in the module comment. */
function testData(): Float32Array {
  const blocks: Float32Array[] = [];
  const mags = [1e-7, 3e-6, 1e-4, 0.01, 0.3, 1, 7, 100, 1e4];
  for (let i = 0; i < 180; i++) blocks.push(rand(32, 1000 + i).map((v) => v * mags[i % mags.length]));
  blocks.push(new Float32Array(32)); // all zero: scale 0
  const tie = rand(32, 7);
  tie[3] = 2;
  tie[20] = -2;
  blocks.push(tie); // +m first
  const tie2 = rand(32, 8);
  tie2[5] = -3;
  tie2[9] = 3;
  blocks.push(tie2); // −m first
  // Q8_0 halfway codes: max 127 gives d = 1 exactly, so x = k + 0.5 is a tie.
  blocks.push(Float32Array.from({ length: 32 }, (_, j) => (j === 0 ? 127 : (j % 2 ? 1 : -1) * (j + 0.5))));
  // Q4_0 halfway: max −8 gives d = 1 (id = 1), x/d + 8.5 lands on integers and halves.
  blocks.push(Float32Array.from({ length: 32 }, (_, j) => (j === 0 ? -8 : (j % 16) / 2 - 4)));
  blocks.push(Float32Array.from({ length: 32 }, (_, j) => (j === 31 ? 1e-9 : 0))); // subnormal f16 scale
  blocks.push(Float32Array.from({ length: 32 }, (_, j) => (j === 0 ? 1e-3 : j * 1e-5))); // scale rounds in f16
  for (let i = blocks.length; i < 200; i++) blocks.push(rand(32, 5000 + i, -1, 1).map((v) => (v > 0 ? 1 : -1)));
  const out = new Float32Array(200 * 32);
  blocks.forEach((b, i) => out.set(b, i * 32));
  return out;
}

for (const type of ["Q8_0", "Q4_0"] as const) {
  Deno.test({
    name: `quantize${type}: byte-identical to gguf-py's gguf.quants.quantize on 200 blocks (zero blocks, ±max ` +
      `ties, halfway codes, subnormal scales); dequantize equals gguf-py's${skip ? ` (${skip})` : ""}`,
    ignore: skip !== null,
    async fn() {
      const x = testData();
      const ours = type === "Q8_0" ? quantizeQ8_0(x) : quantizeQ4_0(x);
      const want = await ggufPy(type, x);
      const per = type === "Q8_0" ? 34 : 18;
      for (let b = 0; b < x.length / 32; b++) {
        const got = Array.from(ours.subarray(b * per, (b + 1) * per));
        assert.deepEqual(got, Array.from(want.blocks.subarray(b * per, (b + 1) * per)), `${type} block ${b}`);
      }
      assert.deepEqual(dequantize(ours, type, x.length), want.values, `${type} dequantized values`);
    },
  });
}
