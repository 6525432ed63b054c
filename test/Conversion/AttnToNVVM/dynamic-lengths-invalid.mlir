// RUN: attn-opt %s --split-input-file --verify-diagnostics --attn-plan-gpu-kernels="kernel=hopper chip=sm_90a"
// RUN: not attn-opt %s --split-input-file --attn-plan-gpu-kernels="kernel=decode" 2>&1 | FileCheck %s --check-prefix=DECODE

// Runtime lengths: the prefill family takes B, Lq and Lk, the decode family
// Lk alone, the hopper family none; each refusal names the family.
// DECODE: expected static B and Lq for the decode family (dynamic lengths: Lk only; the prefill family takes all three)
func.func @hopper(%q: memref<?x8x?x128xbf16>, %k: memref<?x2x?x128xbf16>, %o: memref<?x8x?x128xbf16>) {
  %0 = bufferization.to_tensor %q restrict : memref<?x8x?x128xbf16> to tensor<?x8x?x128xbf16>
  %1 = bufferization.to_tensor %k restrict : memref<?x2x?x128xbf16> to tensor<?x2x?x128xbf16>
  // expected-error @+1 {{expected static B, Lq and Lk for the hopper family (dynamic lengths: prefill and decode families only)}}
  %2 = attn.attention ins(%0, %1, %1 : tensor<?x8x?x128xbf16>, tensor<?x2x?x128xbf16>, tensor<?x2x?x128xbf16>) {mask_kind = #attn.mask<causal_bottom_right>} -> tensor<?x8x?x128xbf16>
  bufferization.materialize_in_destination %2 in restrict writable %o : (tensor<?x8x?x128xbf16>, memref<?x8x?x128xbf16>) -> ()
  return
}

// -----

// Lk in K but not in V: the kernel has one Lk.
func.func @mixed_lk(%q: memref<1x8x64x128xbf16>, %k: memref<1x2x?x128xbf16>, %v: memref<1x2x64x128xbf16>, %o: memref<1x8x64x128xbf16>) {
  %0 = bufferization.to_tensor %q restrict : memref<1x8x64x128xbf16> to tensor<1x8x64x128xbf16>
  %1 = bufferization.to_tensor %k restrict : memref<1x2x?x128xbf16> to tensor<1x2x?x128xbf16>
  %2 = bufferization.to_tensor %v restrict : memref<1x2x64x128xbf16> to tensor<1x2x64x128xbf16>
  // expected-error @+1 {{expected Lk dynamic in K and V alike and Lq in Q and O alike on the GPU path}}
  %3 = attn.attention ins(%0, %1, %2 : tensor<1x8x64x128xbf16>, tensor<1x2x?x128xbf16>, tensor<1x2x64x128xbf16>) -> tensor<1x8x64x128xbf16>
  bufferization.materialize_in_destination %3 in restrict writable %o : (tensor<1x8x64x128xbf16>, memref<1x8x64x128xbf16>) -> ()
  return
}
