/**
 * Memory checks before allocating: a model's bytes in a storage format (the cost model's byte counters) plus,
 * when a pass is named, its state and an activation estimate, set against a backend's limits — WASM's fixed memory
 * (`capabilities.maxMemoryBytes` less what is live), WebGPU's per-binding limit (`maxBindingSize`: every matrix
 * part holds whole rows, every vector is bound whole). What cannot fit is a {@link ModelTooLargeError} naming the
 * size, the limit and what would fit instead, never an out-of-memory crash half-way through an upload.
 *
 * @module
 */

import type { Backend, QuantFormat } from "./backend.ts";
import { QUANT_BLOCK_BYTES } from "./backend.ts";
import type { MambaConfig } from "./config.ts";
import { convChannels, inProjWidth, layerStateSize } from "./config.ts";
import { padDtRankConfig } from "./dt_rank_pad.ts";
import { componentStateBytes, componentWeightBytes, quantizedMatrixBytes } from "./cost.ts";

/**
 * How a model's matrices are stored: f32, f16 (WebGPU) or block-quantized (q8_0 / q4_0, embedding kept f32).
 *
 * @example
 * ```ts
 * import { modelFootprint, presetConfig, type WeightStorage } from "@perfmamba/perfmamba";
 * const storage: WeightStorage = "f16";
 * console.log(modelFootprint(presetConfig("mamba2", "130m"), storage).storage); // f16
 * ```
 */
export type WeightStorage = "f32" | "f16" | QuantFormat;

/**
 * Every {@link WeightStorage}, largest first.
 *
 * @example
 * ```ts
 * import { modelFootprint, presetConfig, WEIGHT_STORAGES } from "@perfmamba/perfmamba";
 * const c = presetConfig("mamba1", "130m");
 * console.log(WEIGHT_STORAGES.map((s) => (modelFootprint(c, s).weightBytes / 2 ** 20).toFixed(0))); // [ "493", "248", "246", "205" ]
 * ```
 */
export const WEIGHT_STORAGES: readonly WeightStorage[] = ["f32", "f16", "q8_0", "q4_0"];

/**
 * What a model needs, in bytes (see {@link modelFootprint}).
 *
 * @example
 * ```ts
 * import { type ModelFootprint, modelFootprint, presetConfig } from "@perfmamba/perfmamba";
 * const f: ModelFootprint = modelFootprint(presetConfig("mamba1", "130m"), "f32", { batch: 1, seqLen: 512 });
 * console.log(f.totalBytes === f.weightBytes + f.stateBytes + f.activationBytes); // true
 * ```
 */
export interface ModelFootprint {
  /** The storage format counted. */
  storage: WeightStorage;
  /** Every weight as stored (a tied lm_head once). */
  weightBytes: number;
  /** The recurrent state of the pass's batch (0 without a pass). */
  stateBytes: number;
  /** An estimate of the pass's live activations (0 without a pass). */
  activationBytes: number;
  /** The sum of the three. */
  totalBytes: number;
  /** The widest matrix row as stored (what one binding must hold at least). */
  largestRowBytes: number;
  /** The largest vector or small tensor (bound whole). */
  largestVectorBytes: number;
}

/**
 * A pass to count state and activations for: `batch` sequences of `seqLen` tokens.
 *
 * @example
 * ```ts
 * import { modelFootprint, type PassShape, presetConfig } from "@perfmamba/perfmamba";
 * const pass: PassShape = { batch: 1, seqLen: 16 };
 * console.log(modelFootprint(presetConfig("mamba1", "130m"), "f32", pass).stateBytes); // 2801664
 * ```
 */
export interface PassShape {
  batch: number;
  seqLen: number;
}

/** Whether `storage` block-quantizes matrices whose rows are `k` wide (the rule of `quantizeWeights`). */
function quantizes(storage: WeightStorage, k: number): storage is QuantFormat {
  return (storage === "q8_0" || storage === "q4_0") && k % 32 === 0;
}

/**
 * The bytes `config` needs stored as `storage`, and for `pass` if given. Quantized storage follows
 * `quantizeWeights`' defaults: the projections whose rows are a multiple of 32 wide hold blocks, the embedding,
 * lm_head, vectors and the rest stay f32. Activations are an estimate: every per-token row of one layer's forward
 * (in_proj's output, four d_inner-wide rows, three residual-wide rows) for the whole pass, and one row of logits
 * per sequence.
 *
 * @example
 * ```ts
 * import { modelFootprint, presetConfig } from "@perfmamba/perfmamba";
 * const c = presetConfig("mamba1", "2.8b");
 * const gib = (b: number) => (b / 2 ** 30).toFixed(2);
 * console.log(gib(modelFootprint(c, "f32").weightBytes), gib(modelFootprint(c, "q8_0").weightBytes)); // 10.31 3.11
 * ```
 */
