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
include "Attn/AttnInterfaces.td"
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
    hg     = h + head_offset                  (the global head of local head h)
    s[j]  += -alibi_slopes[hg] * |i + Lk - Lq - j|  (if `alibi_slopes` is set)
    s[j]  += bias[b, h, i, j]                 (if a `bias` operand is given)
    s[j]   = score_mod(s[j], b, hg, i, j)     (if the region is present)
    s[j]   = -inf where the key is masked (mask_mod sees hg too)
    z      = sinks[hg]                        (if a `sinks` operand is given,
                                               else -inf: no sink)
    O[b, h, i, c] = sum_j exp(s[j]) * V[b, h / g, j, c]
                    / (exp(z) + sum_j exp(s[j]))
    lse[b, h, i]  = log(exp(z) + sum_j exp(s[j]))  (the optional second result)
    ```

    Attention sinks (gpt-oss): the optional `sinks` operand (f32, one
    learned logit per query head of the whole attention, `num_heads_total`
    entries indexed by the global head like `alibi_slopes`) joins every row's
    softmax denominator as one more score that has no value row. It takes
    no part in the masks, the modifiers or the score chain; a row whose keys
    are all masked then produces 0 and an LSE of `sinks[hg]`. Equivalently,
    the sink is a partial result over an empty key set with output 0 and
    LSE `sinks[hg]`, merged with the keys' result as `attn.combine` merges
    any two partials: that is how `attn-tile` computes it.

    MHA (`Hq == Hkv`), GQA (`Hq > Hkv > 1`) and MQA (`Hkv == 1`) are told
    apart by the head counts alone; `Hq % Hkv == 0` is required.

    Tensor-parallel head sharding: an op may compute a shard of the heads
    of a larger attention, local query heads `[0, Hq)` being the global
    heads `[head_offset, head_offset + Hq)` of `num_heads_total` (default
    `Hq`, and `head_offset` defaults to 0). What depends on a head's
    identity (the ALiBi slope and the head argument of `score_mod` and
    `mask_mod`) uses the global head `hg`, so concatenating the shards'
    outputs along the head axis gives the unsharded op's output; what is
    per shard data (Q, K, V, `bias`, `mask`, the outputs) is indexed by the
    local head. `alibi_slopes` then has `num_heads_total` entries. Required:
    `head_offset + Hq <= num_heads_total`, and `head_offset` and
    `num_heads_total` multiples of `g = Hq / Hkv`, so no group of query
    heads sharing a key/value head straddles two shards. K and V hold the
    key/value heads of the shard's query heads (copies of one head on
    several shards when there are more shards than key/value heads).

    Shapes with the default `layout = #attn.layout<bhsd>`: Q `[B, Hq, Lq, D]`,
    K `[B, Hkv, Lk, D]`, V `[B, Hkv, Lk, Dv]`, output `[B, Hq, Lq, Dv]`. With
    `#attn.layout<bshd>` the head and sequence dimensions of Q, K, V and the
    output are swapped (`[B, L, H, D]`). The LSE result is always
    `[B, Hq, Lq]`, in f32 (f64 for f64 inputs); the output and LSE shapes
    are static exactly where the query's are. Batch and sequence lengths may
    be dynamic; head counts and head dimensions must be static. The output
    element type may differ from the inputs' (e.g. f32 output for bf16
    inputs).

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

    With a `key_lengths` operand (`[B]` i32, e.g. the fill levels of a KV
    cache `[B, Hkv, Lmax, D]`), sequence `b` has `Lk_b = key_lengths[b]`
    keys: keys at `j >= Lk_b` are masked, and `Lk_b` replaces `Lk` in the
    bottom-right alignment and the ALiBi distance. Lengths must lie in
    `[0, Lk]`.

    A query row whose keys are all masked produces 0 and an LSE of -inf
    (of `sinks[hg]` with sinks).

    Varlen batches (FlashAttention's `flash_attn_varlen_func`): with
    `cu_seqlens_q` and `cu_seqlens_k` (both i32 `[N+1]`, given together),
    Q, K, V and the output hold N sequences packed along the sequence axis
    of one batch row: Q `[1, Tq, Hq, D]`, K `[1, Tk, Hkv, D]`, V
    `[1, Tk, Hkv, Dv]` in the `bshd` layout, i.e. FlashAttention's
    `[total, H, D]` with a unit batch axis (so the LSE `[1, Hq, Tq]` is its
    `[H, total]`). Sequence `n` owns the query rows
    `[cu_seqlens_q[n], cu_seqlens_q[n+1])` and the keys
    `[cu_seqlens_k[n], cu_seqlens_k[n+1])`, and its rows are exactly the
    dense op (same attributes, `b = 0`) on those slices: causal and window
    alignment, the ALiBi distance and the query/key positions are per
    sequence (`i` and `j` count from the sequence's first row), and a
    sequence with no keys gives 0 and an LSE of -inf (`sinks[hg]`). The
    offsets are runtime values the verifier cannot see: they must start at
    0, never decrease, end at `Tq` (every query row belongs to one sequence)
    and at most at `Tk`. Lowerings clamp them (each begin to `[0, T]`, each
    end to `[begin, T]`), so offsets that break the contract give wrong rows,
    never accesses outside the operands. `key_lengths` (but for the caches
    below), `bias`, `mask` and the modifier regions are refused with varlen (their `[B, ...]` indexing has no
    per-sequence meaning yet). Lowerings that cannot run a varlen op say so;
    `attn-split-varlen` rewrites it into that per-sequence loop of dense ops.

    Varlen queries over per-sequence KV caches (decode and speculative
    decode of a serving engine: FlashAttention's `flash_attn_with_kvcache`
    / `flash_attn_varlen_func` with `seqused_k` and a `block_table`, vLLM's
    and FlashInfer's batch decode): with `cu_seqlens_q` and `key_lengths`
    but no `cu_seqlens_k`, Q and the output are packed as above
    (`[1, Tq, Hq, D]`, LSE `[1, Hq, Tq]`) while K and V hold one cache per
    sequence, `[N, Lk, Hkv, D]` and `[N, Lk, Hkv, Dv]` in the `bshd`
    layout (a tensor or a KV cache view in the bshd layout, e.g.
    `attn.paged_view {layout = #attn.layout<bshd>}`), and `key_lengths`
    (`[N]`) fills them. Sequence `n` owns the query rows
    `[cu_seqlens_q[n], cu_seqlens_q[n+1])` and the keys
    `[0, key_lengths[n])` of cache `n`: its rows are the dense op on those
    query rows and that cache row with `key_lengths[n]` (so the causal and
    window diagonals are bottom-right aligned at `key_lengths[n] - lq_n`).
    Lengths are clamped to `[0, Lk]` as for a dense op.

    The `score_mod` region receives `(score: f32, b: index, h: index,
    q_idx: index, kv_idx: index)` and yields the new f32 score; the
    `mask_mod` region receives `(b, h, q_idx, kv_idx)` and yields `i1`
    (true keeps the key). Both are compiled into the kernel, so they must
    contain only side-effect-free operations.

    `scale` defaults to `1/sqrt(D)`. The element types of Q, K and V must be
    the same float type (f16, bf16, f32, f64); accumulation is in f32. f64
    is the precision of float64 gradient checks: only the CPU lowers it
    (whole, by `convert-attn-to-linalg`, computing in f64); the tiling passes
    and the GPU path refuse it.

    Example (GQA, 32 query heads sharing 8 key/value heads):

    ```mlir
    %o, %lse = attn.attention ins(%q, %k, %v : tensor<2x32x1024x128xbf16>,
        tensor<2x8x1024x128xbf16>, tensor<2x8x1024x128xbf16>)
        {mask_kind = #attn.mask<causal_bottom_right>}
        -> tensor<2x32x1024x128xbf16>, tensor<2x32x1024xf32>
    ```

    Varlen (3 sequences, 1000 query and 1200 key tokens in all):

    ```mlir
    %o = attn.attention ins(%q, %k, %v : tensor<1x1000x32x128xbf16>,
        tensor<1x1200x8x128xbf16>, tensor<1x1200x8x128xbf16>)
        cu_seqlens_q(%cq : tensor<4xi32>) cu_seqlens_k(%ck : tensor<4xi32>)
        {layout = #attn.layout<bshd>,
         mask_kind = #attn.mask<causal_bottom_right>}
        -> tensor<1x1000x32x128xbf16>
    ```

    Varlen decode over a paged cache (8 sequences of 1 to 4 new tokens,
    each attending to its own cached keys):

    ```mlir
    %k = attn.paged_view %k_pages[%table] {layout = #attn.layout<bshd>}
        : tensor<512x16x8x128xbf16>, tensor<8x64xi32>
        -> tensor<8x1024x8x128xbf16>
    %o = attn.attention ins(%q, %k, %v : tensor<1x20x32x128xbf16>,
        tensor<8x1024x8x128xbf16>, tensor<8x1024x8x128xbf16>)
        key_lengths(%lens : tensor<8xi32>) cu_seqlens_q(%cq : tensor<9xi32>)
        {layout = #attn.layout<bshd>,
         mask_kind = #attn.mask<causal_bottom_right>}
        -> tensor<1x20x32x128xbf16>
    ```
  }];

  let arguments = (ins
    AnyRankedTensor:$query,
    AnyRankedTensor:$key,
    AnyRankedTensor:$value,
    Optional<AnyRankedTensor>:$bias,
    Optional<AnyRankedTensor>:$mask,
    Optional<RankedTensorOf<[I32]>>:$key_lengths,
    Optional<AnyRankedTensor>:$sinks,
    Optional<RankedTensorOf<[I32]>>:$cu_seqlens_q,
    Optional<RankedTensorOf<[I32]>>:$cu_seqlens_k,
    OptionalAttr<F64Attr>:$scale,
    DefaultValuedAttr<Attn_MaskKindAttr, "::mlir::attn::MaskKind::None">:$mask_kind,
    OptionalAttr<DenseI64ArrayAttr>:$window,
    OptionalAttr<F64Attr>:$softcap,
    OptionalAttr<DenseF64ArrayAttr>:$alibi_slopes,
    DefaultValuedAttr<Attn_LayoutAttr, "::mlir::attn::Layout::BHSD">:$layout,
    DefaultValuedAttr<I64Attr, "0">:$head_offset,
    OptionalAttr<I64Attr>:$num_heads_total
  );
  let results = (outs AnyRankedTensor:$output, Optional<AnyRankedTensor>:$lse);
  let regions = (region AnyRegion:$score_mod, AnyRegion:$mask_mod);

  let assemblyFormat = [{
    `ins` `(` $query `,` $key `,` $value `:` type($query) `,` type($key) `,`
      type($value) `)`
    (`bias` `(` $bias^ `:` type($bias) `)`)?
    (`mask` `(` $mask^ `:` type($mask) `)`)?
    (`key_lengths` `(` $key_lengths^ `:` type($key_lengths) `)`)?
    (`sinks` `(` $sinks^ `:` type($sinks) `)`)?
    (`cu_seqlens_q` `(` $cu_seqlens_q^ `:` type($cu_seqlens_q) `)`)?
    (`cu_seqlens_k` `(` $cu_seqlens_k^ `:` type($cu_seqlens_k) `)`)?
    attr-dict `->` type($output) (`,` type($lse)^)?
    (`score_mod` $score_mod^)?
    (`mask_mod` $mask_mod^)?
  }];

  let builders = [
    // Infers the output (and LSE) types from Q and V; the most common form.
    OpBuilder<(ins "::mlir::Value":$query, "::mlir::Value":$key,
      "::mlir::Value":$value,
      CArg<"::mlir::attn::MaskKind", "::mlir::attn::MaskKind::None">:$maskKind,
      CArg<"bool", "false">:$withLse)>,
    // The unsharded op (head_offset 0, all heads): what importers and the
    // raising build, so they need not spell out the sharding attributes.
    OpBuilder<(ins "::mlir::Type":$output, "::mlir::Type":$lse,
      "::mlir::Value":$query, "::mlir::Value":$key, "::mlir::Value":$value,
      "::mlir::Value":$bias, "::mlir::Value":$mask, "::mlir::Value":$key_lengths,
      "::mlir::FloatAttr":$scale, "::mlir::attn::MaskKindAttr":$mask_kind,
      "::mlir::DenseI64ArrayAttr":$window, "::mlir::FloatAttr":$softcap,
      "::mlir::DenseF64ArrayAttr":$alibi_slopes,
      "::mlir::attn::LayoutAttr":$layout), [{
      build($_builder, $_state, output, lse, query, key, value, bias, mask,
            key_lengths, /*sinks=*/nullptr, /*cu_seqlens_q=*/nullptr,
            /*cu_seqlens_k=*/nullptr, scale, mask_kind, window, softcap,
            alibi_slopes,
            layout, /*head_offset=*/nullptr, /*num_heads_total=*/nullptr);
    }]>
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
    /// Which keys each query row sees by position: the one definition every
    /// lowering uses (KeyVisibility.h).
    ::mlir::attn::KeyVisibility getKeyVisibility() {
      return ::mlir::attn::KeyVisibility::get(getMaskKind(), getWindow());
    }

    /// True for a varlen op: packed sequences delimited by cu_seqlens_q/k.
    bool isVarlen() { return static_cast<bool>(getCuSeqlensQ()); }
    /// True for varlen queries over per-sequence KV caches: cu_seqlens_q
    /// with key_lengths and no cu_seqlens_k (K and V hold N caches).
    bool isVarlenCache() {
      return isVarlen() && !getCuSeqlensK() && getKeyLengths();
    }

    /// Global head of local query head 0 (tensor-parallel sharding).
    int64_t getGlobalHeadOffset() { return getHeadOffsetAttr().getInt(); }
    /// Query heads of the whole (unsharded) attention: `num_heads_total`,
    /// or Hq when the op holds every head.
    int64_t getTotalQueryHeads() {
      if (::mlir::IntegerAttr total = getNumHeadsTotalAttr())
        return total.getInt();
      return getNumQueryHeads();
    }
  }];
}

