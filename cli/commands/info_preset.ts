/**
 * `info --size SIZE`: a published shape's parameters and memory in every storage format (f32, f16, q8, q4), and
 * which backends can hold it (`modelFitProblem` against this machine's WASM and WebGPU backends).
 */
import {
  type Arch,
  type Backend,
  componentStateBytes,
  modelFitProblem,
  modelFootprint,
  PRESET_SIZES,
  presetConfig,
  selectBackend,
  WEIGHT_STORAGES,
  type WeightStorage,
} from "../../mod.ts";
import { UsageError } from "../args.ts";

const NAME: Record<WeightStorage, string> = { f32: "f32", f16: "f16", q8_0: "q8", q4_0: "q4" };

function gib(bytes: number): string {
  return bytes >= 2 ** 30 ? `${(bytes / 2 ** 30).toFixed(2)} GiB` : `${(bytes / 2 ** 20).toFixed(1)} MiB`;
}

/** Whether `backend` can hold `storage` at all (f16 is WebGPU's; the block formats are listed by capability). */
function holds(backend: Backend, s: WeightStorage): boolean {
  const c = backend.capabilities;
  return s === "f32" || s === "f16"
    ? c.weightFormats.includes(s) // the formats it can be created with
    : c.quantFormats.includes(s);
}

/** Print the preset table (or JSON) for `arches` at `size`. */
export async function presetInfo(arches: Arch[], size: string, format: "table" | "json"): Promise<void> {
  if (!(PRESET_SIZES as readonly string[]).includes(size)) {
    throw new UsageError(`--size must be one of ${PRESET_SIZES.join(", ")}, got "${size}"`);
  }
  const backends: { name: string; backend: Backend | null; why: string }[] = [];
  for (const kind of ["wasm", "webgpu"] as const) {
    try {
      backends.push({ name: kind, backend: await selectBackend(kind, { threads: 1 }), why: "" });
    } catch (e) {
      backends.push({ name: kind, backend: null, why: (e as Error).message.split("\n")[0] });
    }
  }
  try {
    const out = arches.map((arch) => {
      const config = presetConfig(arch, size);
      const storages = WEIGHT_STORAGES.map((s) => {
        const fits: Record<string, string> = {};
        for (const { name, backend, why } of backends) {
          if (!backend) fits[name] = `unavailable (${why})`;
          else if (!holds(backend, s)) fits[name] = `no ${NAME[s]} weights`;
          else {
            const p = modelFitProblem(config, backend, { storage: s });
            // Without a fixed memory size (WebGPU) only the binding limits are known: the device's memory is not.
            fits[name] = !p
              ? backend.capabilities.maxMemoryBytes === undefined ? "fits its binding limits" : "fits"
              : p.limit === "memory"
              ? `too large (limit ${gib(p.limitBytes)})`
              : `a tensor over the ${p.limitBytes}-byte binding limit`;
          }
        }
        return { storage: NAME[s], weight_bytes: modelFootprint(config, s).weightBytes, fits };
      });
      return {
        arch,
        size,
        d_model: config.dModel,
        n_layer: config.nLayer,
        parameters: modelFootprint(config, "f32").weightBytes / 4,
        state_bytes_per_sequence: Object.values(componentStateBytes(config, 1)).reduce((a, b) => a + b, 0),
        storages,
      };
    });
    if (format === "json") {
      console.log(JSON.stringify(out, null, 2));
      return;
    }
    for (const m of out) {
      console.log(
        `${m.arch} ${m.size}: d_model ${m.d_model}, ${m.n_layer} layers, ${
          m.parameters.toLocaleString("en-US")
        } parameters, state ${gib(m.state_bytes_per_sequence)} per sequence`,
      );
      const rows = [["weights", "bytes", ...backends.map((b) => b.name)]];
      for (const s of m.storages) rows.push([s.storage, gib(s.weight_bytes), ...backends.map((b) => s.fits[b.name])]);
      const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
      for (const r of rows) console.log("  " + r.map((c, i) => c.padEnd(widths[i])).join("  ").trimEnd());
    }
  } finally {
    for (const { backend } of backends) backend?.dispose();
  }
}
