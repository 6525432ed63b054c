// RUN: attn-opt %s --load-dialect-plugin=%test_kv_plugin --attn-gpu-kernels | FileCheck %s

// The GPU decode kernel reads a host compiler's own cache layout (test_kv's
// ring buffer, loaded as a plugin) through the address hook alone: the
// kernel receives the ring and its start offsets, and every copied row's
// address is (start[b] + row) mod Cap inside the ring, computed in the
// kernel by the plugin's buildRowOffset. K and V share one computation.
// CHECK-LABEL: gpu.func @ring_decode_kernel
// CHECK-SAME: (%{{[^:]+}}: memref<2x4x1x64xbf16>, %[[KR:[^:]+]]: memref<2x2x40x64xbf16>, %[[START:[^:]+]]: memref<2xi32>, %[[VR:[^:]+]]: memref<2x2x40x64xbf16>, %{{[^:]+}}: memref<2x4x1x64xbf16>)
// CHECK: %[[S:.+]] = memref.load %[[START]]
// CHECK: arith.remui %{{.+}}, %c40
// CHECK-NOT: memref.load %[[START]]
// CHECK: nvvm.cp.async.shared.global
// CHECK-NOT: memref.load %[[START]]
// CHECK: nvvm.cp.async.shared.global
// CHECK-LABEL: func.func @ring_decode
// CHECK-NOT: test_kv.ring_view
// CHECK: gpu.launch_func @attn_kernels::@ring_decode_kernel
// CHECK-SAME: #attn.kernel_arg<"q", input>, #attn.kernel_arg<"k_storage0", input>, #attn.kernel_arg<"k_storage1", input>, #attn.kernel_arg<"v_storage0", input>, #attn.kernel_arg<"o", output>
func.func @ring_decode(%q: memref<2x4x1x64xbf16>, %kr: memref<2x2x40x64xbf16>, %vr: memref<2x2x40x64xbf16>, %start: memref<2xi32>, %o: memref<2x4x1x64xbf16>) {
  %q0 = bufferization.to_tensor %q restrict : memref<2x4x1x64xbf16> to tensor<2x4x1x64xbf16>
  %kr0 = bufferization.to_tensor %kr restrict : memref<2x2x40x64xbf16> to tensor<2x2x40x64xbf16>
  %vr0 = bufferization.to_tensor %vr restrict : memref<2x2x40x64xbf16> to tensor<2x2x40x64xbf16>
  %s0 = bufferization.to_tensor %start restrict : memref<2xi32> to tensor<2xi32>
  %k = test_kv.ring_view %kr0[%s0] : tensor<2x2x40x64xbf16>, tensor<2xi32> -> tensor<2x2x40x64xbf16>
  %v = test_kv.ring_view %vr0[%s0] : tensor<2x2x40x64xbf16>, tensor<2xi32> -> tensor<2x2x40x64xbf16>
  %out = attn.attention ins(%q0, %k, %v : tensor<2x4x1x64xbf16>, tensor<2x2x40x64xbf16>, tensor<2x2x40x64xbf16>) -> tensor<2x4x1x64xbf16>
  bufferization.materialize_in_destination %out in restrict writable %o : (tensor<2x4x1x64xbf16>, memref<2x4x1x64xbf16>) -> ()
  return
}
