// Sums over segments of `seg` consecutive threads of a workgroup (seg a power of two, uniform): a tree reduction in
// workgroup memory. The including kernel declares `MAX_WG` (≥ its workgroup size); every thread must call
// `segment_sum` with the same seg (it has barriers).

var<workgroup> seg_red: array<f32, MAX_WG>;

// The sum of `v` over the segment of thread `tid`, valid in the segment's first thread (tid % seg == 0).
fn segment_sum(tid: u32, seg: u32, v: f32) -> f32 {
  seg_red[tid] = v;
  let q = tid % seg;
  for (var w = seg / 2u; w > 0u; w >>= 1u) {
    workgroupBarrier();
    if (q < w) {
      seg_red[tid] += seg_red[tid + w];
    }
  }
  return seg_red[tid];
}
