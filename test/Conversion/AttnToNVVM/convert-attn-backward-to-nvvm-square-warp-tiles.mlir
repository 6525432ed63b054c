// RUN: attn-opt %s --attn-gpu-backward-kernels="block-n=128 tile-model=" | FileCheck %s --check-prefix=SQ
// RUN: attn-opt %s --attn-gpu-backward-kernels="block-m=128 block-n=128 tile-model=" | FileCheck %s --check-prefix=SQM128
// RUN: attn-opt %s --attn-gpu-backward-kernels="deterministic block-n=128 dq-block-m=64 tile-model=" | FileCheck %s --check-prefix=SQDET
// RUN: attn-opt %s --attn-gpu-backward-kernels="block-n=128 tile-model= square-warp-tiles=false" | FileCheck %s --check-prefix=ROWS
// RUN: attn-opt %s --attn-gpu-backward-kernels="block-n=128 tile-model= chip=sm_90 ptx-features=+ptx81 dq-reduction=red-v4 dq-warp-rows=32" | FileCheck %s --check-prefix=SQV4
// RUN: not attn-opt %s --attn-gpu-backward-kernels="dq-warp-rows=8" 2>&1 | FileCheck %s --check-prefix=BADROWS
// RUN: attn-opt %s --attn-gpu-backward-kernels="block-n=64 tile-model=" | FileCheck %s --check-prefix=N64

// GQA 4/2, causal (bottom-right), Lq = 200, Lk = 300, D = 64: the 128-key
// main kernel with square warp tiles (the default). Warp w owns keys
// 32 (w & 3) .. + 31 (two m16 tiles); S^T = K Q^T and dP^T = V dO^T cover
// queries (w >> 2) 32 .. + 31 of the 64-row Q block (4 n8 tiles): 2 x 4
// k-steps x 4 = 32 mma each, their P^T and dS^T stored to shared memory as
// 16-bit pairs (2 m16 x 2 row halves x 4 n8 = 16 stores each) with no
// barrier between; one barrier, then dV += P^T dO and dK += dS^T Q of the
// warp's 32 keys x 32 dims (the half w >> 2 of D) over the 64 queries:
// 4 k-steps x 2 d16 pairs x 2 m16 x 2 = 32 mma each; then dQ = dS K as
// the 16-keys-per-warp kernel's (16-row warp tiles at block-m 64: 32 mma).
// dQ goes to the tiled dq_accum (BackwardKernel.h): where the warp's 16-row
// group lies below Lq (tile row + 16 <= 200) its 4 n8 fragments, 4 atomics
// each on consecutive floats; Lq = 200 is no multiple of 16, so the group
// that crosses Lq adds its rows below Lq in the natural layout (2 row
// halves x 4 n8 x 2 atomics, each half behind row < 200). Shared memory: K + V
// (2 * 128 * 128) + dS^T and P^T (2 * 128 keys * 64 queries * 2) + two
// stages of Q, dO, lse_log2, delta (2 * 16896) = 99328. dK and dV keep 32
// accumulators each (2 m16 x 4 d8 x 4).
// SQ-LABEL: gpu.module @attn_kernels
// SQ: gpu.func @bwd_bwd(
// SQ-SAME: shared_memory_bytes = 99328, block_m = 64, block_n = 128, num_warps = 8
// SQ-SAME: known_block_size = array<i32: 256, 1, 1>
// SQ: %{{.*}}:64 = scf.for
// SQ: gpu.barrier
// SQ-COUNT-32: nvvm.mma.sync
// SQ-COUNT-16: llvm.store %{{.*}}, %{{.*}} {alignment = 4 : i64} : i32, !llvm.ptr<3>
// SQ-NOT: gpu.barrier
// SQ-COUNT-32: nvvm.mma.sync
// SQ-COUNT-16: llvm.store %{{.*}}, %{{.*}} {alignment = 4 : i64} : i32, !llvm.ptr<3>
// SQ-NOT: nvvm.mma.sync
// SQ: gpu.barrier
// SQ-COUNT-96: nvvm.mma.sync
// SQ-NOT: nvvm.mma.sync
// SQ: %[[FULL:.*]] = arith.cmpi sle, %{{.*}}, %c200_i32
// SQ-NEXT: scf.if %[[FULL]]
// SQ-COUNT-16: llvm.atomicrmw fadd
// SQ: arith.cmpi slt, %{{.*}}, %c200_i32
// SQ-COUNT-8: llvm.atomicrmw fadd
// SQ: arith.cmpi slt, %{{.*}}, %c200_i32
// SQ-COUNT-8: llvm.atomicrmw fadd
// SQ-NOT: llvm.atomicrmw
// SQ: gpu.barrier
// The epilogue: keys g, g + 8 of each m16 tile, 4 d8 tiles, dK and dV.
// SQ-COUNT-32: llvm.store %{{.*}}, %{{.*}} {alignment = 4 : i64} : i32, !llvm.ptr<1>
// SQ-NOT: llvm.store
// SQ: gpu.return
// SQ-LABEL: func.func @bwd
// SQ: gpu.launch_func @attn_kernels::@bwd_bwd blocks in (%c3, %c2, %{{.*}}) threads in (%c256{{.*}}) dynamic_shared_memory_size %c99328_i32

