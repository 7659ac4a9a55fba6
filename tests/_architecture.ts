/**
 * The import rules of ARCHITECTURE.md as code: which room may import which, and no cycles outside tests/. Pure
 * functions over an import graph, so the test can run them on the project's own source and on planted graphs.
 *
 * @module
 */

/** Source files (repository-relative, "/" separators) → the repository-relative files each one imports. */
export type ImportGraph = Map<string, string[]>;

/** The room a file lives in: its top-level folder, or the root file's own name (mod.ts, backends.ts, build.ts). */
export function roomOf(file: string): string {
  const slash = file.indexOf("/");
  return slash < 0 ? file : file.slice(0, slash);
}

/**
 * Which rooms each room may import (besides itself). `public` stands for the package's entry points (deno.json
 * `exports`): what a user of the published package can import.
 */
export const ALLOWED: Record<string, readonly string[]> = {
  // The platform-neutral core names no concrete backend, no CLI, no example.
  "runtime": [],
  // Each backend implements runtime's Backend interface; neither knows the other.
  "kernels": ["runtime"],
  "wasm": ["runtime"],
  // The composition root wires the backends into the runtime's selection rule.
  "backends.ts": ["runtime", "kernels", "wasm"],
  // The public surface re-exports the runtime, the composition root and the backend types users name.
  "mod.ts": ["runtime", "backends.ts", "kernels", "wasm"],
  // The one build: runs the kernel, WASM and demo builds and packages the public surface.
  "build.ts": ["public", "kernels", "wasm", "runtime", "examples"],
  // Clients of the library: only what the package exports.
  "cli": ["public"],
  "examples": ["public"],
};

/** One broken rule: a forbidden arrow or a cycle, with the files involved. */
export interface Violation {
  kind: "forbidden" | "cycle" | "unknown-room";
  files: string[];
  message: string;
}

/**
 * Every violation of {@link ALLOWED} and every import cycle among non-test files. `publicFiles` are the package's
 * entry points (they count as room `public` for the rooms allowed to import only those).
 */
export function checkImports(graph: ImportGraph, publicFiles: ReadonlySet<string>): Violation[] {
  const out: Violation[] = [];
  for (const [from, targets] of graph) {
    const room = roomOf(from);
    if (room === "tests") continue;
    const allowed = ALLOWED[room];
    if (!allowed) {
      out.push({ kind: "unknown-room", files: [from], message: `${from}: room "${room}" has no import rules` });
      continue;
    }
    for (const to of targets) {
      const target = roomOf(to);
      if (target === room) continue;
      if (allowed.includes(target)) continue;
      if (allowed.includes("public") && publicFiles.has(to)) continue;
      const rooms = allowed.map((r) => r === "public" ? "the package's entry points (deno.json exports)" : r);
      const why = target === "tests"
        ? "product code may not import tests/"
        : `${room} may import ${rooms.length ? rooms.join(", ") : "only itself"}`;
      out.push({ kind: "forbidden", files: [from, to], message: `${from} imports ${to}: ${why}` });
    }
  }
  for (const cycle of findCycles(graph)) {
    out.push({ kind: "cycle", files: cycle, message: `import cycle: ${[...cycle, cycle[0]].join(" → ")}` });
  }
  return out;
}

/** Import cycles among non-test files (each reported once, starting at its smallest file name). */
export function findCycles(graph: ImportGraph): string[][] {
  const nodes = [...graph.keys()].filter((f) => roomOf(f) !== "tests").sort();
  const index = new Map<string, number>(), low = new Map<string, number>();
  const stack: string[] = [], onStack = new Set<string>();
  const cycles: string[][] = [];
  let next = 0;
  // Tarjan's strongly connected components; a component of more than one file (or a self-import) is a cycle.
  const visit = (v: string) => {
    index.set(v, next);
    low.set(v, next++);
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (roomOf(w) === "tests" || !graph.has(w)) continue;
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) === index.get(v)) {
      const scc: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        scc.push(w);
      } while (w !== v);
      if (scc.length > 1 || (graph.get(v) ?? []).includes(v)) cycles.push(cyclePath(graph, scc.sort()));
    }
  };
  for (const v of nodes) if (!index.has(v)) visit(v);
  return cycles;
}

/** One concrete cycle through a strongly connected component, from its first file back to it. */
function cyclePath(graph: ImportGraph, scc: string[]): string[] {
  const inScc = new Set(scc);
  const start = scc[0];
  // Breadth-first search for the shortest path from start back to start inside the component.
  const prev = new Map<string, string>();
  const queue = [start];
  while (queue.length) {
    const v = queue.shift()!;
    for (const w of graph.get(v) ?? []) {
      if (!inScc.has(w)) continue;
      if (w === start) {
        const path = [v];
        while (path[0] !== start) path.unshift(prev.get(path[0])!);
        return path;
      }
      if (!prev.has(w)) {
        prev.set(w, v);
        queue.push(w);
      }
    }
  }
  return scc;
}
