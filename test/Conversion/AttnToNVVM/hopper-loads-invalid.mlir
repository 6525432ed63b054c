// RUN: attn-opt %s --verify-diagnostics --attn-gpu-kernels="chip=sm_90a kernel=hopper hopper-loads=bulk"

// hopper-loads names the producer's copies: tma or cp-async.
func.func @loads(%q: memref<1x2x512x128xbf16>, %o: memref<1x2x512x128xbf16>) {
  %0 = bufferization.to_tensor %q restrict : memref<1x2x512x128xbf16> to tensor<1x2x512x128xbf16>
  // expected-error @+1 {{expected hopper-loads of tma or cp-async, got 'bulk'}}
  %1 = attn.attention ins(%0, %0, %0 : tensor<1x2x512x128xbf16>, tensor<1x2x512x128xbf16>, tensor<1x2x512x128xbf16>) -> tensor<1x2x512x128xbf16>
  bufferization.materialize_in_destination %1 in restrict writable %o : (tensor<1x2x512x128xbf16>, memref<1x2x512x128xbf16>) -> ()
  return
}
