// RUN: attn-opt %s --split-input-file --attn-gpu-backward-kernels="tile-model=" | FileCheck %s

// The three kernels of head dims past 64 / 128 (docs/Pipeline.md, head
// dims). The preprocess gives a row max(D, Dv) / 8 lanes rounded up to a
// power of two: D = 80 16 lanes (10 read dO, O), 128 / 16 = 8 rows per CTA;
// MLA 192 / 128 32 lanes (24 zero dq_accum, 16 read dO, O), 4 rows.

// D = 80 is not a multiple of 32: dq_accum is natural throughout
// (backwardDQAccumTiled), so the convert stores each 8-float chunk's halves
// in place, never the tiled shuffles {0, 1, 4, 5} / {2, 3, 6, 7}. Fixed
// 64 x 64 tiles, rows padded to 256 bytes: 64 * 512 + 64 * 128 + 2 * (64 *
// 512 + 512) = 107520.
// CHECK-LABEL: gpu.func @d80_bwd_preprocess
// CHECK-SAME: grid_formula = "[ceil(Lq / 8), B * Hq, 1]"
// CHECK-LABEL: gpu.func @d80_bwd(
// CHECK-SAME: shared_memory_bytes = 107520, block_m = 64, block_n = 64, num_warps = 4
// CHECK-LABEL: gpu.func @d80_bwd_convert
// CHECK-NOT: [0, 1, 4, 5]
// CHECK: llvm.shufflevector {{.*}} [0, 1, 2, 3]
// CHECK-NOT: [0, 1, 4, 5]
// CHECK: llvm.shufflevector {{.*}} [4, 5, 6, 7]
// CHECK-NOT: [2, 3, 6, 7]
// CHECK-LABEL: func.func @d80
// CHECK: memref.alloc() : memref<1x4x200x80xf32>
func.func @d80(%q: memref<1x4x200x80xbf16>, %k: memref<1x2x333x80xbf16>, %v: memref<1x2x333x80xbf16>, %o: memref<1x4x200x80xbf16>,
    %do: memref<1x4x200x80xbf16>, %lse: memref<1x4x200xf32>, %dq: memref<1x4x200x80xbf16>, %dk: memref<1x2x333x80xbf16>, %dv: memref<1x2x333x80xbf16>) {
  %0 = bufferization.to_tensor %q restrict : memref<1x4x200x80xbf16> to tensor<1x4x200x80xbf16>
  %1 = bufferization.to_tensor %k restrict : memref<1x2x333x80xbf16> to tensor<1x2x333x80xbf16>
  %2 = bufferization.to_tensor %v restrict : memref<1x2x333x80xbf16> to tensor<1x2x333x80xbf16>
  %3 = bufferization.to_tensor %o restrict : memref<1x4x200x80xbf16> to tensor<1x4x200x80xbf16>
  %4 = bufferization.to_tensor %do restrict : memref<1x4x200x80xbf16> to tensor<1x4x200x80xbf16>
  %5 = bufferization.to_tensor %lse restrict : memref<1x4x200xf32> to tensor<1x4x200xf32>
  %gq, %gk, %gv = attn.attention_backward
      ins(%0, %1, %2, %3, %4, %5 : tensor<1x4x200x80xbf16>, tensor<1x2x333x80xbf16>, tensor<1x2x333x80xbf16>, tensor<1x4x200x80xbf16>, tensor<1x4x200x80xbf16>, tensor<1x4x200xf32>)
      {mask_kind = #attn.mask<causal_bottom_right>}
      -> tensor<1x4x200x80xbf16>, tensor<1x2x333x80xbf16>, tensor<1x2x333x80xbf16>
  bufferization.materialize_in_destination %gq in restrict writable %dq : (tensor<1x4x200x80xbf16>, memref<1x4x200x80xbf16>) -> ()
  bufferization.materialize_in_destination %gk in restrict writable %dk : (tensor<1x2x333x80xbf16>, memref<1x2x333x80xbf16>) -> ()
  bufferization.materialize_in_destination %gv in restrict writable %dv : (tensor<1x2x333x80xbf16>, memref<1x2x333x80xbf16>) -> ()
  return
}

// -----

// MLA prefill: V, O, dO, dV of Dv = 128 beside Q, K, dQ, dK of D = 192;
// 32-query steps (the register rule, getBackwardBlockMLimit): K 64 * 384 +
// V 64 * 256 + dS^T 64 * 128 + 2 stages of (Q 32 * 384, dO 32 * 256, 256)
// = 90624. D = 192 keeps the tiled dq_accum (both shuffles), [.., D] wide.
// CHECK-LABEL: gpu.func @mla_bwd_preprocess
// CHECK-SAME: grid_formula = "[ceil(Lq / 4), B * Hq, 1]"
// CHECK-LABEL: gpu.func @mla_bwd(
// CHECK-SAME: %arg2: memref<1x2x333x128xbf16>
// CHECK-SAME: shared_memory_bytes = 90624, block_m = 32, block_n = 64, num_warps = 4
// CHECK-SAME: head_dim = 192, value_head_dim = 128
// CHECK-LABEL: gpu.func @mla_bwd_convert
// CHECK: llvm.shufflevector {{.*}} [0, 1, 4, 5]
// CHECK: llvm.shufflevector {{.*}} [2, 3, 6, 7]
// CHECK-LABEL: func.func @mla
// CHECK: memref.alloc() : memref<1x4x200x192xf32>
func.func @mla(%q: memref<1x4x200x192xbf16>, %k: memref<1x2x333x192xbf16>, %v: memref<1x2x333x128xbf16>, %o: memref<1x4x200x128xbf16>,
    %do: memref<1x4x200x128xbf16>, %lse: memref<1x4x200xf32>, %dq: memref<1x4x200x192xbf16>, %dk: memref<1x2x333x192xbf16>, %dv: memref<1x2x333x128xbf16>) {
  %0 = bufferization.to_tensor %q restrict : memref<1x4x200x192xbf16> to tensor<1x4x200x192xbf16>
  %1 = bufferization.to_tensor %k restrict : memref<1x2x333x192xbf16> to tensor<1x2x333x192xbf16>
  %2 = bufferization.to_tensor %v restrict : memref<1x2x333x128xbf16> to tensor<1x2x333x128xbf16>
  %3 = bufferization.to_tensor %o restrict : memref<1x4x200x128xbf16> to tensor<1x4x200x128xbf16>
  %4 = bufferization.to_tensor %do restrict : memref<1x4x200x128xbf16> to tensor<1x4x200x128xbf16>
  %5 = bufferization.to_tensor %lse restrict : memref<1x4x200xf32> to tensor<1x4x200xf32>
  %gq, %gk, %gv = attn.attention_backward
      ins(%0, %1, %2, %3, %4, %5 : tensor<1x4x200x192xbf16>, tensor<1x2x333x192xbf16>, tensor<1x2x333x128xbf16>, tensor<1x4x200x128xbf16>, tensor<1x4x200x128xbf16>, tensor<1x4x200xf32>)
      {mask_kind = #attn.mask<causal_bottom_right>}
      -> tensor<1x4x200x192xbf16>, tensor<1x2x333x192xbf16>, tensor<1x2x333x128xbf16>
  bufferization.materialize_in_destination %gq in restrict writable %dq : (tensor<1x4x200x192xbf16>, memref<1x4x200x192xbf16>) -> ()
  bufferization.materialize_in_destination %gk in restrict writable %dk : (tensor<1x2x333x192xbf16>, memref<1x2x333x192xbf16>) -> ()
  bufferization.materialize_in_destination %gv in restrict writable %dv : (tensor<1x2x333x128xbf16>, memref<1x2x333x128xbf16>) -> ()
  return
}
