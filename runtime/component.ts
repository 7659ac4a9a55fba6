/**
 * The names of a Mamba block's components, as the model's hooks, the cost model and the profiler report them.
 *
 * @module
 */

/**
 * The components of a block, named as the profiler reports them.
 *
 * @example
 * ```ts
 * import { type Component, makeConfig, MambaModel, selectBackend, syntheticWeights } from "@perfmamba/perfmamba";
 *
 * const config = makeConfig("mamba2", { dModel: 32, nLayer: 2, vocabSize: 64, dState: 8, headDim: 16 });
 * const backend = await selectBackend("wasm", { threads: 1 });
 * const model = MambaModel.load(syntheticWeights(config, 1), backend);
 * const calls = new Map<Component, number>();
 * model.hooks = { begin: (component) => calls.set(component, (calls.get(component) ?? 0) + 1) };
 * await model.prefill([1, 2, 3]);
 * console.log(Object.fromEntries(calls));
 * // { embedding: 1, norm: 2, in_proj: 2, conv1d: 2, ssm: 2, gate_norm: 2, out_proj: 2, residual: 2, norm_f: 1, lm_head: 1 }
 * // (Mamba-1 blocks have x_proj and dt_proj instead of gate_norm; Falcon-Mamba's also bcdt_norm, the δ / B / C norms.)
 * model.dispose();
 * backend.dispose();
 * ```
 */
export type Component =
  | "embedding"
  | "norm"
  | "in_proj"
  | "conv1d"
  | "x_proj"
  | "bcdt_norm"
  | "dt_proj"
  | "ssm"
  | "gate_norm"
  | "out_proj"
  | "residual"
  | "norm_f"
  | "lm_head";
