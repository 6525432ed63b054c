// RUN: attn-opt %s --split-input-file --attn-gpu-kernels="chip=sm_90a hopper-epilogue=registers hopper-persistent=3 hopper-scheduler=dynamic" | FileCheck %s
// RUN: attn-opt %s --split-input-file --attn-gpu-kernels="chip=sm_90a hopper-epilogue=registers hopper-scheduler=dynamic" | FileCheck %s --check-prefix=SMS
// RUN: attn-opt %s --split-input-file --attn-gpu-kernels="chip=sm_90a hopper-epilogue=registers hopper-persistent=3 hopper-scheduler=static" | FileCheck %s --check-prefix=STATIC
// RUN: attn-opt %s --split-input-file --attn-gpu-kernels="chip=sm_90a hopper-epilogue=registers hopper-group-bytes=1" | FileCheck %s --check-prefix=GROUP
// RUN: attn-opt %s --split-input-file --attn-gpu-kernels="chip=sm_90a hopper-epilogue=registers hopper-q-shared=true" | FileCheck %s --check-prefix=QSHARED

// hopper-epilogue=registers: the shared-memory figures below are those of
// the register epilogue (the TMA epilogue's O tile: hopper-epilogue.mlir).

// hopper-scheduler=dynamic: causal MHA 2/2, Lq = Lk = 512 at D = 128, 8
// tiles on a persistent grid of 3 CTAs that take their tiles from an
// atomic counter. The counter is an i32 workspace the runtime zero-fills
// (allocated around the launch); the kernel gets two tile slots with full
// (1 arrival) and empty (256) mbarriers after Q's two: 40 bytes more shared
// memory than the static persistent kernel (164944).
// CHECK-LABEL: gpu.func @causal_kernel
// CHECK-SAME: %{{.*}}: memref<1xi32>)
// CHECK-SAME: grid_formula = "[min(hopper_persistent, ceil(Lq / block_m) * B * Hq), 1, 1]", shared_memory_bytes = 164984
// CHECK-SAME: #attn.kernel_arg<"q_tensor_map", tensor_map, {{.*}}>>, #attn.kernel_arg<"tile_counter", workspace>]
// CHECK-COUNT-2: nvvm.mbarrier.init %{{.*}}, %c1_i32
// CHECK-COUNT-2: nvvm.mbarrier.init %{{.*}}, %c256_i32
// CHECK-COUNT-2: nvvm.mbarrier.init %{{.*}}, %c1_i32
// CHECK-COUNT-2: nvvm.mbarrier.init %{{.*}}, %c256_i32
// CHECK: nvvm.mbarrier.init %{{.*}}, %c1_i32
// CHECK: nvvm.mbarrier.init %{{.*}}, %c256_i32
// CHECK: nvvm.mbarrier.init %{{.*}}, %c1_i32
// CHECK: nvvm.mbarrier.init %{{.*}}, %c256_i32
// CHECK: nvvm.mbarrier.init %{{.*}}, %c1_i32
// CHECK: nvvm.mbarrier.init %{{.*}}, %c256_i32
// CHECK: gpu.barrier
// Producer (its one TMA thread): the first tile is the block id; each tile
// takes a ticket from the counter before its loads (the ticket that is the
// launch's last, 8 - 1, stores 0: the re-arm) and, after them, hands tile
// ticket + G to the consumers: wait for the slot's empty barrier, store,
// arrive on its full barrier.
// CHECK: nvvm.setmaxregister  decrease 72
// CHECK: %[[C:.*]] = gpu.block_id  x
// CHECK: %[[CI:.*]] = arith.index_castui %[[C]] : index to i32
// CHECK: %[[G:.*]] = gpu.grid_dim  x
// CHECK: %[[GI:.*]] = arith.index_castui %[[G]] : index to i32
// CHECK: scf.while (%[[TILE:.*]] = %[[CI]], %{{.*}} = %{{.*}}, %[[DONE:.*]] = %{{.*}}) : (i32, i32, i32) -> (i32, i32, i32)
// CHECK: %[[VALID:.*]] = arith.cmpi ult, %[[TILE]], %c8_i32
// CHECK: scf.condition(%[[VALID]])
// CHECK: %[[TICKET:.*]] = llvm.inline_asm has_side_effects "atom.relaxed.gpu.global.add.u32 $0, [$1], 1;", "=r,l" %[[COUNTER:.*]] : (!llvm.ptr<1>) -> i32
// CHECK: %[[LAST:.*]] = arith.cmpi eq, %[[TICKET]], %c7_i32
// CHECK: scf.if %[[LAST]] {
// CHECK-NEXT: llvm.inline_asm has_side_effects "st.relaxed.gpu.global.u32 [$0], 0;", "l" %[[COUNTER]]
// Longest first within the group of heads (as the static grid).
// CHECK: arith.subi %c3_i32
// CHECK: nvvm.mbarrier.arrive.expect_tx %{{.*}}, %c32768_i32
// CHECK: scf.for
// CHECK: nvvm.cp.async.bulk.tensor.shared.cluster.global
// CHECK: %[[NEXT:.*]] = arith.addi %[[TICKET]], %[[GI]] : i32
// CHECK: nvvm.mbarrier.try_wait.parity
// CHECK: llvm.store %[[NEXT]], %{{.*}} {alignment = 4 : i64} : i32, !llvm.ptr<3>
// CHECK-NEXT: arith.constant 8
// CHECK: nvvm.mbarrier.arrive %{{.*}} : !llvm.ptr<3>
// CHECK: scf.yield %[[NEXT]], %{{.*}}, %{{.*}} : i32, i32, i32
// Consumers: the same loop; after a tile's epilogue the next tile comes
// from the slot (wait on its full barrier, load, arrive on its empty one).
// CHECK: nvvm.setmaxregister  increase 216
// CHECK: scf.while
// CHECK-NOT: atom.relaxed
// CHECK: nvvm.wgmma.fence.aligned
// CHECK: llvm.store %{{.*}} : i32, !llvm.ptr<1>
// CHECK: nvvm.mbarrier.try_wait.parity
// CHECK: %[[RECEIVED:.*]] = llvm.load %{{.*}} {alignment = 4 : i64} : !llvm.ptr<3> -> i32
// CHECK: nvvm.mbarrier.arrive %{{.*}} : !llvm.ptr<3>
// CHECK: scf.yield %[[RECEIVED]], %{{.*}}, %{{.*}} : i32, i32, i32
// CHECK: %[[WS:.*]] = memref.alloc() : memref<1xi32>
// CHECK: gpu.launch_func  @attn_kernels::@causal_kernel blocks in (%c3, %c1, %c1{{.*}}) {{.*}}%[[WS]] : memref<1xi32>)
// CHECK: memref.dealloc %[[WS]] : memref<1xi32>

