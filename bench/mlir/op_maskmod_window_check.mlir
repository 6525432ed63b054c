// Device check (bench/prepare.sh, check_op_maskmod_window): GQA 8/2 with
// tails (1100 rows and keys) and LSE.
// A causal sliding window of 256 keys written as a mask_mod (q - k < 256 and
// k <= q) on an op without a mask kind: every bound of the KV loop comes
// from the interval classification of the region (MaskModIntervals.h).
func.func @attention(%q: tensor<2x8x1100x128xbf16>, %k: tensor<2x2x1100x128xbf16>, %v: tensor<2x2x1100x128xbf16>) -> (tensor<2x8x1100x128xbf16>, tensor<2x8x1100xf32>) {
  %o, %lse = attn.attention ins(%q, %k, %v : tensor<2x8x1100x128xbf16>, tensor<2x2x1100x128xbf16>, tensor<2x2x1100x128xbf16>) -> tensor<2x8x1100x128xbf16>, tensor<2x8x1100xf32>
  mask_mod {
  ^bb0(%b: index, %h: index, %i: index, %j: index):
    %c256 = arith.constant 256 : index
    %d = arith.subi %i, %j : index
    %near = arith.cmpi slt, %d, %c256 : index
    %past = arith.cmpi sle, %j, %i : index
    %keep = arith.andi %near, %past : i1
    attn.yield %keep : i1
  }
  return %o, %lse : tensor<2x8x1100x128xbf16>, tensor<2x8x1100xf32>
}
