/**
 * `demo`: runs both architectures on built-in 130m-shaped models with deterministic random weights (nothing to
 * download): prefill and decode speed, and a check that recurrent decode reproduces the parallel prefill — enforced:
 * a difference above {@link DECODE_TOLERANCE} fails the command (exit 1).
 */
import type { CommandSpec } from "../args.ts";
import { type Flags, numberFlag, parseCommand, UsageError } from "../args.ts";
import {
  argmax,
  makeConfig,
  type MambaConfig,
  MambaModel,
  mulberry32,
  presetConfig,
  syntheticWeights,
} from "../../mod.ts";
import { BACKEND_FLAGS, backendFromFlags, weightsForFlags } from "../load.ts";
import { parseDims } from "./profile.ts";

/**
 * Largest decode-vs-prefill difference accepted, relative to max(1, max |logit|): the same model run as a
 * recurrence (decode) and as a parallel scan (prefill) in f32 agrees to ~1e-5 on every backend; 1e-3 leaves room
 * for long prompts and f32 reassociation, and is still far below what a wrong state or token gives (≥ 1e-1).
 */
export const DECODE_TOLERANCE = 1e-3;

/**
 * Throws (naming the difference and the tolerance) when decode does not reproduce prefill: max |Δlogit| above
 * {@link DECODE_TOLERANCE} · max(1, max |logit|), or not a number.
 */
export function checkDecodeMatchesPrefill(what: string, maxDiff: number, maxRef: number): void {
  const bound = DECODE_TOLERANCE * Math.max(1, maxRef);
  if (!(maxDiff <= bound)) {
    throw new Error(
      `${what}: decode does not reproduce prefill: max |Δlogit| ${maxDiff.toExponential(2)} > tolerance ` +
        `${bound.toExponential(2)} (${DECODE_TOLERANCE} × max(1, max |logit| ${maxRef.toFixed(2)}))`,
    );
  }
}

export const spec: CommandSpec = {
  name: "demo",
  summary: "Run 130m-shaped Mamba-1 and Mamba-2 (built-in random weights): speed and decode = prefill check.",
  usage:
    "perfmamba demo [--size 130m | --dims d_model=64,n_layer=2] [--prompt-len 128] [--new-tokens 16] [--backend auto|webgpu|wasm]",
  flags: {
    size: { type: "string", help: "Published model shape", default: "130m" },
    dims: {
      type: "string",
      help: "Explicit shape instead of --size (d_model=,n_layer=,...; see profile --help), e.g. a tiny model",
    },
    "prompt-len": { type: "string", help: "Prompt tokens", default: "128" },
    "new-tokens": { type: "string", help: "Decode steps", default: "16" },
    ...BACKEND_FLAGS,
  },
};

export async function run(argv: string[]): Promise<void> {
  const flags = parseCommand(spec, argv);
  if (!flags) return;
  const promptLen = numberFlag(flags, "prompt-len", { integer: true, min: 2, max: 16384 })!;
  const newTokens = numberFlag(flags, "new-tokens", { integer: true, min: 1, max: 4096 })!;
  const backend = await backendFromFlags(flags);
  console.log(`backend: ${backend.name} — ${backend.description}`);
  try {
    for (const arch of ["mamba1", "mamba2"] as const) {
      const config = configFor(arch, flags);
      const t0 = performance.now();
      const model = MambaModel.load(weightsForFlags(syntheticWeights(config, 1), flags), backend);
      const loadMs = performance.now() - t0;
      const rand = mulberry32(7);
      const prompt = Array.from({ length: promptLen }, () => Math.floor(rand() * config.vocabSize));
      // Prefill all but the last token, then step it: must equal the full prefill's last row.
      const t1 = performance.now();
      const full = await model.prefill(prompt, { lastOnly: true });
      const prefillMs = performance.now() - t1;
      full.state.dispose();
      const { state } = await model.prefill(prompt.slice(0, -1), { lastOnly: true });
      const stepped = await model.step([prompt[promptLen - 1]], state);
      let maxDiff = 0, maxRef = 0;
      for (let i = 0; i < stepped.data.length; i++) {
        maxDiff = Math.max(maxDiff, Math.abs(stepped.data[i] - full.logits.data[i]));
        maxRef = Math.max(maxRef, Math.abs(full.logits.data[i]));
      }
      const label = typeof flags.dims === "string" ? flags.dims : flags.size;
      checkDecodeMatchesPrefill(`${arch} ${label}`, maxDiff, maxRef);
      const t2 = performance.now();
      let token = prompt[0];
      for (let i = 0; i < newTokens; i++) {
        token = argmax((await model.step([token], state)).data, model.config.tokenVocabSize);
      }
      const decodeMs = (performance.now() - t2) / newTokens;
      state.dispose();
      console.log(
        `${arch} ${label}: ${(model.parameterCount / 1e6).toFixed(1)}M params (loaded in ${loadMs.toFixed(0)} ms) | ` +
          `prefill ${promptLen} tokens ${prefillMs.toFixed(0)} ms (${
            (promptLen / prefillMs * 1000).toFixed(0)
          } tok/s) | ` +
          `decode ${decodeMs.toFixed(1)} ms/token (${(1000 / decodeMs).toFixed(1)} tok/s) | ` +
          `decode vs prefill max |Δlogit| ${maxDiff.toExponential(2)} (max |logit| ${maxRef.toFixed(2)})`,
      );
      model.dispose();
    }
  } finally {
    backend.dispose();
  }
}

function configFor(arch: "mamba1" | "mamba2", flags: Flags): MambaConfig {
  if (typeof flags.dims !== "string") return presetConfig(arch, flags.size as string);
  try {
    return makeConfig(arch, parseDims(flags.dims));
  } catch (e) {
    if (e instanceof UsageError) throw e;
    throw new UsageError(`--dims for ${arch}: ${(e as Error).message}`);
  }
}
