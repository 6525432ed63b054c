// RUN: attn-opt %s --load-dialect-plugin=%test_kv_plugin --attn-gpu-kernels | FileCheck %s

// The GPU prefill kernel reads a host compiler's own cache layout (test_kv's
// ring buffer) through the address hook, with per-sequence lengths. K and V
// rings here have their own start offsets, so their rows sit at different
// places: K's copy loads K's start, V's copy V's, each once per row copied.
// Lk = 40 < 64 keys per block: rows at or past len_b are zero-filled and
// addressed as row 0, which the hook accepts (rows in [0, 40)).
// CHECK-LABEL: gpu.func @ring_prefill_kernel
// CHECK-SAME: (%{{[^:]+}}: memref<2x4x64x64xbf16>, %[[KR:[^:]+]]: memref<2x2x40x64xbf16>, %[[KS:[^:]+]]: memref<2xi32>, %[[VR:[^:]+]]: memref<2x2x40x64xbf16>, %[[VS:[^:]+]]: memref<2xi32>, %[[LENS:[^:]+]]: memref<2xi32>, %{{[^:]+}}: memref<2x4x64x64xbf16>)
// CHECK: %[[RAW:.+]] = memref.load %[[LENS]]
// CHECK: %[[RAWI:.+]] = arith.index_cast %[[RAW]] : i32 to index
// CHECK: %[[CLIP:.+]] = arith.minsi %[[RAWI]], %c40 : index
// CHECK: %[[LENI:.+]] = arith.maxsi %[[CLIP]], %{{.+}} : index
// CHECK: %[[LEN:.+]] = arith.index_cast %[[LENI]] : index to i32
// Prologue: K rows from K's ring, then V rows from V's.
// CHECK: scf.if
// CHECK: arith.cmpi slt, %{{.+}}, %[[LEN]] : i32
// CHECK: memref.load %[[KS]]
// CHECK: arith.remui %{{.+}}, %c40
// CHECK-NOT: memref.load %[[VS]]
// CHECK: nvvm.cp.async.commit.group
// CHECK-NOT: memref.load %[[KS]]
// CHECK: memref.load %[[VS]]
// CHECK-NOT: memref.load %[[KS]]
// CHECK: nvvm.cp.async.commit.group
// CHECK: scf.for
// CHECK-LABEL: func.func @ring_prefill
// CHECK-NOT: test_kv.ring_view
// CHECK: gpu.launch_func @attn_kernels::@ring_prefill_kernel
// CHECK-SAME: #attn.kernel_arg<"q", input>, #attn.kernel_arg<"k_storage0", input>, #attn.kernel_arg<"k_storage1", input>, #attn.kernel_arg<"v_storage0", input>, #attn.kernel_arg<"v_storage1", input>, #attn.kernel_arg<"key_lengths", input>, #attn.kernel_arg<"o", output>
func.func @ring_prefill(%q: memref<2x4x64x64xbf16>, %kr: memref<2x2x40x64xbf16>, %vr: memref<2x2x40x64xbf16>, %kstart: memref<2xi32>, %vstart: memref<2xi32>, %lens: memref<2xi32>, %o: memref<2x4x64x64xbf16>) {
  %q0 = bufferization.to_tensor %q restrict : memref<2x4x64x64xbf16> to tensor<2x4x64x64xbf16>
  %kr0 = bufferization.to_tensor %kr restrict : memref<2x2x40x64xbf16> to tensor<2x2x40x64xbf16>
  %vr0 = bufferization.to_tensor %vr restrict : memref<2x2x40x64xbf16> to tensor<2x2x40x64xbf16>
  %ks0 = bufferization.to_tensor %kstart restrict : memref<2xi32> to tensor<2xi32>
  %vs0 = bufferization.to_tensor %vstart restrict : memref<2xi32> to tensor<2xi32>
  %l0 = bufferization.to_tensor %lens restrict : memref<2xi32> to tensor<2xi32>
  %k = test_kv.ring_view %kr0[%ks0] : tensor<2x2x40x64xbf16>, tensor<2xi32> -> tensor<2x2x40x64xbf16>
  %v = test_kv.ring_view %vr0[%vs0] : tensor<2x2x40x64xbf16>, tensor<2xi32> -> tensor<2x2x40x64xbf16>
  %out = attn.attention ins(%q0, %k, %v : tensor<2x4x64x64xbf16>, tensor<2x2x40x64xbf16>, tensor<2x2x40x64xbf16>) key_lengths(%l0 : tensor<2xi32>) {mask_kind = #attn.mask<causal_bottom_right>} -> tensor<2x4x64x64xbf16>
  bufferization.materialize_in_destination %out in restrict writable %o : (tensor<2x4x64x64xbf16>, memref<2x4x64x64xbf16>) -> ()
  return
}
