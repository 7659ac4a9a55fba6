/**
 * A Mamba-1 / Mamba-2 language model on any {@link Backend}.
 *
 * The forward pass reads like the equations of the two papers:
 *
 *   h₀ = Embed(ids);  h_{l+1} = h_l + Mixer_l(RMSNorm_l(h_l));  logits = LMHead(RMSNorm_f(h_L))
 *
 * Mamba-1 mixer:  [x, z] = in_proj(u);  x = SiLU(conv1d(x));  [δ, B, C] = x_proj(x);  Δ = softplus(dt_proj(δ))
 *                 y = SelectiveScan(x, Δ, A, B, C) + D·x;  out = out_proj(y · SiLU(z))
 * Mamba-2 mixer:  [z, xBC, dt] = in_proj(u);  [x, B, C] = SiLU(conv1d(xBC));  Δ = softplus(dt + dt_bias)
 *                 y = SSD(x, Δ, A, B, C) + D·x;  out = out_proj(GatedRMSNorm(y, z))
 *                 (a bridged pruned layer feeds the SSD C′ = state_bridge(C) instead of C; part of "ssm")
 *
 * Each component runs inside {@link MambaModel.hooks}' `begin`/`end` so a profiler can time it.
 *
 * @module
 */

import type { Backend, Matrix, QuantFormat, QuantizedMatrixData, Tensor } from "./backend.ts";
import type { Component } from "./component.ts";
import type { MambaConfig } from "./config.ts";
import { inProjWidth } from "./config.ts";
import { fusedDecodeAvailable, fusedLayerStep, fusesLayer } from "./fused_step.ts";
import { type DeviceLayer, mamba1Mixer, mamba2Mixer, uploadLayer } from "./mixers.ts";
import { argmax, type TokenChoice } from "./sampling.ts";
import { InferenceState } from "./state.ts";
import type { HostMatrix, HostTensor, MambaWeights, ParamFormat } from "./weights.ts";
import { isQuantized } from "./weights.ts";
import { roundToHalf } from "./half_params.ts";
import { checkModelFits } from "./memory_check.ts";
import { syntheticUniformOf } from "./synthetic.ts";
import { type WeightSource, weightSource } from "./weight_source.ts";

export type { Component } from "./component.ts";

/**
 * Observers of the forward pass (profiling, tests). All optional.
 *
 * @example
 * ```ts
 * import { type ForwardHooks, makeConfig, MambaModel, selectBackend, syntheticWeights } from "@perfmamba/perfmamba";
 *
 * const config = makeConfig("mamba2", { dModel: 32, nLayer: 2, vocabSize: 64, dState: 8, headDim: 16 });
 * const backend = await selectBackend("wasm", { threads: 1 });
 * const model = MambaModel.load(syntheticWeights(config, 1), backend);
 * // Wall time per component (sync() waits for queued GPU work), and the shape of each layer's in_proj output.
 * const ms: Record<string, number> = {};
 * let started = 0;
 * const hooks: ForwardHooks = {
 *   begin: () => void (started = performance.now()),
 *   end: async (component) => {
 *     await model.backend.sync();
 *     ms[component] = (ms[component] ?? 0) + performance.now() - started;
 *   },
 *   capture: async (name, layer, t) => {
 *     if (name === "in_proj.out") console.log(layer, t.shape, (await model.backend.read(t)).length);
 *   },
 * };
 * await model.prefill([5, 6, 7, 8], { hooks }); // per call; `model.hooks = hooks` observes every call
 * // 0 [ 4, 148 ] 592      (4 tokens × [z 64 | x 64 | B 8 | C 8 | dt 4] in_proj columns)
 * // 1 [ 4, 148 ] 592
 * console.log(Object.keys(ms).length); // 10
 * model.dispose();
 * backend.dispose();
 * ```
 */
export interface ForwardHooks {
  /** Called before a component's ops are issued (layer is −1 outside the blocks). */
  begin?(component: Component, layer: number): void;
  /** Called after a component's ops are issued. */
  end?(component: Component, layer: number): void | Promise<void>;
  /**
   * Receives named intermediate tensors of every layer ("norm.in", "norm.out", "in_proj.in", "in_proj.out",
   * "out_proj.in", "out_proj.out"; Falcon-Mamba also "x_proj.B" / "x_proj.C", the (T, N) B and C before their
   * norms, and "bcdt_norm.B" / "bcdt_norm.C" after); the tensor is freed after the returned promise settles.
   */
  capture?(name: string, layer: number, t: Tensor): void | Promise<void>;
}

/**
 * Logits of a forward pass: `rows × vocab`, row-major.
 *
 * @example
 * ```ts
 * import { argmax, type Logits, makeConfig, MambaModel, selectBackend, syntheticWeights } from "@perfmamba/perfmamba";
 *
 * const config = makeConfig("mamba2", { dModel: 32, nLayer: 2, vocabSize: 64, dState: 8, headDim: 16 });
 * const backend = await selectBackend("wasm", { threads: 1 });
 * const model = MambaModel.load(syntheticWeights(config, 1), backend);
 * const { logits, state } = await model.prefill([[1, 2, 3], [4, 5, 6]]); // a batch of 2 sequences of 3 tokens
 * const row = (l: Logits, r: number): Float32Array => l.data.subarray(r * l.vocab, (r + 1) * l.vocab);
 * console.log(logits.rows, logits.vocab); // 6 64   (row b·3 + t: token t of sequence b)
 * const nextOfSecond = argmax(row(logits, 5)); // greedy next token after [4, 5, 6]
 * console.log(nextOfSecond >= 0 && nextOfSecond < logits.vocab); // true
 * state.dispose();
 * model.dispose();
 * backend.dispose();
 * ```
 */
