// RUN: attn-opt %s --split-input-file --verify-diagnostics --attn-plan-gpu-kernels
// RUN: not attn-opt %s --split-input-file --attn-plan-gpu-kernels="kernel=decode" 2>&1 | FileCheck %s --check-prefix=DECODE
// RUN: not attn-opt %s --split-input-file --attn-plan-gpu-kernels="kernel=hopper chip=sm_90a" 2>&1 | FileCheck %s --check-prefix=HOPPER

// Varlen on the GPU path: the prefill family reads the offsets; the decode
// and hopper families refuse a varlen op by name (kernel=auto never picks
// them for one).
// DECODE: expected the prefill family for a varlen attention (cu_seqlens): the decode family does not read per-sequence offsets yet (kernel=auto picks prefill)
// HOPPER: expected the prefill family for a varlen attention (cu_seqlens): the hopper family does not read per-sequence offsets yet (kernel=auto picks prefill)
func.func @family(%q: memref<1x?x8x64xbf16>, %k: memref<1x?x2x64xbf16>, %cq: memref<?xi32>, %o: memref<1x?x8x64xbf16>) {
  %0 = bufferization.to_tensor %q restrict : memref<1x?x8x64xbf16> to tensor<1x?x8x64xbf16>
  %1 = bufferization.to_tensor %k restrict : memref<1x?x2x64xbf16> to tensor<1x?x2x64xbf16>
  %2 = bufferization.to_tensor %cq restrict : memref<?xi32> to tensor<?xi32>
  %3 = attn.attention ins(%0, %1, %1 : tensor<1x?x8x64xbf16>, tensor<1x?x2x64xbf16>, tensor<1x?x2x64xbf16>) cu_seqlens_q(%2 : tensor<?xi32>) cu_seqlens_k(%2 : tensor<?xi32>) {layout = #attn.layout<bshd>} -> tensor<1x?x8x64xbf16>
  bufferization.materialize_in_destination %3 in restrict writable %o : (tensor<1x?x8x64xbf16>, memref<1x?x8x64xbf16>) -> ()
  return
}

// -----

// No sequence at all: the kernel's first CTA would read cu_seqlens[1].
func.func @no_sequence(%q: memref<1x64x2x64xbf16>, %cq: memref<1xi32>, %o: memref<1x64x2x64xbf16>) {
  %0 = bufferization.to_tensor %q restrict : memref<1x64x2x64xbf16> to tensor<1x64x2x64xbf16>
  %1 = bufferization.to_tensor %cq restrict : memref<1xi32> to tensor<1xi32>
  // expected-error @+1 {{expected at least one sequence (cu_seqlens of N + 1 >= 2 entries) on the GPU path}}
  %2 = attn.attention ins(%0, %0, %0 : tensor<1x64x2x64xbf16>, tensor<1x64x2x64xbf16>, tensor<1x64x2x64xbf16>) cu_seqlens_q(%1 : tensor<1xi32>) cu_seqlens_k(%1 : tensor<1xi32>) {layout = #attn.layout<bshd>} -> tensor<1x64x2x64xbf16>
  bufferization.materialize_in_destination %2 in restrict writable %o : (tensor<1x64x2x64xbf16>, memref<1x64x2x64xbf16>) -> ()
  return
}

// -----

// The packed keys are one T for K and V: a dynamic T in K but not in V is
// no varlen batch the kernel can address.
func.func @mixed_total(%q: memref<1x64x2x64xbf16>, %k: memref<1x?x2x64xbf16>, %v: memref<1x64x2x64xbf16>, %cq: memref<3xi32>, %o: memref<1x64x2x64xbf16>) {
  %0 = bufferization.to_tensor %q restrict : memref<1x64x2x64xbf16> to tensor<1x64x2x64xbf16>
  %1 = bufferization.to_tensor %k restrict : memref<1x?x2x64xbf16> to tensor<1x?x2x64xbf16>
  %2 = bufferization.to_tensor %v restrict : memref<1x64x2x64xbf16> to tensor<1x64x2x64xbf16>
  %3 = bufferization.to_tensor %cq restrict : memref<3xi32> to tensor<3xi32>
  // expected-error @+1 {{expected the packed keys dynamic in K and V alike and the packed queries in Q and O alike on the GPU path}}
  %4 = attn.attention ins(%0, %1, %2 : tensor<1x64x2x64xbf16>, tensor<1x?x2x64xbf16>, tensor<1x64x2x64xbf16>) cu_seqlens_q(%3 : tensor<3xi32>) cu_seqlens_k(%3 : tensor<3xi32>) {layout = #attn.layout<bshd>} -> tensor<1x64x2x64xbf16>
  bufferization.materialize_in_destination %4 in restrict writable %o : (tensor<1x64x2x64xbf16>, memref<1x64x2x64xbf16>) -> ()
  return
}

// -----

// Varlen queries over caches (the decode family): the split workspaces are
// sized by the programs, which the packed rows count, so runtime totals are
// refused by name.
func.func @caches_dynamic(%q: memref<1x?x8x64xbf16>, %k: memref<4x256x2x64xbf16>, %lens: memref<4xi32>, %cq: memref<5xi32>, %o: memref<1x?x8x64xbf16>) {
  %0 = bufferization.to_tensor %q restrict : memref<1x?x8x64xbf16> to tensor<1x?x8x64xbf16>
  %1 = bufferization.to_tensor %k restrict : memref<4x256x2x64xbf16> to tensor<4x256x2x64xbf16>
  %2 = bufferization.to_tensor %lens restrict : memref<4xi32> to tensor<4xi32>
  %3 = bufferization.to_tensor %cq restrict : memref<5xi32> to tensor<5xi32>
  // expected-error @+1 {{expected packed [1, T, H, D] queries and outputs of static shape for varlen queries over caches on the GPU path (runtime totals are not implemented: the split workspaces are sized by them)}}
  %4 = attn.attention ins(%0, %1, %1 : tensor<1x?x8x64xbf16>, tensor<4x256x2x64xbf16>, tensor<4x256x2x64xbf16>) key_lengths(%2 : tensor<4xi32>) cu_seqlens_q(%3 : tensor<5xi32>) {layout = #attn.layout<bshd>} -> tensor<1x?x8x64xbf16>
  bufferization.materialize_in_destination %4 in restrict writable %o : (tensor<1x?x8x64xbf16>, memref<1x?x8x64xbf16>) -> ()
  return
}

// -----

// More query heads per KV head than one m16 tile holds rows.
func.func @caches_group(%q: memref<1x6x32x64xbf16>, %k: memref<4x256x1x64xbf16>, %lens: memref<4xi32>, %cq: memref<5xi32>, %o: memref<1x6x32x64xbf16>) {
  %0 = bufferization.to_tensor %q restrict : memref<1x6x32x64xbf16> to tensor<1x6x32x64xbf16>
  %1 = bufferization.to_tensor %k restrict : memref<4x256x1x64xbf16> to tensor<4x256x1x64xbf16>
  %2 = bufferization.to_tensor %lens restrict : memref<4xi32> to tensor<4xi32>
  %3 = bufferization.to_tensor %cq restrict : memref<5xi32> to tensor<5xi32>
  // expected-error @+1 {{expected at most 16 query heads per KV head (Hq / Hkv = 32) for varlen decode}}
  %4 = attn.attention ins(%0, %1, %1 : tensor<1x6x32x64xbf16>, tensor<4x256x1x64xbf16>, tensor<4x256x1x64xbf16>) key_lengths(%2 : tensor<4xi32>) cu_seqlens_q(%3 : tensor<5xi32>) {layout = #attn.layout<bshd>} -> tensor<1x6x32x64xbf16>
  bufferization.materialize_in_destination %4 in restrict writable %o : (tensor<1x6x32x64xbf16>, memref<1x6x32x64xbf16>) -> ()
  return
}
