// RUN: attn-opt %s --split-input-file --attn-gpu-kernels="chip=sm_90a" | FileCheck %s
// RUN: attn-opt %s --split-input-file --attn-gpu-kernels="chip=sm_90a hopper-loads=cp-async" | FileCheck %s --check-prefix=CPASYNC

// hopper-loads=tma (the default): the producer's K and V tiles come from
// tensor maps, kernel arguments after O and LSE whose host operands are K
// and V themselves; the manifest says how the runtime builds them. GQA 4/2,
// causal, Lq = 200, Lk = 300, D = 64: one 64-column panel per tile, boxes
// of one head by 128 keys by 64 columns (BHSD: [B, H, L, D] outermost
// first), the 128-byte swizzle of the wgmma layout.
// CHECK-LABEL: gpu.module @attn_kernels
// CHECK: gpu.func @attention_kernel(%{{.*}}: memref<1x4x200x64xbf16>, %{{.*}}: memref<1x2x300x64xbf16>, %{{.*}}: memref<1x2x300x64xbf16>, %{{.*}}: memref<1x4x200x64xbf16>, %{{.*}}: memref<1x4x200xf32>, %[[KMAP:.+]]: memref<1x2x300x64xbf16>, %[[VMAP:.+]]: memref<1x2x300x64xbf16>, %{{.*}}: memref<1xi32>) kernel
// CHECK-SAME: #attn.kernel_arg<"k_tensor_map", tensor_map, <"k", box = [1, 1, 128, 64], swizzle = 128>>, #attn.kernel_arg<"v_tensor_map", tensor_map, <"v", box = [1, 1, 128, 64], swizzle = 128>>, #attn.kernel_arg<"tile_counter", workspace>]
// A full barrier completes on one arrival (the expect_tx) plus the bytes;
// the empty ones on the 256 consumer threads, as with cp.async.
// CHECK-COUNT-2: nvvm.mbarrier.init %{{.*}}, %c1_i32
// CHECK-COUNT-2: nvvm.mbarrier.init %{{.*}}, %c256_i32
// Producer: setmaxnreg for the whole warpgroup, then thread 0 alone
// prefetches both maps and, per KV block, expects 128 * 64 * 2 = 16384
// bytes on the tile's full barrier and issues one 4-d copy at (column 0,
// key n0, KV head, batch).
// CHECK: nvvm.setmaxregister  decrease 40
// CHECK: %[[TID0:.+]] = arith.cmpi eq, %{{.*}}, %c0_i32
// CHECK-NEXT: scf.if %[[TID0]] {
// CHECK: nvvm.prefetch tensormap, %{{.*}} : !llvm.ptr
// CHECK: nvvm.prefetch tensormap, %{{.*}} : !llvm.ptr
// CHECK: scf.for
// CHECK: nvvm.mbarrier.try_wait.parity
// CHECK: nvvm.mbarrier.arrive.expect_tx %[[FULLK:.+]], %c16384_i32 : !llvm.ptr<3>, i32
// CHECK: %[[DSTK:.+]] = llvm.addrspacecast %{{.*}} : !llvm.ptr<3> to !llvm.ptr<7>
// CHECK: nvvm.cp.async.bulk.tensor.shared.cluster.global %[[DSTK]], %{{.*}}, %[[FULLK]], box[%c0_i32{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}] : !llvm.ptr<7>, !llvm.ptr
// CHECK: nvvm.mbarrier.try_wait.parity
// CHECK: nvvm.mbarrier.arrive.expect_tx %[[FULLV:.+]], %c16384_i32{{.*}} : !llvm.ptr<3>, i32
// CHECK: nvvm.cp.async.bulk.tensor.shared.cluster.global %{{.*}}, %{{.*}}, %[[FULLV]], box[
// CHECK-NOT: nvvm.cp.async.shared.global
// CHECK-NOT: nvvm.cp.async.wait.group
// CHECK: nvvm.setmaxregister  increase 232
// TMA writes through the async proxy wgmma reads: no proxy fence.
// CHECK-NOT: nvvm.fence.proxy
// CHECK: gpu.return

// The launch passes K and V again where the maps go (then the dynamic tile
// scheduler's counter, hopper-scheduler=auto: hopper-scheduler.mlir).
// CHECK-LABEL: func.func @attention
// CHECK: gpu.launch_func @attn_kernels::@attention_kernel {{.*}} args(%[[Q:.+]] : memref<1x4x200x64xbf16>, %[[K:.+]] : memref<1x2x300x64xbf16>, %[[V:.+]] : memref<1x2x300x64xbf16>, %{{.*}} : memref<1x4x200x64xbf16>, %{{.*}} : memref<1x4x200xf32>, %[[K]] : memref<1x2x300x64xbf16>, %[[V]] : memref<1x2x300x64xbf16>, %{{.*}} : memref<1xi32>)

