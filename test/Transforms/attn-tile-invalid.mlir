// RUN: attn-opt %s --attn-tile="block-m=0" -verify-diagnostics -o /dev/null

// Tile sizes must be positive; the op is reported and left as it was.
func.func @zero_block(%q: tensor<1x1x8x16xf32>, %k: tensor<1x1x8x16xf32>, %v: tensor<1x1x8x16xf32>) -> tensor<1x1x8x16xf32> {
  // expected-error @+1 {{expected positive block-m, block-n and num-splits}}
  %o = attn.attention ins(%q, %k, %v : tensor<1x1x8x16xf32>, tensor<1x1x8x16xf32>, tensor<1x1x8x16xf32>) -> tensor<1x1x8x16xf32>
  return %o : tensor<1x1x8x16xf32>
}
