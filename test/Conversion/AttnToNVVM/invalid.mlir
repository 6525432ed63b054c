// RUN: attn-opt %s --split-input-file --verify-diagnostics --attn-gpu-kernels="tile-model="
// tile-model= (off): the errors are of later steps; the planning remark of
// tile-model=auto (attn-plan-gpu-kernels-tile-model-auto.mlir) would be noise.

func.func @f32(%q: memref<1x1x64x64xf32>, %o: memref<1x1x64x64xf32>) {
  %0 = bufferization.to_tensor %q restrict : memref<1x1x64x64xf32> to tensor<1x1x64x64xf32>
  // expected-error @+1 {{expected bf16 or f16 inputs on the GPU path, got 'f32' (f32-compute=bf16 or f16 runs it on rounded copies of Q, K and V, as accurate as a bf16 / f16 call; f32-compute=refuse, the default, does not round silently; or use the CPU path)}}
  %1 = attn.attention ins(%0, %0, %0 : tensor<1x1x64x64xf32>, tensor<1x1x64x64xf32>, tensor<1x1x64x64xf32>) -> tensor<1x1x64x64xf32>
  bufferization.materialize_in_destination %1 in restrict writable %o : (tensor<1x1x64x64xf32>, memref<1x1x64x64xf32>) -> ()
  return
}

// -----

// O stored into a strided memref that does not start at its first element.
func.func @output_offset(%q: memref<1x1x64x64xbf16>, %o: memref<1x1x64x64xbf16, strided<[4096, 4096, 64, 1], offset: 64>>) {
  %0 = bufferization.to_tensor %q restrict : memref<1x1x64x64xbf16> to tensor<1x1x64x64xbf16>
  // expected-error @+1 {{expected a zero offset in the memref of O on the GPU path (pass the pointer to its first element), got 'memref<1x1x64x64xbf16, strided<[4096, 4096, 64, 1], offset: 64>>'}}
  %1 = attn.attention ins(%0, %0, %0 : tensor<1x1x64x64xbf16>, tensor<1x1x64x64xbf16>, tensor<1x1x64x64xbf16>) -> tensor<1x1x64x64xbf16>
  bufferization.materialize_in_destination %1 in restrict writable %o : (tensor<1x1x64x64xbf16>, memref<1x1x64x64xbf16, strided<[4096, 4096, 64, 1], offset: 64>>) -> ()
  return
}

// -----