export interface Logits {
  /** Row-major values. */
  data: Float32Array;
  /** Number of rows (positions, or sequences when only the last position was kept). */
  rows: number;
  /** Vocabulary size. */
  vocab: number;
}

/**
 * Options of {@link MambaModel.prefill}.
 *
 * @example
 * ```ts
 * import { makeConfig, MambaModel, type PrefillOptions, selectBackend, syntheticWeights } from "@perfmamba/perfmamba";
 *
 * const config = makeConfig("mamba2", { dModel: 32, nLayer: 2, vocabSize: 64, dState: 8, headDim: 16 });
 * const backend = await selectBackend("wasm", { threads: 1 });
 * const model = MambaModel.load(syntheticWeights(config, 1), backend);
 * const prompt = [3, 1, 4, 1, 5, 9, 2, 6];
 * const whole = await model.prefill(prompt, { lastOnly: true });
 *
 * // The same prompt in two calls, continuing the state, and in pieces of 3 tokens: the same last logits.
 * const state = model.newState();
 * await model.prefill(prompt.slice(0, 5), { state, lastOnly: true });
 * const options: PrefillOptions = { state, lastOnly: true };
 * const resumed = await model.prefill(prompt.slice(5), options);
 * const chunked = await model.prefill(prompt, { lastOnly: true, chunkTokens: 3 });
 * const maxDiff = (a: Float32Array, b: Float32Array) => Math.max(...a.map((v, i) => Math.abs(v - b[i])));
 * console.log(whole.logits.rows, state.position); // 1 8
 * if (maxDiff(whole.logits.data, resumed.logits.data) > 1e-4) throw new Error("resumed prefill differs");
 * if (maxDiff(whole.logits.data, chunked.logits.data) > 1e-4) throw new Error("chunked prefill differs");
 * for (const s of [whole.state, state, chunked.state]) s.dispose();
 * model.dispose();
 * backend.dispose();
 * ```
 */
export interface PrefillOptions {
  /** Continue from this state (advanced in place); default: a new zero state. */
  state?: InferenceState;
  /** Return only the logits of the last position of each sequence. */
  lastOnly?: boolean;
  /** Observers for this call. */
  hooks?: ForwardHooks;
  /**
   * Run the sequence in pieces of at most this many tokens (per sequence), carrying the state from one to the
   * next: the same logits, less activation memory. Default: the whole sequence at once, unless an activation
   * would exceed the backend's binding limit ({@link Backend.maxBindingSize}); then the largest piece that fits.
   */
  chunkTokens?: number;
}

/** Which logits a forward pass computes and reads back. */
type LogitRows = "all" | "last" | "none";

/**
 * Check token ids against the vocabulary, as given (before any conversion to an integer array, which would wrap
 * 2³² to 0 and truncate 1.5 to 1); throws a RangeError naming the first bad id and its position: a non-number, NaN,
 * ±Infinity, a fraction, a negative id or one ≥ `vocab`.
 */
export function validateTokens(ids: ArrayLike<number>, vocab: number, what = "token"): void {
  for (let i = 0; i < ids.length; i++) {
    const id = ids[i];
    if (typeof id !== "number" || !Number.isInteger(id)) {
      const shown = typeof id === "number" ? String(id) : `${JSON.stringify(id) ?? String(id)} (${typeof id})`;
      throw new RangeError(`${what} id ${shown} at position ${i} is not a whole number`);
    }
    if (id < 0 || id >= vocab) {
      throw new RangeError(`${what} id ${id} at position ${i} is outside the vocabulary [0, ${vocab})`);
    }
  }
}

/**
 * Flatten a batch of equal-length token sequences; throws on an empty or ragged batch, and, given `vocab`, on an
 * id outside it ({@link validateTokens} on each sequence as given, before the conversion to Int32Array).
 */
export function flattenBatch(
  batch: ArrayLike<number> | ArrayLike<number>[],
  vocab?: number,
): { ids: Int32Array; batch: number; seqLen: number } {
  const seqs: ArrayLike<number>[] = batch.length > 0 && typeof batch[0] === "object" && batch[0] !== null
    ? (batch as ArrayLike<number>[])
    : [batch as ArrayLike<number>];
  if (seqs.length === 0) throw new RangeError("empty batch: give at least one sequence of tokens");
  const seqLen = seqs[0].length;
  if (seqLen === 0) throw new RangeError("empty prompt: give at least one token");
  seqs.forEach((s, b) => {
    if (s.length !== seqLen) {
      throw new RangeError(
        `batch of unequal lengths: sequence 0 has ${seqLen} tokens, sequence ${b} has ${s.length}; pad or split the batch`,
      );
    }
    if (vocab !== undefined) validateTokens(s, vocab, seqs.length > 1 ? `sequence ${b}: token` : "token");
  });
  const ids = new Int32Array(seqs.length * seqLen);
  seqs.forEach((s, b) => ids.set(Array.from(s), b * seqLen));
  return { ids, batch: seqs.length, seqLen };
}

/** Upload one quantized matrix, or say which backend lacks its format and what to do instead. */
function uploadQuantized(backend: Backend, t: QuantizedMatrixData, label: string): Matrix {
  if (!backend.uploadQuantizedMatrix || !backend.capabilities.quantFormats.includes(t.format)) {
    const has = backend.capabilities.quantFormats;
    throw new Error(
      `MambaModel.load: ${label} holds ${t.format} blocks but the ${backend.name} backend cannot keep ${t.format} ` +
        `weights (it supports ${has.length ? has.join(", ") : "no quantized format"}); use a backend that does, ` +
        `or load the f32 (dequantized) weights instead`,
    );
  }
  return backend.uploadQuantizedMatrix(t, label);
}

