// RUN: attn-opt %s --split-input-file --attn-plan-gpu-kernels -verify-diagnostics

// What no family supports is refused at the op, before any tiling: a Q
// whose head dim is not its innermost, unit-stride dim.
func.func @head_dim_stride(%q: memref<1x2x64x64xbf16, strided<[16384, 128, 256, 2]>>, %o: memref<1x2x64x64xbf16>) {
  %0 = bufferization.to_tensor %q restrict : memref<1x2x64x64xbf16, strided<[16384, 128, 256, 2]>> to tensor<1x2x64x64xbf16>
  // expected-error @+1 {{expected a unit stride along the head dim (innermost) of Q on the GPU path (the kernels copy 16-byte pieces of a row), got strides [16384, 128, 256, 2]}}
  %out = attn.attention ins(%0, %0, %0 : tensor<1x2x64x64xbf16>, tensor<1x2x64x64xbf16>, tensor<1x2x64x64xbf16>) -> tensor<1x2x64x64xbf16>
  bufferization.materialize_in_destination %out in restrict writable %o : (tensor<1x2x64x64xbf16>, memref<1x2x64x64xbf16>) -> ()
  return
}
