// RUN: attn-opt %s --split-input-file --verify-diagnostics --attn-gpu-kernels="kernel=hopper"

// kernel=hopper needs the sm_90a chip (wgmma, setmaxnreg).
func.func @chip(%q: memref<1x1x256x128xbf16>, %o: memref<1x1x256x128xbf16>) {
  %0 = bufferization.to_tensor %q restrict : memref<1x1x256x128xbf16> to tensor<1x1x256x128xbf16>
  // expected-error @+1 {{expected chip sm_90a for the hopper kernel (wgmma, setmaxnreg), got 'sm_80'}}
  %1 = attn.attention ins(%0, %0, %0 : tensor<1x1x256x128xbf16>, tensor<1x1x256x128xbf16>, tensor<1x1x256x128xbf16>) -> tensor<1x1x256x128xbf16>
  bufferization.materialize_in_destination %1 in restrict writable %o : (tensor<1x1x256x128xbf16>, memref<1x1x256x128xbf16>) -> ()
  return
}

// -----

func.func @chip_d64(%q: memref<1x1x256x64xbf16>, %o: memref<1x1x256x64xbf16>) {
  %0 = bufferization.to_tensor %q restrict : memref<1x1x256x64xbf16> to tensor<1x1x256x64xbf16>
  // expected-error @+1 {{expected chip sm_90a for the hopper kernel}}
  %1 = attn.attention ins(%0, %0, %0 : tensor<1x1x256x64xbf16>, tensor<1x1x256x64xbf16>, tensor<1x1x256x64xbf16>) -> tensor<1x1x256x64xbf16>
  bufferization.materialize_in_destination %1 in restrict writable %o : (tensor<1x1x256x64xbf16>, memref<1x1x256x64xbf16>) -> ()
  return
}