//===----------------------------------------------------------------------===//
// AttentionBackwardOp
//===----------------------------------------------------------------------===//

def Attn_AttentionBackwardOp : Attn_Op<"attention_backward", [
    AttrSizedOperandSegments, AttrSizedResultSegments,
    RecursiveMemoryEffects]> {
  let summary = "gradients of attn.attention by recomputation from the LSE";
  let description = [{
    The backward of `attn.attention` with the same operands, attributes and
    regions, given the forward's output `O`, the gradient `dO` of a loss with
    respect to it, and the forward's log-sum-exp `lse`. With `s` the score
    chain of `attn.attention`, named by stage (`g = Hq / Hkv`):

    ```
    x[j]   = dot(Q[b, h, i, :], K[b, h / g, j, :])
    s1[j]  = scale * x[j]
    s2[j]  = softcap * tanh(s1[j] / softcap)  (s1 without `softcap`)
    s3[j]  = s2[j] - alibi_slopes[h] * |i + Lk - Lq - j|
    s4[j]  = s3[j] + bias[b, h, i, j]
    s[j]   = score_mod(s4[j], b, h, i, j)     (s4 without the region)
    P[j]   = key j masked or lse = -inf ? 0 : exp(s[j] - lse[b, h, i])
    Delta  = sum_c dO[b, h, i, c] * O[b, h, i, c] - grad_lse[b, h, i]
    dP[j]  = sum_c dO[b, h, i, c] * V[b, h / g, j, c]
    dS[j]  = P[j] * (dP[j] - Delta)                   (d loss / d s)
    dS4[j] = dS[j] * score_mod'(s4[j])                (d loss / d s4)
    dS1[j] = dS4[j] * (1 - tanh(s1[j] / softcap)^2)   (dS4 without `softcap`)

    dQ[b, h, i, :]      = scale * sum_j dS1[j] * K[b, h / g, j, :]
    dK[b, kh, j, :]     = scale * sum_{h / g = kh} sum_i dS1[j] * Q[b, h, i, :]
    dV[b, kh, j, :]     = sum_{h / g = kh} sum_i P[j] * dO[b, h, i, :]
    d_bias              = dS4, summed over the axes the bias broadcasts along
    d_sinks[h]          = -sum_{b, i} exp(sinks[h] - lse[b, h, i]) * Delta[b, h, i]
    ```

    With a `sinks` operand (f32 `[Hq]`, the forward's sinks), `lse` is the
    forward's, sink included, so `P` above is already the forward's
    probability and `dS` keeps its form: the sink has no value row, so
    `Delta = sum_j P[j] dP[j]` still holds. The sink's own probability is
    `P_sink = exp(sinks[h] - lse)` and its gradient `P_sink * (0 - Delta)`,
    summed over every row of the head: the `grad_sinks` result (f32 `[Hq]`),
    present exactly when the `sinks` operand is.

    With a `grad_lse` operand (the gradient of the loss with respect to the
    forward's returned `lse`, of `lse`'s type; without it, zero) the loss
    reads the LSE too: `d lse / d s[j] = P[j]`, so its gradient folds into
    Delta as above and every other line keeps its form (ring attention and
    other LSE-merging callers, a training loss on the LSE).

    so `dQ = scale * dS K`, `dK = scale * dS^T Q` and `dV = P^T dO` per
    query head, and GQA / MQA sum dK and dV over the `g` query heads of a
    group. Masks (`mask_kind`, `window`, `mask`, `mask_mod`, `key_lengths`)
    are those of the forward; a masked key has `P = 0` and contributes
    nothing, and a fully masked row (`lse = -inf`) has zero gradients,
    never NaN. ALiBi and the bias are additive, so they pass `dS4`
    unchanged.

    `score_mod'` is the derivative of the region with respect to its score
    argument, taken op by op (forward mode). Ops that do not depend on the
    score are free (index arithmetic, constants, casts of indices); those
    that do must be one of `arith.addf`, `subf`, `mulf`, `divf`, `negf`,
    `maximumf`, `minimumf`, `select`, `cmpf` (piecewise constant), `extf`,
    `truncf`, `math.tanh`, `math.exp`; anything else is rejected by the
    verifier, naming the op.

    Shapes follow the op's `layout` exactly as in `attn.attention`: `O` and
    `dO` are the forward output's shape, `lse` is `[B, Hq, Lq]` f32 (f64 for
    f64 inputs, as the forward's), and
    `dQ`, `dK`, `dV` (and `d_bias`) have the shapes of `Q`, `K`, `V` (and
    `bias`); their element types may differ from the inputs' (e.g. f32
    gradients of bf16 inputs). Accumulation is in f32 (f64 for f64 inputs,
    lowered as in `attn.attention`). The `d_bias` result
    may be present only with the `bias` operand; a backward without it
    treats the bias as a constant of the loss (an additive padding mask, a
    fixed positional bias), which saves computing and storing a
    `[B, Hq, Lq, Lk]` gradient nobody asked for.

    Varlen batches (the backward of FlashAttention's
    `flash_attn_varlen_func`): with `cu_seqlens_q` and `cu_seqlens_k` (i32
    `[N+1]`, given together), Q, K, V, O, dO and the gradients hold N
    sequences packed as in `attn.attention`: `[1, T, H, X]` in the `bshd`
    layout, `lse` `[1, Hq, Tq]`. Sequence n's rows of dQ and its keys' rows of
    dK and dV are exactly the dense backward (same attributes, `b = 0`) of
    its slices, query rows `[cu_seqlens_q[n], cu_seqlens_q[n+1])` and keys
    `[cu_seqlens_k[n], cu_seqlens_k[n+1])`, so causal and window masks are
    aligned per sequence (bottom-right at `lk_n - lq_n`). Key rows no sequence
    owns get zero gradients; `grad_sinks` sums over every sequence. The
    offsets' contract and their clamping are the forward's; `key_lengths`,
    `bias`, `mask` and the modifier regions are refused with cu_seqlens.

    ```mlir
    %dq, %dk, %dv = attn.attention_backward
        ins(%q, %k, %v, %o, %do, %lse : tensor<2x32x1024x128xbf16>,
            tensor<2x8x1024x128xbf16>, tensor<2x8x1024x128xbf16>,
            tensor<2x32x1024x128xbf16>, tensor<2x32x1024x128xbf16>,
            tensor<2x32x1024xf32>)
        {mask_kind = #attn.mask<causal_bottom_right>}
        -> tensor<2x32x1024x128xbf16>, tensor<2x8x1024x128xbf16>,
           tensor<2x8x1024x128xbf16>
    ```
  }];

  let arguments = (ins
    AnyRankedTensor:$query,
    AnyRankedTensor:$key,
    AnyRankedTensor:$value,
    AnyRankedTensor:$output,
    AnyRankedTensor:$grad_output,
    AnyRankedTensor:$lse,
    Optional<AnyRankedTensor>:$bias,
    Optional<AnyRankedTensor>:$mask,
    Optional<RankedTensorOf<[I32]>>:$key_lengths,
    Optional<AnyRankedTensor>:$sinks,
    Optional<RankedTensorOf<[I32]>>:$cu_seqlens_q,
    Optional<RankedTensorOf<[I32]>>:$cu_seqlens_k,
    Optional<AnyRankedTensor>:$grad_lse,
    OptionalAttr<F64Attr>:$scale,
    DefaultValuedAttr<Attn_MaskKindAttr, "::mlir::attn::MaskKind::None">:$mask_kind,
    OptionalAttr<DenseI64ArrayAttr>:$window,
    OptionalAttr<F64Attr>:$softcap,
    OptionalAttr<DenseF64ArrayAttr>:$alibi_slopes,
    DefaultValuedAttr<Attn_LayoutAttr, "::mlir::attn::Layout::BHSD">:$layout
  );
  let results = (outs AnyRankedTensor:$grad_query, AnyRankedTensor:$grad_key,
                      AnyRankedTensor:$grad_value,
                      Optional<AnyRankedTensor>:$grad_bias,
                      Optional<AnyRankedTensor>:$grad_sinks);
  let regions = (region AnyRegion:$score_mod, AnyRegion:$mask_mod);

  let assemblyFormat = [{
    `ins` `(` $query `,` $key `,` $value `,` $output `,` $grad_output `,` $lse
      `:` type($query) `,` type($key) `,` type($value) `,` type($output) `,`
      type($grad_output) `,` type($lse) `)`
    (`bias` `(` $bias^ `:` type($bias) `)`)?
    (`mask` `(` $mask^ `:` type($mask) `)`)?
    (`key_lengths` `(` $key_lengths^ `:` type($key_lengths) `)`)?
    (`sinks` `(` $sinks^ `:` type($sinks) `)`)?
    (`cu_seqlens_q` `(` $cu_seqlens_q^ `:` type($cu_seqlens_q) `)`)?
    (`cu_seqlens_k` `(` $cu_seqlens_k^ `:` type($cu_seqlens_k) `)`)?
    (`grad_lse` `(` $grad_lse^ `:` type($grad_lse) `)`)?
    attr-dict `->` type($grad_query) `,` type($grad_key) `,` type($grad_value)
      (`,` type($grad_bias)^)?
      (`grad_sinks` `(` type($grad_sinks)^ `)`)?
    (`score_mod` $score_mod^)?
    (`mask_mod` $mask_mod^)?
  }];

  let hasVerifier = 1;
  let hasRegionVerifier = 1;

  let extraClassDeclaration = [{
    /// Which keys each query row sees by position (KeyVisibility.h).
    ::mlir::attn::KeyVisibility getKeyVisibility() {
      return ::mlir::attn::KeyVisibility::get(getMaskKind(), getWindow());
    }
    /// True for the backward of a varlen batch (cu_seqlens_q / cu_seqlens_k).
    bool isVarlen() { return static_cast<bool>(getCuSeqlensQ()); }
    int64_t getHeadAxis() { return getLayout() == Layout::BHSD ? 1 : 2; }
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
    int64_t getNumQueryHeads() { return getQueryType().getDimSize(getHeadAxis()); }
    int64_t getNumKVHeads() { return getKeyType().getDimSize(getHeadAxis()); }
    int64_t getHeadGroupSize() { return getNumQueryHeads() / getNumKVHeads(); }
    int64_t getHeadDim() { return getQueryType().getDimSize(3); }
    int64_t getValueHeadDim() { return getValueType().getDimSize(3); }
    int64_t getQueryLength() { return getQueryType().getDimSize(getSeqAxis()); }
    int64_t getKeyLength() { return getKeyType().getDimSize(getSeqAxis()); }
    std::optional<double> getScaleValue() {
      if (::mlir::FloatAttr attr = getScaleAttr())
        return attr.getValueAsDouble();
      return std::nullopt;
    }
    std::optional<double> getSoftcapValue() {
      if (::mlir::FloatAttr attr = getSoftcapAttr())
        return attr.getValueAsDouble();
      return std::nullopt;
    }
    /// The scale applied to Q.K^T: the `scale` attribute or 1/sqrt(D).
    double getEffectiveScale();
  }];
}

