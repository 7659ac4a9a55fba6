/**
 * The rule that chooses a backend — WebGPU on a hardware adapter, else WASM — over factories it is handed: the
 * runtime names no concrete backend (`selectBackend` in `backends.ts` wires them in).
 *
 * @module
 */

import type { Backend, WeightFormat } from "./backend.ts";

/**
 * Backends this build can run, besides "auto".
 *
 * @example
 * ```ts
 * import { BACKEND_KINDS } from "@perfmamba/perfmamba";
 *
 * const requested = "wasm";
 * if (!(BACKEND_KINDS as readonly string[]).includes(requested)) throw new Error(`no backend ${requested}`);
 * console.log(BACKEND_KINDS); // [ "webgpu", "wasm" ]
 * ```
 */
export const BACKEND_KINDS = ["webgpu", "wasm"] as const;

/**
 * A backend name or "auto" (the best available).
 *
 * @example
 * ```ts
 * import { type BackendKind, selectBackend } from "@perfmamba/perfmamba";
 *
 * // e.g. from a `?backend=` query parameter; selectBackend rejects unknown names with a RangeError.
 * const kind: BackendKind = "wasm";
 * const backend = await selectBackend(kind, { threads: 1 });
 * console.log(backend.name); // wasm
 * backend.dispose();
 * ```
 */
export type BackendKind = "auto" | typeof BACKEND_KINDS[number];

/**
 * What "auto" found: whether a WebGPU adapter exists and whether it is a software fallback.
 *
 * @example
 * ```ts
 * import { type GpuProbe, probeWebGpu } from "@perfmamba/perfmamba";
 *
 * const probe: GpuProbe = await probeWebGpu();
 * const choice = probe.adapter && !probe.fallback ? "webgpu" : "wasm"; // what selectBackend("auto") takes
 * console.log(choice, probe.detail); // e.g. wasm llvmpipe (LLVM 15.0.6, 256 bits)
 * ```
 */
export interface GpuProbe {
  /** An adapter was returned. */
  adapter: boolean;
  /** The adapter is a software rasteriser (isFallbackAdapter). */
  fallback: boolean;
  /** Adapter description, or why there is none. */
  detail: string;
}

/**
 * Ask for a WebGPU adapter without creating a device; never hangs (10 s limit). A page can use it to say which
 * backend "auto" will take, and why, before loading a model.
 *
 * @example
 * ```ts
 * import { probeWebGpu } from "@perfmamba/perfmamba";
 *
 * const probe = await probeWebGpu();
 * if (!probe.adapter) console.log(`WASM: no WebGPU here (${probe.detail})`);
 * else if (probe.fallback) console.log(`WASM: ${probe.detail} is a software adapter`);
 * else console.log(`WebGPU on ${probe.detail}`);
 * ```
 */
export async function probeWebGpu(): Promise<GpuProbe> {
  const gpu = (globalThis.navigator as Navigator | undefined)?.gpu;
  if (!gpu) return { adapter: false, fallback: false, detail: "navigator.gpu is undefined" };
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<null>((resolve) => timer = setTimeout(() => resolve(null), 10_000));
  try {
    const adapter = await Promise.race([gpu.requestAdapter().catch(() => null), timeout]);
    if (!adapter) return { adapter: false, fallback: false, detail: "requestAdapter() returned no adapter" };
    const info = adapter.info;
    // Adapters without a description (SwiftShader: vendor "google", architecture "swiftshader") are named by parts.
    const name = info.description || [info.vendor, info.architecture, info.device].filter(Boolean).join(" ");
    return { adapter: true, fallback: info.isFallbackAdapter, detail: name || "adapter" };
  } finally {
    clearTimeout(timer);
  }
}

/**
 * What "auto" takes given a {@link probeWebGpu} result, and why: WebGPU on a hardware adapter (or on a software one
 * when `allowFallbackAdapter`), else WASM. `selectBackend("auto")` decides with this; a page can show the reason.
 *
 * @example
 * ```ts
 * import { autoBackend } from "@perfmamba/perfmamba";
 *
 * const swiftshader = { adapter: true, fallback: true, detail: "google swiftshader" };
 * console.log(autoBackend(swiftshader).kind); // wasm
 * console.log(autoBackend(swiftshader, true).reason); // auto chose WebGPU: software adapter (google swiftshader) allowed
 * ```
 */
export function autoBackend(
  probe: GpuProbe,
  allowFallbackAdapter = false,
): { kind: "webgpu" | "wasm"; reason: string } {
  if (!probe.adapter) return { kind: "wasm", reason: `auto chose WASM: no WebGPU adapter (${probe.detail})` };
  if (probe.fallback && !allowFallbackAdapter) {
    return {
      kind: "wasm",
      reason: `auto chose WASM: the WebGPU adapter (${probe.detail}) is a software fallback (isFallbackAdapter), ` +
        `which runs the kernels far slower than WASM SIMD on the same CPU`,
    };
  }
  return {
    kind: "webgpu",
    reason: probe.fallback
      ? `auto chose WebGPU: software adapter (${probe.detail}) allowed`
      : `auto chose WebGPU: hardware adapter (${probe.detail})`,
  };
}