/**
 * Sampling of a {@link MambaModel.queueBurst}: the per-token choice, the uniform draws (step-major: step i of
 * sequence b at `i · batch + b`, each in [0, 1) and exact in f32, e.g. from `Sampler.draw`) and the seen-token
 * bitmap of {@link MambaModel.seenTokens} (the repetition penalty's history, updated on the device).
 *
 * @example
 * ```ts
 * import { type BurstSampling, makeConfig, MambaModel, Sampler, selectBackend, syntheticWeights, tokenChoice } from "@perfmamba/perfmamba";
 *
 * const config = makeConfig("mamba1", { dModel: 32, nLayer: 1, vocabSize: 64 });
 * const backend = await selectBackend("wasm", { threads: 1 });
 * const model = MambaModel.load(syntheticWeights(config, 3), backend);
 * const options = { temperature: 0.7, topK: 8, repetitionPenalty: 1.2, seed: 5 };
 * const sampler = new Sampler(options);
 * const { state } = await model.prefill([5, 6, 7], { lastOnly: true });
 * // Three steps: the draws come from the same seeded stream the host path uses, so the tokens match it.
 * const sampling: BurstSampling = {
 *   choice: tokenChoice(options),
 *   draws: new Float32Array([sampler.draw(), sampler.draw(), sampler.draw()]),
 *   seen: model.seenTokens([[5, 6, 7, 8]]),
 * };
 * const burst = await model.queueBurst([8], state, 3, sampling);
 * console.log((await model.readBurst(burst))[0].length); // 3
 * model.freeBurst(burst);
 * backend.free(sampling.seen);
 * state.dispose();
 * model.dispose();
 * backend.dispose();
 * ```
 */
export interface BurstSampling {
  choice: TokenChoice;
  draws: Float32Array;
  seen: Tensor;
}

/**
 * Decode steps queued by {@link MambaModel.queueBurst}, their tokens still on the device: read them with
 * {@link MambaModel.readBurst}, or pass the burst itself to the next `queueBurst` (it starts from the burst's last
 * tokens without a readback), and free it with {@link MambaModel.freeBurst}.
 *
 * @example
 * ```ts
 * import { makeConfig, MambaModel, type QueuedBurst, selectBackend, syntheticWeights } from "@perfmamba/perfmamba";
 *
 * const config = makeConfig("mamba2", { dModel: 32, nLayer: 1, vocabSize: 64, dState: 8, headDim: 16 });
 * const backend = await selectBackend("wasm", { threads: 1 });
 * const model = MambaModel.load(syntheticWeights(config, 4), backend);
 * const { state } = await model.prefill([1, 2], { lastOnly: true });
 * const first: QueuedBurst = await model.queueBurst([3], state, 2); // 2 greedy steps
 * const second = await model.queueBurst(first, state, 2); // 2 more, from first's last token on the device
 * const tokens = [...(await model.readBurst(first))[0], ...(await model.readBurst(second))[0]];
 * const again = (await model.prefill([1, 2], { lastOnly: true })).state;
 * const [greedy] = await model.greedy([3], again, 4); // the same 4 steps in one call
 * console.log(tokens.join() === greedy.join()); // true
 * model.freeBurst(first);
 * model.freeBurst(second);
 * again.dispose();
 * state.dispose();
 * model.dispose();
 * backend.dispose();
 * ```
 */
export interface QueuedBurst {
  /** `(steps + 1) · batch` int32 ids: step i's tokens at `(i + 1) · batch`. */
  readonly ids: Tensor;
  /** The draws uploaded for a sampled burst (null: greedy). */
  readonly draws: Tensor | null;
  readonly steps: number;
  readonly batch: number;
}

/**
 * A model whose weights live on a backend. Create with {@link MambaModel.load}; release with dispose().
 *
 * `prefill` runs whole prompts (a batch of equal-length sequences) and returns the state after them; `step` then
 * decodes one token per sequence in constant time and memory. {@link generate} wraps both.
 *
 * @example
 * ```ts
 * import { argmax, makeConfig, MambaModel, selectBackend, syntheticWeights } from "@perfmamba/perfmamba";
 *
 * const config = makeConfig("mamba1", { dModel: 32, nLayer: 2, vocabSize: 64 });
 * const backend = await selectBackend("wasm", { threads: 1 });
 * const model = MambaModel.load(syntheticWeights(config, 7), backend); // or: await loadWeights(urlSource(...))
 * console.log(model.config.arch, model.layerStateSizes, model.parameterCount); // mamba1 [ 16, 16 ] 21984
 *
 * // Prefill a prompt, then decode recurrently: step() continues exactly where prefill() stopped.
 * const { logits, state } = await model.prefill([10, 20, 30], { lastOnly: true });
 * const next = argmax(logits.data);
 * const stepped = await model.step([next], state); // 1 × vocab logits; state.position is now 4
 * const full = await model.prefill([10, 20, 30, next], { lastOnly: true });
 * const diff = Math.max(...stepped.data.map((v, i) => Math.abs(v - full.logits.data[i])));
 * if (diff > 1e-4) throw new Error(`step and prefill disagree by ${diff}`);
 * console.log(state.position); // 4
 *
 * state.dispose();
 * full.state.dispose();
 * model.dispose(); // frees the weights; the backend stays usable
 * backend.dispose();
 * ```
 */
