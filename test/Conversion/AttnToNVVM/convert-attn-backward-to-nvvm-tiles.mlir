// RUN: attn-opt %s --attn-gpu-backward-kernels="block-n=128 tile-model= square-warp-tiles=false" | FileCheck %s --check-prefix=N128
// RUN: attn-opt %s --attn-gpu-backward-kernels="block-m=128 block-n=128 tile-model= square-warp-tiles=false" | FileCheck %s --check-prefix=M128
// RUN: attn-opt %s --attn-gpu-backward-kernels="deterministic block-n=128 dq-block-m=128 tile-model=" | FileCheck %s --check-prefix=DET
// RUN: attn-opt %s --attn-gpu-backward-kernels="tile-model=h100-sxm" 2>&1 | FileCheck %s --check-prefix=REMARK
// RUN: attn-opt %s --attn-gpu-backward-kernels="tile-model=h100-sxm block-m=64 block-n=64" 2>&1 | FileCheck %s --check-prefix=GIVEN
// RUN: attn-opt %s --attn-gpu-backward-kernels 2>&1 | FileCheck %s --check-prefix=AUTO
// RUN: not attn-opt %s --attn-gpu-backward-kernels="block-n=96" 2>&1 | FileCheck %s --check-prefix=BADN
// RUN: not attn-opt %s --attn-gpu-backward-kernels="block-m=128 block-n=64 tile-model=" 2>&1 | FileCheck %s --check-prefix=MGTN
// RUN: not attn-opt %s --attn-gpu-backward-kernels="tile-model=v100" 2>&1 | FileCheck %s --check-prefix=BADGPU

// GQA 4/2, causal (bottom-right), Lq = 200, Lk = 300, D = 64, the main
// kernel's tiles as options (tile-model off).
//
// block-n=128 with square-warp-tiles=false (the default is in
// convert-attn-backward-to-nvvm-square-warp-tiles.mlir): 8 warps of 16
// keys, grid (ceil(300 / 128), B * Hkv) = (3, 2), 256 threads; shared memory K + V (2 * 128 * 128 bytes) + dS^T
// (128 keys * 64 queries * 2) + 2 stages of Q, dO (2 * 64 * 128) and
// lse_log2, delta (2 * 64 * 4): 32768 + 16384 + 2 * 16896 = 82944. dK and
// dV of the warp's 16 keys stay 2 x 8 d8 tiles x 4. dQ = dS K: 64 rows are
// 4 row groups, so the 8 warps split D in halves: each warp 16 rows x 32
// columns over all 128 keys (8 k-steps x 2 d16 pairs x 2 = 32 mma), 4 n8
// fragments x 4 = 16 atomics per lane into the tiled dq_accum where the
// warp's 16-row group lies below Lq (the 4-warp kernel's 32 for 64 keys:
// half the reductions per key), then the group that crosses Lq = 200 in
// the natural layout (2 row halves x 8, each behind row < 200).
// N128-LABEL: gpu.module @attn_kernels
// N128: gpu.func @bwd_bwd(
// N128-SAME: shared_memory_bytes = 82944, block_m = 64, block_n = 128, num_warps = 8
// N128-SAME: known_block_size = array<i32: 256, 1, 1>
// N128: %{{.*}}:64 = scf.for
// The lse_log2 / delta copy: items 0-127, threads 128-255 copy nothing.
// N128: arith.cmpi ult, %{{.*}}, %c128_i32
// N128: nvvm.cp.async.shared.global %{{.*}}, %{{.*}}, 4, cache = ca
// dS^T stored, then dQ.
// N128: llvm.store %{{.*}}, %{{.*}} {alignment = 4 : i64} : i32, !llvm.ptr<3>
// N128: gpu.barrier
// N128-COUNT-32: nvvm.mma.sync
// N128-NOT: nvvm.mma.sync
// N128: %[[FULL:.*]] = arith.cmpi sle, %{{.*}}, %c200_i32
// N128-NEXT: scf.if %[[FULL]]
// N128-COUNT-16: llvm.atomicrmw fadd
// N128: arith.cmpi slt, %{{.*}}, %c200_i32
// N128-COUNT-8: llvm.atomicrmw fadd
// N128: arith.cmpi slt, %{{.*}}, %c200_i32
// N128-COUNT-8: llvm.atomicrmw fadd
// N128-NOT: llvm.atomicrmw
// N128: gpu.barrier
// N128: gpu.func @bwd_bwd_convert(
// N128-SAME: num_warps = 4
// N128-SAME: known_block_size = array<i32: 128, 1, 1>
// N128-LABEL: func.func @bwd
// N128: gpu.launch_func @attn_kernels::@bwd_bwd_preprocess blocks in (%c13, %c4, %c1) threads in (%c128
// N128: gpu.launch_func @attn_kernels::@bwd_bwd blocks in (%c3, %c2, %{{.*}}) threads in (%c256{{.*}}) dynamic_shared_memory_size %c82944_i32