// block-m=128: S^T of 32 keys x 64 queries (8 n8 tiles: 2 x 4 x 8 = 64
// mma, 32 stores), dV and dK over 8 k-steps (64 mma each), dQ on 32-row
// warp tiles (dq-warp-rows auto at block-m 128): 4 row groups x 2 halves of
// D, each warp 2 m16 x 8 k-steps x 2 d16 pairs x 2 = 64 mma, the second
// m16 tile's dS fragments at the first's address XOR 32 (two chunks on),
// per m16 tile 16 tiled atomics and the crossing group's 16 natural ones
// (64 in all). Shared memory 32768 + 2 * 32768 +
// 2 * (2 * 128 * 128 + 2 * 128 * 4) = 165888.
// SQM128: gpu.func @bwd_bwd(
// SQM128-SAME: shared_memory_bytes = 165888, block_m = 128, block_n = 128, num_warps = 8
// SQM128: scf.for
// SQM128: gpu.barrier
// SQM128-COUNT-64: nvvm.mma.sync
// SQM128-COUNT-32: llvm.store %{{.*}}, %{{.*}} {alignment = 4 : i64} : i32, !llvm.ptr<3>
// SQM128-COUNT-64: nvvm.mma.sync
// SQM128-COUNT-32: llvm.store %{{.*}}, %{{.*}} {alignment = 4 : i64} : i32, !llvm.ptr<3>
// SQM128: gpu.barrier
// SQM128-COUNT-128: nvvm.mma.sync
// SQM128: arith.xori %{{.*}}, %c32_i32
// SQM128-COUNT-64: nvvm.mma.sync
// SQM128-NOT: nvvm.mma.sync
// SQM128-COUNT-64: llvm.atomicrmw fadd
// SQM128-NOT: llvm.atomicrmw

// deterministic ignores square-warp-tiles (its main kernel, with no dQ,
// measured faster on 16 keys per warp): dS^T alone in shared memory, the
// four GEMMs with no barrier between.
// SQDET: gpu.func @bwd_bwd(
// SQDET-SAME: shared_memory_bytes = 82944, block_m = 64, block_n = 128, num_warps = 8
// SQDET: scf.for
// SQDET: gpu.barrier
// SQDET-COUNT-128: nvvm.mma.sync
// SQDET-NOT: nvvm.mma.sync
// SQDET-NOT: llvm.atomicrmw
// SQDET: gpu.func @bwd_bwd_dq(

// square-warp-tiles=false: 16 keys per warp, only dS^T staged (82944
// bytes); 64-key CTAs never use square tiles.
// red-v4 on 32-row dQ tiles (2 row groups x 4 column parts of 16): per
// m16 tile one 16-byte reduction per n8 fragment (2), predicated on the
// row group lying below Lq, no shuffles; then the crossing group's rows
// as predicated column pairs (2 halves x 2 n8).
// SQV4: gpu.func @bwd_bwd(
// SQV4-NOT: nvvm.shfl.sync
// SQV4: arith.cmpi sle, %{{.*}}, %c200_i32
// SQV4-COUNT-2: @p red.global.add.v4.f32
// SQV4-COUNT-4: @p red.global.add.v2.f32
// SQV4: arith.cmpi sle, %{{.*}}, %c200_i32
// SQV4-COUNT-2: @p red.global.add.v4.f32
// SQV4-COUNT-4: @p red.global.add.v2.f32
// SQV4-NOT: red.global.add
// SQV4: gpu.func @bwd_bwd_convert(
// BADROWS: error: 'attn.attention_backward' op expected dq-warp-rows 0 (auto), 16 or 32, got 8
// ROWS: gpu.func @bwd_bwd(
// ROWS-SAME: shared_memory_bytes = 82944, block_m = 64, block_n = 128, num_warps = 8
// N64: gpu.func @bwd_bwd(
// N64-SAME: block_m = 64, block_n = 64, num_warps = 4
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
