// RUN: attn-opt %s --split-input-file --verify-diagnostics --attn-memref-entry | FileCheck %s
// RUN: attn-opt %s --split-input-file --verify-diagnostics --attn-to-ptx="emit-binary=false tile-model=" | FileCheck %s --check-prefix=PTX
// tile-model= (off): the errors are of later steps; the planning remark of
// tile-model=auto (attn-plan-gpu-kernels-tile-model-auto.mlir) would be noise.

// A tensor-form attention (an importer's graph): inputs become memrefs read
// with to_tensor, the result a trailing memref written in place.
// CHECK-LABEL: func.func @attention
// CHECK-SAME: (%[[Q:.+]]: memref<1x2x64x64xbf16>, %[[K:.+]]: memref<1x2x64x64xbf16>, %[[V:.+]]: memref<1x2x64x64xbf16>, %[[O:.+]]: memref<1x2x64x64xbf16>)
// CHECK-SAME: llvm.emit_c_interface
// CHECK: %[[QT:.+]] = bufferization.to_tensor %[[Q]] restrict
// CHECK: %[[R:.+]] = attn.attention ins(%[[QT]],
// CHECK: bufferization.materialize_in_destination %[[R]] in restrict writable %[[O]]
// CHECK-NEXT: return
// attn-to-ptx takes the same input: a launch of the generated kernel.
// PTX-LABEL: func.func @attention
// PTX: gpu.launch_func @attn_kernels::@attention_kernel
func.func @attention(%q: tensor<1x2x64x64xbf16>, %k: tensor<1x2x64x64xbf16>, %v: tensor<1x2x64x64xbf16>) -> tensor<1x2x64x64xbf16> {
  %r = attn.attention ins(%q, %k, %v : tensor<1x2x64x64xbf16>, tensor<1x2x64x64xbf16>, tensor<1x2x64x64xbf16>) -> tensor<1x2x64x64xbf16>
  return %r : tensor<1x2x64x64xbf16>
}

// -----

// Already on memrefs: left alone.
// CHECK-LABEL: func.func @on_memrefs
// CHECK-SAME: (%{{.+}}: memref<4xf32>)
// CHECK-NEXT: return
func.func @on_memrefs(%m: memref<4xf32>) {
  return
}

// -----

// A dynamic shape has no memref of its own size to write into.
// expected-error @+1 {{expected @dynamic to take and return statically shaped ranked tensors (or memrefs) for the memref calling convention}}
func.func @dynamic(%q: tensor<?x4xf32>) -> tensor<?x4xf32> {
  return %q : tensor<?x4xf32>
}
