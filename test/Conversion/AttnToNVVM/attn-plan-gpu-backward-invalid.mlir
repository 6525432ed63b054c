// RUN: attn-opt %s --split-input-file --verify-diagnostics --attn-plan-gpu-backward

// The head dims the GPU backward refuses, each with the limit it names
// (getBackwardProblem, getBackwardBlockMLimit).

// D = Dv = 192: 192 + 32 + 48 = 272 registers even with 32-query steps.
func.func @d192(%q: memref<1x2x128x192xbf16>, %k: memref<1x2x128x192xbf16>, %v: memref<1x2x128x192xbf16>, %o: memref<1x2x128x192xbf16>,
    %do: memref<1x2x128x192xbf16>, %lse: memref<1x2x128xf32>, %dq: memref<1x2x128x192xbf16>, %dk: memref<1x2x128x192xbf16>, %dv: memref<1x2x128x192xbf16>) {
  %0 = bufferization.to_tensor %q restrict : memref<1x2x128x192xbf16> to tensor<1x2x128x192xbf16>
  %1 = bufferization.to_tensor %k restrict : memref<1x2x128x192xbf16> to tensor<1x2x128x192xbf16>
  %2 = bufferization.to_tensor %v restrict : memref<1x2x128x192xbf16> to tensor<1x2x128x192xbf16>
  %3 = bufferization.to_tensor %o restrict : memref<1x2x128x192xbf16> to tensor<1x2x128x192xbf16>
  %4 = bufferization.to_tensor %do restrict : memref<1x2x128x192xbf16> to tensor<1x2x128x192xbf16>
  %5 = bufferization.to_tensor %lse restrict : memref<1x2x128xf32> to tensor<1x2x128xf32>
  // expected-error @+1 {{expected D + Dv small enough for the GPU backward's registers: the main kernel keeps dK and dV of 16 keys per warp, (D + Dv) / 2 = 192 f32 per thread, ~272 registers with 32-query steps > 255 (D = 192, Dv = 192)}}
  %gq, %gk, %gv = attn.attention_backward
      ins(%0, %1, %2, %3, %4, %5 : tensor<1x2x128x192xbf16>, tensor<1x2x128x192xbf16>, tensor<1x2x128x192xbf16>, tensor<1x2x128x192xbf16>, tensor<1x2x128x192xbf16>, tensor<1x2x128xf32>)
      {mask_kind = #attn.mask<causal_bottom_right>}
      -> tensor<1x2x128x192xbf16>, tensor<1x2x128x192xbf16>, tensor<1x2x128x192xbf16>
  bufferization.materialize_in_destination %gq in restrict writable %dq : (tensor<1x2x128x192xbf16>, memref<1x2x128x192xbf16>) -> ()
  bufferization.materialize_in_destination %gk in restrict writable %dk : (tensor<1x2x128x192xbf16>, memref<1x2x128x192xbf16>) -> ()
  bufferization.materialize_in_destination %gv in restrict writable %dv : (tensor<1x2x128x192xbf16>, memref<1x2x128x192xbf16>) -> ()
  return
}

// -----

// D = Dv = 256 (FlashAttention-2 splits dK, dV over more warps; this
// design keeps 16 keys x D per warp).
func.func @d256(%q: memref<1x2x128x256xbf16>, %k: memref<1x2x128x256xbf16>, %v: memref<1x2x128x256xbf16>, %o: memref<1x2x128x256xbf16>,
    %do: memref<1x2x128x256xbf16>, %lse: memref<1x2x128xf32>, %dq: memref<1x2x128x256xbf16>, %dk: memref<1x2x128x256xbf16>, %dv: memref<1x2x128x256xbf16>) {
  %0 = bufferization.to_tensor %q restrict : memref<1x2x128x256xbf16> to tensor<1x2x128x256xbf16>
  %1 = bufferization.to_tensor %k restrict : memref<1x2x128x256xbf16> to tensor<1x2x128x256xbf16>
  %2 = bufferization.to_tensor %v restrict : memref<1x2x128x256xbf16> to tensor<1x2x128x256xbf16>
  %3 = bufferization.to_tensor %o restrict : memref<1x2x128x256xbf16> to tensor<1x2x128x256xbf16>
  %4 = bufferization.to_tensor %do restrict : memref<1x2x128x256xbf16> to tensor<1x2x128x256xbf16>
  %5 = bufferization.to_tensor %lse restrict : memref<1x2x128xf32> to tensor<1x2x128xf32>
  // expected-error @+1 {{expected D + Dv small enough for the GPU backward's registers: the main kernel keeps dK and dV of 16 keys per warp, (D + Dv) / 2 = 256 f32 per thread, ~336 registers with 32-query steps > 255 (D = 256, Dv = 256)}}
  %gq, %gk, %gv = attn.attention_backward
      ins(%0, %1, %2, %3, %4, %5 : tensor<1x2x128x256xbf16>, tensor<1x2x128x256xbf16>, tensor<1x2x128x256xbf16>, tensor<1x2x128x256xbf16>, tensor<1x2x128x256xbf16>, tensor<1x2x128xf32>)
      {mask_kind = #attn.mask<causal_bottom_right>}
      -> tensor<1x2x128x256xbf16>, tensor<1x2x128x256xbf16>, tensor<1x2x128x256xbf16>
  bufferization.materialize_in_destination %gq in restrict writable %dq : (tensor<1x2x128x256xbf16>, memref<1x2x128x256xbf16>) -> ()
  bufferization.materialize_in_destination %gk in restrict writable %dk : (tensor<1x2x128x256xbf16>, memref<1x2x128x256xbf16>) -> ()
  bufferization.materialize_in_destination %gv in restrict writable %dv : (tensor<1x2x128x256xbf16>, memref<1x2x128x256xbf16>) -> ()
  return
}

// -----

// D = Dv = 176: 176 + 32 + 48 = 256 registers, one past the budget
// (D + Dv <= 350 fit).
func.func @d176(%q: memref<1x2x128x176xbf16>, %k: memref<1x2x128x176xbf16>, %v: memref<1x2x128x176xbf16>, %o: memref<1x2x128x176xbf16>,
    %do: memref<1x2x128x176xbf16>, %lse: memref<1x2x128xf32>, %dq: memref<1x2x128x176xbf16>, %dk: memref<1x2x128x176xbf16>, %dv: memref<1x2x128x176xbf16>) {
  %0 = bufferization.to_tensor %q restrict : memref<1x2x128x176xbf16> to tensor<1x2x128x176xbf16>
  %1 = bufferization.to_tensor %k restrict : memref<1x2x128x176xbf16> to tensor<1x2x128x176xbf16>
  %2 = bufferization.to_tensor %v restrict : memref<1x2x128x176xbf16> to tensor<1x2x128x176xbf16>
  %3 = bufferization.to_tensor %o restrict : memref<1x2x128x176xbf16> to tensor<1x2x128x176xbf16>
  %4 = bufferization.to_tensor %do restrict : memref<1x2x128x176xbf16> to tensor<1x2x128x176xbf16>
  %5 = bufferization.to_tensor %lse restrict : memref<1x2x128xf32> to tensor<1x2x128xf32>
  // expected-error @+1 {{expected D + Dv small enough for the GPU backward's registers: the main kernel keeps dK and dV of 16 keys per warp, (D + Dv) / 2 = 176 f32 per thread, ~256 registers with 32-query steps > 255 (D = 176, Dv = 176)}}
  %gq, %gk, %gv = attn.attention_backward
      ins(%0, %1, %2, %3, %4, %5 : tensor<1x2x128x176xbf16>, tensor<1x2x128x176xbf16>, tensor<1x2x128x176xbf16>, tensor<1x2x128x176xbf16>, tensor<1x2x128x176xbf16>, tensor<1x2x128xf32>)
      {mask_kind = #attn.mask<causal_bottom_right>}
      -> tensor<1x2x128x176xbf16>, tensor<1x2x128x176xbf16>, tensor<1x2x128x176xbf16>
  bufferization.materialize_in_destination %gq in restrict writable %dq : (tensor<1x2x128x176xbf16>, memref<1x2x128x176xbf16>) -> ()
  bufferization.materialize_in_destination %gk in restrict writable %dk : (tensor<1x2x128x176xbf16>, memref<1x2x128x176xbf16>) -> ()
  bufferization.materialize_in_destination %gv in restrict writable %dv : (tensor<1x2x128x176xbf16>, memref<1x2x128x176xbf16>) -> ()
  return
}

// -----

// Not a multiple of 16.
func.func @d40(%q: memref<1x2x128x40xbf16>, %k: memref<1x2x128x40xbf16>, %v: memref<1x2x128x40xbf16>, %o: memref<1x2x128x40xbf16>,
    %do: memref<1x2x128x40xbf16>, %lse: memref<1x2x128xf32>, %dq: memref<1x2x128x40xbf16>, %dk: memref<1x2x128x40xbf16>, %dv: memref<1x2x128x40xbf16>) {
  %0 = bufferization.to_tensor %q restrict : memref<1x2x128x40xbf16> to tensor<1x2x128x40xbf16>
  %1 = bufferization.to_tensor %k restrict : memref<1x2x128x40xbf16> to tensor<1x2x128x40xbf16>
  %2 = bufferization.to_tensor %v restrict : memref<1x2x128x40xbf16> to tensor<1x2x128x40xbf16>
  %3 = bufferization.to_tensor %o restrict : memref<1x2x128x40xbf16> to tensor<1x2x128x40xbf16>
  %4 = bufferization.to_tensor %do restrict : memref<1x2x128x40xbf16> to tensor<1x2x128x40xbf16>
  %5 = bufferization.to_tensor %lse restrict : memref<1x2x128xf32> to tensor<1x2x128xf32>
  // expected-error @+1 {{expected a head dim that is a multiple of 16 in [32, 256] on the GPU backward, got 40}}
  %gq, %gk, %gv = attn.attention_backward
      ins(%0, %1, %2, %3, %4, %5 : tensor<1x2x128x40xbf16>, tensor<1x2x128x40xbf16>, tensor<1x2x128x40xbf16>, tensor<1x2x128x40xbf16>, tensor<1x2x128x40xbf16>, tensor<1x2x128xf32>)
      {mask_kind = #attn.mask<causal_bottom_right>}
      -> tensor<1x2x128x40xbf16>, tensor<1x2x128x40xbf16>, tensor<1x2x128x40xbf16>
  bufferization.materialize_in_destination %gq in restrict writable %dq : (tensor<1x2x128x40xbf16>, memref<1x2x128x40xbf16>) -> ()
  bufferization.materialize_in_destination %gk in restrict writable %dk : (tensor<1x2x128x40xbf16>, memref<1x2x128x40xbf16>) -> ()
  bufferization.materialize_in_destination %gv in restrict writable %dv : (tensor<1x2x128x40xbf16>, memref<1x2x128x40xbf16>) -> ()
  return
}

// -----

// Dv past 256.
func.func @dv272(%q: memref<1x2x128x64xbf16>, %k: memref<1x2x128x64xbf16>, %v: memref<1x2x128x272xbf16>, %o: memref<1x2x128x272xbf16>,
    %do: memref<1x2x128x272xbf16>, %lse: memref<1x2x128xf32>, %dq: memref<1x2x128x64xbf16>, %dk: memref<1x2x128x64xbf16>, %dv: memref<1x2x128x272xbf16>) {
  %0 = bufferization.to_tensor %q restrict : memref<1x2x128x64xbf16> to tensor<1x2x128x64xbf16>
  %1 = bufferization.to_tensor %k restrict : memref<1x2x128x64xbf16> to tensor<1x2x128x64xbf16>
  %2 = bufferization.to_tensor %v restrict : memref<1x2x128x272xbf16> to tensor<1x2x128x272xbf16>
  %3 = bufferization.to_tensor %o restrict : memref<1x2x128x272xbf16> to tensor<1x2x128x272xbf16>
  %4 = bufferization.to_tensor %do restrict : memref<1x2x128x272xbf16> to tensor<1x2x128x272xbf16>
  %5 = bufferization.to_tensor %lse restrict : memref<1x2x128xf32> to tensor<1x2x128xf32>
  // expected-error @+1 {{expected a value head dim that is a multiple of 16 in [32, 256] on the GPU backward, got 272}}
  %gq, %gk, %gv = attn.attention_backward
      ins(%0, %1, %2, %3, %4, %5 : tensor<1x2x128x64xbf16>, tensor<1x2x128x64xbf16>, tensor<1x2x128x272xbf16>, tensor<1x2x128x272xbf16>, tensor<1x2x128x272xbf16>, tensor<1x2x128xf32>)
      {mask_kind = #attn.mask<causal_bottom_right>}
      -> tensor<1x2x128x64xbf16>, tensor<1x2x128x64xbf16>, tensor<1x2x128x272xbf16>
  bufferization.materialize_in_destination %gq in restrict writable %dq : (tensor<1x2x128x64xbf16>, memref<1x2x128x64xbf16>) -> ()
  bufferization.materialize_in_destination %gk in restrict writable %dk : (tensor<1x2x128x64xbf16>, memref<1x2x128x64xbf16>) -> ()
  bufferization.materialize_in_destination %gv in restrict writable %dv : (tensor<1x2x128x272xbf16>, memref<1x2x128x272xbf16>) -> ()
  return
}
