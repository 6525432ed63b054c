//===- Passes.td - attn-level passes -----------------------*- tablegen -*-===//
//
// Part of attn-mlir. Passes that produce attn ops (attn-raise) and transform
// them into the FlashAttention algorithm step by step (DESIGN.md, "The
// pipeline"); lowerings out of the dialect live in attn/Conversion/Passes.td.
// A plain list of defs.
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
      Merged `[B*H, L, D]` operands with no 4-D form take the head count
      from a reshape around any of them, else raise as `B*H` batches of one
      head; K (or V) may come pre-transposed as `[.., D, L]`.
    * The scale as a multiplication or division by a constant, on Q, on K or
      on the scores, before or after a mask in the same body.
    * An additive bias tensor (becomes the `bias` operand), and masks
      written as `arith.select` on `linalg.index` comparisons, as a boolean
      tensor computed from indices, or as an added constant of `0` and
      `-inf` (or `<= -1e4`); several combine. The combined mask must be
      causal (`causal_top_left`, `causal_bottom_right`) or a sliding window
      bounded on both sides in either alignment (`sliding_window`, written
      in the op's bottom-right frame).
    * `linalg.softmax`, or the decomposed form max-reduce, subtract, exp,
      sum-reduce, divide, over the key dimension; optionally between an
      upcast to f32 and the cast back (bf16/f16 models). `log(rowsum) +
      rowmax` of the decomposed form, in f32, becomes the LSE result.
    * repeat_kv for GQA/MQA (`tensor.expand_shape` + `linalg.broadcast` or a
      broadcasting `linalg.generic` + `tensor.collapse_shape`), folded into
      the head ratio `Hq / Hkv`.
    * BHSD and BSHD operands: transposes around the block become the
      `layout` attribute.

    Anything else is left untouched: a softmax over another axis or in a
    type other than f32 after an upcast, an intermediate with a use outside
    the chain, a non-constant scale, a scale applied after the bias, a mask
    that is neither causal nor a window, mismatched or dynamic shapes. With
    `report-rejections`, each unraised candidate gets a remark at the op
    where matching stopped, saying why (also under `-debug-only=attn-raise`
    with an assertions build of LLVM).

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
    Option<"reportRejections", "report-rejections", "bool",
           /*default=*/"false",
           "Emit a remark for every attention candidate left unraised (a "
           "contraction whose result reaches a softmax), at the op where "
           "matching stopped, saying why">,
  ];
  let statistics = [
    Statistic<"numRaised", "num-raised", "Number of attention ops raised">,
  ];
}

