// RUN: attn-opt %s --split-input-file --verify-diagnostics --attn-gpu-kernels
// RUN: attn-opt %s --split-input-file --verify-diagnostics --attn-gpu-kernels=kernel=decode

// What checkGpuLowering refuses at the op before any kernel is planned
// (issue #20).

// The kernel is named after its function (`<name>_kernel`); `-` and `:` made
// the NVPTX backend abort ("Symbol name with unsupported characters").
func.func @"bad-name"(%q: memref<1x1x64x64xbf16>, %o: memref<1x1x64x64xbf16>) {
  %0 = bufferization.to_tensor %q restrict : memref<1x1x64x64xbf16> to tensor<1x1x64x64xbf16>
  // expected-error @+1 {{expected the enclosing function's name to be a PTX identifier ([A-Za-z_$][A-Za-z0-9_$]*) since the kernel is named after it, got 'bad-name'}}
  %1 = attn.attention ins(%0, %0, %0 : tensor<1x1x64x64xbf16>, tensor<1x1x64x64xbf16>, tensor<1x1x64x64xbf16>) -> tensor<1x1x64x64xbf16>
  bufferization.materialize_in_destination %1 in restrict writable %o : (tensor<1x1x64x64xbf16>, memref<1x1x64x64xbf16>) -> ()
  return
}

// -----

func.func @"ns::attention"(%q: memref<1x1x64x64xbf16>, %o: memref<1x1x64x64xbf16>) {
  %0 = bufferization.to_tensor %q restrict : memref<1x1x64x64xbf16> to tensor<1x1x64x64xbf16>
  // expected-error @+1 {{expected the enclosing function's name to be a PTX identifier}}
  %1 = attn.attention ins(%0, %0, %0 : tensor<1x1x64x64xbf16>, tensor<1x1x64x64xbf16>, tensor<1x1x64x64xbf16>) -> tensor<1x1x64x64xbf16>
  bufferization.materialize_in_destination %1 in restrict writable %o : (tensor<1x1x64x64xbf16>, memref<1x1x64x64xbf16>) -> ()
  return
}

// -----

// Lq = INT64_MAX: B * Hq * Lq * D * 2 overflowed the 1 TiB guard and the
// decode heuristic (signed overflow). Sizes are now multiplied with overflow
// checks first: 64 * 2 bytes per row times 2^63 - 1 rows does not fit.
func.func @huge_query(%q: memref<1x1x9223372036854775807x64xbf16>, %k: memref<1x1x64x64xbf16>, %o: memref<1x1x9223372036854775807x64xbf16>) {
  %0 = bufferization.to_tensor %q restrict : memref<1x1x9223372036854775807x64xbf16> to tensor<1x1x9223372036854775807x64xbf16>
  %1 = bufferization.to_tensor %k restrict : memref<1x1x64x64xbf16> to tensor<1x1x64x64xbf16>
  // expected-error @+1 {{expected every GPU operand under 1 TiB (2^40 bytes) so that kernel index math cannot overflow, got operand #0 of type 'tensor<1x1x9223372036854775807x64xbf16>'}}
  %2 = attn.attention ins(%0, %1, %1 : tensor<1x1x9223372036854775807x64xbf16>, tensor<1x1x64x64xbf16>, tensor<1x1x64x64xbf16>) -> tensor<1x1x9223372036854775807x64xbf16>
  bufferization.materialize_in_destination %2 in restrict writable %o : (tensor<1x1x9223372036854775807x64xbf16>, memref<1x1x9223372036854775807x64xbf16>) -> ()
  return
}

// -----

// Exactly 1 TiB of keys (2^33 rows of 64 bf16): the limit is exclusive.
func.func @one_tib_keys(%q: memref<1x1x1x64xbf16>, %k: memref<1x1x8589934592x64xbf16>, %o: memref<1x1x1x64xbf16>) {
  %0 = bufferization.to_tensor %q restrict : memref<1x1x1x64xbf16> to tensor<1x1x1x64xbf16>
  %1 = bufferization.to_tensor %k restrict : memref<1x1x8589934592x64xbf16> to tensor<1x1x8589934592x64xbf16>
  // expected-error @+1 {{got operand #1 of type 'tensor<1x1x8589934592x64xbf16>'}}
  %2 = attn.attention ins(%0, %1, %1 : tensor<1x1x1x64xbf16>, tensor<1x1x8589934592x64xbf16>, tensor<1x1x8589934592x64xbf16>) -> tensor<1x1x1x64xbf16>
  bufferization.materialize_in_destination %2 in restrict writable %o : (tensor<1x1x1x64xbf16>, memref<1x1x1x64xbf16>) -> ()
  return
}
