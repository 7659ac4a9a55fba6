// Sampled decoding on the device: ids[offset + r] = one token drawn from row r of x by runtime/sampling.ts's
// definition (`sampleRow`): repetition penalty on the ids marked in `seen` → temperature → top-k → top-p → the
// inverse CDF of one uniform draw u = draws[draw_offset + r], walking the kept ids in increasing id order. The chosen
// id is then marked in `seen` (the history the next step's penalty reads). Only the first `cols` columns of a row are
// candidates (a padded vocabulary's rows are never chosen). One workgroup per row.
//
// The kept set is a threshold on the (penalized, scaled) value z, found exactly by a search over the
// order-preserving u32 key of z: top-k takes the largest key τ with #{key ≥ τ} ≥ k (the k-th largest value),
// top-p the largest τ with Σ_{key ≥ τ} w ≥ p · S, w = exp(z − max z), so ties at a threshold are all kept, as
// on the host. The search fixes τ four bits at a time (radix 16, `radix_search`): 8 passes over the row per
// search, each a 16-bin histogram of the keys that share τ's digits so far (an exp only for those), where a
// bitwise search took 32 passes with an exp per kept element each (on an H100 the 32-pass top-p search was
// about 1.9 ms of a 4.0 ms sampled Mamba-2 130m token, issue 19).

#include "grid.wgsl"

override WG: u32 = 256u; // power of two

#include "workgroup_sum.wgsl"