export class MambaModel implements Disposable {
  /** Hooks applied to every forward pass (in addition to per-call hooks). */
  hooks: ForwardHooks = {};
  /**
   * Decode steps (`step`, `greedy`) use the backend's fused decode kernels where it has them
   * (`capabilities.fusedDecode`: at most 4 dispatches per layer) and no hooks observe the pass; false forces the
   * unfused ops (A/B comparisons). Layers the fused kernels do not take run unfused either way.
   */
  fusedDecode = true;
  readonly #layers: DeviceLayer[];
  readonly #embedding: Matrix; // (vocab, d)
  readonly #lmHead: Matrix; // (vocab, d), the embedding when tied
  readonly #normF: Tensor; // (d)
  readonly #owned: (Tensor | Matrix)[];
  #disposed = false;
  /**
   * The block format of each component whose matrices were uploaded quantized (`{ in_proj: "q8_0", … }`; empty
   * for an f32 model): what the profiler and cost model count their bytes in.
   */
  readonly quantFormats: Readonly<Partial<Record<Component, QuantFormat>>>;
  /**
   * How the backend holds A_log, conv1d's weight and bias, and D: "f16" (a quantized model's default,
   * `Backend.uploadHalf`) or "f32". The profiler and cost model count their bytes in it.
   */
  paramFormat: ParamFormat = "f32";

  private constructor(
    readonly backend: Backend,
    readonly config: MambaConfig,
    layers: DeviceLayer[],
    embedding: Matrix,
    lmHead: Matrix,
    normF: Tensor,
    owned: (Tensor | Matrix)[],
    /** Parameter count of the host weights (tied lm_head counted once). */
    readonly parameterCount: number,
    quantFormats: Partial<Record<Component, QuantFormat>>,
  ) {
    this.quantFormats = quantFormats;
    this.#layers = layers;
    this.#embedding = embedding;
    this.#lmHead = lmHead;
    this.#normF = normF;
    this.#owned = owned;
  }

  /**
   * Upload host weights to a backend. The host weights are not kept. Block-quantized matrices (a
   * `MambaWeights<HostMatrix>` from `quantizeWeights` or a quantized checkpoint) keep their blocks through
   * {@link Backend.uploadQuantizedMatrix}; a backend without their format is an error, never a silent dequantize.
   */
  static load(weights: MambaWeights<HostMatrix>, backend: Backend): MambaModel {
    return MambaModel.fromSource(weightSource(weights), backend);
  }

  /**
   * Upload weights from a {@link WeightSource} one layer at a time (e.g. `syntheticSource(config, seed)`: a
   * preset of any size without the whole model on the host). The model's weight bytes are first checked against
   * the backend's limits ({@link checkModelFits}): what cannot fit is a {@link ModelTooLargeError} before
   * anything is allocated.
   *
   * @example
   * ```ts
   * import { makeConfig, MambaModel, selectBackend, syntheticSource } from "@perfmamba/perfmamba";
   * const backend = await selectBackend("wasm", { threads: 1 });
   * const config = makeConfig("mamba2", { dModel: 64, nLayer: 2, vocabSize: 128, headDim: 16 });
   * const model = MambaModel.fromSource(syntheticSource(config, 1, { quantize: "q8_0" }), backend);
   * console.log(model.parameterCount, model.quantFormats.in_proj); // 95472 q8_0
   * model.dispose();
   * backend.dispose();
   * ```
   */
  static fromSource(source: WeightSource, backend: Backend): MambaModel {
    const cfg = source.config;
    checkModelFits(cfg, backend, { storage: source.quantFormat ?? backend.capabilities.weightFormat });
    const owned: (Tensor | Matrix)[] = [];
    let params = 0;
    // Synthetic tensors not yet made on the host are generated on the device where the backend can.
    const recipe = (t: HostTensor) => (backend.generateUniform ? syntheticUniformOf(t) : null);
    const vec = (t: HostTensor, label: string): Tensor => {
      const u = recipe(t);
      params += u ? t.shape.reduce((a, b) => a * b, 1) : t.data.length;
      const d = u ? backend.generateUniform!(u, t.shape, label) : backend.upload(t.data, t.shape, label);
      owned.push(d);
      return d;
    };
    const derived = (data: Float32Array, shape: number[], label: string): Tensor => {
      params += data.length;
      const d = backend.upload(data, shape, label);
      owned.push(d);
      return d;
    };
    const opt = (t: HostTensor | null, label: string): Tensor | null => (t ? vec(t, label) : null);
    // A quantized model's A_log, conv1d weight / bias and D in f16 (runtime/half_params.ts): rounded here too, so
    // that an older checkpoint's f32 values give what its rounded host weights would.
    const halfParams = source.paramFormat === "f16";
    const param = (t: HostTensor, label: string): Tensor => {
      if (!halfParams) return vec(t, label);
      if (!backend.uploadHalf) return derived(roundToHalf(t.data, label), t.shape, label);
      params += t.data.length;
      const d = backend.uploadHalf(roundToHalf(t.data, label), t.shape, label);
      owned.push(d);
      return d;
    };
    const quantFormats: Partial<Record<Component, QuantFormat>> = {};
    const mat = (t: HostMatrix, label: string): Matrix => {
      if (isQuantized(t)) {
        // "layers.3.x_proj.dt" → x_proj; "embedding", "lm_head" as they are.
        quantFormats[label.replace(/^layers\.\d+\./, "").split(".")[0] as Component] = t.format;
        params += t.n * t.k;
        const m = uploadQuantized(backend, t, label);
        owned.push(m);
        return m;
      }
      const u = backend.generateUniformMatrix ? syntheticUniformOf(t) : null;
      params += t.shape[0] * t.shape[1];
      const m = u
        ? backend.generateUniformMatrix!(u, t.shape[0], t.shape[1], label)
        : backend.uploadMatrix(t.data, t.shape[0], t.shape[1], label);
      owned.push(m);
      return m;
    };
    const layers: DeviceLayer[] = [];
    const up = { vec, derived, opt, mat, param, halfParams: halfParams && !!backend.uploadHalf };
    for (let l = 0; l < cfg.nLayer; l++) layers.push(uploadLayer(source.layer(l), l, cfg, up));
    const embedding = mat(source.embedding(), "embedding");
    const head = source.lmHead();
    const lmHead = head ? mat(head, "lm_head") : embedding;
    const normF = vec(source.normF(), "norm_f");
    // A Δ rank zero-padded for quantization (runtime/dt_rank_pad.ts): the zeros are no parameters.
    if (cfg.dtRankPaddedFrom !== undefined) params -= cfg.nLayer * 2 * cfg.dInner * (cfg.dtRank - cfg.dtRankPaddedFrom);
    const model = new MambaModel(backend, cfg, layers, embedding, lmHead, normF, owned, params, quantFormats);
    if (halfParams && backend.uploadHalf) model.paramFormat = "f16";
    return model;
  }