// block-m=128 block-n=128: Q blocks of 128 rows (8 row groups: each warp
// all of D), S^T of the warp's 16 keys x 128 queries = 16 n8 tiles; shared
// memory 32768 + 128 * 128 * 2 + 2 * (2 * 128 * 128 + 2 * 128 * 4) =
// 133120. The 256 lse_log2 / delta items are one per thread (no guard).
// dQ: 8 k-steps x 4 d16 pairs x 2 = 64 mma, 8 n8 fragments x 4 = 32
// tiled atomics, then 2 x 16 natural ones for the group crossing Lq.
// M128: gpu.func @bwd_bwd(
// M128-SAME: shared_memory_bytes = 133120, block_m = 128, block_n = 128, num_warps = 8
// M128-NOT: arith.cmpi ult, %{{.*}}, %c256_i32
// M128: scf.for
// S^T = K Q^T: 4 k-steps x 16 n8 tiles.
// M128: gpu.barrier
// M128-COUNT-64: nvvm.mma.sync
// M128: llvm.store %{{.*}}, %{{.*}} {alignment = 4 : i64} : i32, !llvm.ptr<3>
// M128: gpu.barrier
// M128-COUNT-64: nvvm.mma.sync
// M128-NOT: nvvm.mma.sync
// M128: arith.cmpi sle, %{{.*}}, %c200_i32
// M128-COUNT-64: llvm.atomicrmw fadd
// M128-NOT: llvm.atomicrmw
// M128: gpu.barrier

// deterministic with dq-block-m=128: the dQ kernel's CTA is 8 warps of 16
// query rows, grid (ceil(200 / 128), B * Hq) = (2, 4), shared memory Q, dO
// (2 * 128 * 128) and two stages of K, V of 64 keys (4 * 64 * 128): 65536.
// DET: gpu.func @bwd_bwd(
// DET-SAME: block_m = 64, block_n = 128, num_warps = 8
// DET-NOT: llvm.atomicrmw
// DET: gpu.func @bwd_bwd_dq(
// DET-SAME: shared_memory_bytes = 65536, block_m = 128, block_n = 64, num_warps = 8
// DET-SAME: known_block_size = array<i32: 256, 1, 1>
// DET: %{{.*}}:32 = scf.for
// DET-NOT: llvm.atomicrmw
// DET: gpu.launch_func @attn_kernels::@bwd_bwd_dq blocks in (%c2{{.*}}, %c4{{.*}}, %c1{{.*}}) threads in (%c256{{.*}}) dynamic_shared_memory_size %c65536_i32

// The cost model of a named GPU says what it chose and why; with every
// tile of the program given it is not asked; auto (the default) is silent
// and, on chip sm_80, models the A100.
// REMARK: remark: attn-plan-gpu-backward: tiles from the cost model: backward on h100-sxm: main {{[0-9]+}}x{{[0-9]+}} ({{[0-9]+}} warps, {{[0-9]+}} B shared memory, ~{{[0-9]+}} registers/thread, {{[0-9]+}} CTA(s)/SM, {{[0-9]+}} CTAs) modelled
// GIVEN-NOT: remark
// GIVEN: gpu.func @bwd_bwd(
// GIVEN-SAME: block_m = 64, block_n = 64, num_warps = 4
// AUTO-NOT: remark
// AUTO: gpu.func @bwd_bwd(

// BADN: error: 'attn.attention_backward' op expected block-n 0 (the tile model's), 64 or 128, got 96
// MGTN: error: 'attn.attention_backward' op expected block-m <= block-n (the main kernel's dQ gives each warp 16 query rows), got block-m 128 and block-n 64
// BADGPU: error: 'attn.attention_backward' op expected tile-model to name a known GPU (a100-sxm, h100-sxm, h200, b200, or auto), got 'v100'
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