def AttnTile : Pass<"attn-tile"> {
  let summary = "Tile attn.attention into query tiles and a loop over KV tiles";
  let description = [{
    Rewrites every `attn.attention` into an `scf.forall` over (batch, head
    group, query block[, KV split]) whose body loops over KV blocks with
    `scf.for`, computing each (query tile, KV tile) pair with
    `attn.block_attention` and merging the partial results with
    `attn.combine`:

    * `block-m` query rows and `block-n` keys per tile; lengths that the block
      sizes do not divide are padded (padded keys are masked, padded rows
      are dropped when the tile is written back).
    * With `pack-gqa`, the `Hq / Hkv` query heads that share a KV head are one
      tile (its `G` dimension), so each K/V tile is loaded once per group.
    * With `num-splits` > 1 the KV range is split across programs
      (split-KV, flash-decoding) and the splits are merged by `attn.combine`.
    * With `skip-masked-blocks`, KV blocks wholly outside a causal or window
      mask are never visited, and the KV loop is split into boundary loops
      (which evaluate the mask) and an interior loop whose tiles are marked
      `interior` (no mask or bounds evaluated).
    * A varlen op (`cu_seqlens_q` / `cu_seqlens_k`, one split only) becomes
      (sequence, head group, query block) programs over its packed
      operands: each reads its sequence's starts and lengths
      (`buildVarlenSequence`), slices its rows at those starts and sees
      positions and lengths within the sequence (what the GPU kernel runs;
      the CPU pipeline runs `attn-split-varlen` first).

    ```mlir
    %o = attn.attention ins(%q, %k, %v : tensor<1x8x128x64xf32>, ...)
        {mask_kind = #attn.mask<causal_bottom_right>} -> tensor<1x8x128x64xf32>
    ```
    becomes (abridged, `block-m=64 block-n=32`)
    ```mlir
    scf.forall (%b, %hg, %qb) in (1, 2, 2) shared_outs(%out = %init) {
      %qt = tensor.extract_slice %q[%b, %h0, %q0, 0] [1, 4, 64, 64] ...
      %r:2 = scf.for %k0 = %lo to %ilo step %c32 iter_args(%o = %zero, %l = %ninf) {
        %bo, %bl = attn.block_attention ins(%qt, %kt, %vt ...) at(...) ...
        %co, %cl = attn.combine outputs(%o, %bo ...) lses(%l, %bl ...)
        scf.yield %co, %cl
      }
      ... interior loop, boundary loop ...
    }
    ```
  }];
  let dependentDialects = [
    "::mlir::arith::ArithDialect",
    "::mlir::linalg::LinalgDialect",
    "::mlir::scf::SCFDialect",
    "::mlir::tensor::TensorDialect",
  ];
  let options = [
    Option<"blockM", "block-m", "int64_t", /*default=*/"64",
           "Query rows per tile">,
    Option<"blockN", "block-n", "int64_t", /*default=*/"64",
           "Keys per KV tile">,
    Option<"packGqa", "pack-gqa", "bool", /*default=*/"true",
           "Process the query heads that share a KV head in one tile">,
    Option<"numSplits", "num-splits", "int64_t", /*default=*/"1",
           "Split the KV range across this many programs (split-KV)">,
    Option<"skipMaskedBlocks", "skip-masked-blocks", "bool",
           /*default=*/"true",
           "Skip KV blocks outside causal/window masks and only evaluate the "
           "mask on boundary blocks">,
  ];
}

def AttnFuseOnlineSoftmax : Pass<"attn-fuse-online-softmax"> {
  let summary = "Turn KV loops of block attentions into the online-softmax "
                "recurrence";
  let description = [{
    Rewrites each `scf.for` that merges `attn.block_attention` results into
    a normalised (output, LSE) pair with `attn.combine` into the
    FlashAttention recurrence: the loop carries the unnormalised accumulator,
    the running row max and the running row sum, each iteration is one
    `attn.online_step` (rescale by exp(m_old - m_new), no division), and a
    single `attn.finalize` after the loop divides once and produces the LSE.
    Consecutive KV loops of one query tile (boundary, interior, boundary)
    pass the state along without normalising in between.

    ```mlir
    %r:2 = scf.for ... iter_args(%o = %zero, %l = %ninf) {
      %bo, %bl = attn.block_attention ...
      %co, %cl = attn.combine outputs(%o, %bo ...) lses(%l, %bl ...) ...
      scf.yield %co, %cl
    }
    ```
    becomes
    ```mlir
    %s:3 = scf.for ... iter_args(%acc = %zero, %m = %ninf, %sum = %zero) {
      %a, %mx, %sm = attn.online_step ... state(%acc, %m, %sum ...)
      scf.yield %a, %mx, %sm
    }
    %o, %lse = attn.finalize %s#0, %s#1, %s#2 ...
    ```
  }];
  let dependentDialects = ["::mlir::scf::SCFDialect"];
}

