// sm_90's dQ reduction (red.global.add.v4.f32) leaves llvm.atomicrmw to
// the bias gradient.
// RUN: attn-opt %s --split-input-file --attn-gpu-backward-kernels="chip=sm_90 ptx-features=+ptx81 tile-model=" | FileCheck %s
// RUN: not attn-opt %s --split-input-file --attn-gpu-backward-kernels="deterministic tile-model=" 2>&1 | FileCheck %s --check-prefix=DET

// A full-shape bias [B, Hq, Lq, Lk] (bf16) with grad_bias, GQA 4/2, causal,
// Lq = 200, Lk = 300: d_bias is an output after dv; the main kernel stores
// every element of dS (before softcap's factor) rounded to bf16, once, for
// queries below Lq and keys below Lk, over a d_bias that _bwd_dbias_zero
// cleared first (causal: the main kernel skips the Q blocks that see none
// of its keys; 4 * 200 * 300 / 128 = 1875 CTAs); no convert launch.
// CHECK-LABEL: gpu.module @attn_kernels
// CHECK: gpu.func @full_bwd_preprocess(
// CHECK-SAME: #attn.kernel_arg<"dv", output>, #attn.kernel_arg<"d_bias", output>, #attn.kernel_arg<"delta", workspace>
// CHECK: gpu.func @full_bwd_dbias_zero(
// CHECK: llvm.store %{{.*}} {alignment = 2 : i64} : bf16, !llvm.ptr<1>
// CHECK: gpu.func @full_bwd(
// CHECK: arith.cmpi ult, %{{.*}}, %c200_i32
// CHECK: arith.cmpi ult, %{{.*}}, %c300_i32
// CHECK: scf.if
// CHECK: llvm.fptrunc %{{.*}} : f32 to bf16
// CHECK: llvm.store %{{.*}} {alignment = 2 : i64} : bf16, !llvm.ptr<1>
// CHECK-NOT: llvm.atomicrmw
// CHECK: gpu.func @full_bwd_convert(
// CHECK-NOT: dbias
// CHECK-LABEL: func.func @full
// CHECK: gpu.launch_func @attn_kernels::@full_bwd_preprocess
// CHECK: gpu.launch_func @attn_kernels::@full_bwd_dbias_zero blocks in (%c1875,
// CHECK: gpu.launch_func @attn_kernels::@full_bwd
// CHECK: gpu.launch_func @attn_kernels::@full_bwd_convert
// CHECK-NOT: gpu.launch_func
// The deterministic program stores the same way.
// DET: gpu.func @full_bwd(
// DET: llvm.store %{{.*}} {alignment = 2 : i64} : bf16, !llvm.ptr<1>
func.func @full(%q: memref<1x4x200x64xbf16>, %k: memref<1x2x300x64xbf16>,
                %v: memref<1x2x300x64xbf16>, %o: memref<1x4x200x64xbf16>,
                %do: memref<1x4x200x64xbf16>, %lse: memref<1x4x200xf32>,
                %bias: memref<1x4x200x300xbf16>,
                %dq: memref<1x4x200x64xbf16>, %dk: memref<1x2x300x64xbf16>,
                %dv: memref<1x2x300x64xbf16>, %db: memref<1x4x200x300xbf16>) {
  %0 = bufferization.to_tensor %q restrict : memref<1x4x200x64xbf16> to tensor<1x4x200x64xbf16>
  %1 = bufferization.to_tensor %k restrict : memref<1x2x300x64xbf16> to tensor<1x2x300x64xbf16>
  %2 = bufferization.to_tensor %v restrict : memref<1x2x300x64xbf16> to tensor<1x2x300x64xbf16>
  %3 = bufferization.to_tensor %o restrict : memref<1x4x200x64xbf16> to tensor<1x4x200x64xbf16>
  %4 = bufferization.to_tensor %do restrict : memref<1x4x200x64xbf16> to tensor<1x4x200x64xbf16>
  %5 = bufferization.to_tensor %lse restrict : memref<1x4x200xf32> to tensor<1x4x200xf32>
  %6 = bufferization.to_tensor %bias restrict : memref<1x4x200x300xbf16> to tensor<1x4x200x300xbf16>
  %gq, %gk, %gv, %gb = attn.attention_backward
      ins(%0, %1, %2, %3, %4, %5 : tensor<1x4x200x64xbf16>, tensor<1x2x300x64xbf16>,
          tensor<1x2x300x64xbf16>, tensor<1x4x200x64xbf16>, tensor<1x4x200x64xbf16>,
          tensor<1x4x200xf32>)
      bias(%6 : tensor<1x4x200x300xbf16>)
      {mask_kind = #attn.mask<causal_bottom_right>}
      -> tensor<1x4x200x64xbf16>, tensor<1x2x300x64xbf16>, tensor<1x2x300x64xbf16>,
         tensor<1x4x200x300xbf16>
  bufferization.materialize_in_destination %gq in restrict writable %dq
      : (tensor<1x4x200x64xbf16>, memref<1x4x200x64xbf16>) -> ()
  bufferization.materialize_in_destination %gk in restrict writable %dk
      : (tensor<1x2x300x64xbf16>, memref<1x2x300x64xbf16>) -> ()
  bufferization.materialize_in_destination %gv in restrict writable %dv
      : (tensor<1x2x300x64xbf16>, memref<1x2x300x64xbf16>) -> ()
  bufferization.materialize_in_destination %gb in restrict writable %db
      : (tensor<1x4x200x300xbf16>, memref<1x4x200x300xbf16>) -> ()
  return
}

// -----

// An f32 bias [1, Hq, Lq, Lk] broadcast over B = 2 (a relative-position
// bias) with softcap: the main kernel adds dS into the f32 workspace
// dbias_accum of the bias' shape with atomics; _bwd_dbias_zero clears it
// before the main kernel, _bwd_dbias_convert stores it into d_bias after
// (one thread per element: 4 * 128 * 128 / 128 = 512 CTAs). The
// deterministic program refuses it (the sum's order is the atomics').
// CHECK-LABEL: gpu.module @attn_kernels
// CHECK: gpu.func @shared_bwd_preprocess(
// CHECK-SAME: #attn.kernel_arg<"d_bias", output>, #attn.kernel_arg<"delta", workspace>, #attn.kernel_arg<"lse_log2", workspace>, #attn.kernel_arg<"dq_accum", workspace>, #attn.kernel_arg<"dbias_accum", workspace>
// CHECK: gpu.func @shared_bwd_dbias_zero(
// CHECK: llvm.store %{{.*}} {alignment = 4 : i64} : f32, !llvm.ptr<1>
// CHECK: gpu.func @shared_bwd(
// CHECK: llvm.atomicrmw fadd %{{.*}}, %{{.*}} monotonic : !llvm.ptr<1>, f32
// CHECK: gpu.func @shared_bwd_convert(
// CHECK: gpu.func @shared_bwd_dbias_convert(
// CHECK: llvm.load %{{.*}} {alignment = 4 : i64} : !llvm.ptr<1> -> f32
// CHECK: llvm.store %{{.*}} {alignment = 4 : i64} : f32, !llvm.ptr<1>
// CHECK-LABEL: func.func @shared
// CHECK: %[[ACC:.*]] = memref.alloc() : memref<1x4x128x128xf32>
// CHECK: gpu.launch_func @attn_kernels::@shared_bwd_preprocess
// CHECK: gpu.launch_func @attn_kernels::@shared_bwd_dbias_zero blocks in (%c512, %c1{{.*}}, %c1{{.*}})
// CHECK: gpu.launch_func @attn_kernels::@shared_bwd
// CHECK: gpu.launch_func @attn_kernels::@shared_bwd_convert
// CHECK: gpu.launch_func @attn_kernels::@shared_bwd_dbias_convert
// CHECK: memref.dealloc %[[ACC]]
// DET: expected a bias of the full [B, Hq, Lq, Lk] shape for grad_bias in the deterministic backward (a broadcast bias' gradient is summed with atomics), got 1x4x128x128
func.func @shared(%q: memref<2x4x128x64xf16>, %k: memref<2x4x128x64xf16>,
                  %lse: memref<2x4x128xf32>, %bias: memref<1x4x128x128xf32>,
                  %dq: memref<2x4x128x64xf16>, %dk: memref<2x4x128x64xf16>,
                  %dv: memref<2x4x128x64xf16>, %db: memref<1x4x128x128xf32>) {
  %0 = bufferization.to_tensor %q restrict : memref<2x4x128x64xf16> to tensor<2x4x128x64xf16>
  %1 = bufferization.to_tensor %k restrict : memref<2x4x128x64xf16> to tensor<2x4x128x64xf16>
  %5 = bufferization.to_tensor %lse restrict : memref<2x4x128xf32> to tensor<2x4x128xf32>
  %6 = bufferization.to_tensor %bias restrict : memref<1x4x128x128xf32> to tensor<1x4x128x128xf32>
  %gq, %gk, %gv, %gb = attn.attention_backward
      ins(%0, %1, %1, %0, %0, %5 : tensor<2x4x128x64xf16>, tensor<2x4x128x64xf16>,
          tensor<2x4x128x64xf16>, tensor<2x4x128x64xf16>, tensor<2x4x128x64xf16>,
          tensor<2x4x128xf32>)
      bias(%6 : tensor<1x4x128x128xf32>) {softcap = 30.0 : f64}
      -> tensor<2x4x128x64xf16>, tensor<2x4x128x64xf16>, tensor<2x4x128x64xf16>,
         tensor<1x4x128x128xf32>
  bufferization.materialize_in_destination %gq in restrict writable %dq
      : (tensor<2x4x128x64xf16>, memref<2x4x128x64xf16>) -> ()
  bufferization.materialize_in_destination %gk in restrict writable %dk
      : (tensor<2x4x128x64xf16>, memref<2x4x128x64xf16>) -> ()
  bufferization.materialize_in_destination %gv in restrict writable %dv
      : (tensor<2x4x128x64xf16>, memref<2x4x128x64xf16>) -> ()
  bufferization.materialize_in_destination %gb in restrict writable %db
      : (tensor<1x4x128x128xf32>, memref<1x4x128x128xf32>) -> ()
  return
}
