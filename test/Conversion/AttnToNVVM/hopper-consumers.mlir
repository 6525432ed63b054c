// RUN: attn-opt %s --attn-gpu-kernels="chip=sm_90a hopper-consumers=3" | FileCheck %s --check-prefix=THREE
// RUN: attn-opt %s --attn-gpu-kernels="chip=sm_90a" | FileCheck %s --check-prefix=TWO
// RUN: not attn-opt %s --attn-gpu-kernels="chip=sm_90a kernel=hopper hopper-consumers=4" 2>&1 | FileCheck %s --check-prefix=NAME
// RUN: not attn-opt %s --attn-gpu-kernels="chip=sm_90a kernel=hopper hopper-consumers=3 hopper-loads=cp-async" 2>&1 | FileCheck %s --check-prefix=LOADS

// hopper-consumers=3 at D = 64: 192-row tiles of three consumer warpgroups
// and a producer (512 threads), Q as a shared tile (one TMA box of 192
// rows), every K / V empty barrier counting the 384 consumer threads,
// setmaxnreg 32 / 160, and the last consumer (2) opening consumer 0's
// first ping-pong turn on named barrier 1.
// THREE-LABEL: gpu.func @plain_kernel
// THREE-SAME: block_m = 192
// THREE-SAME: num_warps = 16
// THREE-SAME: <"q", box = [1, 1, 192, 64], swizzle = 128>
// THREE-SAME: nvvm.maxntid = array<i32: 512, 1, 1>
// THREE: nvvm.mbarrier.init %{{.*}}, %c384_i32
// THREE: nvvm.setmaxregister  decrease 32
// THREE: nvvm.setmaxregister  increase 160
// THREE: %[[C2:.*]] = arith.constant 2 : i32
// THREE-NEXT: %[[LAST:.*]] = arith.cmpi eq, %{{.*}}, %[[C2]]
// THREE-NEXT: scf.if %[[LAST]] {
// THREE-NEXT: %[[ONE:.*]] = arith.constant 1 : i32
// THREE-NEXT: %[[N:.*]] = arith.constant 256 : i32
// THREE-NEXT: nvvm.barrier.arrive id = %[[ONE]] number_of_threads = %[[N]]
// auto keeps two on these short tiles (4 KV blocks): 128-row tiles, Q in
// registers, 256 arrivals, 40 / 232.
// TWO-LABEL: gpu.func @plain_kernel
// TWO-SAME: block_m = 128
// TWO-NOT: q_tensor_map
// TWO-SAME: nvvm.maxntid = array<i32: 384, 1, 1>
// TWO: nvvm.mbarrier.init %{{.*}}, %c256_i32
// TWO: nvvm.setmaxregister  decrease 40
// TWO: nvvm.setmaxregister  increase 232
// NAME: error: 'attn.attention' op expected hopper-consumers of 0 (auto), 2 or 3, got 4
// LOADS: error: 'attn.attention' op expected hopper-loads=tma with hopper-consumers=3 (the producer keeps 32 registers)
func.func @plain(%q: memref<1x2x512x64xbf16>, %o: memref<1x2x512x64xbf16>) {
  %0 = bufferization.to_tensor %q restrict : memref<1x2x512x64xbf16> to tensor<1x2x512x64xbf16>
  %1 = attn.attention ins(%0, %0, %0 : tensor<1x2x512x64xbf16>, tensor<1x2x512x64xbf16>, tensor<1x2x512x64xbf16>) -> tensor<1x2x512x64xbf16>
  bufferization.materialize_in_destination %1 in restrict writable %o : (tensor<1x2x512x64xbf16>, memref<1x2x512x64xbf16>) -> ()
  return
}
