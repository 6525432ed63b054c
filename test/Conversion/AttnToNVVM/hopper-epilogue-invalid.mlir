// RUN: not attn-opt %s --attn-gpu-kernels="chip=sm_90a kernel=hopper hopper-epilogue=smem" 2>&1 | FileCheck %s --check-prefix=NAME
// RUN: not attn-opt %s --attn-gpu-kernels="chip=sm_90a kernel=hopper hopper-epilogue=tma hopper-stages=3" 2>&1 | FileCheck %s --check-prefix=FIT
// RUN: attn-opt %s --attn-gpu-kernels="chip=sm_90a kernel=hopper hopper-stages=3" | FileCheck %s --check-prefix=AUTO

// hopper-epilogue is auto, registers or tma. At D = 128 with block-n 128 a
// third ring stage (229376 B of K, V and Q tiles) leaves no room for the
// 32 KiB O tile: tma is refused there, and auto keeps the registers.
// NAME: error: 'attn.attention' op expected hopper-epilogue of auto, registers or tma, got 'smem'
// FIT: error: 'attn.attention' op expected the hopper kernel's shared memory to fit 227 KiB, got 263320 bytes
// AUTO: shared_memory_bytes = 230552
// AUTO-NOT: o_tensor_map
func.func @epilogue(%q: memref<1x2x512x128xbf16>, %o: memref<1x2x512x128xbf16>) {
  %0 = bufferization.to_tensor %q restrict : memref<1x2x512x128xbf16> to tensor<1x2x512x128xbf16>
  %1 = attn.attention ins(%0, %0, %0 : tensor<1x2x512x128xbf16>, tensor<1x2x512x128xbf16>, tensor<1x2x512x128xbf16>) {mask_kind = #attn.mask<causal_bottom_right>} -> tensor<1x2x512x128xbf16>
  bufferization.materialize_in_destination %1 in restrict writable %o : (tensor<1x2x512x128xbf16>, memref<1x2x512x128xbf16>) -> ()
  return
}
