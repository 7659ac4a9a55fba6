/**
 * GPUBufferUsage / GPUMapMode values the backend uses, spelled out so that importing a kernels/ module never
 * touches WebGPU globals (it must load, and fail only when called, where WebGPU is absent).
 *
 * @module
 */

/** GPUBufferUsage flags. */
export const U = {
  MAP_READ: 0x1,
  COPY_SRC: 0x4,
  COPY_DST: 0x8,
  UNIFORM: 0x40,
  STORAGE: 0x80,
  QUERY_RESOLVE: 0x200,
} as const;
/** GPUMapMode.READ. */
export const MAP_READ = 0x1;
/** Usage of tensors and weights: storage, copied from and to. */
export const STORAGE = U.STORAGE | U.COPY_SRC | U.COPY_DST;
/** Usage of readback staging buffers. */
export const READBACK = U.MAP_READ | U.COPY_DST;
