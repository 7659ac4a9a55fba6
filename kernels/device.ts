/**
 * Acquiring a WebGPU device with the limits and features the kernels need, with clear errors when there is none.
 *
 * @module
 */

/** Storage buffers the widest kernel binds (selective_scan_output, ssd_step: 9). */
export const STORAGE_BUFFERS_NEEDED = 9;

/** What {@link acquireDevice} returns. */
export interface AcquiredDevice {
  device: GPUDevice;
  /** Whether the device was created here (and so is destroyed with the backend). */
  owned: boolean;
  /** Human-readable adapter description. */
  description: string;
}

/** Options of {@link acquireDevice}. */
export interface DeviceOptions {
  /** Use this device instead of requesting one. */
  device?: GPUDevice;
  /** Adapter preference when requesting. */
  powerPreference?: GPUPowerPreference;
  /** Request `timestamp-query` when the adapter has it. */
  timestamps?: boolean;
}

function describe(info: GPUAdapterInfo | undefined): string {
  if (!info) return "WebGPU";
  const name = info.description || [info.vendor, info.architecture, info.device].filter(Boolean).join(" ");
  return `WebGPU (${name || "unknown adapter"})`;
}

/**
 * A device for the backend: the given one, or one requested from `navigator.gpu` with raised limits.
 *
 * @throws Error "WebGPU is not available: navigator.gpu is undefined" / "... no adapter" / missing features.
 */
export async function acquireDevice(opts: DeviceOptions = {}): Promise<AcquiredDevice> {
  if (opts.device) {
    const d = opts.device;
    if (d.limits.maxStorageBuffersPerShaderStage < STORAGE_BUFFERS_NEEDED) {
      throw new Error(
        `the given GPUDevice allows ${d.limits.maxStorageBuffersPerShaderStage} storage buffers per shader stage; ` +
          `the kernels need ${STORAGE_BUFFERS_NEEDED} (request maxStorageBuffersPerShaderStage)`,
      );
    }
    return { device: d, owned: false, description: describe((d as { adapterInfo?: GPUAdapterInfo }).adapterInfo) };
  }
  const gpu = (globalThis.navigator as Navigator | undefined)?.gpu;
  if (!gpu) throw new Error("WebGPU is not available: navigator.gpu is undefined");
  const adapter = await gpu.requestAdapter({ powerPreference: opts.powerPreference });
  if (!adapter) throw new Error("WebGPU is not available: no adapter (navigator.gpu.requestAdapter() returned null)");
  const features: GPUFeatureName[] = [];
  if (opts.timestamps && adapter.features.has("timestamp-query")) features.push("timestamp-query");
  const al = adapter.limits;
  if (al.maxStorageBuffersPerShaderStage < STORAGE_BUFFERS_NEEDED) {
    throw new Error(
      `the adapter allows ${al.maxStorageBuffersPerShaderStage} storage buffers per shader stage; the kernels need ` +
        `${STORAGE_BUFFERS_NEEDED}`,
    );
  }
  const device = await adapter.requestDevice({
    requiredFeatures: features,
    requiredLimits: {
      maxStorageBuffersPerShaderStage: Math.min(al.maxStorageBuffersPerShaderStage, 16),
      maxStorageBufferBindingSize: al.maxStorageBufferBindingSize,
      maxBufferSize: al.maxBufferSize,
      maxComputeWorkgroupStorageSize: al.maxComputeWorkgroupStorageSize,
      maxComputeInvocationsPerWorkgroup: al.maxComputeInvocationsPerWorkgroup,
      maxComputeWorkgroupsPerDimension: al.maxComputeWorkgroupsPerDimension,
    },
  });
  return { device, owned: true, description: describe(adapter.info) };
}