// K rows 72 elements apart (BSHD with one head of 64 and padding) are
// 16-byte aligned, but a batch stride of 4612 elements is not: every row
// start must be, for cp.async.
func.func @unaligned_rows(%q: memref<1x64x1x64xbf16>, %k: memref<1x64x1x64xbf16, strided<[4612, 72, 64, 1]>>, %o: memref<1x64x1x64xbf16>) {
  %0 = bufferization.to_tensor %q restrict : memref<1x64x1x64xbf16> to tensor<1x64x1x64xbf16>
  %2 = bufferization.to_tensor %k restrict : memref<1x64x1x64xbf16, strided<[4612, 72, 64, 1]>> to tensor<1x64x1x64xbf16>
  // expected-error @+1 {{expected the strides of K to be multiples of 8 elements on the GPU path (16-byte aligned rows), got [4612, 72, 64, 1]}}
  %1 = attn.attention ins(%0, %2, %2 : tensor<1x64x1x64xbf16>, tensor<1x64x1x64xbf16>, tensor<1x64x1x64xbf16>) {layout = #attn.layout<bshd>} -> tensor<1x64x1x64xbf16>
  bufferization.materialize_in_destination %1 in restrict writable %o : (tensor<1x64x1x64xbf16>, memref<1x64x1x64xbf16>) -> ()
  return
}

// -----

func.func @dynamic_strides(%q: memref<1x1x64x64xbf16, strided<[?, ?, 64, 1]>>, %o: memref<1x1x64x64xbf16>) {
  %0 = bufferization.to_tensor %q restrict : memref<1x1x64x64xbf16, strided<[?, ?, 64, 1]>> to tensor<1x1x64x64xbf16>
  // expected-error @+1 {{expected static strides for Q on the GPU path, got 'memref<1x1x64x64xbf16, strided<[?, ?, 64, 1]>>'}}
  %1 = attn.attention ins(%0, %0, %0 : tensor<1x1x64x64xbf16>, tensor<1x1x64x64xbf16>, tensor<1x1x64x64xbf16>) -> tensor<1x1x64x64xbf16>
  bufferization.materialize_in_destination %1 in restrict writable %o : (tensor<1x1x64x64xbf16>, memref<1x1x64x64xbf16>) -> ()
  return
}

// -----

// Pure tensor code has no memrefs to hand to a kernel.
func.func @tensors(%q: tensor<1x1x64x64xbf16>) -> tensor<1x1x64x64xbf16> {
  // expected-error @+1 {{expected Q, K and V to come from bufferization.to_tensor of memrefs}}
  %1 = attn.attention ins(%q, %q, %q : tensor<1x1x64x64xbf16>, tensor<1x1x64x64xbf16>, tensor<1x1x64x64xbf16>) -> tensor<1x1x64x64xbf16>
  return %1 : tensor<1x1x64x64xbf16>
}

// -----

// Runtime lengths (dynamic-lengths.mlir) need one B for the whole kernel.
func.func @dynamic(%q: memref<?x1x64x64xbf16>, %k: memref<1x1x64x64xbf16>, %o: memref<?x1x64x64xbf16>) {
  %0 = bufferization.to_tensor %q restrict : memref<?x1x64x64xbf16> to tensor<?x1x64x64xbf16>
  %1 = bufferization.to_tensor %k restrict : memref<1x1x64x64xbf16> to tensor<1x1x64x64xbf16>
  // expected-error @+1 {{expected B dynamic in Q, K, V and O alike on the GPU path}}
  %2 = attn.attention ins(%0, %1, %1 : tensor<?x1x64x64xbf16>, tensor<1x1x64x64xbf16>, tensor<1x1x64x64xbf16>) -> tensor<?x1x64x64xbf16>
  bufferization.materialize_in_destination %2 in restrict writable %o : (tensor<?x1x64x64xbf16>, memref<?x1x64x64xbf16>) -> ()
  return
}

// -----

// Both kernels read per-sequence key lengths (prefill-kv.mlir), from a
// memref like every other kernel argument; a tensor from elsewhere has no
// buffer to pass.
func.func @key_lengths(%q: memref<2x1x64x64xbf16>, %lens: tensor<2xi32>, %o: memref<2x1x64x64xbf16>) {
  %0 = bufferization.to_tensor %q restrict : memref<2x1x64x64xbf16> to tensor<2x1x64x64xbf16>
  // expected-error @+1 {{expected key_lengths to come from bufferization.to_tensor of memrefs on the GPU path (destination-passing form)}}
  %1 = attn.attention ins(%0, %0, %0 : tensor<2x1x64x64xbf16>, tensor<2x1x64x64xbf16>, tensor<2x1x64x64xbf16>) key_lengths(%lens : tensor<2xi32>) -> tensor<2x1x64x64xbf16>
  bufferization.materialize_in_destination %1 in restrict writable %o : (tensor<2x1x64x64xbf16>, memref<2x1x64x64xbf16>) -> ()
  return
}

// -----

// The kernel is isolated from the host: a mask_mod reading a value from
// above (a function argument) cannot be cloned into it.
func.func @mask_mod_captures(%q: memref<1x1x64x64xbf16>, %n: index, %o: memref<1x1x64x64xbf16>) {
  %0 = bufferization.to_tensor %q restrict : memref<1x1x64x64xbf16> to tensor<1x1x64x64xbf16>
  // expected-error @+1 {{expected mask_mod to use no value defined above it on the GPU path}}
  %1 = attn.attention ins(%0, %0, %0 : tensor<1x1x64x64xbf16>, tensor<1x1x64x64xbf16>, tensor<1x1x64x64xbf16>) -> tensor<1x1x64x64xbf16>
  mask_mod {
  ^bb0(%b: index, %h: index, %i: index, %j: index):
    %keep = arith.cmpi slt, %j, %n : index
    attn.yield %keep : i1
  }
  bufferization.materialize_in_destination %1 in restrict writable %o : (tensor<1x1x64x64xbf16>, memref<1x1x64x64xbf16>) -> ()
  return
}

// -----

// A score_mod that reads a host tensor cannot be cloned into the kernel.
func.func @score_mod_table(%q: memref<1x2x64x64xbf16>, %table: tensor<2xf32>, %o: memref<1x2x64x64xbf16>) {
  %0 = bufferization.to_tensor %q restrict : memref<1x2x64x64xbf16> to tensor<1x2x64x64xbf16>
  // expected-error @+1 {{expected score_mod ops from the arith or math dialects on the GPU path, got tensor.extract}}
  %1 = attn.attention ins(%0, %0, %0 : tensor<1x2x64x64xbf16>, tensor<1x2x64x64xbf16>, tensor<1x2x64x64xbf16>) -> tensor<1x2x64x64xbf16>
  score_mod {
  ^bb0(%s: f32, %b: index, %h: index, %i: index, %j: index):
    %t = tensor.extract %table[%h] : tensor<2xf32>
    %r = arith.addf %s, %t : f32
    attn.yield %r : f32
  }
  bufferization.materialize_in_destination %1 in restrict writable %o : (tensor<1x2x64x64xbf16>, memref<1x2x64x64xbf16>) -> ()
  return
}

// -----

// Nor can one that uses a value defined on the host.
func.func @score_mod_capture(%q: memref<1x1x64x64xbf16>, %c: f32, %o: memref<1x1x64x64xbf16>) {
  %0 = bufferization.to_tensor %q restrict : memref<1x1x64x64xbf16> to tensor<1x1x64x64xbf16>
  // expected-error @+1 {{expected score_mod to use no value defined above it on the GPU path}}
  %1 = attn.attention ins(%0, %0, %0 : tensor<1x1x64x64xbf16>, tensor<1x1x64x64xbf16>, tensor<1x1x64x64xbf16>) -> tensor<1x1x64x64xbf16>
  score_mod {
  ^bb0(%s: f32, %b: index, %h: index, %i: index, %j: index):
    %r = arith.addf %s, %c : f32
    attn.yield %r : f32
  }
  bufferization.materialize_in_destination %1 in restrict writable %o : (tensor<1x1x64x64xbf16>, memref<1x1x64x64xbf16>) -> ()
  return
}

// -----

// A fused append on the prefill kernel (32 rows per KV group): refused, its
// rows come from two buffers.
func.func @append_prefill(%q: memref<1x4x8x64xbf16>, %new: memref<1x1x8x64xbf16>, %cache: memref<1x1x128x64xbf16>, %pos: memref<1xi32>, %o: memref<1x4x8x64xbf16>) {
  %q0 = bufferization.to_tensor %q restrict : memref<1x4x8x64xbf16> to tensor<1x4x8x64xbf16>
  %n0 = bufferization.to_tensor %new restrict : memref<1x1x8x64xbf16> to tensor<1x1x8x64xbf16>
  %c0 = bufferization.to_tensor %cache restrict : memref<1x1x128x64xbf16> to tensor<1x1x128x64xbf16>
  %p0 = bufferization.to_tensor %pos restrict : memref<1xi32> to tensor<1xi32>
  %k = attn.kv_append %n0 into %c0 at %p0 : tensor<1x1x8x64xbf16> into tensor<1x1x128x64xbf16> at tensor<1xi32> -> tensor<1x1x128x64xbf16>
  // expected-error @+1 {{expected K/V views whose rows come from one buffer on the prefill kernel, got attn.kv_append (the decode kernel, Hq / Hkv * Lq <= 16, reads it)}}
  %out = attn.attention ins(%q0, %k, %k : tensor<1x4x8x64xbf16>, tensor<1x1x128x64xbf16>, tensor<1x1x128x64xbf16>) -> tensor<1x4x8x64xbf16>
  bufferization.materialize_in_destination %out in restrict writable %o : (tensor<1x4x8x64xbf16>, memref<1x4x8x64xbf16>) -> ()
  return
}