def AttnLowerPrecision : Pass<"attn-lower-precision"> {
  let summary = "Choose the precision of the online-softmax steps";
  let description = [{
    Applies FlashAttention's precision choices to `attn.online_step`:

    * `round-p`: P is rounded to the element type of the inputs (bf16/f16)
      before P.V, as the tensor cores consume it; S, the running statistics
      and the output accumulator stay f32.
    * `exp2`: the running max is kept in units of log2 so exp2 replaces exp;
      log2(e) is folded into the scale where nothing nonlinear (softcap,
      ALiBi, bias, score_mod) follows it. Every `attn.online_step` and
      `attn.finalize` of a function switches together, so the state they
      exchange stays in one domain.

    ```mlir
    attn.online_step ... {scale = 0.125 : f64}
    ```
    becomes
    ```mlir
    attn.online_step ... {log2_domain, p_type = bf16, scale = 0.125 : f64}
    ```
  }];
  let options = [
    Option<"roundP", "round-p", "bool", /*default=*/"true",
           "Round P to the input element type before P.V">,
    Option<"useExp2", "exp2", "bool", /*default=*/"true",
           "Keep the running max in log2 units and use exp2">,
  ];
}

def AttnCountKVTiles : Pass<"attn-count-kv-tiles"> {
  let summary = "Report how many KV tiles each tiled attention visits";
  let description = [{
    An analysis for tests and tuning: for every `scf.forall` made by
    `attn-tile` over static shapes, evaluates the KV loop bounds of every
    query block and emits a remark with the number of KV tiles visited, how
    many of them are interior (no mask evaluated) and how many a dense
    schedule would visit. It reads the IR the compiler produced, so it
    checks mask-block skipping as implemented, not as intended.

    ```
    remark: attn-tile: 10 of 16 KV tiles visited (6 interior, 4 boundary)
    ```
  }];
}

def AttnCostReport : Pass<"attn-cost-report"> {
  let summary = "Report FLOPs, bytes and the roofline bound of each attention";
  let description = [{
    An analysis: for every `attn.attention` over static shapes, computes the
    cost model of docs/CostModel.md for the schedule given by the options
    (attn-tile's block sizes) and emits remarks at the op: the KV tiles the
    mask leaves visited, the FLOPs of the two GEMMs (executed over visited
    tiles, visible under the mask, and dense), the exponentials and other
    softmax work, the bytes read and written, the arithmetic intensity, the
    roofline bound on the named GPU, and the tile configuration the model
    chooses for that GPU with its reason. The IR is unchanged.

    For `tensor<1x1x64x16xf32>` operands with a causal mask and
    `block-m=16 block-n=16`:

    ```
    remark: attn-cost: 10 of 16 KV tiles visited (6 interior); gemm 163840
      FLOP executed (133120 visible, 262144 dense), exp 2720, softmax 13984
      FLOP, bytes 16384 (12288 read, 4096 written), intensity 10.0 FLOP/B
    remark: attn-cost: bytes 12288 read (Q 4096, K 4096, V 4096, other 0),
      4096 written (O 4096, LSE 0, other 0)
    remark: attn-cost: h100-sxm: bound 0.005 us (memory-bound; ...)
    remark: attn-cost: tiles: prefill on h100-sxm: 128x64 tiles, 4 warps: ...
    ```

    Every `attn.attention_backward` gets the same on the GPU backward
    kernels' schedule (64 x 64 tiles; `deterministic` for the program with
    a dQ kernel instead of atomics): GEMM FLOPs (executed, visible, and
    dense: FlashAttention's 2.5x the forward at D = Dv, the recomputed
    `Q K^T` included), exponentials, elementwise work, dq_accum reductions,
    bytes read and written per kernel (Q, K, V, O, dO, LSE, Delta, dQ, dK,
    dV and the dq_accum workspace), intensity and roofline bound:

    ```
    remark: attn-cost: backward: 8 of 8 tiles visited (atomic dQ); gemm
      20971520 FLOP executed (..., 2.50x the forward's dense), ...
    remark: attn-cost: backward: preprocess: gemm 0 FLOP, ...
    remark: attn-cost: backward: main: gemm 20971520 FLOP, ...
    remark: attn-cost: backward: convert: gemm 0 FLOP, ...
    remark: attn-cost: backward: h100-sxm: bound 0.148 us (memory-bound; ...)
    ```
  }];
  let options = [
    Option<"gpu", "gpu", "std::string", /*default=*/"\"h100-sxm\"",
           "Target GPU: a100-sxm, h100-sxm, h200 or b200">,
    Option<"blockM", "block-m", "int64_t", /*default=*/"64",
           "Query rows per tile (as attn-tile)">,
    Option<"blockN", "block-n", "int64_t", /*default=*/"64",
           "Keys per KV tile (as attn-tile)">,
    Option<"packGqa", "pack-gqa", "bool", /*default=*/"true",
           "Count tiles per KV head, the query heads sharing it packed (as "
           "attn-tile)">,
    Option<"numSplits", "num-splits", "int64_t", /*default=*/"1",
           "KV splits (adds the partial-result workspaces)">,
    Option<"skipMaskedBlocks", "skip-masked-blocks", "bool",
           /*default=*/"true",
           "Skip KV tiles outside causal/window masks (as attn-tile)">,
    Option<"deterministic", "deterministic", "bool", /*default=*/"false",
           "Backward ops: the deterministic program (a dQ kernel that "
           "recomputes S and dP instead of atomics on dq_accum)">,
  ];
}

