// The backward's GPU kernels come out of its tiled program: the schedule
// attn-plan-gpu-backward records, the program attn-tile-backward cuts by it
// and attn-lower-precision rounds, then the kernels of that program.
// RUN: attn-opt %s --split-input-file --attn-plan-gpu-backward="tile-model= block-n=128" --attn-tile-backward --attn-lower-precision | FileCheck %s --check-prefix=TILED
// RUN: attn-opt %s --split-input-file --attn-plan-gpu-backward="tile-model= block-n=128" --attn-tile-backward --attn-lower-precision | attn-opt --split-input-file --convert-attn-backward-to-nvvm | FileCheck %s
// RUN: attn-opt %s --split-input-file --attn-plan-gpu-backward="tile-model= deterministic" --attn-tile-backward --attn-lower-precision | FileCheck %s --check-prefix=TILED-DET
// RUN: attn-opt %s --split-input-file --attn-plan-gpu-backward="tile-model= deterministic" --attn-tile-backward --attn-lower-precision | attn-opt --split-input-file --convert-attn-backward-to-nvvm | FileCheck %s --check-prefix=DET

// GQA 4/2, causal (bottom-right), Lq = 200, Lk = 300, D = 64, block-n = 128
// (block-m 64 and 16-row dQ tiles: the fixed tiles, tile model off).
// The tiled program: Delta = rowsum(dO * O) once, then one program per
// (batch, KV head, KV block of 128 keys): (1, 2, ceil(300 / 128) = 3),
// whose query loop steps by block-m = 64 over Lq = 200 with dK, dV of the
// 128 keys and the group's 2 x 256 x 64 dQ share as iter_args; P and dS
// rounded to bf16 (p_type); the dQ shares summed by attn.accumulate (no
// order: the atomic program).
// TILED-LABEL: func.func @bwd
// TILED: %[[DELTA:.+]] = linalg.generic {{.*}} ins(%{{.*}}, %{{.*}} : tensor<1x4x200x64xbf16>, tensor<1x4x200x64xbf16>) outs(%{{.*}} : tensor<1x4x200xf32>)
// TILED: %[[P:.+]]:3 = scf.forall (%{{.*}}, %{{.*}}, %{{.*}}) in (1, 2, 3)
// TILED: scf.for %{{.*}} = %{{.*}} to %c200 step %c64 iter_args({{.*}}) -> (tensor<128x64xf32>, tensor<128x64xf32>, tensor<2x256x64xf32>)
// TILED: attn.backward_step ins(%{{.*}} : tensor<2x64x64xbf16>, tensor<128x64xbf16>, tensor<128x64xbf16>) {{.*}} {interior, mask_kind = #attn.mask<causal_bottom_right>, p_type = bf16
// TILED: attn.backward_schedule = #attn.backward_schedule<block_m = 64, block_n = 128, deterministic = false, dq_block_m = 64, dq_reduction = "atom", rotate_q_blocks = true, square_warp_tiles = true, dq_warp_rows = 16>
// TILED-SAME: attn.kernel_info = #attn.kernel_info<family = "backward", grid_formula = "[ceil(Lk / block_n), B * Hkv, 1]", shared_memory_bytes = 99328, block_m = 64, block_n = 128, num_warps = 8
// TILED: attn.accumulate %[[P]]#2 : tensor<3x1x4x200x64xf32> -> tensor<1x4x200x64xf32>

// The kernels: the forall's KV blocks are the main kernel's grid (3,
// B * Hkv = 2), 128 keys on 8 warps; square warp tiles (the schedule's)
// stage P^T and dS^T: K, V (2 * 128 * 128 bytes) + dS^T, P^T (2 * 128 *
// 128) + 2 stages of Q, dO (2 * 64 * 128) and lse_log2, delta (2 * 64 * 4):
// 32768 + 32768 + 2 * 16896 = 99328.
// CHECK-LABEL: gpu.module @attn_kernels
// CHECK: gpu.func @bwd_bwd_preprocess(
// CHECK: gpu.func @bwd_bwd(
// CHECK-SAME: grid_formula = "[ceil(Lk / block_n), B * Hkv, 1]", shared_memory_bytes = 99328, block_m = 64, block_n = 128, num_warps = 8
// CHECK-SAME: mask = causal_bottom_right, scale = 1.250000e-01 : f64
// CHECK-SAME: known_block_size = array<i32: 256, 1, 1>
// CHECK: llvm.atomicrmw fadd
// CHECK: gpu.func @bwd_bwd_convert(
// The host: no tiled IR left, the workspaces, three launches, freed.
// CHECK-LABEL: func.func @bwd
// CHECK-NOT: scf.forall
// CHECK-NOT: attn.accumulate
// CHECK-NOT: linalg.generic
// CHECK: memref.alloc() : memref<1x4x200xf32>
// CHECK: memref.alloc() : memref<1x4x200xf32>
// CHECK: memref.alloc() : memref<1x4x200x64xf32>
// CHECK: gpu.launch_func @attn_kernels::@bwd_bwd_preprocess blocks in (%c13{{.*}}, %c4{{.*}}, %c1{{.*}})
// CHECK: gpu.launch_func @attn_kernels::@bwd_bwd blocks in (%c3{{.*}}, %c2{{.*}}, %c1{{.*}}) threads in (%c256{{.*}}) dynamic_shared_memory_size %c99328_i32
// CHECK: gpu.launch_func @attn_kernels::@bwd_bwd_convert
// CHECK: memref.dealloc
// CHECK-NOT: bufferization.to_tensor
// CHECK: return

// deterministic: the accumulation sums in KV-block order, which makes the
// kernels the deterministic program (the dQ kernel instead of atomics);
// 64 keys per program: (1, 2, ceil(300 / 64) = 5).
// TILED-DET-LABEL: func.func @bwd
// TILED-DET: scf.forall (%{{.*}}, %{{.*}}, %{{.*}}) in (1, 2, 5)
// TILED-DET: attn.backward_schedule = #attn.backward_schedule<block_m = 64, block_n = 64, deterministic = true, dq_block_m = 64, dq_reduction = "atom", rotate_q_blocks = true, square_warp_tiles = false, dq_warp_rows = 16>
// TILED-DET: attn.accumulate %{{.*}} {deterministic} : tensor<5x1x4x200x64xf32> -> tensor<1x4x200x64xf32>
// DET-LABEL: gpu.module @attn_kernels
// DET-NOT: llvm.atomicrmw
// DET: gpu.func @bwd_bwd_dq(
// DET-LABEL: func.func @bwd
// DET: gpu.launch_func @attn_kernels::@bwd_bwd blocks in (%c5{{.*}}, %c2{{.*}}, %c1{{.*}})
// DET: gpu.launch_func @attn_kernels::@bwd_bwd_dq blocks in (%c4{{.*}}, %c4{{.*}}, %c1{{.*}})
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
