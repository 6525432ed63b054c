// RUN: not attn-opt %s --attn-gpu-kernels="chip=sm_90a kernel=hopper hopper-q-prefetch=soon" 2>&1 | FileCheck %s --check-prefix=NAME
// RUN: not attn-opt %s --attn-gpu-kernels="chip=sm_90a kernel=hopper hopper-q-prefetch=true" 2>&1 | FileCheck %s --check-prefix=SHARED
// RUN: not attn-opt %s --attn-gpu-kernels="chip=sm_90a kernel=hopper hopper-q-prefetch=true hopper-block-n=64 hopper-persistent=0" 2>&1 | FileCheck %s --check-prefix=SHARED

// hopper-q-prefetch is auto, true or false; true needs the dynamic
// scheduler's hand-over and Q in registers (D = 128 with block-n 128 keeps
// Q in a shared tile; one CTA per tile has no next tile).
// NAME: error: 'attn.attention' op expected hopper-q-prefetch of auto, true or false, got 'soon'
// SHARED: error: 'attn.attention' op expected the dynamic scheduler and Q in registers with hopper-q-prefetch=true (the next tile comes from the scheduler's hand-over; a shared Q tile is the producer's)
func.func @prefetch(%q: memref<1x2x512x128xbf16>, %o: memref<1x2x512x128xbf16>) {
  %0 = bufferization.to_tensor %q restrict : memref<1x2x512x128xbf16> to tensor<1x2x512x128xbf16>
  %1 = attn.attention ins(%0, %0, %0 : tensor<1x2x512x128xbf16>, tensor<1x2x512x128xbf16>, tensor<1x2x512x128xbf16>) {mask_kind = #attn.mask<causal_bottom_right>} -> tensor<1x2x512x128xbf16>
  bufferization.materialize_in_destination %1 in restrict writable %o : (tensor<1x2x512x128xbf16>, memref<1x2x512x128xbf16>) -> ()
  return
}
