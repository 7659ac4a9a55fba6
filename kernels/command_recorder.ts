/**
 * The command recorder: one command encoder per submit, the compute passes in it (one shared pass when untimed; a
 * pass per scope or kernel with `timestamp-query` writes when timed), submission when the host waits or every N
 * dispatches, the timestamp readbacks behind the {@link PassTimer}, and buffers destroyed once their last use has
 * been submitted.
 *
 * @module
 */

import type { PassTimer, PassTiming } from "../runtime/backend.ts";
import { MAP_READ, READBACK, U } from "./gpu_flags.ts";

/** Compute passes timed per submit (2 timestamps each). */
const MAX_TIMED_PASSES = 2048;

/** The descriptor of the one compute pass per submit (between copies) when passes are not timed. */
const UNTIMED_PASS: GPUComputePassDescriptor = { label: "perfmamba.compute" };

/** What the recorder calls back into. */
export interface RecorderHooks {
  /** Throws when the backend may not submit (disposed, device lost); called first by `flush`. */
  check(): void;
  /** Called just before each submit (e.g. to write the upload arena). */
  beforeSubmit(): void;
  /** Called with each buffer just before a deferred destroy (e.g. to drop cached bind groups). */
  onDestroy(buffer: GPUBuffer): void;
  /** Waits for a GPU promise, failing instead of hanging when the device is lost. */
  wait<T>(p: Promise<T>, what: string): Promise<T>;
}

/** Records the passes of a forward into one encoder and submits it. */
export class CommandRecorder {
  readonly #device: GPUDevice;
  readonly #hooks: RecorderHooks;
  readonly #dispatchesPerSubmit: number;
  readonly #querySet: GPUQuerySet | null = null;
  readonly #resolveBuffer: GPUBuffer | null = null;
  /** The pass timer, when the device can time passes. */
  readonly passTimer?: PassTimer;

  #encoder: GPUCommandEncoder | null = null;
  #pass: GPUComputePassEncoder | null = null;
  #passLabel: string | null = null;
  #dispatches = 0;
  #deferredDestroy: GPUBuffer[] = [];
  #timing: boolean;
  /** Device clock of the first timed pass (timings are reported from it). */
  #clockBase: bigint | null = null;
  #passLabels: string[] = [];
  #pendingTimings: Promise<PassTiming[]>[] = [];
  /** The label of passes recorded from now on (null: one pass per kernel, labelled with its name). */
  scope: string | null = null;

