// deno-fmt-ignore-file -- AssemblyScript: `deno fmt` would drop the `@inline` decorators.
// Entry point of the PerfMamba WASM kernels: every export takes byte offsets into the imported memory. The
// exported functions and constants are the module's ABI: wasm/build.ts generates wasm/generated/abi.ts from them.
//
// Built with `--runtime stub`: the kernels never allocate, keep no static data and use no shadow stack, so one
// module instance per thread can share a single memory.

export { add, copy_bytes, fill_zero, gated_rms_norm, gather_rows, rms_norm } from "./elementwise";
export { embed, linear, pack_panels, PANEL, stream_sum, STREAM_BLOCK_BYTES } from "./linear";
export { conv1d } from "./conv";
export {
  ACT_INT16,
  ACT_INT8,
  ACT_INT8_PACKED,
  act_row_bytes,
  embed_q,
  linear_q,
  linear_q_scratch_bytes,
  linear_qa,
  linear_qa_scratch_bytes,
  quantize_act,
  QUANT_GEMM_ROWS,
  QUANT_Q4_0,
  QUANT_Q8_0,
} from "./quant_linear";
export { relaxed_simd } from "./simd_math";
export { SCAN_SCRATCH_BYTES_PER_STATE, selective_scan } from "./scan";
export { ssd_chunked, ssd_scratch_bytes, ssd_step } from "./ssd";