export function modelFootprint(original: MambaConfig, storage: WeightStorage, pass?: PassShape): ModelFootprint {
  // Quantized, a Mamba-1 Δ rank is zero-padded to whole blocks first, as quantizeWeights does.
  const config = storage === "q8_0" || storage === "q4_0" ? padDtRankConfig(original) : original;
  const base = storage === "f16" ? 2 : 4;
  const d = config.dModel, D = config.dInner;
  const formats: Record<string, QuantFormat> = {};
  if (storage === "q8_0" || storage === "q4_0") {
    if (quantizes(storage, d)) formats.in_proj = storage;
    if (quantizes(storage, D)) formats.x_proj = formats.out_proj = storage;
    if (quantizes(storage, config.dtRank)) formats.dt_proj = storage;
  }
  // A quantized model holds A_log, conv1d and D in f16 (runtime/half_params.ts).
  const weights = componentWeightBytes(
    config,
    quantizedMatrixBytes(base, formats, Object.keys(formats).length > 0 ? 2 : 4),
  );
  const weightBytes = Object.values(weights).reduce((a, b) => a + b, 0);
  const rowBytes = (k: number) =>
    quantizes(storage, k) ? (k / 32) * QUANT_BLOCK_BYTES[storage] + 2 : base === 2 ? Math.ceil(k / 2) * 4 : 4 * k;
  let largestRowBytes = rowBytes(d), largestVectorBytes = 4 * d;
  for (let l = 0; l < config.nLayer; l++) {
    const N = layerStateSize(config, l);
    largestRowBytes = Math.max(largestRowBytes, rowBytes(D), rowBytes(config.dtRank));
    const vectors = [inProjWidth(config, l), convChannels(config, l) * config.dConv, D];
    if (config.arch === "mamba1") vectors.push(D * N);
    for (const v of vectors) largestVectorBytes = Math.max(largestVectorBytes, 4 * v);
  }
  let stateBytes = 0, activationBytes = 0;
  if (pass) {
    stateBytes = Object.values(componentStateBytes(config, pass.batch)).reduce((a, b) => a + b, 0);
    const T = pass.batch * pass.seqLen;
    activationBytes = 4 * T * (inProjWidth(config, 0) + 4 * D + 3 * d) + 4 * pass.batch * config.vocabSize;
  }
  return {
    storage,
    weightBytes,
    stateBytes,
    activationBytes,
    totalBytes: weightBytes + stateBytes + activationBytes,
    largestRowBytes,
    largestVectorBytes,
  };
}

/**
 * A model that cannot fit a backend: thrown before anything is allocated. `message` is one line naming the model,
 * its size, the limit and what would fit instead.
 *
 * @example
 * ```ts
 * import { checkModelFits, ModelTooLargeError, presetConfig, selectBackend } from "@perfmamba/perfmamba";
 * const backend = await selectBackend("wasm", { threads: 1 });
 * try {
 *   checkModelFits(presetConfig("mamba1", "2.8b"), backend);
 * } catch (e) {
 *   if (!(e instanceof ModelTooLargeError)) throw e;
 *   console.log(e.limit, (e.neededBytes / 2 ** 30).toFixed(2), e.fits); // memory 10.31 [ "q8_0", "q4_0" ]
 * }
 * backend.dispose();
 * ```
 */
export class ModelTooLargeError extends Error {
  override name = "ModelTooLargeError";
  constructor(
    message: string,
    /** Bytes the model (or its largest row or vector, for a binding limit) needs. */
    readonly neededBytes: number,
    /** The limit it exceeds, in bytes. */
    readonly limitBytes: number,
    /** Which limit: the backend's total memory, or one binding. */
    readonly limit: "memory" | "binding",
    /** The storage formats that would fit this backend. */
    readonly fits: WeightStorage[],
  ) {
    super(message);
  }
}

/**
 * Options of {@link checkModelFits}.
 *
 * @example
 * ```ts
 * import { type FitOptions, modelFitProblem, presetConfig, selectBackend } from "@perfmamba/perfmamba";
 * const backend = await selectBackend("wasm", { threads: 1 });
 * const options: FitOptions = { storage: "q4_0", pass: { batch: 1, seqLen: 512 } };
 * console.log(modelFitProblem(presetConfig("mamba2", "2.8b"), backend, options)); // null
 * backend.dispose();
 * ```
 */
export interface FitOptions {
  /** How the matrices will be stored (default: the backend's `capabilities.weightFormat`). */
  storage?: WeightStorage;
  /** Count this pass's state and activations too (default: the weights alone). */
  pass?: PassShape;
}

function gib(bytes: number): string {
  return bytes >= 2 ** 30 ? `${(bytes / 2 ** 30).toFixed(2)} GiB` : `${(bytes / 2 ** 20).toFixed(1)} MiB`;
}

/** A short name for a config: "mamba1 d_model 2560 × 64 layers (2.77 B parameters)". */
function describe(config: MambaConfig): string {
  const params = modelFootprint(config, "f32").weightBytes / 4;
  const p = params >= 1e9 ? `${(params / 1e9).toFixed(2)} B` : `${(params / 1e6).toFixed(0)} M`;
  return `${config.arch} d_model ${config.dModel} × ${config.nLayer} layers (${p} parameters)`;
}

