// RUN: attn-opt %s --attn-gpu-kernels="chip=sm_90a" | FileCheck %s --check-prefix=AUTO
// RUN: attn-opt %s --attn-gpu-kernels="chip=sm_90a hopper-q-shared=false" | FileCheck %s --check-prefix=TWO
// RUN: attn-opt %s --attn-gpu-kernels="chip=sm_90a hopper-loads=cp-async" | FileCheck %s --check-prefix=TWO
// RUN: attn-opt %s --attn-gpu-kernels="chip=sm_90a hopper-block-n=64" | FileCheck %s --check-prefix=TWO
// RUN: attn-opt %s --attn-gpu-kernels="chip=sm_90a hopper-consumers=2" | FileCheck %s --check-prefix=TWO

// hopper-consumers=0 (auto) takes three consumer warpgroups at D = 64 where
// a 192-row tile sees more than 8 KV blocks of 128 keys, two on short tiles
// and at D = 128; a Q kept in registers, cp.async loads or block-n 64 keep
// two everywhere.
// AUTO-LABEL: gpu.func @long_d64_kernel
// AUTO-SAME: block_m = 192
// AUTO-SAME: nvvm.maxntid = array<i32: 512, 1, 1>
// AUTO-LABEL: gpu.func @short_causal_d64_kernel
// AUTO-SAME: block_m = 128
// AUTO-SAME: nvvm.maxntid = array<i32: 384, 1, 1>
// AUTO-LABEL: gpu.func @short_d64_kernel
// AUTO-SAME: block_m = 128
// AUTO-LABEL: gpu.func @long_d128_kernel
// AUTO-SAME: block_m = 128
// TWO-LABEL: gpu.func @long_d64_kernel
// TWO-SAME: block_m = 128
// TWO-SAME: nvvm.maxntid = array<i32: 384, 1, 1>
func.func @long_d64(%q: memref<1x2x2048x64xbf16>, %o: memref<1x2x2048x64xbf16>) {
  %0 = bufferization.to_tensor %q restrict : memref<1x2x2048x64xbf16> to tensor<1x2x2048x64xbf16>
  %1 = attn.attention ins(%0, %0, %0 : tensor<1x2x2048x64xbf16>, tensor<1x2x2048x64xbf16>, tensor<1x2x2048x64xbf16>) -> tensor<1x2x2048x64xbf16>
  bufferization.materialize_in_destination %1 in restrict writable %o : (tensor<1x2x2048x64xbf16>, memref<1x2x2048x64xbf16>) -> ()
  return
}

func.func @short_causal_d64(%q: memref<1x2x1024x64xbf16>, %o: memref<1x2x1024x64xbf16>) {
  %0 = bufferization.to_tensor %q restrict : memref<1x2x1024x64xbf16> to tensor<1x2x1024x64xbf16>
  %1 = attn.attention ins(%0, %0, %0 : tensor<1x2x1024x64xbf16>, tensor<1x2x1024x64xbf16>, tensor<1x2x1024x64xbf16>) {mask_kind = #attn.mask<causal_bottom_right>} -> tensor<1x2x1024x64xbf16>
  bufferization.materialize_in_destination %1 in restrict writable %o : (tensor<1x2x1024x64xbf16>, memref<1x2x1024x64xbf16>) -> ()
  return
}

func.func @short_d64(%q: memref<1x2x1024x64xbf16>, %o: memref<1x2x1024x64xbf16>) {
  %0 = bufferization.to_tensor %q restrict : memref<1x2x1024x64xbf16> to tensor<1x2x1024x64xbf16>
  %1 = attn.attention ins(%0, %0, %0 : tensor<1x2x1024x64xbf16>, tensor<1x2x1024x64xbf16>, tensor<1x2x1024x64xbf16>) -> tensor<1x2x1024x64xbf16>
  bufferization.materialize_in_destination %1 in restrict writable %o : (tensor<1x2x1024x64xbf16>, memref<1x2x1024x64xbf16>) -> ()
  return
}

func.func @long_d128(%q: memref<1x2x2048x128xbf16>, %o: memref<1x2x2048x128xbf16>) {
  %0 = bufferization.to_tensor %q restrict : memref<1x2x2048x128xbf16> to tensor<1x2x2048x128xbf16>
  %1 = attn.attention ins(%0, %0, %0 : tensor<1x2x2048x128xbf16>, tensor<1x2x2048x128xbf16>, tensor<1x2x2048x128xbf16>) -> tensor<1x2x2048x128xbf16>
  bufferization.materialize_in_destination %1 in restrict writable %o : (tensor<1x2x2048x128xbf16>, memref<1x2x2048x128xbf16>) -> ()
  return
}
