// RUN: attn-opt %s --convert-attn-to-linalg --canonicalize --split-input-file | FileCheck %s

// A KV tile of a BHSD tensor whose length the tile divides, at a start on a
// tile boundary (48): one static slice of rows 48 .. 63 of (b, h), no padding.
// CHECK-LABEL: func.func @bhsd_whole
// CHECK-SAME: (%[[K:[^:]+]]: tensor<2x4x64x32xbf16>, %[[B:[^:]+]]: index, %[[H:[^:]+]]: index)
// CHECK: %[[T:.+]] = tensor.extract_slice %[[K]][%[[B]], %[[H]], 48, 0] [1, 1, 16, 32] [1, 1, 1, 1] : tensor<2x4x64x32xbf16> to tensor<16x32xbf16>
// CHECK-NOT: tensor.pad
// CHECK: return %[[T]]
func.func @bhsd_whole(%k: tensor<2x4x64x32xbf16>, %b: index, %h: index) -> tensor<16x32xbf16> {
  %k0 = arith.constant 48 : index
  %t = attn.kv_tile %k[%b, %h, %k0] : tensor<2x4x64x32xbf16> -> tensor<16x32xbf16>
  return %t : tensor<16x32xbf16>
}

// -----

// The same length at a start not known to be on a tile boundary (a varlen
// tile starts at its sequence's first packed row plus k0): the tile may
// cross L, so min(16, 64 - k0) rows are read and the rest is zero.
// CHECK-LABEL: func.func @bhsd_unaligned
// CHECK-SAME: (%[[K:[^:]+]]: tensor<2x4x64x32xbf16>, %{{[^:]+}}: index, %{{[^:]+}}: index, %[[K0:[^:]+]]: index)
// CHECK: %[[LEFT:.+]] = arith.subi %{{.+}}, %[[K0]] : index
// CHECK: %[[ROWS:.+]] = arith.minsi %[[LEFT]], %{{.+}} : index
// CHECK: tensor.extract_slice %[[K]][%{{.+}}, %{{.+}}, %[[K0]], 0] [1, 1, %[[ROWS]], 32]
// CHECK: tensor.pad
func.func @bhsd_unaligned(%k: tensor<2x4x64x32xbf16>, %b: index, %h: index, %k0: index) -> tensor<16x32xbf16> {
  %t = attn.kv_tile %k[%b, %h, %k0] : tensor<2x4x64x32xbf16> -> tensor<16x32xbf16>
  return %t : tensor<16x32xbf16>
}

// -----

// A length the tile does not divide (24 = 16 + 8): min(16, 24 - k0) rows
// are read and the rest of the tile is zero.
// CHECK-LABEL: func.func @bhsd_tail
// CHECK-SAME: (%[[K:[^:]+]]: tensor<1x2x24x16xf32>, %{{[^:]+}}: index, %{{[^:]+}}: index, %[[K0:[^:]+]]: index)
// CHECK-DAG: %[[C16:.+]] = arith.constant 16 : index
// CHECK-DAG: %[[C24:.+]] = arith.constant 24 : index
// CHECK: %[[LEFT:.+]] = arith.subi %[[C24]], %[[K0]] : index
// CHECK: %[[ROWS:.+]] = arith.minsi %[[LEFT]], %[[C16]] : index
// CHECK: %[[S:.+]] = tensor.extract_slice %[[K]][%{{.+}}, %{{.+}}, %[[K0]], 0] [1, 1, %[[ROWS]], 16] [1, 1, 1, 1] : tensor<1x2x24x16xf32> to tensor<?x16xf32>
// CHECK: tensor.pad %[[S]] low[0, 0] high[%{{.+}}, 0]
// CHECK: tensor.yield %{{.+}} : f32
// CHECK: } : tensor<?x16xf32> to tensor<16x16xf32>
func.func @bhsd_tail(%k: tensor<1x2x24x16xf32>, %b: index, %h: index, %k0: index) -> tensor<16x16xf32> {
  %t = attn.kv_tile %k[%b, %h, %k0] : tensor<1x2x24x16xf32> -> tensor<16x16xf32>
  return %t : tensor<16x16xf32>
}

// -----

// BSHD: the sequence is axis 1 and the head axis 2.
// CHECK-LABEL: func.func @bshd
// CHECK-SAME: (%[[K:[^:]+]]: tensor<1x64x2x16xf32>, %[[B:[^:]+]]: index, %[[H:[^:]+]]: index)
// CHECK: tensor.extract_slice %[[K]][%[[B]], 32, %[[H]], 0] [1, 16, 1, 16] [1, 1, 1, 1] : tensor<1x64x2x16xf32> to tensor<16x16xf32>
func.func @bshd(%k: tensor<1x64x2x16xf32>, %b: index, %h: index) -> tensor<16x16xf32> {
  %k0 = arith.constant 32 : index
  %t = attn.kv_tile %k[%b, %h, %k0] {layout = #attn.layout<bshd>} : tensor<1x64x2x16xf32> -> tensor<16x16xf32>
  return %t : tensor<16x16xf32>
}

// -----

// A paged view: the tile is gathered from the pages (the view's buildTile),
// and the dense view is never built.
// CHECK-LABEL: func.func @paged
// CHECK-SAME: (%[[P:[^:]+]]: tensor<16x4x2x16xf32>, %[[T:[^:]+]]: tensor<2x8xi32>, %[[B:[^:]+]]: index, %{{[^:]+}}: index, %{{[^:]+}}: index)
// CHECK: linalg.generic {{.+}} outs(%{{.+}} : tensor<8x16xf32>)
// CHECK: tensor.extract %[[T]][%[[B]], %{{.+}}] : tensor<2x8xi32>
// CHECK: tensor.extract %[[P]][
// CHECK-NOT: tensor<2x2x32x16xf32>
func.func @paged(%pages: tensor<16x4x2x16xf32>, %table: tensor<2x8xi32>, %b: index, %h: index, %k0: index) -> tensor<8x16xf32> {
  %v = attn.paged_view %pages[%table] : tensor<16x4x2x16xf32>, tensor<2x8xi32> -> tensor<2x2x32x16xf32>
  %t = attn.kv_tile %v[%b, %h, %k0] : tensor<2x2x32x16xf32> -> tensor<8x16xf32>
  return %t : tensor<8x16xf32>
}
