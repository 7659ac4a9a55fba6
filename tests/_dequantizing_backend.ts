/**
 * A test-only Backend wrapper that accepts q8_0 / q4_0 matrices by decoding them to f32 on upload, for testing the
 * host plumbing of quantized models (quantize → load → logits) before a backend's own quantized kernels exist. Its
 * logits are those of the dequantized f32 model by construction; the product never dequantizes silently.
 */
import type { Backend, BackendCapabilities, Matrix, QuantizedMatrixData } from "../runtime/backend.ts";
import { checkUploadQuantized } from "../runtime/op_checks.ts";
import { dequantizeMatrix } from "../runtime/quantize.ts";

/** `inner` (which lacks `uploadQuantizedMatrix`) with one that dequantizes; `uploads` counts the matrices it took. */
export function dequantizingBackend(inner: Backend): Backend & { quantizedUploads: QuantizedMatrixData[] } {
  const quantizedUploads: QuantizedMatrixData[] = [];
  const capabilities: BackendCapabilities = { ...inner.capabilities, quantFormats: ["q8_0", "q4_0"] };
  const upload = (data: QuantizedMatrixData, label: string): Matrix => {
    checkUploadQuantized(data, label);
    quantizedUploads.push(data);
    const f = dequantizeMatrix(data);
    return inner.uploadMatrix(f.data, data.n, data.k, label);
  };
  return new Proxy(inner, {
    get(target, prop, receiver) {
      if (prop === "capabilities") return capabilities;
      if (prop === "uploadQuantizedMatrix") return upload;
      if (prop === "quantizedUploads") return quantizedUploads;
      const v = Reflect.get(target, prop, receiver);
      return typeof v === "function" ? v.bind(target) : v;
    },
  }) as Backend & { quantizedUploads: QuantizedMatrixData[] };
}
