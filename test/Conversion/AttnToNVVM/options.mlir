// RUN: attn-opt %s --split-input-file --verify-diagnostics --attn-gpu-kernels="block-m=48"

// BLOCK_M must give each of the 4 warps 16 or 32 rows.
func.func @block_m(%q: memref<1x1x64x64xbf16>, %o: memref<1x1x64x64xbf16>) {
  %0 = bufferization.to_tensor %q restrict : memref<1x1x64x64xbf16> to tensor<1x1x64x64xbf16>
  // expected-error @+1 {{expected block-m to be 16 or 32 rows per warp, got 48 for 4 warps}}
  %1 = attn.attention ins(%0, %0, %0 : tensor<1x1x64x64xbf16>, tensor<1x1x64x64xbf16>, tensor<1x1x64x64xbf16>) -> tensor<1x1x64x64xbf16>
  bufferization.materialize_in_destination %1 in restrict writable %o : (tensor<1x1x64x64xbf16>, memref<1x1x64x64xbf16>) -> ()
  return
}
