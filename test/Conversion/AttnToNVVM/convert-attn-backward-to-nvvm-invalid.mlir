// convert-attn-backward-to-nvvm reads tiled programs only: a backward
// that nobody tiled is refused, naming the passes that make its program.
// RUN: attn-opt %s --split-input-file --verify-diagnostics --convert-attn-backward-to-nvvm

func.func @untiled(%q: memref<1x2x64x64xbf16>, %k: memref<1x1x64x64xbf16>, %v: memref<1x1x64x64xbf16>, %o: memref<1x2x64x64xbf16>, %do: memref<1x2x64x64xbf16>, %lse: memref<1x2x64xf32>, %dq: memref<1x2x64x64xbf16>, %dk: memref<1x1x64x64xbf16>, %dv: memref<1x1x64x64xbf16>) {
  %0 = bufferization.to_tensor %q restrict : memref<1x2x64x64xbf16> to tensor<1x2x64x64xbf16>
  %1 = bufferization.to_tensor %k restrict : memref<1x1x64x64xbf16> to tensor<1x1x64x64xbf16>
  %2 = bufferization.to_tensor %v restrict : memref<1x1x64x64xbf16> to tensor<1x1x64x64xbf16>
  %3 = bufferization.to_tensor %o restrict : memref<1x2x64x64xbf16> to tensor<1x2x64x64xbf16>
  %4 = bufferization.to_tensor %do restrict : memref<1x2x64x64xbf16> to tensor<1x2x64x64xbf16>
  %5 = bufferization.to_tensor %lse restrict : memref<1x2x64xf32> to tensor<1x2x64xf32>
  // expected-error @+1 {{expected attn-plan-gpu-backward and attn-tile-backward to have made a tiled program of the backward before convert-attn-backward-to-nvvm (the attn-to-ptx pipeline runs them)}}
  %gq, %gk, %gv = attn.attention_backward ins(%0, %1, %2, %3, %4, %5 : tensor<1x2x64x64xbf16>, tensor<1x1x64x64xbf16>, tensor<1x1x64x64xbf16>, tensor<1x2x64x64xbf16>, tensor<1x2x64x64xbf16>, tensor<1x2x64xf32>) -> tensor<1x2x64x64xbf16>, tensor<1x1x64x64xbf16>, tensor<1x1x64x64xbf16>
  bufferization.materialize_in_destination %gq in restrict writable %dq : (tensor<1x2x64x64xbf16>, memref<1x2x64x64xbf16>) -> ()
  bufferization.materialize_in_destination %gk in restrict writable %dk : (tensor<1x1x64x64xbf16>, memref<1x1x64x64xbf16>) -> ()
  bufferization.materialize_in_destination %gv in restrict writable %dv : (tensor<1x1x64x64xbf16>, memref<1x1x64x64xbf16>) -> ()
  return
}
