// RUN: attn-opt %s --split-input-file --verify-diagnostics --attn-gpu-kernels="kernel=decode tile-model="
// RUN: not attn-opt %s --split-input-file --attn-gpu-kernels="decode-keys-per-warp=8" 2>&1 | FileCheck %s --check-prefix=KEYS
// RUN: not attn-opt %s --split-input-file --attn-gpu-kernels="kernel=split" 2>&1 | FileCheck %s --check-prefix=KIND
// tile-model= (off): the errors are of later steps; the planning remark of
// tile-model=auto (attn-plan-gpu-kernels-tile-model-auto.mlir) would be noise.

// KEYS: expected decode-keys-per-warp of 16 or 32, got 8
// KIND: expected kernel of auto, prefill, decode or hopper, got 'split'

// 32 query heads per KV head do not fit the decode kernel's 16 rows.
func.func @too_many_rows(%q: memref<1x32x1x64xbf16>, %k: memref<1x1x256x64xbf16>, %o: memref<1x32x1x64xbf16>) {
  %q0 = bufferization.to_tensor %q restrict : memref<1x32x1x64xbf16> to tensor<1x32x1x64xbf16>
  %k0 = bufferization.to_tensor %k restrict : memref<1x1x256x64xbf16> to tensor<1x1x256x64xbf16>
  // expected-error @+1 {{expected the query rows of a KV group (Hq / Hkv * Lq = 32) to fit 16 in the decode kernel}}
  %out = attn.attention ins(%q0, %k0, %k0 : tensor<1x32x1x64xbf16>, tensor<1x1x256x64xbf16>, tensor<1x1x256x64xbf16>) -> tensor<1x32x1x64xbf16>
  bufferization.materialize_in_destination %out in restrict writable %o : (tensor<1x32x1x64xbf16>, memref<1x32x1x64xbf16>) -> ()
  return
}

// -----

// A valid decode op (for the option checks of the RUN lines above).
func.func @valid(%q: memref<1x4x1x64xbf16>, %k: memref<1x1x256x64xbf16>, %o: memref<1x4x1x64xbf16>) {
  %q0 = bufferization.to_tensor %q restrict : memref<1x4x1x64xbf16> to tensor<1x4x1x64xbf16>
  %k0 = bufferization.to_tensor %k restrict : memref<1x1x256x64xbf16> to tensor<1x1x256x64xbf16>
  %out = attn.attention ins(%q0, %k0, %k0 : tensor<1x4x1x64xbf16>, tensor<1x1x256x64xbf16>, tensor<1x1x256x64xbf16>) -> tensor<1x4x1x64xbf16>
  bufferization.materialize_in_destination %out in restrict writable %o : (tensor<1x4x1x64xbf16>, memref<1x4x1x64xbf16>) -> ()
  return
}


// -----

// The appended cache stored somewhere else than its own memref: not a
// write-back the kernel can perform in place.
func.func @append_elsewhere(%q: memref<1x4x1x64xbf16>, %new: memref<1x1x1x64xbf16>, %cache: memref<1x1x128x64xbf16>, %pos: memref<1xi32>, %other: memref<1x1x128x64xbf16>, %o: memref<1x4x1x64xbf16>) {
  %q0 = bufferization.to_tensor %q restrict : memref<1x4x1x64xbf16> to tensor<1x4x1x64xbf16>
  %n0 = bufferization.to_tensor %new restrict : memref<1x1x1x64xbf16> to tensor<1x1x1x64xbf16>
  %c0 = bufferization.to_tensor %cache restrict : memref<1x1x128x64xbf16> to tensor<1x1x128x64xbf16>
  %p0 = bufferization.to_tensor %pos restrict : memref<1xi32> to tensor<1xi32>
  %k = attn.kv_append %n0 into %c0 at %p0 : tensor<1x1x1x64xbf16> into tensor<1x1x128x64xbf16> at tensor<1xi32> -> tensor<1x1x128x64xbf16>
  // expected-error @+1 {{expected the result of attn.kv_append to be used only by the attention and a store back into its own cache on the GPU path}}
  %out = attn.attention ins(%q0, %k, %k : tensor<1x4x1x64xbf16>, tensor<1x1x128x64xbf16>, tensor<1x1x128x64xbf16>) -> tensor<1x4x1x64xbf16>
  bufferization.materialize_in_destination %out in restrict writable %o : (tensor<1x4x1x64xbf16>, memref<1x4x1x64xbf16>) -> ()
  bufferization.materialize_in_destination %k in restrict writable %other : (tensor<1x1x128x64xbf16>, memref<1x1x128x64xbf16>) -> ()
  return
}