def AttnSplitVarlen : Pass<"attn-split-varlen"> {
  let summary = "Rewrite a varlen attn.attention into a loop of dense ones, "
                "one per packed sequence";
  let description = [{
    A varlen `attn.attention` (`cu_seqlens_q` / `cu_seqlens_k`) is defined
    as the dense op on each packed sequence's slices; this pass writes that
    definition as IR: an `scf.for` over the N sequences whose body slices
    sequence n's query rows `[cu_seqlens_q[n], cu_seqlens_q[n+1])` and keys
    `[cu_seqlens_k[n], cu_seqlens_k[n+1])` out of the packed `[1, T, H, D]`
    operands, runs a dense `attn.attention` with dynamic lengths (the same
    attributes and sinks, so causal and window alignment are per sequence)
    and inserts its rows into the packed output (and LSE). The passes that
    follow (`attn-tile`, `convert-attn-to-linalg`) see only dense ops; the
    CPU flash pipeline runs it before `attn-tile` (the GPU path does not:
    `attn-tile` tiles the varlen op itself, one kernel for all sequences).

    A varlen `attn.attention_backward` becomes the same loop of dense
    backwards: each sequence's dQ rows and dK / dV key rows inserted into
    zero-filled packed gradients, `grad_sinks` summed over the sequences.

    ```mlir
    %o = attn.attention ins(%q, %k, %v : tensor<1x10x4x64xf32>, ...)
        cu_seqlens_q(%cq : tensor<3xi32>) cu_seqlens_k(%ck : tensor<3xi32>)
        {layout = #attn.layout<bshd>} -> tensor<1x10x4x64xf32>
    ```
    becomes
    ```mlir
    %o = scf.for %n = %c0 to %N step %c1 iter_args(%acc = %zeros) {
      %q_n = tensor.extract_slice %q[0, %qb, 0, 0] [1, %lq, 4, 64] [1, 1, 1, 1]
      ...
      %o_n = attn.attention ins(%q_n, %k_n, %v_n : tensor<1x?x4x64xf32>, ...)
      %r = tensor.insert_slice %o_n into %acc[0, %qb, 0, 0] [1, %lq, 4, 64] ...
      scf.yield %r
    }
    ```
  }];
  let dependentDialects = [
    "::mlir::arith::ArithDialect",
    "::mlir::linalg::LinalgDialect",
    "::mlir::scf::SCFDialect",
    "::mlir::tensor::TensorDialect",
  ];
}

