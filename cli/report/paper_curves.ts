/**
 * The paper's analysis of an accuracy-vs-ratio curve (Fig. 4 / Fig. 6), applied to ours: its impact zones by ratio
 * (safe r ≤ 0.3, moderate 0.3 < r ≤ 0.7, high r > 0.7) with the mean accuracy loss in each, and its marginal drop
 * |ΔAcc/Δr| between ratios δ apart. Pure functions on plain numbers.
 *
 * @module
 */

/** One point of a curve: pruning ratio (0 = dense) and accuracy as a fraction (or any metric). */
export interface CurvePoint {
  ratio: number;
  value: number;
}

/** The paper's impact zone of a pruning ratio: safe r ≤ 0.3, moderate 0.3 < r ≤ 0.7, high r > 0.7. */
export function paperZone(ratio: number): "safe" | "moderate" | "high" {
  const eps = 1e-9;
  return ratio <= 0.3 + eps ? "safe" : ratio <= 0.7 + eps ? "moderate" : "high";
}

/** Mean loss against dense over the pruned ratios of one zone. */
export interface ZoneLoss {
  zone: "safe" | "moderate" | "high";
  /** The ratios of the curve in this zone (r > 0). */
  ratios: number[];
  /** Mean of (dense − value) × 100: percentage points where the values are fractions. */
  meanLossPts: number;
  /** Mean of (1 − value / dense) × 100: loss relative to dense, %. */
  meanLossRelPct: number;
}

/** Mean loss per paper zone of a curve against its dense value; zones without a ratio of the curve are left out. */
export function zoneLosses(dense: number, curve: CurvePoint[]): ZoneLoss[] {
  const out: ZoneLoss[] = [];
  for (const zone of ["safe", "moderate", "high"] as const) {
    const pts = curve.filter((p) => p.ratio > 0 && paperZone(p.ratio) === zone);
    if (pts.length === 0) continue;
    const mean = (f: (p: CurvePoint) => number) => pts.reduce((a, p) => a + f(p), 0) / pts.length;
    out.push({
      zone,
      ratios: pts.map((p) => p.ratio),
      meanLossPts: mean((p) => (dense - p.value) * 100),
      meanLossRelPct: mean((p) => (1 - p.value / dense) * 100),
    });
  }
  return out;
}

/** The marginal drop between two ratios δ apart. */
export interface MarginalDrop {
  from: number;
  to: number;
  /** |value(to) − value(from)| / (to − from). */
  slope: number;
}

/**
 * |ΔAcc/Δr| between consecutive points of the curve (sorted by ratio, dense included as r = 0) that are `delta`
 * apart (the paper's δ = 0.1); pairs at another distance are skipped.
 */
export function marginalDrops(curve: CurvePoint[], delta = 0.1): MarginalDrop[] {
  const pts = [...curve].sort((a, b) => a.ratio - b.ratio);
  const out: MarginalDrop[] = [];
  for (let i = 1; i < pts.length; i++) {
    const dr = pts[i].ratio - pts[i - 1].ratio;
    if (Math.abs(dr - delta) > 1e-9) continue;
    out.push({ from: pts[i - 1].ratio, to: pts[i].ratio, slope: Math.abs(pts[i].value - pts[i - 1].value) / dr });
  }
  return out;
}
