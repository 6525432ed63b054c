// RUN: attn-opt %s --convert-attn-to-linalg --canonicalize --split-input-file | FileCheck %s

// A shared K/V cache (MLA latent decode): the whole-op lowering reads V as
// the first Dv = 16 of the D = 24 columns of the K tensor itself, no copy
// of the cache and no second operand:
//   V[b, h, l, c] = K[b, h, l, c], c < 16.
// CHECK-LABEL: func.func @dense
// CHECK-SAME: (%{{[^:]+}}: tensor<1x4x1x24xf32>, %[[KV:[^:]+]]: tensor<1x1x16x24xf32>)
// CHECK: %[[V:.+]] = tensor.extract_slice %[[KV]][0, 0, 0, 0] [1, 1, 16, 16] [1, 1, 1, 1] : tensor<1x1x16x24xf32> to tensor<1x1x16x16xf32>
// CHECK-NOT: attn.kv_prefix
// CHECK: linalg.{{.+}}%[[V]]
func.func @dense(%q: tensor<1x4x1x24xf32>, %kv: tensor<1x1x16x24xf32>) -> tensor<1x4x1x16xf32> {
  %v = attn.kv_prefix %kv : tensor<1x1x16x24xf32> -> tensor<1x1x16x16xf32>
  %o = attn.attention ins(%q, %kv, %v : tensor<1x4x1x24xf32>, tensor<1x1x16x24xf32>, tensor<1x1x16x16xf32>) -> tensor<1x4x1x16xf32>
  return %o : tensor<1x4x1x16xf32>
}

// -----

// A tile of the prefix of a plain tensor: rows 8 .. 15 of (b, h), their
// first 16 columns, one slice.
// CHECK-LABEL: func.func @tile_of_tensor
// CHECK-SAME: (%[[KV:[^:]+]]: tensor<2x1x16x24xf32>, %[[B:[^:]+]]: index, %[[H:[^:]+]]: index)
// CHECK: %[[T:.+]] = tensor.extract_slice %[[KV]][%[[B]], %[[H]], 8, 0] [1, 1, 8, 16] [1, 1, 1, 1] : tensor<2x1x16x24xf32> to tensor<8x16xf32>
// CHECK: return %[[T]]
func.func @tile_of_tensor(%kv: tensor<2x1x16x24xf32>, %b: index, %h: index) -> tensor<8x16xf32> {
  %k0 = arith.constant 8 : index
  %v = attn.kv_prefix %kv : tensor<2x1x16x24xf32> -> tensor<2x1x16x16xf32>
  %t = attn.kv_tile %v[%b, %h, %k0] : tensor<2x1x16x16xf32> -> tensor<8x16xf32>
  return %t : tensor<8x16xf32>
}

// -----

// A tile of the prefix of a paged view: the page gather of the [8, D] K
// tile, then its first 16 columns:
//   tile[r, c] = pages[table[b, (k0 + r) / 4], (k0 + r) % 4, h, c], c < 16.
// CHECK-LABEL: func.func @tile_of_paged
// CHECK-SAME: (%[[PAGES:[^:]+]]: tensor<8x4x1x24xf32>, %[[TABLE:[^:]+]]: tensor<2x4xi32>
// CHECK: %[[G:.+]] = linalg.generic {{.+}} outs(%{{.+}} : tensor<8x24xf32>)
// CHECK: tensor.extract %[[TABLE]]
// CHECK: tensor.extract %[[PAGES]]
// CHECK: %[[T:.+]] = tensor.extract_slice %[[G]][0, 0] [8, 16] [1, 1] : tensor<8x24xf32> to tensor<8x16xf32>
// CHECK: return %[[T]]
func.func @tile_of_paged(%pages: tensor<8x4x1x24xf32>, %table: tensor<2x4xi32>, %b: index, %h: index, %k0: index) -> tensor<8x16xf32> {
  %k = attn.paged_view %pages[%table] : tensor<8x4x1x24xf32>, tensor<2x4xi32> -> tensor<2x1x16x24xf32>
  %v = attn.kv_prefix %k : tensor<2x1x16x24xf32> -> tensor<2x1x16x16xf32>
  %t = attn.kv_tile %v[%b, %h, %k0] : tensor<2x1x16x16xf32> -> tensor<8x16xf32>
  return %t : tensor<8x16xf32>
}
