/**
 * Charts of a profile report, shared by the CLI's HTML report and the browser demo: Vega-Lite specs of
 * {@link ProfileReport} data with a fixed colour per component, and {@link renderSvg}, which compiles a spec with
 * vega-lite and renders it to an SVG string with vega — no DOM, no network, no `Deno.*`: Deno, browsers and edge
 * runtimes alike.
 *
 * A subpath of the package (`@perfmamba/perfmamba/charts`), not re-exported by the main entry, so that importing
 * the runtime does not load vega.
 *
 * @example
 * ```ts
 * import { makeConfig, MambaModel, profileModels, selectBackend, syntheticWeights } from "@perfmamba/perfmamba";
 * import { renderSvg, shareChart } from "@perfmamba/perfmamba/charts";
 *
 * const config = makeConfig("mamba2", { dModel: 64, nLayer: 2, vocabSize: 256, dState: 16, headDim: 16 });
 * const backend = await selectBackend("wasm", { threads: 1 });
 * const model = MambaModel.load(syntheticWeights(config, 1), backend);
 * const report = await profileModels([{ model, name: "tiny" }], {
 *   seqLens: [8, 16],
 *   modes: ["prefill"],
 *   warmup: 0,
 *   iters: 1,
 *   peaks: null,
 * });
 * const svg = await renderSvg(shareChart(report, 0, "prefill")!); // the paper's Fig. 2 for this model
 * console.log(svg.startsWith("<svg")); // true
 * model.dispose();
 * backend.dispose();
 * ```
 *
 * @module
 */

import * as vega from "vega";
import { compile } from "vega-lite";
import type { TopLevelSpec } from "vega-lite";
import type { Component } from "../model.ts";
import type { ProfileReport, ProfileRun } from "../profile_report.ts";
import { COMPONENTS } from "../cost.ts";

/**
 * Renders a Vega-Lite spec to an SVG string (no DOM, no network: Deno and browsers alike).
 *
 * @example
 * ```ts
 * import { renderSvg } from "@perfmamba/perfmamba/charts";
 *
 * const svg = await renderSvg({
 *   data: { values: [{ component: "in_proj", ms: 3 }, { component: "ssm", ms: 1 }] },
 *   mark: "bar",
 *   encoding: { x: { field: "component", type: "nominal" }, y: { field: "ms", type: "quantitative" } },
 * });
 * if (!svg.startsWith("<svg")) throw new Error(svg.slice(0, 80));
 * console.log(svg.includes("in_proj")); // true: the axis labels are text in the SVG
 * ```
 */
