// RUN: attn-opt %s --split-input-file --verify-diagnostics --attn-plan-gpu-kernels="chip=sm_90a" -o /dev/null

// tile-model=auto (the default) prints what it chose and why: one remark per
// attention from attn-plan-gpu-kernels naming the family's tiles (or splits,
// or stages), the GPU modelled (sm_90a: the H100 SXM) and the model's
// figures (shared memory, registers, CTAs per SM, waves, the modelled time
// and the runner-up). attn-compile's tiles: line and --report=json print
// the same (test/Analysis/attn-compile-cost.mlir).

// The hopper kernel (D = 128, contiguous K and V on sm_90a): block-n 128,
// 2 stages: 1024 + 2 x 2 x 128 x 128 x 2 + 128 x 128 x 2 (Q in shared memory
// at D = 128, block-n 128) + 8 x (4 x 2 + 1) + 128 x 128 x 2 (the O tile of
// hopper-epilogue=auto) = 197704 B; consumer registers
// S 64 + O 64 + P 32 + 32 = 192; (4096 / 128) x 16 = 512 CTAs on 132 SMs:
// 4 waves. Block-n 64 pays the per-tile synchronisation twice as often.
func.func @hopper_prefill(%q: memref<1x16x4096x128xbf16>, %k: memref<1x16x4096x128xbf16>, %v: memref<1x16x4096x128xbf16>, %o: memref<1x16x4096x128xbf16>) {
  %0 = bufferization.to_tensor %q restrict : memref<1x16x4096x128xbf16> to tensor<1x16x4096x128xbf16>
  %1 = bufferization.to_tensor %k restrict : memref<1x16x4096x128xbf16> to tensor<1x16x4096x128xbf16>
  %2 = bufferization.to_tensor %v restrict : memref<1x16x4096x128xbf16> to tensor<1x16x4096x128xbf16>
  // expected-remark @+1 {{attn-plan-gpu-kernels: hopper block-n 128, 2 stages from the cost model (tile-model=auto: h100-sxm): hopper on h100-sxm: block-n 128, 2 stages: 197704 B shared memory and ~192 registers/consumer thread, 1 CTA/SM for 512 CTAs (4 wave(s)); modelled 161.2 us (block-n 64: 179.1 us)}}
  %out = attn.attention ins(%0, %1, %2 : tensor<1x16x4096x128xbf16>, tensor<1x16x4096x128xbf16>, tensor<1x16x4096x128xbf16>) -> tensor<1x16x4096x128xbf16>
  bufferization.materialize_in_destination %out in restrict writable %o : (tensor<1x16x4096x128xbf16>, memref<1x16x4096x128xbf16>) -> ()
  return
}

// -----

// Decode GQA 32/8, B = 1, Lk = 8192 (8 groups) on the H100's 3.35 TB/s: one
// CTA has 8 warps x 2 stages x 16 keys x 512 B = 131072 B in flight per
// 1.5 us, 87.4 GB/s. 8 splits: 64 CTAs of 1024 keys (524288 B): the wave
// takes max(64 x 524288 / 3.35e12 = 10.02 us, 524288 / 87.4e9 = 6.00 us)
// + 1 us, the merge 1 us + 2 x 64 x 4 rows x 129 x 4 B / 3.35e12 = 0.08 us:
// 12.10 us. 16 splits: the same 10.02 + 1 us wave (each CTA 3.00 us alone),
// a merge of 0.16 + 1 us: 12.17 us, no 2% better, so 8 stay. 4 splits:
// 1 MiB per CTA takes 12.00 us alone: 14.04 us.
func.func @decode(%q: memref<1x32x1x128xbf16>, %k: memref<1x8x8192x128xbf16>, %v: memref<1x8x8192x128xbf16>, %o: memref<1x32x1x128xbf16>) {
  %0 = bufferization.to_tensor %q restrict : memref<1x32x1x128xbf16> to tensor<1x32x1x128xbf16>
  %1 = bufferization.to_tensor %k restrict : memref<1x8x8192x128xbf16> to tensor<1x8x8192x128xbf16>
  %2 = bufferization.to_tensor %v restrict : memref<1x8x8192x128xbf16> to tensor<1x8x8192x128xbf16>
  // expected-remark @+1 {{decode 8 split(s), 8 warps from the cost model (tile-model=auto: h100-sxm): decode on h100-sxm: 8 group(s) (B x Hkv) of 8192 visible keys; 1 CTA(s)/SM (135168 B shared memory) give 132 slots; 8 split(s) -> 64 CTAs (1 wave(s)), modelled 12.10 us; one CTA streams 87 GB/s (next: 16 split(s), 12.17 us)}}
  %out = attn.attention ins(%0, %1, %2 : tensor<1x32x1x128xbf16>, tensor<1x8x8192x128xbf16>, tensor<1x8x8192x128xbf16>) -> tensor<1x32x1x128xbf16>
  bufferization.materialize_in_destination %out in restrict writable %o : (tensor<1x32x1x128xbf16>, memref<1x32x1x128xbf16>) -> ()
  return
}

// -----

// D = 96 has no hopper kernel: the mma.sync prefill kernel, 64 x 64 tiles on
// 4 warps: rows padded to 256 B, 64 x 256 + 2 x 2 x 64 x 256 = 81920 B;
// registers O 16 x 96 / 32 = 48 + S 16 x 64 / 32 = 32 + Q 1 x 6 x 4 = 24
// + 4 + 32 = 140 (144 allocated): shared memory holds 2 CTAs per SM
// (233472 / 82944), registers 3: 264 slots for 16 blocks x 16 heads = 256
// CTAs, one wave.
func.func @prefill_d96(%q: memref<2x8x1024x96xbf16>, %k: memref<2x8x1024x96xbf16>, %v: memref<2x8x1024x96xbf16>, %o: memref<2x8x1024x96xbf16>) {
  %0 = bufferization.to_tensor %q restrict : memref<2x8x1024x96xbf16> to tensor<2x8x1024x96xbf16>
  %1 = bufferization.to_tensor %k restrict : memref<2x8x1024x96xbf16> to tensor<2x8x1024x96xbf16>
  %2 = bufferization.to_tensor %v restrict : memref<2x8x1024x96xbf16> to tensor<2x8x1024x96xbf16>
  // expected-remark @+1 {{prefill 64x64 tiles, 4 warps from the cost model (tile-model=auto: h100-sxm): prefill on h100-sxm: 64x64 tiles, 4 warps: 81920 B shared memory and ~140 registers/thread give 2 CTA(s)/SM (264 slots) for 256 CTAs (1 wave(s))}}
  %out = attn.attention ins(%0, %1, %2 : tensor<2x8x1024x96xbf16>, tensor<2x8x1024x96xbf16>, tensor<2x8x1024x96xbf16>) {mask_kind = #attn.mask<causal_bottom_right>} -> tensor<2x8x1024x96xbf16>
  bufferization.materialize_in_destination %out in restrict writable %o : (tensor<2x8x1024x96xbf16>, memref<2x8x1024x96xbf16>) -> ()
  return
}
