/**
 * The recurrent inference state of a Mamba model: per layer, the causal-conv window and the SSM state.
 *
 * A state is explicit and cloneable so that callers can fork a prompt into several continuations, checkpoint a
 * conversation, or compare decode step by step against a full prefill.
 *
 * @module
 */

import type { Backend, Tensor } from "./backend.ts";
import type { MambaConfig } from "./config.ts";
import { convChannels, layerStateSize } from "./config.ts";

/** Shape of one layer's SSM state for a batch. */
export function ssmStateShape(config: MambaConfig, layer: number, batch: number): number[] {
  const n = layerStateSize(config, layer);
  return config.arch === "mamba1" ? [batch, config.dInner, n] : [batch, config.nHeads, config.headDim, n];
}

/**
 * Conv windows and SSM states of every layer for `batch` sequences, on one backend.
 *
 * Its size does not grow with the sequence: a Mamba model's whole memory of the past is this state. Get one from
 * `MambaModel.newState` or `MambaModel.prefill`; `clone` forks it.
 *
 * @example
 * ```ts
 * import { argmax, makeConfig, MambaModel, selectBackend, syntheticWeights } from "@perfmamba/perfmamba";
 *
 * const config = makeConfig("mamba2", { dModel: 32, nLayer: 2, vocabSize: 64, dState: 8, headDim: 16 });
 * const backend = await selectBackend("wasm", { threads: 1 });
 * const model = MambaModel.load(syntheticWeights(config, 2), backend);
 * const { logits, state } = await model.prefill([1, 2, 3, 4], { lastOnly: true });
 * console.log(state.position, state.batch, state.bytes); // 4 1 6016
 *
 * // Fork the prompt's state into two continuations; each advances independently.
 * const fork = state.clone();
 * const a = await model.step([argmax(logits.data)], state);
 * const b = await model.step([argmax(logits.data)], fork);
 * console.log(state.position, fork.position, a.data[0] === b.data[0]); // 5 5 true
 *
 * fork.reset(); // back to the empty context, reusing the memory
 * console.log(fork.position); // 0
 * state.dispose();
 * fork.dispose();
 * model.dispose();
 * backend.dispose();
 * ```
 */
export class InferenceState implements Disposable {
  /** Per layer, `[batch, C, K − 1]`: the last K − 1 conv inputs, oldest first. */
  readonly conv: Tensor[];
  /** Per layer, `[batch, D, N]` (Mamba-1) or `[batch, H, P, N]` (Mamba-2). */
  readonly ssm: Tensor[];
  /** Tokens consumed per sequence since the state was zero. */
  position: number;
  #disposed = false;

  private constructor(
    readonly backend: Backend,
    readonly config: MambaConfig,
    readonly batch: number,
    conv: Tensor[],
    ssm: Tensor[],
    position: number,
  ) {
    this.conv = conv;
    this.ssm = ssm;
    this.position = position;
  }

  /** A zero state (the state before any token) for `batch` sequences. */
  static zeros(backend: Backend, config: MambaConfig, batch: number): InferenceState {
    const conv: Tensor[] = [];
    const ssm: Tensor[] = [];
    for (let l = 0; l < config.nLayer; l++) {
      conv.push(backend.zeros([batch, convChannels(config, l), config.dConv - 1], `state.conv.${l}`));
      ssm.push(backend.zeros(ssmStateShape(config, l, batch), `state.ssm.${l}`));
    }
    return new InferenceState(backend, config, batch, conv, ssm, 0);
  }

  /** An independent copy: advancing one does not change the other. */
  clone(): InferenceState {
    this.#check();
    return new InferenceState(
      this.backend,
      this.config,
      this.batch,
      this.conv.map((t) => this.backend.copy(t)),
      this.ssm.map((t) => this.backend.copy(t)),
      this.position,
    );
  }

  /** Back to the zero state, reusing the memory. */
  reset(): void {
    this.#check();
    for (const t of [...this.conv, ...this.ssm]) this.backend.fill0(t);
    this.position = 0;
  }

  /** Bytes held on the backend. */
  get bytes(): number {
    return [...this.conv, ...this.ssm].reduce((s, t) => s + 4 * t.size, 0);
  }

  /** Whether dispose() was called. */
  get disposed(): boolean {
    return this.#disposed;
  }

  /** Release the backend memory. */
  dispose(): void {
    if (this.#disposed) return;
    this.#disposed = true;
    for (const t of [...this.conv, ...this.ssm]) this.backend.free(t);
  }

  /** {@link InferenceState.dispose}, for `using state = model.newState()`. */
  [Symbol.dispose](): void {
    this.dispose();
  }

  #check(): void {
    if (this.#disposed) throw new Error("InferenceState used after dispose()");
  }
}