  /** State size of each layer (differs per layer in pruned models). */
  get layerStateSizes(): number[] {
    return this.#layers.map((l) => l.dState);
  }

  /**
   * Compile ahead, in parallel, the kernels this model's passes will use — a prefill of each length in `seqLens`,
   * a decode step, a greedy step and a sampled one (where the backend samples on the device), for `batch` sequences — so that the first real pass does not compile them one
   * by one (seconds on a software adapter). The passes run on a throwaway state without computing anything. A no-op
   * on backends that compile nothing ahead (no {@link Backend.prepare}: WASM). Resolves to the number of kernels
   * compiled; kernels for other shapes (e.g. a GEMM tile chosen for a much longer prompt) still compile at first use.
   *
   * @example
   * ```ts
   * import { makeConfig, MambaModel, selectBackend, syntheticWeights } from "@perfmamba/perfmamba";
   *
   * const config = makeConfig("mamba2", { dModel: 64, nLayer: 2, vocabSize: 256, dState: 16, headDim: 16 });
   * const backend = await selectBackend("wasm", { threads: 1 });
   * const model = MambaModel.load(syntheticWeights(config, 1), backend);
   * console.log(await model.prepare({ seqLens: [16] })); // 0: the WASM kernels are compiled once, at start
   * model.dispose();
   * backend.dispose();
   * ```
   */
  async prepare(options: { batch?: number; seqLens?: readonly number[] } = {}): Promise<number> {
    this.#check();
    const backend = this.backend;
    if (!backend.prepare) return 0;
    const batch = options.batch ?? 1;
    const seqLens = options.seqLens ?? [64];
    for (const L of seqLens) {
      if (!(Number.isInteger(L) && L >= 1)) throw new RangeError(`prepare: sequence lengths must be ≥ 1, got ${L}`);
    }
    if (!(Number.isInteger(batch) && batch >= 1)) throw new RangeError(`prepare: batch must be ≥ 1, got ${batch}`);
    return await backend.prepare(async () => {
      const next = new Array<number>(batch).fill(0);
      for (const L of seqLens) {
        const state = this.newState(batch);
        try {
          const rows = Array.from({ length: batch }, () => new Array<number>(L).fill(0));
          await this.prefill(rows, { state, lastOnly: true });
          await this.step(next, state);
          if (backend.capabilities.deviceTokenChoice && backend.argmaxInto) await this.greedy(next, state, 1);
          if (backend.capabilities.deviceSampling && backend.sampleInto) {
            const seen = this.seenTokens(next.map(() => []));
            const choice = { temperature: 1, topK: 0, topP: 1, repetitionPenalty: 1 };
            const burst = await this.queueBurst(next, state, 1, { choice, draws: new Float32Array(batch), seen });
            this.freeBurst(burst);
            backend.free(seen);
          }
        } finally {
          state.dispose();
        }
      }
    });
  }

  /** A zero inference state for `batch` sequences. */
  newState(batch = 1): InferenceState {
    this.#check();
    return InferenceState.zeros(this.backend, this.config, batch);
  }

  /**
   * Run a batch of equal-length token sequences (or one sequence) and return the logits.
   * The state (given or new) is advanced past the tokens and returned.
   */
  async prefill(
    tokens: ArrayLike<number> | ArrayLike<number>[],
    options: PrefillOptions = {},
  ): Promise<{ logits: Logits; state: InferenceState }> {
    this.#check();
    const { ids, batch, seqLen } = flattenBatch(tokens, this.config.vocabSize);
    const state = options.state ?? this.newState(batch);
    if (state.batch !== batch) {
      throw new RangeError(`state holds ${state.batch} sequences but the batch has ${batch}`);
    }
    if (state.disposed) throw new Error("prefill: the given InferenceState was disposed");
    const lastOnly = options.lastOnly ?? false;
    const chunk = options.chunkTokens ?? this.#maxTokensPerCall(batch, lastOnly);
    if (!((Number.isInteger(chunk) || chunk === Infinity) && chunk >= 1)) {
      throw new RangeError(`prefill: chunkTokens must be a positive integer, got ${chunk}`);
    }
    if (chunk >= seqLen) {
      const logits = await this.#forward(ids, batch, seqLen, state, lastOnly ? "last" : "all", options.hooks);
      return { logits, state };
    }
    const V = this.config.vocabSize;
    const all = lastOnly ? null : new Float32Array(batch * seqLen * V);
    let logits: Logits | null = null;
    for (let t0 = 0; t0 < seqLen; t0 += chunk) {
      const len = Math.min(chunk, seqLen - t0);
      const part = new Int32Array(batch * len);
      for (let b = 0; b < batch; b++) part.set(ids.subarray(b * seqLen + t0, b * seqLen + t0 + len), b * len);
      const final = t0 + len === seqLen;
      const rows: LogitRows = lastOnly ? (final ? "last" : "none") : "all";
      const got = await this.#forward(part, batch, len, state, rows, options.hooks);
      if (all) {
        for (let b = 0; b < batch; b++) {
          all.set(got.data.subarray(b * len * V, (b + 1) * len * V), (b * seqLen + t0) * V);
        }
      } else if (final) logits = got;
    }
    return { logits: logits ?? { data: all!, rows: batch * seqLen, vocab: V }, state };
  }

