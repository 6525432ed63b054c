// convert-attn-to-nvvm lowers tiled programs; each missing step before it
// is named at the attention's location. The tiles come from the plan; an
// option it depends on but does not record (the hopper family's chip) must
// agree.
// RUN: not attn-opt %s --convert-attn-to-nvvm 2>&1 | FileCheck %s --check-prefix=UNTILED
// RUN: not attn-opt %s --attn-plan-gpu-kernels --attn-tile --convert-attn-to-nvvm 2>&1 | FileCheck %s --check-prefix=UNFUSED
// RUN: not attn-opt %s --attn-plan-gpu-kernels --attn-tile --attn-fuse-online-softmax --convert-attn-to-nvvm 2>&1 | FileCheck %s --check-prefix=UNROUNDED
// RUN: not attn-opt %s --attn-plan-gpu-kernels=chip=sm_90a --attn-tile --attn-fuse-online-softmax --attn-lower-precision --convert-attn-to-nvvm 2>&1 | FileCheck %s --check-prefix=REPLANNED

func.func @prefill(%q: memref<1x2x256x64xbf16>, %o: memref<1x2x256x64xbf16>) {
  %0 = bufferization.to_tensor %q restrict : memref<1x2x256x64xbf16> to tensor<1x2x256x64xbf16>
  // UNTILED: convert-attn-to-nvvm-invalid.mlir:[[@LINE+4]]:10: error: 'attn.attention' op expected attn-plan-gpu-kernels and attn-tile to have made a tiled program of the attention before convert-attn-to-nvvm
  // UNFUSED: convert-attn-to-nvvm-invalid.mlir:[[@LINE+3]]:10: error: 'attn.block_attention' op expected attn-fuse-online-softmax to have fused the KV loops of the program before convert-attn-to-nvvm
  // UNROUNDED: convert-attn-to-nvvm-invalid.mlir:[[@LINE+2]]:10: error: 'attn.online_step' op expected attn-lower-precision to have run (P rounded to 'bf16' before P.V and exp2, as the tensor cores take them)
  // REPLANNED: convert-attn-to-nvvm-invalid.mlir:[[@LINE+1]]:10: error: 'scf.forall' op expected chip sm_90a for the hopper kernel
  %out = attn.attention ins(%0, %0, %0 : tensor<1x2x256x64xbf16>, tensor<1x2x256x64xbf16>, tensor<1x2x256x64xbf16>) {mask_kind = #attn.mask<causal_bottom_right>} -> tensor<1x2x256x64xbf16>
  bufferization.materialize_in_destination %out in restrict writable %o : (tensor<1x2x256x64xbf16>, memref<1x2x256x64xbf16>) -> ()
  return
}