//===----------------------------------------------------------------------===//
// Tile-level ops made by attn-tile and attn-fuse-online-softmax
//===----------------------------------------------------------------------===//

// Operands shared by the ops that compute one tile of an attention: a block
// of M query rows of G query heads (the heads that share one key/value head
// when GQA packing is on) against a block of N keys, with the absolute
// positions that masks, ALiBi and modifiers are evaluated at.
defvar AttnTileOperands = (ins
  RankedTensorOf<[F16, BF16, F32]>:$query,   // [G, M, D]
  RankedTensorOf<[F16, BF16, F32]>:$key,     // [N, D]
  RankedTensorOf<[F16, BF16, F32]>:$value,   // [N, Dv]
  Optional<RankedTensorOf<[F16, BF16, F32]>>:$bias, // [G, M, N]
  Optional<RankedTensorOf<[I1]>>:$mask,             // [G, M, N]
  Index:$batch,       // batch index b
  Index:$head,        // global query head of row group 0 (group g: head + g)
  Index:$query_pos,   // absolute position of row 0
  Index:$key_pos,     // absolute position of key 0
  Index:$query_len,   // Lq of the whole attention (for alignment)
  Index:$key_len,     // Lk of the whole attention; keys at >= key_len are masked
  F64Attr:$scale,
  DefaultValuedAttr<Attn_MaskKindAttr, "::mlir::attn::MaskKind::None">:$mask_kind,
  OptionalAttr<DenseI64ArrayAttr>:$window,
  OptionalAttr<F64Attr>:$softcap,
  OptionalAttr<DenseF64ArrayAttr>:$alibi_slopes,
  UnitAttr:$interior
);

