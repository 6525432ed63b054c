// RUN: attn-opt %s --split-input-file --attn-gpu-kernels="chip=sm_90a hopper-epilogue=registers hopper-persistent=3 hopper-scheduler=static" | FileCheck %s
// RUN: attn-opt %s --split-input-file --attn-gpu-kernels="chip=sm_90a hopper-epilogue=registers" | FileCheck %s --check-prefix=AUTO
// RUN: attn-opt %s --split-input-file --attn-gpu-kernels="chip=sm_90a hopper-epilogue=registers hopper-persistent=0" | FileCheck %s --check-prefix=OFF

// hopper-epilogue=registers: the shared-memory figures below are those of
// the register epilogue (the TMA epilogue's O tile: hopper-epilogue.mlir).

// Causal MHA 2/2, Lq = Lk = 512 at D = 128: 4 query blocks x 2 heads = 8
// tiles on a persistent grid of 3 CTAs (hopper-persistent=3) with the
// static scheduler (hopper-scheduler=static), each looping over ceil(8 / 3)
// rounds (the dynamic scheduler: hopper-scheduler.mlir). Q is a shared tile at D = 128, so it gets an
// empty barrier (256 consumer arrivals) besides its full one: 8 bytes more
// shared memory than the one-CTA-per-tile kernel (164936).

