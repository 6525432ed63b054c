// RUN: attn-opt %s --attn-gpu-kernels="chip=sm_90a" | FileCheck %s
// RUN: attn-opt %s --attn-gpu-kernels="chip=sm_90a kernel=hopper hopper-stages=3" | FileCheck %s --check-prefix=STAGES
// RUN: attn-opt %s --attn-gpu-kernels="chip=sm_90a hopper-ping-pong=true" | FileCheck %s --check-prefix=PINGPONG
// RUN: attn-opt %s --attn-gpu-kernels | FileCheck %s --check-prefix=SM80

// GQA 4/2, causal (bottom-right), Lq = 200 and Lk = 300 (tails in both), LSE.
// On sm_90a kernel=auto picks the hopper family: 384 threads (a producer
// and two consumer warpgroups), grid (ceil(200 / 128), B * Hq) = (2, 4),
// shared memory 1024 (alignment) + 2 stages * (K + V) * 128 keys * 128
// bytes + 4 mbarrier slots per stage * 8 = 66624 bytes (at D = 64 Q stays in
// registers).

// CHECK-LABEL: gpu.module @attn_kernels
// CHECK: gpu.func @attention_kernel(%{{.*}}: memref<1x4x200x64xbf16>, %{{.*}}: memref<1x2x300x64xbf16>, %{{.*}}: memref<1x2x300x64xbf16>, %{{.*}}: memref<1x4x200x64xbf16>, %{{.*}}: memref<1x4x200xf32>) kernel
// CHECK-SAME: attn.kernel_info = #attn.kernel_info<family = "hopper", grid_formula = "[ceil(Lq / block_m), B * Hq, 1]", shared_memory_bytes = 66624, block_m = 128, block_n = 128, num_warps = 12, stages = 2,
// CHECK-SAME: known_block_size = array<i32: 384, 1, 1>
// CHECK-SAME: nvvm.maxntid = array<i32: 384, 1, 1>, nvvm.minctasm = 1 : i32
// Thread 0 initialises the full-K, full-V (128 producer arrivals) and empty
// (256 consumer arrivals) mbarriers of each stage.
// CHECK: nvvm.mbarrier.init
// CHECK: gpu.barrier
// Producer: gives registers back, waits for a free stage, streams K and V
// with zero-filling cp.async, each tile completing on its full barrier.
// CHECK: nvvm.setmaxregister  decrease 40
// CHECK: scf.for
// CHECK: nvvm.mbarrier.try_wait.parity
// CHECK: nvvm.cp.async.shared.global %{{.*}}, %{{.*}}, 16, cache = cg, %{{.*}} : !llvm.ptr<3>, !llvm.ptr<1>, i32
// CHECK: nvvm.cp.async.mbarrier.arrive %{{.*}} {noinc = true}
// CHECK: nvvm.cp.async.mbarrier.arrive %{{.*}} {noinc = true}
// CHECK: nvvm.cp.async.wait.group 0
// Consumers: more registers, Q fragments from global memory once.
// CHECK: nvvm.setmaxregister  increase 232
// CHECK: llvm.load %{{.*}} {alignment = 4 : i64} : !llvm.ptr<1> -> i32
// The KV loop carries O (8 n8 tiles x 4 f32), m (2 rows) and l (2 rows).
// CHECK: scf.for {{.*}} -> (f32,
// CHECK: nvvm.mbarrier.try_wait.parity
// CHECK: nvvm.fence.proxy {kind = #nvvm.proxy_kind<async.shared>, space = #nvvm.shared_space<cta>}
// S = Q K^T: four k16 steps of m64n128k16, A from registers, B through a
// 128B-swizzle descriptor (K-major: transpose-b 0).
// CHECK: nvvm.wgmma.fence.aligned
// CHECK-COUNT-4: wgmma.mma_async.sync.aligned.m64n128k16.f32.bf16.bf16 {{.*}}, p, 1, 1, 0;
// CHECK: nvvm.wgmma.commit.group.sync.aligned
// CHECK: nvvm.wgmma.wait.group.sync.aligned 0
// Only boundary blocks evaluate the mask; quad shuffles for the row max.
// CHECK: scf.if %{{.*}} -> (f32,
// CHECK: nvvm.shfl.sync bfly
// CHECK: llvm.inline_asm "ex2.approx.ftz.f32 $0, $1;"
// O += P V: P packed to bf16 pairs, eight k16 steps of m64n64k16 with V
// MN-major (transpose-b 1).
// CHECK: nvvm.mbarrier.try_wait.parity
// CHECK: llvm.fptrunc %{{.*}} : vector<2xf32> to vector<2xbf16>
// CHECK: nvvm.wgmma.fence.aligned
// CHECK-COUNT-8: wgmma.mma_async.sync.aligned.m64n64k16.f32.bf16.bf16 {{.*}}, p, 1, 1, 1;
// CHECK: nvvm.wgmma.wait.group.sync.aligned 0
// The stage goes back to the producer.
// CHECK: nvvm.mbarrier.arrive
// CHECK: scf.yield
// Epilogue: LSE and O / l from the accumulators.
// CHECK: llvm.inline_asm "lg2.approx.ftz.f32 $0, $1;"
// CHECK: gpu.return

// CHECK-LABEL: func.func @attention
// CHECK: gpu.launch_func @attn_kernels::@attention_kernel blocks in (%{{.*}}, %{{.*}}, %{{.*}}) threads in (%{{.*}}, %{{.*}}, %{{.*}}) dynamic_shared_memory_size %{{.*}} args(
// CHECK-SAME: attn.kernel_info = #attn.kernel_info<family = "hopper", grid_formula = "[ceil(Lq / block_m), B * Hq, 1]", shared_memory_bytes = 66624, block_m = 128, block_n = 128, num_warps = 12, stages = 2, arguments = [#attn.kernel_arg<"q", input>, #attn.kernel_arg<"k", input>, #attn.kernel_arg<"v", input>, #attn.kernel_arg<"o", output>, #attn.kernel_arg<"lse", output>]

// STAGES: attn.kernel_info = #attn.kernel_info<family = "hopper", grid_formula = "[ceil(Lq / block_m), B * Hq, 1]", shared_memory_bytes = 99424, block_m = 128, block_n = 128, num_warps = 12, stages = 3,

// Ping-pong: consumer 1 opens consumer 0's first turn (named barrier 1);
// each turn is a bar.sync on the group's own barrier before S = Q K^T and a
// bar.arrive on the other's after issuing it; consumer 0 absorbs the last
// opening after the loop.
// PINGPONG: nvvm.barrier.arrive id = %{{.*}} number_of_threads = %{{.*}}
// PINGPONG: scf.for
// PINGPONG: nvvm.barrier id = %{{.*}} number_of_threads = %{{.*}}
// PINGPONG: nvvm.wgmma.commit.group.sync.aligned
// PINGPONG: nvvm.barrier.arrive id = %{{.*}} number_of_threads = %{{.*}}
// PINGPONG-NEXT: nvvm.wgmma.wait.group.sync.aligned 0
// PINGPONG: scf.yield
// PINGPONG: nvvm.barrier id = %{{.*}} number_of_threads = %{{.*}}

// The default chip (sm_80) keeps the mma.sync prefill kernel.
// SM80: family = "prefill"
// SM80-NOT: wgmma
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