defvar AttnTileFormat = [{
    `ins` `(` $query `,` $key `,` $value `:` type($query) `,` type($key) `,`
      type($value) `)`
    (`bias` `(` $bias^ `:` type($bias) `)`)?
    (`mask` `(` $mask^ `:` type($mask) `)`)?
    `at` `(` $batch `,` $head `,` $query_pos `,` $key_pos `)`
    `lengths` `(` $query_len `,` $key_len `)`
}];

defvar AttnTileClassDecl = [{
    /// Rows per query head (M) and keys (N) in this tile.
    int64_t getBlockM() {
      return ::llvm::cast<::mlir::RankedTensorType>(getQuery().getType())
          .getDimSize(1);
    }
    int64_t getBlockN() {
      return ::llvm::cast<::mlir::RankedTensorType>(getKey().getType())
          .getDimSize(0);
    }
    std::optional<double> getSoftcapValue() {
      if (::mlir::FloatAttr attr = getSoftcapAttr())
        return attr.getValueAsDouble();
      return std::nullopt;
    }
    /// Which keys each query row sees by position (KeyVisibility.h).
    ::mlir::attn::KeyVisibility getKeyVisibility() {
      return ::mlir::attn::KeyVisibility::get(getMaskKind(), getWindow());
    }
}];

