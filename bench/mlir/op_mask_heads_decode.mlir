// Device check (bench/prepare.sh, check_op_mask_heads_decode): decode (one
// query token, GQA 8/2) with a boolean key-padding mask [B, 1, 1, Lk]
// broadcast over the heads and an f32 bias [B, Hq, 1, Lk], with LSE.
func.func @attention(%q: tensor<3x8x1x128xbf16>, %k: tensor<3x2x1000x128xbf16>,
                     %v: tensor<3x2x1000x128xbf16>, %bias: tensor<3x8x1x1000xf32>,
                     %mask: tensor<3x1x1x1000xi1>)
    -> (tensor<3x8x1x128xbf16>, tensor<3x8x1xf32>) {
  %o, %lse = attn.attention ins(%q, %k, %v : tensor<3x8x1x128xbf16>, tensor<3x2x1000x128xbf16>, tensor<3x2x1000x128xbf16>) bias(%bias : tensor<3x8x1x1000xf32>) mask(%mask : tensor<3x1x1x1000xi1>) -> tensor<3x8x1x128xbf16>, tensor<3x8x1xf32>
  return %o, %lse : tensor<3x8x1x128xbf16>, tensor<3x8x1xf32>
}