// auto (the default): 4 KV blocks at most per tile, so the dynamic
// scheduler on num-sms CTAs (its two tile slots: 40 bytes more).
// AUTO-LABEL: gpu.func @causal_kernel
// AUTO-SAME: grid_formula = "[min(hopper_persistent, ceil(Lq / block_m) * B * Hq), 1, 1]", shared_memory_bytes = 164984
// OFF-LABEL: gpu.func @causal_kernel
// OFF-SAME: grid_formula = "[ceil(Lq / block_m), B * Hq, 1]", shared_memory_bytes = 164936
// CHECK-LABEL: gpu.func @causal_kernel
// CHECK-SAME: grid_formula = "[min(hopper_persistent, ceil(Lq / block_m) * B * Hq), 1, 1]", shared_memory_bytes = 164944
// Thread 0: per stage full-K / full-V (1: the TMA loads' expect_tx) and
// empty-K / empty-V (256), then Q's full (1) and empty (256) barriers.
// CHECK-COUNT-2: nvvm.mbarrier.init %{{.*}}, %c1_i32
// CHECK-COUNT-2: nvvm.mbarrier.init %{{.*}}, %c256_i32
// CHECK-COUNT-2: nvvm.mbarrier.init %{{.*}}, %c1_i32
// CHECK-COUNT-2: nvvm.mbarrier.init %{{.*}}, %c256_i32
// CHECK: nvvm.mbarrier.init %{{.*}}, %c1_i32
// CHECK: nvvm.mbarrier.init %{{.*}}, %c256_i32
// CHECK: gpu.barrier
// Producer: rounds = (8 + G - 1) / G of the runtime grid; round k takes
// tile k G + c, reversed (G - 1 - c) on odd rounds; the KV blocks done and
// the tiles done are carried.
// CHECK: nvvm.setmaxregister  decrease 72
// CHECK: %[[C:.*]] = gpu.block_id  x
// CHECK: %[[G:.*]] = gpu.grid_dim  x
// CHECK: arith.divui
// CHECK: scf.for %[[K:.*]] = %{{.*}} to %{{.*}} step %{{.*}} iter_args(%[[DONE:.*]] = %{{.*}}, %[[TILES:.*]] = %{{.*}}) -> (i32, i32)
// CHECK: arith.select
// CHECK: %[[VALID:.*]] = arith.cmpi ult, %{{.*}}, %c8_i32
// CHECK: scf.if %[[VALID]] -> (i32, i32)
// Longest first within a group of heads whose K and V fit 24 MiB (here
// both heads): group t / 8, block 3 - r / hg, head gi * 2 + r % hg.
// CHECK: arith.divui %{{.*}}, %c8_i32
// CHECK: arith.minui
// CHECK: arith.divui
// CHECK: arith.subi %c3_i32
// CHECK: arith.remui
// The Q tile is reloaded (TMA, by the one producer thread that runs the
// loop) once the consumers released the last one.
// CHECK: nvvm.mbarrier.try_wait.parity
// CHECK: nvvm.mbarrier.arrive.expect_tx %{{.*}}, %c32768_i32
// CHECK: nvvm.cp.async.bulk.tensor.shared.cluster.global
// CHECK: scf.for
// CHECK: nvvm.mbarrier.arrive.expect_tx
// CHECK: nvvm.cp.async.bulk.tensor.shared.cluster.global
// CHECK: arith.maxsi
// CHECK: scf.yield
// Consumers: the same tile loop; Q's full barrier waited on with the tile
// parity, its empty one arrived on after the KV loop, before the epilogue.
// CHECK: nvvm.setmaxregister  increase 216
// CHECK: scf.for {{.*}} -> (i32, i32)
// CHECK: scf.if %{{.*}} -> (i32, i32)
// CHECK: nvvm.mbarrier.try_wait.parity
// CHECK: nvvm.wgmma.fence.aligned
// CHECK: nvvm.mbarrier.arrive
// CHECK: nvvm.shfl.sync bfly
// CHECK: llvm.store
// CHECK: gpu.launch_func  @attn_kernels::@causal_kernel blocks in (%c3, %c1, %c1{{.*}}) threads in (%c384,
func.func @causal(%q: memref<1x2x512x128xbf16>, %o: memref<1x2x512x128xbf16>) {
  %0 = bufferization.to_tensor %q restrict : memref<1x2x512x128xbf16> to tensor<1x2x512x128xbf16>
  %1 = attn.attention ins(%0, %0, %0 : tensor<1x2x512x128xbf16>, tensor<1x2x512x128xbf16>, tensor<1x2x512x128xbf16>) {mask_kind = #attn.mask<causal_bottom_right>} -> tensor<1x2x512x128xbf16>
  bufferization.materialize_in_destination %1 in restrict writable %o : (tensor<1x2x512x128xbf16>, memref<1x2x512x128xbf16>) -> ()
  return
}

// -----

// No mask, D = 64 (Q in registers: no Q barriers), 2 tiles: the grid is
// min(3, 2) = 2 CTAs, and the tiles go head-major (block t % 2, head t / 2).
// Ping-pong (auto at D = 64) opens and closes its turns once around the
// tile loop.
// auto (the default) at D = 64 without a right bound: num-sms (132) CTAs,
// so min(132, 2); hopper-persistent=0 one CTA per tile.
// AUTO-LABEL: gpu.func @plain_kernel
// AUTO-SAME: grid_formula = "[min(hopper_persistent, ceil(Lq / block_m) * B * Hq), 1, 1]"
// AUTO: gpu.launch_func  @attn_kernels::@plain_kernel blocks in (%c2, %c1, %c1{{.*}})
// OFF-LABEL: gpu.func @plain_kernel
// OFF-SAME: grid_formula = "[ceil(Lq / block_m), B * Hq, 1]"
// CHECK-LABEL: gpu.func @plain_kernel
// CHECK-SAME: shared_memory_bytes = 66632
// CHECK: nvvm.setmaxregister  increase 232
// CHECK: nvvm.barrier.arrive id = %{{.*}} number_of_threads = %c256_i32
// CHECK: scf.for {{.*}} -> (i32, i32)
// CHECK: arith.remui %{{.*}}, %c2_i32
// CHECK: arith.divui %{{.*}}, %c2_i32
// CHECK: llvm.load %{{.*}} {alignment = 4 : i64} : !llvm.ptr<1> -> i32
// CHECK: scf.yield
// CHECK: nvvm.barrier id = %{{.*}} number_of_threads = %c256_i32
// CHECK: gpu.launch_func  @attn_kernels::@plain_kernel blocks in (%c2, %c1, %c1{{.*}})
func.func @plain(%q: memref<1x1x256x64xbf16>, %o: memref<1x1x256x64xbf16>) {
  %0 = bufferization.to_tensor %q restrict : memref<1x1x256x64xbf16> to tensor<1x1x256x64xbf16>
  %1 = attn.attention ins(%0, %0, %0 : tensor<1x1x256x64xbf16>, tensor<1x1x256x64xbf16>, tensor<1x1x256x64xbf16>) -> tensor<1x1x256x64xbf16>
  bufferization.materialize_in_destination %1 in restrict writable %o : (tensor<1x1x256x64xbf16>, memref<1x1x256x64xbf16>) -> ()
  return
}
