/**
 * The messages between the page and the engine, and the two ways to reach an engine with the same API: on the main
 * thread ({@link mainThreadEngine}) or in a dedicated Web Worker ({@link workerEngine}, entry worker.ts).
 *
 * Page → worker: `{ id, method, params }` (method "cancel" has no reply). Worker → page: `{ id, event }` while a
 * request runs, then `{ id, result }` or `{ id, error }`.
 *
 * @module
 */

import type { ProfileReport } from "../../mod.ts";
import {
  Engine,
  type EngineEvent,
  type GenerateRequest,
  type GenerateResult,
  type LoadInfo,
  type LoadRequest,
  type LogitsResult,
  type ProfileRequest,
} from "./engine.ts";

/** The engine's API as the page sees it (every call may stream events). */
export interface EngineApi {
  /** "main" or "worker". */
  readonly thread: string;
  load(req: LoadRequest): Promise<LoadInfo>;
  generate(req: GenerateRequest, onEvent: (e: EngineEvent) => void): Promise<GenerateResult>;
  profile(req: ProfileRequest, onEvent: (e: EngineEvent) => void): Promise<ProfileReport>;
  logits(ids: number[]): Promise<LogitsResult>;
  cancel(): void;
  /** Releases the model and backend (and ends the worker). */
  dispose(): void;
}

/** Methods a worker answers. */
export type Method = "load" | "generate" | "profile" | "logits" | "cancel" | "dispose";

/** Page → worker. */
export interface Request {
  id: number;
  method: Method;
  params: unknown;
}

/** Worker → page. */
export type Reply =
  | { id: number; event: EngineEvent }
  | { id: number; result: unknown }
  | { id: number; error: { message: string; stack?: string } };

/** The engine on the calling (main) thread: the page blocks while WASM computes. */
export function mainThreadEngine(): EngineApi {
  const engine = new Engine("main");
  return {
    thread: "main",
    load: (req) => engine.load(req),
    generate: (req, onEvent) => engine.generate(req, onEvent),
    profile: (req, onEvent) => engine.profile(req, onEvent),
    logits: (ids) => engine.logits(ids),
    cancel: () => engine.cancel(),
    dispose: () => engine.dispose(),
  };
}

/** The engine in a dedicated module worker started from `url` (worker.js of the bundle). */
export function workerEngine(url: URL): EngineApi {
  const worker = new Worker(url, { type: "module", name: "perfmamba-engine" });
  let next = 1;
  const pending = new Map<
    number,
    { resolve(v: unknown): void; reject(e: Error): void; onEvent?: (e: EngineEvent) => void }
  >();
  const failAll = (message: string) => {
    for (const p of pending.values()) p.reject(new Error(message));
    pending.clear();
  };
  worker.onmessage = (ev: MessageEvent<Reply>) => {
    const msg = ev.data;
    const p = pending.get(msg.id);
    if (!p) return;
    if ("event" in msg) p.onEvent?.(msg.event);
    else {
      pending.delete(msg.id);
      if ("result" in msg) p.resolve(msg.result);
      else {
        const e = new Error(msg.error.message);
        if (msg.error.stack) e.stack = msg.error.stack;
        p.reject(e);
      }
    }
  };
  worker.onerror = (ev: ErrorEvent) => {
    ev.preventDefault();
    failAll(`engine worker failed: ${ev.message || "script error (see the console)"}`);
  };
  worker.onmessageerror = () => failAll("engine worker: a message could not be deserialised");
  const call = <T>(method: Method, params: unknown, onEvent?: (e: EngineEvent) => void): Promise<T> =>
    new Promise<T>((resolve, reject) => {
      const id = next++;
      pending.set(id, { resolve: resolve as (v: unknown) => void, reject, onEvent });
      worker.postMessage({ id, method, params } satisfies Request);
    });
  return {
    thread: "worker",
    load: (req) => call("load", req),
    generate: (req, onEvent) => call("generate", req, onEvent),
    profile: (req, onEvent) => call("profile", req, onEvent),
    logits: (ids) => call("logits", ids),
    cancel: () => worker.postMessage({ id: 0, method: "cancel", params: null } satisfies Request),
    dispose: () => {
      worker.postMessage({ id: 0, method: "dispose", params: null } satisfies Request);
      failAll("engine worker disposed");
      // Give the worker a moment to release its GPU device and WASM workers, then end it.
      setTimeout(() => worker.terminate(), 1000);
    },
  };
}
