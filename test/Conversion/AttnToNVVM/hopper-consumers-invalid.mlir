// RUN: not attn-opt %s --attn-gpu-kernels="chip=sm_90a kernel=hopper hopper-consumers=3" 2>&1 | FileCheck %s

// Three consumer warpgroups hold a 64-row slice within 128 registers at
// D = 64 only.
// CHECK: hopper-consumers-invalid.mlir:[[@LINE+4]]:8: error: 'attn.attention' op expected D = 64 with hopper-consumers=3 (a consumer thread has 160 registers), got D = 128
func.func @wide(%q: memref<1x2x512x128xbf16>, %o: memref<1x2x512x128xbf16>) {
  %0 = bufferization.to_tensor %q restrict : memref<1x2x512x128xbf16> to tensor<1x2x512x128xbf16>
  // The op's location is the diagnostic's.
  %1 = attn.attention ins(%0, %0, %0 : tensor<1x2x512x128xbf16>, tensor<1x2x512x128xbf16>, tensor<1x2x512x128xbf16>) -> tensor<1x2x512x128xbf16>
  bufferization.materialize_in_destination %1 in restrict writable %o : (tensor<1x2x512x128xbf16>, memref<1x2x512x128xbf16>) -> ()
  return
}
