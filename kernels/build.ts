/**
 * Generates the kernels' TypeScript side from the `.wgsl` files, which stay the source of truth:
 *
 * - `kernels/generated/wgsl.ts`: every kernel `kernels/<name>.wgsl` as a string constant with its
 *   `#include "<file>.wgsl"` lines resolved (from `kernels/include/`), so one import works in Deno, browsers and
 *   bundlers and no directive reaches the device;
 * - `kernels/generated/kernels.ts`: per kernel its `struct Params` fields (name, type, byte offset), its storage
 *   bindings (name, access), its override defaults and literal constants, TypeScript types of the uniform record
 *   and the binding record (`KernelParams`, `KernelBindings`, `KernelOverrides`), and the literal constants of the
 *   include files (tile and workgroup sizes the TypeScript halves need).
 *
 * An include file is inlined once per kernel (a second `#include` of it is dropped), may include others, and must
 * not declare an entry point. Missing includes, include cycles, `Params` members other than u32 / i32 / f32 and
 * bindings that break the convention (`@binding(0)` the uniform `Params`, storage from `@binding(1)` on without
 * gaps) fail the build with a message naming the file.
 *
 *   deno run -A kernels/build.ts           write the modules
 *   deno run -A kernels/build.ts --check   exit 1 when a module is stale
 *
 * @module
 */

const dir = new URL(".", import.meta.url);
const includeDir = new URL("./include/", dir);
const outputs = {
  wgsl: new URL("./generated/wgsl.ts", dir),
  kernels: new URL("./generated/kernels.ts", dir),
  kernel_types: new URL("./generated/kernel_types.ts", dir),
};

/** A field of `struct Params`. */
export interface FieldMeta {
  name: string;
  type: "u32" | "i32" | "f32";
  offset: number;
}

/** A storage binding. */
export interface BindingMeta {
  name: string;
  binding: number;
  access: "read" | "read_write";
}

/** What the build reads from one kernel's resolved source. */
export interface KernelMeta {
  params: FieldMeta[];
  storage: BindingMeta[];
  /** `override` declarations with their default values (bool as 0 / 1). */
  overrides: Record<string, number>;
  /** Module-scope `const` declarations whose value the build can evaluate. */
  constants: Record<string, number>;
}

/** A module-scope constant of an include file, exported to TypeScript. */
export interface SharedConstant {
  name: string;
  value: number;
  file: string;
  doc: string;
}

const INCLUDE = /^#include\s+"([\w./-]+\.wgsl)"\s*$/;

