// RUN: attn-opt %s --attn-gpu-backward-kernels | FileCheck %s --check-prefix=ATOM
// RUN: attn-opt %s --attn-gpu-backward-kernels="chip=sm_90" | FileCheck %s --check-prefix=ATOM
// RUN: attn-opt %s --attn-gpu-backward-kernels="chip=sm_90 ptx-features=+ptx81" | FileCheck %s --check-prefix=V4
// RUN: attn-opt %s --attn-gpu-backward-kernels="chip=sm_90a ptx-features=+ptx85 dq-reduction=red-v4 dq-warp-rows=16 kernel=mma-sync" | FileCheck %s --check-prefix=V4R16
// RUN: attn-opt %s --attn-gpu-backward-kernels | FileCheck %s --check-prefix=CONV
// RUN: attn-opt %s --attn-gpu-backward-kernels="chip=sm_90 ptx-features=+ptx81 dq-reduction=red-v2" | FileCheck %s --check-prefix=V2
// RUN: attn-opt %s --attn-gpu-backward-kernels="chip=sm_90 ptx-features=+ptx81 dq-reduction=atom" | FileCheck %s --check-prefix=ATOM
// RUN: attn-opt %s --attn-gpu-backward-kernels="chip=sm_90 ptx-features=+ptx81 deterministic" | FileCheck %s --check-prefix=DET
// RUN: attn-opt %s --attn-gpu-backward-kernels | FileCheck %s --check-prefix=ROT
// RUN: attn-opt %s --attn-gpu-backward-kernels="rotate-q-blocks=false" | FileCheck %s --check-prefix=NOROT
// RUN: attn-opt %s --attn-gpu-backward-kernels="deterministic" | FileCheck %s --check-prefix=NOROT
// RUN: not attn-opt %s --attn-gpu-backward-kernels="dq-reduction=red-v4" 2>&1 | FileCheck %s --check-prefix=OLDCHIP
// RUN: not attn-opt %s --attn-gpu-backward-kernels="chip=sm_90 dq-reduction=red-v2" 2>&1 | FileCheck %s --check-prefix=OLDPTX
// RUN: not attn-opt %s --attn-gpu-backward-kernels="dq-reduction=red" 2>&1 | FileCheck %s --check-prefix=BADNAME

// dq-reduction: how the main kernel adds its dQ tile to the tiled
// dq_accum (BackwardKernel.h). The tile model takes 128 x 128 tiles here
// and 32-row dQ warp tiles: each warp 2 m16 tiles x 4 n8 fragments (32
// columns, one 32-column unit of D = 64). Per m16 tile: where its 16-row
// group lies below Lq (tile row + 16 <= 200), one reduction per fragment
// of its 4 consecutive floats (2 row halves x 2 columns); Lq = 200 is no
// multiple of 16, so the group that crosses Lq then adds its rows below
// Lq in the natural layout (2 row halves x 4 column pairs).

// auto below sm_90 or +ptx81, and atom: 4 atom.global.add.f32 per
// fragment behind the group test (16), then 8 per row half behind
// row < Lq; twice (64 per lane), no vector reduction.
// ATOM-LABEL: gpu.func @bwd_bwd(
// ATOM: %[[FULL:.*]] = arith.cmpi sle, %{{.*}}, %c200_i32
// ATOM-NEXT: scf.if %[[FULL]]
// ATOM-COUNT-16: llvm.atomicrmw fadd %{{.*}}, %{{.*}} monotonic : !llvm.ptr<1>, f32
// ATOM: arith.cmpi slt, %{{.*}}, %c200_i32
// ATOM-COUNT-8: llvm.atomicrmw fadd %{{.*}}, %{{.*}} monotonic : !llvm.ptr<1>, f32
// ATOM: arith.cmpi slt, %{{.*}}, %c200_i32
// ATOM-COUNT-8: llvm.atomicrmw fadd %{{.*}}, %{{.*}} monotonic : !llvm.ptr<1>, f32
// ATOM: arith.cmpi sle, %{{.*}}, %c200_i32
// ATOM-COUNT-32: llvm.atomicrmw fadd
// ATOM-NOT: llvm.atomicrmw
// ATOM-NOT: red.global.add
// ATOM: gpu.func @bwd_bwd_convert(

// red-v4 (auto on sm_90 with +ptx81): one 16-byte reduction per fragment
// predicated on the group test (no branch: the 32 values would stay live
// across it; no shuffles), then the crossing group's column pairs
// predicated on row < Lq and the group crossing.
// V4-LABEL: gpu.func @bwd_bwd(
// V4-NOT: nvvm.shfl.sync
// V4: %[[FULL:.*]] = arith.cmpi sle, %{{.*}}, %c200_i32
// V4: %[[PRED:.*]] = arith.extui %[[FULL]] : i1 to i32
// V4: llvm.inline_asm has_side_effects "{{.*}}setp.ne.b32 p, $5, 0;{{.*}}@p red.global.add.v4.f32 [$0], {$1, $2, $3, $4};{{.*}}", "l,f,f,f,f,r" %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %[[PRED]]
// V4-COUNT-3: @p red.global.add.v4.f32
// V4-COUNT-8: @p red.global.add.v2.f32
// V4: arith.cmpi sle, %{{.*}}, %c200_i32
// V4-COUNT-4: @p red.global.add.v4.f32
// V4-COUNT-8: @p red.global.add.v2.f32
// V4-NOT: red.global.add
// V4-NOT: llvm.atomicrmw
// V4: gpu.func @bwd_bwd_convert(

