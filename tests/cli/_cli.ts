/**
 * Run the CLI as a user does: `deno run -A cli/main.ts <args>` in a subprocess, capturing its output.
 *
 * @module
 */

/** Path of the CLI entry point. */
export const MAIN: string = new URL("../../cli/main.ts", import.meta.url).pathname;

/** Exit code and decoded output of one CLI run. */
export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Run the CLI with these arguments. */
export async function cli(...args: string[]): Promise<CliResult> {
  return await cliWith({}, ...args);
}

/** Run the CLI with these arguments, with extra environment variables and/or in another working directory. */
export async function cliWith(
  options: { env?: Record<string, string>; cwd?: string },
  ...args: string[]
): Promise<CliResult> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", MAIN, ...args],
    stdout: "piped",
    stderr: "piped",
    env: options.env,
    cwd: options.cwd,
  }).output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}