function stripComments(src: string): string {
  return src.replace(/\/\*[\s\S]*?\*\//g, "").replace(/\/\/.*$/gm, "");
}

/**
 * `src` (the file `file`) with its `#include` lines replaced by the included files (`includes`: by file name),
 * each file at most once (`seen`).
 *
 * @throws Error naming the file for a missing include, a cycle, an unknown directive or an included entry point.
 */
export function resolveIncludes(
  file: string,
  src: string,
  includes: Record<string, string>,
  seen = new Set<string>(),
  stack: string[] = [file],
): string {
  return src.split("\n").map((line, i) => {
    if (!line.startsWith("#")) return line;
    const m = line.match(INCLUDE);
    if (!m) throw new Error(`${file}:${i + 1}: unknown directive ${JSON.stringify(line)} (expected #include "x.wgsl")`);
    const name = m[1];
    const path = `kernels/include/${name}`;
    if (stack.includes(path)) throw new Error(`include cycle: ${[...stack, path].join(" → ")}`);
    if (seen.has(name)) return `// (include ${name}: already included)`;
    const text = includes[name];
    if (text === undefined) throw new Error(`${file}:${i + 1}: #include "${name}": no such file ${path}`);
    if (/@compute\b/.test(stripComments(text))) throw new Error(`${path}: an include file declares no entry point`);
    seen.add(name);
    const body = resolveIncludes(path, text, includes, seen, [...stack, path]).trimEnd();
    return `// ---- begin include ${name} ----\n${body}\n// ---- end include ${name} ----`;
  }).join("\n");
}

/** The value of a WGSL constant expression the build understands: a literal or an already known name. */
function evaluate(expr: string, known: Record<string, number>): number | null {
  const e = expr.trim();
  if (e === "true") return 1;
  if (e === "false") return 0;
  const lit = e.match(/^(-?(?:\d+\.?\d*|\.\d+)(?:e[+-]?\d+)?)[uif]?$/i);
  if (lit) return Number(lit[1]);
  return /^\w+$/.test(e) && e in known ? known[e] : null;
}

/** Module-scope `const` / `override` declarations of a resolved source (unindented lines), in order. */
function declarations(code: string): { kind: string; name: string; expr: string | null }[] {
  const out = [];
  for (const m of code.matchAll(/^(const|override)\s+(\w+)\s*(?::\s*[\w<>]+\s*)?(?:=\s*([^;]+))?;/gm)) {
    out.push({ kind: m[1], name: m[2], expr: m[3] ?? null });
  }
  return out;
}

/**
 * Read a kernel's uniform block, bindings, overrides and constants from its resolved source.
 *
 * @throws Error naming `file` when the source breaks the binding convention or `Params` has an unsupported member.
 */
export function parseKernel(file: string, resolved: string): KernelMeta {
  const code = stripComments(resolved);
  if (!/@compute\b/.test(code)) throw new Error(`${file}: no @compute entry point`);
  const struct = code.match(/\bstruct\s+Params\s*\{([^}]*)\}/);
  if (!struct) throw new Error(`${file}: no struct Params (the uniform block at @binding(0))`);
  const params: FieldMeta[] = [];
  for (const member of struct[1].split(",").map((s) => s.trim()).filter(Boolean)) {
    const m = member.match(/^(\w+)\s*:\s*(.+)$/);
    const type = m?.[2].trim();
    if (!m || (type !== "u32" && type !== "i32" && type !== "f32")) {
      throw new Error(`${file}: struct Params member "${member}" is not supported (only u32, i32 and f32 fields)`);
    }
    params.push({ name: m[1], type, offset: 4 * params.length });
  }
  const decl = new RegExp(
    String.raw`@group\((\d+)\)\s*@binding\((\d+)\)\s*var\s*<\s*(uniform|storage)\s*(?:,\s*(read|read_write)\s*)?>` +
      String.raw`\s*(\w+)\s*:\s*([^;]+);`,
    "g",
  );
  const storage: BindingMeta[] = [];
  let uniform = false;
  for (const m of code.matchAll(decl)) {
    const [group, binding, space, access, name, type] = [+m[1], +m[2], m[3], m[4] ?? "read", m[5], m[6].trim()];
    if (group !== 0) throw new Error(`${file}: ${name} is in @group(${group}); every binding is in @group(0)`);
    if (space === "uniform") {
      if (binding !== 0 || type !== "Params" || uniform) {
        throw new Error(`${file}: the one uniform binding is @group(0) @binding(0) var<uniform> p: Params`);
      }
      uniform = true;
    } else {
      storage.push({ name, binding, access: access as "read" | "read_write" });
    }
  }
  if (!uniform) throw new Error(`${file}: no @group(0) @binding(0) var<uniform> p: Params`);
  storage.sort((a, b) => a.binding - b.binding);
  storage.forEach((s, i) => {
    if (s.binding !== i + 1) throw new Error(`${file}: storage bindings must run from @binding(1) without gaps`);
  });
  const overrides: Record<string, number> = {}, constants: Record<string, number> = {};
  for (const d of declarations(code)) {
    const v = d.expr === null ? null : evaluate(d.expr, { ...constants, ...overrides });
    if (d.kind === "override") {
      if (v === null) throw new Error(`${file}: override ${d.name} needs a literal default (or a known const)`);
      overrides[d.name] = v;
    } else if (v !== null) constants[d.name] = v;
  }
  return { params, storage, overrides, constants };
}

