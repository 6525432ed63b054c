// RUN: attn-opt %s --split-input-file --attn-plan-gpu-kernels -verify-diagnostics

// What no family supports is refused at the op, before any tiling.
func.func @bshd(%q: memref<1x64x2x64xbf16>, %o: memref<1x64x2x64xbf16>) {
  %0 = bufferization.to_tensor %q restrict : memref<1x64x2x64xbf16> to tensor<1x64x2x64xbf16>
  // expected-error @+1 {{expected the bhsd layout on the GPU path}}
  %out = attn.attention ins(%0, %0, %0 : tensor<1x64x2x64xbf16>, tensor<1x64x2x64xbf16>, tensor<1x64x2x64xbf16>) {layout = #attn.layout<bshd>} -> tensor<1x64x2x64xbf16>
  bufferization.materialize_in_destination %out in restrict writable %o : (tensor<1x64x2x64xbf16>, memref<1x64x2x64xbf16>) -> ()
  return
}
