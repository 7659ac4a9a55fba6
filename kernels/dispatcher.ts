/**
 * Records one {@link Program}: checks its uniform and binding records against the kernel's WGSL (generated
 * layout), gets its pipeline and bind group from the caches, packs its uniforms into the upload arena and encodes
 * the dispatch in the recorder's current pass.
 *
 * Two modes change that: `debug` wraps each dispatch (pipeline, bind group, its own submit) in a validation error
 * scope so a GPU validation error surfaces, at the next read or sync, as an Error naming the kernel and label;
 * and planning ({@link Dispatcher.plan}) records the pipelines programs would use without dispatching them.
 *
 * @module
 */

import type { BindGroupCache } from "./bind_group_cache.ts";
import type { CommandRecorder } from "./command_recorder.ts";
import type { PipelineCache, PipelineSpec } from "./pipeline_cache.ts";
import { GEMV_MAX_ROWS } from "./generated/kernels.ts";
import { checkBindings, paramBytes, pipelineKey, type Program, writeParams } from "./program.ts";
import type { UploadArena } from "./upload_arena.ts";

/**
 * A test hook: `backend[RAW_DISPATCH](program)` records a program as is, without an op's argument checks (to
 * provoke GPU validation errors). Not part of the public API.
 */
export const RAW_DISPATCH: unique symbol = Symbol("perfmamba.webgpu.rawDispatch");

/** What a dispatcher records with. */
export interface DispatcherParts {
  device: GPUDevice;
  pipelines: PipelineCache;
  bindGroups: BindGroupCache;
  arena: UploadArena;
  recorder: CommandRecorder;
  /** Offset alignment of uniform blocks in the arena. */
  uniformAlign: number;
  /** Wrap each dispatch in a validation error scope (see the module doc). */
  debug: boolean;
}

/** Records programs for one backend. */
export class Dispatcher {
  readonly #p: DispatcherParts;
  /** The dynamic offset array handed to `setBindGroup` (one element, rewritten per dispatch). */
  readonly #dynamicOffset: number[] = [0];
  /** Validation errors of debug dispatches not yet reported: `kernel (label): message`, or null. */
  #scopes: Promise<string | null>[] = [];
  /** Pipelines used while planning (null: not planning). */
  #plan: Map<string, PipelineSpec> | null = null;
  /** A scratch to check uniforms into while planning. */
  readonly #scratch = new DataView(new ArrayBuffer(1024));
  /** Dispatches recorded so far (planning records none). */
  count = 0;

  constructor(parts: DispatcherParts) {
    this.#p = parts;
  }

  /** Record one program. */
  run(p: Program): void {
    const { device, pipelines, bindGroups, arena, recorder, debug } = this.#p;
    checkBindings(p.kernel, p.label, p.bindings);
    const uSize = paramBytes(p.kernel);
    if (this.#plan) {
      writeParams(this.#scratch, 0, uSize, p.kernel, p.label, p.uniforms);
      const key = pipelineKey(p.kernel, p.constants);
      if (!this.#plan.has(key)) this.#plan.set(key, { kernel: p.kernel, constants: { ...p.constants } });
      if (p.kernel === "gemv" || p.kernel === "gemv_q") {
        // The unfused GEMV's row count is its pipeline constant ROWS, and a prompt of up to GEMV_MAX_ROWS tokens
        // (or another batch) takes another: plan every count, so that none compiles at first use.
        for (let rows = 1; rows <= GEMV_MAX_ROWS; rows++) {
          const constants = { ...p.constants, ROWS: rows };
          const k = pipelineKey(p.kernel, constants);
          if (!this.#plan.has(k)) this.#plan.set(k, { kernel: p.kernel, constants });
        }
      }
      return;
    }
    if (debug) device.pushErrorScope("validation");
    const pipe = pipelines.get(p);
    const page = arena.reserve(uSize, this.#p.uniformAlign);
    const uOffset = page.used - uSize;
    writeParams(page.view, uOffset, uSize, p.kernel, p.label, p.uniforms);
    const bindGroup = bindGroups.get(pipe, p, page.buffer, uSize);
    const pass = recorder.passFor(recorder.scope ?? p.label);
    pass.setPipeline(pipe.pipeline);
    this.#dynamicOffset[0] = uOffset;
    pass.setBindGroup(0, bindGroup, this.#dynamicOffset);
    const wg = p.workgroups;
    pass.dispatchWorkgroups(wg[0], wg[1], wg[2]);
    this.count++;
    if (!debug) return recorder.dispatched();
    // Pass and encoder errors surface at finish / submit: submit inside the scope.
    try {
      recorder.flush();
    } finally {
      const where = `${p.kernel} (${p.label})`;
      this.#scopes.push(device.popErrorScope().then((e) => e ? `${where}: ${e.message}` : null));
    }
  }

  /**
   * Throw the validation errors of debug dispatches recorded so far, naming their kernels (none: resolves).
   *
   * @param wait races the error scopes against the loss of the device (they may never settle on a lost one)
   */
  async throwErrors(wait: <T>(p: Promise<T>, what: string) => Promise<T>): Promise<void> {
    if (this.#scopes.length === 0) return;
    const scopes = this.#scopes;
    this.#scopes = [];
    const errors = (await wait(Promise.all(scopes), "debug error scopes")).filter((e) => e !== null);
    if (errors.length > 0) throw new Error(`WebGPU validation error in kernel ${errors.join("; ")}`);
  }

  /**
   * Run `fn` with dispatches recorded as pipeline specs instead of being encoded (everything else, e.g. allocation
   * and copies, runs as usual), and return the specs of the pipelines that do not exist yet.
   */
  async plan(fn: () => unknown): Promise<PipelineSpec[]> {
    if (this.#plan) throw new Error("plan: already planning");
    this.#p.recorder.flush(); // work recorded before runs as usual
    this.#plan = new Map();
    try {
      await fn();
      return [...this.#plan.values()].filter((s) => !this.#p.pipelines.has(s));
    } finally {
      this.#plan = null;
    }
  }
}