  /**
   * Tokens per sequence one forward pass may take so that its widest activation — in_proj's output, the logits,
   * the SSD's per-chunk scratch — fits the backend's binding limit (Infinity without a limit). Rounded down to
   * whole SSD chunks where that leaves at least one.
   */
  #maxTokensPerCall(batch: number, lastOnly: boolean): number {
    const limit = this.backend.maxBindingSize;
    if (limit === undefined || !Number.isFinite(limit)) return Infinity;
    const c = this.config;
    const N = Math.max(...this.layerStateSizes);
    // in_proj's output (a bridged layer's C is wider than its B), plus the SSD's per-chunk scratch for Mamba-2.
    let floats = Math.max(...this.#layers.map((_, l) => inProjWidth(c, l)));
    if (c.arch === "mamba2") floats += c.nGroups * c.chunkSize + Math.ceil(c.nHeads * c.headDim * N / c.chunkSize);
    if (!lastOnly) floats = Math.max(floats, c.vocabSize);
    const tokens = Math.max(1, Math.floor(limit / (4 * floats * batch)));
    const whole = c.arch === "mamba2" ? Math.floor(tokens / c.chunkSize) * c.chunkSize : tokens;
    return whole > 0 ? whole : tokens;
  }

  /** One decode step: one token per sequence, advancing the state; returns `batch × vocab` logits. */
  async step(tokens: ArrayLike<number>, state: InferenceState, hooks?: ForwardHooks): Promise<Logits> {
    this.#check();
    if (tokens.length !== state.batch) {
      throw new RangeError(`step: ${tokens.length} tokens for a state of ${state.batch} sequences`);
    }
    validateTokens(tokens, this.config.vocabSize); // before the conversion, which would wrap 2³² to 0
    const ids = Int32Array.from(tokens);
    return await this.#forward(ids, state.batch, 1, state, "all", hooks);
  }

  /**
   * `steps` greedy decode steps from `tokens` (one per sequence of `state`), advancing the state: each new token is
   * the argmax of the logits after the previous one (the lowest id among equal maxima, as {@link argmax}), among the
   * ids below `config.tokenVocabSize` (a padded vocabulary's rows are never chosen). On a
   * backend with device argmax (`Backend.argmaxInto`: WebGPU, WASM) the steps are queued back to back and the
   * tokens read once at the end; on WebGPU that removes the per-token wait for the GPU (≥ 10 ms in Deno), which
   * otherwise dominates decode. Returns `steps` new tokens per sequence.
   *
   * @example
   * ```ts
   * import { argmax, makeConfig, MambaModel, selectBackend, syntheticWeights } from "@perfmamba/perfmamba";
   *
   * const config = makeConfig("mamba1", { dModel: 64, nLayer: 2, vocabSize: 256, dState: 8 });
   * const backend = await selectBackend("wasm", { threads: 1 });
   * const model = MambaModel.load(syntheticWeights(config, 3), backend);
   * const { logits, state } = await model.prefill([5, 6, 7], { lastOnly: true });
   * const first = argmax(logits.data);
   * const [next] = await model.greedy([first], state, 4); // 4 more tokens, one readback
   * console.log(next.length, state.position); // 4 7
   * state.dispose();
   * model.dispose();
   * backend.dispose();
   * ```
   */
  async greedy(tokens: ArrayLike<number>, state: InferenceState, steps: number): Promise<number[][]> {
    this.#check();
    const B = state.batch, V = this.config.vocabSize, tokenCount = this.config.tokenVocabSize;
    if (tokens.length !== B) throw new RangeError(`greedy: ${tokens.length} tokens for a state of ${B} sequences`);
    if (!(Number.isInteger(steps) && steps >= 0)) throw new RangeError(`greedy: steps must be a whole number ≥ 0`);
    validateTokens(tokens, V); // before the conversion, which would wrap 2³² to 0
    const ids = Int32Array.from(tokens);
    const out: number[][] = Array.from({ length: B }, () => []);
    if (steps === 0) return out;
    const be = this.backend;
    if (!be.argmaxInto || !be.embedFrom) {
      let cur = ids;
      for (let i = 0; i < steps; i++) {
        const { data } = await this.#forward(cur, B, 1, state, "all", undefined);
        cur = Int32Array.from({ length: B }, (_, b) => argmax(data.subarray(b * V, (b + 1) * V), tokenCount));
        cur.forEach((t, b) => out[b].push(t));
      }
      return out;
    }
    // ids[0..B) = the given tokens; step i reads ids[i·B ..) and writes its argmax to ids[(i + 1)·B ..).
    const all = new Int32Array((steps + 1) * B);
    all.set(ids);
    const buf = be.upload(new Float32Array(all.buffer), [all.length], "greedy.ids");
    try {
      for (let i = 0; i < steps; i++) {
        const logits = await this.#forwardTensor({ ids: buf, offset: i * B }, B, 1, state, "all", undefined);
        be.argmaxInto(logits!, buf, (i + 1) * B, tokenCount);
        be.free(logits!);
      }
      const got = new Int32Array((await be.read(buf)).buffer);
      for (let i = 1; i <= steps; i++) for (let b = 0; b < B; b++) out[b].push(got[i * B + b]);
    } finally {
      be.free(buf);
    }
    return out;
  }

