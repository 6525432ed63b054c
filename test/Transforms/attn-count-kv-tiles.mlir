// RUN: attn-opt %s --attn-tile="block-m=16 block-n=16" --attn-count-kv-tiles -split-input-file -verify-diagnostics -o /dev/null
// RUN: attn-opt %s --attn-tile="block-m=16 block-n=16 num-splits=2" --attn-fuse-online-softmax --attn-count-kv-tiles -split-input-file -verify-diagnostics -o /dev/null
// RUN: attn-opt %s --attn-tile="block-m=16 block-n=16 skip-masked-blocks=false" --attn-count-kv-tiles -split-input-file -o /dev/null 2>&1 | FileCheck %s --check-prefix=DENSE

// Mask-block skipping, counted from the loop bounds attn-tile emitted.
// 16x16 tiles; a dense schedule visits every (query block, KV block) pair.
// Splitting the KV range (second RUN line) must not change the counts.

// Causal, L = 64: query block r (rows 16r..16r+15) needs KV blocks 0..r;
// blocks below the diagonal (r of them) need no mask: 1+2+3+4 = 10 visited,
// 0+1+2+3 = 6 interior.
// DENSE: remark: attn-tile: 16 of 16 KV tiles visited (0 interior, 16 boundary)
func.func @causal_square(%q: tensor<1x1x64x16xf32>, %k: tensor<1x1x64x16xf32>, %v: tensor<1x1x64x16xf32>) -> tensor<1x1x64x16xf32> {
  // expected-remark @+1 {{attn-tile: 10 of 16 KV tiles visited (6 interior, 4 boundary)}}
  %o = attn.attention ins(%q, %k, %v : tensor<1x1x64x16xf32>, tensor<1x1x64x16xf32>, tensor<1x1x64x16xf32>) {mask_kind = #attn.mask<causal_bottom_right>} -> tensor<1x1x64x16xf32>
  return %o : tensor<1x1x64x16xf32>
}

// -----

// Causal top-left, Lq = 32 < Lk = 64: the diagonal starts at key 0, so query
// block r needs KV blocks 0..r (1 + 2 = 3 of 8); one block is interior.
// DENSE: remark: attn-tile: 8 of 8 KV tiles visited (0 interior, 8 boundary)
func.func @causal_top_left(%q: tensor<1x1x32x16xf32>, %k: tensor<1x1x64x16xf32>, %v: tensor<1x1x64x16xf32>) -> tensor<1x1x32x16xf32> {
  // expected-remark @+1 {{attn-tile: 3 of 8 KV tiles visited (1 interior, 2 boundary)}}
  %o = attn.attention ins(%q, %k, %v : tensor<1x1x32x16xf32>, tensor<1x1x64x16xf32>, tensor<1x1x64x16xf32>) {mask_kind = #attn.mask<causal_top_left>} -> tensor<1x1x32x16xf32>
  return %o : tensor<1x1x32x16xf32>
}

// -----

// Causal bottom-right, Lq = 32 < Lk = 64: the diagonal is shifted by
// Lk - Lq = 32, so query block 0 needs KV blocks 0..2 (2 interior) and
// query block 1 needs all 4 (3 interior): 7 of 8.
// DENSE: remark: attn-tile: 8 of 8 KV tiles visited (0 interior, 8 boundary)
func.func @causal_bottom_right(%q: tensor<1x1x32x16xf32>, %k: tensor<1x1x64x16xf32>, %v: tensor<1x1x64x16xf32>) -> tensor<1x1x32x16xf32> {
  // expected-remark @+1 {{attn-tile: 7 of 8 KV tiles visited (5 interior, 2 boundary)}}
  %o = attn.attention ins(%q, %k, %v : tensor<1x1x32x16xf32>, tensor<1x1x64x16xf32>, tensor<1x1x64x16xf32>) {mask_kind = #attn.mask<causal_bottom_right>} -> tensor<1x1x32x16xf32>
  return %o : tensor<1x1x32x16xf32>
}

// -----

// Sliding window [16, 0], L = 64: row i sees keys i-16..i, so query block r
// needs KV blocks r-1 and r (1 + 2 + 2 + 2 = 7 of 16) and, the window being
// exactly one block wide, no block is fully visible to all 16 rows.
// DENSE: remark: attn-tile: 16 of 16 KV tiles visited (0 interior, 16 boundary)
func.func @window(%q: tensor<1x1x64x16xf32>, %k: tensor<1x1x64x16xf32>, %v: tensor<1x1x64x16xf32>) -> tensor<1x1x64x16xf32> {
  // expected-remark @+1 {{attn-tile: 7 of 16 KV tiles visited (0 interior, 7 boundary)}}
  %o = attn.attention ins(%q, %k, %v : tensor<1x1x64x16xf32>, tensor<1x1x64x16xf32>, tensor<1x1x64x16xf32>) {mask_kind = #attn.mask<sliding_window>, window = array<i64: 16, 0>} -> tensor<1x1x64x16xf32>
  return %o : tensor<1x1x64x16xf32>
}

// -----

// No mask, L = 40: every query block visits all 3 KV blocks; only the last,
// padded block (keys 32..47, 40..47 padding) evaluates the bounds check.
// DENSE: remark: attn-tile: 9 of 9 KV tiles visited (0 interior, 9 boundary)
func.func @no_mask(%q: tensor<1x1x40x16xf32>, %k: tensor<1x1x40x16xf32>, %v: tensor<1x1x40x16xf32>) -> tensor<1x1x40x16xf32> {
  // expected-remark @+1 {{attn-tile: 9 of 9 KV tiles visited (6 interior, 3 boundary)}}
  %o = attn.attention ins(%q, %k, %v : tensor<1x1x40x16xf32>, tensor<1x1x40x16xf32>, tensor<1x1x40x16xf32>) -> tensor<1x1x40x16xf32>
  return %o : tensor<1x1x40x16xf32>
}
