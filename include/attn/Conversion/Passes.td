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

    Scores, the softmax and the accumulators are f32, or f64 with
    `accumulate-in-f64` or for f64 operands (the float64 gradient-check
    precision; the LSE result stays f32). `attn.attention_backward` is
    lowered the same way, S and P materialised.

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
    "::mlir::scf::SCFDialect",
    "::mlir::tensor::TensorDialect",
  ];
  let options = [
    Option<"accumulateInF64", "accumulate-in-f64", "bool", /*default=*/"false",
           "Compute scores, softmax and the output accumulator in f64 "
           "instead of f32 (isolates lowering bugs from rounding)">,
  ];
}

// The GPU kernel options, declared once: attn-plan-gpu-kernels decides with
// them and convert-attn-to-nvvm re-plans with them to check the decision.
defvar AttnGpuKernelOptions = [
    Option<"blockM", "block-m", "int64_t", /*default=*/"128",
           "Query rows per CTA (BLOCK_M); a multiple of 16 * num-warps">,
    Option<"blockN", "block-n", "int64_t", /*default=*/"64",
           "Key rows per KV block (BLOCK_N); 32, 64 or 128">,
    Option<"numWarps", "num-warps", "int64_t", /*default=*/"4",
           "Warps per CTA">,
    Option<"kernel", "kernel", "std::string", /*default=*/"\"auto\"",
           "auto (decode when Hq / Hkv * Lq <= 16; on chip sm_90a the "
           "hopper kernel where it supports the problem), prefill, decode "
           "or hopper">,
    Option<"chip", "chip", "std::string", /*default=*/"\"sm_80\"",
           "Target chip; sm_90a enables the hopper (wgmma) kernel family">,
    Option<"numSplits", "num-splits", "int64_t", /*default=*/"0",
           "Decode: KV splits per (batch, KV head); 0 chooses from the grid, "
           "the key length and num-sms">,
    Option<"numSMs", "num-sms", "int64_t", /*default=*/"132",
           "SMs of the target GPU: decode's split heuristic, the hopper "
           "kernel's persistent grid (hopper-persistent=-1)">,
    Option<"decodeNumWarps", "decode-num-warps", "int64_t", /*default=*/"8",
           "Decode: warps per CTA (4 or 8)">,
    Option<"decodeKeysPerWarp", "decode-keys-per-warp", "int64_t",
           /*default=*/"16", "Decode: keys a warp handles per step (16, 32)">,
    Option<"decodeStages", "decode-stages", "int64_t", /*default=*/"2",
           "Decode: cp.async ring stages per warp (2 or 4)">,
    Option<"hopperBlockN", "hopper-block-n", "int64_t", /*default=*/"0",
           "Hopper: keys per KV block (64 or 128; 0: 128)">,
    Option<"hopperStages", "hopper-stages", "int64_t", /*default=*/"2",
           "Hopper: shared-memory ring stages (2 to 4)">,
    Option<"hopperPingPong", "hopper-ping-pong", "std::string",
           /*default=*/"\"auto\"",
           "Hopper: consumer warpgroups take turns issuing their GEMMs "
           "(named barriers), so one's softmax overlaps the other's GEMMs: "
           "true, false or auto (on at D = 64, and where no tile has more "
           "than 8 KV blocks)">,
    Option<"hopperOverlap", "hopper-overlap", "bool", /*default=*/"true",
           "Hopper: each consumer issues S = Q K^T of the next KV block "
           "before its softmax and keeps O += P V in flight during it">,
    Option<"hopperLoads", "hopper-loads", "std::string",
           /*default=*/"\"tma\"",
           "Hopper: how the producer loads K and V (and the Q tile): tma "
           "(cp.async.bulk.tensor from tensor maps the runtime builds at "
           "launch, one thread, mbarrier expect_tx) or cp-async (16-byte "
           "cp.async by every producer thread)">,
    Option<"hopperPersistent", "hopper-persistent", "int64_t",
           /*default=*/"-1",
           "Hopper: a persistent grid of at most this many CTAs (one per SM "
           "of the target: 132 on an H100 / H200 SXM), each looping over "
           "query-block tiles, longest first under a causal mask; 0: one "
           "CTA per tile; -1 (auto): num-sms CTAs at D = 64 without a "
           "causal / window right bound, else one CTA per tile">,
    Option<"hopperScheduler", "hopper-scheduler", "std::string",
           /*default=*/"\"auto\"",
           "Hopper: how a persistent grid's CTAs get their tiles: static "
           "(a zig-zag round robin fixed at compile time), dynamic (the "
           "producer takes the next tile from an atomic counter in a "
           "zeroed workspace, longest first; needs hopper-loads=tma; with "
           "hopper-persistent=-1 the grid is num-sms CTAs) or auto (see the "
           "pass description)">,
    Option<"hopperGroupBytes", "hopper-group-bytes", "int64_t",
           /*default=*/"25165824",
           "Hopper persistent grids under a causal / window right bound: "
           "the K and V bytes of a group of heads whose tiles go longest "
           "first together (so that the CTAs running at once share them in "
           "L2); default 24 MiB, half of an H100 / H200's L2">,
    Option<"hopperQShared", "hopper-q-shared", "std::string",
           /*default=*/"\"auto\"",
           "Hopper: Q as a shared tile the producer loads (wgmma reads A "
           "from shared memory; a persistent CTA loads the next tile's Q "
           "during the last one) instead of fragments in registers: true, "
           "false or auto (shared at D = 128 with block-n 128, where "
           "registers would not fit)">,
    Option<"hopperEpilogue", "hopper-epilogue", "std::string",
           /*default=*/"\"auto\"",
           "Hopper: how the consumers write O: registers (4-byte global "
           "stores from the accumulators), tma (O through a 128B-swizzled "
           "shared tile and one cp.async.bulk.tensor store per 64-row, "
           "64-column box from a runtime-built tensor map of O, so a "
           "persistent consumer returns to its next tile while the store "
           "drains) or auto (see the pass description)">,
    Option<"hopperQPrefetch", "hopper-q-prefetch", "std::string",
           /*default=*/"\"auto\"",
           "Hopper, dynamic scheduler with Q in registers: the consumers take "
           "the next tile from the producer and load its Q fragments before "
           "the current tile's epilogue, so the load's latency hides under "
           "it: true, false or auto (on where it applies under a causal / "
           "window right bound when no tile has more than 8 KV blocks)">,
    Option<"hopperPolyExp2", "hopper-poly-exp2", "int64_t",
           /*default=*/"-1",
           "Hopper: of every 8 n8 tiles of S's columns, how many take the "
           "softmax's exponentials through an FMA polynomial instead of the "
           "MUFU's ex2.approx (0 to 8), so that the two pipes share them; "
           "-1 (auto): see the pass description">,
    Option<"hopperConsumers", "hopper-consumers", "int64_t", /*default=*/"0",
           "Hopper: consumer warpgroups per CTA, 64 query rows each: 2 "
           "(128-row tiles) or 3 (192-row tiles at D = 64 with TMA loads and "
           "a shared Q tile: a third warpgroup issues while two are in "
           "their softmax); 0 (auto): see the pass description">,
    Option<"hopperTreeReductions", "hopper-tree-reductions", "std::string",
           /*default=*/"\"auto\"",
           "Hopper: the softmax reduces each row's max and sum over a "
           "thread's elements as a balanced tree instead of a chain (the "
           "max feeds every exponential of the block): true, false or auto "
           "(see the pass description)">,
    Option<"kernelModuleName", "kernel-module", "std::string",
           /*default=*/"\"attn_kernels\"",
           "Name of the gpu.module that receives the kernels">,
    Option<"f32Compute", "f32-compute", "std::string",
           /*default=*/"\"refuse\"",
           "f32 Q, K, V and O: refuse (an error that names this option), "
           "bf16 or f16 (attn-round-f32-inputs rounds Q, K and V into "
           "workspaces by conversion kernels, the attention runs in that "
           "type and O is widened back to f32: as accurate as a bf16 / f16 "
           "call, not an f32 one)">,
    Option<"tileModel", "tile-model", "std::string", /*default=*/"\"auto\"",
           "Choose the tiles from the cost model for this GPU (a name "
           "attn-compile --gpu takes, e.g. h200; auto, the default: the GPU "
           "of `chip`, sm_80 a100-sxm, sm_90/sm_90a h100-sxm): prefill block-m, "
           "block-n and num-warps, decode num-splits and decode-num-warps, "
           "hopper hopper-block-n and hopper-stages, unless one of the "
           "family's tile options is given (off its default); with a GPU "
           "named, a remark gives the choice and why; empty: the options' "
           "own tiles">,
];