// With hopper-persistent=-1 (auto) the dynamic scheduler's grid is num-sms
// CTAs: min(132, 8).
// SMS-LABEL: gpu.func @causal_kernel
// SMS-SAME: shared_memory_bytes = 164984
// SMS: atom.relaxed.gpu.global.add.u32
// SMS: gpu.launch_func  @attn_kernels::@causal_kernel blocks in (%c8, %c1, %c1{{.*}})

// hopper-scheduler=static: the round robin, no counter.
// STATIC-LABEL: gpu.func @causal_kernel
// STATIC-SAME: shared_memory_bytes = 164944
// STATIC-NOT: tile_counter
// STATIC: scf.for
// STATIC-NOT: atom.relaxed
// STATIC: gpu.launch_func  @attn_kernels::@causal_kernel blocks in (%c3, %c1, %c1{{.*}})
// hopper-group-bytes=1: one head per longest-first group (K and V of
// 512 KiB fit 24 MiB twice over by default), so group t / 4 (4 query
// blocks), not t / 8.
// GROUP-LABEL: gpu.func @causal_kernel
// GROUP: atom.relaxed.gpu.global.add.u32
// GROUP-NEXT: arith.constant 7
// GROUP: arith.divui %{{.*}}, %c4_i32
// GROUP: arith.minui %c1_i32
func.func @causal(%q: memref<1x2x512x128xbf16>, %o: memref<1x2x512x128xbf16>) {
  %0 = bufferization.to_tensor %q restrict : memref<1x2x512x128xbf16> to tensor<1x2x512x128xbf16>
  %1 = attn.attention ins(%0, %0, %0 : tensor<1x2x512x128xbf16>, tensor<1x2x512x128xbf16>, tensor<1x2x512x128xbf16>) {mask_kind = #attn.mask<causal_bottom_right>} -> tensor<1x2x512x128xbf16>
  bufferization.materialize_in_destination %1 in restrict writable %o : (tensor<1x2x512x128xbf16>, memref<1x2x512x128xbf16>) -> ()
  return
}

// -----

// D = 64 without a mask (Q in registers: no Q barriers, 66560 B of ring;
// the slots still go after the two barriers Q would have): 2 tiles, so the
// grid is min(3, 2) = 2 CTAs whose first tiles are all there is; the
// ping-pong turns (auto at D = 64) open and close once around the loop.
// CHECK-LABEL: gpu.func @plain_kernel
// CHECK-SAME: shared_memory_bytes = 66680
// CHECK: nvvm.setmaxregister  increase 232
// CHECK: nvvm.barrier.arrive id = %{{.*}} number_of_threads = %c256_i32
// CHECK: scf.while
// CHECK: arith.cmpi ult, %{{.*}}, %c2_i32
// CHECK: llvm.load %{{.*}} {alignment = 4 : i64} : !llvm.ptr<1> -> i32
// CHECK: llvm.load %{{.*}} {alignment = 4 : i64} : !llvm.ptr<3> -> i32
// CHECK: nvvm.barrier id = %{{.*}} number_of_threads = %c256_i32
// CHECK: gpu.launch_func  @attn_kernels::@plain_kernel blocks in (%c2, %c1, %c1{{.*}})
// SMS-LABEL: gpu.func @plain_kernel
// SMS: gpu.launch_func  @attn_kernels::@plain_kernel blocks in (%c2, %c1, %c1{{.*}})
// STATIC-LABEL: gpu.func @plain_kernel
// STATIC-SAME: shared_memory_bytes = 66632
// hopper-q-shared=true at D = 64: Q a shared tile (128 x 64 x 2 = 16384
// bytes more) the producer loads by TMA (its map, 72 producer registers),
// read by wgmma from shared memory.
// QSHARED-LABEL: gpu.func @plain_kernel
// QSHARED-SAME: shared_memory_bytes = 83064
// QSHARED-SAME: #attn.kernel_arg<"q_tensor_map", tensor_map, <"q", box = [1, 1, 128, 64], swizzle = 128>>
// QSHARED: nvvm.setmaxregister  decrease 72
// QSHARED: nvvm.setmaxregister  increase 216
// QSHARED-NOT: llvm.load %{{.*}} : !llvm.ptr<1> -> i32
// QSHARED: wgmma.mma_async.sync.aligned.m64n128k16.f32.bf16.bf16 {{.*}}, $64, $65, p, 1, 1, 0, 0;
// QSHARED: gpu.return
func.func @plain(%q: memref<1x1x256x64xbf16>, %o: memref<1x1x256x64xbf16>) {
  %0 = bufferization.to_tensor %q restrict : memref<1x1x256x64xbf16> to tensor<1x1x256x64xbf16>
  %1 = attn.attention ins(%0, %0, %0 : tensor<1x1x256x64xbf16>, tensor<1x1x256x64xbf16>, tensor<1x1x256x64xbf16>) -> tensor<1x1x256x64xbf16>
  bufferization.materialize_in_destination %1 in restrict writable %o : (tensor<1x1x256x64xbf16>, memref<1x1x256x64xbf16>) -> ()
  return
}
