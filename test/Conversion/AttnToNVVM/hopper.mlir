// RUN: attn-opt %s --attn-gpu-kernels="chip=sm_90a hopper-loads=cp-async" | FileCheck %s
// RUN: attn-opt %s --attn-gpu-kernels="chip=sm_90a kernel=hopper hopper-stages=3" | FileCheck %s --check-prefix=STAGES
// RUN: attn-opt %s --attn-gpu-kernels="chip=sm_90a hopper-overlap=false hopper-ping-pong=false" | FileCheck %s --check-prefix=SERIAL
// RUN: attn-opt %s --attn-gpu-kernels="chip=sm_90a hopper-ping-pong=false" | FileCheck %s --check-prefix=NOPP
// RUN: attn-opt %s --attn-gpu-kernels | FileCheck %s --check-prefix=SM80

// GQA 4/2, causal (bottom-right), Lq = 200 and Lk = 300 (tails in both), LSE.
// On sm_90a kernel=auto picks the hopper family: 384 threads (a producer
// and two consumer warpgroups), grid (ceil(200 / 128), B * Hq) = (2, 4),
// shared memory 1024 (alignment) + 2 stages * (K + V) * 128 keys * 128
// bytes + (4 mbarriers per stage + Q's) * 8 = 66632 bytes (at D = 64 Q
// stays in registers).

// CHECK-LABEL: gpu.module @attn_kernels
// CHECK: gpu.func @attention_kernel(%{{.*}}: memref<1x4x200x64xbf16>, %{{.*}}: memref<1x2x300x64xbf16>, %{{.*}}: memref<1x2x300x64xbf16>, %{{.*}}: memref<1x4x200x64xbf16>, %{{.*}}: memref<1x4x200xf32>) kernel
// CHECK-SAME: attn.kernel_info = #attn.kernel_info<family = "hopper", grid_formula = "[ceil(Lq / block_m), B * Hq, 1]", shared_memory_bytes = 66632, block_m = 128, block_n = 128, num_warps = 12, stages = 2,
// CHECK-SAME: known_block_size = array<i32: 384, 1, 1>
// CHECK-SAME: nvvm.maxntid = array<i32: 384, 1, 1>, nvvm.minctasm = 1 : i32
// Thread 0 initialises, per stage, the full-K and full-V (128 producer
// arrivals) and empty-K and empty-V (256 consumer arrivals) mbarriers.
// CHECK-COUNT-2: nvvm.mbarrier.init %{{.*}}, %c128_i32
// CHECK-COUNT-2: nvvm.mbarrier.init %{{.*}}, %c256_i32
// CHECK: gpu.barrier
// Producer: gives registers back; per block waits for K's slot, streams K
// with zero-filling cp.async completing on its full barrier, then V's.
// CHECK: nvvm.setmaxregister  decrease 40
// CHECK: scf.for
// CHECK: nvvm.mbarrier.try_wait.parity
// CHECK: nvvm.cp.async.shared.global %{{.*}}, %{{.*}}, 16, cache = cg, %{{.*}} : !llvm.ptr<3>, !llvm.ptr<1>, i32
// CHECK: nvvm.cp.async.mbarrier.arrive %{{.*}} {noinc = true}
// CHECK: nvvm.mbarrier.try_wait.parity
// CHECK: nvvm.cp.async.mbarrier.arrive %{{.*}} {noinc = true}
// CHECK: nvvm.cp.async.wait.group 0
// Consumers: more registers, Q fragments from global memory once; at D = 64
// ping-pong is on (auto): consumer 1 opens consumer 0's first turn.
// CHECK: nvvm.setmaxregister  increase 232
// CHECK: llvm.load %{{.*}} {alignment = 4 : i64} : !llvm.ptr<1> -> i32
// CHECK: nvvm.barrier.arrive id = %{{.*}} number_of_threads = %c256_i32
// Overlapped schedule: the range is not empty, then block nBegin alone: its
// K tile, a turn, S = Q K^T (four k16 steps of m64n128k16, A from
// registers, B K-major through a 128B-swizzle descriptor), the turn
// passed, S waited for, K released, mask and softmax.
// CHECK: scf.if %{{.*}} -> (f32,
// CHECK: nvvm.mbarrier.try_wait.parity
// CHECK: nvvm.fence.proxy {kind = #nvvm.proxy_kind<async.shared>, space = #nvvm.shared_space<cta>}
// CHECK: nvvm.barrier id = %{{.*}} number_of_threads = %{{.*}}
// CHECK: nvvm.wgmma.fence.aligned
// CHECK-COUNT-4: wgmma.mma_async.sync.aligned.m64n128k16.f32.bf16.bf16 {{.*}}, p, 1, 1, 0;
// CHECK: nvvm.wgmma.commit.group.sync.aligned
// CHECK: nvvm.barrier.arrive
// CHECK-NEXT: nvvm.wgmma.wait.group.sync.aligned 0
// CHECK: nvvm.mbarrier.arrive
// CHECK: nvvm.shfl.sync bfly
// CHECK: llvm.inline_asm "ex2.approx.ftz.f32 $0, $1;"
// The loop over blocks nBegin + 1 .. nEnd carries O (8 n8 tiles x 4 f32),
// m, l and the packed P of the previous block: S of block j is issued,
// then O += P V of block j - 1 (eight k16 steps of m64n64k16, V MN-major:
// transpose-b 1); wait_group 1 retires S only, so the softmax of block j
// runs while P V is in flight; wait_group 0, V released, O rescaled.
// CHECK: scf.for {{.*}} -> (f32,
// CHECK: nvvm.mbarrier.try_wait.parity
// CHECK: nvvm.barrier id =
// CHECK-COUNT-4: wgmma.mma_async.sync.aligned.m64n128k16.f32.bf16.bf16 {{.*}}, p, 1, 1, 0;
// CHECK: nvvm.wgmma.commit.group.sync.aligned
// CHECK: nvvm.mbarrier.try_wait.parity
// CHECK: nvvm.wgmma.fence.aligned
// CHECK-COUNT-8: wgmma.mma_async.sync.aligned.m64n64k16.f32.bf16.bf16 {{.*}}, p, 1, 1, 1;
// CHECK: nvvm.wgmma.commit.group.sync.aligned
// CHECK: nvvm.barrier.arrive
// CHECK-NEXT: nvvm.wgmma.wait.group.sync.aligned 1
// CHECK: nvvm.mbarrier.arrive
// CHECK: llvm.inline_asm "ex2.approx.ftz.f32 $0, $1;"
// CHECK: nvvm.wgmma.wait.group.sync.aligned 0
// CHECK: nvvm.mbarrier.arrive
// CHECK: arith.mulf
// CHECK: scf.yield
// The last block's P V, peeled.
// CHECK: nvvm.mbarrier.try_wait.parity
// CHECK: nvvm.barrier id =
// CHECK-COUNT-8: wgmma.mma_async.sync.aligned.m64n64k16.f32.bf16.bf16 {{.*}}, p, 1, 1, 1;
// CHECK: nvvm.barrier.arrive
// CHECK-NEXT: nvvm.wgmma.wait.group.sync.aligned 0
// CHECK: nvvm.mbarrier.arrive
// CHECK: scf.yield
// An empty range keeps O = 0, m = -inf, l = 0; consumer 0 absorbs
// consumer 1's last opening.
// CHECK: scf.yield
// CHECK: nvvm.barrier id = %{{.*}} number_of_threads = %c256_i32
// Epilogue: LSE and O / l from the accumulators.
// CHECK: llvm.inline_asm "lg2.approx.ftz.f32 $0, $1;"
// CHECK: gpu.return