/** The flag-free name of a storage format in messages. */
const STORAGE_NAME: Record<WeightStorage, string> = { f32: "f32", f16: "f16", q8_0: "q8", q4_0: "q4" };

/**
 * What stops `config` (stored as `storage`, with `pass` if given) from fitting `backend`, or null when it fits.
 * The storages this backend can hold are `backend.capabilities.weightFormats` and its `quantFormats`.
 *
 * @example
 * ```ts
 * import { modelFitProblem, presetConfig, selectBackend } from "@perfmamba/perfmamba";
 * const backend = await selectBackend("wasm", { threads: 1 });
 * const c = presetConfig("mamba2", "1.4b");
 * console.log(modelFitProblem(c, backend, { storage: "f32" })?.limit, modelFitProblem(c, backend, { storage: "q8_0" })); // memory null
 * backend.dispose();
 * ```
 */
export function modelFitProblem(
  config: MambaConfig,
  backend: Backend,
  options: FitOptions = {},
): { limit: "memory" | "binding"; neededBytes: number; limitBytes: number; footprint: ModelFootprint } | null {
  const storage = options.storage ?? backend.capabilities.weightFormat;
  const f = modelFootprint(config, storage, options.pass);
  const max = backend.capabilities.maxMemoryBytes;
  if (max !== undefined) {
    const available = max - backend.memory().liveBytes;
    if (f.totalBytes > available) {
      return { limit: "memory", neededBytes: f.totalBytes, limitBytes: available, footprint: f };
    }
  }
  const binding = backend.maxBindingSize;
  if (binding !== undefined) {
    const widest = Math.max(f.largestRowBytes, f.largestVectorBytes);
    if (widest > binding) return { limit: "binding", neededBytes: widest, limitBytes: binding, footprint: f };
  }
  return null;
}

/** The storages `backend` can hold at all. */
function storagesOf(backend: Backend): WeightStorage[] {
  const c = backend.capabilities;
  return WEIGHT_STORAGES.filter((s) =>
    s === "f32" || s === "f16" ? c.weightFormats.includes(s) : c.quantFormats.includes(s)
  );
}

/**
 * Throw a {@link ModelTooLargeError} when `config` cannot fit `backend` (see {@link modelFitProblem}); else return
 * its footprint. `MambaModel.fromSource` (and so `load`) calls it with the weights alone before uploading.
 *
 * @example
 * ```ts
 * import { checkModelFits, presetConfig, selectBackend } from "@perfmamba/perfmamba";
 * const backend = await selectBackend("wasm", { threads: 1 });
 * const f = checkModelFits(presetConfig("mamba1", "2.8b"), backend, { storage: "q4_0", pass: { batch: 1, seqLen: 512 } });
 * console.log((f.totalBytes / 2 ** 30).toFixed(2)); // 1.98
 * backend.dispose();
 * ```
 */
export function checkModelFits(config: MambaConfig, backend: Backend, options: FitOptions = {}): ModelFootprint {
  const storage = options.storage ?? backend.capabilities.weightFormat;
  const problem = modelFitProblem(config, backend, { ...options, storage });
  if (!problem) return modelFootprint(config, storage, options.pass);
  const fits = storagesOf(backend).filter((s) => !modelFitProblem(config, backend, { ...options, storage: s }));
  const others = fits.filter((s) => s !== storage).map((s) =>
    `--weights ${STORAGE_NAME[s]} (${gib(modelFootprint(config, s, options.pass).totalBytes)})`
  );
  if (!backend.capabilities.weightFormats.includes("f16") && storage !== "f16") {
    others.push(`f16 weights on the webgpu backend (${gib(modelFootprint(config, "f16", options.pass).weightBytes)})`);
  }
  others.push(
    problem.limit === "memory" ? "the webgpu backend (no fixed memory limit)" : "the wasm backend (no binding limit)",
  );
  if (problem.limit === "memory" && options.pass) others.push("a smaller batch or fewer tokens per pass");
  const what = problem.limit === "memory"
    ? `needs ${gib(problem.neededBytes)} (${STORAGE_NAME[storage]} weights ${gib(problem.footprint.weightBytes)}` +
      (options.pass ? ` + state and activations for ${options.pass.batch} × ${options.pass.seqLen} tokens` : "") +
      `) but the ${backend.name} backend can hold ${gib(problem.limitBytes)}` +
      (backend.memory().liveBytes > 0 ? " more" : "") + " (its fixed memory limit)"
    : `has a ${STORAGE_NAME[storage]} row or vector of ${problem.neededBytes} bytes, over the ${backend.name} ` +
      `backend's ${problem.limitBytes}-byte storage binding limit`;
  throw new ModelTooLargeError(
    `${describe(config)} ${what}; instead: ${others.join(", or ")}`,
    problem.neededBytes,
    problem.limitBytes,
    problem.limit,
    fits,
  );
}