struct Params {
  rows: u32,
  cols: u32, // candidate columns (≤ stride)
  stride: u32, // row width of x
  offset: u32, // first id written
  draw_offset: u32, // first draw read
  top_k: u32, // 0 = all
  seen_words: u32, // u32 words of `seen` per row: ⌈cols / 32⌉
  temperature: f32, // 0 = greedy over the penalized logits
  inv_temperature: f32, // f32(1 / temperature): z = x · inv_temperature, bit-exact with the host
  top_p: f32, // 1 = all
  penalty: f32, // repetition penalty, 1 = none
  inv_penalty: f32, // f32(1 / penalty)
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>; // (rows, stride)
@group(0) @binding(2) var<storage, read_write> ids: array<i32>; // (offset + rows, …)
@group(0) @binding(3) var<storage, read> draws: array<f32>; // (draw_offset + rows, …), each in [0, 1)
@group(0) @binding(4) var<storage, read_write> seen: array<u32>; // (rows, seen_words) bits: id seen before

var<workgroup> red_u: array<u32, WG>;
var<workgroup> pick: atomic<u32>;
var<workgroup> hist: array<f32, 1024>; // [16 digits][64 slots]: radix_search's histogram reduction

// The penalized, scaled value of column c of row r (−0 folded into +0, so equal values have equal keys).
fn zval(r: u32, c: u32) -> f32 {
  var v = x[r * p.stride + c];
  if (p.penalty != 1.0 && ((seen[r * p.seen_words + c / 32u] >> (c % 32u)) & 1u) != 0u) {
    v = select(v * p.penalty, v * p.inv_penalty, v > 0.0);
  }
  if (p.temperature > 0.0) {
    v = v * p.inv_temperature;
  }
  return select(v, 0.0, v == 0.0);
}

// A u32 that orders as the f32 does (−∞ lowest).
fn key(v: f32) -> u32 {
  let b = bitcast<u32>(v);
  return select(b | 0x80000000u, ~b, (b & 0x80000000u) != 0u);
}

fn wg_max_u(v: u32, lid: u32) -> u32 {
  red_u[lid] = v;
  for (var h = WG / 2u; h > 0u; h >>= 1u) {
    workgroupBarrier();
    if (lid < h) {
      red_u[lid] = max(red_u[lid], red_u[lid + h]);
    }
  }
  workgroupBarrier();
  let s = red_u[0];
  workgroupBarrier();
  return s;
}

const SLOTS: u32 = 64u; // partial sums per digit after the first fold (WG ≥ SLOTS)

// The 16 digits' totals of the per-thread histograms `bins` over the workgroup (the same in every thread): the
// WG threads fold into SLOTS slots per digit, then a tree over the slots.
fn wg_hist(bins: array<f32, 16>, lid: u32) -> array<f32, 16> {
  for (var q = 0u; q < WG / SLOTS; q++) {
    if (lid / SLOTS == q) {
      for (var d = 0u; d < 16u; d++) {
        let i = d * SLOTS + lid % SLOTS;
        hist[i] = select(hist[i], 0.0, q == 0u) + bins[d];
      }
    }
    workgroupBarrier();
  }
  for (var h = SLOTS / 2u; h > 0u; h >>= 1u) {
    for (var e = lid; e < 16u * h; e += WG) {
      let i = (e / h) * SLOTS + e % h;
      hist[i] += hist[i + h];
    }
    workgroupBarrier();
  }
  var tot: array<f32, 16>;
  for (var d = 0u; d < 16u; d++) {
    tot[d] = hist[d * SLOTS];
  }
  workgroupBarrier();
  return tot;
}

// The largest τ with F(τ) ≥ goal, F(τ) = Σ_{key ≥ τ, key ≥ floor_key} g(key), g = 1 (MASS false: a count, exact in
// f32 below 2²⁴) or exp(z − zmax) (MASS true). Radix 16 from the top digit: with τ's higher digits fixed (prefix),
// F(prefix | d · 16^l) = (mass of keys whose higher digits exceed the prefix's) + Σ_{d' ≥ d} (mass of keys with
// the prefix and digit d'), nonincreasing in d; the largest d meeting the goal is τ's digit, as the bitwise search
// finds it bit by bit. Digit 0 always meets it (its F is the previous level's), so it is the fallback.
fn radix_search(r: u32, lid: u32, goal: f32, floor_key: u32, zmax: f32, MASS: bool) -> u32 {
  var tau = 0u;
  var above = 0.0; // F's part from keys whose higher digits exceed tau's
  for (var level = 8u; level > 0u; level--) {
    let shift = 4u * (level - 1u);
    let himask = select(~((1u << (shift + 4u)) - 1u), 0u, level == 8u);
    var bins = array<f32, 16>(); // zeroed here, every level (not only at function entry)
    for (var c = lid; c < p.cols; c += WG) {
      let z = zval(r, c);
      let kz = key(z);
      if ((kz & himask) == (tau & himask) && kz >= floor_key) {
        let d = (kz >> shift) & 15u;
        if (MASS) {
          bins[d] += exp(z - zmax);
        } else {
          bins[d] += 1.0;
        }
      }
    }
    let tot = wg_hist(bins, lid);
    var digit = 0u;
    var cum = above;
    for (var d = 15u; d > 0u; d--) {
      let next = cum + tot[d];
      if (next >= goal) {
        digit = d;
        break;
      }
      cum = next;
    }
    above = cum;
    tau |= digit << shift;
  }
  return tau;
}

@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_id) lid3: vec3u, @builtin(workgroup_id) wid: vec3u,
        @builtin(num_workgroups) nwg: vec3u) {
  let r = flat_workgroup(wid, nwg); // uniform across the workgroup: every thread returns together
  if (r >= p.rows) {
    return;
  }
  let lid = lid3.x;
  let n = p.cols;

  // The largest value, and the lowest id holding it (the greedy choice and the fallback).
  var kmax = 0u;
  for (var c = lid; c < n; c += WG) {
    kmax = max(kmax, key(zval(r, c)));
  }
  let top = wg_max_u(kmax, lid);
  if (lid == 0u) {
    atomicStore(&pick, 0xffffffffu);
  }
  workgroupBarrier();
  for (var c = lid; c < n; c += WG) {
    if (key(zval(r, c)) == top) {
      atomicMin(&pick, c);
      break;
    }
  }
  workgroupBarrier();
  let best = atomicLoad(&pick);
  var chosen = best;
  if (p.temperature > 0.0) {
    let zmax = zval(r, best);
    // top-k: the k-th largest key.
    var tau = 0u;
    if (p.top_k > 0u && p.top_k < n) {
      tau = radix_search(r, lid, f32(p.top_k), 0u, zmax, false);
    }
    // The mass kept by top-k, then top-p's threshold within it.
    var part = 0.0;
    for (var c = lid; c < n; c += WG) {
      let z = zval(r, c);
      if (key(z) >= tau) {
        part += exp(z - zmax);
      }
    }
    let total = workgroup_sum(lid, part);
    workgroupBarrier(); // every thread has read the total before `red` is written again
    if (p.top_p < 1.0) {
      let goal = p.top_p * total;
      let floor_key = tau; // top-k's threshold: the search runs over every key, the mass only above it
      // At least top-k's threshold: in exact arithmetic F(floor_key) = total ≥ goal already; this keeps a rounding
      // difference between the two sums' orders from reaching below it.
      tau = max(radix_search(r, lid, goal, floor_key, zmax, true), floor_key);
    }
    // The draw: contiguous blocks of ids per thread, block sums scanned in id order, then the lowest id at which the
    // running sum exceeds u · (kept mass).
    let chunk = (n + WG - 1u) / WG;
    let c0 = min(lid * chunk, n);
    let c1 = min(c0 + chunk, n);
    var own = 0.0;
    for (var c = c0; c < c1; c++) {
      let z = zval(r, c);
      if (key(z) >= tau) {
        own += exp(z - zmax);
      }
    }
    red[lid] = own;
    workgroupBarrier();
    if (lid == 0u) {
      var acc = 0.0;
      for (var t = 0u; t < WG; t++) {
        let v = red[t];
        red[t] = acc;
        acc += v;
      }
      red_u[0] = bitcast<u32>(acc);
      atomicStore(&pick, 0xffffffffu);
    }
    workgroupBarrier();
    let mass = bitcast<f32>(red_u[0]);
    let goal = draws[p.draw_offset + r] * mass;
    var acc = red[lid];
    for (var c = c0; c < c1; c++) {
      let z = zval(r, c);
      if (key(z) >= tau) {
        acc += exp(z - zmax);
        if (acc > goal) {
          atomicMin(&pick, c);
          break;
        }
      }
    }
    workgroupBarrier();
    chosen = atomicLoad(&pick);
    if (chosen == 0xffffffffu) {
      chosen = best;
    }
  }
  workgroupBarrier(); // every thread has read `seen` before it changes
  if (lid == 0u) {
    ids[p.offset + r] = i32(chosen);
    seen[r * p.seen_words + chosen / 32u] |= 1u << (chosen % 32u);
  }
}
