// Timing (bench/prepare.sh, bench_op_maskmod_document_l4096_none).
// A document mask as a mask_mod: documents [0, 1000), [1000, 2500),
// [2500, ...), doc(x) = (x >= 1000) + (x >= 2500), keep iff doc(q) ==
// doc(k) (no mask kind): blocks across documents are skipped, blocks inside
// one document need no element test.
func.func @attention(%q: tensor<4x16x4096x128xbf16>, %k: tensor<4x16x4096x128xbf16>, %v: tensor<4x16x4096x128xbf16>) -> tensor<4x16x4096x128xbf16> {
  %o = attn.attention ins(%q, %k, %v : tensor<4x16x4096x128xbf16>, tensor<4x16x4096x128xbf16>, tensor<4x16x4096x128xbf16>) -> tensor<4x16x4096x128xbf16>
  mask_mod {
  ^bb0(%b: index, %h: index, %i: index, %j: index):
    %c1000 = arith.constant 1000 : index
    %c2500 = arith.constant 2500 : index
    %i1 = arith.cmpi sge, %i, %c1000 : index
    %i2 = arith.cmpi sge, %i, %c2500 : index
    %j1 = arith.cmpi sge, %j, %c1000 : index
    %j2 = arith.cmpi sge, %j, %c2500 : index
    %i1x = arith.extui %i1 : i1 to i32
    %i2x = arith.extui %i2 : i1 to i32
    %j1x = arith.extui %j1 : i1 to i32
    %j2x = arith.extui %j2 : i1 to i32
    %di = arith.addi %i1x, %i2x : i32
    %dj = arith.addi %j1x, %j2x : i32
    %keep = arith.cmpi eq, %di, %dj : i32
    attn.yield %keep : i1
  }
  return %o : tensor<4x16x4096x128xbf16>
}
