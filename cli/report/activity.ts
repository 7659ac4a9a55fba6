/**
 * The state-activity matrix (layers × states) of a calibration as a heatmap — the paper's Fig. 3 — rendered to SVG.
 */
import type { TopLevelSpec } from "vega-lite";
import type { ActivityScore, StateActivity } from "../../mod.ts";
import { renderSvg } from "@perfmamba/perfmamba/charts";

/** Vega-Lite heatmap of one score, each layer normalised by its maximum (so layers compare by shape). */
export function activitySpec(activity: StateActivity, score: ActivityScore): TopLevelSpec {
  const rows = activity.scores[score];
  if (!rows) throw new RangeError(`score ${score} is not defined for ${activity.arch}`);
  const values = rows.flatMap((row, layer) => {
    const max = Math.max(...row) || 1;
    return row.map((v, state) => ({ layer, state, value: v / max, raw: v }));
  });
  return {
    $schema: "https://vega.github.io/schema/vega-lite/v6.json",
    title: `${activity.arch}: state activity (${score}), each layer ÷ its maximum`,
    width: Math.min(900, 14 * Math.max(...activity.stateSizes)),
    height: 16 * activity.stateSizes.length,
    data: { values },
    mark: "rect",
    encoding: {
      x: { field: "state", type: "ordinal", title: "state", axis: { labelOverlap: true } },
      y: { field: "layer", type: "ordinal", title: "layer" },
      color: { field: "value", type: "quantitative", title: "activity", scale: { scheme: "viridis" } },
      tooltip: [{ field: "layer" }, { field: "state" }, { field: "raw", format: ".3e" }],
    },
  } as TopLevelSpec;
}

/** The heatmap as an SVG string. */
export function activitySvg(activity: StateActivity, score: ActivityScore): Promise<string> {
  return renderSvg(activitySpec(activity, score));
}