def AttnRoundF32Inputs : Pass<"attn-round-f32-inputs", "::mlir::ModuleOp"> {
  let summary = "Run f32 attentions in bf16 / f16 on the GPU: round Q, K and "
                "V, widen O";
  let description = [{
    The GPU kernels' GEMMs are bf16 / f16 tensor-core instructions. With
    `f32-compute=bf16` (or `f16`) the `attn-to-ptx` pipeline runs this pass
    first: every `attn.attention` in destination-passing form whose Q, K, V
    and O are f32 gets `arith.truncf` of Q, K and V to `to`, runs in that
    type, and its O is widened back with `arith.extf` before it is stored.
    LSE stays f32, and so do the bias and sinks operands. An f32
    `attn.attention_backward` gets the same for Q, K, V, O and dO, its dQ,
    dK and dV widened (LSE, the score operands and their gradients stay as
    they are).

    ```mlir
    %q = bufferization.to_tensor %qm restrict : memref<1x8x256x64xf32> to tensor<1x8x256x64xf32>
    %o = attn.attention ins(%q, %k, %v : ...f32...) -> tensor<1x8x256x64xf32>
    // becomes
    %qr = arith.truncf %q : tensor<1x8x256x64xf32> to tensor<1x8x256x64xbf16>
    %ob = attn.attention ins(%qr, %kr, %vr : ...bf16...) -> tensor<1x8x256x64xbf16>
    %o = arith.extf %ob : tensor<1x8x256x64xbf16> to tensor<1x8x256x64xf32>
    ```

    `convert-attn-to-nvvm` reads the rounding as a program of several
    launches over one argument list: one conversion kernel per rounded
    operand into a workspace (`q_bf16`, ...), the family's kernel reading
    the workspaces, and one widening O from its workspace into the caller's
    f32 O; convert-attn-backward-to-nvvm likewise around the backward's
    kernels (five narrowing launches, three widening). The result is as accurate as a bf16 (f16) call on the rounded
    inputs, not as an f32 one: an opt-in, never a silent default. The
    rounded operands must be static-shaped identity-layout memrefs (plain
    Q, K and V, no KV cache views or varlen batches); anything else is an
    error at the op that says so.
  }];
  let dependentDialects = ["::mlir::arith::ArithDialect"];
  let options = [
    Option<"to", "to", "std::string", /*default=*/"\"bf16\"",
           "The type Q, K and V are rounded to: bf16 or f16">,
  ];
}

