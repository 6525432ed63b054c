// RUN: attn-opt %s --split-input-file --attn-gpu-backward-kernels=tile-model= | FileCheck %s
// RUN: attn-opt %s --split-input-file --attn-gpu-backward-kernels="deterministic tile-model=" | FileCheck %s --check-prefix=DET

// The GPU backward on BSHD operands (Q, O, dO, dQ [2, 200, 4, 64]; K, V,
// dK, dV [2, 300, 2, 64]): every kernel addresses rows through the strides
// of getProblemStrides (Q's: batch 51200, head 64, seq 256 elements; K's:
// batch 38400, head 64, seq 128), not bh * L rows of D.
// Preprocess: O and dO at batch * 51200 + head * 64 + row * 256 (bh =
// batch * 4 + head split by Hq).
// CHECK-LABEL: gpu.func @bshd_bwd_preprocess(
// CHECK-SAME: layout = bshd
// CHECK: arith.divui %{{.*}}, %c4_i32
// CHECK: arith.remui %{{.*}}, %c4_i32
// CHECK: arith.muli %{{.*}}, %c51200_i64
// CHECK: arith.muli %{{.*}}, %c64_i64
// CHECK: arith.muli %{{.*}}, %c256_i64
// CHECK: llvm.fpext
// Main: K and V rows at batch * 76800 + kv head * 128 bytes, 256 bytes
// apart; Q and dO at batch * 102400 + head * 128 bytes, 512 apart; dK and
// dV stored at K's strides.
// CHECK-LABEL: gpu.func @bshd_bwd(
// CHECK: arith.muli %{{.*}}, %c76800_i64
// CHECK: arith.muli %{{.*}}, %c128_i64
// CHECK: arith.muli %{{.*}}, %c256_i32
// CHECK: nvvm.cp.async.shared.global
// CHECK: arith.muli %{{.*}}, %c102400_i64
// CHECK: arith.muli %{{.*}}, %c128_i64
// CHECK: arith.muli %{{.*}}, %c512_i32
// CHECK: nvvm.cp.async.shared.global
// CHECK: scf.for
// CHECK: arith.muli %{{.*}}, %c256_i64
// CHECK: llvm.store %{{.*}}, %{{.*}} {alignment = 4 : i64} : i32, !llvm.ptr<1>
// CHECK: gpu.return
// Convert: the stored chunk's rows g, g + 8 at Q's strides: row r of head
// bh = x / 200 at bh / 4 * 51200 + bh % 4 * 64 + r * 256; the second 8
// rows (2048 elements) on.
// CHECK-LABEL: gpu.func @bshd_bwd_convert(
// CHECK: arith.divui %{{.*}}, %c200_i32
// CHECK: arith.muli %{{.*}}, %c51200_i64
// CHECK: arith.muli %{{.*}}, %c64_i64
// CHECK: arith.muli %{{.*}}, %c256_i64
// CHECK: arith.addi %{{.*}}, %c2048_i64 : i64
// CHECK-COUNT-2: llvm.store %{{.*}}, %{{.*}} {alignment = 8 : i64} : vector<4xbf16>, !llvm.ptr<1>
// The deterministic dQ kernel: Q, dO copied and dQ stored 512 bytes a row.
// DET-LABEL: gpu.func @bshd_bwd_dq(
// DET: arith.muli %{{.*}}, %c102400_i64
// DET: arith.muli %{{.*}}, %c512_i32
// DET: nvvm.cp.async.shared.global
// DET: scf.for
// DET: arith.muli %{{.*}}, %c512_i64
// DET: llvm.store %{{.*}}, %{{.*}} {alignment = 4 : i64} : i32, !llvm.ptr<1>
func.func @bshd(%q: memref<2x200x4x64xbf16>, %k: memref<2x300x2x64xbf16>,
                %v: memref<2x300x2x64xbf16>, %o: memref<2x200x4x64xbf16>,
                %do: memref<2x200x4x64xbf16>, %lse: memref<2x4x200xf32>,
                %dq: memref<2x200x4x64xbf16>, %dk: memref<2x300x2x64xbf16>,
                %dv: memref<2x300x2x64xbf16>) {
  %0 = bufferization.to_tensor %q restrict : memref<2x200x4x64xbf16> to tensor<2x200x4x64xbf16>
  %1 = bufferization.to_tensor %k restrict : memref<2x300x2x64xbf16> to tensor<2x300x2x64xbf16>
  %2 = bufferization.to_tensor %v restrict : memref<2x300x2x64xbf16> to tensor<2x300x2x64xbf16>
  %3 = bufferization.to_tensor %o restrict : memref<2x200x4x64xbf16> to tensor<2x200x4x64xbf16>
  %4 = bufferization.to_tensor %do restrict : memref<2x200x4x64xbf16> to tensor<2x200x4x64xbf16>
  %5 = bufferization.to_tensor %lse restrict : memref<2x4x200xf32> to tensor<2x4x200xf32>
  %gq, %gk, %gv = attn.attention_backward
      ins(%0, %1, %2, %3, %4, %5 : tensor<2x200x4x64xbf16>, tensor<2x300x2x64xbf16>,
          tensor<2x300x2x64xbf16>, tensor<2x200x4x64xbf16>, tensor<2x200x4x64xbf16>,
          tensor<2x4x200xf32>)
      {layout = #attn.layout<bshd>, mask_kind = #attn.mask<causal_bottom_right>}
      -> tensor<2x200x4x64xbf16>, tensor<2x300x2x64xbf16>, tensor<2x300x2x64xbf16>
  bufferization.materialize_in_destination %gq in restrict writable %dq
      : (tensor<2x200x4x64xbf16>, memref<2x200x4x64xbf16>) -> ()
  bufferization.materialize_in_destination %gk in restrict writable %dk
      : (tensor<2x300x2x64xbf16>, memref<2x300x2x64xbf16>) -> ()
  bufferization.materialize_in_destination %gv in restrict writable %dv
      : (tensor<2x300x2x64xbf16>, memref<2x300x2x64xbf16>) -> ()
  return
}

// -----

// torch's x.transpose(1, 2) of [B, L, H, D] buffers: BHSD strided memrefs
// address as the BSHD ones (the same strides); the launch passes them as
// they are.
// CHECK-LABEL: gpu.func @view_bwd_convert(
// CHECK-SAME: memref<1x2x128x64xbf16, strided<[16384, 64, 128, 1]>>
// CHECK: arith.muli %{{.*}}, %c128_i64
// CHECK: arith.addi %{{.*}}, %c1024_i64 : i64
// CHECK-LABEL: func.func @view
// CHECK: gpu.launch_func @attn_kernels::@view_bwd_convert {{.*}} args(%{{.*}} : memref<1x2x128x64xbf16, strided<[16384, 64, 128, 1]>>
func.func @view(%q: memref<1x2x128x64xbf16, strided<[16384, 64, 128, 1]>>,
                %k: memref<1x2x128x64xbf16, strided<[16384, 64, 128, 1]>>,
                %v: memref<1x2x128x64xbf16, strided<[16384, 64, 128, 1]>>,
                %o: memref<1x2x128x64xbf16, strided<[16384, 64, 128, 1]>>,
                %do: memref<1x2x128x64xbf16, strided<[16384, 64, 128, 1]>>,
                %lse: memref<1x2x128xf32>,
                %dq: memref<1x2x128x64xbf16, strided<[16384, 64, 128, 1]>>,
                %dk: memref<1x2x128x64xbf16, strided<[16384, 64, 128, 1]>>,
                %dv: memref<1x2x128x64xbf16, strided<[16384, 64, 128, 1]>>) {
  %0 = bufferization.to_tensor %q restrict : memref<1x2x128x64xbf16, strided<[16384, 64, 128, 1]>> to tensor<1x2x128x64xbf16>
  %1 = bufferization.to_tensor %k restrict : memref<1x2x128x64xbf16, strided<[16384, 64, 128, 1]>> to tensor<1x2x128x64xbf16>
  %2 = bufferization.to_tensor %v restrict : memref<1x2x128x64xbf16, strided<[16384, 64, 128, 1]>> to tensor<1x2x128x64xbf16>
  %3 = bufferization.to_tensor %o restrict : memref<1x2x128x64xbf16, strided<[16384, 64, 128, 1]>> to tensor<1x2x128x64xbf16>
  %4 = bufferization.to_tensor %do restrict : memref<1x2x128x64xbf16, strided<[16384, 64, 128, 1]>> to tensor<1x2x128x64xbf16>
  %5 = bufferization.to_tensor %lse restrict : memref<1x2x128xf32> to tensor<1x2x128xf32>
  %gq, %gk, %gv = attn.attention_backward
      ins(%0, %1, %2, %3, %4, %5 : tensor<1x2x128x64xbf16>, tensor<1x2x128x64xbf16>,
          tensor<1x2x128x64xbf16>, tensor<1x2x128x64xbf16>, tensor<1x2x128x64xbf16>,
          tensor<1x2x128xf32>)
      {mask_kind = #attn.mask<causal_bottom_right>}
      -> tensor<1x2x128x64xbf16>, tensor<1x2x128x64xbf16>, tensor<1x2x128x64xbf16>
  bufferization.materialize_in_destination %gq in restrict writable %dq
      : (tensor<1x2x128x64xbf16>, memref<1x2x128x64xbf16, strided<[16384, 64, 128, 1]>>) -> ()
  bufferization.materialize_in_destination %gk in restrict writable %dk
      : (tensor<1x2x128x64xbf16>, memref<1x2x128x64xbf16, strided<[16384, 64, 128, 1]>>) -> ()
  bufferization.materialize_in_destination %gv in restrict writable %dv
      : (tensor<1x2x128x64xbf16>, memref<1x2x128x64xbf16, strided<[16384, 64, 128, 1]>>) -> ()
  return
}
