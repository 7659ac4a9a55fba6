/**
 * The representative iteration of every run as a Chrome Trace Event Format file (opens in Perfetto and
 * chrome://tracing): one process per run, and on its thread nested complete events forward ⊃ layer N ⊃ component.
 *
 * @module
 */

import type { ProfileReport, ProfileRun, TraceSpan } from "../../mod.ts";
import { modelName, runLabel } from "./format.ts";

/** One event of the Trace Event Format (only the "X" complete and "M" metadata phases are written). */
export interface TraceEvent {
  name: string;
  /** "X": complete event (ts and dur); "M": metadata (process_name, thread_name, process_sort_index). */
  ph: "X" | "M";
  pid: number;
  tid: number;
  /** Start, microseconds. */
  ts?: number;
  /** Duration, microseconds. */
  dur?: number;
  cat?: string;
  args?: Record<string, unknown>;
}

/** A Trace Event Format document (JSON object form). */
export interface ChromeTrace {
  traceEvents: TraceEvent[];
  displayTimeUnit: "ms";
  metadata: Record<string, unknown>;
}

/** The smallest double above a non-negative finite `x`. */
function nextUp(x: number): number {
  if (x === 0) return Number.MIN_VALUE;
  const f = new Float64Array([x]);
  const b = new BigUint64Array(f.buffer);
  b[0] += 1n;
  return f[0];
}

/**
 * A duration from `ts` (µs) such that `ts + dur >= end` holds exactly in floating point: the whole-nanosecond
 * difference, raised by ulps where rounding falls short (which leaves it the same in integer nanoseconds).
 */
function coveringDur(ts: number, end: number): number {
  let dur = Math.max(0, Math.round((end - ts) * 1000) / 1000);
  while (ts + dur < end) dur = nextUp(dur);
  return dur;
}

interface Placed {
  span: TraceSpan;
  ts: number;
  dur: number;
}

/**
 * Places spans on a whole-nanosecond grid (ts and dur in µs with at most 3 decimals, so viewers that convert to
 * integer nanoseconds keep the nesting): start and end are rounded, so spans that touch keep touching.
 */
function place(spans: readonly TraceSpan[]): Placed[] {
  return spans
    .map((span, i) => ({ span, i, s: Math.round(span.start * 1e6), e: Math.round((span.start + span.duration) * 1e6) }))
    .sort((a, b) => a.s - b.s || a.i - b.i)
    .map(({ span, s, e }) => ({ span, ts: s / 1000, dur: Math.max(0, e - s) / 1000 }));
}

function componentArgs(run: ProfileRun, span: TraceSpan): Record<string, unknown> {
  const args: Record<string, unknown> = { layer: span.layer, ms: span.duration };
  const c = run.components.find((x) => x.name === span.component);
  if (!c) return args;
  // Per instance: the run's per-component totals are summed over the layers it appears in.
  const flops = c.flops / c.layers, bytes = c.bytes.total / c.layers;
  args.flops = flops;
  args.bytes = bytes;
  if (span.duration > 0) {
    args.gflops = flops / (span.duration * 1e6);
    args.gbs = bytes / (span.duration * 1e6);
  }
  if (c.roofline) args.bound = c.roofline.bound;
  args.componentMedianMs = c.ms.median;
  return args;
}

function runEvents(report: ProfileReport, run: ProfileRun, index: number): TraceEvent[] {
  const pid = index + 1, tid = 1;
  const events: TraceEvent[] = [
    { name: "process_name", ph: "M", pid, tid, args: { name: runLabel(report, run) } },
    { name: "process_sort_index", ph: "M", pid, tid, args: { sort_index: index } },
    { name: "thread_name", ph: "M", pid, tid, args: { name: `forward (${report.environment.timing})` } },
  ];
  const placed = place(run.trace);
  if (placed.length === 0) return events;

  const components: TraceEvent[] = placed.map((p) => ({
    name: p.span.component,
    cat: "component",
    ph: "X",
    pid,
    tid,
    ts: p.ts,
    dur: p.dur,
    args: componentArgs(run, p.span),
  }));
  const end = (e: TraceEvent): number => e.ts! + e.dur!;

  const layers: TraceEvent[] = [];
  const layerIds = [...new Set(placed.map((p) => p.span.layer).filter((l) => l >= 0))].sort((a, b) => a - b);
  for (const layer of layerIds) {
    const inside = components.filter((_, i) => placed[i].span.layer === layer);
    const ts = Math.min(...inside.map((e) => e.ts!));
    const dur = coveringDur(ts, Math.max(...inside.map(end)));
    layers.push({ name: `layer ${layer}`, cat: "layer", ph: "X", pid, tid, ts, dur, args: { layer } });
  }

  const top = [...layers, ...components.filter((_, i) => placed[i].span.layer < 0)];
  const ts = Math.min(0, ...top.map((e) => e.ts!));
  const forward: TraceEvent = {
    name: "forward",
    cat: "forward",
    ph: "X",
    pid,
    tid,
    ts,
    dur: coveringDur(ts, Math.max(...top.map(end))),
    args: {
      model: modelName(report, run.model),
      arch: run.arch,
      mode: run.mode,
      batch: run.batch,
      seqLen: run.seqLen,
      endToEndMedianMs: run.endToEnd.ms.median,
      instrumentedMedianMs: run.endToEnd.instrumentedMs.median,
    },
  };
  // Parents first at equal timestamps, so viewers that rely on order nest them too.
  return [...events, forward, ...[...layers, ...components].sort((a, b) => a.ts! - b.ts! || depth(a) - depth(b))];
}

function depth(e: TraceEvent): number {
  return e.cat === "layer" ? 0 : 1;
}

/**
 * The report's traces as a Chrome Trace Event Format document. Run `i` is process `i + 1` (named like
 * "mamba2 prefill B1 L2048"); its thread 1 holds a "forward" event over the whole iteration, one "layer N" event
 * per layer from the first start to the last end of that layer's spans, and the component spans inside (spans of
 * layer −1 directly inside "forward"). Times are microseconds from the start of the forward pass. Component events
 * carry `args` {layer, ms, flops, bytes, gflops, gbs, bound, componentMedianMs}: FLOPs and bytes of one instance
 * (the run's component total ÷ its layers).
 */
export function profileTrace(report: ProfileReport): ChromeTrace {
  return {
    traceEvents: report.runs.flatMap((run, i) => runEvents(report, run, i)),
    displayTimeUnit: "ms",
    metadata: {
      schema: report.schema,
      createdAt: report.createdAt,
      tool: `${report.tool.name} ${report.tool.version}`,
      backend: report.environment.backend,
      description: report.environment.description,
      timing: report.environment.timing,
      timingNote: report.environment.timingNote,
      host: report.environment.host,
      weights: report.environment.weights,
    },
  };
}
