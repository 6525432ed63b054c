// RUN: attn-opt %s --attn-gpu-backward-kernels | FileCheck %s --check-prefix=ATOM
// RUN: attn-opt %s --attn-gpu-backward-kernels="chip=sm_90" | FileCheck %s --check-prefix=ATOM
// RUN: attn-opt %s --attn-gpu-backward-kernels="chip=sm_90 ptx-features=+ptx81" | FileCheck %s --check-prefix=V2
// RUN: attn-opt %s --attn-gpu-backward-kernels="chip=sm_90a ptx-features=+ptx85 dq-reduction=red-v4 dq-warp-rows=16" | FileCheck %s --check-prefix=V4
// RUN: attn-opt %s --attn-gpu-backward-kernels="chip=sm_90 ptx-features=+ptx81 dq-reduction=red-v2" | FileCheck %s --check-prefix=V2
// RUN: attn-opt %s --attn-gpu-backward-kernels="chip=sm_90 ptx-features=+ptx81 dq-reduction=atom" | FileCheck %s --check-prefix=ATOM
// RUN: attn-opt %s --attn-gpu-backward-kernels="chip=sm_90 ptx-features=+ptx81 deterministic" | FileCheck %s --check-prefix=DET
// RUN: attn-opt %s --attn-gpu-backward-kernels | FileCheck %s --check-prefix=ROT
// RUN: attn-opt %s --attn-gpu-backward-kernels="rotate-q-blocks=false" | FileCheck %s --check-prefix=NOROT
// RUN: attn-opt %s --attn-gpu-backward-kernels="deterministic" | FileCheck %s --check-prefix=NOROT
// RUN: not attn-opt %s --attn-gpu-backward-kernels="dq-reduction=red-v4" 2>&1 | FileCheck %s --check-prefix=OLDCHIP
// RUN: not attn-opt %s --attn-gpu-backward-kernels="chip=sm_90 dq-reduction=red-v2" 2>&1 | FileCheck %s --check-prefix=OLDPTX
// RUN: not attn-opt %s --attn-gpu-backward-kernels="dq-reduction=red" 2>&1 | FileCheck %s --check-prefix=BADNAME

// dq-reduction: how the main kernel adds its dQ tile (D = 64: 8 d8 tiles
// of C fragments per warp) to dq_accum. Lq = 200 is not a multiple of 64,
// so the rows past Lq are skipped.

// auto below sm_90 or +ptx81, and atom: one atom.global.add.f32 per element
// (2 row halves x 8 tiles x 2 = 32 per lane), no vector reduction.
// ATOM-LABEL: gpu.func @bwd_bwd(
// ATOM: arith.cmpi slt, %{{.*}}, %c200_i32
// ATOM-COUNT-16: llvm.atomicrmw fadd %{{.*}}, %{{.*}} monotonic : !llvm.ptr<1>, f32
// ATOM: arith.cmpi slt, %{{.*}}, %c200_i32
// ATOM-COUNT-16: llvm.atomicrmw fadd %{{.*}}, %{{.*}} monotonic : !llvm.ptr<1>, f32
// ATOM-NOT: red.global.add
// ATOM: gpu.func @bwd_bwd_convert(

// red-v4: two shuffles per tile with lane
// t ^ 1 (16 in all, every lane joining), then one 16-byte reduction per
// tile of the lane's one row, predicated on row < Lq (no branch: the 32
// values would stay live across it) at a clamped address.
// V4-LABEL: gpu.func @bwd_bwd(
// V4-COUNT-16: nvvm.shfl.sync bfly %{{.*}}, %{{.*}}, %c1_i32
// V4: %[[VALID:.*]] = arith.cmpi slt, %{{.*}}, %c200_i32
// V4: arith.select %[[VALID]], %{{.*}}, %c199_i32
// V4: %[[PRED:.*]] = arith.extui %[[VALID]] : i1 to i32
// V4: llvm.inline_asm has_side_effects "{{.*}}setp.ne.b32 p, $5, 0;{{.*}}@p red.global.add.v4.f32 [$0], {$1, $2, $3, $4};{{.*}}", "l,f,f,f,f,r" %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %[[PRED]]
// V4-COUNT-7: @p red.global.add.v4.f32
// V4-NOT: red.global.add
// V4-NOT: llvm.atomicrmw
// V4: gpu.func @bwd_bwd_convert(

