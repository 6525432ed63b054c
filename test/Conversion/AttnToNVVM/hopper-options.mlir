// RUN: attn-opt %s --split-input-file --verify-diagnostics --attn-gpu-kernels="kernel=hopper chip=sm_90a hopper-stages=4"
// RUN: attn-opt %s --split-input-file --attn-gpu-kernels="chip=sm_90a hopper-stages=4" | FileCheck %s

// Four stages of 128-key K and V tiles and the Q tile at D = 128 exceed
// 227 KiB: kernel=hopper refuses the plan, kernel=auto keeps the mma.sync
// prefill kernel.
// CHECK: family = "prefill"
func.func @shared_memory(%q: memref<1x1x256x128xbf16>, %o: memref<1x1x256x128xbf16>) {
  %0 = bufferization.to_tensor %q restrict : memref<1x1x256x128xbf16> to tensor<1x1x256x128xbf16>
  // expected-error @+1 {{expected the hopper kernel's shared memory to fit 227 KiB, got 296120 bytes}}
  %1 = attn.attention ins(%0, %0, %0 : tensor<1x1x256x128xbf16>, tensor<1x1x256x128xbf16>, tensor<1x1x256x128xbf16>) -> tensor<1x1x256x128xbf16>
  bufferization.materialize_in_destination %1 in restrict writable %o : (tensor<1x1x256x128xbf16>, memref<1x1x256x128xbf16>) -> ()
  return
}

// -----

// The hopper tiles are 64-column panels with O as wide as S: D = 96 is
// refused by kernel=hopper, and kernel=auto on sm_90a falls back to the
// mma.sync prefill kernel, which takes every multiple of 16 in [32, 256].
// CHECK-LABEL: gpu.func @head_dim_96_kernel
// CHECK-SAME: family = "prefill"
// CHECK-SAME: head_dim = 96, value_head_dim = 96
func.func @head_dim_96(%q: memref<1x1x256x96xbf16>, %o: memref<1x1x256x96xbf16>) {
  %0 = bufferization.to_tensor %q restrict : memref<1x1x256x96xbf16> to tensor<1x1x256x96xbf16>
  // expected-error @+1 {{expected D = Dv = 64 or 128 on the hopper kernel, got D = 96, Dv = 96 (the prefill kernel takes it)}}
  %1 = attn.attention ins(%0, %0, %0 : tensor<1x1x256x96xbf16>, tensor<1x1x256x96xbf16>, tensor<1x1x256x96xbf16>) -> tensor<1x1x256x96xbf16>
  bufferization.materialize_in_destination %1 in restrict writable %o : (tensor<1x1x256x96xbf16>, memref<1x1x256x96xbf16>) -> ()
  return
}