def AttnPlanGpuKernels : Pass<"attn-plan-gpu-kernels", "::mlir::ModuleOp"> {
  let summary = "Choose the GPU kernel family and its tiles for each "
                "attn.attention";
  let description = [{
    The first GPU step of `attn-to-ptx`. For every `attn.attention` it
    checks what the GPU kernels support (errors at the op name the missing
    piece), picks the kernel family (`kernel=auto`: decode when the query
    rows of a KV group fit one m16 tile, `Hq / Hkv * Lq <= 16`; on
    `chip=sm_90a` the hopper family where it supports the problem; else
    the mma.sync prefill family), plans its launch, and records the
    decision on the op:

    * `attn.kernel_info = #attn.kernel_info<...>`: family, grid formula,
      shared memory, tiles and the attention (the arguments are filled in
      by convert-attn-to-nvvm);
    * `attn.tile_sizes = #attn.tile_sizes<...>`: the tiles `attn-tile` cuts
      the op into, so the tiled IR is the kernel's schedule: one program
      per CTA, the KV loop step the family's KV block.

    ```mlir
    %o = attn.attention ins(%q, %k, %v : ...) {mask_kind = #attn.mask<causal_bottom_right>}
    // becomes
    %o = attn.attention ins(%q, %k, %v : ...) {attn.kernel_info = #attn.kernel_info<family = "prefill", ...>,
        attn.tile_sizes = #attn.tile_sizes<block_m = 128, block_n = 64, pack_gqa = false, num_splits = 1>,
        mask_kind = #attn.mask<causal_bottom_right>}
    ```
  }];
  let options = AttnGpuKernelOptions;
}

