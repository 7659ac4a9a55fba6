/**
 * A progress bar on stderr for long sweeps: redrawn in place on a terminal, one line per new stage otherwise
 * (CI logs), nothing when disabled.
 */

/**
 * What the caller knows of the time left (the profiler's estimate from its measured per-pass times); without it the
 * bar extrapolates from done / total.
 */
export interface TimeLeft {
  /** ms left for the whole job, or null while unknown. */
  leftMs: number | null;
  /** ms left for the running stage, or null while unknown. */
  modeLeftMs: number | null;
  /** The running stage ("mamba1 prefill"). */
  stage: string;
}

/** What {@link progressBar} returns: call `update` per tick, `done` at the end. */
export interface ProgressBar {
  update(done: number, total: number, label: string, left?: TimeLeft): void;
  done(): void;
}

const WIDTH = 28;

/** A duration as "42s" or "3m07s". */
export function eta(ms: number): string {
  const s = Math.round(ms / 1000);
  return s >= 60 ? `${Math.floor(s / 60)}m${String(s % 60).padStart(2, "0")}s` : `${s}s`;
}

/** The time part of a progress line: elapsed, and the estimate left (whole job, then the running stage). */
export function timeText(elapsedMs: number, left: TimeLeft): string {
  const whole = left.leftMs === null ? "estimating" : `~${eta(left.leftMs)} left`;
  const stage = left.modeLeftMs === null ? "" : ` (${left.stage} ~${eta(left.modeLeftMs)})`;
  return `${eta(elapsedMs)} elapsed · ${whole}${stage}`;
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
  /** Clock in ms (default performance.now; tests pass a fake one). */
  now?: () => number;
  /** Where the text goes (default stderr). */
  write?: (text: string) => void;
  /** Redraw in place (default: stderr is a terminal). */
  tty?: boolean;
}

/** A progress bar writing to stderr (a no-op when `enabled` is false). */
export function progressBar(enabled = true, options: ProgressOptions = {}): ProgressBar {
  const tty = options.tty ?? Deno.stderr.isTerminal();
  const enc = new TextEncoder();
  const write = options.write ?? ((s: string) => Deno.stderr.writeSync(enc.encode(s)));
  const now = options.now ?? (() => performance.now());
  const t0 = now();
  let lastLabel = "";
  let first: number | undefined; // bytes: the count at the first update (a resumed download), left out of rate and ETA
  let drawn = false;
  return {
    update(done, total, label, timeLeft) {
      if (!enabled) return;
      const frac = total > 0 ? Math.min(1, done / total) : 1;
      const elapsed = now() - t0;
      first ??= options.bytes ? done : 0;
      const left = done > first ? (elapsed / (done - first)) * (total - done) : 0;
      if (tty) {
        const fill = Math.round(frac * WIDTH);
        const bar = "█".repeat(fill) + "░".repeat(WIDTH - fill);
        const rate = elapsed > 0 ? (done - first) / elapsed * 1000 : 0;
        const count = options.bytes
          ? `${formatBytes(done)}/${formatBytes(total)} ${formatBytes(rate)}/s`
          : `${done}/${total}`;
        const time = timeLeft ? timeText(elapsed, timeLeft) : `ETA ${eta(left)}`;
        write(`\r\x1b[2K${bar} ${String(Math.round(frac * 100)).padStart(3)}% ${count} ${label} · ${time}`);
        drawn = true;
      } else if (label !== lastLabel) {
        const time = timeLeft ? ` · ${timeText(elapsed, timeLeft)}` : "";
        write(`[${String(Math.round(frac * 100)).padStart(3)}%] ${label}${time}\n`);
      }
      lastLabel = label;
    },
    done() {
      if (enabled && tty && drawn) write("\r\x1b[2K");
    },
  };
}