  /**
   * A bitmap of seen token ids on the backend, for the repetition penalty of {@link MambaModel.queueBurst}: one row
   * of ⌈tokenVocabSize / 32⌉ u32 words per sequence, with the bits of `tokens[b]` set in row b (the prompt and what
   * was generated so far). The device sampler sets the bit of every token it chooses. Free it with `backend.free`.
   */
  seenTokens(tokens: ArrayLike<number>[]): Tensor {
    this.#check();
    const words = Math.ceil(this.config.tokenVocabSize / 32);
    const bits = new Uint32Array(Math.max(1, tokens.length * words));
    tokens.forEach((row, b) => {
      validateTokens(row, this.config.vocabSize);
      for (let i = 0; i < row.length; i++) {
        const id = row[i];
        if (id < this.config.tokenVocabSize) bits[b * words + (id >>> 5)] |= 1 << (id & 31);
      }
    });
    return this.backend.upload(new Float32Array(bits.buffer), [bits.length], "seen");
  }

  /**
   * Queue `steps` decode steps whose tokens are chosen on the device, without reading them: greedy
   * (`Backend.argmaxInto`) or, given `sampling`, sampled (`Backend.sampleInto`, runtime/sampling.ts's definition,
   * with `sampling.draws[i · batch + b]` the draw of step i of sequence b). The first step's inputs are `from`:
   * host token ids (one per sequence), or the last tokens of an earlier burst, still on the device — so a burst can
   * be queued while the previous one is being read. {@link MambaModel.readBurst} reads the tokens (the read starts
   * when called), {@link MambaModel.freeBurst} releases the burst once nothing queued after it still reads it.
   *
   * @example
   * ```ts
   * import { makeConfig, MambaModel, selectBackend, syntheticWeights, tokenChoice } from "@perfmamba/perfmamba";
   *
   * const config = makeConfig("mamba2", { dModel: 32, nLayer: 1, vocabSize: 64, dState: 8, headDim: 16 });
   * const backend = await selectBackend("wasm", { threads: 1 });
   * const model = MambaModel.load(syntheticWeights(config, 2), backend);
   * const { state } = await model.prefill([1, 2, 3], { lastOnly: true });
   * const seen = model.seenTokens([[1, 2, 3, 4]]);
   * const sampling = { choice: tokenChoice({ temperature: 0.8, topP: 0.9 }), draws: new Float32Array([0.5, 0.25]), seen };
   * const a = await model.queueBurst([4], state, 2, sampling); // 2 sampled steps from token 4
   * const reading = model.readBurst(a); // started now…
   * const b = await model.queueBurst(a, state, 2); // …while 2 greedy steps are queued after them
   * console.log((await reading)[0].length, (await model.readBurst(b))[0].length, state.position); // 2 2 7
   * model.freeBurst(a);
   * model.freeBurst(b);
   * backend.free(seen);
   * state.dispose();
   * model.dispose();
   * backend.dispose();
   * ```
   *
   * @throws Error when the backend lacks `argmaxInto` / `embedFrom` (or `sampleInto`, given `sampling`)
   */
  async queueBurst(
    from: ArrayLike<number> | QueuedBurst,
    state: InferenceState,
    steps: number,
    sampling?: BurstSampling,
  ): Promise<QueuedBurst> {
    this.#check();
    const B = state.batch, tokenCount = this.config.tokenVocabSize, be = this.backend;
    if (!be.argmaxInto || !be.embedFrom || (sampling && !be.sampleInto)) {
      throw new Error(`queueBurst: backend ${be.name} cannot choose tokens on the device`);
    }
    if (!(Number.isInteger(steps) && steps >= 1)) throw new RangeError(`queueBurst: steps must be a whole number ≥ 1`);
    if (sampling && sampling.draws.length < steps * B) {
      throw new RangeError(`queueBurst: ${sampling.draws.length} draws for ${steps} steps × ${B} sequences`);
    }
    let src: { ids: Tensor; offset: number };
    const all = new Int32Array((steps + 1) * B);
    if ("ids" in from) {
      if (from.batch !== B) throw new RangeError(`queueBurst: a burst of ${from.batch} sequences for a state of ${B}`);
      src = { ids: from.ids, offset: from.steps * B };
    } else {
      if (from.length !== B) throw new RangeError(`queueBurst: ${from.length} tokens for a state of ${B} sequences`);
      validateTokens(from, this.config.vocabSize);
      all.set(Int32Array.from(from));
      src = { ids: null!, offset: 0 };
    }
    const ids = be.upload(new Float32Array(all.buffer), [all.length], "burst.ids");
    if (!("ids" in from)) src.ids = ids;
    const draws = sampling ? be.upload(sampling.draws.subarray(0, steps * B), [steps * B], "burst.draws") : null;
    try {
      for (let i = 0; i < steps; i++) {
        const input = i === 0 ? src : { ids, offset: i * B };
        const logits = (await this.#forwardTensor(input, B, 1, state, "all", undefined))!;
        if (sampling) {
          be.sampleInto!(logits, ids, (i + 1) * B, sampling.choice, draws!, i * B, sampling.seen, tokenCount);
        } else be.argmaxInto(logits, ids, (i + 1) * B, tokenCount);
        be.free(logits);
      }
    } catch (e) {
      be.free(ids);
      if (draws) be.free(draws);
      throw e;
    }
    return { ids, draws, steps, batch: B };
  }

  /** The tokens of a queued burst, `steps` per sequence; the read is issued when called (see {@link queueBurst}). */
  async readBurst(burst: QueuedBurst): Promise<number[][]> {
    const got = new Int32Array((await this.backend.read(burst.ids)).buffer);
    const out: number[][] = Array.from({ length: burst.batch }, () => []);
    for (let i = 1; i <= burst.steps; i++) for (let b = 0; b < burst.batch; b++) out[b].push(got[i * burst.batch + b]);
    return out;
  }

  /** Release a burst's device buffers (after a burst queued from it, if any, was queued). */
  freeBurst(burst: QueuedBurst): void {
    this.backend.free(burst.ids);
    if (burst.draws) this.backend.free(burst.draws);
  }

  async #forward(
    ids: Int32Array,
    batch: number,
    seqLen: number,
    state: InferenceState,
    logitRows: LogitRows,
    callHooks: ForwardHooks | undefined,
  ): Promise<Logits> {
    const logits = await this.#forwardTensor(ids, batch, seqLen, state, logitRows, callHooks);
    if (!logits) return { data: new Float32Array(0), rows: 0, vocab: this.config.vocabSize };
    const data = await this.backend.read(logits);
    this.backend.free(logits);
    return { data, rows: logits.shape[0], vocab: logits.shape[1] };
  }

