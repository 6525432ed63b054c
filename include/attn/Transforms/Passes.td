//===- Passes.td - attn-level transformation passes --------*- tablegen -*-===//
//
// Part of attn-mlir. Passes that produce or transform attn ops (lowerings out
// of the dialect live in attn/Conversion/Passes.td). A plain list of defs.
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_TRANSFORMS_PASSES_TD
#define ATTN_TRANSFORMS_PASSES_TD

include "mlir/Pass/PassBase.td"

def AttnRaise : Pass<"attn-raise"> {
  let summary = "Recognise attention in linalg/tensor IR and raise it to "
                "attn.attention";
  let description = [{
    Finds `softmax(scale * Q.K^T + bias/mask) . V` written the way torch and
    ONNX importers write it, and replaces the whole chain by one
    `attn.attention`. Recognised forms:

    * Q.K^T and P.V as `linalg.batch_matmul`, `linalg.matmul` (reshaped
      operands) or `linalg.generic` contractions, with any operand
      transposition either explicit (`linalg.transpose`, a permuting
      `linalg.generic`) or folded into the indexing maps; the accumulator
      must start at zero.
    * `tensor.collapse_shape`/`tensor.expand_shape` between 4-D `[B, H, L, D]`
      tensors and 3-D `[B*H, L, D]` (or 2-D) ones, anywhere in the chain.
    * The scale as a multiplication or division by a constant, on Q, on K or
      on the scores.
    * An additive bias tensor (becomes the `bias` operand), and causal masks
      written as `arith.select` on a `linalg.index` comparison, as a boolean
      tensor computed from indices, or as an added constant `-inf` (or
      `<= -1e4`) upper triangle; the triangle's offset decides between
      `causal_top_left` and `causal_bottom_right`.
    * `linalg.softmax`, or the decomposed form max-reduce, subtract, exp,
      sum-reduce, divide, over the key dimension.
    * repeat_kv for GQA/MQA (`tensor.expand_shape` + `linalg.broadcast` or a
      broadcasting `linalg.generic` + `tensor.collapse_shape`), folded into
      the head ratio `Hq / Hkv`.
    * BHSD and BSHD operands: transposes around the block become the
      `layout` attribute.

    Anything else is left untouched: a softmax over another axis, an
    intermediate with a use outside the chain, a non-constant scale, a scale
    applied after the bias, mismatched or dynamic shapes. Rejections are
    explained under `-debug-only=attn-raise` (LLVM built with assertions).

    Example (MHA, scale 1/sqrt(16) as a division):

    ```mlir
    %kt = linalg.transpose ins(%k : tensor<8x8x16xf32>)
        outs(%e0 : tensor<8x16x8xf32>) permutation = [0, 2, 1]
    %s  = linalg.batch_matmul ins(%q, %kt : tensor<8x8x16xf32>,
        tensor<8x16x8xf32>) outs(%zero : tensor<8x8x8xf32>) -> tensor<8x8x8xf32>
    %ss = linalg.generic ... { arith.divf %x, %cst_4 } ...
    %p  = linalg.softmax dimension(2) ins(%ss : tensor<8x8x8xf32>) ...
    %o  = linalg.batch_matmul ins(%p, %v : ...) outs(%zero2 : ...)
    ```

    where `%q`, `%k`, `%v` are `tensor.collapse_shape`s of `[2, 4, 8, 16]`
    tensors, becomes

    ```mlir
    %o = attn.attention ins(%q4, %k4, %v4 : tensor<2x4x8x16xf32>,
        tensor<2x4x8x16xf32>, tensor<2x4x8x16xf32>) {scale = 2.500000e-01 : f64}
        -> tensor<2x4x8x16xf32>
    ```

    followed by the `tensor.collapse_shape` of the result that the graph
    used.
  }];
  let dependentDialects = [
    "::mlir::attn::AttnDialect",
    "::mlir::tensor::TensorDialect",
  ];
  let options = [
    Option<"allowReassociation", "allow-reassociation", "bool",
           /*default=*/"true",
           "Also raise graphs whose rounding differs from the raised op's: a "
           "scale applied to Q or K before the product, a division by a "
           "constant that is not a power of two (attn.attention multiplies "
           "the product by the scale), scores or P.V kept in a type "
           "narrower than f32 (attn.attention computes them in f32). Off: "
           "raise only where the scale and the precision of every "
           "intermediate stay as written">,
  ];
  let statistics = [
    Statistic<"numRaised", "num-raised", "Number of attention ops raised">,
  ];
}

#endif // ATTN_TRANSFORMS_PASSES_TD
