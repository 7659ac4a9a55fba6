// deno-fmt-ignore-file -- AssemblyScript: `deno fmt` would drop the `@inline` decorators.
// Entry point of the PerfMamba WASM kernels: every export takes byte offsets into the imported memory.
//
// Built with `--runtime stub`: the kernels never allocate, keep no static data and use no shadow stack, so one
// module instance per thread can share a single memory.

export { add, copy_bytes, fill_zero, gated_rms_norm, gather_rows, rms_norm } from "./elementwise";
export { embed, linear, pack_panels, stream_sum } from "./linear";
export { conv1d } from "./conv";
export { selective_scan } from "./scan";
export { ssd_chunked, ssd_scratch_bytes, ssd_step } from "./ssd";