def ConvertAttnToNVVM : Pass<"convert-attn-to-nvvm", "::mlir::ModuleOp"> {
  let summary = "Lower attn.attention to a FlashAttention-2 style GPU kernel "
                "(mma.sync, ldmatrix, cp.async) in a gpu.module";
  let description = [{
    Generates one `gpu.func` kernel per `attn.attention` op and replaces the
    op's host side by a `gpu.launch_func`. The op must sit in the destination
    passing form that `buildAttentionModule` produces: its Q/K/V operands are
    `bufferization.to_tensor` of memrefs and its results are written with
    `bufferization.materialize_in_destination` into memrefs. Those memrefs
    become the kernel's arguments (bare pointers: Q, K, V, [key_lengths],
    O[, LSE]; K and V from KV cache views pass the views' storage, e.g.
    pages and a block table).

    Three kernels: `kernel=auto` picks the decode kernel when the query rows
    of a KV group fit one m16 tile (`Hq / Hkv * Lq <= 16`); otherwise, on
    `chip=sm_90a`, the hopper kernel when it supports the problem, else the
    prefill kernel. `kernel=hopper` forces the hopper kernel (errors where
    it does not apply).

    Hopper (sm_90a, wgmma): grid `(ceil(Lq / 128), B * Hq)`, 384 threads in
    three warpgroups. Warpgroup 0 is the producer: it gives registers back
    (`setmaxnreg.dec`) and streams K and V blocks of 128 keys into a
    two-stage ring of 128B-swizzled shared memory tiles, each stage
    signalled on its "full" mbarrier and recycled on an "empty" one. With
    `hopper-loads=tma` (the default) one thread issues
    `cp.async.bulk.tensor` copies (one per 64-column panel) after an
    `mbarrier.arrive.expect_tx` of the tile's bytes, from tensor maps that
    are kernel parameters (`tensor_map` arguments, built by the runtime at
    launch; rows past Lq / Lk read as zeros); with `cp-async` every
    producer thread issues 16-byte `cp.async` and arrives with
    `cp.async.mbarrier.arrive.noinc`. Warpgroups 1 and 2
    (`setmaxnreg.inc`) own 64 query rows each. `S = Q K^T` and `O += P V`
    are `wgmma.mma_async` m64nNk16 with B through 128B-swizzle
    shared-memory descriptors (V transposed) and P as A from registers; Q
    is A from registers at D = 64 (or block-n 64) and, at D = 128 with
    block-n 128, a shared tile the producer stages too (registers would
    exceed the 168 a thread has before `setmaxnreg`). K and V tiles are
    released separately (K once S is computed). With `hopper-overlap` (the
    default) each consumer issues `S` of block j and `O += P V` of block
    j - 1 back to back and runs the softmax of block j while that `P V` is
    in flight (`wgmma.wait_group 1`), rescaling O once it has retired (the
    FlashAttention-3 schedule). With `hopper-ping-pong` (`auto`: at D = 64,
    and where no query-block tile sees more than 8 KV blocks, e.g. L = 1k)
    the consumer warpgroups take turns issuing their GEMMs (named
    barriers), so one's softmax overlaps the other's. With
    `hopper-persistent=N` the grid is `(min(N, tiles), 1)` and each CTA
    loops over the query-block tiles (`ceil(Lq / block_m) * B * Hq`), taking
    tile `k * G + c` in round k (`G - 1 - c` for odd k, a zig-zag against
    the shrinking causal tiles), longest first under a causal or window
    mask (within groups of heads whose K and V fit half the L2); the
    producer streams the next tile's Q, K and V while the consumers finish
    the last one. `hopper-scheduler` says how a persistent CTA gets its
    tiles: `static` is that round robin; `dynamic` (FA3's scheduler) takes
    them from an atomic counter in a zero-initialised `tile_counter`
    workspace, in the same longest-first order: CTA c starts on tile c, the
    producer's TMA thread takes a ticket per tile (`atom.add`) and hands
    tile ticket + G to the consumers through a shared slot with full and
    empty mbarriers (two slots), and the launch's last ticket re-arms the
    counter to 0. `auto` (the default) picks `dynamic`, on `num-sms` CTAs
    when `hopper-persistent` is -1, unless the loads are cp.async, the grid
    is one CTA per tile (`hopper-persistent=0`), or a right bound lets the
    longest tile see more than 16384 x 64 keys x D; there the static rule:
    `num-sms` CTAs at D = 64 without a right bound, else one CTA per tile.
    Measured on an H200 (bench/NOTES.md): dynamic 2-10% faster than one
    CTA per tile at L = 1k and 4k and on GQA causal, level at L = 16k,
    4% slower on D = 128 causal L = 16k; the static assignment is 5-14%
    slower than one CTA per tile under a causal mask (tiles of 1 to L / 128
    blocks do not even out over ~16 rounds). With the dynamic scheduler and
    Q in registers (D = 64), `hopper-q-prefetch` (`auto`: under a right
    bound when no tile sees more than 8 KV blocks; measured +5-6% on causal
    L = 1k, level to -3% elsewhere) has the
    consumers take the next tile from its slot right after their KV loop
    and load its Q fragments before the current tile's epilogue (the tile
    loop carries them), so the loads' latency hides under the epilogue.
    `hopper-poly-exp2=N` computes the softmax's exponentials of N of every
    8 n8 tiles of S by an FMA polynomial instead of `ex2.approx`, and
    `hopper-tree-reductions` reduces a row's max and sum as balanced trees;
    both `auto` = off (measured slower on every prefill shape of an H200).
    `hopper-consumers=3` (D = 64, TMA loads) gives a CTA three consumer
    warpgroups and 192-row tiles (setmaxnreg 32 / 160, ping-pong round
    robin over named barriers 1 to 3), so that a third warpgroup can issue
    while two are in their softmax; `0` (auto) takes three where they
    apply (D = 64, TMA loads, block-n 128, `hopper-q-shared` not false)
    unless no 192-row tile sees more than 8 KV blocks, else two.
    `hopper-group-bytes` sizes the
    head groups of the longest-first order; `hopper-q-shared=true` puts Q
    in a shared tile at D = 64 too. `hopper-epilogue=tma` writes O through
    a 128B-swizzled shared tile and `cp.async.bulk.tensor` stores (one per
    consumer warpgroup and 64-column panel, from an `o_tensor_map` the
    runtime builds; rows past Lq clipped by the map), so a persistent
    consumer starts its next tile while the stores drain; `auto` (the
    default) takes it at D = 128 where the O tile fits (measured 1-8%
    faster on an H200, most at L = 1k), `registers` elsewhere. Masks, ALiBi, score_mod,
    softcap, the online softmax and LSE are those of the prefill kernel on
    the wgmma accumulator layout (FragmentLayout.h). Not yet: key_lengths
    and K/V views (refused with a diagnostic; `auto` then keeps the prefill
    kernel).

    Decode (flash-decoding): grid `(num-splits, B * Hkv)`; the group's query
    heads x Lq rows are packed into one tile so K/V are read once per group;
    each CTA takes an equal share of its sequence's visible keys
    (`key_lengths`, masks), its warps stream warp-private cp.async rings
    (`decode-keys-per-warp`, `decode-stages`), merge by LSE in shared memory,
    and with several splits the last CTA of a group (an acq_rel counter)
    merges the partials from runtime-owned workspace arguments in the same
    launch. K/V views (`attn.paged_view`, or a host's own op) are read
    through `KVCacheViewInterface::buildRowOffset`. `num-splits=0` picks the
    split count from `B * Hkv`, the key length and `num-sms`.

    Prefill schedule (FlashAttention-2 on the sm_80+ `mma.sync` path):
    * grid `(ceil(Lq / block-m), B * Hq)`, `32 * num-warps` threads; each warp
      owns `block-m / num-warps` query rows; the K/V head is `h / (Hq / Hkv)`.
    * Q, K and V tiles are copied with 16-byte `cp.async` into dynamic shared
      memory whose 16-byte chunks are XOR-swizzled by `row % 8`, so that the
      `ldmatrix` reads of a warp hit 8 distinct bank groups. K and V use two
      stages: block j+1 is in flight while block j is computed.
    * `S = Q K^T` and `O += P V` use `nvvm.mma.sync` m16n8k16 with f32
      accumulators; P never leaves registers (the S accumulators of two n8
      tiles are the A fragment of the P.V mma once packed to 16-bit pairs).
    * Online softmax with the row max/sum reduced by two xor shuffles in the
      lane quad; `log2(e)` is folded into the scale, so every exponential is
      one `exp2`; O is rescaled by `exp2(m_old - m_new)`.
    * Causal and sliding-window masks: KV blocks wholly outside the mask are
      never visited, and only blocks that straddle its boundary (or the Lk
      tail) evaluate it.
    * The epilogue divides by the row sum (0 for a fully masked row) and
      writes O and, if requested, LSE in natural-log units (-inf for a fully
      masked row).
    * Chunked prefill: a `key_lengths` operand is read once per CTA; len_b
      bounds the KV blocks and replaces Lk in the tail mask, the
      bottom-right diagonal and the ALiBi distance. K/V rows of a KV cache
      view are addressed through its hook (`buildRowOffset`).

    The kernel and the launch carry an `attn.kernel_info =
    #attn.kernel_info<...>` (family, grid formula, shared memory bytes, tile
    parameters, argument names and roles, and the attention computed), from
    which attn-compile writes the kernel manifest (docs/Runtime.md).

    Example:

    ```mlir
    func.func @attention(%q: memref<1x8x256x64xbf16>, ...) {
      %0 = bufferization.to_tensor %q restrict : ...
      %o = attn.attention ins(%0, %1, %2 : ...) -> tensor<1x8x256x64xbf16>
      bufferization.materialize_in_destination %o in restrict writable %out
      return
    }
    ```

    becomes (abridged)

    ```mlir
    gpu.module @attn_kernels {
      gpu.func @attention_kernel(%q: memref<1x8x256x64xbf16>, ...) kernel {
        ... nvvm.cp.async.shared.global ... nvvm.ldmatrix ...
        ... nvvm.mma.sync ... nvvm.shfl.sync bfly ...
      }
    }
    func.func @attention(...) {
      gpu.launch_func @attn_kernels::@attention_kernel blocks in (%c2, %c8, %c1)
          threads in (%c128, %c1, %c1) dynamic_shared_memory_size %c24576
          args(%q : memref<...>, ...)
    }
    ```

    ALiBi slopes and a `score_mod` region (arith/math ops on its own
    arguments) are applied in the kernel to natural-unit scores, before the
    masks; the region is cloned once per score held in registers.

    The score operands run on the mma.sync kernels (prefill and decode; the
    hopper kernel refuses them and kernel=auto takes prefill): a bias
    (bf16/f16/f32, broadcast over size-1 extents of [B, Hq, Lq, Lk]) is
    loaded per score and added after ALiBi, before score_mod; a boolean
    mask (one byte per element) and a mask_mod region (cloned per score)
    set -inf after score_mod on every block; sinks join each row's max and
    sum once, at finalize (O = acc 2^(m - M) / l', LSE = M + log2 l', M =
    max(m, sink)).

    Unsupported forms (head dims D or Dv that are not multiples of 16 in
    [32, 256] (the hopper kernel: D = Dv = 64 or 128), f32 inputs, BSHD
    layout, score_mod and mask_mod regions with
    other ops or captured values, KV cache views without the address hook,
    dynamic shapes) are reported as errors at the op.
  }];
  let dependentDialects = [
    "::mlir::arith::ArithDialect",
    "::mlir::gpu::GPUDialect",
    "::mlir::LLVM::LLVMDialect",
    "::mlir::memref::MemRefDialect",
    "::mlir::NVVM::NVVMDialect",
    "::mlir::scf::SCFDialect",
  ];
  let options = AttnGpuKernelOptions;
}