/**
 * The backends a build can create, by kind. The composition root (`backends.ts` beside `mod.ts`) wires the WebGPU
 * and WASM backends in; the runtime itself knows neither.
 *
 * @example
 * ```ts
 * import { type BackendFactories, chooseBackend, selectBackend } from "@perfmamba/perfmamba";
 *
 * // A build that offers only the WASM backend: "auto" then always takes it.
 * const factories: BackendFactories = {
 *   webgpu: () => Promise.reject(new Error("this build has no WebGPU backend")),
 *   wasm: () => selectBackend("wasm", { threads: 1 }),
 * };
 * const backend = await chooseBackend("wasm", factories);
 * console.log(backend.name); // wasm
 * backend.dispose();
 * ```
 */
export interface BackendFactories {
  /** Creates the WebGPU backend (throws when WebGPU is unavailable). */
  webgpu(): Promise<Backend>;
  /** Creates the WASM backend. */
  wasm(): Promise<Backend>;
}

/**
 * What {@link chooseBackend} may be asked for besides the kind.
 *
 * @example
 * ```ts
 * import { type ChooseOptions, chooseBackend, selectBackend } from "@perfmamba/perfmamba";
 *
 * const options: ChooseOptions = { allowFallbackAdapter: false, weightFormat: "f32" };
 * const backend = await chooseBackend("wasm", { webgpu: () => selectBackend("webgpu"), wasm: () => selectBackend("wasm") }, options);
 * console.log(backend.capabilities.weightFormat); // f32
 * backend.dispose();
 * ```
 */
export interface ChooseOptions {
  /** "auto" also takes a software (fallback) WebGPU adapter. */
  allowFallbackAdapter?: boolean;
  /** A probe already made (else "auto" probes). */
  probe?: GpuProbe;
  /**
   * The weight storage the caller asked for: a backend named outright that cannot store it is refused with a
   * {@link BackendOptionError}; "auto" keeps the backend it chose (the factories fall back to f32).
   */
  weightFormat?: WeightFormat;
}

/**
 * A backend was named outright with an option it cannot honour (by its capabilities), e.g. f16 weight storage on a
 * backend that keeps f32 weights. `option` names the option, `backend` the backend.
 *
 * @example
 * ```ts
 * import { BackendOptionError, selectBackend } from "@perfmamba/perfmamba";
 *
 * try {
 *   await selectBackend("wasm", { f16Weights: true });
 * } catch (e) {
 *   if (!(e instanceof BackendOptionError)) throw e;
 *   console.log(e.option, e.backend); // weightFormat wasm
 *   console.log(e.message); // f16 weight storage is not available on the wasm backend (it stores f32 weights)
 * }
 * ```
 */
export class BackendOptionError extends RangeError {
  /**
   * @param option the option refused (a {@link ChooseOptions} field)
   * @param backend the backend's name
   * @param message what was asked and what the backend can do
   */
  constructor(readonly option: keyof ChooseOptions, readonly backend: string, message: string) {
    super(message);
    this.name = "BackendOptionError";
  }
}

/**
 * Create a backend of the given kind from `factories`: "webgpu" or "wasm" as named, "auto" by {@link autoBackend}
 * on a {@link probeWebGpu} result. Unknown kinds are a RangeError naming the supported ones; a backend named outright
 * whose capabilities lack the requested weight format is a {@link BackendOptionError}.
 *
 * @example
 * ```ts
 * import { chooseBackend, selectBackend } from "@perfmamba/perfmamba";
 *
 * const made: string[] = [];
 * const factories = {
 *   webgpu: () => {
 *     made.push("webgpu");
 *     return selectBackend("webgpu");
 *   },
 *   wasm: () => {
 *     made.push("wasm");
 *     return selectBackend("wasm", { threads: 1 });
 *   },
 * };
 * // No adapter here: "auto" takes WASM without calling the WebGPU factory.
 * const backend = await chooseBackend("auto", factories, { probe: { adapter: false, fallback: false, detail: "none" } });
 * console.log(made); // [ "wasm" ]
 * backend.dispose();
 * ```
 */
export async function chooseBackend(
  kind: BackendKind | string,
  factories: BackendFactories,
  options: ChooseOptions = {},
): Promise<Backend> {
  switch (kind) {
    case "auto": {
      const probe = options.probe ?? await probeWebGpu();
      return await factories[autoBackend(probe, options.allowFallbackAdapter).kind]();
    }
    case "webgpu":
    case "wasm": {
      const backend = await factories[kind]();
      const wanted = options.weightFormat;
      const formats = backend.capabilities.weightFormats;
      if (wanted && !formats.includes(wanted)) {
        backend.dispose();
        throw new BackendOptionError(
          "weightFormat",
          backend.name,
          `${wanted} weight storage is not available on the ${backend.name} backend (it stores ${
            formats.join(" or ")
          } weights)`,
        );
      }
      return backend;
    }
    default:
      throw new RangeError(`unknown backend "${kind}"; supported: auto, ${BACKEND_KINDS.join(", ")}`);
  }
}