def AttnDecomposeSoftmax : Pass<"attn-decompose-softmax"> {
  let summary = "Decompose linalg.softmax into a stable max / exp / sum / "
                "divide";
  let description = [{
    A graph that `attn-raise` leaves alone (or any graph) may still hold
    `linalg.softmax`, an aggregate op that the CPU pipeline's linalg-to-loops
    lowering does not take. This pass replaces each one by its numerically
    stable decomposition (upstream's `AggregatedOpInterface`): the row max
    is subtracted before `exp`, so no `exp` overflows and the row sum is at
    least 1. A row of only `-inf` gives NaN, as `torch.softmax` does. The
    `attn-to-cpu` pipeline runs it first.

    ```mlir
    %p = linalg.softmax dimension(2) ins(%s : tensor<4x8x8xf32>)
        outs(%e : tensor<4x8x8xf32>) -> tensor<4x8x8xf32>
    ```
    becomes
    ```mlir
    %m = linalg.generic {... reduction ...} ins(%s ...) { arith.maxnumf }
    %x = linalg.generic ins(%s, %m ...) { arith.subf, math.exp }
    %l = linalg.generic {... reduction ...} ins(%x ...) { arith.addf }
    %p = linalg.generic ins(%x, %l ...) { arith.divf }
    ```
  }];
  let dependentDialects = [
    "::mlir::arith::ArithDialect",
    "::mlir::linalg::LinalgDialect",
    "::mlir::math::MathDialect",
    "::mlir::tensor::TensorDialect",
  ];
}

def AttnTileBackward : Pass<"attn-tile-backward"> {
  let summary = "Tile attn.attention_backward: KV blocks outer, query blocks "
                "inner (FlashAttention-2 backward)";
  let description = [{
    Rewrites every `attn.attention_backward` into

    * a preprocessing step `Delta = rowsum(dO * O)` (`[B, Hq, Lq]`, f32);
    * an `scf.forall` over (batch, KV head, KV block) whose program keeps
      its K/V tile and the f32 dK/dV accumulators of the block while an
      `scf.for` walks the query blocks, each pair one `attn.backward_step`.
      All `Hq / Hkv` query heads of a KV head are one tile (`G`), so each
      program owns its dK/dV rows outright;
    * block skipping by the forward's mask geometry: a query block whose
      KV range (as `attn-tile` computes it) excludes this KV block is
      skipped, one whose interior includes it runs an `interior` step;
    * the dQ shares of the KV blocks written to an f32 workspace
      `[Lk / block-n, B, Hq, Lq, D]` and summed by `attn.accumulate` (the
      explicit accumulation step), then rounded to dQ's type and layout;
    * bias and mask operands tiled as `attn-tile` tiles them; each pair's
      bias gradient lands in an f32 `[B, Hq, Lq, Lk]` tensor (one program
      per element), summed over the axes a broadcast bias broadcasts along
      (`linalg.reduce`) and rounded to d_bias's type.
    * a varlen backward (`cu_seqlens_q` / `cu_seqlens_k`, packed
      `[1, T, H, D]`) as programs over (sequence, KV head, KV block) with
      KV blocks enough for the packed keys: each reads its sequence's rows
      and lengths through `buildVarlenSequence` (the definition
      `attn-split-varlen` uses), walks that sequence's query rows and
      addresses its packed rows (Q, dO, LSE, Delta at `queryStart + q0`,
      K / V at `keyStart + k0`); its steps see positions and lengths within
      the sequence, so causal and window alignment are per sequence. dK, dV
      and the dQ shares start at 0 (keys of no sequence keep gradient 0).

    With `deterministic` the accumulation sums in KV-block order; the CPU
    lowering always does, so CPU results are bit-identical run to run
    either way. A GPU lowering without it may replace the workspace by f32
    atomic adds into one dQ buffer.

    An `attn.backward_schedule` on the op (`attn-plan-gpu-backward`, the
    GPU path) takes the place of `block-m`, `block-n` and `deterministic`,
    and, with the op's other discardable attributes (its
    `attn.kernel_info`), stays on the program's `scf.forall`: the tiled IR
    is then the GPU kernels' schedule, which `convert-attn-backward-to-nvvm`
    reads (one CTA per KV block, the query loop its loop).

    ```mlir
    %dq, %dk, %dv = attn.attention_backward ins(%q, %k, %v, %o, %do, %lse : ...)
        {mask_kind = #attn.mask<causal_bottom_right>} -> ...
    ```
    becomes (abridged, `block-m=16 block-n=16`)
    ```mlir
    %delta = linalg.generic ... { arith.mulf, arith.addf } // rowsum(dO * O)
    %r:3 = scf.forall (%b, %kh, %kb) in (1, 2, 4) shared_outs(%dk = .., %dv = .., %ws = ..) {
      %kt = tensor.extract_slice %k[%b, %kh, %k0, 0] [1, 1, 16, 32] ...
      %acc:3 = scf.for %q0 = %c0 to %c64 step %c16 iter_args(%a = %z, %c = %z2, %d = %z3) {
        %s:3 = scf.if %visited -> (...) {
          %t:3 = scf.if %interior -> (...) {
            %x:3 = attn.backward_step ins(%qt, %kt, %vt ...) ... {interior, ...}
            ...
      scf.forall.in_parallel { tensor.parallel_insert_slice ... }
    }
    %sum = attn.accumulate %r#2 {deterministic} : tensor<4x1x4x64x32xf32> -> tensor<1x4x64x32xf32>
    ```
  }];
  let dependentDialects = [
    "::mlir::arith::ArithDialect",
    "::mlir::linalg::LinalgDialect",
    "::mlir::scf::SCFDialect",
    "::mlir::tensor::TensorDialect",
  ];
  let options = [
    Option<"blockM", "block-m", "int64_t", /*default=*/"64",
           "Query rows per tile (inner loop)">,
    Option<"blockN", "block-n", "int64_t", /*default=*/"64",
           "Keys per KV tile (one program each)">,
    Option<"skipMaskedBlocks", "skip-masked-blocks", "bool",
           /*default=*/"true",
           "Skip query blocks outside causal/window masks and only evaluate "
           "the mask on boundary tiles">,
    Option<"deterministic", "deterministic", "bool", /*default=*/"true",
           "Sum the dQ shares in KV-block order (bit-identical dQ run to run "
           "on every target)">,
  ];
}