// red-v4 with 16-row dQ warp tiles: 8 row groups, each warp all of D (8
// fragments, two 32-column units); kernel=mma-sync, as sm_90a would
// otherwise take the hopper main kernel.
// V4R16-LABEL: gpu.func @bwd_bwd(
// V4R16: arith.cmpi sle, %{{.*}}, %c200_i32
// V4R16-COUNT-8: @p red.global.add.v4.f32
// V4R16-COUNT-16: @p red.global.add.v2.f32
// V4R16-NOT: red.global.add
// V4R16: gpu.func @bwd_bwd_convert(

// red-v2: each fragment as two 8-byte halves.
// V2-LABEL: gpu.func @bwd_bwd(
// V2: arith.cmpi sle, %{{.*}}, %c200_i32
// V2-COUNT-16: @p red.global.add.v2.f32
// V2: arith.cmpi sle, %{{.*}}, %c200_i32
// V2-COUNT-16: @p red.global.add.v2.f32
// V2-NOT: llvm.atomicrmw
// V2-NOT: v4.f32
// V2: gpu.func @bwd_bwd_convert(

// The convert kernel: one thread per 8 consecutive stored floats (one
// 16-byte-aligned load of chunk x 32 bytes, nothing else loaded), which in
// a tiled group are 4 columns of rows g and g + 8 (floats 0, 1, 4, 5 and
// 2, 3, 6, 7, stored 8 rows = 512 elements apart), and in the group that
// crosses Lq (row mod Lq, its group start + 16 > 200) 8 columns of one row
// (floats 0-3 and 4-7, 4 elements apart): two 8-byte stores either way.
// CONV-LABEL: gpu.func @bwd_bwd_convert(
// CONV: %[[CHUNK:.*]] = arith.addi %{{.*}}, %{{.*}} : i32
// CONV: arith.cmpi ult, %[[CHUNK]], %c6400_i32
// CONV: %[[WIDE:.*]] = arith.extui %[[CHUNK]] : i32 to i64
// CONV-NEXT: %[[C32:.*]] = arith.constant 32 : i64
// CONV-NEXT: %[[BYTES:.*]] = arith.muli %[[WIDE]], %[[C32]] : i64
// CONV: llvm.getelementptr %{{.*}}[%[[BYTES]]]
// CONV-NEXT: llvm.load %{{.*}} {alignment = 16 : i64} : !llvm.ptr<1> -> vector<8xf32>
// CONV-NOT: llvm.load
// CONV: arith.remui %{{.*}}, %c200_i32
// CONV: %[[FULL:.*]] = arith.cmpi sle, %{{.*}}, %c200_i32
// CONV: %[[FIRST:.*]] = arith.addi %{{.*}}, %{{.*}} : i64
// CONV-NEXT: %[[C512:.*]] = arith.constant 512 : i64
// CONV-NEXT: %[[SECOND:.*]] = arith.addi %[[FIRST]], %[[C512]] : i64
// CONV: %[[NAT:.*]] = arith.muli %{{.*}}, %c8_i64 : i64
// CONV-NEXT: arith.select %[[FULL]], %[[FIRST]], %[[NAT]] : i64
// CONV-NEXT: %[[C4:.*]] = arith.constant 4 : i64
// CONV-NEXT: %[[NAT4:.*]] = arith.addi %[[NAT]], %[[C4]] : i64
// CONV-NEXT: arith.select %[[FULL]], %[[SECOND]], %[[NAT4]] : i64
// CONV-NEXT: %[[T0:.*]] = llvm.shufflevector %[[H:.*]], %[[H]] [0, 1, 4, 5] : vector<8xbf16>
// CONV-NEXT: %[[N0:.*]] = llvm.shufflevector %[[H]], %[[H]] [0, 1, 2, 3] : vector<8xbf16>
// CONV-NEXT: %[[V0:.*]] = arith.select %[[FULL]], %[[T0]], %[[N0]] : vector<4xbf16>
// CONV-NEXT: %[[T1:.*]] = llvm.shufflevector %[[H]], %[[H]] [2, 3, 6, 7] : vector<8xbf16>
// CONV-NEXT: %[[N1:.*]] = llvm.shufflevector %[[H]], %[[H]] [4, 5, 6, 7] : vector<8xbf16>
// CONV-NEXT: %[[V1:.*]] = arith.select %[[FULL]], %[[T1]], %[[N1]] : vector<4xbf16>
// CONV: llvm.store %[[V0]], %{{.*}} {alignment = 8 : i64} : vector<4xbf16>, !llvm.ptr<1>
// CONV: llvm.store %[[V1]], %{{.*}} {alignment = 8 : i64} : vector<4xbf16>, !llvm.ptr<1>
// CONV-NOT: llvm.store
// CONV: gpu.return

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
