// RUN: attn-opt %s --split-input-file --verify-diagnostics --attn-gpu-kernels="tile-model="
// RUN: not attn-opt %s --split-input-file --attn-gpu-kernels="block-n=128" 2>&1 | FileCheck %s --check-prefix=SMEM
// tile-model= (off): the errors are of later steps; the planning remark of
// tile-model=auto (attn-plan-gpu-kernels-tile-model-auto.mlir) would be noise.

// The mma.sync kernels take D and Dv that are multiples of 16 (whole k16
// steps and 16-byte chunks) in [32, 256] (head-dims.mlir); the rest is
// refused at the op, naming the supported set.
func.func @head_dim_24(%q: memref<1x1x64x24xbf16>, %o: memref<1x1x64x24xbf16>) {
  %0 = bufferization.to_tensor %q restrict : memref<1x1x64x24xbf16> to tensor<1x1x64x24xbf16>
  // expected-error @+1 {{expected head dims D and Dv that are multiples of 16 in [32, 256] on the GPU path, got D = 24, Dv = 24}}
  %1 = attn.attention ins(%0, %0, %0 : tensor<1x1x64x24xbf16>, tensor<1x1x64x24xbf16>, tensor<1x1x64x24xbf16>) -> tensor<1x1x64x24xbf16>
  bufferization.materialize_in_destination %1 in restrict writable %o : (tensor<1x1x64x24xbf16>, memref<1x1x64x24xbf16>) -> ()
  return
}

// -----

func.func @head_dim_272(%q: memref<1x1x64x272xbf16>, %o: memref<1x1x64x272xbf16>) {
  %0 = bufferization.to_tensor %q restrict : memref<1x1x64x272xbf16> to tensor<1x1x64x272xbf16>
  // expected-error @+1 {{expected head dims D and Dv that are multiples of 16 in [32, 256] on the GPU path, got D = 272, Dv = 272}}
  %1 = attn.attention ins(%0, %0, %0 : tensor<1x1x64x272xbf16>, tensor<1x1x64x272xbf16>, tensor<1x1x64x272xbf16>) -> tensor<1x1x64x272xbf16>
  bufferization.materialize_in_destination %1 in restrict writable %o : (tensor<1x1x64x272xbf16>, memref<1x1x64x272xbf16>) -> ()
  return
}

// -----

// D = 16 has one k16 step, but below 32 no kernel is planned.
func.func @head_dim_16(%q: memref<1x1x64x16xbf16>, %o: memref<1x1x64x16xbf16>) {
  %0 = bufferization.to_tensor %q restrict : memref<1x1x64x16xbf16> to tensor<1x1x64x16xbf16>
  // expected-error @+1 {{expected head dims D and Dv that are multiples of 16 in [32, 256] on the GPU path, got D = 16, Dv = 16}}
  %1 = attn.attention ins(%0, %0, %0 : tensor<1x1x64x16xbf16>, tensor<1x1x64x16xbf16>, tensor<1x1x64x16xbf16>) -> tensor<1x1x64x16xbf16>
  bufferization.materialize_in_destination %1 in restrict writable %o : (tensor<1x1x64x16xbf16>, memref<1x1x64x16xbf16>) -> ()
  return
}

// -----

// Dv is checked like D: 40 columns of V are 5 chunks, no n16 step of P V.
func.func @value_head_dim_40(%q: memref<1x1x64x64xbf16>, %v: memref<1x1x64x40xbf16>, %o: memref<1x1x64x40xbf16>) {
  %0 = bufferization.to_tensor %q restrict : memref<1x1x64x64xbf16> to tensor<1x1x64x64xbf16>
  %1 = bufferization.to_tensor %v restrict : memref<1x1x64x40xbf16> to tensor<1x1x64x40xbf16>
  // expected-error @+1 {{expected head dims D and Dv that are multiples of 16 in [32, 256] on the GPU path, got D = 64, Dv = 40}}
  %2 = attn.attention ins(%0, %0, %1 : tensor<1x1x64x64xbf16>, tensor<1x1x64x64xbf16>, tensor<1x1x64x40xbf16>) -> tensor<1x1x64x40xbf16>
  bufferization.materialize_in_destination %2 in restrict writable %o : (tensor<1x1x64x40xbf16>, memref<1x1x64x40xbf16>) -> ()
  return
}

// -----

// D = 256 with block-n = 128 (second RUN line): Q (64 rows, block-m capped
// at 16 rows per warp) plus two stages of 128-row K and V tiles of 512-byte
// rows, 64 * 512 + 4 * 128 * 512 = 294912 bytes, exceed 227 KiB. The default
// block-n (64) fits: 163840 bytes.
// SMEM: expected the prefill kernel's shared memory (294912 bytes for D = 256, Dv = 256, block-m 64, block-n 128) to fit 227 KiB; use a smaller block-n or block-m
func.func @prefill_d256(%q: memref<1x1x64x256xbf16>, %o: memref<1x1x64x256xbf16>) {
  %0 = bufferization.to_tensor %q restrict : memref<1x1x64x256xbf16> to tensor<1x1x64x256xbf16>
  %1 = attn.attention ins(%0, %0, %0 : tensor<1x1x64x256xbf16>, tensor<1x1x64x256xbf16>, tensor<1x1x64x256xbf16>) -> tensor<1x1x64x256xbf16>
  bufferization.materialize_in_destination %1 in restrict writable %o : (tensor<1x1x64x256xbf16>, memref<1x1x64x256xbf16>) -> ()
  return
}
