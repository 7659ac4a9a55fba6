/**
 * `perfmamba bench --backend webgpu --json`: every decode row carries `dispatchesPerToken`, the backend's dispatch
 * count per decode step — with fused decode 4 per Mamba-1 layer or 3 per Mamba-2 layer + embed + norm_f → lm_head (decode, and sampled with a host
 * pick per step), + argmax (greedy) or + the device sampler (sampled bursts).
 * (WASM rows carry null: tests/cli/demo_bench_cli_test.ts.) The prefill, decode and greedy rows also carry the GPU
 * time of their own timed runs (`gpuMs`, the median of `gpuSamples`); the sampled rows, timed through `generate`, none.
 */
import assert from "node:assert/strict";
import { cli } from "./_cli.ts";
import { HAS_ADAPTER } from "../kernels/_gpu.ts";

Deno.test({
  name:
    "cli bench --backend webgpu: dispatchesPerToken on every decode row, 4 (Mamba-1) or 3 (Mamba-2) per layer + a few per token",
  ignore: !HAS_ADAPTER,
  fn: async () => {
    const dir = await Deno.makeTempDir({ prefix: "perfmamba-bench-gpu-" });
    try {
      const json = `${dir}/bench.json`;
      const r = await cli(
        "bench",
        ...["--dims", "d_model=64,n_layer=3,vocab=256", "--seqlens", "8", "--decode-tokens", "2"],
        ...["--iters", "1", "--warmup", "0", "--skip-peaks", "--backend", "webgpu", "--json", json],
      );
      assert.equal(r.code, 0, r.stderr);
      const rows = (JSON.parse(await Deno.readTextFile(json)) as {
        rows: {
          arch: string;
          mode: string;
          ms: number;
          dispatchesPerToken?: number | null;
          gpuMs?: number;
          gpuSamples?: number[];
        }[];
      }).rows;
      for (const row of rows) {
        const where = `${row.arch} ${row.mode}`;
        if (row.mode.startsWith("sampled")) {
          assert.equal(row.gpuMs, undefined, where);
          continue;
        }
        // --iters 1: one timed GPU run per prefill; decode and greedy: 3 runs, each per step.
        assert.equal(row.gpuSamples?.length, row.mode === "prefill" ? 1 : 3, where);
        const sorted = [...row.gpuSamples!].sort((a, b) => a - b);
        assert.equal(row.gpuMs, sorted[Math.floor(sorted.length / 2)], where);
        assert.ok(sorted[0] > 0 && Number.isFinite(sorted[sorted.length - 1]), `${where}: ${sorted}`);
      }
      const decodeRows = rows.filter((row) => row.mode !== "prefill");
      assert.equal(decodeRows.length, 8); // 2 archs × (decode, greedy, sampled-step, sampled)
      for (const row of decodeRows) {
        // embed, 3 layers × 4 (Mamba-1) or × 3 (Mamba-2), norm_f → lm_head; greedy adds the argmax, sampled bursts
        // the device sampler.
        const onDevice = row.mode === "greedy" || row.mode === "sampled" ? 1 : 0;
        const perLayer = row.arch === "mamba1" ? 4 : 3;
        assert.equal(row.dispatchesPerToken, 3 * perLayer + 2 + onDevice, `${row.arch} ${row.mode}`);
      }
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "cli bench --backend webgpu --fused off: the unfused ops (more dispatches per token), recorded in the JSON",
  ignore: !HAS_ADAPTER,
  fn: async () => {
    const dir = await Deno.makeTempDir({ prefix: "perfmamba-bench-gpu-" });
    try {
      const perToken: Record<string, number> = {};
      for (const fused of ["on", "off"]) {
        const json = `${dir}/bench-${fused}.json`;
        const r = await cli(
          "bench",
          ...["--dims", "d_model=64,n_layer=3,vocab=256", "--arch", "mamba1", "--seqlens", "8", "--decode-tokens", "2"],
          ...["--iters", "1", "--warmup", "0", "--skip-peaks", "--backend", "webgpu", "--fused", fused, "--json", json],
        );
        assert.equal(r.code, 0, r.stderr);
        const out = JSON.parse(await Deno.readTextFile(json)) as {
          fusedDecode: boolean;
          rows: { mode: string; dispatchesPerToken?: number | null }[];
        };
        assert.equal(out.fusedDecode, fused === "on");
        perToken[fused] = out.rows.find((row) => row.mode === "decode")!.dispatchesPerToken!;
      }
      assert.equal(perToken.on, 3 * 4 + 2);
      assert.ok(perToken.off > perToken.on, `unfused ${perToken.off} vs fused ${perToken.on} dispatches per token`);
      const bad = await cli("bench", "--fused", "maybe", "--backend", "webgpu");
      assert.notEqual(bad.code, 0);
      assert.match(bad.stderr, /--fused/);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