def Attn_BlockAttentionOp : Attn_Op<"block_attention", [
    AttrSizedOperandSegments, RecursiveMemoryEffects]> {
  let summary = "attention of one query tile against one key tile";
  let description = [{
    Made by `attn-tile`. Computes `attn.attention`'s semantics restricted to
    a tile: rows `i` of query heads `head + g` at absolute positions
    `query_pos + i`, against keys at `key_pos + j`. Masks, ALiBi and the
    modifier regions see absolute positions and the whole problem's
    `query_len`/`key_len`; keys at `key_pos + j >= key_len` (tile padding)
    are masked. `head` is the global head (`attn.attention`'s local head
    plus its `head_offset`): the tile's operands are already sliced, so the
    head only names the ALiBi slope and the modifiers' head argument. The results are the tile's normalised output (f32) and its
    log-sum-exp, so tiles over disjoint key ranges merge exactly with
    `attn.combine`.

    With `interior`, the producer guarantees that no key of the tile is
    masked by position or out of range, so the mask kind and bounds are not
    evaluated (boolean-mask operands and `mask_mod` still are).

    ```mlir
    %o, %lse = attn.block_attention ins(%q, %k, %v : tensor<4x64x128xbf16>,
        tensor<64x128xbf16>, tensor<64x128xbf16>)
        at(%b, %h0, %q0, %k0) lengths(%lq, %lk)
        {scale = 0.0883 : f64, mask_kind = #attn.mask<causal_bottom_right>}
        -> tensor<4x64x128xf32>, tensor<4x64xf32>
    ```
  }];
  let arguments = AttnTileOperands;
  let results = (outs RankedTensorOf<[F32]>:$output,
                      RankedTensorOf<[F32]>:$lse);
  let regions = (region AnyRegion:$score_mod, AnyRegion:$mask_mod);
  let assemblyFormat = AttnTileFormat # [{
    attr-dict `->` type($output) `,` type($lse)
    (`score_mod` $score_mod^)?
    (`mask_mod` $mask_mod^)?
  }];
  let hasVerifier = 1;
  let hasRegionVerifier = 1;
  let extraClassDeclaration = AttnTileClassDecl;
}