  /**
   * The forward pass up to the logits tensor (null for `logitRows` "none"), advancing the state. Token ids come from
   * the host or from a device tensor written by `argmaxInto` (greedy decoding).
   */
  async #forwardTensor(
    ids: Int32Array | { ids: Tensor; offset: number },
    batch: number,
    seqLen: number,
    state: InferenceState,
    logitRows: LogitRows,
    callHooks: ForwardHooks | undefined,
  ): Promise<Tensor | null> {
    const be = this.backend;
    const hooks = mergeHooks(this.hooks, callHooks);
    const run = async <T>(c: Component, layer: number, f: () => T): Promise<T> => {
      hooks.begin?.(c, layer);
      const out = f();
      await hooks.end?.(c, layer);
      return out;
    };
    const capture = async (name: string, layer: number, t: Tensor): Promise<void> => {
      if (hooks.capture) await hooks.capture(name, layer, t);
    };

    let h = await run(
      "embedding",
      -1,
      () =>
        ids instanceof Int32Array
          ? be.embed(ids, this.#embedding)
          : be.embedFrom!(ids.ids, ids.offset, batch * seqLen, this.#embedding),
    ); // (T, d)
    // Fused decode: one token per sequence, nothing observing the components (the profiler's hooks get the
    // unfused ops, whose components it can time apart).
    const fused = seqLen === 1 && this.fusedDecode && !hooks.begin && !hooks.end && !hooks.capture &&
      fusedDecodeAvailable(be.capabilities, batch);
    // Only the last token's logits wanted (or none), nothing observing the components: the last layer's out_proj and
    // residual run on the last token of each sequence only (the rest of their rows would be discarded).
    const lastRows = logitRows !== "all" && seqLen > 1 && !hooks.begin && !hooks.end && !hooks.capture
      ? Int32Array.from({ length: batch }, (_, b) => b * seqLen + seqLen - 1)
      : null;
    const nLayer = this.#layers.length;
    for (let l = 0; l < nLayer; l++) {
      const layer = this.#layers[l];
      if (fused && fusesLayer(be, this.config, layer, batch)) {
        const next = fusedLayerStep(be, this.config, layer, l, h, batch, state);
        be.free(h);
        h = next;
        continue;
      }
      await capture("norm.in", l, h);
      const u = await run("norm", l, () => be.rmsNorm(h, layer.norm, this.config.eps)); // (T, d)
      await capture("norm.out", l, u);
      await capture("in_proj.in", l, u);
      const outRows = l === nLayer - 1 && lastRows ? lastRows : undefined;
      const mixed = layer.arch === "mamba1"
        ? await mamba1Mixer(be, this.config, layer, l, u, batch, seqLen, state, run, capture, outRows)
        : await mamba2Mixer(be, this.config, layer, l, u, batch, seqLen, state, run, capture, outRows);
      be.free(u);
      await capture("out_proj.out", l, mixed);
      if (outRows) {
        const last = be.gatherRows(h, outRows);
        be.free(h);
        h = last;
      }
      const next = await run("residual", l, () => be.add(h, mixed)); // residual stream in f32
      be.free(h);
      be.free(mixed);
      h = next;
    }
    if (logitRows === "none") {
      be.free(h);
      state.position += seqLen;
      return null;
    }
    if (logitRows === "last" && !lastRows) {
      const rows = Int32Array.from({ length: batch }, (_, b) => b * seqLen + seqLen - 1);
      const last = be.gatherRows(h, rows);
      be.free(h);
      h = last;
    }
    if (fused && be.fusesMatrix!(this.#lmHead, this.config.dModel)) {
      const norm = { weight: this.#normF, eps: this.config.eps, groupSize: this.config.dModel };
      const logits = be.fusedLinear!(h, this.#lmHead, null, { norm }); // norm_f → lm_head, one kernel per part
      be.free(h);
      state.position += seqLen;
      return logits;
    }
    const hn = await run("norm_f", -1, () => be.rmsNorm(h, this.#normF, this.config.eps));
    be.free(h);
    const logits = await run("lm_head", -1, () => be.linear(hn, this.#lmHead)); // (rows, vocab)
    be.free(hn);
    state.position += seqLen;
    return logits;
  }

  /** Release every weight on the backend (the backend itself stays usable). */
  dispose(): void {
    if (this.#disposed) return;
    this.#disposed = true;
    for (const t of this.#owned) this.backend.free(t);
  }

  /** {@link MambaModel.dispose}, for `using model = MambaModel.load(…)`. */
  [Symbol.dispose](): void {
    this.dispose();
  }

  #check(): void {
    if (this.#disposed) throw new Error("MambaModel used after dispose()");
  }
}

function mergeHooks(a: ForwardHooks, b: ForwardHooks | undefined): ForwardHooks {
  if (!b) return a;
  return {
    begin: (c, l) => {
      a.begin?.(c, l);
      b.begin?.(c, l);
    },
    end: async (c, l) => {
      await b.end?.(c, l);
      await a.end?.(c, l);
    },
    capture: async (n, l, t) => {
      await a.capture?.(n, l, t);
      await b.capture?.(n, l, t);
    },
  };
}
