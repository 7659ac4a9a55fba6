/**
 * A {@link CheckpointSource} over a local directory, for Deno (needs `--allow-read`).
 *
 * @module
 */

import type { CheckpointSource } from "../mod.ts";

/** `dir/name` (a trailing slash of `dir` is not doubled). */
function pathOf(dir: string, name: string): string {
  return dir.endsWith("/") ? `${dir}${name}` : `${dir}/${name}`;
}

/** Wraps a Deno file-system error with the full path. */
function fsError(path: string, e: unknown): Error {
  if (e instanceof Deno.errors.NotFound) return new Error(`${path}: no such file`);
  return new Error(`${path}: cannot read (${(e as Error).message})`);
}

/**
 * A checkpoint directory on the local file system.
 *
 * @param dir path of the directory holding config.json and the weights
 * @returns a source whose errors name full paths
 * @throws Error when `dir` does not exist, is not a directory, or has no config.json
 */
export function dirSource(dir: string): CheckpointSource {
  let info: Deno.FileInfo;
  try {
    info = Deno.statSync(dir);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) throw new Error(`${dir}: no such checkpoint directory`);
    throw fsError(dir, e);
  }
  if (!info.isDirectory) throw new Error(`${dir}: not a directory (expected a checkpoint directory)`);
  const config = pathOf(dir, "config.json");
  try {
    Deno.statSync(config);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) throw new Error(`${dir}: no config.json (not a model checkpoint directory)`);
    throw fsError(config, e);
  }
  return {
    describe: () => dir,
    async list(): Promise<string[]> {
      const names: string[] = [];
      for await (const entry of Deno.readDir(dir)) if (entry.isFile) names.push(entry.name);
      return names.sort();
    },
    async readText(name: string): Promise<string> {
      const path = pathOf(dir, name);
      try {
        return await Deno.readTextFile(path);
      } catch (e) {
        throw fsError(path, e);
      }
    },
    async readBytes(name: string): Promise<Uint8Array> {
      const path = pathOf(dir, name);
      try {
        return await Deno.readFile(path);
      } catch (e) {
        throw fsError(path, e);
      }
    },
    async exists(name: string): Promise<boolean> {
      try {
        return (await Deno.stat(pathOf(dir, name))).isFile;
      } catch (e) {
        if (e instanceof Deno.errors.NotFound) return false;
        throw fsError(pathOf(dir, name), e);
      }
    },
  };
}