export async function renderSvg(spec: TopLevelSpec): Promise<string> {
  const view = new vega.View(vega.parse(compile(spec).spec), { renderer: "none", logLevel: vega.Error });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

const SCHEMA = "https://vega.github.io/schema/vega-lite/v6.json";

/** A fixed colour per component, so that a component looks the same in every chart and report. */
const COMPONENT_COLORS: Record<Component, string> = {
  embedding: "#bab0ac",
  norm: "#76b7b2",
  in_proj: "#4e79a7",
  conv1d: "#f28e2b",
  x_proj: "#edc948",
  bcdt_norm: "#8cd17d",
  dt_proj: "#b07aa1",
  ssm: "#e15759",
  gate_norm: "#59a14f",
  out_proj: "#9c755f",
  residual: "#ff9da7",
  norm_f: "#17becf",
  lm_head: "#2f4b7c",
};

/**
 * What the paper (PerfMamba, Asif et al.) calls some components; legends show them beside the component names.
 *
 * @example
 * ```ts
 * import { PAPER_NAMES } from "@perfmamba/perfmamba/charts";
 *
 * const label = (component: string) => PAPER_NAMES[component] ? `${component} (${PAPER_NAMES[component]})` : component;
 * console.log(label("in_proj"), label("ssm")); // in_proj (gated MLP) ssm
 * ```
 */
export const PAPER_NAMES: Readonly<Record<string, string>> = {
  in_proj: "gated MLP",
  out_proj: "final linear",
};

/**
 * Short name of a model for legends and labels: its architecture ("mamba2") when no other model of the report has
 * the same one, else its display name (suffixed with `#index` when names repeat too).
 *
 * @example
 * ```ts
 * import type { ProfileReport } from "@perfmamba/perfmamba";
 * import { modelLabel } from "@perfmamba/perfmamba/charts";
 *
 * const models = [
 *   { name: "mamba2-130m", arch: "mamba2" },
 *   { name: "mamba2-130m-pruned", arch: "mamba2" },
 *   { name: "mamba-130m", arch: "mamba1" },
 * ];
 * const report = { models } as unknown as ProfileReport; // only `models` is read
 * console.log(modelLabel(report, 0), modelLabel(report, 2)); // mamba2-130m mamba1
 * ```
 */
export function modelLabel(report: ProfileReport, index: number): string {
  const m = report.models[index];
  if (!m) return `model ${index}`;
  if (report.models.filter((o) => o.arch === m.arch).length === 1) return m.arch;
  return report.models.filter((o) => o.name === m.name).length === 1 ? m.name : `${m.name} #${index}`;
}

/** Components present in `runs`, in forward order. */
function componentsOf(runs: readonly ProfileRun[]): Component[] {
  const seen = new Set(runs.flatMap((r) => r.components.map((c) => c.name)));
  return COMPONENTS.filter((c) => seen.has(c));
}

/**
 * The Vega-Lite colour encoding of a `component` field for `runs`: the components they have, in forward order,
 * each in its fixed colour, with the paper's names in the legend — so that a chart of your own matches
 * {@link shareChart}.
 *
 * @example
 * ```ts
 * import type { ProfileRun } from "@perfmamba/perfmamba";
 * import { componentColor, renderSvg } from "@perfmamba/perfmamba/charts";
 *
 * const run = { components: [{ name: "ssm" }, { name: "in_proj" }] } as unknown as ProfileRun; // only names are read
 * const color = componentColor([run]);
 * console.log(color.scale.domain); // [ "in_proj", "ssm" ]: forward order
 * const svg = await renderSvg({
 *   data: { values: [{ component: "in_proj", ms: 3 }, { component: "ssm", ms: 1 }] },
 *   mark: "arc",
 *   encoding: { theta: { field: "ms", type: "quantitative" }, color },
 * });
 * console.log(svg.includes("gated MLP")); // true: the legend names in_proj as the paper does
 * ```
 */
export function componentColor(runs: readonly ProfileRun[]): {
  field: "component";
  type: "nominal";
  sort: Component[];
  scale: { domain: Component[]; range: string[] };
  legend: { title: string; labelExpr: string; labelLimit: number };
} {
  const domain = componentsOf(runs);
  const labelExpr = Object.entries(PAPER_NAMES).reduce(
    (expr, [k, v]) => `datum.label === '${k}' ? '${k} (${v})' : ${expr}`,
    "datum.label",
  );
  return {
    field: "component",
    type: "nominal",
    sort: domain,
    scale: { domain, range: domain.map((c) => COMPONENT_COLORS[c]) },
    legend: { title: "component", labelExpr, labelLimit: 240 },
  };
}

/**
 * Fig. 2 of the paper for one model and mode: per sequence length, a bar stacked by component and normalized to
 * 100 % of the summed component time (tooltip: median ms and share). Null when the model has no run in that mode.
 *
 * @example
 * ```ts
 * import { makeConfig, MambaModel, profileModels, selectBackend, syntheticWeights } from "@perfmamba/perfmamba";
 * import { shareChart } from "@perfmamba/perfmamba/charts";
 *
 * const config = makeConfig("mamba1", { dModel: 64, nLayer: 2, vocabSize: 256 });
 * const backend = await selectBackend("wasm", { threads: 1 });
 * const model = MambaModel.load(syntheticWeights(config, 1), backend);
 * const report = await profileModels([{ model, name: "tiny" }], {
 *   seqLens: [8],
 *   modes: ["prefill"],
 *   warmup: 0,
 *   iters: 1,
 *   peaks: null,
 * });
 * console.log(shareChart(report, 0, "prefill")?.title); // mamba1 prefill: share of component latency, batch 1
 * console.log(shareChart(report, 0, "decode")); // null: no decode run
 * model.dispose();
 * backend.dispose();
 * ```
 */
export function shareChart(report: ProfileReport, model: number, mode: ProfileRun["mode"]): TopLevelSpec | null {
  const runs = report.runs.filter((r) => r.model === model && r.mode === mode);
  if (runs.length === 0) return null;
  const oneBatch = new Set(runs.map((r) => r.batch)).size === 1;
  const sorted = [...runs].sort((a, b) => a.seqLen - b.seqLen || a.batch - b.batch);
  const x = (r: ProfileRun): string => oneBatch ? String(r.seqLen) : `${r.seqLen} B${r.batch}`;
  const values = sorted.flatMap((r) =>
    r.components.map((c) => ({
      x: x(r),
      seqLen: r.seqLen,
      batch: r.batch,
      component: c.name,
      order: COMPONENTS.indexOf(c.name),
      ms: c.ms.median,
      share: c.share,
    }))
  );
  const batch = oneBatch ? `, batch ${runs[0].batch}` : "";
  return {
    $schema: SCHEMA,
    title: `${modelLabel(report, model)} ${mode}: share of component latency${batch}`,
    data: { values },
    width: { step: 48 },
    height: 260,
    mark: { type: "bar" },
    encoding: {
      x: {
        field: "x",
        type: "ordinal",
        sort: [...new Set(sorted.map(x))],
        title: mode === "prefill" ? "sequence length" : "context length",
        axis: { labelAngle: 0 },
      },
      y: {
        field: "ms",
        type: "quantitative",
        aggregate: "sum",
        stack: "normalize",
        title: "share of summed component time",
        axis: { format: "%" },
      },
      color: componentColor(runs),
      order: { field: "order", type: "quantitative" },
      tooltip: [
        { field: "component", type: "nominal" },
        { field: "seqLen", type: "quantitative", title: "L" },
        { field: "batch", type: "quantitative", title: "B" },
        { field: "ms", type: "quantitative", title: "median ms", format: ".4~f", aggregate: "sum" },
        { field: "share", type: "quantitative", format: ".1%", aggregate: "sum" },
      ],
    },
  };
}
