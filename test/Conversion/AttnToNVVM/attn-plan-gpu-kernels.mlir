// RUN: attn-opt %s --split-input-file --attn-plan-gpu-kernels="tile-model=" | FileCheck %s
// RUN: attn-opt %s --split-input-file --attn-plan-gpu-kernels="chip=sm_90a tile-model=" | FileCheck %s --check-prefix=HOPPER
// RUN: attn-opt %s --split-input-file --attn-plan-gpu-kernels="tile-model=" --attn-tile | FileCheck %s --check-prefix=TILED
// tile-model= (off): these checks are of the options' fixed default tiles.

// Prefill: the mma.sync family with its default tiles (128 x 64, 4 warps);
// attn-tile then cuts one program per CTA: (B, Hq, ceil(Lq / 128)), one
// query head each, and the plan travels on the program's forall.
// CHECK-LABEL: func.func @prefill
// CHECK: attn.attention
// CHECK-SAME: attn.kernel_info = #attn.kernel_info<family = "prefill", grid_formula = "[ceil(Lq / block_m), B * Hq, 1]", shared_memory_bytes = 49152, block_m = 128, block_n = 64, num_warps = 4, arguments = []
// CHECK-SAME: attn.tile_sizes = #attn.tile_sizes<block_m = 128, block_n = 64, pack_gqa = false, num_splits = 1>
// The sm_90a family: 128 x 128 tiles, 12 warps in three warpgroups.
// HOPPER-LABEL: func.func @prefill
// HOPPER: attn.kernel_info = #attn.kernel_info<family = "hopper"
// HOPPER-SAME: block_m = 128, block_n = 128, num_warps = 12
// HOPPER-SAME: attn.tile_sizes = #attn.tile_sizes<block_m = 128, block_n = 128, pack_gqa = false, num_splits = 1>
// TILED-LABEL: func.func @prefill
// TILED: scf.forall (%{{.+}}, %{{.+}}, %{{.+}}) in (2, 8, 8)
// TILED: attn.block_attention ins(%{{.+}}, %{{.+}}, %{{.+}} : tensor<1x128x64xbf16>, tensor<64x64xbf16>, tensor<64x64xbf16>)
// TILED: } {attn.kernel_info = #attn.kernel_info<family = "prefill"
// TILED-SAME: attn.tile_sizes = #attn.tile_sizes<block_m = 128, block_n = 64, pack_gqa = false, num_splits = 1>
func.func @prefill(%q: memref<2x8x1024x64xbf16>, %k: memref<2x2x1024x64xbf16>, %v: memref<2x2x1024x64xbf16>, %o: memref<2x8x1024x64xbf16>) {
  %0 = bufferization.to_tensor %q restrict : memref<2x8x1024x64xbf16> to tensor<2x8x1024x64xbf16>
  %1 = bufferization.to_tensor %k restrict : memref<2x2x1024x64xbf16> to tensor<2x2x1024x64xbf16>
  %2 = bufferization.to_tensor %v restrict : memref<2x2x1024x64xbf16> to tensor<2x2x1024x64xbf16>
  %out = attn.attention ins(%0, %1, %2 : tensor<2x8x1024x64xbf16>, tensor<2x2x1024x64xbf16>, tensor<2x2x1024x64xbf16>) {mask_kind = #attn.mask<causal_bottom_right>} -> tensor<2x8x1024x64xbf16>
  bufferization.materialize_in_destination %out in restrict writable %o : (tensor<2x8x1024x64xbf16>, memref<2x8x1024x64xbf16>) -> ()
  return
}

// -----

// Decode (Hq / Hkv * Lq = 4 rows fit one m16 tile): the group's query heads
// are one program (pack_gqa), its keys split 8 ways in subtiles of 16 keys
// (the split count num-splits=0 chose for 4 groups on 132 SMs).
// CHECK-LABEL: func.func @decode
// CHECK: attn.kernel_info = #attn.kernel_info<family = "decode", grid_formula = "[num_splits, B * Hkv, 1]"
// CHECK-SAME: attn.tile_sizes = #attn.tile_sizes<block_m = 16, block_n = 16, pack_gqa = true, num_splits = [[S:[0-9]+]]>
// TILED-LABEL: func.func @decode
// TILED: scf.forall (%{{.+}}, %{{.+}}, %{{.+}}, %{{.+}}) in (1, 4, 1, {{[0-9]+}})
// TILED: attn.block_attention ins(%{{.+}}, %{{.+}}, %{{.+}} : tensor<4x1x128xbf16>, tensor<16x128xbf16>, tensor<16x128xbf16>)
// TILED: attn.combine
func.func @decode(%q: memref<1x16x1x128xbf16>, %k: memref<1x4x8192x128xbf16>, %v: memref<1x4x8192x128xbf16>, %o: memref<1x16x1x128xbf16>) {
  %0 = bufferization.to_tensor %q restrict : memref<1x16x1x128xbf16> to tensor<1x16x1x128xbf16>
  %1 = bufferization.to_tensor %k restrict : memref<1x4x8192x128xbf16> to tensor<1x4x8192x128xbf16>
  %2 = bufferization.to_tensor %v restrict : memref<1x4x8192x128xbf16> to tensor<1x4x8192x128xbf16>
  %out = attn.attention ins(%0, %1, %2 : tensor<1x16x1x128xbf16>, tensor<1x4x8192x128xbf16>, tensor<1x4x8192x128xbf16>) -> tensor<1x16x1x128xbf16>
  bufferization.materialize_in_destination %out in restrict writable %o : (tensor<1x16x1x128xbf16>, memref<1x16x1x128xbf16>) -> ()
  return
}
