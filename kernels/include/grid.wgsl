// Flat indices of a dispatch shaped by `grid()` (kernels/program.ts): when one dimension is not enough the
// workgroups form a 2-D grid, so a kernel recovers its flat index from x and y (and must bound-check it).

// The flat workgroup index: wid.x + wid.y · nwg.x.
fn flat_workgroup(wid: vec3u, nwg: vec3u) -> u32 {
  return wid.x + wid.y * nwg.x;
}

// The flat invocation index of a kernel whose workgroups are `wg` threads along x.
fn flat_invocation(gid: vec3u, nwg: vec3u, wg: u32) -> u32 {
  return gid.x + gid.y * nwg.x * wg;
}
