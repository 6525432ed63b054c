// RUN: attn-opt %s --attn-plan-gpu-backward | FileCheck %s
// RUN: attn-opt %s --attn-plan-gpu-backward="chip=sm_90 ptx-features=+ptx81" | FileCheck %s --check-prefix=SM90
// RUN: attn-opt %s --attn-plan-gpu-backward="tile-model= deterministic dq-block-m=128" | FileCheck %s --check-prefix=DET

// GQA 4/2, causal, Lq = 200, Lk = 300, D = 64. The plan is recorded on the
// op: the schedule attn-tile-backward cuts by and the kernels' other
// choices, all resolved, and the main kernel's info (its attention fields
// are the backward's; its arguments come with the launch).
// sm_80 (tile-model=auto: the A100's model): 128 x 128 tiles, atomics of
// one float (red.global.add.v4 needs sm_90 and PTX 8.1), square warp tiles
// at 128 keys with 32-row dQ tiles (block-m 128). Main kernel: 8 warps,
// K, V (2 * 128 * 128 bytes) + P^T, dS^T (2 * 128 keys * 128 rows * 2) + 2
// stages of Q, dO (2 * 128 * 128) and lse_log2, delta (2 * 128 * 4):
// 32768 + 65536 + 2 * 33792 = 165888.
// CHECK-LABEL: func.func @bwd
// CHECK: attn.attention_backward
// CHECK-SAME: attn.backward_schedule = #attn.backward_schedule<block_m = 128, block_n = 128, deterministic = false, dq_block_m = 64, dq_reduction = "atom", rotate_q_blocks = true, square_warp_tiles = true, dq_warp_rows = 32>
// CHECK-SAME: attn.kernel_info = #attn.kernel_info<family = "backward", grid_formula = "[ceil(Lk / block_n), B * Hkv, 1]", shared_memory_bytes = 165888, block_m = 128, block_n = 128, num_warps = 8, arguments = [], mask = causal_bottom_right
// CHECK-SAME: lse = true
// SM90-LABEL: func.func @bwd
// SM90: dq_reduction = "red-v4"
// The deterministic program (fixed tiles, dQ CTAs of 128 rows) keeps 16
// keys per warp.
// DET-LABEL: func.func @bwd
// DET: attn.backward_schedule = #attn.backward_schedule<block_m = 64, block_n = 64, deterministic = true, dq_block_m = 128, dq_reduction = "atom", rotate_q_blocks = true, square_warp_tiles = false, dq_warp_rows = 16>
// DET-SAME: attn.kernel_info = #attn.kernel_info<family = "backward", grid_formula = "[ceil(Lk / block_n), B * Hkv, 1]", shared_memory_bytes = {{[0-9]+}}, block_m = 64, block_n = 64, num_warps = 4






func.func @bwd(%q: memref<1x4x200x64xbf16>, %k: memref<1x2x300x64xbf16>,
               %v: memref<1x2x300x64xbf16>, %o: memref<1x4x200x64xbf16>,
               %do: memref<1x4x200x64xbf16>, %lse: memref<1x4x200xf32>,
               %dq: memref<1x4x200x64xbf16>, %dk: memref<1x2x300x64xbf16>,
               %dv: memref<1x2x300x64xbf16>) {
  %0 = bufferization.to_tensor %q restrict : memref<1x4x200x64xbf16> to tensor<1x4x200x64xbf16>
  %1 = bufferization.to_tensor %k restrict : memref<1x2x300x64xbf16> to tensor<1x2x300x64xbf16>
  %2 = bufferization.to_tensor %v restrict : memref<1x2x300x64xbf16> to tensor<1x2x300x64xbf16>
  %3 = bufferization.to_tensor %o restrict : memref<1x4x200x64xbf16> to tensor<1x4x200x64xbf16>
  %4 = bufferization.to_tensor %do restrict : memref<1x4x200x64xbf16> to tensor<1x4x200x64xbf16>
  %5 = bufferization.to_tensor %lse restrict : memref<1x4x200xf32> to tensor<1x4x200xf32>
  %gq, %gk, %gv = attn.attention_backward
      ins(%0, %1, %2, %3, %4, %5 : tensor<1x4x200x64xbf16>, tensor<1x2x300x64xbf16>,
          tensor<1x2x300x64xbf16>, tensor<1x4x200x64xbf16>, tensor<1x4x200x64xbf16>,
          tensor<1x4x200xf32>)
      {mask_kind = #attn.mask<causal_bottom_right>}
      -> tensor<1x4x200x64xbf16>, tensor<1x2x300x64xbf16>, tensor<1x2x300x64xbf16>
  bufferization.materialize_in_destination %gq in restrict writable %dq
      : (tensor<1x4x200x64xbf16>, memref<1x4x200x64xbf16>) -> ()
  bufferization.materialize_in_destination %gk in restrict writable %dk
      : (tensor<1x2x300x64xbf16>, memref<1x2x300x64xbf16>) -> ()
  bufferization.materialize_in_destination %gv in restrict writable %dv
      : (tensor<1x2x300x64xbf16>, memref<1x2x300x64xbf16>) -> ()
  return
}

