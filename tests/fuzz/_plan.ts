/** How many cases of each kind a run of `total` cases gets (by the kinds' weights; at least 1 each). */
import { KIND_NAMES, KINDS } from "./_cases.ts";

export function planFor(total: number): { kind: string; start: number; count: number }[] {
  const sum = KIND_NAMES.reduce((a, k) => a + KINDS[k].weight, 0);
  return KIND_NAMES.map((kind) => ({
    kind,
    start: 0,
    count: Math.max(1, Math.round((total * KINDS[kind].weight) / sum)),
  }));
}