def AttnMarkTensorMapParams
    : Pass<"attn-mark-tensor-map-params", "::mlir::gpu::GPUModuleOp"> {
  let summary = "Pass the tensor-map parameters of lowered kernels by value "
                "(128-byte __grid_constant__ params)";
  let description = [{
    Runs on the kernels' `gpu.module` after `convert-gpu-to-nvvm`, which
    drops `llvm.byval` from `gpu.func` arguments. Every `llvm.func` kernel
    whose `attn.kernel_info` names a `tensor_map` argument (the hopper
    family's TMA descriptors) gets that `!llvm.ptr` parameter marked
    `llvm.byval = !llvm.array<128 x i8>`, `llvm.align = 64` and
    `nvvm.grid_constant`: PTX then declares it `.param .align 64 .b8
    p[128]`, the runtime passes the 128-byte CUtensorMap by value at
    launch, and `cp.async.bulk.tensor` reads it in place. Kernels without
    tensor maps are left alone; a tensor_map argument that is not a pointer
    is an error.

    ```mlir
    llvm.func @f_kernel(..., %arg5: !llvm.ptr) attributes {attn.kernel_info = #attn.kernel_info<...
        #attn.kernel_arg<"k_tensor_map", tensor_map, #attn.tensor_map<"k", ...>> ...>, nvvm.kernel}
    // becomes
    llvm.func @f_kernel(..., %arg5: !llvm.ptr {llvm.align = 64 : i64,
        llvm.byval = !llvm.array<128 x i8>, nvvm.grid_constant}) ...
    ```
  }];
  let dependentDialects = [
    "::mlir::LLVM::LLVMDialect",
    "::mlir::NVVM::NVVMDialect",
  ];
}

defvar AttnGpuBackwardOptions = [
    Option<"deterministic", "deterministic", "bool", /*default=*/"false",
           "dQ bit-identical run to run: a dQ kernel over Q blocks instead "
           "of f32 atomics into dq_accum">,
    Option<"dqReduction", "dq-reduction", "std::string", /*default=*/"\"auto\"",
           "How the main kernel adds dQ to the fragment-tiled dq_accum: atom "
           "(atom.global.add.f32 per element), red-v2 (red.global.add.v2.f32 "
           "per half fragment), red-v4 (red.global.add.v4.f32 per C "
           "fragment); red-* need chip sm_90 or newer and +ptx81; auto: "
           "red-v4 where they allow it, else atom. Ignored with "
           "deterministic">,
    Option<"rotateQBlocks", "rotate-q-blocks", "bool", /*default=*/"true",
           "Atomic path: KV block n starts its loop at Q block n mod the "
           "count of Q blocks it visits, so that the CTAs of one head add "
           "to different dq_accum rows at a time (off: every CTA starts at "
           "its first Q block). Ignored with deterministic">,
    Option<"squareWarpTiles", "square-warp-tiles", "bool", /*default=*/"true",
           "Atomic path, 128-key main CTAs: each warp computes S^T and dP^T "
           "for 32 keys x block-m / 2 queries and dK, dV for 32 keys x D / "
           "2, with P^T and dS^T staged in shared memory (off: 16 keys per "
           "warp in every GEMM, P^T and dS^T reused from registers). "
           "Ignored with deterministic">,
    Option<"dqWarpRows", "dq-warp-rows", "int64_t", /*default=*/"0",
           "Atomic path: query rows of a warp's dQ = dS K tile in the main "
           "kernel, 16 or 32 (two m16 tiles per K fragment); 0: 32 with "
           "square warp tiles at block-m 128, else 16">,
    Option<"chip", "chip", "std::string", /*default=*/"\"sm_80\"",
           "Target chip (decides dq-reduction=auto)">,
    Option<"ptxFeatures", "ptx-features", "std::string",
           /*default=*/"\"+ptx80\"",
           "PTX features of the target, e.g. +ptx81 (decides "
           "dq-reduction=auto)">,
    Option<"blockM", "block-m", "int64_t", /*default=*/"0",
           "Main kernel: query rows per Q block step, 32, 64 or 128 (at "
           "most block-n); 0: the tile model's choice (64 with tile-model "
           "off, 32 where D + Dv > 286: getBackwardBlockMLimit)">,
    Option<"blockN", "block-n", "int64_t", /*default=*/"0",
           "Main kernel: keys per CTA, 16 per warp: 64 (4 warps) or 128 (8 "
           "warps); 0: the tile model's choice (64 with tile-model off)">,
    Option<"dqBlockM", "dq-block-m", "int64_t", /*default=*/"0",
           "Deterministic dQ kernel: query rows per CTA, 16 per warp: 64 or "
           "128; 0: the tile model's choice (64 with tile-model off)">,
    Option<"kernel", "kernel", "std::string", /*default=*/"\"auto\"",
           "The main kernel: mma-sync (FlashAttention-2 style, any chip), "
           "hopper (sm_90a wgmma: chip sm_90a, D = Dv = 64 or 128, atomic "
           "dQ, 128 keys per CTA, 64-row Q blocks; the score modifiers "
           "and operands of the mma-sync frame), or auto: hopper "
           "where it supports the problem and was measured faster "
           "(useHopperBackward), else mma-sync">,
    Option<"tileModel", "tile-model", "std::string", /*default=*/"\"auto\"",
           "GPU whose cost model chooses the tiles left at 0 "
           "(chooseBackwardTileConfig): auto (the GPU of chip), a name "
           "(h100-sxm, a100-sxm, h200, b200; a remark says why), or empty "
           "(the fixed 64 / 64 / 64)">,
];

def AttnPlanGpuBackward : Pass<"attn-plan-gpu-backward", "::mlir::ModuleOp"> {
  let summary = "Choose the GPU backward kernels' tiles and dQ program for "
                "each attn.attention_backward";
  let description = [{
    The first step of the backward's GPU path, before `attn-tile-backward`.
    For every `attn.attention_backward` in destination-passing form it checks
    what the GPU backward kernels support (errors at the op name the missing
    piece: bf16 / f16 operands and gradients of one type (f32 through
    f32-compute), static shapes, D and Dv multiples of 16 in [32, 256] whose
    sum fits the main kernel's registers, no score_mod; bhsd or bshd with
    strides; the bias and mask operands, grad_bias, mask_mod, key_lengths,
    sinks and a varlen op's cu_seqlens (static N: the grids count the
    sequences; ALiBi over each sequence's own distance) are the kernels' arguments and
    regions), resolves the schedule and records it on the op:

    * `attn.backward_schedule = #attn.backward_schedule<...>`: the tiling
      `attn-tile-backward` cuts (`block-m` query rows per step, `block-n`
      keys per program, `deterministic`) and the kernels' other choices
      (`dq-block-m`, `dq-reduction` resolved for `chip` and `ptx-features`,
      `rotate-q-blocks`, `square-warp-tiles`, `dq-warp-rows`), which
      `convert-attn-backward-to-nvvm` reads back from the tiled program;
    * `attn.kernel_info = #attn.kernel_info<family = "backward", ...>`: the
      main kernel's launch and the attention, which the program carries to
      the kernels' infos.

    Tiles left at 0 (`block-m`, `block-n`, `dq-block-m`) come from the cost
    model of the GPU `tile-model` names (chooseBackwardTileConfig; `auto`:
    the GPU of `chip`; empty: 64 each); given ones win over it. These
    options are the backward kernels' only declaration: attn-compile's
    backward flags, the C API and `attn-to-ptx` fill them.

    ```mlir
    %dq, %dk, %dv = attn.attention_backward ins(%q, %k, %v, %o, %do, %lse : ...)
        {mask_kind = #attn.mask<causal_bottom_right>} -> ...
    // becomes
    %dq, %dk, %dv = attn.attention_backward ins(%q, %k, %v, %o, %do, %lse : ...)
        {attn.backward_schedule = #attn.backward_schedule<block_m = 64, block_n = 64,
           deterministic = false, dq_block_m = 64, dq_reduction = "atom",
           rotate_q_blocks = true, square_warp_tiles = false, dq_warp_rows = 16>,
         attn.kernel_info = #attn.kernel_info<family = "backward",
           grid_formula = "[ceil(Lk / block_n), B * Hkv, 1]", ...>,
         mask_kind = #attn.mask<causal_bottom_right>} -> ...
    ```
  }];
  let options = AttnGpuBackwardOptions;
}

def ConvertAttnBackwardToNVVM
    : Pass<"convert-attn-backward-to-nvvm", "::mlir::ModuleOp"> {
  let summary = "Lower tiled attn.attention_backward programs to "
                "FlashAttention-2 style GPU kernels (mma.sync): preprocess, "
                "KV-block main, dQ convert";
  let description = [{
    The last step of the backward's GPU path (`attn-plan-gpu-backward`,
    `attn-tile-backward`, `attn-lower-precision`, then this pass). Replaces
    each tiled backward program, the `scf.forall` carrying
    `attn.backward_schedule` that `attn-tile-backward` made of an
    `attn.attention_backward` in destination-passing form (operands
    `bufferization.to_tensor` of memrefs, results stored with
    `bufferization.materialize_in_destination`), with the Delta
    preprocessing before it and the dQ accumulation after it, by three
    `gpu.launch_func`s in stream order. The program is the schedule: the
    forall's KV blocks (`block_n` keys, the K tile's rows) become the main
    kernel's grid, its query loop (step `block_m`) the main kernel's loop,
    and `attn.accumulate`'s `deterministic` picks the dQ program; the
    kernels' other choices are the schedule attribute's, and the attention
    (shapes, mask, scale, softcap, ALiBi) is the program's
    (`attn.backward_step`, the host tensors). Every kernel takes the same
    arguments
    `q, k, v, o, do, lse, dq, dk, dv` and the workspaces
    `delta, lse_log2, dq_accum` (so one argument array and one workspace
    buffer serve the three launches):

    1. preprocess, grid `[ceil(Lq / rows), B * Hq, 1]`:
       `delta = rowsum(dO * O)`, `lse_log2 = lse * log2(e)` (`+inf` for a
       fully masked row, so that its P is 0, never NaN), and zeroes
       `dq_accum`;
    2. main, grid `[ceil(Lk / block-n), B * Hkv, 1]`, `block-n / 16` warps:
       one CTA per KV block of `block-n` keys (each warp 16 keys: 64 keys on
       4 warps or 128 on 8) loops over the query heads of its KV head's
       group and over the Q blocks of `block-m` rows that see the block
       (KeyVisibility::rowsSeeingKeys), Q and dO double-buffered with
       cp.async. Per Q block, with scores transposed (keys are rows):
       `S^T = K Q^T`, softcap, ALiBi, mask (boundary and tail blocks only),
       `P^T = exp2(S^T log2 e - lse_log2)`, `dV += P^T dO`,
       `dP^T = V dO^T`, `dS^T = P^T (dP^T - delta)` (times
       `1 - tanh^2` under softcap), `dK += dS^T Q`; `dS^T` goes to shared
       memory and `dQ += dS K` is added to the f32 `dq_accum` with
       reductions. `dq_accum` is fragment-tiled: in every 16-row group
       below Lq and 32-column unit the 4 floats of a lane's mma C fragment
       are consecutive and a warp's fragments of one n8 tile cover 4 whole
       128-byte lines (the row group that crosses Lq stays row-major; the
       convert kernel reads the layout back). `dq-reduction=atom` four
       `atom.global.add.f32` (result unused) per fragment; `red-v2` two
       `red.global.add.v2.f32`; `red-v4` one `red.global.add.v4.f32`
       (the default on `chip` sm_90 and newer with `+ptx81`). With `rotate-q-blocks` (default) KV block
       `n` starts its Q loop at Q block `n mod count` and wraps, so that
       the CTAs of one head reduce into different rows at a time. When
       `block-m < block-n` the warps split `dQ = dS K` into row groups of 16
       queries times parts of D, so a 128-key CTA adds half the values per
       key of a 64-key one. With `square-warp-tiles` (default; the
       atomic program's 128-key CTAs) the 8 warps are 4 key groups of 32
       x 2 halves: `S^T` and `dP^T` of 32 keys x `block-m / 2` queries per
       warp, `P^T` and `dS^T` stored to shared memory, one barrier, then
       `dV` and `dK` of 32 keys x D / 2 per warp over all the step's
       queries, so each fragment read feeds two m16 tiles (a D = 128 warp
       reads 152 instead of 184 ldmatrix x4 per step); `dq-warp-rows` 32
       gives each warp two m16 tiles of `dQ` rows per K fragment (auto: 32
       with square tiles at `block-m` 128). GQA sums dK
       and dV over the group inside the CTA (no atomics); dK is scaled
       once at the end;
    3. convert, one thread per 8 elements: `dq = scale * dq_accum` in the
       input type.

    With `deterministic`, dQ is the same bits on every run: there is no
    `dq_accum`, the main kernel computes dK and dV only, and the third
    kernel is a dQ kernel, grid `[ceil(Lq / dq-block-m), B * Hq, 1]` (16
    rows per warp), that walks the KV blocks a Q block sees in order
    (recomputing S and dP in the forward's row layout) and accumulates
    `dQ = scale dS K` in registers. Its workspace is delta and lse_log2
    only (8 B Hq Lq bytes: 2 MiB at B = 1, Hq = 16, Lq = 16k), the atomic
    program's adds dq_accum (4 B Hq Lq D bytes: 128 MiB there). It stays
    opt-in: on the H200 the atomic program with 128-key CTAs is faster on
    every prefill shape at L >= 4k (bench/NOTES.md session 6).

    A program it cannot read (not attn-tile-backward's, no
    `attn-lower-precision`, a mask_mod or a score_mod, a bias gradient) is
    refused with an "expected ..." diagnostic,
    as is an `attn.attention_backward` left untiled.

    ```mlir
    %delta = linalg.generic ... // rowsum(dO * O)
    %r:3 = scf.forall (%b, %kh, %kb) in (1, 2, 5) shared_outs(...) {
      %acc:3 = scf.for %q0 = %c0 to %c200 step %c64 iter_args(...) {
        ... attn.backward_step ... {mask_kind = #attn.mask<causal_bottom_right>, p_type = bf16, ...}
      }
      ...
    } {attn.backward_schedule = #attn.backward_schedule<block_m = 64, block_n = 64, ...>,
       attn.kernel_info = #attn.kernel_info<family = "backward", ...>}
    %sum = attn.accumulate %r#2 : tensor<5x1x4x200x64xf32> -> tensor<1x4x200x64xf32>
    // becomes
    gpu.launch_func @attn_kernels::@f_bwd_preprocess ...
    gpu.launch_func @attn_kernels::@f_bwd ...
    gpu.launch_func @attn_kernels::@f_bwd_convert ...
    ```
  }];
  let dependentDialects = [
    "::mlir::arith::ArithDialect",
    "::mlir::gpu::GPUDialect",
    "::mlir::LLVM::LLVMDialect",
    "::mlir::memref::MemRefDialect",
    "::mlir::NVVM::NVVMDialect",
    "::mlir::scf::SCFDialect",
  ];
  let options = [
    Option<"kernelModuleName", "kernel-module", "std::string",
           /*default=*/"\"attn_kernels\"",
           "Name of the gpu.module that receives the kernels (appended to "
           "when it exists)">,
  ];
}

#endif // ATTN_CONVERSION_PASSES_TD
