// RUN: attn-opt %s --split-input-file --attn-plan-gpu-kernels="chip=sm_90a tile-model=auto" 2>&1 | FileCheck %s --check-prefix=HOPPER
// RUN: attn-opt %s --split-input-file --attn-plan-gpu-kernels="chip=sm_80 tile-model=auto" 2>&1 | FileCheck %s --check-prefix=AMPERE
// RUN: attn-opt %s --split-input-file --attn-gpu-kernels="chip=sm_90a tile-model=h100-sxm" -o /dev/null 2>&1 | FileCheck %s --check-prefix=LOWERED
// RUN: attn-opt %s --split-input-file --attn-plan-gpu-kernels="chip=sm_90a tile-model=auto hopper-block-n=64" 2>&1 | FileCheck %s --check-prefix=GIVEN
// RUN: not attn-opt %s --split-input-file --attn-plan-gpu-kernels="chip=sm_89 tile-model=auto" 2>&1 | FileCheck %s --check-prefix=NOGPU

// tile-model=auto: the GPU is the chip's (sm_90a: the H100 SXM, sm_80: the
// A100 SXM). On sm_90a this problem (D = 128, contiguous K and V) runs the
// hopper (wgmma) kernel, and the model chooses its block-n and stages:
// block-n 128 (Q in shared memory), 2 stages: 1024 + 2 x 2 x 128 x 128 x 2
// + 128 x 128 x 2 + 8 x (4 x 2 + 1) = 1024 + 131072 + 32768 + 72 = 164936
// bytes, + the O tile of the TMA epilogue (hopper-epilogue=auto at D =
// 128: 128 x 128 x 2 = 32768) = 197704 bytes of shared memory in the model
// (one CTA per SM of (4096 / 128) x 16 = 512 CTAs); the kernel, on the
// persistent grid of the dynamic tile scheduler (hopper-scheduler=auto),
// adds Q's empty barrier and the tile slots: 197704 + 8 + 40 = 197752.
// Consumer registers: S 64 + O 64 + P 32 + 32 = 192.
// auto (the default) remarks what it chose and why, as naming the GPU does
// (LOWERED, h100-sxm; every figure: attn-plan-gpu-kernels-remarks.mlir).
// HOPPER: remark: attn-plan-gpu-kernels: hopper block-n 128, 2 stages from the cost model (tile-model=auto: h100-sxm)
// HOPPER-LABEL: func.func @long_prefill
// HOPPER: family = "hopper"
// HOPPER-SAME: shared_memory_bytes = 197752, block_m = 128, block_n = 128, num_warps = 12, stages = 2
// On sm_80 the same problem runs the mma.sync prefill kernel, tiled by the
// model on the A100: its 164 KiB per SM hold two 64 x 64 CTAs (64 x 256 +
// 2 x 64 x (256 + 256) = 81920 B, + 1 KiB reserved each) but only one
// 128 x 64 CTA (98304 B), so 64-row blocks win.
// AMPERE: remark: attn-plan-gpu-kernels: prefill 64x64 tiles, 4 warps from the cost model (tile-model=auto: a100-sxm): prefill on a100-sxm: 64x64 tiles, 4 warps: 81920 B shared memory and ~164 registers/thread give 2 CTA(s)/SM (216 slots)
// AMPERE-LABEL: func.func @long_prefill
// AMPERE: family = "prefill"
// AMPERE-SAME: shared_memory_bytes = 81920, block_m = 64, block_n = 64, num_warps = 4
// LOWERED: remark: attn-plan-gpu-kernels: hopper block-n 128, 2 stages from the cost model (tile-model=h100-sxm: h100-sxm): hopper on h100-sxm: block-n 128, 2 stages: 197704 B shared memory and ~192 registers/consumer thread, 1 CTA/SM for 512 CTAs
// LOWERED-NOT: error
// A family's tile option given (off its default) wins; the remark names it
// and what the model would have chosen.
// GIVEN: remark: attn-plan-gpu-kernels: hopper block-n 64, 2 stages from options given (hopper-block-n); the model's choice: hopper on h100-sxm: block-n 128, 2 stages
// GIVEN: block_m = 128, block_n = 64, num_warps = 12, stages = 2
// A chip the model has no GPU for must be named.
// NOGPU: error: 'attn.attention' op expected tile-model=auto to know a GPU of chip 'sm_89' ({{.+}}); name one with tile-model=<gpu>
func.func @long_prefill(%q: memref<1x16x4096x128xbf16>, %k: memref<1x16x4096x128xbf16>, %v: memref<1x16x4096x128xbf16>, %o: memref<1x16x4096x128xbf16>) {
  %0 = bufferization.to_tensor %q restrict : memref<1x16x4096x128xbf16> to tensor<1x16x4096x128xbf16>
  %1 = bufferization.to_tensor %k restrict : memref<1x16x4096x128xbf16> to tensor<1x16x4096x128xbf16>
  %2 = bufferization.to_tensor %v restrict : memref<1x16x4096x128xbf16> to tensor<1x16x4096x128xbf16>
  %out = attn.attention ins(%0, %1, %2 : tensor<1x16x4096x128xbf16>, tensor<1x16x4096x128xbf16>, tensor<1x16x4096x128xbf16>) -> tensor<1x16x4096x128xbf16>
  bufferization.materialize_in_destination %out in restrict writable %o : (tensor<1x16x4096x128xbf16>, memref<1x16x4096x128xbf16>) -> ()
  return
}
