import { conv1dRef } from "../wasm/reference.ts";
import { assertClose, gpuTest, rand, viewIn } from "./_gpu.ts";

// K = 2..4, seqLen below, at and above K − 1, batch 2, an odd channel count, x a view, a non-zero state.
for (const K of [2, 3, 4]) {
  gpuTest(`conv1d K=${K}`, async (be) => {
    const batch = 2, C = 13;
    const w = rand(C * K, K), bias = rand(C, 2);
    for (const L of [1, 2, 7]) {
      for (const withBias of [true, false]) {
        const x = rand(batch * L * C, L * 10 + K, -2, 2), s0 = rand(batch * C * (K - 1), L + 100);
        const state = be.upload(s0, [batch, C, K - 1], "state");
        const { view: xv } = viewIn(be, x, batch * L, C, 5, 2, "xz");
        const out = be.conv1d(
          xv,
          be.upload(w, [C, K], "w"),
          withBias ? be.upload(bias, [C], "b") : null,
          state,
          batch,
          L,
        );
        const ref = conv1dRef(x, w, withBias ? bias : null, s0, batch, L, C, K);
        assertClose(await be.read(out), ref.out, `conv1d out L=${L}`);
        assertClose(await be.read(state), ref.state, `conv1d state L=${L}`, 0, 0);
      }
    }
  });
}