// cp-async keeps the kernel's five pointers and 128-arrival full barriers.
// CPASYNC: gpu.func @attention_kernel(%{{.*}}: memref<1x4x200x64xbf16>, %{{.*}}: memref<1x2x300x64xbf16>, %{{.*}}: memref<1x2x300x64xbf16>, %{{.*}}: memref<1x4x200x64xbf16>, %{{.*}}: memref<1x4x200xf32>) kernel
// CPASYNC-NOT: tensor_map
// CPASYNC-COUNT-2: nvvm.mbarrier.init %{{.*}}, %c128_i32
// CPASYNC: nvvm.cp.async.shared.global
// CPASYNC-NOT: nvvm.cp.async.bulk.tensor
// CPASYNC: nvvm.fence.proxy
func.func @attention(%q: memref<1x4x200x64xbf16>, %k: memref<1x2x300x64xbf16>,
                     %v: memref<1x2x300x64xbf16>, %o: memref<1x4x200x64xbf16>,
                     %lse: memref<1x4x200xf32>) {
  %0 = bufferization.to_tensor %q restrict : memref<1x4x200x64xbf16> to tensor<1x4x200x64xbf16>
  %1 = bufferization.to_tensor %k restrict : memref<1x2x300x64xbf16> to tensor<1x2x300x64xbf16>
  %2 = bufferization.to_tensor %v restrict : memref<1x2x300x64xbf16> to tensor<1x2x300x64xbf16>
  %out, %l = attn.attention ins(%0, %1, %2 : tensor<1x4x200x64xbf16>,
      tensor<1x2x300x64xbf16>, tensor<1x2x300x64xbf16>)
      {mask_kind = #attn.mask<causal_bottom_right>}
      -> tensor<1x4x200x64xbf16>, tensor<1x4x200xf32>
  bufferization.materialize_in_destination %out in restrict writable %o
      : (tensor<1x4x200x64xbf16>, memref<1x4x200x64xbf16>) -> ()
  bufferization.materialize_in_destination %l in restrict writable %lse
      : (tensor<1x4x200xf32>, memref<1x4x200xf32>) -> ()
  return
}

// -----

// D = 128 with block-n 128: Q goes through a shared tile too, so it gets a
// map (box of 128 query rows by one panel), and every tile is two panels:
// two copies per tile at columns 0 and 64, each half of the 128 * 128 * 2 =
// 32768 bytes the barrier expects. BSHD ([B, L, H, D]): the box's rows are
// dim 1, and the copies' coordinates are (column, head, row, batch). At
// D = 128 O is stored by TMA too (hopper-epilogue=auto): its map's box is
// one consumer warpgroup's 64 rows by one panel (hopper-epilogue.mlir).
// CHECK-LABEL: gpu.module @attn_kernels
// CHECK: #attn.kernel_arg<"k_tensor_map", tensor_map, <"k", box = [1, 128, 1, 64], swizzle = 128>>, #attn.kernel_arg<"v_tensor_map", tensor_map, <"v", box = [1, 128, 1, 64], swizzle = 128>>, #attn.kernel_arg<"q_tensor_map", tensor_map, <"q", box = [1, 128, 1, 64], swizzle = 128>>, #attn.kernel_arg<"o_tensor_map", tensor_map, <"o", box = [1, 64, 1, 64], swizzle = 128>>, #attn.kernel_arg<"tile_counter", workspace>]
// CHECK: nvvm.setmaxregister  decrease 72
// CHECK-COUNT-4: nvvm.prefetch tensormap
// The Q tile first (its own barrier), then K and V per block.
// CHECK: nvvm.mbarrier.arrive.expect_tx %{{.*}}, %c32768_i32
// CHECK: nvvm.cp.async.bulk.tensor.shared.cluster.global %{{.*}}, %{{.*}}, %{{.*}}, box[%c0_i32{{.*}}, %[[HEAD:.+]], %[[M0:.+]], %[[B:.+]]]
// CHECK: nvvm.cp.async.bulk.tensor.shared.cluster.global %{{.*}}, %{{.*}}, %{{.*}}, box[%c64_i32{{.*}}, %[[HEAD]], %[[M0]], %[[B]]]
// CHECK: scf.for
// CHECK: nvvm.mbarrier.arrive.expect_tx %{{.*}}, %c32768_i32
// CHECK-COUNT-2: nvvm.cp.async.bulk.tensor.shared.cluster.global
// CHECK: nvvm.mbarrier.arrive.expect_tx %{{.*}}, %c32768_i32
// CHECK-COUNT-2: nvvm.cp.async.bulk.tensor.shared.cluster.global
func.func @attention_bshd(%q: memref<1x256x2x128xbf16>, %k: memref<1x256x2x128xbf16>,
                          %v: memref<1x256x2x128xbf16>, %o: memref<1x256x2x128xbf16>) {
  %0 = bufferization.to_tensor %q restrict : memref<1x256x2x128xbf16> to tensor<1x256x2x128xbf16>
  %1 = bufferization.to_tensor %k restrict : memref<1x256x2x128xbf16> to tensor<1x256x2x128xbf16>
  %2 = bufferization.to_tensor %v restrict : memref<1x256x2x128xbf16> to tensor<1x256x2x128xbf16>
  %out = attn.attention ins(%0, %1, %2 : tensor<1x256x2x128xbf16>,
      tensor<1x256x2x128xbf16>, tensor<1x256x2x128xbf16>)
      {layout = #attn.layout<bshd>}
      -> tensor<1x256x2x128xbf16>
  bufferization.materialize_in_destination %out in restrict writable %o
      : (tensor<1x256x2x128xbf16>, memref<1x256x2x128xbf16>) -> ()
  return
}
