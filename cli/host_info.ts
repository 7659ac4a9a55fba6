/**
 * What the CLI knows of the host for a report (`HostInfo`): the git commit of the checkout it runs from, the CPU
 * model and logical cores, the runtime, and the GPU adapter's info on a GPU backend (the runtime's
 * `webGpuAdapterInfo`; `bench --json` uses this too).
 */
import { cpus } from "node:os";
import { fileURLToPath } from "node:url";
import { type Backend, type HostInfo, webGpuAdapterInfo } from "../mod.ts";

/**
 * The commit of the checkout this program runs from (`git rev-parse HEAD` in its folder), or null: not a checkout
 * (an installed package, a remote URL), or no git.
 */
export async function gitCommit(): Promise<string | null> {
  const here = new URL(".", import.meta.url);
  if (here.protocol !== "file:") return null;
  try {
    const out = await new Deno.Command("git", {
      args: ["rev-parse", "HEAD"],
      cwd: fileURLToPath(here),
      stdout: "piped",
      stderr: "null",
    }).output();
    const text = new TextDecoder().decode(out.stdout).trim();
    return out.success && /^[0-9a-f]{7,64}$/.test(text) ? text : null;
  } catch {
    return null;
  }
}

/** The CPU's model name (node:os, i.e. /proc/cpuinfo on Linux) and logical cores. */
export function cpuInfo(): HostInfo["cpu"] {
  const list = cpus();
  const model = list[0]?.model?.trim() || null;
  const cores = list.length || navigator.hardwareConcurrency || null;
  return { model, logicalCores: cores };
}

/** Everything above, and the runtime (Deno and its version). */
export async function hostInfo(backend: Backend): Promise<HostInfo> {
  return {
    git: await gitCommit(),
    cpu: cpuInfo(),
    gpu: backend.capabilities.queued ? await webGpuAdapterInfo() : null,
    runtime: { name: "deno", version: Deno.version.deno },
  };
}
