// RUN: attn-opt %s --split-input-file --verify-diagnostics --attn-gpu-kernels="chip=sm_90a kernel=hopper"
// RUN: attn-opt %s --split-input-file --attn-gpu-kernels="chip=sm_90a" | FileCheck %s --check-prefix=AUTO

// The wgmma kernel reads no score operand yet: kernel=hopper names the
// missing piece, and kernel=auto on sm_90a takes the prefill (mma.sync)
// kernel instead.
// AUTO: family = "prefill"
// AUTO: family = "prefill"
func.func @bias(%q: memref<1x2x256x128xbf16>, %bias: memref<1x1x256x256xbf16>, %o: memref<1x2x256x128xbf16>) {
  %0 = bufferization.to_tensor %q restrict : memref<1x2x256x128xbf16> to tensor<1x2x256x128xbf16>
  %1 = bufferization.to_tensor %bias restrict : memref<1x1x256x256xbf16> to tensor<1x1x256x256xbf16>
  // expected-error @+1 {{expected no bias, mask, mask_mod or sinks on the hopper kernel (not supported yet: kernel=prefill takes them, as kernel=auto does)}}
  %2 = attn.attention ins(%0, %0, %0 : tensor<1x2x256x128xbf16>, tensor<1x2x256x128xbf16>, tensor<1x2x256x128xbf16>) bias(%1 : tensor<1x1x256x256xbf16>) -> tensor<1x2x256x128xbf16>
  bufferization.materialize_in_destination %2 in restrict writable %o : (tensor<1x2x256x128xbf16>, memref<1x2x256x128xbf16>) -> ()
  return
}

// -----

func.func @sinks(%q: memref<1x2x256x128xbf16>, %s: memref<2xf32>, %o: memref<1x2x256x128xbf16>) {
  %0 = bufferization.to_tensor %q restrict : memref<1x2x256x128xbf16> to tensor<1x2x256x128xbf16>
  %1 = bufferization.to_tensor %s restrict : memref<2xf32> to tensor<2xf32>
  // expected-error @+1 {{expected no bias, mask, mask_mod or sinks on the hopper kernel}}
  %2 = attn.attention ins(%0, %0, %0 : tensor<1x2x256x128xbf16>, tensor<1x2x256x128xbf16>, tensor<1x2x256x128xbf16>) sinks(%1 : tensor<2xf32>) {mask_kind = #attn.mask<causal_bottom_right>} -> tensor<1x2x256x128xbf16>
  bufferization.materialize_in_destination %2 in restrict writable %o : (tensor<1x2x256x128xbf16>, memref<1x2x256x128xbf16>) -> ()
  return
}