def Attn_OnlineStepOp : Attn_Op<"online_step", [
    AttrSizedOperandSegments, RecursiveMemoryEffects]> {
  let summary = "one step of the online-softmax (FlashAttention) recurrence";
  let description = [{
    Made by `attn-fuse-online-softmax`. Folds one key tile into the running
    state of a query tile: the unnormalised accumulator `acc` `[G, M, Dv]`,
    the running row maximum `max` and the running row sum `sum` `[G, M]`
    (all f32). With `s` the tile's scores, masked exactly as in
    `attn.block_attention`:

    ```
    m'   = max(max, rowmax(s))
    a    = exp(max - m')                 (0 where max = -inf)
    p    = exp(s - m')                   (0 where s = -inf)
    sum' = a * sum + rowsum(p)
    acc' = a * acc + round(p) . V        (round: to `p_type`, if set)
    ```

    `attn-lower-precision` sets `p_type` (P is rounded to the input type
    before P.V, as FlashAttention feeds it to the tensor cores) and
    `log2_domain`: `max` is then kept in units of log2, scores are scaled
    by log2(e) (folded into `scale` when nothing nonlinear follows it) and
    exp2 replaces exp.
  }];
  let arguments = !con(AttnTileOperands, (ins
    RankedTensorOf<[F32]>:$acc,   // [G, M, Dv]
    RankedTensorOf<[F32]>:$max,   // [G, M]
    RankedTensorOf<[F32]>:$sum,   // [G, M]
    OptionalAttr<TypeAttr>:$p_type,
    UnitAttr:$log2_domain));
  let results = (outs RankedTensorOf<[F32]>:$new_acc,
                      RankedTensorOf<[F32]>:$new_max,
                      RankedTensorOf<[F32]>:$new_sum);
  let regions = (region AnyRegion:$score_mod, AnyRegion:$mask_mod);
  let assemblyFormat = AttnTileFormat # [{
    `state` `(` $acc `,` $max `,` $sum `:` type($acc) `,` type($max) `,`
      type($sum) `)`
    attr-dict `->` type($new_acc) `,` type($new_max) `,` type($new_sum)
    (`score_mod` $score_mod^)?
    (`mask_mod` $mask_mod^)?
  }];
  let hasVerifier = 1;
  let hasRegionVerifier = 1;
  let extraClassDeclaration = AttnTileClassDecl;
}

def Attn_FinalizeOp : Attn_Op<"finalize", [Pure]> {
  let summary = "the single division at the end of the online softmax";
  let description = [{
    Turns the online-softmax state into the output and the log-sum-exp:
    `output = sum == 0 ? 0 : acc / sum` (converted to the result element
    type) and `lse = sum == 0 ? -inf : max + log(sum)`; with `log2_domain`,
    `lse = (max + log2(sum)) * ln(2)`. Rows whose keys were all masked have
    `sum == 0` and give 0 and -inf, never NaN.
  }];
  let arguments = (ins RankedTensorOf<[F32]>:$acc, RankedTensorOf<[F32]>:$max,
                       RankedTensorOf<[F32]>:$sum, UnitAttr:$log2_domain);
  let results = (outs RankedTensorOf<[F16, BF16, F32]>:$output,
                      RankedTensorOf<[F32]>:$lse);
  let assemblyFormat = [{
    $acc `,` $max `,` $sum attr-dict `:` type($acc) `,` type($max) `,`
      type($sum) `->` type($output) `,` type($lse)
  }];
  let hasVerifier = 1;
}

def Attn_CombineOp : Attn_Op<"combine", [Pure, SameVariadicOperandSize]> {
  let summary = "merge partial attention results by their log-sum-exp";
  let description = [{
    Merges `n` normalised partial results of the same query rows over
    disjoint key ranges (KV tiles, or the splits of split-KV decode):

    ```
    lse = log(sum_k exp(lse_k))                        (-inf if all are)
    out = sum_k exp(lse_k - lse) * out_k               (0 if lse = -inf)
    ```

    Outputs are `[..., Dv]` f32 and LSEs the same shape without `Dv`.
    `attn-tile` merges attention sinks this way too: a sink is one more
    partial, over no key, with output 0 and LSE `sinks[h]`.
  }];
  let arguments = (ins Variadic<RankedTensorOf<[F32]>>:$outputs,
                       Variadic<RankedTensorOf<[F32]>>:$lses);
  let results = (outs RankedTensorOf<[F32]>:$output,
                      RankedTensorOf<[F32]>:$lse);
  let assemblyFormat = [{
    `outputs` `(` $outputs `:` type($outputs) `)`
    `lses` `(` $lses `:` type($lses) `)`
    attr-dict `->` type($output) `,` type($lse)
  }];
  let hasVerifier = 1;
}

def Attn_BackwardStepOp : Attn_Op<"backward_step", [
    AttrSizedOperandSegments, RecursiveMemoryEffects]> {
  let summary = "one (query tile, KV tile) step of the attention backward";
  let description = [{
    Made by `attn-tile-backward`. Recomputes the tile's scores exactly as
    `attn.block_attention` defines them (absolute positions, padding keys at
    `key_pos + j >= key_len` masked, `interior` skipping the positional
    mask) and applies `attn.attention_backward`'s chain to them, with the
    tile's `grad_output` `[G, M, Dv]`, `lse` and `delta` `[G, M]` (f32;
    `delta = rowsum(dO * O)`, computed once before the loops):

    ```
    P    = masked or lse = -inf ? 0 : exp(s - lse)
    dS   = P * (dO . V^T - delta)
    dS1  = dS * score_mod'(s4) * softcap'(s1)        (see attention_backward)
    new_grad_key   = grad_key   + scale * sum_{g, i} round(dS1)[g, i, :]^T Q[g, i, :]
    new_grad_value = grad_value + sum_{g, i} round(P)[g, i, :]^T dO[g, i, :]
    grad_query     = scale * round(dS1) . K           (this tile's share, f32)
    grad_bias      = dS4                              (with a bias, [G, M, N])
    ```

    `round` rounds to `p_type` when it is set (`attn-lower-precision`: the
    tensor cores take P and dS in the input type), and is the identity
    otherwise. The key and value gradients `[N, D]`, `[N, Dv]` are the f32
    accumulators of the KV tile; the query gradient is this tile's
    contribution, which `attn.accumulate` sums over KV tiles. The optional
    `grad_bias` result, allowed only with a `bias` tile, is the tile's
    gradient of the bias before any broadcast reduction.

    ```mlir
    %dk, %dv, %dq = attn.backward_step ins(%q, %k, %v : tensor<4x16x64xbf16>,
        tensor<16x64xbf16>, tensor<16x64xbf16>)
        at(%b, %h0, %q0, %k0) lengths(%lq, %lk)
        grads(%do, %lse, %delta : tensor<4x16x64xbf16>, tensor<4x16xf32>,
              tensor<4x16xf32>)
        acc(%dk0, %dv0 : tensor<16x64xf32>, tensor<16x64xf32>)
        {scale = 0.125 : f64} -> tensor<16x64xf32>, tensor<16x64xf32>,
        tensor<4x16x64xf32>
    ```
  }];
  let arguments = !con(AttnTileOperands, (ins
    RankedTensorOf<[F16, BF16, F32]>:$grad_output, // [G, M, Dv]
    RankedTensorOf<[F32]>:$lse,                    // [G, M]
    RankedTensorOf<[F32]>:$delta,                  // [G, M]
    RankedTensorOf<[F32]>:$grad_key,               // [N, D]
    RankedTensorOf<[F32]>:$grad_value,             // [N, Dv]
    OptionalAttr<TypeAttr>:$p_type));
  let results = (outs RankedTensorOf<[F32]>:$new_grad_key,
                      RankedTensorOf<[F32]>:$new_grad_value,
                      RankedTensorOf<[F32]>:$grad_query,
                      Optional<RankedTensorOf<[F32]>>:$grad_bias);
  let regions = (region AnyRegion:$score_mod, AnyRegion:$mask_mod);
  let assemblyFormat = AttnTileFormat # [{
    `grads` `(` $grad_output `,` $lse `,` $delta `:` type($grad_output) `,`
      type($lse) `,` type($delta) `)`
    `acc` `(` $grad_key `,` $grad_value `:` type($grad_key) `,`
      type($grad_value) `)`
    attr-dict `->` type($new_grad_key) `,` type($new_grad_value) `,`
      type($grad_query) (`,` type($grad_bias)^)?
    (`score_mod` $score_mod^)?
    (`mask_mod` $mask_mod^)?
  }];
  let hasVerifier = 1;
  let hasRegionVerifier = 1;
  let extraClassDeclaration = AttnTileClassDecl;
}

