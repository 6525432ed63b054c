// RUN: attn-opt %s --split-input-file --verify-diagnostics --attn-round-f32-inputs
// RUN: not attn-opt %s --split-input-file --attn-round-f32-inputs=to=f32 2>&1 | FileCheck %s --check-prefix=TO

// TO: error: attn-round-f32-inputs: expected to=bf16 or f16, got 'f32'

// Its bf16 copy is dense, so the f32 tensor must be too (a strided view
// would need the conversion kernel to follow its strides).
func.func @strided(%q: memref<1x1x64x64xf32, strided<[8192, 8192, 128, 1]>>, %o: memref<1x1x64x64xf32>) {
  %0 = bufferization.to_tensor %q restrict : memref<1x1x64x64xf32, strided<[8192, 8192, 128, 1]>> to tensor<1x1x64x64xf32>
  // expected-error @+1 {{attn-round-f32-inputs: expected static, identity-layout memrefs for the f32 Q (its bf16 copy is a dense workspace), got 'memref<1x1x64x64xf32, strided<[8192, 8192, 128, 1]>>'}}
  %1 = attn.attention ins(%0, %0, %0 : tensor<1x1x64x64xf32>, tensor<1x1x64x64xf32>, tensor<1x1x64x64xf32>) -> tensor<1x1x64x64xf32>
  bufferization.materialize_in_destination %1 in restrict writable %o : (tensor<1x1x64x64xf32>, memref<1x1x64x64xf32>) -> ()
  return
}

// -----

func.func @dynamic(%q: memref<1x1x?x64xf32>, %o: memref<1x1x?x64xf32>) {
  %0 = bufferization.to_tensor %q restrict : memref<1x1x?x64xf32> to tensor<1x1x?x64xf32>
  // expected-error @+1 {{attn-round-f32-inputs: expected static, identity-layout memrefs for the f32 Q (its bf16 copy is a dense workspace), got 'memref<1x1x?x64xf32>'}}
  %1 = attn.attention ins(%0, %0, %0 : tensor<1x1x?x64xf32>, tensor<1x1x?x64xf32>, tensor<1x1x?x64xf32>) -> tensor<1x1x?x64xf32>
  bufferization.materialize_in_destination %1 in restrict writable %o : (tensor<1x1x?x64xf32>, memref<1x1x?x64xf32>) -> ()
  return
}

// -----

// O stored into a strided view of the caller's buffer.
func.func @strided_output(%q: memref<1x1x64x64xf32>, %o: memref<1x1x64x64xf32, strided<[8192, 8192, 128, 1]>>) {
  %0 = bufferization.to_tensor %q restrict : memref<1x1x64x64xf32> to tensor<1x1x64x64xf32>
  // expected-error @+1 {{attn-round-f32-inputs: expected O to be stored with bufferization.materialize_in_destination into a static, identity-layout memref}}
  %1 = attn.attention ins(%0, %0, %0 : tensor<1x1x64x64xf32>, tensor<1x1x64x64xf32>, tensor<1x1x64x64xf32>) -> tensor<1x1x64x64xf32>
  bufferization.materialize_in_destination %1 in restrict writable %o : (tensor<1x1x64x64xf32>, memref<1x1x64x64xf32, strided<[8192, 8192, 128, 1]>>) -> ()
  return
}

// -----

// Q from a computation, not from a host memref.
func.func @computed(%q: memref<1x1x64x64xf32>, %o: memref<1x1x64x64xf32>) {
  %0 = bufferization.to_tensor %q restrict : memref<1x1x64x64xf32> to tensor<1x1x64x64xf32>
  %1 = arith.addf %0, %0 : tensor<1x1x64x64xf32>
  // expected-error @+1 {{attn-round-f32-inputs: expected Q to be bufferization.to_tensor of a memref (KV cache views over f32 storage are not rounded)}}
  %2 = attn.attention ins(%1, %0, %0 : tensor<1x1x64x64xf32>, tensor<1x1x64x64xf32>, tensor<1x1x64x64xf32>) -> tensor<1x1x64x64xf32>
  bufferization.materialize_in_destination %2 in restrict writable %o : (tensor<1x1x64x64xf32>, memref<1x1x64x64xf32>) -> ()
  return
}
