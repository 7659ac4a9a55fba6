/**
 * The PerfMamba command line: `deno run -A cli/main.ts <command> [flags]`.
 *
 * Exit codes: 0 success, 1 an error while running (bad file, bad tensor, …), 2 a usage error (bad flag).
 */
import { DeviceLostError, ModelTooLargeError } from "../mod.ts";
import { UsageError } from "./args.ts";
import { mayUseHugePages, relaunchWithHugePages } from "./huge_pages.ts";
import * as bench from "./commands/bench.ts";
import * as compare from "./commands/compare.ts";
import * as demo from "./commands/demo.ts";
import * as evaluate from "./commands/eval.ts";
import * as exporter from "./commands/export.ts";
import * as generate from "./commands/generate.ts";
import * as info from "./commands/info.ts";
import * as logits from "./commands/logits.ts";
import * as profile from "./commands/profile.ts";
import * as prune from "./commands/prune.ts";
import * as quantize from "./commands/quantize.ts";
import * as sweep from "./commands/sweep.ts";

const COMMANDS = {
  profile,
  compare,
  prune,
  quantize,
  sweep,
  demo,
  info,
  logits,
  generate,
  eval: evaluate,
  bench,
  export: exporter,
} as const;

function usage(): string {
  const lines = [
    "PerfMamba — Mamba-1 / Mamba-2 on WebAssembly SIMD and WebGPU",
    "",
    "Usage: perfmamba <command> [flags]",
    "",
    "Commands:",
  ];
  for (const [name, c] of Object.entries(COMMANDS)) lines.push(`  ${name.padEnd(10)}${c.spec.summary}`);
  lines.push("", "Run `perfmamba <command> --help` for a command's flags.");
  return lines.join("\n");
}

/**
 * The message printed for an error of a command. A lost GPU device (issue 14) adds how to go on: the command stopped
 * (nothing is switched to another backend mid-run); run it again, or on the CPU with `--backend wasm`.
 */
export function errorMessage(e: unknown): string {
  const m = `error: ${e instanceof Error ? e.message : String(e)}`;
  if (!(e instanceof DeviceLostError)) return m;
  return `${m}
The GPU device was lost (driver reset or crash, GPU taken by another process, out of memory); the ` +
    "command stopped without switching backends. Run it again, or on the CPU with `--backend wasm`.";
}

/** Run the CLI; returns the exit code. */
export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === "--help" || name === "-h" || name === "help") {
    console.log(usage());
    return 0;
  }
  const command = COMMANDS[name as keyof typeof COMMANDS];
  if (!command) {
    console.error(`error: unknown command "${name}"\n\n${usage()}`);
    return 2;
  }
  try {
    await command.run(rest);
    return 0;
  } catch (e) {
    if (e instanceof ModelTooLargeError) {
      console.error(`error: ${e.message}`); // one line: the size, the limit and what fits instead
      return 2;
    }
    if (e instanceof UsageError) {
      console.error(`error: ${e.message}\nRun \`perfmamba ${name} --help\` for usage.`);
      return 2;
    }
    console.error(errorMessage(e));
    if (Deno.env.get("PERFMAMBA_DEBUG") && e instanceof Error) console.error(e.stack);
    return 1;
  }
}

if (import.meta.main) {
  // Large WebGPU buffers on llvmpipe: relaunched once with huge pages for malloc (cli/huge_pages.ts).
  const why = mayUseHugePages(Deno.args) ? relaunchWithHugePages() : "not bench / profile on WebGPU";
  if (Deno.env.get("PERFMAMBA_DEBUG")) console.error(`huge pages: ${why}`);
  Deno.exit(await main(Deno.args));
}
