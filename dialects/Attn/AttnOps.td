//===- AttnOps.td - attn dialect operations ----------------*- tablegen -*-===//
//
// Part of attn-mlir. This file is the specification of the attn dialect's
// operations: read it first.
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_OPS_TD
#define ATTN_OPS_TD

include "Attn/AttnDialect.td"
include "Attn/AttnAttrs.td"
include "mlir/Interfaces/ControlFlowInterfaces.td"
include "mlir/Interfaces/SideEffectInterfaces.td"
include "mlir/IR/OpAsmInterface.td"

//===----------------------------------------------------------------------===//
// AttentionOp
//===----------------------------------------------------------------------===//

def Attn_AttentionOp : Attn_Op<"attention", [
    AttrSizedOperandSegments, RecursiveMemoryEffects]> {
  let summary = "scaled dot-product attention (MHA, GQA and MQA)";
  let description = [{
    Computes, for every batch `b`, query head `h`, query row `i` and value
    column `c`:

    ```
    g      = Hq / Hkv                         (query heads per key/value head)
    s[j]   = scale * dot(Q[b, h, i, :], K[b, h / g, j, :])
    s[j]   = softcap * tanh(s[j] / softcap)   (if `softcap` is set)
    s[j]  += -alibi_slopes[h] * |i + Lk - Lq - j|   (if `alibi_slopes` is set)
    s[j]  += bias[b, h, i, j]                 (if a `bias` operand is given)
    s[j]   = score_mod(s[j], b, h, i, j)      (if the region is present)
    s[j]   = -inf where the key is masked
    O[b, h, i, c] = sum_j softmax(s)[j] * V[b, h / g, j, c]
    lse[b, h, i]  = log(sum_j exp(s[j]))      (the optional second result)
    ```

    MHA (`Hq == Hkv`), GQA (`Hq > Hkv > 1`) and MQA (`Hkv == 1`) are told
    apart by the head counts alone; `Hq % Hkv == 0` is required.

    Shapes with the default `layout = #attn.layout<bhsd>`: Q `[B, Hq, Lq, D]`,
    K `[B, Hkv, Lk, D]`, V `[B, Hkv, Lk, Dv]`, output `[B, Hq, Lq, Dv]`. With
    `#attn.layout<bshd>` the head and sequence dimensions of Q, K, V and the
    output are swapped (`[B, L, H, D]`). The LSE result is always
    `[B, Hq, Lq]` in f32; the output and LSE shapes are static exactly where
    the query's are. Batch and sequence lengths may be dynamic; head counts
    and head dimensions must be static. The output element type may differ
    from the inputs' (e.g. f32 output for bf16 inputs).

    A key `j` is masked for query `i` when any of these holds:
    * `mask_kind = #attn.mask<causal_top_left>`: `j > i`;
    * `#attn.mask<causal_bottom_right>`: `j > i + Lk - Lq` (the last query
      row sees every key; the convention of FlashAttention >= 2.1 and of KV
      cache decode);
    * `#attn.mask<sliding_window>` with `window = array<i64: left, right>`:
      `j < i + Lk - Lq - left` or `j > i + Lk - Lq + right` (bottom-right
      aligned, as FlashAttention's `window_size`);
    * a boolean `mask` operand (broadcastable to `[B, Hq, Lq, Lk]`: each
      extent is the full one or a static 1; a dynamic extent is never a
      broadcast) is false;
    * the `mask_mod` region yields false.

    A query row whose keys are all masked produces 0 and an LSE of -inf.

    The `score_mod` region receives `(score: f32, b: index, h: index,
    q_idx: index, kv_idx: index)` and yields the new f32 score; the
    `mask_mod` region receives `(b, h, q_idx, kv_idx)` and yields `i1`
    (true keeps the key). Both are compiled into the kernel, so they must
    contain only side-effect-free operations.

    `scale` defaults to `1/sqrt(D)`. The element types of Q, K and V must be
    the same float type (f16, bf16, f32); accumulation is in f32.

    Example (GQA, 32 query heads sharing 8 key/value heads):

    ```mlir
    %o, %lse = attn.attention ins(%q, %k, %v : tensor<2x32x1024x128xbf16>,
        tensor<2x8x1024x128xbf16>, tensor<2x8x1024x128xbf16>)
        {mask_kind = #attn.mask<causal_bottom_right>}
        -> tensor<2x32x1024x128xbf16>, tensor<2x32x1024xf32>
    ```
  }];

  let arguments = (ins
    AnyRankedTensor:$query,
    AnyRankedTensor:$key,
    AnyRankedTensor:$value,
    Optional<AnyRankedTensor>:$bias,
    Optional<AnyRankedTensor>:$mask,
    OptionalAttr<F64Attr>:$scale,
    DefaultValuedAttr<Attn_MaskKindAttr, "::mlir::attn::MaskKind::None">:$mask_kind,
    OptionalAttr<DenseI64ArrayAttr>:$window,
    OptionalAttr<F64Attr>:$softcap,
    OptionalAttr<DenseF64ArrayAttr>:$alibi_slopes,
    DefaultValuedAttr<Attn_LayoutAttr, "::mlir::attn::Layout::BHSD">:$layout
  );
  let results = (outs AnyRankedTensor:$output, Optional<AnyRankedTensor>:$lse);
  let regions = (region AnyRegion:$score_mod, AnyRegion:$mask_mod);

  let assemblyFormat = [{
    `ins` `(` $query `,` $key `,` $value `:` type($query) `,` type($key) `,`
      type($value) `)`
    (`bias` `(` $bias^ `:` type($bias) `)`)?
    (`mask` `(` $mask^ `:` type($mask) `)`)?
    attr-dict `->` type($output) (`,` type($lse)^)?
    (`score_mod` $score_mod^)?
    (`mask_mod` $mask_mod^)?
  }];

  let builders = [
    // Infers the output (and LSE) types from Q and V; the most common form.
    OpBuilder<(ins "::mlir::Value":$query, "::mlir::Value":$key,
      "::mlir::Value":$value,
      CArg<"::mlir::attn::MaskKind", "::mlir::attn::MaskKind::None">:$maskKind,
      CArg<"bool", "false">:$withLse)>
  ];

  let hasVerifier = 1;
  let hasRegionVerifier = 1;

  let extraClassDeclaration = [{
    /// Axis of the head dimension in Q/K/V/output for this op's layout.
    int64_t getHeadAxis() { return getLayout() == Layout::BHSD ? 1 : 2; }
    /// Axis of the sequence dimension in Q/K/V/output for this op's layout.
    int64_t getSeqAxis() { return getLayout() == Layout::BHSD ? 2 : 1; }

    ::mlir::RankedTensorType getQueryType() {
      return ::llvm::cast<::mlir::RankedTensorType>(getQuery().getType());
    }
    ::mlir::RankedTensorType getKeyType() {
      return ::llvm::cast<::mlir::RankedTensorType>(getKey().getType());
    }
    ::mlir::RankedTensorType getValueType() {
      return ::llvm::cast<::mlir::RankedTensorType>(getValue().getType());
    }
    ::mlir::RankedTensorType getOutputType() {
      return ::llvm::cast<::mlir::RankedTensorType>(getOutput().getType());
    }

    int64_t getNumQueryHeads() { return getQueryType().getDimSize(getHeadAxis()); }
    int64_t getNumKVHeads() { return getKeyType().getDimSize(getHeadAxis()); }
    /// Number of query heads that share one key/value head (1 for MHA).
    int64_t getHeadGroupSize() { return getNumQueryHeads() / getNumKVHeads(); }
    int64_t getHeadDim() { return getQueryType().getDimSize(3); }
    int64_t getValueHeadDim() { return getValueType().getDimSize(3); }
    /// Query/key sequence lengths; ShapedType::kDynamic when not static.
    int64_t getQueryLength() { return getQueryType().getDimSize(getSeqAxis()); }
    int64_t getKeyLength() { return getKeyType().getDimSize(getSeqAxis()); }

    /// The `scale` attribute as a double, if set.
    std::optional<double> getScaleValue() {
      if (::mlir::FloatAttr attr = getScaleAttr())
        return attr.getValueAsDouble();
      return std::nullopt;
    }
    /// The `softcap` attribute as a double, if set.
    std::optional<double> getSoftcapValue() {
      if (::mlir::FloatAttr attr = getSoftcapAttr())
        return attr.getValueAsDouble();
      return std::nullopt;
    }
    /// The scale applied to Q.K^T: the `scale` attribute or 1/sqrt(D).
    double getEffectiveScale();
    /// True for every mask kind that masks by position (causal, window).
    bool hasStructuralMask() { return getMaskKind() != MaskKind::None; }
  }];
}

//===----------------------------------------------------------------------===//
// YieldOp
//===----------------------------------------------------------------------===//

def Attn_YieldOp : Attn_Op<"yield", [Pure, Terminator, ReturnLike,
    HasParent<"AttentionOp">]> {
  let summary = "yields the value of a score_mod or mask_mod region";
  let description = [{
    Terminates the `score_mod` region (yielding the f32 score) or the
    `mask_mod` region (yielding the i1 keep flag) of `attn.attention`.
  }];
  let arguments = (ins Variadic<AnyType>:$values);
  let assemblyFormat = "attr-dict ($values^ `:` type($values))?";
}

#endif // ATTN_OPS_TD
