// RUN: attn-opt %s --split-input-file --attn-plan-gpu-kernels="tile-model=h200" 2>&1 | FileCheck %s
// RUN: attn-opt %s --split-input-file --attn-gpu-kernels="tile-model=h200" -o /dev/null 2>&1 | FileCheck %s --check-prefix=LOWERED
// RUN: not attn-opt %s --split-input-file --attn-plan-gpu-kernels="tile-model=v100" 2>&1 | FileCheck %s --check-prefix=UNKNOWN

// tile-model: the tiles come from the cost model (chooseTileConfig) for
// the named GPU instead of the options' fixed defaults; a remark says what
// was chosen and why, and the kernel is planned and lowered with them.
// A short prefill (L = 128, 64 CTAs of 128 rows would leave most SMs idle):
// the model picks 64 x 64 tiles on 4 warps (the default would be 128 x 64).
// CHECK: remark: attn-plan-gpu-kernels: prefill 64x64 tiles, 4 warps from the cost model (tile-model=h200: h200): prefill on h200: 64x64 tiles, 4 warps
// CHECK-LABEL: func.func @short_prefill
// CHECK: block_m = 64, block_n = 64, num_warps = 4
// CHECK-SAME: attn.tile_sizes = #attn.tile_sizes<block_m = 64, block_n = 64, pack_gqa = false, num_splits = 1>
// LOWERED: remark: attn-plan-gpu-kernels: prefill 64x64 tiles, 4 warps from the cost model (tile-model=h200: h200)
// LOWERED-NOT: error
// UNKNOWN: error: 'attn.attention' op expected tile-model to name a known GPU ({{.+}}), got 'v100'
func.func @short_prefill(%q: memref<1x32x128x128xbf16>, %k: memref<1x8x128x128xbf16>, %v: memref<1x8x128x128xbf16>, %o: memref<1x32x128x128xbf16>) {
  %0 = bufferization.to_tensor %q restrict : memref<1x32x128x128xbf16> to tensor<1x32x128x128xbf16>
  %1 = bufferization.to_tensor %k restrict : memref<1x8x128x128xbf16> to tensor<1x8x128x128xbf16>
  %2 = bufferization.to_tensor %v restrict : memref<1x8x128x128xbf16> to tensor<1x8x128x128xbf16>
  %out = attn.attention ins(%0, %1, %2 : tensor<1x32x128x128xbf16>, tensor<1x8x128x128xbf16>, tensor<1x8x128x128xbf16>) {mask_kind = #attn.mask<causal_bottom_right>} -> tensor<1x32x128x128xbf16>
  bufferization.materialize_in_destination %out in restrict writable %o : (tensor<1x32x128x128xbf16>, memref<1x32x128x128xbf16>) -> ()
  return
}
