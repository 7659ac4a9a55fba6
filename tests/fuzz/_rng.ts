/**
 * The fuzz suite's deterministic random source: the runtime's `mulberry32`, one stream per (seed, kind, case), so
 * any case replays on its own from the three numbers a failure prints.
 */
import { mulberry32 } from "../../mod.ts";

/** A seeded stream with the helpers the mutators need. */
export class Rng {
  readonly next: () => number;

  constructor(seed: number) {
    this.next = mulberry32(seed);
  }

  /** The stream of case `index` of mutation kind `kind` under `seed`. */
  static forCase(seed: number, kind: number, index: number): Rng {
    let h = (seed ^ Math.imul(kind + 1, 0x85ebca6b) ^ Math.imul(index + 1, 0x9e3779b1)) >>> 0;
    h = Math.imul(h ^ (h >>> 16), 0x45d9f3b) >>> 0;
    return new Rng((h ^ (h >>> 16)) >>> 0);
  }

  /** An integer in [lo, hi]. */
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.next() * (hi - lo + 1));
  }

  /** True with probability p. */
  chance(p: number): boolean {
    return this.next() < p;
  }

  /** One element of a non-empty list. */
  pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.next() * items.length)];
  }
}
