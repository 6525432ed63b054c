// RUN: attn-opt %s --split-input-file --verify-diagnostics --attn-plan-gpu-backward="kernel=hopper chip=sm_90a"
// RUN: not attn-opt %s --attn-plan-gpu-backward="kernel=hopper chip=sm_90" 2>&1 | FileCheck %s --check-prefix=CHIP
// RUN: not attn-opt %s --attn-plan-gpu-backward="kernel=hopper chip=sm_90a deterministic" 2>&1 | FileCheck %s --check-prefix=DET
// RUN: not attn-opt %s --attn-plan-gpu-backward="kernel=hopper chip=sm_90a block-n=64" 2>&1 | FileCheck %s --check-prefix=TILES
// RUN: not attn-opt %s --attn-plan-gpu-backward="kernel=wgmma chip=sm_90a" 2>&1 | FileCheck %s --check-prefix=NAME

// kernel=hopper forces the sm_90a main kernel (getHopperBackwardGap): what
// it does not take is refused by name at the op, where kernel=auto falls
// back to the mma.sync kernel silently (attn-plan-gpu-backward-hopper.mlir).
// The runs after the first hit the first function: chip sm_90 (wgmma and
// its descriptors exist on sm_90a only), the deterministic dQ program (the
// hopper kernel has the atomic one only), tiles other than 64 x 128, an
// unknown kernel name.
// CHIP: error: 'attn.attention_backward' op expected chip sm_90a (wgmma), got 'sm_90' for kernel=hopper
// DET: error: 'attn.attention_backward' op expected the atomic dQ program (deterministic=false) for kernel=hopper
// TILES: error: 'attn.attention_backward' op expected block-m 0 or 64 and block-n 0 or 128 with kernel=hopper, got block-m 0 and block-n 64
// NAME: error: 'attn.attention_backward' op expected kernel auto, mma-sync or hopper, got 'wgmma'
func.func @d64_causal(%q: memref<1x2x128x64xbf16>, %k: memref<1x2x128x64xbf16>, %v: memref<1x2x128x64xbf16>, %o: memref<1x2x128x64xbf16>,
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

// -----

// Softcap, ALiBi, windows, the bias (and d_bias), the bool mask,
// key_lengths, the sinks and mask_mod take the hopper kernel
// (attn-plan-gpu-backward-hopper.mlir, attn-compile-backward-hopper-ptxas.mlir).

// D = 96: not whole 64-column panels.
func.func @d96(%q: memref<1x2x128x96xbf16>, %k: memref<1x2x128x96xbf16>, %v: memref<1x2x128x96xbf16>, %o: memref<1x2x128x96xbf16>,
    %do: memref<1x2x128x96xbf16>, %lse: memref<1x2x128xf32>, %dq: memref<1x2x128x96xbf16>, %dk: memref<1x2x128x96xbf16>, %dv: memref<1x2x128x96xbf16>) {
  %0 = bufferization.to_tensor %q restrict : memref<1x2x128x96xbf16> to tensor<1x2x128x96xbf16>
  %1 = bufferization.to_tensor %k restrict : memref<1x2x128x96xbf16> to tensor<1x2x128x96xbf16>
  %2 = bufferization.to_tensor %v restrict : memref<1x2x128x96xbf16> to tensor<1x2x128x96xbf16>
  %3 = bufferization.to_tensor %o restrict : memref<1x2x128x96xbf16> to tensor<1x2x128x96xbf16>
  %4 = bufferization.to_tensor %do restrict : memref<1x2x128x96xbf16> to tensor<1x2x128x96xbf16>
  %5 = bufferization.to_tensor %lse restrict : memref<1x2x128xf32> to tensor<1x2x128xf32>
  // expected-error @+1 {{expected D = Dv = 64 or 128 (128B-swizzled 64-column panels), got D = 96, Dv = 96 for kernel=hopper}}
  %gq, %gk, %gv = attn.attention_backward
      ins(%0, %1, %2, %3, %4, %5 : tensor<1x2x128x96xbf16>, tensor<1x2x128x96xbf16>, tensor<1x2x128x96xbf16>, tensor<1x2x128x96xbf16>, tensor<1x2x128x96xbf16>, tensor<1x2x128xf32>)
      {mask_kind = #attn.mask<causal_bottom_right>}
      -> tensor<1x2x128x96xbf16>, tensor<1x2x128x96xbf16>, tensor<1x2x128x96xbf16>
  bufferization.materialize_in_destination %gq in restrict writable %dq : (tensor<1x2x128x96xbf16>, memref<1x2x128x96xbf16>) -> ()
  bufferization.materialize_in_destination %gk in restrict writable %dk : (tensor<1x2x128x96xbf16>, memref<1x2x128x96xbf16>) -> ()
  bufferization.materialize_in_destination %gv in restrict writable %dv : (tensor<1x2x128x96xbf16>, memref<1x2x128x96xbf16>) -> ()
  return
}
