// RUN: attn-opt %s --attn-plan-gpu-backward="chip=sm_90a ptx-features=+ptx81" | FileCheck %s
// RUN: attn-opt %s --attn-plan-gpu-backward="chip=sm_90a ptx-features=+ptx81 kernel=mma-sync" | FileCheck %s --check-prefix=MMA
// RUN: attn-opt %s --attn-plan-gpu-backward="chip=sm_90 ptx-features=+ptx81" | FileCheck %s --check-prefix=MMA
// RUN: attn-opt %s --attn-plan-gpu-backward="chip=sm_90a ptx-features=+ptx81" | attn-opt | FileCheck %s

// kernel=auto on sm_90a: the hopper main kernel where it applies
// (useHopperBackward: measured faster on every prefill shape), with its
// fixed tiles (128 keys per CTA of two warpgroups, 64-row Q blocks, dQ in
// 16-row groups, no square warp tiles) and family hopper-backward; shared
// memory K + V (2 * 128 * 128) + two dS^T buffers (2 * 128 * 128) + 2
// stages on 1024-byte atoms (2 * 17408) + 1024 = 101376. The schedule prints `hopper = true`
// and reads back (the last run). A softcap takes it too (the hopper step
// shares the mma.sync frame's score code); kernel=mma-sync and chip sm_90
// give the mma.sync kernel for both.
// CHECK-LABEL: func.func @d64_causal
// CHECK: attn.backward_schedule = #attn.backward_schedule<block_m = 64, block_n = 128, deterministic = false, dq_block_m = 64, dq_reduction = "red-v4", rotate_q_blocks = true, square_warp_tiles = false, dq_warp_rows = 16, hopper = true>
// CHECK-SAME: attn.kernel_info = #attn.kernel_info<family = "hopper-backward", grid_formula = "[ceil(Lk / block_n), B * Hkv, 1]", shared_memory_bytes = 101376, block_m = 64, block_n = 128, num_warps = 8
// CHECK-LABEL: func.func @softcap
// CHECK: hopper = true
// CHECK-SAME: family = "hopper-backward"
// MMA-LABEL: func.func @d64_causal
// MMA-NOT: hopper
// MMA: family = "backward"
// MMA-LABEL: func.func @softcap
// MMA-NOT: hopper
// MMA: family = "backward"

func.func @d64_causal(%q: memref<1x2x128x64xbf16>, %k: memref<1x2x128x64xbf16>, %v: memref<1x2x128x64xbf16>, %o: memref<1x2x128x64xbf16>,
    %do: memref<1x2x128x64xbf16>, %lse: memref<1x2x128xf32>, %dq: memref<1x2x128x64xbf16>, %dk: memref<1x2x128x64xbf16>, %dv: memref<1x2x128x64xbf16>) {
  %0 = bufferization.to_tensor %q restrict : memref<1x2x128x64xbf16> to tensor<1x2x128x64xbf16>
  %1 = bufferization.to_tensor %k restrict : memref<1x2x128x64xbf16> to tensor<1x2x128x64xbf16>
  %2 = bufferization.to_tensor %v restrict : memref<1x2x128x64xbf16> to tensor<1x2x128x64xbf16>
  %3 = bufferization.to_tensor %o restrict : memref<1x2x128x64xbf16> to tensor<1x2x128x64xbf16>
  %4 = bufferization.to_tensor %do restrict : memref<1x2x128x64xbf16> to tensor<1x2x128x64xbf16>
  %5 = bufferization.to_tensor %lse restrict : memref<1x2x128xf32> to tensor<1x2x128xf32>
  %gq, %gk, %gv = attn.attention_backward
      ins(%0, %1, %2, %3, %4, %5 : tensor<1x2x128x64xbf16>, tensor<1x2x128x64xbf16>, tensor<1x2x128x64xbf16>, tensor<1x2x128x64xbf16>, tensor<1x2x128x64xbf16>, tensor<1x2x128xf32>)
      {mask_kind = #attn.mask<causal_bottom_right>}
      -> tensor<1x2x128x64xbf16>, tensor<1x2x128x64xbf16>, tensor<1x2x128x64xbf16>
  bufferization.materialize_in_destination %gq in restrict writable %dq : (tensor<1x2x128x64xbf16>, memref<1x2x128x64xbf16>) -> ()
  bufferization.materialize_in_destination %gk in restrict writable %dk : (tensor<1x2x128x64xbf16>, memref<1x2x128x64xbf16>) -> ()
  bufferization.materialize_in_destination %gv in restrict writable %dv : (tensor<1x2x128x64xbf16>, memref<1x2x128x64xbf16>) -> ()
  return
}

func.func @softcap(%q: memref<1x2x128x64xbf16>, %k: memref<1x2x128x64xbf16>, %v: memref<1x2x128x64xbf16>, %o: memref<1x2x128x64xbf16>,
    %do: memref<1x2x128x64xbf16>, %lse: memref<1x2x128xf32>, %dq: memref<1x2x128x64xbf16>, %dk: memref<1x2x128x64xbf16>, %dv: memref<1x2x128x64xbf16>) {
  %0 = bufferization.to_tensor %q restrict : memref<1x2x128x64xbf16> to tensor<1x2x128x64xbf16>
  %1 = bufferization.to_tensor %k restrict : memref<1x2x128x64xbf16> to tensor<1x2x128x64xbf16>
  %2 = bufferization.to_tensor %v restrict : memref<1x2x128x64xbf16> to tensor<1x2x128x64xbf16>
  %3 = bufferization.to_tensor %o restrict : memref<1x2x128x64xbf16> to tensor<1x2x128x64xbf16>
  %4 = bufferization.to_tensor %do restrict : memref<1x2x128x64xbf16> to tensor<1x2x128x64xbf16>
  %5 = bufferization.to_tensor %lse restrict : memref<1x2x128xf32> to tensor<1x2x128xf32>
  %gq, %gk, %gv = attn.attention_backward
      ins(%0, %1, %2, %3, %4, %5 : tensor<1x2x128x64xbf16>, tensor<1x2x128x64xbf16>, tensor<1x2x128x64xbf16>, tensor<1x2x128x64xbf16>, tensor<1x2x128x64xbf16>, tensor<1x2x128xf32>)
      {mask_kind = #attn.mask<none>, softcap = 30.0 : f64}
      -> tensor<1x2x128x64xbf16>, tensor<1x2x128x64xbf16>, tensor<1x2x128x64xbf16>
  bufferization.materialize_in_destination %gq in restrict writable %dq : (tensor<1x2x128x64xbf16>, memref<1x2x128x64xbf16>) -> ()
  bufferization.materialize_in_destination %gk in restrict writable %dk : (tensor<1x2x128x64xbf16>, memref<1x2x128x64xbf16>) -> ()
  bufferization.materialize_in_destination %gv in restrict writable %dv : (tensor<1x2x128x64xbf16>, memref<1x2x128x64xbf16>) -> ()
  return
}
