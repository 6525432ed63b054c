// Device check (bench/prepare.sh, check_op_bias_heads_causal): an additive
// bf16 bias [1, 1, Lq, Lk] broadcast over the batch and the heads (e.g. a
// relative-position table shared by every head), causal GQA 8/2, with LSE.
func.func @attention(%q: tensor<2x8x512x128xbf16>, %k: tensor<2x2x512x128xbf16>,
                     %v: tensor<2x2x512x128xbf16>, %bias: tensor<1x1x512x512xbf16>)
    -> (tensor<2x8x512x128xbf16>, tensor<2x8x512xf32>) {
  %o, %lse = attn.attention ins(%q, %k, %v : tensor<2x8x512x128xbf16>, tensor<2x2x512x128xbf16>, tensor<2x2x512x128xbf16>) bias(%bias : tensor<1x1x512x512xbf16>) {mask_kind = #attn.mask<causal_bottom_right>} -> tensor<2x8x512x128xbf16>, tensor<2x8x512xf32>
  return %o, %lse : tensor<2x8x512x128xbf16>, tensor<2x8x512xf32>
}
