// RUN: attn-opt %s --split-input-file --attn-gpu-kernels="block-m=64" | FileCheck %s
// RUN: attn-opt %s --split-input-file --attn-gpu-kernels="block-m=64" | FileCheck %s --check-prefix=TILE

// A full bf16 bias [1, 2, Lq, Lk] staged through shared memory: each warp
// (16 rows of block-m 64) copies its rows x 64 keys with cp.async (8
// chunks of 16 bytes per 128-byte row, rows 144 bytes apart: 16 bytes of
// padding), zero-filled past Lq or Lk (the src-size operand), in a group
// of its own between K's and V's. Shared memory: Q 64 x 128 + 2 x (K 64 x
// 128 + V 64 x 128) = 40960 bytes, plus the bias tile 64 x 144 = 9216.
// In the loop: K[j] and T[j] landed (wait_group 2), the 16 register pairs
// of the lane read from shared memory (ld.shared of 2 x bf16), the warp
// syncs before it refills its rows with T[j+1] (a group), and V[j] waits
// with three groups in flight (K[j+1], T[j+1], V[j+1]).
// CHECK-LABEL: gpu.func @staged_bias_kernel
// CHECK-SAME: shared_memory_bytes = 50176
// CHECK: nvvm.cp.async.commit.group
// CHECK-COUNT-4: nvvm.cp.async.shared.global %{{.*}}, %{{.*}}, 16, cache = cg, %{{.*}} : !llvm.ptr<3>, !llvm.ptr<1>, i32
// CHECK-NEXT: nvvm.cp.async.commit.group
// CHECK: nvvm.cp.async.commit.group
// CHECK: scf.for
// CHECK: nvvm.cp.async.wait.group 2
// CHECK-NEXT: gpu.barrier
// CHECK-COUNT-16: llvm.load %{{.*}} {alignment = 4 : i64} : !llvm.ptr<3> -> vector<2xbf16>
// CHECK: nvvm.bar.warp.sync
// CHECK-NEXT: scf.if
// CHECK-COUNT-4: nvvm.cp.async.shared.global %{{.*}}, %{{.*}}, 16, cache = cg, %{{.*}} : !llvm.ptr<3>, !llvm.ptr<1>, i32
// CHECK: nvvm.cp.async.commit.group
// CHECK: nvvm.cp.async.commit.group
// CHECK-NEXT: nvvm.cp.async.wait.group 3
// CHECK-NEXT: gpu.barrier
// CHECK: gpu.return
// No bias element is read from global memory.
// TILE-LABEL: gpu.func @staged_bias_kernel
// TILE-NOT: !llvm.ptr<1> -> bf16
// TILE: gpu.return
func.func @staged_bias(%q: memref<1x2x256x64xbf16>, %bias: memref<1x2x256x256xbf16>, %o: memref<1x2x256x64xbf16>) {
  %q0 = bufferization.to_tensor %q restrict : memref<1x2x256x64xbf16> to tensor<1x2x256x64xbf16>
  %b0 = bufferization.to_tensor %bias restrict : memref<1x2x256x256xbf16> to tensor<1x2x256x256xbf16>
  %out = attn.attention ins(%q0, %q0, %q0 : tensor<1x2x256x64xbf16>, tensor<1x2x256x64xbf16>, tensor<1x2x256x64xbf16>) bias(%b0 : tensor<1x2x256x256xbf16>) {mask_kind = #attn.mask<causal_bottom_right>} -> tensor<1x2x256x64xbf16>
  bufferization.materialize_in_destination %out in restrict writable %o : (tensor<1x2x256x64xbf16>, memref<1x2x256x64xbf16>) -> ()
  return
}

// -----

// A bias broadcast over the queries ([1, 2, 1, Lk]: one row per head) is
// not staged: the 8 row groups of a warp read the same addresses, which
// the L1 serves; shared memory stays the 40960 bytes of Q, K and V.
// CHECK-LABEL: gpu.func @key_bias_kernel
// CHECK-SAME: shared_memory_bytes = 40960
// CHECK: scf.for
// CHECK: llvm.load %{{.*}} {alignment = 2 : i64} : !llvm.ptr<1> -> bf16
// CHECK: gpu.return
func.func @key_bias(%q: memref<1x2x256x64xbf16>, %bias: memref<1x2x1x256xbf16>, %o: memref<1x2x256x64xbf16>) {
  %q0 = bufferization.to_tensor %q restrict : memref<1x2x256x64xbf16> to tensor<1x2x256x64xbf16>
  %b0 = bufferization.to_tensor %bias restrict : memref<1x2x1x256xbf16> to tensor<1x2x1x256xbf16>
  %out = attn.attention ins(%q0, %q0, %q0 : tensor<1x2x256x64xbf16>, tensor<1x2x256x64xbf16>, tensor<1x2x256x64xbf16>) bias(%b0 : tensor<1x2x1x256xbf16>) -> tensor<1x2x256x64xbf16>
  bufferization.materialize_in_destination %out in restrict writable %o : (tensor<1x2x256x64xbf16>, memref<1x2x256x64xbf16>) -> ()
  return
}

// -----

// A full boolean mask [2, 1, Lq, Lk] (broadcast over heads) staged like
// the bias: 1-byte elements, rows of 64 bytes 80 apart (64 x 80 = 5120
// bytes after the 40960 of Q, K and V); a lane reads its two keys of a
// row as 2 x i8 and keeps the nonzero ones.
// CHECK-LABEL: gpu.func @staged_mask_kernel
// CHECK-SAME: shared_memory_bytes = 46080
// CHECK: scf.for
// CHECK: %[[PAIR:.+]] = llvm.load %{{.*}} {alignment = 2 : i64} : !llvm.ptr<3> -> vector<2xi8>
// CHECK: %[[BYTE:.+]] = llvm.extractelement %[[PAIR]]
// CHECK: arith.cmpi ne, %[[BYTE]], %{{.*}} : i8
// CHECK: nvvm.bar.warp.sync
// CHECK: gpu.return
func.func @staged_mask(%q: memref<2x2x128x64xf16>, %m: memref<2x1x128x128xi1>, %o: memref<2x2x128x64xf16>) {
  %q0 = bufferization.to_tensor %q restrict : memref<2x2x128x64xf16> to tensor<2x2x128x64xf16>
  %m0 = bufferization.to_tensor %m restrict : memref<2x1x128x128xi1> to tensor<2x1x128x128xi1>
  %out = attn.attention ins(%q0, %q0, %q0 : tensor<2x2x128x64xf16>, tensor<2x2x128x64xf16>, tensor<2x2x128x64xf16>) mask(%m0 : tensor<2x1x128x128xi1>) -> tensor<2x2x128x64xf16>
  bufferization.materialize_in_destination %out in restrict writable %o : (tensor<2x2x128x64xf16>, memref<2x2x128x64xf16>) -> ()
  return
}

// -----

// A sliding window written as a mask_mod (q - k < 128 and k <= q): the
// region is interval-evaluable, so before the loop two binary searches
// (scf.while) drop the leading and trailing KV blocks it is false on for
// every row of the CTA (keys [n0, n1] vs rows [m0, m0 + 63]); per block
// and warp (rows [r0, r0 + 15], keys [n0, n0 + 63]) q - k ranges over
// [r0 - n0 - 63, r0 + 15 - n0]: the warp computes the block only where
// some element may be kept (ever = lo(q - k) < 128 and n0 <= r0 + 15),
// and clones the region per score only where it is not kept everywhere
// (always = hi(q - k) < 128 and n0 + 63 <= r0).
// CHECK-LABEL: gpu.func @window_mod_kernel
// CHECK: scf.while
// CHECK: arith.cmpi slt, %{{.*}}, %c128_i64 : i64
// CHECK: scf.while
// CHECK: scf.for
// CHECK: gpu.barrier
// CHECK: %[[ALWAYS:.+]] = arith.andi %{{.*}}, %{{.*}} : i1
// CHECK: %[[EVER:.+]] = arith.andi %{{.*}}, %{{.*}} : i1
// CHECK: %[[NOT:.+]] = arith.xori %[[ALWAYS]], %true : i1
// CHECK: %[[MIXED:.+]] = arith.andi %[[EVER]], %[[NOT]] : i1
// CHECK: scf.if %[[EVER]]
// CHECK: nvvm.mma.sync
// CHECK: scf.if %[[MIXED]]
// CHECK: arith.subi %{{.*}}, %{{.*}} : index
// CHECK: arith.cmpi slt, %{{.*}}, %c128{{.*}} : index
// CHECK: arith.select
// CHECK: scf.if %[[EVER]]
// CHECK: gpu.return
func.func @window_mod(%q: memref<1x2x512x64xbf16>, %o: memref<1x2x512x64xbf16>) {
  %q0 = bufferization.to_tensor %q restrict : memref<1x2x512x64xbf16> to tensor<1x2x512x64xbf16>
  %out = attn.attention ins(%q0, %q0, %q0 : tensor<1x2x512x64xbf16>, tensor<1x2x512x64xbf16>, tensor<1x2x512x64xbf16>) -> tensor<1x2x512x64xbf16>
  mask_mod {
  ^bb0(%b: index, %h: index, %i: index, %j: index):
    %c128 = arith.constant 128 : index
    %d = arith.subi %i, %j : index
    %near = arith.cmpi slt, %d, %c128 : index
    %past = arith.cmpi sle, %j, %i : index
    %keep = arith.andi %near, %past : i1
    attn.yield %keep : i1
  }
  bufferization.materialize_in_destination %out in restrict writable %o : (tensor<1x2x512x64xbf16>, memref<1x2x512x64xbf16>) -> ()
  return
}

// -----

// A mask_mod the evaluator does not model (a product of two indices): no
// block is skipped and every score clones the region, as before.
// CHECK-LABEL: gpu.func @product_mod_kernel
// CHECK-NOT: scf.while
// CHECK: scf.for
// CHECK: arith.muli %{{.*}}, %{{.*}} : index
// CHECK: arith.select
// CHECK: gpu.return
func.func @product_mod(%q: memref<1x2x256x64xbf16>, %o: memref<1x2x256x64xbf16>) {
  %q0 = bufferization.to_tensor %q restrict : memref<1x2x256x64xbf16> to tensor<1x2x256x64xbf16>
  %out = attn.attention ins(%q0, %q0, %q0 : tensor<1x2x256x64xbf16>, tensor<1x2x256x64xbf16>, tensor<1x2x256x64xbf16>) -> tensor<1x2x256x64xbf16>
  mask_mod {
  ^bb0(%b: index, %h: index, %i: index, %j: index):
    %p = arith.muli %i, %j : index
    %c5000 = arith.constant 5000 : index
    %keep = arith.cmpi slt, %p, %c5000 : index
    attn.yield %keep : i1
  }
  bufferization.materialize_in_destination %out in restrict writable %o : (tensor<1x2x256x64xbf16>, memref<1x2x256x64xbf16>) -> ()
  return
}
