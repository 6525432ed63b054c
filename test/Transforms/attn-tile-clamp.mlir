// RUN: attn-opt %s --attn-tile="block-m=65536 block-n=65536 num-splits=1024" --canonicalize --split-input-file | FileCheck %s
// RUN: attn-opt %s --attn-tile="block-m=2 block-n=2 num-splits=1024" --canonicalize --split-input-file | FileCheck %s --check-prefix=SPLIT

// attn-tile bounds its work by the problem (issue #20: num-splits=2^31 emitted
// a slice pair per split and hung; 2^28-row tiles segfaulted in the JIT).
// Block sizes are clamped to the power of two covering a static length,
// Lq = 5 -> 8 and Lk = 7 -> 8: one [G = 2, 8, 8] tile, one program (the
// forall folds away), and the 1024 splits become ceil(7 / 8) = 1.
// CHECK-LABEL: func.func @clamp
// CHECK-NOT: scf.forall
// CHECK: attn.block_attention ins(%{{.+}}, %{{.+}}, %{{.+}} : tensor<2x8x16xf32>, tensor<8x16xf32>, tensor<8x16xf32>)
// CHECK-NOT: attn.block_attention

// With block-n = 2 the KV range has ceil(7 / 2) = 4 blocks, so at most 4
// splits: programs (Hkv = 1 head group, ceil(5 / 2) = 3 query blocks, 4
// splits), merged by one attn.combine of 4 partials.
// SPLIT-LABEL: func.func @clamp
// SPLIT: scf.forall (%{{.+}}, %{{.+}}) in (3, 4) shared_outs({{.+}}) -> (tensor<4x1x2x5x16xf32>, tensor<4x1x2x5xf32>)
// SPLIT: attn.combine outputs(%{{[^,]+}}, %{{[^,]+}}, %{{[^,]+}}, %{{[^,]+}} : tensor<1x2x5x16xf32>, tensor<1x2x5x16xf32>, tensor<1x2x5x16xf32>, tensor<1x2x5x16xf32>)
func.func @clamp(%q: tensor<1x2x5x16xf32>, %k: tensor<1x1x7x16xf32>, %v: tensor<1x1x7x16xf32>) -> tensor<1x2x5x16xf32> {
  %o = attn.attention ins(%q, %k, %v : tensor<1x2x5x16xf32>, tensor<1x1x7x16xf32>, tensor<1x1x7x16xf32>) -> tensor<1x2x5x16xf32>
  return %o : tensor<1x2x5x16xf32>
}
