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

/** `n` bytes as B, kB, MB or GB (decimal, one decimal place). */
export function formatBytes(n: number): string {
  const units = ["B", "kB", "MB", "GB", "TB"];
  let i = 0;
  while (n >= 1000 && i < units.length - 1) {
    n /= 1000;
    i++;
  }
  return i === 0 ? `${n} B` : `${n.toFixed(1)} ${units[i]}`;
}

/** Options of {@link progressBar}. */
export interface ProgressOptions {
  /** Counts are bytes: shown as sizes with the transfer rate (downloads). */
  bytes?: boolean;
}

/** A progress bar writing to stderr (a no-op when `enabled` is false). */
export function progressBar(enabled = true, options: ProgressOptions = {}): ProgressBar {
  const tty = Deno.stderr.isTerminal();
  const enc = new TextEncoder();
  const write = (s: string) => Deno.stderr.writeSync(enc.encode(s));
  const t0 = performance.now();
  let lastLabel = "";
  let first: number | undefined; // bytes: the count at the first update (a resumed download), left out of rate and ETA
  let drawn = false;
  return {
    update(done, total, label) {
      if (!enabled) return;
      const frac = total > 0 ? Math.min(1, done / total) : 1;
      const elapsed = performance.now() - t0;
      first ??= options.bytes ? done : 0;
      const left = done > first ? (elapsed / (done - first)) * (total - done) : 0;
      if (tty) {
        const fill = Math.round(frac * WIDTH);
        const bar = "█".repeat(fill) + "░".repeat(WIDTH - fill);
        const rate = elapsed > 0 ? (done - first) / elapsed * 1000 : 0;
        const count = options.bytes
          ? `${formatBytes(done)}/${formatBytes(total)} ${formatBytes(rate)}/s`
          : `${done}/${total}`;
        write(`\r\x1b[2K${bar} ${String(Math.round(frac * 100)).padStart(3)}% ${count} ${label} · ETA ${eta(left)}`);
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