// red-v2 (auto on sm_90 with +ptx81): each lane's column pairs, 8 per row
// half.
// V2-LABEL: gpu.func @bwd_bwd(
// V2: arith.cmpi slt, %{{.*}}, %c200_i32
// V2-COUNT-8: llvm.inline_asm has_side_effects "red.global.add.v2.f32 [$0], {$1, $2};", "l,f,f"
// V2: arith.cmpi slt, %{{.*}}, %c200_i32
// V2-COUNT-8: llvm.inline_asm has_side_effects "red.global.add.v2.f32 [$0], {$1, $2};", "l,f,f"
// V2-NOT: llvm.atomicrmw
// V2-NOT: v4.f32
// V2: gpu.func @bwd_bwd_convert(

// rotate-q-blocks (default, atomic path): KV block x visits Q block
// mBegin + (i mod numM + x mod max(numM, 1)) mod numM at step i, the outer
// mod as a compare and select. Off, and in the deterministic program
// (no atomics to spread), step i is Q block mBegin + i mod numM.
// ROT-LABEL: gpu.func @bwd_bwd(
// numM, then total = numM x 2 (the group):
// ROT: %[[NUMM:[0-9]+]] = arith.maxsi %{{.*}}, %c0_i32_{{[0-9]+}} : i32
// ROT-NEXT: arith.constant 2 : i32
// ROT-NEXT: arith.muli %[[NUMM]], %c2_i32
// ROT: %[[X:.*]] = arith.index_castui %block_id_x{{.*}} : index to i32
// ROT: %[[CNT:.*]] = arith.maxsi %[[NUMM]], %c1_i32{{.*}} : i32
// ROT: %[[ROT:.*]] = arith.remui %[[X]], %[[CNT]] : i32
// ROT: %[[LOCAL:.*]] = arith.remui %{{.*}}, %[[NUMM]] : i32
// ROT: %[[SUM:.*]] = arith.addi %[[LOCAL]], %[[ROT]] : i32
// ROT: %[[WRAP:.*]] = arith.cmpi uge, %[[SUM]], %[[NUMM]] : i32
// ROT: %[[SUB:.*]] = arith.subi %[[SUM]], %[[NUMM]] : i32
// ROT: arith.select %[[WRAP]], %[[SUB]], %[[SUM]] : i32
// NOROT-LABEL: gpu.func @bwd_bwd(
// NOROT: %[[NUMM:[0-9]+]] = arith.maxsi %{{.*}}, %c0_i32_{{[0-9]+}} : i32
// NOROT-NEXT: arith.constant 2 : i32
// NOROT-NEXT: arith.muli %[[NUMM]], %c2_i32
// NOROT-NOT: arith.remui %block_id_x
// NOROT: arith.divui %{{.*}}, %[[NUMM]] : i32
// NOROT-NEXT: %[[LOCAL:.*]] = arith.remui %{{.*}}, %[[NUMM]] : i32
// NOROT-NEXT: arith.addi %{{.*}}, %[[LOCAL]] : i32

// deterministic has no dq_accum: dq-reduction does not apply.
// DET-NOT: red.global.add
// DET-NOT: llvm.atomicrmw
// DET: gpu.func @bwd_bwd_dq(

// OLDCHIP: error: 'attn.attention_backward' op expected chip sm_90 or newer and +ptx81 or newer for dq-reduction=red-v4 (red.global.add.v2/v4.f32), got chip 'sm_80' and features '+ptx80'
// OLDPTX: error: 'attn.attention_backward' op expected chip sm_90 or newer and +ptx81 or newer for dq-reduction=red-v2 (red.global.add.v2/v4.f32), got chip 'sm_90' and features '+ptx80'
// BADNAME: error: 'attn.attention_backward' op expected dq-reduction auto, atom, red-v2 or red-v4, got 'red'
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
