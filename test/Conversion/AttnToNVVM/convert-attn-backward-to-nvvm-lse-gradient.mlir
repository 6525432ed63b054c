// RUN: attn-opt %s --attn-gpu-backward-kernels=tile-model= | FileCheck %s
// RUN: attn-opt %s --attn-gpu-backward-kernels="chip=sm_90a ptx-features=+ptx81 tile-model=" | FileCheck %s --check-prefix=HOPPER
// RUN: attn-opt %s --attn-plan-gpu-backward=tile-model= --attn-tile-backward | FileCheck %s --check-prefix=TILED

// The LSE's gradient: attn-tile-backward starts Delta's row sum at
// -grad_lse; the kernels take grad_lse after lse (the entry's order) and
// only the preprocess reads it, delta = rowsum(dO * O) - grad_lse. GQA 4/2,
// D = 64, causal, Lq = Lk = 256.
// TILED-LABEL: func.func @lse_gradient
// TILED: %[[NEG:.*]] = linalg.generic {{.*}} ins(%{{.*}} : tensor<1x4x256xf32>)
// TILED: arith.negf
// TILED: linalg.generic {{.*}} ins(%{{.*}}, %{{.*}} : tensor<1x4x256x64xbf16>, tensor<1x4x256x64xbf16>) outs(%[[NEG]] : tensor<1x4x256xf32>)
// CHECK-LABEL: gpu.module @attn_kernels
// CHECK: gpu.func @lse_gradient_bwd_preprocess(
// CHECK-SAME: #attn.kernel_arg<"lse", input>, #attn.kernel_arg<"grad_lse", input>, #attn.kernel_arg<"dq", output>
// CHECK: memref.extract_aligned_pointer_as_index %arg6 : memref<1x4x256xf32>
// CHECK: %[[G:.*]] = llvm.load %{{.*}} {alignment = 4 : i64} : !llvm.ptr<1> -> f32
// CHECK-NEXT: %[[D:.*]] = arith.subf %{{.*}}, %[[G]] : f32
// CHECK: llvm.store %[[D]]
// On sm_90a the main kernel stays the hopper (wgmma) one.
// HOPPER: gpu.func @lse_gradient_bwd(
// HOPPER-SAME: family = "hopper-backward"
func.func @lse_gradient(%q: memref<1x4x256x64xbf16>, %k: memref<1x2x256x64xbf16>,
                        %v: memref<1x2x256x64xbf16>, %o: memref<1x4x256x64xbf16>,
                        %do: memref<1x4x256x64xbf16>, %lse: memref<1x4x256xf32>,
                        %glse: memref<1x4x256xf32>,
                        %dq: memref<1x4x256x64xbf16>, %dk: memref<1x2x256x64xbf16>,
                        %dv: memref<1x2x256x64xbf16>) {
  %0 = bufferization.to_tensor %q restrict : memref<1x4x256x64xbf16> to tensor<1x4x256x64xbf16>
  %1 = bufferization.to_tensor %k restrict : memref<1x2x256x64xbf16> to tensor<1x2x256x64xbf16>
  %2 = bufferization.to_tensor %v restrict : memref<1x2x256x64xbf16> to tensor<1x2x256x64xbf16>
  %3 = bufferization.to_tensor %o restrict : memref<1x4x256x64xbf16> to tensor<1x4x256x64xbf16>
  %4 = bufferization.to_tensor %do restrict : memref<1x4x256x64xbf16> to tensor<1x4x256x64xbf16>
  %5 = bufferization.to_tensor %lse restrict : memref<1x4x256xf32> to tensor<1x4x256xf32>
  %6 = bufferization.to_tensor %glse restrict : memref<1x4x256xf32> to tensor<1x4x256xf32>
  %gq, %gk, %gv = attn.attention_backward
      ins(%0, %1, %2, %3, %4, %5 : tensor<1x4x256x64xbf16>, tensor<1x2x256x64xbf16>,
          tensor<1x2x256x64xbf16>, tensor<1x4x256x64xbf16>, tensor<1x4x256x64xbf16>,
          tensor<1x4x256xf32>)
      grad_lse(%6 : tensor<1x4x256xf32>)
      {mask_kind = #attn.mask<causal_bottom_right>}
      -> tensor<1x4x256x64xbf16>, tensor<1x2x256x64xbf16>, tensor<1x2x256x64xbf16>
  bufferization.materialize_in_destination %gq in restrict writable %dq
      : (tensor<1x4x256x64xbf16>, memref<1x4x256x64xbf16>) -> ()
  bufferization.materialize_in_destination %gk in restrict writable %dk
      : (tensor<1x2x256x64xbf16>, memref<1x2x256x64xbf16>) -> ()
  bufferization.materialize_in_destination %gv in restrict writable %dv
      : (tensor<1x2x256x64xbf16>, memref<1x2x256x64xbf16>) -> ()
  return
}
