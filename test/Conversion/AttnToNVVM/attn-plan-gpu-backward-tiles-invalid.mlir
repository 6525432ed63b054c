// RUN: attn-opt %s --split-input-file --verify-diagnostics --attn-plan-gpu-backward="block-m=64 block-n=128"
// RUN: not attn-opt %s --split-input-file --attn-plan-gpu-backward="block-m=32 block-n=128" 2>&1 | FileCheck %s

// Given tiles the main kernel cannot take for the head dim, refused by
// attn-plan-gpu-backward (resolveBackwardTiles).

// D = 80 has 5 k16 pairs: block-n 128 at block-m 64 splits dQ over 2
// column parts.
func.func @d80_n128(%q: memref<1x2x128x80xbf16>, %k: memref<1x2x128x80xbf16>, %v: memref<1x2x128x80xbf16>, %o: memref<1x2x128x80xbf16>,
    %do: memref<1x2x128x80xbf16>, %lse: memref<1x2x128xf32>, %dq: memref<1x2x128x80xbf16>, %dk: memref<1x2x128x80xbf16>, %dv: memref<1x2x128x80xbf16>) {
  %0 = bufferization.to_tensor %q restrict : memref<1x2x128x80xbf16> to tensor<1x2x128x80xbf16>
  %1 = bufferization.to_tensor %k restrict : memref<1x2x128x80xbf16> to tensor<1x2x128x80xbf16>
  %2 = bufferization.to_tensor %v restrict : memref<1x2x128x80xbf16> to tensor<1x2x128x80xbf16>
  %3 = bufferization.to_tensor %o restrict : memref<1x2x128x80xbf16> to tensor<1x2x128x80xbf16>
  %4 = bufferization.to_tensor %do restrict : memref<1x2x128x80xbf16> to tensor<1x2x128x80xbf16>
  %5 = bufferization.to_tensor %lse restrict : memref<1x2x128xf32> to tensor<1x2x128xf32>
  // expected-error @+1 {{expected D / 16 = 5 to split over the main kernel's 2 dQ column parts (block-n / 16 warps over block-m / dq-warp-rows row groups); take block-n 64 or block-m 128}}
  %gq, %gk, %gv = attn.attention_backward
      ins(%0, %1, %2, %3, %4, %5 : tensor<1x2x128x80xbf16>, tensor<1x2x128x80xbf16>, tensor<1x2x128x80xbf16>, tensor<1x2x128x80xbf16>, tensor<1x2x128x80xbf16>, tensor<1x2x128xf32>)
      {mask_kind = #attn.mask<causal_bottom_right>}
      -> tensor<1x2x128x80xbf16>, tensor<1x2x128x80xbf16>, tensor<1x2x128x80xbf16>
  bufferization.materialize_in_destination %gq in restrict writable %dq : (tensor<1x2x128x80xbf16>, memref<1x2x128x80xbf16>) -> ()
  bufferization.materialize_in_destination %gk in restrict writable %dk : (tensor<1x2x128x80xbf16>, memref<1x2x128x80xbf16>) -> ()
  bufferization.materialize_in_destination %gv in restrict writable %dv : (tensor<1x2x128x80xbf16>, memref<1x2x128x80xbf16>) -> ()
  return
}

// -----

// D = 64 takes 64 x 128 (square warp tiles); square tiles need block-m 64
// or 128 (the second run).
// CHECK: error: 'attn.attention_backward' op expected block-m 64 or 128 with square warp tiles, got 32
func.func @d64_square(%q: memref<1x2x128x64xbf16>, %k: memref<1x2x128x64xbf16>, %v: memref<1x2x128x64xbf16>, %o: memref<1x2x128x64xbf16>,
    %do: memref<1x2x128x64xbf16>, %lse: memref<1x2x128xf32>, %dq: memref<1x2x128x64xbf16>, %dk: memref<1x2x128x64xbf16>, %dv: memref<1x2x128x64xbf16>) {
  %0 = bufferization.to_tensor %q restrict : memref<1x2x128x64xbf16> to tensor<1x2x128x64xbf16>
  %1 = bufferization.to_tensor %k restrict : memref<1x2x128x64xbf16> to tensor<1x2x128x64xbf16>
  %2 = bufferization.to_tensor %v restrict : memref<1x2x128x64xbf16> to tensor<1x2x128x64xbf16>
  %3 = bufferization.to_tensor %o restrict : memref<1x2x128x64xbf16> to tensor<1x2x128x64xbf16>
  %4 = bufferization.to_tensor %do restrict : memref<1x2x128x64xbf16> to tensor<1x2x128x64xbf16>
  %5 = bufferization.to_tensor %lse restrict : memref<1x2x128xf32> to tensor<1x2x128xf32>
  %gq, %gk, %gv = attn.attention_backward
      ins(%0, %1, %2, %3, %4, %5 : tensor<1x2x128x64xbf16>, tensor<1x2x128x64xbf16>, tensor<1x2x128x64xbf16>, tensor<1x2x128x64xbf16>, tensor<1x2x128x64xbf16>, tensor<1x2x128xf32>)
      {mask_kind = #attn.mask<causal_bottom_right>}
      -> tensor<1x2x128x64xbf16>, tensor<1x2x128x64xbf16>, tensor<1x2x128x64xbf16>
  bufferization.materialize_in_destination %gq in restrict writable %dq : (tensor<1x2x128x64xbf16>, memref<1x2x128x64xbf16>) -> ()
  bufferization.materialize_in_destination %gk in restrict writable %dk : (tensor<1x2x128x64xbf16>, memref<1x2x128x64xbf16>) -> ()
  bufferization.materialize_in_destination %gv in restrict writable %dv : (tensor<1x2x128x64xbf16>, memref<1x2x128x64xbf16>) -> ()
  return
}
