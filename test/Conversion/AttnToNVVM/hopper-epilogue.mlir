// RUN: attn-opt %s --split-input-file --attn-gpu-kernels="chip=sm_90a" | FileCheck %s
// RUN: attn-opt %s --split-input-file --attn-gpu-kernels="chip=sm_90a hopper-persistent=0" | FileCheck %s --check-prefix=ONE
// RUN: attn-opt %s --split-input-file --attn-gpu-kernels="chip=sm_90a hopper-epilogue=registers" | FileCheck %s --check-prefix=REGS

// hopper-epilogue=auto at D = 128 is the TMA store epilogue: BSHD
// [1, 200, 2, 128] (a tail: 200 rows in two query blocks), on the dynamic
// scheduler's persistent grid. O gets a tensor map whose box is one
// consumer warpgroup's 64 rows (dim 1 in BSHD) by one 64-column panel, and
// the shared memory an O tile of 128 x 128 x 2 bytes: 164984 + 32768.
// CHECK-LABEL: gpu.func @bshd_kernel
// CHECK-SAME: shared_memory_bytes = 197752
// CHECK-SAME: #attn.kernel_arg<"q_tensor_map", tensor_map, <"q", box = [1, 128, 1, 64], swizzle = 128>>, #attn.kernel_arg<"o_tensor_map", tensor_map, <"o", box = [1, 64, 1, 64], swizzle = 128>>, #attn.kernel_arg<"tile_counter", workspace>]
// CHECK-COUNT-4: nvvm.prefetch tensormap
// CHECK: nvvm.setmaxregister  increase 216
// A persistent consumer's epilogue: its thread 0 waits until the last
// tile's stores have read the O tile, then named barrier 3 + consumer (128
// threads) before anyone rewrites it.
// CHECK: %[[LEAD:.*]] = arith.cmpi eq, %{{.*}}, %c0_i32{{.*}} : i32
// CHECK-NEXT: scf.if %[[LEAD]] {
// CHECK-NEXT: nvvm.cp.async.bulk.wait_group 0 {read}
// CHECK: %[[ID:.*]] = arith.addi %[[CONSUMER:.*]], %c3_i32{{.*}} : i32
// CHECK: nvvm.barrier id = %[[ID]] number_of_threads = %c128_i32
// O / l into the swizzled tile (32 4-byte shared stores: D / 8 per row
// half), fenced to the async
// proxy, the barrier again, and thread 0 stores both panels at (column,
// head, row, batch), the row the consumer's first (m0 + 64 * consumer; the
// map clips rows past Lq = 200), as one bulk group.
// CHECK-COUNT-32: llvm.store %{{.*}}, %{{.*}} {alignment = 4 : i64} : i32, !llvm.ptr<3>
// CHECK: nvvm.fence.proxy {kind = #nvvm.proxy_kind<async.shared>, space = #nvvm.shared_space<cta>}
// CHECK: nvvm.barrier id = %{{.*}} number_of_threads = %c128_i32
// CHECK: scf.if %[[LEAD]] {
// CHECK: %[[ROWS:.*]] = arith.muli %[[CONSUMER]], %c64_i32 : i32
// CHECK: %[[ROW:.*]] = arith.addi %{{.*}}, %[[ROWS]] : i32
// CHECK: nvvm.cp.async.bulk.tensor.global.shared.cta %{{.*}}, %{{.*}}, box[%c0_i32{{.*}}, %[[HEAD:.*]], %[[ROW]], %[[B:.*]]] : !llvm.ptr, <3>
// CHECK: nvvm.cp.async.bulk.tensor.global.shared.cta %{{.*}}, %{{.*}}, box[%c64_i32{{.*}}, %[[HEAD]], %[[ROW]], %[[B]]] : !llvm.ptr, <3>
// CHECK-NEXT: nvvm.cp.async.bulk.commit.group
// No global O store from registers.
// CHECK-NOT: llvm.store %{{.*}}, %{{.*}} {alignment = 4 : i64} : i32, !llvm.ptr<1>
// After its last tile (and the ping-pong turns' close: auto takes
// ping-pong where no tile has more than 8 KV blocks) the consumer waits
// for its stores to complete.
// CHECK: nvvm.barrier id = %c1_i32{{.*}} number_of_threads = %c256_i32
// CHECK: scf.if
// CHECK-NEXT: nvvm.cp.async.bulk.wait_group 0{{$}}
// One CTA per tile (hopper-persistent=0): the tile is written once, so no
// wait before the first barrier; 164936 + 32768 bytes.
// ONE-LABEL: gpu.func @bshd_kernel
// ONE-SAME: shared_memory_bytes = 197704
// ONE-NOT: wait_group 0 {read}
// ONE: nvvm.fence.proxy {kind = #nvvm.proxy_kind<async.shared>
// ONE: nvvm.cp.async.bulk.commit.group
// ONE: nvvm.cp.async.bulk.wait_group 0{{$}}
// hopper-epilogue=registers: no O map, global stores.
// REGS-LABEL: gpu.func @bshd_kernel
// REGS-SAME: shared_memory_bytes = 164984
// REGS-NOT: o_tensor_map
// REGS-NOT: nvvm.cp.async.bulk.tensor.global.shared.cta
// REGS: llvm.store %{{.*}}, %{{.*}} {alignment = 4 : i64} : i32, !llvm.ptr<1>
func.func @bshd(%q: memref<1x200x2x128xbf16>, %k: memref<1x200x2x128xbf16>,
                %v: memref<1x200x2x128xbf16>, %o: memref<1x200x2x128xbf16>) {
  %0 = bufferization.to_tensor %q restrict : memref<1x200x2x128xbf16> to tensor<1x200x2x128xbf16>
  %1 = bufferization.to_tensor %k restrict : memref<1x200x2x128xbf16> to tensor<1x200x2x128xbf16>
  %2 = bufferization.to_tensor %v restrict : memref<1x200x2x128xbf16> to tensor<1x200x2x128xbf16>
  %out = attn.attention ins(%0, %1, %2 : tensor<1x200x2x128xbf16>,
      tensor<1x200x2x128xbf16>, tensor<1x200x2x128xbf16>)
      {layout = #attn.layout<bshd>}
      -> tensor<1x200x2x128xbf16>
  bufferization.materialize_in_destination %out in restrict writable %o
      : (tensor<1x200x2x128xbf16>, memref<1x200x2x128xbf16>) -> ()
  return
}

// -----

// D = 64: auto keeps the register epilogue (measured slower by TMA there).
// CHECK-LABEL: gpu.func @d64_kernel
// CHECK-SAME: shared_memory_bytes = 66680
// CHECK-NOT: o_tensor_map
// CHECK-NOT: nvvm.cp.async.bulk.tensor.global.shared.cta
func.func @d64(%q: memref<1x1x256x64xbf16>, %o: memref<1x1x256x64xbf16>) {
  %0 = bufferization.to_tensor %q restrict : memref<1x1x256x64xbf16> to tensor<1x1x256x64xbf16>
  %1 = attn.attention ins(%0, %0, %0 : tensor<1x1x256x64xbf16>, tensor<1x1x256x64xbf16>, tensor<1x1x256x64xbf16>) -> tensor<1x1x256x64xbf16>
  bufferization.materialize_in_destination %1 in restrict writable %o : (tensor<1x1x256x64xbf16>, memref<1x1x256x64xbf16>) -> ()
  return
}