def Attn_AccumulateOp : Attn_Op<"accumulate", [Pure]> {
  let summary = "sum partial results along their leading axis";
  let description = [{
    `result[...] = sum_k partials[k, ...]` for f32 partials `[n, ...]`: the
    accumulation step of the backward's query gradient, whose KV tiles each
    contribute a share. With `deterministic` the sum runs in increasing `k`,
    so the result is bit-identical run to run; without it the order is
    unspecified (a GPU lowering may turn it into atomic adds of the
    producers into one f32 buffer). The CPU lowering always sums in
    increasing `k`.

    ```mlir
    %dq = attn.accumulate %parts {deterministic}
        : tensor<4x1x8x64x32xf32> -> tensor<1x8x64x32xf32>
    ```
  }];
  let arguments = (ins RankedTensorOf<[F32]>:$partials,
                       UnitAttr:$deterministic);
  let results = (outs RankedTensorOf<[F32]>:$result);
  let assemblyFormat = [{
    $partials attr-dict `:` type($partials) `->` type($result)
  }];
  let hasVerifier = 1;
}

def Attn_KVTileOp : Attn_Op<"kv_tile", [Pure]> {
  let summary = "one tile of K or V rows, read from a tensor or a KV cache view";
  let description = [{
    Made by `attn-tile`: rows `start .. start + N - 1` of KV head `kv_head`
    of sequence `batch` of `source` (a `[B, Hkv, L, D]` tensor in the
    `bhsd` layout, `[B, L, Hkv, D]` in `bshd`, or the result of a KV cache
    view such as `attn.paged_view`), as an `[N, D]` tile. Rows past `L` are
    zero; the tile op that reads the tile masks them by position.

    The op keeps the tile's source visible after tiling: the CPU lowering
    (`convert-attn-to-linalg`) expands it into a slice and a pad, or the
    view's own gather (`KVCacheViewInterface::buildTile`); GPU kernel
    families read the rows through the view's address hook instead.

    ```mlir
    %kt = attn.kv_tile %k[%b, %kvh, %k0] : tensor<2x4x1024x128xbf16> -> tensor<64x128xbf16>
    ```
  }];
  let arguments = (ins RankedTensorOf<[F16, BF16, F32, F64]>:$source,
                       Index:$batch, Index:$kv_head, Index:$start,
    DefaultValuedAttr<Attn_LayoutAttr, "::mlir::attn::Layout::BHSD">:$layout);
  let results = (outs RankedTensorOf<[F16, BF16, F32, F64]>:$tile);
  let assemblyFormat = [{
    $source `[` $batch `,` $kv_head `,` $start `]` attr-dict `:`
      type($source) `->` type($tile)
  }];
  let hasVerifier = 1;
  let extraClassDeclaration = [{
    /// The KV cache view the rows come from, or null for a plain tensor.
    ::mlir::attn::KVCacheViewInterface getView() {
      return getSource().getDefiningOp<::mlir::attn::KVCacheViewInterface>();
    }
    /// Rows of the tile (N).
    int64_t getNumRows() {
      return ::llvm::cast<::mlir::RankedTensorType>(getTile().getType())
          .getDimSize(0);
    }
    /// The tile as slices, pads or the view's gather (the CPU lowering).
    ::mlir::Value expand(::mlir::OpBuilder &builder);
  }];
}

//===----------------------------------------------------------------------===//
// KV cache views
//===----------------------------------------------------------------------===//

def Attn_PagedViewOp : Attn_Op<"paged_view", [Pure,
    DeclareOpInterfaceMethods<Attn_KVCacheViewInterface,
                              ["getStorage", "buildRowOffset",
                               "getViewLayout"]>]> {
  let summary = "the dense [B, Hkv, L, D] view of a paged KV cache";
  let description = [{
    A paged key or value cache as vLLM stores it: `pages` is
    `[num_pages, page_size, Hkv, D]` and `block_table` `[B, max_pages]` (i32)
    lists, for each sequence, the pages holding its tokens in order. The
    result is the logical cache of every sequence,

    ```
    view[b, h, l, d] = pages[block_table[b, l / page_size], l % page_size, h, d]
    ```

    with `L = max_pages * page_size`; with `layout = #attn.layout<bshd>`
    the view is `[B, L, Hkv, D]` (`view[b, l, h, d]`, the same element: the
    order of an attention in the bshd layout, e.g. varlen decode over
    caches). Positions past a sequence's length are
    masked by the attention that reads the view (e.g. causal bottom-right
    alignment or a boolean mask). `attn.attention` takes the view as its key
    or value operand; `attn-tile` gathers each KV tile straight from the
    pages through the KV cache interface instead of materialising the view.

    ```mlir
    %k = attn.paged_view %k_pages[%table] : tensor<64x16x8x128xbf16>,
        tensor<4x16xi32> -> tensor<4x8x256x128xbf16>
    ```
  }];
  let arguments = (ins RankedTensorOf<[F16, BF16, F32]>:$pages,
                       RankedTensorOf<[I32]>:$block_table,
    DefaultValuedAttr<Attn_LayoutAttr, "::mlir::attn::Layout::BHSD">:$layout);
  let results = (outs RankedTensorOf<[F16, BF16, F32]>:$view);
  let assemblyFormat = [{
    $pages `[` $block_table `]` attr-dict `:` type($pages) `,`
      type($block_table) `->` type($view)
  }];
  let hasVerifier = 1;
  let extraClassDeclaration = [{
    int64_t getPageSize() {
      return ::llvm::cast<::mlir::RankedTensorType>(getPages().getType())
          .getDimSize(1);
    }
  }];
}

