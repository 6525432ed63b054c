// RUN: attn-opt %s --split-input-file --attn-plan-gpu-backward="chip=sm_90 ptx-features=+ptx81" | FileCheck %s
// RUN: attn-opt %s --split-input-file --attn-plan-gpu-backward="tile-model=" | FileCheck %s --check-prefix=FIXED

// The plan's tiles per head dim (chip sm_90: the H100 model; tile-model
// off: the fixed 64 x 64 where the register rule allows). The rule
// (getBackwardBlockMLimit, TileConfig.h): the main kernel keeps dK and dV
// of 16 keys per warp, (D + Dv) / 2 f32 per thread, and S^T, dP^T of 16
// keys x block-m queries (block-m / 2 each); ~(D + Dv) / 2 + block-m + 48
// registers must stay within 255, else block-m 32, else the op is refused
// (attn-plan-gpu-backward-invalid.mlir). Shared rows are padded to 128
// bytes (D = 80, 96: 256; 160, 192: 384); dS^T rows are block-m x 2 bytes,
// at least 128.

// D = 32 (rows padded to 128 bytes): the H100 model takes 128 x 128 (8
// warps; ~32 + 128 + 48 = 208 registers). K, V 2 * 128 * 128 + dS^T 128 *
// 256 + 2 stages of Q, dO (2 * 128 * 128) and lse_log2, delta (2 * 128 * 4)
// = 32768 + 32768 + 2 * 33792 = 133120. Square warp tiles are D = Dv = 64,
// 128 only. Fixed tiles: 64 x 64 (4 warps): 16384 + 8192 + 2 * 16896.
// CHECK-LABEL: func.func @d32
// CHECK: block_m = 128, block_n = 128, {{.*}} square_warp_tiles = false, dq_warp_rows = 16>
// CHECK-SAME: shared_memory_bytes = 133120, block_m = 128, block_n = 128, num_warps = 8
// FIXED-LABEL: func.func @d32
// FIXED: block_m = 64, block_n = 64,
// FIXED-SAME: shared_memory_bytes = 58368, block_m = 64, block_n = 64, num_warps = 4
func.func @d32(%q: memref<1x4x200x32xbf16>, %k: memref<1x2x333x32xbf16>, %v: memref<1x2x333x32xbf16>, %o: memref<1x4x200x32xbf16>,
    %do: memref<1x4x200x32xbf16>, %lse: memref<1x4x200xf32>, %dq: memref<1x4x200x32xbf16>, %dk: memref<1x2x333x32xbf16>, %dv: memref<1x2x333x32xbf16>) {
  %0 = bufferization.to_tensor %q restrict : memref<1x4x200x32xbf16> to tensor<1x4x200x32xbf16>
  %1 = bufferization.to_tensor %k restrict : memref<1x2x333x32xbf16> to tensor<1x2x333x32xbf16>
  %2 = bufferization.to_tensor %v restrict : memref<1x2x333x32xbf16> to tensor<1x2x333x32xbf16>
  %3 = bufferization.to_tensor %o restrict : memref<1x4x200x32xbf16> to tensor<1x4x200x32xbf16>
  %4 = bufferization.to_tensor %do restrict : memref<1x4x200x32xbf16> to tensor<1x4x200x32xbf16>
  %5 = bufferization.to_tensor %lse restrict : memref<1x4x200xf32> to tensor<1x4x200xf32>
  %gq, %gk, %gv = attn.attention_backward
      ins(%0, %1, %2, %3, %4, %5 : tensor<1x4x200x32xbf16>, tensor<1x2x333x32xbf16>, tensor<1x2x333x32xbf16>, tensor<1x4x200x32xbf16>, tensor<1x4x200x32xbf16>, tensor<1x4x200xf32>)
      {mask_kind = #attn.mask<causal_bottom_right>}
      -> tensor<1x4x200x32xbf16>, tensor<1x2x333x32xbf16>, tensor<1x2x333x32xbf16>
  bufferization.materialize_in_destination %gq in restrict writable %dq : (tensor<1x4x200x32xbf16>, memref<1x4x200x32xbf16>) -> ()
  bufferization.materialize_in_destination %gk in restrict writable %dk : (tensor<1x2x333x32xbf16>, memref<1x2x333x32xbf16>) -> ()
  bufferization.materialize_in_destination %gv in restrict writable %dv : (tensor<1x2x333x32xbf16>, memref<1x2x333x32xbf16>) -> ()
  return
}

// -----

// D = 48 (6 chunks, 128-byte rows): as D = 32.
// CHECK-LABEL: func.func @d48
// CHECK: block_m = 128, block_n = 128, {{.*}} square_warp_tiles = false
// CHECK-SAME: shared_memory_bytes = 133120, block_m = 128, block_n = 128, num_warps = 8
func.func @d48(%q: memref<1x4x200x48xbf16>, %k: memref<1x2x333x48xbf16>, %v: memref<1x2x333x48xbf16>, %o: memref<1x4x200x48xbf16>,
    %do: memref<1x4x200x48xbf16>, %lse: memref<1x4x200xf32>, %dq: memref<1x4x200x48xbf16>, %dk: memref<1x2x333x48xbf16>, %dv: memref<1x2x333x48xbf16>) {
  %0 = bufferization.to_tensor %q restrict : memref<1x4x200x48xbf16> to tensor<1x4x200x48xbf16>
  %1 = bufferization.to_tensor %k restrict : memref<1x2x333x48xbf16> to tensor<1x2x333x48xbf16>
  %2 = bufferization.to_tensor %v restrict : memref<1x2x333x48xbf16> to tensor<1x2x333x48xbf16>
  %3 = bufferization.to_tensor %o restrict : memref<1x4x200x48xbf16> to tensor<1x4x200x48xbf16>
  %4 = bufferization.to_tensor %do restrict : memref<1x4x200x48xbf16> to tensor<1x4x200x48xbf16>
  %5 = bufferization.to_tensor %lse restrict : memref<1x4x200xf32> to tensor<1x4x200xf32>
  %gq, %gk, %gv = attn.attention_backward
      ins(%0, %1, %2, %3, %4, %5 : tensor<1x4x200x48xbf16>, tensor<1x2x333x48xbf16>, tensor<1x2x333x48xbf16>, tensor<1x4x200x48xbf16>, tensor<1x4x200x48xbf16>, tensor<1x4x200xf32>)
      {mask_kind = #attn.mask<causal_bottom_right>}
      -> tensor<1x4x200x48xbf16>, tensor<1x2x333x48xbf16>, tensor<1x2x333x48xbf16>
  bufferization.materialize_in_destination %gq in restrict writable %dq : (tensor<1x4x200x48xbf16>, memref<1x4x200x48xbf16>) -> ()
  bufferization.materialize_in_destination %gk in restrict writable %dk : (tensor<1x2x333x48xbf16>, memref<1x2x333x48xbf16>) -> ()
  bufferization.materialize_in_destination %gv in restrict writable %dv : (tensor<1x2x333x48xbf16>, memref<1x2x333x48xbf16>) -> ()
  return
}

// -----

// D = 80 (256-byte rows): 64 x 128 would split D / 16 = 5 k16 pairs of dQ
// over 2 column parts, so the model has 64 x 64 and 128 x 128 and takes
// 64 x 64: 64 * 512 + 64 * 128 + 2 * (64 * 512 + 512) = 107520.
// CHECK-LABEL: func.func @d80
// CHECK: block_m = 64, block_n = 64,
// CHECK-SAME: shared_memory_bytes = 107520, block_m = 64, block_n = 64, num_warps = 4
func.func @d80(%q: memref<1x4x200x80xbf16>, %k: memref<1x2x333x80xbf16>, %v: memref<1x2x333x80xbf16>, %o: memref<1x4x200x80xbf16>,
    %do: memref<1x4x200x80xbf16>, %lse: memref<1x4x200xf32>, %dq: memref<1x4x200x80xbf16>, %dk: memref<1x2x333x80xbf16>, %dv: memref<1x2x333x80xbf16>) {
  %0 = bufferization.to_tensor %q restrict : memref<1x4x200x80xbf16> to tensor<1x4x200x80xbf16>
  %1 = bufferization.to_tensor %k restrict : memref<1x2x333x80xbf16> to tensor<1x2x333x80xbf16>
  %2 = bufferization.to_tensor %v restrict : memref<1x2x333x80xbf16> to tensor<1x2x333x80xbf16>
  %3 = bufferization.to_tensor %o restrict : memref<1x4x200x80xbf16> to tensor<1x4x200x80xbf16>
  %4 = bufferization.to_tensor %do restrict : memref<1x4x200x80xbf16> to tensor<1x4x200x80xbf16>
  %5 = bufferization.to_tensor %lse restrict : memref<1x4x200xf32> to tensor<1x4x200xf32>
  %gq, %gk, %gv = attn.attention_backward
      ins(%0, %1, %2, %3, %4, %5 : tensor<1x4x200x80xbf16>, tensor<1x2x333x80xbf16>, tensor<1x2x333x80xbf16>, tensor<1x4x200x80xbf16>, tensor<1x4x200x80xbf16>, tensor<1x4x200xf32>)
      {mask_kind = #attn.mask<causal_bottom_right>}
      -> tensor<1x4x200x80xbf16>, tensor<1x2x333x80xbf16>, tensor<1x2x333x80xbf16>
  bufferization.materialize_in_destination %gq in restrict writable %dq : (tensor<1x4x200x80xbf16>, memref<1x4x200x80xbf16>) -> ()
  bufferization.materialize_in_destination %gk in restrict writable %dk : (tensor<1x2x333x80xbf16>, memref<1x2x333x80xbf16>) -> ()
  bufferization.materialize_in_destination %gv in restrict writable %dv : (tensor<1x2x333x80xbf16>, memref<1x2x333x80xbf16>) -> ()
  return
}

// -----

// D = 96: 64 x 128 (dQ column parts of 6 chunks, 8 warps): 128 * 512 +
// 128 * 128 + 2 * (64 * 512 + 512) = 148480.
// CHECK-LABEL: func.func @d96
// CHECK: block_m = 64, block_n = 128, {{.*}} square_warp_tiles = false
// CHECK-SAME: shared_memory_bytes = 148480, block_m = 64, block_n = 128, num_warps = 8
// FIXED-LABEL: func.func @d96
// FIXED: block_m = 64, block_n = 64,
// FIXED-SAME: shared_memory_bytes = 107520
func.func @d96(%q: memref<1x4x200x96xbf16>, %k: memref<1x2x333x96xbf16>, %v: memref<1x2x333x96xbf16>, %o: memref<1x4x200x96xbf16>,
    %do: memref<1x4x200x96xbf16>, %lse: memref<1x4x200xf32>, %dq: memref<1x4x200x96xbf16>, %dk: memref<1x2x333x96xbf16>, %dv: memref<1x2x333x96xbf16>) {
  %0 = bufferization.to_tensor %q restrict : memref<1x4x200x96xbf16> to tensor<1x4x200x96xbf16>
  %1 = bufferization.to_tensor %k restrict : memref<1x2x333x96xbf16> to tensor<1x2x333x96xbf16>
  %2 = bufferization.to_tensor %v restrict : memref<1x2x333x96xbf16> to tensor<1x2x333x96xbf16>
  %3 = bufferization.to_tensor %o restrict : memref<1x4x200x96xbf16> to tensor<1x4x200x96xbf16>
  %4 = bufferization.to_tensor %do restrict : memref<1x4x200x96xbf16> to tensor<1x4x200x96xbf16>
  %5 = bufferization.to_tensor %lse restrict : memref<1x4x200xf32> to tensor<1x4x200xf32>
  %gq, %gk, %gv = attn.attention_backward
      ins(%0, %1, %2, %3, %4, %5 : tensor<1x4x200x96xbf16>, tensor<1x2x333x96xbf16>, tensor<1x2x333x96xbf16>, tensor<1x4x200x96xbf16>, tensor<1x4x200x96xbf16>, tensor<1x4x200xf32>)
      {mask_kind = #attn.mask<causal_bottom_right>}
      -> tensor<1x4x200x96xbf16>, tensor<1x2x333x96xbf16>, tensor<1x2x333x96xbf16>
  bufferization.materialize_in_destination %gq in restrict writable %dq : (tensor<1x4x200x96xbf16>, memref<1x4x200x96xbf16>) -> ()
  bufferization.materialize_in_destination %gk in restrict writable %dk : (tensor<1x2x333x96xbf16>, memref<1x2x333x96xbf16>) -> ()
  bufferization.materialize_in_destination %gv in restrict writable %dv : (tensor<1x2x333x96xbf16>, memref<1x2x333x96xbf16>) -> ()
  return
}

// -----

// D = 112 (7 pairs): 64 x 64 as D = 80.
// CHECK-LABEL: func.func @d112
// CHECK: block_m = 64, block_n = 64,
// CHECK-SAME: shared_memory_bytes = 107520, block_m = 64, block_n = 64, num_warps = 4
func.func @d112(%q: memref<1x4x200x112xbf16>, %k: memref<1x2x333x112xbf16>, %v: memref<1x2x333x112xbf16>, %o: memref<1x4x200x112xbf16>,
    %do: memref<1x4x200x112xbf16>, %lse: memref<1x4x200xf32>, %dq: memref<1x4x200x112xbf16>, %dk: memref<1x2x333x112xbf16>, %dv: memref<1x2x333x112xbf16>) {
  %0 = bufferization.to_tensor %q restrict : memref<1x4x200x112xbf16> to tensor<1x4x200x112xbf16>
  %1 = bufferization.to_tensor %k restrict : memref<1x2x333x112xbf16> to tensor<1x2x333x112xbf16>
  %2 = bufferization.to_tensor %v restrict : memref<1x2x333x112xbf16> to tensor<1x2x333x112xbf16>
  %3 = bufferization.to_tensor %o restrict : memref<1x4x200x112xbf16> to tensor<1x4x200x112xbf16>
  %4 = bufferization.to_tensor %do restrict : memref<1x4x200x112xbf16> to tensor<1x4x200x112xbf16>
  %5 = bufferization.to_tensor %lse restrict : memref<1x4x200xf32> to tensor<1x4x200xf32>
  %gq, %gk, %gv = attn.attention_backward
      ins(%0, %1, %2, %3, %4, %5 : tensor<1x4x200x112xbf16>, tensor<1x2x333x112xbf16>, tensor<1x2x333x112xbf16>, tensor<1x4x200x112xbf16>, tensor<1x4x200x112xbf16>, tensor<1x4x200xf32>)
      {mask_kind = #attn.mask<causal_bottom_right>}
      -> tensor<1x4x200x112xbf16>, tensor<1x2x333x112xbf16>, tensor<1x2x333x112xbf16>
  bufferization.materialize_in_destination %gq in restrict writable %dq : (tensor<1x4x200x112xbf16>, memref<1x4x200x112xbf16>) -> ()
  bufferization.materialize_in_destination %gk in restrict writable %dk : (tensor<1x2x333x112xbf16>, memref<1x2x333x112xbf16>) -> ()
  bufferization.materialize_in_destination %gv in restrict writable %dv : (tensor<1x2x333x112xbf16>, memref<1x2x333x112xbf16>) -> ()
  return
}

// -----

// DeepSeek MLA prefill, D = 192, Dv = 128: dK and dV take (192 + 128) / 2
// = 160 f32 per thread, ~160 + 64 + 48 = 272 registers at block-m 64, 240
// at 32 (getBackwardBlockMLimit): 32 x 64 in the model and fixed alike.
// K 64 * 384 + V 64 * 256 + dS^T 64 * 128 (rows padded to 128 bytes) + 2
// stages of Q 32 * 384, dO 32 * 256, lse_log2 and delta 2 * 32 * 4:
// 24576 + 16384 + 8192 + 2 * 20736 = 90624.
// CHECK-LABEL: func.func @mla
// CHECK: block_m = 32, block_n = 64,
// CHECK-SAME: shared_memory_bytes = 90624, block_m = 32, block_n = 64, num_warps = 4
// FIXED-LABEL: func.func @mla
// FIXED: block_m = 32, block_n = 64,
// FIXED-SAME: shared_memory_bytes = 90624
func.func @mla(%q: memref<1x4x200x192xbf16>, %k: memref<1x2x333x192xbf16>, %v: memref<1x2x333x128xbf16>, %o: memref<1x4x200x128xbf16>,
    %do: memref<1x4x200x128xbf16>, %lse: memref<1x4x200xf32>, %dq: memref<1x4x200x192xbf16>, %dk: memref<1x2x333x192xbf16>, %dv: memref<1x2x333x128xbf16>) {
  %0 = bufferization.to_tensor %q restrict : memref<1x4x200x192xbf16> to tensor<1x4x200x192xbf16>
  %1 = bufferization.to_tensor %k restrict : memref<1x2x333x192xbf16> to tensor<1x2x333x192xbf16>
  %2 = bufferization.to_tensor %v restrict : memref<1x2x333x128xbf16> to tensor<1x2x333x128xbf16>
  %3 = bufferization.to_tensor %o restrict : memref<1x4x200x128xbf16> to tensor<1x4x200x128xbf16>
  %4 = bufferization.to_tensor %do restrict : memref<1x4x200x128xbf16> to tensor<1x4x200x128xbf16>
  %5 = bufferization.to_tensor %lse restrict : memref<1x4x200xf32> to tensor<1x4x200xf32>
  %gq, %gk, %gv = attn.attention_backward
      ins(%0, %1, %2, %3, %4, %5 : tensor<1x4x200x192xbf16>, tensor<1x2x333x192xbf16>, tensor<1x2x333x128xbf16>, tensor<1x4x200x128xbf16>, tensor<1x4x200x128xbf16>, tensor<1x4x200xf32>)
      {mask_kind = #attn.mask<causal_bottom_right>}
      -> tensor<1x4x200x192xbf16>, tensor<1x2x333x192xbf16>, tensor<1x2x333x128xbf16>
  bufferization.materialize_in_destination %gq in restrict writable %dq : (tensor<1x4x200x192xbf16>, memref<1x4x200x192xbf16>) -> ()
  bufferization.materialize_in_destination %gk in restrict writable %dk : (tensor<1x2x333x192xbf16>, memref<1x2x333x192xbf16>) -> ()
  bufferization.materialize_in_destination %gv in restrict writable %dv : (tensor<1x2x333x128xbf16>, memref<1x2x333x128xbf16>) -> ()
  return
}

// -----

// D = Dv = 160 (384-byte rows): 160 f32 of dK and dV, 32 x 64: 64 * 768 +
// 8192 + 2 * (32 * 768 + 256) = 107008.
// CHECK-LABEL: func.func @d160
// CHECK: block_m = 32, block_n = 64,
// CHECK-SAME: shared_memory_bytes = 107008, block_m = 32, block_n = 64, num_warps = 4
func.func @d160(%q: memref<1x4x200x160xbf16>, %k: memref<1x2x333x160xbf16>, %v: memref<1x2x333x160xbf16>, %o: memref<1x4x200x160xbf16>,
    %do: memref<1x4x200x160xbf16>, %lse: memref<1x4x200xf32>, %dq: memref<1x4x200x160xbf16>, %dk: memref<1x2x333x160xbf16>, %dv: memref<1x2x333x160xbf16>) {
  %0 = bufferization.to_tensor %q restrict : memref<1x4x200x160xbf16> to tensor<1x4x200x160xbf16>
  %1 = bufferization.to_tensor %k restrict : memref<1x2x333x160xbf16> to tensor<1x2x333x160xbf16>
  %2 = bufferization.to_tensor %v restrict : memref<1x2x333x160xbf16> to tensor<1x2x333x160xbf16>
  %3 = bufferization.to_tensor %o restrict : memref<1x4x200x160xbf16> to tensor<1x4x200x160xbf16>
  %4 = bufferization.to_tensor %do restrict : memref<1x4x200x160xbf16> to tensor<1x4x200x160xbf16>
  %5 = bufferization.to_tensor %lse restrict : memref<1x4x200xf32> to tensor<1x4x200xf32>
  %gq, %gk, %gv = attn.attention_backward
      ins(%0, %1, %2, %3, %4, %5 : tensor<1x4x200x160xbf16>, tensor<1x2x333x160xbf16>, tensor<1x2x333x160xbf16>, tensor<1x4x200x160xbf16>, tensor<1x4x200x160xbf16>, tensor<1x4x200xf32>)
      {mask_kind = #attn.mask<causal_bottom_right>}
      -> tensor<1x4x200x160xbf16>, tensor<1x2x333x160xbf16>, tensor<1x2x333x160xbf16>
  bufferization.materialize_in_destination %gq in restrict writable %dq : (tensor<1x4x200x160xbf16>, memref<1x4x200x160xbf16>) -> ()
  bufferization.materialize_in_destination %gk in restrict writable %dk : (tensor<1x2x333x160xbf16>, memref<1x2x333x160xbf16>) -> ()
  bufferization.materialize_in_destination %gv in restrict writable %dv : (tensor<1x2x333x160xbf16>, memref<1x2x333x160xbf16>) -> ()
  return
}

// -----

// D = 128, Dv = 64: 96 f32 of dK and dV, 64 x 128: 128 * 384 + 128 * 128
// + 2 * (64 * 384 + 512) = 115712.
// CHECK-LABEL: func.func @d128v64
// CHECK: block_m = 64, block_n = 128, {{.*}} square_warp_tiles = false
// CHECK-SAME: shared_memory_bytes = 115712, block_m = 64, block_n = 128, num_warps = 8
func.func @d128v64(%q: memref<1x4x200x128xbf16>, %k: memref<1x2x333x128xbf16>, %v: memref<1x2x333x64xbf16>, %o: memref<1x4x200x64xbf16>,
    %do: memref<1x4x200x64xbf16>, %lse: memref<1x4x200xf32>, %dq: memref<1x4x200x128xbf16>, %dk: memref<1x2x333x128xbf16>, %dv: memref<1x2x333x64xbf16>) {
  %0 = bufferization.to_tensor %q restrict : memref<1x4x200x128xbf16> to tensor<1x4x200x128xbf16>
  %1 = bufferization.to_tensor %k restrict : memref<1x2x333x128xbf16> to tensor<1x2x333x128xbf16>
  %2 = bufferization.to_tensor %v restrict : memref<1x2x333x64xbf16> to tensor<1x2x333x64xbf16>
  %3 = bufferization.to_tensor %o restrict : memref<1x4x200x64xbf16> to tensor<1x4x200x64xbf16>
  %4 = bufferization.to_tensor %do restrict : memref<1x4x200x64xbf16> to tensor<1x4x200x64xbf16>
  %5 = bufferization.to_tensor %lse restrict : memref<1x4x200xf32> to tensor<1x4x200xf32>
  %gq, %gk, %gv = attn.attention_backward
      ins(%0, %1, %2, %3, %4, %5 : tensor<1x4x200x128xbf16>, tensor<1x2x333x128xbf16>, tensor<1x2x333x64xbf16>, tensor<1x4x200x64xbf16>, tensor<1x4x200x64xbf16>, tensor<1x4x200xf32>)
      {mask_kind = #attn.mask<causal_bottom_right>}
      -> tensor<1x4x200x128xbf16>, tensor<1x2x333x128xbf16>, tensor<1x2x333x64xbf16>
  bufferization.materialize_in_destination %gq in restrict writable %dq : (tensor<1x4x200x128xbf16>, memref<1x4x200x128xbf16>) -> ()
  bufferization.materialize_in_destination %gk in restrict writable %dk : (tensor<1x2x333x128xbf16>, memref<1x2x333x128xbf16>) -> ()
  bufferization.materialize_in_destination %gv in restrict writable %dv : (tensor<1x2x333x64xbf16>, memref<1x2x333x64xbf16>) -> ()
  return
}