/** The literal module-scope constants of the include files (names must be unique across them). */
export function sharedConstants(includes: Record<string, string>): SharedConstant[] {
  const out: SharedConstant[] = [];
  for (const file of Object.keys(includes).sort()) {
    for (const line of includes[file].split("\n")) {
      const m = line.match(/^const\s+(\w+)\s*(?::\s*\w+\s*)?=\s*([^;]+);\s*(?:\/\/\s*(.*))?$/);
      const value = m ? evaluate(m[2], {}) : null;
      if (!m || value === null) continue;
      const prior = out.find((c) => c.name === m[1]);
      if (prior) throw new Error(`kernels/include/${file}: const ${m[1]} is also declared in ${prior.file}`);
      out.push({ name: m[1], value, file: `kernels/include/${file}`, doc: m[3] ?? "" });
    }
  }
  return out;
}

const HEADER = "// @generated by deno task build:wgsl — do not edit";
const pascal = (k: string) => k.split("_").map((w) => w[0].toUpperCase() + w.slice(1)).join("");
const doc = (text: string) => `/** ${text.replaceAll("*/", "*\\/")} */`;

/** `kernels/generated/wgsl.ts` for the resolved kernel sources (sorted by name: deterministic output). */
export function renderWgsl(sources: Record<string, string>): string {
  const names = Object.keys(sources).sort();
  return [
    HEADER,
    "// WGSL sources of kernels/*.wgsl, includes resolved, as string constants (kernels/build.ts).",
    "",
    "/** WGSL source of every kernel, by file name without `.wgsl`. */",
    "export const WGSL = {",
    ...names.flatMap((n) => [`  ${JSON.stringify(n)}:`, `    ${JSON.stringify(sources[n])},`]),
    "} as const;",
    "",
    "/** Name of a kernel (a file `kernels/<name>.wgsl`). */",
    "export type KernelName = keyof typeof WGSL;",
    "",
  ].join("\n");
}

/** `kernels/generated/kernels.ts` for the kernels' metadata and the shared constants. */
export function renderKernels(metas: Record<string, KernelMeta>, shared: SharedConstant[]): string {
  const names = Object.keys(metas).sort();
  const obj = (r: Record<string, number>) => `{ ${Object.entries(r).map(([k, v]) => `${k}: ${v}`).join(", ")} }`;
  const lines = [
    HEADER,
    "// Uniform blocks, bindings and constants of kernels/*.wgsl and kernels/include/*.wgsl (kernels/build.ts).",
    "",
    ...shared.flatMap((
      c,
    ) => [doc(`${c.doc ? `${c.doc} ` : ""}(\`${c.name}\` of ${c.file}).`), `export const ${c.name} = ${c.value};`]),
    "",
    "/**",
    " * Layout of every kernel: `Params` fields (WGSL order, byte offsets), storage bindings, overrides, constants.",
    " */",
    "export const KERNELS = {",
  ];
  /** Items on one line when they fit in 120 columns at `indent`, else one per line. */
  const list = (open: string, items: string[], close: string, indent: string) => {
    const one = `${indent}${open}${items.join(", ")}${close}`;
    if (one.length <= 120 || items.length === 0) return [one];
    return [`${indent}${open.trimEnd()}`, ...items.map((x) => `${indent}  ${x},`), `${indent}${close.trimStart()}`];
  };
  for (const n of names) {
    const m = metas[n];
    lines.push(
      `  ${n}: {`,
      ...list(
        "params: [",
        m.params.map((f) => `{ name: "${f.name}", type: "${f.type}", offset: ${f.offset} }`),
        "],",
        "    ",
      ),
      ...list(
        "storage: [",
        m.storage.map((s) => `{ name: "${s.name}", binding: ${s.binding}, access: "${s.access}" }`),
        "],",
        "    ",
      ),
      `    overrides: ${obj(m.overrides)},`,
      `    constants: ${obj(m.constants)},`,
      "  },",
    );
  }
  lines.push("} as const;", "");
  return lines.join("\n");
}

