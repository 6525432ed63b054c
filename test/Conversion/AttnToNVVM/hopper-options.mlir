// RUN: attn-opt %s --split-input-file --verify-diagnostics --convert-attn-to-nvvm="kernel=hopper chip=sm_90a hopper-block-n=128"
// RUN: attn-opt %s --split-input-file --convert-attn-to-nvvm="chip=sm_90a hopper-block-n=128" | FileCheck %s

// Block-n 128 at head dim 128 needs more than the registers a consumer has
// before setmaxnreg: kernel=hopper refuses it, kernel=auto keeps the
// mma.sync prefill kernel.
// CHECK: kernel = "prefill"
func.func @block_n(%q: memref<1x1x256x128xbf16>, %o: memref<1x1x256x128xbf16>) {
  %0 = bufferization.to_tensor %q restrict : memref<1x1x256x128xbf16> to tensor<1x1x256x128xbf16>
  // expected-error @+1 {{expected hopper-block-n of 64 at head dim 128}}
  %1 = attn.attention ins(%0, %0, %0 : tensor<1x1x256x128xbf16>, tensor<1x1x256x128xbf16>, tensor<1x1x256x128xbf16>) -> tensor<1x1x256x128xbf16>
  bufferization.materialize_in_destination %1 in restrict writable %o : (tensor<1x1x256x128xbf16>, memref<1x1x256x128xbf16>) -> ()
  return
}
