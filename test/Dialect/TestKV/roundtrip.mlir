// RUN: attn-opt %s -split-input-file --load-dialect-plugin=%test_kv_plugin | attn-opt --load-dialect-plugin=%test_kv_plugin | FileCheck %s

// test_kv is not part of attn-mlir: attn-opt only knows it through the
// dialect plugin. A ring-buffer cache view feeds attn.attention as its key
// and value: view[b, h, l, d] = ring[b, h, (start[b] + l) mod 40, d].
// CHECK-LABEL: func.func @ring_attention
// CHECK-SAME: (%{{[^:]+}}: tensor<2x4x3x16xf32>, %[[KR:[^:]+]]: tensor<2x2x40x16xf32>, %[[VR:[^:]+]]: tensor<2x2x40x16xf32>, %[[START:[^:]+]]: tensor<2xi32>)
// CHECK: %[[K:.+]] = test_kv.ring_view %[[KR]][%[[START]]] : tensor<2x2x40x16xf32>, tensor<2xi32> -> tensor<2x2x40x16xf32>
// CHECK: %[[V:.+]] = test_kv.ring_view %[[VR]][%[[START]]] : tensor<2x2x40x16xf32>, tensor<2xi32> -> tensor<2x2x40x16xf32>
// CHECK: attn.attention ins(%{{.+}}, %[[K]], %[[V]] : tensor<2x4x3x16xf32>, tensor<2x2x40x16xf32>, tensor<2x2x40x16xf32>) {mask_kind = #attn.mask<causal_bottom_right>} -> tensor<2x4x3x16xf32>
func.func @ring_attention(%q: tensor<2x4x3x16xf32>, %kr: tensor<2x2x40x16xf32>, %vr: tensor<2x2x40x16xf32>, %start: tensor<2xi32>) -> tensor<2x4x3x16xf32> {
  %k = test_kv.ring_view %kr[%start] : tensor<2x2x40x16xf32>, tensor<2xi32> -> tensor<2x2x40x16xf32>
  %v = test_kv.ring_view %vr[%start] : tensor<2x2x40x16xf32>, tensor<2xi32> -> tensor<2x2x40x16xf32>
  %o = attn.attention ins(%q, %k, %v : tensor<2x4x3x16xf32>, tensor<2x2x40x16xf32>, tensor<2x2x40x16xf32>) {mask_kind = #attn.mask<causal_bottom_right>} -> tensor<2x4x3x16xf32>
  return %o : tensor<2x4x3x16xf32>
}

// -----

// A dynamic batch: one start per sequence, whatever the batch is.
// CHECK-LABEL: func.func @dynamic_batch
// CHECK: test_kv.ring_view %{{.+}}[%{{.+}}] : tensor<?x2x8x16xbf16>, tensor<?xi32> -> tensor<?x2x8x16xbf16>
func.func @dynamic_batch(%r: tensor<?x2x8x16xbf16>, %start: tensor<?xi32>) -> tensor<?x2x8x16xbf16> {
  %v = test_kv.ring_view %r[%start] : tensor<?x2x8x16xbf16>, tensor<?xi32> -> tensor<?x2x8x16xbf16>
  return %v : tensor<?x2x8x16xbf16>
}