/** `kernels/generated/kernel_types.ts`: the uniform, binding and override record types of every kernel. */
export function renderKernelTypes(metas: Record<string, KernelMeta>): string {
  const names = Object.keys(metas).sort();
  const lines = [
    HEADER,
    "// Record types of the uniforms, bindings and overrides of kernels/*.wgsl (kernels/build.ts).",
    "",
    'import type { Slice } from "../slice.ts";',
    "",
  ];
  for (const n of names) {
    const m = metas[n], P = pascal(n), src = `kernels/${n}.wgsl`;
    const type = (name: string, xs: string[]) => {
      if (xs.length === 0) return [`export type ${name} = Record<never, never>;`];
      const one = `export interface ${name} { ${xs.join("; ")} }`;
      return one.length <= 120 ? [one] : [`export interface ${name} {`, ...xs.map((x) => `  ${x};`), "}"];
    };
    lines.push(
      doc(`The uniform record of ${src}: its \`struct Params\` fields by WGSL name.`),
      ...type(`${P}Params`, m.params.map((f) => `readonly ${f.name}: number`)),
      doc(`The storage bindings of ${src} by WGSL name (\`@binding(1)\` on).`),
      ...type(`${P}Bindings`, m.storage.map((s) => `readonly ${s.name}: Slice`)),
      doc(`The override constants of ${src} (each optional: the WGSL default applies).`),
      ...type(`${P}Overrides`, Object.keys(m.overrides).map((o) => `readonly ${o}?: number`)),
      "",
    );
  }
  const map = (what: string, suffix: string) => [
    doc(`${what} of each kernel.`),
    `export interface Kernel${suffix} {`,
    ...names.map((n) => `  ${n}: ${pascal(n)}${suffix};`),
    "}",
  ];
  lines.push(...map("The uniform record", "Params"), ...map("The binding record", "Bindings"));
  lines.push(...map("The override constants", "Overrides"), "");
  return lines.join("\n");
}

async function readDir(url: URL): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for await (const e of Deno.readDir(url)) {
    if (e.isFile && e.name.endsWith(".wgsl")) {
      out[e.name] = (await Deno.readTextFile(new URL(e.name, url))).replaceAll("\r\n", "\n");
    }
  }
  return out;
}

/** The text of both generated modules for the current `.wgsl` files. */
export async function generate(): Promise<{ wgsl: string; kernels: string; kernel_types: string; count: number }> {
  const files = await readDir(dir), includes = await readDir(includeDir);
  const sources: Record<string, string> = {}, metas: Record<string, KernelMeta> = {};
  for (const [file, src] of Object.entries(files)) {
    const name = file.slice(0, -5);
    sources[name] = resolveIncludes(`kernels/${file}`, src, includes);
    metas[name] = parseKernel(`kernels/${file}`, sources[name]);
  }
  return {
    wgsl: await format(renderWgsl(sources)),
    kernels: await format(renderKernels(metas, sharedConstants(includes))),
    kernel_types: await format(renderKernelTypes(metas)),
    count: Object.keys(sources).length,
  };
}

/** `deno fmt` of a TypeScript text with the project's settings (the generated code passes `deno fmt --check`). */
async function format(text: string): Promise<string> {
  const root = new URL("..", dir);
  const child = new Deno.Command(Deno.execPath(), {
    args: ["fmt", "--config", new URL("deno.json", root).pathname, "--ext", "ts", "-"],
    cwd: root,
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const writer = child.stdin.getWriter();
  await writer.write(new TextEncoder().encode(text));
  await writer.close();
  const { code, stdout, stderr } = await child.output();
  if (code !== 0) throw new Error(`deno fmt of the generated code failed: ${new TextDecoder().decode(stderr)}`);
  return new TextDecoder().decode(stdout);
}

if (import.meta.main) {
  let out;
  try {
    out = await generate();
  } catch (e) {
    console.error(`kernels/build.ts: ${(e as Error).message}`);
    Deno.exit(1);
  }
  if (Deno.args.includes("--check")) {
    for (const key of ["wgsl", "kernels", "kernel_types"] as const) {
      const current = await Deno.readTextFile(outputs[key]).catch(() => ""); // missing counts as stale
      if (current !== out[key]) {
        console.error(`kernels/generated/${key}.ts is stale: run \`deno run -A kernels/build.ts\``);
        Deno.exit(1);
      }
    }
    console.log("kernels/generated/ is up to date");
  } else {
    await Deno.mkdir(new URL("./generated/", dir), { recursive: true });
    for (const key of ["wgsl", "kernels", "kernel_types"] as const) await Deno.writeTextFile(outputs[key], out[key]);
    console.log(`wrote kernels/generated/{wgsl,kernels,kernel_types}.ts (${out.count} kernels)`);
  }
}