  /**
   * @param canTime whether passes are timed (timestamps requested and the device has `timestamp-query`).
   * @param dispatchesPerSubmit dispatches recorded before the encoder is submitted without a read.
   */
  constructor(device: GPUDevice, hooks: RecorderHooks, canTime: boolean, dispatchesPerSubmit: number) {
    this.#device = device;
    this.#hooks = hooks;
    this.#timing = canTime;
    this.#dispatchesPerSubmit = dispatchesPerSubmit;
    if (!canTime) return;
    // deno-lint-ignore no-this-alias
    const self = this;
    this.passTimer = {
      get enabled(): boolean {
        return self.#timing;
      },
      set enabled(on: boolean) {
        if (on !== self.#timing) self.flush(); // passes recorded so far keep their mode
        self.#timing = on;
      },
      setScope: (label) => this.scope = label,
      timings: () => this.timings(),
    };
    this.#querySet = device.createQuerySet({ type: "timestamp", count: 2 * MAX_TIMED_PASSES, label: "timestamps" });
    this.#resolveBuffer = device.createBuffer({
      size: 2 * MAX_TIMED_PASSES * 8,
      usage: U.QUERY_RESOLVE | U.COPY_SRC,
      label: "timestamps.resolve",
    });
  }

  /** Whether passes are being timed now. */
  get timing(): boolean {
    return this.#timing;
  }

  /** Whether work is recorded and not yet submitted. */
  get pending(): boolean {
    return this.#encoder !== null;
  }

  /** The encoder of the current submit, for copies and clears (end the pass first: {@link endPass}). */
  encoder(): GPUCommandEncoder {
    return this.#encoder ??= this.#device.createCommandEncoder({ label: "perfmamba.forward" });
  }

  /** End the open compute pass, if any (before a copy or clear). */
  endPass(): void {
    if (this.#pass) {
      this.#pass.end();
      this.#pass = null;
      this.#passLabel = null;
    }
  }

  /** The compute pass for a dispatch labelled `label` (the scope, or the kernel's label). */
  passFor(label: string): GPUComputePassEncoder {
    if (this.#pass) {
      // Untimed: every dispatch between two copies/clears shares one pass (each dispatch is its own usage scope,
      // so ordering and visibility are the same as with a pass per op). Timed: a pass per scope, or per kernel
      // when no scope is set, since a pass's timestampWrites are the only portable per-op timing.
      if (!this.#timing) return this.#pass;
      if (this.#passLabel === label && this.scope !== null) return this.#pass;
    }
    this.endPass();
    if (!this.#timing) {
      this.#pass = this.encoder().beginComputePass(UNTIMED_PASS);
      this.#passLabel = UNTIMED_PASS.label!;
      return this.#pass;
    }
    if (this.#passLabels.length >= MAX_TIMED_PASSES) this.flush();
    const q = 2 * this.#passLabels.length;
    const desc: GPUComputePassDescriptor = {
      label,
      timestampWrites: { querySet: this.#querySet!, beginningOfPassWriteIndex: q, endOfPassWriteIndex: q + 1 },
    };
    this.#passLabels.push(label);
    this.#pass = this.encoder().beginComputePass(desc);
    this.#passLabel = label;
    return this.#pass;
  }

  /** Count a recorded dispatch; submits when the encoder holds `dispatchesPerSubmit`. */
  dispatched(): void {
    if (++this.#dispatches >= this.#dispatchesPerSubmit) this.flush();
  }

  /** Destroy buffers after the submit of the work recorded so far (at once when nothing is recorded). */
  destroyAfterSubmit(buffers: readonly GPUBuffer[]): void {
    this.#deferredDestroy.push(...buffers);
    if (!this.#encoder) this.#flushDeferred();
  }

  /** Submit the recorded work without waiting for it. */
  flush(): void {
    this.#hooks.check();
    if (!this.#encoder) return;
    this.endPass();
    const enc = this.#encoder;
    let readback: GPUBuffer | null = null;
    const labels = this.#passLabels;
    if (labels.length > 0) {
      const bytes = labels.length * 16;
      readback = this.#device.createBuffer({ size: bytes, usage: READBACK, label: "timestamps.readback" });
      enc.resolveQuerySet(this.#querySet!, 0, labels.length * 2, this.#resolveBuffer!, 0);
      enc.copyBufferToBuffer(this.#resolveBuffer!, 0, readback, 0, bytes);
    }
    this.#hooks.beforeSubmit();
    this.#device.queue.submit([enc.finish()]);
    this.#encoder = null;
    this.#dispatches = 0;
    this.#passLabels = [];
    this.#flushDeferred();
    if (readback) {
      const timings = this.#readTimings(readback, labels);
      timings.catch(() => {}); // a failure (device lost) is reported by timings(), not as an unhandled rejection
      this.#pendingTimings.push(timings);
    }
  }

  async #readTimings(rb: GPUBuffer, labels: string[]): Promise<PassTiming[]> {
    let t: BigUint64Array;
    try {
      await this.#hooks.wait(rb.mapAsync(MAP_READ), "timestamp readback");
      t = new BigUint64Array(rb.getMappedRange().slice(0));
    } finally {
      rb.destroy();
    }
    const base = this.#clockBase ??= t[0];
    const ms = (v: bigint) => Number(v - base) / 1e6;
    return labels.map((label, i) => ({
      label,
      ms: Number(t[2 * i + 1] - t[2 * i]) / 1e6,
      start: ms(t[2 * i]),
      end: ms(t[2 * i + 1]),
    }));
  }

  /** Timings of every pass recorded since the last call (submits pending work first). */
  async timings(): Promise<PassTiming[]> {
    this.flush();
    const pending = this.#pendingTimings;
    this.#pendingTimings = [];
    return (await Promise.all(pending)).flat();
  }

  /** Destroy buffers whose last use has been submitted. */
  #flushDeferred(): void {
    for (const b of this.#deferredDestroy) {
      this.#hooks.onDestroy(b);
      b.destroy();
    }
    this.#deferredDestroy = [];
  }

  /** Drop the recorded work and destroy what the recorder owns. */
  dispose(): void {
    this.#pass = null;
    this.#encoder = null;
    this.#pendingTimings = [];
    for (const b of this.#deferredDestroy) b.destroy();
    this.#deferredDestroy = [];
    this.#querySet?.destroy();
    this.#resolveBuffer?.destroy();
  }
}