// CHECK-LABEL: func.func @attention
// CHECK: gpu.launch_func @attn_kernels::@attention_kernel blocks in (%{{.*}}, %{{.*}}, %{{.*}}) threads in (%{{.*}}, %{{.*}}, %{{.*}}) dynamic_shared_memory_size %{{.*}} args(
// CHECK-SAME: attn.kernel_info = #attn.kernel_info<family = "hopper", grid_formula = "[ceil(Lq / block_m), B * Hq, 1]", shared_memory_bytes = 66632, block_m = 128, block_n = 128, num_warps = 12, stages = 2, arguments = [#attn.kernel_arg<"q", input>, #attn.kernel_arg<"k", input>, #attn.kernel_arg<"v", input>, #attn.kernel_arg<"o", output>, #attn.kernel_arg<"lse", output>]

// STAGES: attn.kernel_info = #attn.kernel_info<family = "hopper", grid_formula = "[min(hopper_persistent, ceil(Lq / block_m) * B * Hq), 1, 1]", shared_memory_bytes = 99480, block_m = 128, block_n = 128, num_warps = 12, stages = 3,

// The serial schedule (hopper-overlap=false): one loop, each block's S
// waited for (K released at once), softmax, O += P V waited for, V
// released; no named barriers without ping-pong.
// SERIAL-NOT: nvvm.barrier id
// SERIAL: scf.for {{.*}} -> (f32,
// SERIAL: nvvm.mbarrier.try_wait.parity
// SERIAL: nvvm.wgmma.commit.group.sync.aligned
// SERIAL-NEXT: nvvm.wgmma.wait.group.sync.aligned 0
// SERIAL: nvvm.mbarrier.arrive
// SERIAL: llvm.inline_asm "ex2.approx.ftz.f32 $0, $1;"
// SERIAL: nvvm.mbarrier.try_wait.parity
// SERIAL-COUNT-8: wgmma.mma_async.sync.aligned.m64n64k16.f32.bf16.bf16 {{.*}}, p, 1, 1, 1;
// SERIAL: nvvm.wgmma.commit.group.sync.aligned
// SERIAL-NEXT: nvvm.wgmma.wait.group.sync.aligned 0
// SERIAL: nvvm.mbarrier.arrive
// SERIAL: scf.yield
// SERIAL-NOT: wait.group.sync.aligned 1
// SERIAL: gpu.return

// hopper-ping-pong=false: the overlapped schedule without turns.
// NOPP-NOT: nvvm.barrier id
// NOPP-NOT: nvvm.barrier.arrive
// NOPP: nvvm.wgmma.wait.group.sync.aligned 1
// NOPP-NOT: nvvm.barrier id
// NOPP-NOT: nvvm.barrier.arrive
// NOPP: gpu.return

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
