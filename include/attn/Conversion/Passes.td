//===- Passes.td - attn conversion passes ------------------*- tablegen -*-===//
//
// Part of attn-mlir. Lowerings out of the attn dialect.
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_CONVERSION_PASSES_TD
#define ATTN_CONVERSION_PASSES_TD

include "mlir/Pass/PassBase.td"

def ConvertAttnToLinalg : Pass<"convert-attn-to-linalg"> {
  let summary = "Lower attn.attention to linalg, tensor, arith and math ops";
  let description = [{
    The reference lowering: the semantics of `attn.attention` written as
    plain tensor computations with a numerically stable softmax (the row
    maximum is subtracted before exponentiation). It materialises the full
    score matrix, so it is meant for the CPU path, for testing and as the
    definition every optimised lowering is checked against.

    Each attention op becomes a chain of `linalg.generic` ops:

    ```
    S   = Q . K^T                     (K head = h / (Hq / Hkv): GQA/MQA)
    S'  = mask(score_mod(bias + alibi + softcap(scale * S)))
    m   = rowmax(S')                  (-inf for a fully masked row)
    P   = exp(S' - (m == -inf ? 0 : m))
    l   = rowsum(P)
    O   = l == 0 ? 0 : (P . V) / l
    lse = l == 0 ? -inf : m + log(l)
    ```

    Example:

    ```mlir
    %o = attn.attention ins(%q, %k, %v : tensor<1x4x8x16xf32>,
        tensor<1x2x8x16xf32>, tensor<1x2x8x16xf32>) -> tensor<1x4x8x16xf32>
    ```

    becomes (abridged)

    ```mlir
    %s = linalg.generic {indexing_maps = [
        affine_map<(b, h, i, j, d) -> (b, h, i, d)>,
        affine_map<(b, h, i, j, d) -> (b, h floordiv 2, j, d)>,
        affine_map<(b, h, i, j, d) -> (b, h, i, j)>], ...}
    %m = linalg.generic ... { arith.maximumf } ...
    ```
  }];
  let dependentDialects = [
    "::mlir::arith::ArithDialect",
    "::mlir::linalg::LinalgDialect",
    "::mlir::math::MathDialect",
    "::mlir::tensor::TensorDialect",
  ];
  let options = [
    Option<"accumulateInF64", "accumulate-in-f64", "bool", /*default=*/"false",
           "Compute scores, softmax and the output accumulator in f64 "
           "instead of f32 (isolates lowering bugs from rounding)">,
  ];
}

#endif // ATTN_CONVERSION_PASSES_TD
