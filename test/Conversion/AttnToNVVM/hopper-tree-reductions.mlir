// RUN: attn-opt %s --attn-gpu-kernels="chip=sm_90a hopper-tree-reductions=true" | FileCheck %s --check-prefix=TREE
// RUN: attn-opt %s --attn-gpu-kernels="chip=sm_90a hopper-tree-reductions=false" | FileCheck %s --check-prefix=CHAIN
// RUN: not attn-opt %s --attn-gpu-kernels="chip=sm_90a kernel=hopper hopper-tree-reductions=maybe" 2>&1 | FileCheck %s --check-prefix=NAME

// hopper-tree-reductions: a row's max over its running max and the 32 S
// elements a thread holds (D = 64, block-n 128: 16 n8 tiles x 2 columns)
// as a balanced tree: 16 maxima of pairs (the first pairs the running max
// with S[0]), and the 17th, on the next level, takes the first two of them;
// 33 values, 6 levels instead of 32 dependent maxima.
// TREE-LABEL: gpu.func @plain_kernel
// TREE: %[[P0:[0-9]+]] = llvm.intr.maxnum(%{{.*}}, %{{[0-9]+}}) : (f32, f32) -> f32
// TREE-NEXT: %[[P1:[0-9]+]] = llvm.intr.maxnum(%{{[0-9]+}}, %{{[0-9]+}}) : (f32, f32) -> f32
// TREE-COUNT-14: llvm.intr.maxnum(%{{[0-9]+}}, %{{[0-9]+}})
// TREE-NEXT: llvm.intr.maxnum(%[[P0]], %[[P1]]) : (f32, f32) -> f32
// As a chain (false; auto here) each maximum takes the previous one.
// CHAIN-LABEL: gpu.func @plain_kernel
// CHAIN: %[[M0:[0-9]+]] = llvm.intr.maxnum(%{{.*}}, %{{[0-9]+}}) : (f32, f32) -> f32
// CHAIN-NEXT: %[[M1:[0-9]+]] = llvm.intr.maxnum(%[[M0]], %{{[0-9]+}}) : (f32, f32) -> f32
// CHAIN-NEXT: llvm.intr.maxnum(%[[M1]], %{{[0-9]+}}) : (f32, f32) -> f32
// NAME: error: 'attn.attention' op expected hopper-tree-reductions of auto, true or false, got 'maybe'
func.func @plain(%q: memref<1x2x512x64xbf16>, %o: memref<1x2x512x64xbf16>) {
  %0 = bufferization.to_tensor %q restrict : memref<1x2x512x64xbf16> to tensor<1x2x512x64xbf16>
  %1 = attn.attention ins(%0, %0, %0 : tensor<1x2x512x64xbf16>, tensor<1x2x512x64xbf16>, tensor<1x2x512x64xbf16>) -> tensor<1x2x512x64xbf16>
  bufferization.materialize_in_destination %1 in restrict writable %o : (tensor<1x2x512x64xbf16>, memref<1x2x512x64xbf16>) -> ()
  return
}
