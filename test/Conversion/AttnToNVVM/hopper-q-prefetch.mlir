// RUN: attn-opt %s --split-input-file --attn-gpu-kernels="chip=sm_90a hopper-persistent=3" | FileCheck %s
// RUN: attn-opt %s --split-input-file --attn-gpu-kernels="chip=sm_90a hopper-persistent=3 hopper-q-prefetch=false" | FileCheck %s --check-prefix=OFF

// hopper-q-prefetch (auto: on with the dynamic scheduler, Q in registers,
// a right bound and no tile of more than 8 KV blocks): D = 64 causal, 2
// tiles of 1 and 2 blocks on min(3, 2) CTAs. The
// consumers load the first tile's 16 Q fragments (4 k steps x 4 registers)
// before the tile loop, which carries them (3 + 16 i32); after a tile's KV
// loop they take the next tile from its slot (full barrier, shared load,
// empty barrier), clamp it to the last tile (1) for the addresses and load
// its Q fragments before this tile's O stores, which yield passes on.
// CHECK-LABEL: gpu.func @causal_kernel
// CHECK: nvvm.setmaxregister  increase 232
// CHECK-COUNT-16: llvm.load %{{.*}} {alignment = 4 : i64} : !llvm.ptr<1> -> i32
// CHECK: scf.while ({{.*}}) : ([[I32x19:(i32, ){18}i32]]) -> ([[I32x19]])
// CHECK: arith.cmpi ult, %{{.*}}, %c2_i32
// CHECK: wgmma.mma_async
// CHECK: nvvm.mbarrier.try_wait.parity
// CHECK: %[[NEXT:.*]] = llvm.load %{{.*}} {alignment = 4 : i64} : !llvm.ptr<3> -> i32
// CHECK: nvvm.mbarrier.arrive
// CHECK: arith.minui %[[NEXT]], %c1_i32
// CHECK-COUNT-16: llvm.load %{{.*}} {alignment = 4 : i64} : !llvm.ptr<1> -> i32
// CHECK: llvm.store %{{.*}}, %{{.*}} {alignment = 4 : i64} : i32, !llvm.ptr<1>
// CHECK-NOT: !llvm.ptr<3> -> i32
// CHECK: scf.yield %[[NEXT]], %{{.*}} : [[I32x19]]
// With hopper-q-prefetch=false the consumers load Q at the start of each
// tile and take the next one after the epilogue: the loop carries 3 i32.
// OFF-LABEL: gpu.func @causal_kernel
// OFF: nvvm.setmaxregister  increase 232
// OFF-NOT: !llvm.ptr<1> -> i32
// OFF: scf.while ({{.*}}) : (i32, i32, i32) -> (i32, i32, i32)
// OFF: llvm.load %{{.*}} {alignment = 4 : i64} : !llvm.ptr<1> -> i32
// OFF: llvm.store %{{.*}}, %{{.*}} {alignment = 4 : i64} : i32, !llvm.ptr<1>
// OFF: llvm.load %{{.*}} {alignment = 4 : i64} : !llvm.ptr<3> -> i32
// OFF: scf.yield %{{.*}} : i32, i32, i32
func.func @causal(%q: memref<1x1x256x64xbf16>, %o: memref<1x1x256x64xbf16>) {
  %0 = bufferization.to_tensor %q restrict : memref<1x1x256x64xbf16> to tensor<1x1x256x64xbf16>
  %1 = attn.attention ins(%0, %0, %0 : tensor<1x1x256x64xbf16>, tensor<1x1x256x64xbf16>, tensor<1x1x256x64xbf16>) {mask_kind = #attn.mask<causal_bottom_right>} -> tensor<1x1x256x64xbf16>
  bufferization.materialize_in_destination %1 in restrict writable %o : (tensor<1x1x256x64xbf16>, memref<1x1x256x64xbf16>) -> ()
  return
}

// -----

// Without a right bound auto leaves the prefetch off (measured 3% slower
// there on an H200): Q loaded in the loop, 3 i32 carried.
// CHECK-LABEL: gpu.func @plain_kernel
// CHECK: nvvm.setmaxregister  increase 232
// CHECK: scf.while ({{.*}}) : (i32, i32, i32) -> (i32, i32, i32)
// CHECK: llvm.load %{{.*}} {alignment = 4 : i64} : !llvm.ptr<1> -> i32
// CHECK: llvm.store %{{.*}}, %{{.*}} {alignment = 4 : i64} : i32, !llvm.ptr<1>
// CHECK: llvm.load %{{.*}} {alignment = 4 : i64} : !llvm.ptr<3> -> i32
func.func @plain(%q: memref<1x1x256x64xbf16>, %o: memref<1x1x256x64xbf16>) {
  %0 = bufferization.to_tensor %q restrict : memref<1x1x256x64xbf16> to tensor<1x1x256x64xbf16>
  %1 = attn.attention ins(%0, %0, %0 : tensor<1x1x256x64xbf16>, tensor<1x1x256x64xbf16>, tensor<1x1x256x64xbf16>) -> tensor<1x1x256x64xbf16>
  bufferization.materialize_in_destination %1 in restrict writable %o : (tensor<1x1x256x64xbf16>, memref<1x1x256x64xbf16>) -> ()
  return
}

// -----

// D = 128 with block-n 128 keeps Q in a shared tile, which the producer
// prefetches already: auto leaves the consumers' loop as it was (causal).
// CHECK-LABEL: gpu.func @shared_q_kernel
// CHECK: nvvm.setmaxregister  increase 216
// CHECK: scf.while ({{.*}}) : (i32, i32, i32) -> (i32, i32, i32)
// CHECK-NOT: arith.minui %{{.*}}, %c3_i32
// CHECK: gpu.return
func.func @shared_q(%q: memref<1x2x256x128xbf16>, %o: memref<1x2x256x128xbf16>) {
  %0 = bufferization.to_tensor %q restrict : memref<1x2x256x128xbf16> to tensor<1x2x256x128xbf16>
  %1 = attn.attention ins(%0, %0, %0 : tensor<1x2x256x128xbf16>, tensor<1x2x256x128xbf16>, tensor<1x2x256x128xbf16>) {mask_kind = #attn.mask<causal_bottom_right>} -> tensor<1x2x256x128xbf16>
  bufferization.materialize_in_destination %1 in restrict writable %o : (tensor<1x2x256x128xbf16>, memref<1x2x256x128xbf16>) -> ()
  return
}