def Attn_KVAppendOp : Attn_Op<"kv_append", [Pure,
    DeclareOpInterfaceMethods<Attn_KVCacheViewInterface,
                              ["getStorage", "getNumRowStorages",
                               "buildRowStorageIndex", "buildRowOffset"]>]> {
  let summary = "write new tokens' keys or values into a contiguous cache";
  let description = [{
    Returns `cache` `[B, Hkv, Lmax, D]` with the `T` new rows of `tokens`
    `[B, Hkv, T, D]` written at each sequence's position `positions[b]`
    (i32 `[B]`):

    ```
    result[b, h, l, d] = 0 <= l - positions[b] < T ? tokens[b, h, l - positions[b], d]
                                                   : cache[b, h, l, d]
    ```

    Rows that would land outside `[0, Lmax)` are not written (the runtime
    KV cache manager rejects such appends before they reach a kernel).
    The result is also a KV cache view: an attention that reads it gets
    each KV tile gathered from the cache and the new tokens directly
    (`attn-tile`), so the append is fused with the attention that follows
    (chunked prefill, decode); the written cache is materialised only if
    something else uses it.

    ```mlir
    %k = attn.kv_append %k_new into %k_cache at %pos : tensor<2x8x16x128xbf16>
        into tensor<2x8x4096x128xbf16> at tensor<2xi32>
    ```
  }];
  let arguments = (ins RankedTensorOf<[F16, BF16, F32]>:$tokens,
                       RankedTensorOf<[F16, BF16, F32]>:$cache,
                       RankedTensorOf<[I32]>:$positions);
  let results = (outs RankedTensorOf<[F16, BF16, F32]>:$result);
  let assemblyFormat = [{
    $tokens `into` $cache `at` $positions attr-dict `:` type($tokens)
      `into` type($cache) `at` type($positions) `->` type($result)
  }];
  let hasVerifier = 1;
}

def Attn_KVPrefixOp : Attn_Op<"kv_prefix", [Pure,
    DeclareOpInterfaceMethods<Attn_KVCacheViewInterface,
                              ["getStorage", "getNumRowStorages",
                               "buildRowStorageIndex", "buildRowOffset",
                               "getViewLayout"]>]> {
  let summary = "the first Dv columns of every row of a KV cache: V as a "
                "view of K's cache";
  let description = [{
    A value operand that shares the key cache: the result holds the first
    `Dv` columns of each row of `source` (a `[B, Hkv, L, D]` tensor, or
    `[B, L, Hkv, D]` with `layout = #attn.layout<bshd>`, or a KV cache view
    such as `attn.paged_view`, whose layout it must then have):

    ```
    view[b, h, l, c] = source[b, h, l, c]      (0 <= c < Dv <= D)
    ```

    DeepSeek MLA's absorbed decode keeps one latent row per token, 512
    latent and 64 rotary dims: the key is the whole 576-wide row and the
    value its first 512 dims. Writing the value as `attn.kv_prefix` of the
    key's cache (the same SSA value) says so in the IR: there is one cache
    in memory, the host passes one buffer, and a kernel may read each row
    once for both Q.K and P.V. Nothing else about the attention changes.

    The address hook is the source's: row `l` of the view starts where row
    `l` of the source does (column 0), so the storage, row storages and row
    offsets are the source view's, or, for a plain tensor source, the
    tensor itself with rows `D` elements apart.

    ```mlir
    %v = attn.kv_prefix %kv : tensor<4x1x4096x576xbf16>
        -> tensor<4x1x4096x512xbf16>
    %o = attn.attention ins(%q, %kv, %v : tensor<4x16x1x576xbf16>,
        tensor<4x1x4096x576xbf16>, tensor<4x1x4096x512xbf16>)
        {scale = 0.0722 : f64} -> tensor<4x16x1x512xbf16>
    ```
  }];
  let arguments = (ins RankedTensorOf<[F16, BF16, F32, F64]>:$source,
    DefaultValuedAttr<Attn_LayoutAttr, "::mlir::attn::Layout::BHSD">:$layout);
  let results = (outs RankedTensorOf<[F16, BF16, F32, F64]>:$view);
  let assemblyFormat = [{
    $source attr-dict `:` type($source) `->` type($view)
  }];
  let hasVerifier = 1;
  let extraClassDeclaration = [{
    /// The KV cache view the rows come from, or null for a plain tensor.
    ::mlir::attn::KVCacheViewInterface getSourceView() {
      return getSource().getDefiningOp<::mlir::attn::KVCacheViewInterface>();
    }
    /// Columns of the view (Dv) and of the source rows (D).
    int64_t getNumColumns() {
      return ::llvm::cast<::mlir::RankedTensorType>(getView().getType())
          .getDimSize(3);
    }
    int64_t getSourceRowWidth() {
      return ::llvm::cast<::mlir::RankedTensorType>(getSource().getType())
          .getDimSize(3);
    }
  }];
}

//===----------------------------------------------------------------------===//
// YieldOp
//===----------------------------------------------------------------------===//

def Attn_YieldOp : Attn_Op<"yield", [Pure, Terminator, ReturnLike,
    ParentOneOf<["AttentionOp", "BlockAttentionOp", "OnlineStepOp",
                 "AttentionBackwardOp", "BackwardStepOp"]>]> {
  let summary = "yields the value of a score_mod or mask_mod region";
  let description = [{
    Terminates the `score_mod` region (yielding the f32 score) or the
    `mask_mod` region (yielding the i1 keep flag) of `attn.attention`.
  }];
  let arguments = (ins Variadic<AnyType>:$values);
  let assemblyFormat = "attr-dict ($values^ `:` type($values))?";
}

#endif // ATTN_OPS_TD
