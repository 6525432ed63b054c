// RUN: attn-opt %s --split-input-file --verify-diagnostics --attn-plan-gpu-backward

// The varlen backwards the GPU planner refuses (readVarlenBackward), each
// naming what it needs: the grids count the sequences (N static). (The
// op's ODS types take i32 offsets only; ALiBi's per-sequence distance is
// the kernels' own, attn-compile-varlen.mlir GPUBWDALIBI.)

// N + 1 offsets of a runtime extent: the main and dQ grids add one CTA per
// sequence, so N must be known when the grid is.
func.func @dynamic_sequences(%q: memref<1x10x4x64xbf16>, %k: memref<1x12x2x64xbf16>, %v: memref<1x12x2x64xbf16>, %o: memref<1x10x4x64xbf16>, %do: memref<1x10x4x64xbf16>, %lse: memref<1x4x10xf32>, %cq: memref<?xi32>, %ck: memref<?xi32>,
    %dq: memref<1x10x4x64xbf16>, %dk: memref<1x12x2x64xbf16>, %dv: memref<1x12x2x64xbf16>) {
  %0 = bufferization.to_tensor %q restrict : memref<1x10x4x64xbf16> to tensor<1x10x4x64xbf16>
  %1 = bufferization.to_tensor %k restrict : memref<1x12x2x64xbf16> to tensor<1x12x2x64xbf16>
  %2 = bufferization.to_tensor %v restrict : memref<1x12x2x64xbf16> to tensor<1x12x2x64xbf16>
  %3 = bufferization.to_tensor %o restrict : memref<1x10x4x64xbf16> to tensor<1x10x4x64xbf16>
  %4 = bufferization.to_tensor %do restrict : memref<1x10x4x64xbf16> to tensor<1x10x4x64xbf16>
  %5 = bufferization.to_tensor %lse restrict : memref<1x4x10xf32> to tensor<1x4x10xf32>
  %6 = bufferization.to_tensor %cq restrict : memref<?xi32> to tensor<?xi32>
  %7 = bufferization.to_tensor %ck restrict : memref<?xi32> to tensor<?xi32>
  // expected-error @+1 {{expected static cu_seqlens of N + 1 >= 2 entries on the GPU backward (its grids count the sequences), got 'tensor<?xi32>'}}
  %gq, %gk, %gv = attn.attention_backward
      ins(%0, %1, %2, %3, %4, %5 : tensor<1x10x4x64xbf16>, tensor<1x12x2x64xbf16>, tensor<1x12x2x64xbf16>, tensor<1x10x4x64xbf16>, tensor<1x10x4x64xbf16>, tensor<1x4x10xf32>)
      cu_seqlens_q(%6 : tensor<?xi32>) cu_seqlens_k(%7 : tensor<?xi32>)
      {layout = #attn.layout<bshd>, mask_kind = #attn.mask<causal_bottom_right>}
      -> tensor<1x10x4x64xbf16>, tensor<1x12x2x64xbf16>, tensor<1x12x2x64xbf16>
  bufferization.materialize_in_destination %gq in restrict writable %dq : (tensor<1x10x4x64xbf16>, memref<1x10x4x64xbf16>) -> ()
  bufferization.materialize_in_destination %gk in restrict writable %dk : (tensor<1x12x2x64xbf16>, memref<1x12x2x64xbf16>) -> ()
  bufferization.materialize_in_destination %gv in restrict writable %dv : (tensor<1x12x2x64xbf16>, memref<1x12x2x64xbf16>) -> ()
  return
}

