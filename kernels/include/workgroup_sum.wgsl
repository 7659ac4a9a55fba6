// Sum over the threads of a workgroup: a tree reduction in workgroup memory. The including kernel declares the
// workgroup size `WG` (a power of two); every thread must call `workgroup_sum` (it has barriers).

var<workgroup> red: array<f32, WG>;

// The sum of every thread's `v`; `tid` is the thread's local index. All threads get the total.
fn workgroup_sum(tid: u32, v: f32) -> f32 {
  red[tid] = v;
  for (var h = WG / 2u; h > 0u; h >>= 1u) {
    workgroupBarrier();
    if (tid < h) {
      red[tid] += red[tid + h];
    }
  }
  workgroupBarrier();
  return red[0];
}
