// RUN: not attn-opt %s --attn-gpu-kernels="chip=sm_90a kernel=hopper hopper-scheduler=lpt" 2>&1 | FileCheck %s --check-prefix=NAME
// RUN: not attn-opt %s --attn-gpu-kernels="chip=sm_90a kernel=hopper hopper-scheduler=dynamic hopper-loads=cp-async" 2>&1 | FileCheck %s --check-prefix=CPASYNC
// RUN: not attn-opt %s --attn-gpu-kernels="chip=sm_90a kernel=hopper hopper-scheduler=dynamic hopper-persistent=0" 2>&1 | FileCheck %s --check-prefix=GRID
// RUN: not attn-opt %s --attn-gpu-kernels="chip=sm_90a kernel=hopper hopper-group-bytes=0" 2>&1 | FileCheck %s --check-prefix=GROUP
// RUN: not attn-opt %s --attn-gpu-kernels="chip=sm_90a kernel=hopper hopper-q-shared=false" 2>&1 | FileCheck %s --check-prefix=QREGS
// RUN: not attn-opt %s --attn-gpu-kernels="chip=sm_90a kernel=hopper hopper-q-shared=maybe" 2>&1 | FileCheck %s --check-prefix=QNAME

// hopper-scheduler is auto, static or dynamic; the dynamic scheduler's
// counter is read by the producer's one TMA thread, and it needs a
// persistent grid.
// NAME: error: 'attn.attention' op expected hopper-scheduler of auto, static or dynamic, got 'lpt'
// CPASYNC: error: 'attn.attention' op expected hopper-loads=tma with hopper-scheduler=dynamic (the tile counter is read by the producer's one TMA thread)
// hopper-group-bytes is a positive byte count; at D = 128 with block-n 128
// Q cannot live in registers.
// GROUP: error: 'attn.attention' op expected a positive hopper-group-bytes, got 0
// QREGS: error: 'attn.attention' op expected hopper-q-shared of auto or true at D = 128 with block-n 128 (Q in registers needs more than the 168 registers a consumer thread has before setmaxnreg)
// QNAME: error: 'attn.attention' op expected hopper-q-shared of auto, true or false, got 'maybe'
// GRID: error: 'attn.attention' op expected a persistent grid (hopper-persistent of -1 or a CTA count) with hopper-scheduler=dynamic, got 0
func.func @scheduler(%q: memref<1x2x512x128xbf16>, %o: memref<1x2x512x128xbf16>) {
  %0 = bufferization.to_tensor %q restrict : memref<1x2x512x128xbf16> to tensor<1x2x512x128xbf16>
  %1 = attn.attention ins(%0, %0, %0 : tensor<1x2x512x128xbf16>, tensor<1x2x512x128xbf16>, tensor<1x2x512x128xbf16>) {mask_kind = #attn.mask<causal_bottom_right>} -> tensor<1x2x512x128xbf16>
  bufferization.materialize_in_destination %1 in restrict writable %o : (tensor<1x2x512x128xbf16>, memref<1x2x512x128xbf16>) -> ()
  return
}
