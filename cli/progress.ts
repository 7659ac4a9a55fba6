/**
 * A progress bar on stderr for long sweeps: redrawn in place on a terminal, one line per new stage otherwise
 * (CI logs), nothing when disabled.
 */

/** What {@link progressBar} returns: call `update` per tick, `done` at the end. */
export interface ProgressBar {
  update(done: number, total: number, label: string): void;
  done(): void;
}

const WIDTH = 28;

function eta(ms: number): string {
  const s = Math.round(ms / 1000);
  return s >= 60 ? `${Math.floor(s / 60)}m${String(s % 60).padStart(2, "0")}s` : `${s}s`;
}

/** A progress bar writing to stderr (a no-op when `enabled` is false). */
export function progressBar(enabled = true): ProgressBar {
  const tty = Deno.stderr.isTerminal();
  const enc = new TextEncoder();
  const write = (s: string) => Deno.stderr.writeSync(enc.encode(s));
  const t0 = performance.now();
  let lastLabel = "";
  let drawn = false;
  return {
    update(done, total, label) {
      if (!enabled) return;
      const frac = total > 0 ? Math.min(1, done / total) : 1;
      const elapsed = performance.now() - t0;
      const left = done > 0 ? (elapsed / done) * (total - done) : 0;
      if (tty) {
        const fill = Math.round(frac * WIDTH);
        const bar = "█".repeat(fill) + "░".repeat(WIDTH - fill);
        write(
          `\r\x1b[2K${bar} ${String(Math.round(frac * 100)).padStart(3)}% ${done}/${total} ${label} · ETA ${eta(left)}`,
        );
        drawn = true;
      } else if (label !== lastLabel) {
        write(`[${String(Math.round(frac * 100)).padStart(3)}%] ${label}\n`);
      }
      lastLabel = label;
    },
    done() {
      if (enabled && tty && drawn) write("\r\x1b[2K");
    },
  };
}
