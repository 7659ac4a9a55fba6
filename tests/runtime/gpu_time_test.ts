/**
 * runtime/gpu_time.ts on WebGPU with timestamp-query: the passes it reports are the passes the work recorded (one per
 * submit with a scope, one per kernel without), its time is positive and within the wall time of the same call (the
 * timestamps lie between the submit and the read), and the timer is off again afterwards, also when the work throws.
 */
import assert from "node:assert/strict";
import { gpuTimeOf } from "../../runtime/gpu_time.ts";
import { createWebGpuBackend } from "../../kernels/webgpu_backend.ts";
import { sharedGpuDevice } from "../_gpu_device.ts";
import { TIMESTAMP_SKIP } from "../_backends.ts";

Deno.test({
  name: `gpuTimeOf: one pass per submit with a scope, one per kernel without, time within the call's wall time${
    TIMESTAMP_SKIP ? ` (${TIMESTAMP_SKIP})` : ""
  }`,
  ignore: TIMESTAMP_SKIP !== null,
  fn: async () => {
    const be = await createWebGpuBackend({ device: await sharedGpuDevice(), timestamps: true });
    try {
      const timer = be.passTimer!;
      timer.enabled = false;
      const x = be.upload(Float32Array.from({ length: 4096 }, (_, i) => i % 7), [64, 64], "x");
      const work = async () => {
        let y = be.add(x, x);
        for (let i = 0; i < 4; i++) {
          const z = be.add(y, x);
          be.free(y);
          y = z;
        }
        await be.read(y);
        be.free(y);
      };
      await work(); // pipelines, pool
      for (const [scope, passes] of [["work", 1], [null, 5]] as const) {
        const d0 = be.dispatchCount;
        const t0 = performance.now();
        const t = await gpuTimeOf(timer, work, scope);
        const wall = performance.now() - t0;
        assert.equal(be.dispatchCount - d0, 5);
        assert.equal(t.passes, passes, `scope ${scope}`);
        assert.ok(t.ms > 0 && t.ms <= wall, `scope ${scope}: ${t.ms} ms of GPU time in ${wall} ms`);
        assert.equal(timer.enabled, false);
      }
      await assert.rejects(gpuTimeOf(timer, () => Promise.reject(new Error("boom"))), /boom/);
      assert.equal(timer.enabled, false);
      // Nothing recorded in a failed call leaks into the next one.
      assert.equal((await gpuTimeOf(timer, work)).passes, 1);
      be.free(x);
    } finally {
      be.dispose();
    }
  },
});