def AttnMemrefEntry : Pass<"attn-memref-entry", "::mlir::ModuleOp"> {
  let summary = "Give tensor-form functions the memref (destination-passing) "
                "calling convention the kernels and the CPU runner take";
  let description = [{
    Importers write attention graphs as functions on tensors; the GPU
    lowering and the CPU runner take every operand and result as a memref.
    Each function with a body whose signature has a tensor becomes one whose
    arguments are memrefs of the same shapes, the inputs first and then one
    per result: inputs are read with `bufferization.to_tensor`, results
    written with `bufferization.materialize_in_destination`, and the
    function returns nothing (`convertToMemrefEntry`, the conversion
    attn-compile applies to `.mlir` inputs). Functions already on memrefs
    are left alone; a tensor of dynamic shape is an error at the function.
    `attn-to-ptx` runs it first, so it takes the same tensor-form input as
    attn-compile.

    ```mlir
    func.func @attention(%q: tensor<1x2x64x64xbf16>, ...) -> tensor<1x2x64x64xbf16>
    ```
    becomes
    ```mlir
    func.func @attention(%q: memref<1x2x64x64xbf16>, ..., %out: memref<1x2x64x64xbf16>) {
      %0 = bufferization.to_tensor %q restrict : ...
      ...
      bufferization.materialize_in_destination %r in restrict writable %out : ...
      return
    }
    ```
  }];
  let dependentDialects = [
    "::mlir::bufferization::BufferizationDialect",
    "::mlir::memref::MemRefDialect",
  ];
}

#endif // ATTN_TRANSFORMS_PASSES_TD
