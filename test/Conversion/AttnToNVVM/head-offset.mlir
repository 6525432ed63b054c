// RUN: attn-opt %s --split-input-file --attn-gpu-kernels="block-m=64" | FileCheck %s

// Rank 1 of a 2-way split of GQA 8/4 (local Hq = 4, Hkv = 2, global heads
// 4..7). The op's slopes cover the 8 global heads, 2^-(h+1); the kernel
// reads only the shard's slice (2^-5 .. 2^-8), one select per local head
// after the first, so no slope of heads 0..3 reaches it. score_mod's head
// argument is the CTA's local head plus 4.
// CHECK-LABEL: gpu.func @shard_kernel
// blockIdx.y = b * 4 + h: the program's local head h is y % 4; score_mod
// gets h + 4.
// CHECK: %[[HI:.+]] = arith.remui %block_id_y, %{{.+}} : index
// CHECK: %[[H:.+]] = arith.index_castui %[[HI]] : index to i32
// CHECK: %[[HG:.+]] = arith.addi %[[H]], %c4_i32{{.*}} : i32
// CHECK-NEXT: %[[HGI:.+]] = arith.index_castui %[[HG]] : i32 to index
// The slope select chain over the local head: 2^-5 for h = 0, then 2^-6,
// 2^-7, 2^-8; the unsharded heads' 2^-1 .. 2^-4 never appear.
// CHECK-NEXT: %[[S0:.+]] = arith.constant -3.125000e-02 : f32
// CHECK: arith.cmpi eq, %[[H]], %{{.+}} : i32
// CHECK-NEXT: arith.constant -1.562500e-02 : f32
// CHECK: arith.cmpi eq, %[[H]], %{{.+}} : i32
// CHECK-NEXT: arith.constant -7.812500e-03 : f32
// CHECK: arith.cmpi eq, %[[H]], %{{.+}} : i32
// CHECK-NEXT: arith.constant -3.906250e-03 : f32
// CHECK-NOT: arith.constant -{{5.000000e-01|2.500000e-01|1.250000e-01|6.250000e-02}} : f32
// The region's head argument, cloned per score, is the global head.
// CHECK: arith.index_cast %[[HGI]] : index to i64
// CHECK: gpu.return
func.func @shard(%q: memref<1x4x128x64xbf16>, %k: memref<1x2x128x64xbf16>,
                 %v: memref<1x2x128x64xbf16>, %o: memref<1x4x128x64xbf16>) {
  %0 = bufferization.to_tensor %q restrict : memref<1x4x128x64xbf16> to tensor<1x4x128x64xbf16>
  %1 = bufferization.to_tensor %k restrict : memref<1x2x128x64xbf16> to tensor<1x2x128x64xbf16>
  %2 = bufferization.to_tensor %v restrict : memref<1x2x128x64xbf16> to tensor<1x2x128x64xbf16>
  %out = attn.attention ins(%0, %1, %2 : tensor<1x4x128x64xbf16>,
      tensor<1x2x128x64xbf16>, tensor<1x2x128x64xbf16>)
      {head_offset = 4 : i64, num_heads_total = 8 : i64,
       alibi_slopes = array<f64: 0.5, 0.25, 0.125, 0.0625, 0.03125, 0.015625, 0.0078125, 0.00390625>,
       mask_kind = #attn.mask<causal_bottom_right>} -> tensor<1x4x128x64xbf16>
  score_mod {
  ^bb0(%s: f32, %b: index, %h: index, %i: index, %j: index):
    %hi = arith.index_cast %h : index to i64
    %hf = arith.sitofp %hi : i64 to f32
    %r = arith.addf %s, %hf : f32
    attn.yield %r : f32
  }
  bufferization.materialize_in_destination %out in restrict writable %o
      : (tensor<1x4x128x64xbf16>, memref<1x4x128x64xbf16>) -> ()
  return
}

// -----

// The decode kernel (Lq = 1: one CTA per KV head packs its 2 query heads as
// rows): row r's local head is kvHead * 2 + r / Lq, and score_mod's head
// argument adds the offset 4 to it.
// CHECK-LABEL: gpu.func @decode_shard_kernel
// The region's arguments per score: the batch, then the row's head + 4.
// CHECK: arith.index_castui %{{.+}} : i32 to index
// CHECK-NEXT: %[[C4:.+]] = arith.constant 4 : i32
// CHECK-NEXT: %[[HG:.+]] = arith.addi %{{.+}}, %[[C4]] : i32
// CHECK-NEXT: %[[HGI:.+]] = arith.index_castui %[[HG]] : i32 to index
// CHECK: arith.index_cast %[[HGI]] : index to i64
// CHECK: gpu.return
func.func @decode_shard(%q: memref<1x4x1x64xbf16>, %k: memref<1x2x256x64xbf16>,
                        %v: memref<1x2x256x64xbf16>, %o: memref<1x4x1x64xbf16>) {
  %0 = bufferization.to_tensor %q restrict : memref<1x4x1x64xbf16> to tensor<1x4x1x64xbf16>
  %1 = bufferization.to_tensor %k restrict : memref<1x2x256x64xbf16> to tensor<1x2x256x64xbf16>
  %2 = bufferization.to_tensor %v restrict : memref<1x2x256x64xbf16> to tensor<1x2x256x64xbf16>
  %out = attn.attention ins(%0, %1, %2 : tensor<1x4x1x64xbf16>,
      tensor<1x2x256x64xbf16>, tensor<1x2x256x64xbf16>)
      {head_offset = 4 : i64, num_heads_total = 8 : i64} -> tensor<1x4x1x64xbf16>
  score_mod {
  ^bb0(%s: f32, %b: index, %h: index, %i: index, %j: index):
    %hi = arith.index_cast %h : index to i64
    %hf = arith.sitofp %hi : i64 to f32
    %r = arith.addf %s, %hf : f32
    attn.yield %r : f32
  }
  bufferization.materialize_in_destination %out in restrict writable %o
      : (tensor<1x4x1x64xbf16>, memref<1x4x1x64xbf16>) -> ()
  return
}
