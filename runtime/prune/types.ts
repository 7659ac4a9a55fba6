/**
 * Shared vocabulary of Δ-guided structured state pruning: which state channels of each layer's SSM are kept.
 *
 * A state index s of a layer names one column of A (Mamba-1: `A_log[:, s]`), one B row and one C row (Mamba-1:
 * `x_proj` rows dt_rank + s and dt_rank + N + s; Mamba-2: the B and C rows of `in_proj` and their `conv1d`
 * channels, for every group), and h[..., s]. One index set per layer, shared by all channels, heads and groups.
 *
 * @module
 */

/** Kept state indices per layer, each ascending and unique (layer l keeps `keep[l].length` of its N states). */
export type KeepSets = number[][];

/**
 * A least-squares bridge per layer (or null): W with h ≈ W·h′, stored row-major as `[N, N′]` where N is the
 * layer's state size before pruning and N′ the kept count. Equivalent to replacing C by Wᵀ·C.
 */
export type Bridges = (Float64Array | null)[];

/** How pruned states are removed. */
export type PruneMode =
  /** Physically removed: smaller A, B/C producing rows, conv channels and state. */
  | "remove"
  /** Zeroed in place (same sizes): B rows (and their conv channels and bias) and C rows set to 0. */
  | "mask";
