/**
 * Dedicated worker entry: runs an {@link Engine} off the main thread, so the page stays responsive while WASM
 * kernels compute. Messages are described in protocol.ts.
 *
 * @module
 */

import { Engine, type EngineEvent, type GenerateRequest, type LoadRequest, type ProfileRequest } from "./engine.ts";
import type { Reply, Request } from "./protocol.ts";

/** The worker's global scope, typed just as far as used here (the project's lib is the DOM's). */
const scope = globalThis as unknown as {
  onmessage: ((ev: MessageEvent<Request>) => void) | null;
  postMessage(message: Reply, transfer?: Transferable[]): void;
  close(): void;
};

const engine = new Engine("worker");

async function answer(msg: Request): Promise<void> {
  const emit = (event: EngineEvent) => scope.postMessage({ id: msg.id, event });
  try {
    let result: unknown;
    const transfer: Transferable[] = [];
    switch (msg.method) {
      case "load":
        result = await engine.load(msg.params as LoadRequest);
        break;
      case "generate":
        result = await engine.generate(msg.params as GenerateRequest, emit);
        break;
      case "profile":
        result = await engine.profile(msg.params as ProfileRequest, emit);
        break;
      case "logits": {
        const r = await engine.logits(msg.params as number[]);
        if (r.data.buffer instanceof ArrayBuffer) transfer.push(r.data.buffer);
        result = r;
        break;
      }
      default:
        throw new Error(`unknown method "${msg.method}"`);
    }
    scope.postMessage({ id: msg.id, result }, transfer);
  } catch (e) {
    const err = e instanceof Error ? e : new Error(String(e));
    scope.postMessage({ id: msg.id, error: { message: err.message, stack: err.stack } });
  }
}

scope.onmessage = (ev) => {
  const msg = ev.data;
  if (msg.method === "cancel") engine.cancel();
  else if (msg.method === "dispose") {
    engine.dispose();
    scope.close();
  } else void answer(msg);
};
