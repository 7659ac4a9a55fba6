/**
 * Runs fuzz cases in a worker so that the driver's watchdog can stop a case that hangs (even in a synchronous
 * loop). Messages out: `start` before each case, `done` after it, `end` when all ran.
 */
import { createWasmBackend } from "../../wasm/backend.ts";
import { KINDS } from "./_cases.ts";
import { cleanup, runCase } from "./_harness.ts";
import { Rng } from "./_rng.ts";
import { KIND_NAMES } from "./_cases.ts";

/** A request: cases [start, start + count) of each kind under one seed. */
export interface WorkerRequest {
  seed: number;
  plan: { kind: string; start: number; count: number }[];
}

// deno-lint-ignore no-explicit-any
const post = (m: unknown) => (self as any).postMessage(m);

// deno-lint-ignore no-explicit-any
(self as any).onmessage = async (ev: MessageEvent<WorkerRequest>) => {
  const { seed, plan } = ev.data;
  const backend = await createWasmBackend({ threads: 1 });
  try {
    for (const { kind, start, count } of plan) {
      const k = KIND_NAMES.indexOf(kind);
      for (let index = start; index < start + count; index++) {
        post({ t: "start", kind, index });
        const c = KINDS[kind].make(Rng.forCase(seed, k, index));
        let r;
        try {
          r = await runCase(c, backend);
        } catch (e) {
          r = {
            outcome: "refused",
            violations: [`harness error: ${(e as Error).stack}`],
            ms: 0,
            peakBytes: 0,
            inputBytes: 0,
          };
        }
        post({ t: "done", kind, index, mutation: c.mutation, via: c.via, expect: c.expect, ...r });
      }
    }
  } finally {
    backend.dispose();
    cleanup();
  }
  post({ t: "end" });
};
