//===- FragmentEmitter.h - mma.sync fragment building blocks ----*- C++ -*-===//
//
// Part of attn-mlir. What the prefill (PrefillKernel.cpp) and decode
// (DecodeKernel.cpp) kernels share: small NVVM/LLVM emission helpers, the
// swizzled shared-memory tile layout, and the per-warp FlashAttention step on
// register fragments (S = Q K^T, online softmax, O += P V). Kernels are
// written out fully unrolled over the fragments a thread owns (the loops here
// run in C++), so every fragment is an SSA value the NVPTX backend keeps in
// registers.
//
// Fragment layouts of mma.sync m16n8k16 (lane = 4 * g + t):
//   A (16x16): a0 (row g, k 2t..2t+1), a1 (row g+8, k 2t..), a2 (row g,
//              k 2t+8..), a3 (row g+8, k 2t+8..)
//   B (16x8):  b0 (k 2t..2t+1, col g), b1 (k 2t+8.., col g)
//   C (16x8):  c0,c1 (row g, cols 2t, 2t+1), c2,c3 (row g+8, same cols)
// so a row of S lives in the 4 lanes of a quad, and the C fragments of two
// adjacent n8 tiles are exactly the A fragment of the next mma.
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_LIB_CONVERSION_ATTNTONVVM_FRAGMENTEMITTER_H
#define ATTN_LIB_CONVERSION_ATTNTONVVM_FRAGMENTEMITTER_H

#include "FragmentLayout.h"
#include "TiledProgram.h"

#include "attn/Analysis/KernelResources.h"
#include "attn/Conversion/AttnToNVVM/AttnToNVVM.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/IR/ImplicitLocOpBuilder.h"
#include "llvm/Support/MathExtras.h"

#include <array>
#include <optional>

namespace mlir::attn::detail {

/// Byte offset (i64) of element (b, h, row, key) of a contiguous operand of
/// `shape` ([B, Hq, Lq, Lk] with broadcast 1s) and `eltBytes`-byte
/// elements (ScoreOperands.cpp). Coordinates of a broadcast extent are
/// ignored; the others are clamped to the extent (rows past Lq, keys past
/// Lk and padding heads of a packed decode tile are masked later, but must
/// not read out of bounds).
Value scoreOperandOffset(ImplicitLocOpBuilder &b, ArrayRef<int64_t> shape,
                         int64_t eltBytes, ArrayRef<Value> coords);

/// The bias operand's element type as the kernels load and store it
/// (KernelProblem::biasBytes / biasIsBF16): the forward's bias add, its
/// shared-memory staging and the backward's d_bias all ask here.
Type biasElementType(Builder &b, const KernelProblem &p);

constexpr double kLog2e = 1.4426950408889634;
constexpr double kLn2 = 0.6931471805599453;

/// Whether two KV cache views address rows identically: same kind and
/// attributes, same indirection storage, and first storages of one type.
/// Hooks see the first storage only through its type (KVCacheViewInterface),
/// so one address computation then serves K and V.
bool viewsShareRowOffsets(Operation *keyView, Operation *valueView);

/// Whether a score operand of `shape` ([B, Hq, Lq, Lk], broadcast 1s) with
/// `eltBytes` elements can be staged in shared memory by a kernel of
/// `blockN` keys per block (FragmentEmitter::ScoreTile): neither rows nor
/// keys broadcast (a broadcast row or key is read from global memory, where
/// the lanes that share it share one load), static lengths, and rows a
/// multiple of 16 bytes (so a chunk never straddles Lk).
bool canStageScoreTile(const KernelProblem &p, int64_t blockN,
                       ArrayRef<int64_t> shape, int64_t eltBytes);
/// Bytes between the rows of a staged score tile: block-n elements padded
/// by 16 bytes (32 for 4-byte elements), so that the 8 rows of a fragment
/// read (g = 0..7) start on banks 4 (8) apart and the lanes of a warp
/// never collide, with no swizzle: every read of a block is one lane base
/// plus a constant (a swizzle's XOR per chunk would pin a register each
/// for the whole KV loop, as the tile has one stage).
inline int64_t scoreTileRowStride(int64_t blockN, int64_t eltBytes) {
  return blockN * eltBytes + (eltBytes == 4 ? 32 : 16);
}

/// Bytes between rows of a shared-memory tile of `elements`-wide rows of
/// 16-bit elements, padded to a multiple of 128 bytes so that tiles and rows
/// stay 128-byte aligned, which the swizzle and fragmentAddress rely on (D =
/// 96: 256-byte rows; D = 64, 128, 192, 256: unpadded).
inline int64_t sharedRowBytes(int64_t elements) {
  return getSharedRowBytes(elements);
}

/// Naming: D is the head dim, "rows" are query rows, "keys" are KV rows,
/// "chunks" are 16-byte (8-element) pieces of a row, the unit of cp.async,
/// ldmatrix and swizzle. A warp's S tile is [16 * mTiles, keysPerTile].
class FragmentEmitter {
protected:
  FragmentEmitter(gpu::GPUFuncOp func, const KernelProblem &p, int64_t mTiles,
                  int64_t keysPerTile);

  // Constants and small helpers.
  Value cI32(int64_t v) { return arith::ConstantIntOp::create(b, i32, v); }
  Value cI64(int64_t v) { return arith::ConstantIntOp::create(b, i64, v); }
  Value cF32(double v) {
    return arith::ConstantOp::create(b, f32, b.getF32FloatAttr(v));
  }
  Value add(Value x, Value y) { return arith::AddIOp::create(b, x, y); }
  Value add(Value x, int64_t y) { return y ? add(x, cI32(y)) : x; }
  Value mul(Value x, int64_t y) { return arith::MulIOp::create(b, x, cI32(y)); }
  Value shr(Value x, int64_t y) { return arith::ShRUIOp::create(b, x, cI32(y)); }
  Value andI(Value x, int64_t y) { return arith::AndIOp::create(b, x, cI32(y)); }
  Value cmp(arith::CmpIPredicate pred, Value x, Value y) {
    return arith::CmpIOp::create(b, pred, x, y);
  }
  Value sel(Value c, Value x, Value y) {
    return arith::SelectOp::create(b, c, x, y);
  }
  Value toI64(Value x) { return arith::ExtUIOp::create(b, i64, x); }
  Value gep(Type ptrType, Value base, Value byteOffset) {
    return LLVM::GEPOp::create(b, ptrType, b.getI8Type(), base,
                               ValueRange{byteOffset});
  }
  Value pointerOf(Value memref, Type ptrType);
  Value exp2(Value x) { return unaryPtx("ex2.approx.ftz.f32 $0, $1;", x); }
  /// 2^x on the FMA and integer pipes instead of the MUFU's ex2.approx
  /// (x <= 0 as the softmax's exponents are; 0 below 2^-126 as ftz gives).
  Value polyExp2(Value x);
  Value log2(Value x) { return unaryPtx("lg2.approx.ftz.f32 $0, $1;", x); }
  Value tanhApprox(Value x) { return unaryPtx("tanh.approx.f32 $0, $1;", x); }
  Value fma(Value x, Value y, Value z) { return LLVM::FMAOp::create(b, x, y, z); }
  // llvm.maxnum (max.f32), not arith.maxnumf: convert-gpu-to-nvvm would
  // make that a libdevice call the PTX then needs linked.
  Value maxF(Value x, Value y) { return LLVM::MaxNumOp::create(b, x, y); }
  Value shuffleXor(Value x, int64_t mask);
  /// op(values[0], op(values[1], ...)) as a chain, or with treeReductions
  /// as a balanced tree of pairs (op associative and commutative).
  Value reduceRow(ArrayRef<Value> values, function_ref<Value(Value, Value)> op);
  Value unaryPtx(StringRef asmString, Value x);
  /// Packs two f32 values into one register of two 16-bit floats (x low).
  Value packHalf2(Value x, Value y);
  /// The A fragment of k16 step `kk` from the C fragments of n8 tiles 2kk
  /// and 2kk + 1 (`at(nt, e)`: register e of tile nt), packed pairwise: how
  /// P and dS feed the next GEMM from registers (mma.sync, and wgmma's
  /// register A, whose layout is the same).
  SmallVector<Value> packAFragment(function_ref<Value(int64_t, int64_t)> at,
                                   int64_t kk);
  SmallVector<Value> ldmatrix(Value ptr, bool transpose);
  /// C = A * B + C on one m16n8k16 tile; `c` is the tile's four f32
  /// accumulator registers, updated in place.
  void mma(ArrayRef<Value> a, ArrayRef<Value> bFrag, MutableArrayRef<Value> c);

  /// Shared-memory byte offset of chunk `chunk` of row `row` in a tile whose
  /// rows are `rowBytes` apart (default: a Q or K tile's): the chunk index is
  /// XORed with `row % 8`, so the 8 rows an ldmatrix phase reads, and the
  /// rows a warp's cp.async writes, spread over all banks. Rows are padded
  /// to a multiple of 128 bytes (sharedRowBytes), so the XOR never leaves
  /// the row.
  Value swizzled(Value row, Value chunk) {
    return swizzled(row, chunk, smemRowBytes);
  }
  Value swizzled(Value row, Value chunk, int64_t rowBytes) {
    Value phys = arith::XOrIOp::create(b, chunk, andI(row, 7));
    return add(mul(row, rowBytes), mul(phys, 16));
  }
  /// Lane-dependent part of ldmatrix addresses: the lane's row (bytes) and
  /// its chunk `chunkAdd` swizzled by the row (see fragmentAddress).
  Value laneOffset(Value rowOffset, Value chunkAdd) {
    return add(rowOffset, mul(arith::XOrIOp::create(b, chunkAdd, r8), 16));
  }
  /// Address of an ldmatrix x4 read of chunk `chunk` (even) + the lane's
  /// chunk, `rowDelta` rows below the lane's row, in the tile at byte
  /// `tileOffset` of shared memory. Tiles and rows are 128-byte aligned, so
  /// the swizzle of a constant chunk is an XOR of the address bits 4-6:
  /// ((c + a) ^ r) * 16 == (a ^ r) * 16 ^ (c & 7) * 16 + (c & ~7) * 16. XORing
  /// after adding the (loop-variant) tile offset keeps LLVM from hoisting one
  /// register per chunk out of the KV loop.
  Value fragmentAddress(Value tileOffset, Value laneOff, int64_t rowDelta,
                        int64_t chunk) {
    return fragmentAddress(tileOffset, laneOff, rowDelta, chunk, smemRowBytes);
  }
  Value fragmentAddress(Value tileOffset, Value laneOff, int64_t rowDelta,
                        int64_t chunk, int64_t rowBytes);
  Value tileAt(Value offset) { return gep(ptrShared, smem, offset); }
  // Addressing Q, K, V and O (every family, through these only): an
  // operand's rows lie as its OperandStrides (KernelProblem) say.
  /// Byte offset (i64) of row 0 of (`batch`, `head`) (i32) in an operand of
  /// `heads` heads laid out as `s`: (b * heads + h) * head stride where
  /// batch and head merge into one index (`bh`, if given, is b * heads + h),
  /// else b * batch stride + h * head stride.
  Value headByteOffset(const OperandStrides &s, int64_t heads, Value batch,
                       Value head, Value bh = Value());
  /// Bytes between consecutive rows (sequence positions) of an operand.
  static int64_t rowBytes(const OperandStrides &s) { return s.seq * 2; }
  /// Byte offset (i64) of row `row` (i32) of a packed GQA tile plus
  /// `column` * `columnBytes` (i32), from row 0 of the group's first head:
  /// row r is query r % Lq of the group's head r / Lq.
  Value packedRowByteOffset(const OperandStrides &s, Value row, Value column,
                            int64_t columnBytes);
  /// Whether packed rows are evenly spaced (a head's rows follow the
  /// previous head's): row r at r * rowBytes.
  bool packedRowsAreLinear(const OperandStrides &s) const {
    return s.head == p.seqQ * s.seq;
  }
  /// Byte offset (i64) of row `row` (i32, in [0, Lk): callers clamp) of
  /// (`batch`, `kvHead`) (i32) in the first storage of the KV cache view
  /// `view`, from its address hook; `storage` holds the kernel's memrefs of
  /// the view's getStorage(), in order.
  Value viewRowByteOffset(Operation *view, ValueRange storage, Value batch,
                          Value kvHead, Value row);

  /// One pass of a tile copy in 16-byte chunks: thread `id` of `threads`
  /// copies item id + k * threads of the tile's rows x chunks, row-major:
  /// chunk `chunk` of tile row rowBase + rowDelta, to the shared offset
  /// smemBase + smemDelta (smemBase null: swizzled where it is used, see
  /// copyDestination). `valid` (null: always) excludes the items past the
  /// tile in a last, partial pass.
  struct CopyPass {
    Value rowBase;
    int64_t rowDelta;
    Value chunk, smemBase;
    int64_t smemDelta;
    Value valid;
  };
  /// The passes of thread `id`. Where `chunks` (a power of two) divides
  /// `threads`, a pass covers whole rows and every pass has the same chunk
  /// (and, for passes of a multiple of 8 rows, the same swizzle: one offset
  /// plus a constant); otherwise each pass divides its item by `chunks`.
  SmallVector<CopyPass> planTileCopy(Value id, int64_t threads, int64_t rows,
                                     int64_t chunks, int64_t rowBytes);
  /// The shared-memory offset `pass` writes, in a tile of `rowBytes` rows.
  Value copyDestination(const CopyPass &pass, int64_t rowBytes) {
    if (pass.smemBase)
      return add(pass.smemBase, pass.smemDelta);
    return swizzled(add(pass.rowBase, pass.rowDelta), pass.chunk, rowBytes);
  }
  /// Runs `body` under `cond` (null: unconditionally).
  void ifValid(Value cond, function_ref<void()> body);

  /// tid, lane, g, t, r8, the dynamic shared memory base, and the lane parts
  /// of K and V ldmatrix addresses (relative to a K/V tile's row 0).
  void emitLaneCoordinates();

  // Fragment-array indices: S is [mTiles][nTiles][4], O is [mTiles][dTiles][4]
  // (Q K^T contracts D; P V produces Dv columns).
  int64_t kSteps() const { return d / 16; }
  int64_t nTiles() const { return bn / 8; }
  int64_t dTiles() const { return dv / 8; }
  int64_t sIndex(int64_t mt, int64_t nt, int64_t c) const {
    return (mt * nTiles() + nt) * 4 + c;
  }
  int64_t oIndex(int64_t mt, int64_t dt, int64_t c) const {
    return (mt * dTiles() + dt) * 4 + c;
  }
  int64_t numAccumulators() const { return mTiles * dTiles() * 4; }
  int64_t numRowStats() const { return mTiles * 2; }

  /// Q fragment (mt, kk): from qRegs when loaded, else ldmatrix at qLane.
  SmallVector<Value> loadQ(int64_t mt, int64_t kk);
  /// S = Q K^T for the K tile at shared byte `kTile` (and softcap), in
  /// natural units when ALiBi or a score_mod follows.
  SmallVector<Value> emitScores(Value kTile);
  /// Raw dot products `s` (any fragment layout) as the softmax and the
  /// modifiers take them: softcapped (tanh of scale * dot / softcap; the
  /// scale stays folded into exp2 otherwise) and, when ALiBi or a
  /// score_mod follows, in natural units.
  SmallVector<Value> finishRawScores(SmallVector<Value> s);
  /// -slope[h] of query head `head` (i32).
  Value emitNegAlibiSlope(Value head);
  /// Clones the score_mod body for one score at absolute index positions.
  Value inlineScoreMod(Value score, Value batch, Value head, Value row,
                       Value key);
  /// ALiBi (`negSlope` = -slope[h], null: none) and then the score_mod
  /// region on the natural-unit scores `s` of the KV block at key `n0`, laid
  /// out as `layout`, the lane's first score at row `laneRow` (warp's first
  /// row + g) and key n0 + 2t. The ALiBi distance is i + alibiOffset - j
  /// with `alibiOffset` the runtime len_b - Lq (null: the static Lk - Lq).
  /// Identity when the op has neither.
  SmallVector<Value> emitPositionalMods(const FragmentLayout &layout,
                                        ArrayRef<Value> s, Value n0,
                                        Value laneRow, Value alibiOffset,
                                        Value negSlope, Value batchIndex,
                                        Value headIndex);
  /// Score operands (ScoreOperands.cpp): the bias, mask and sinks memrefs
  /// of the kernel (null: none), set by a family before it emits scores.
  void setScoreOperands(Value biasMemref, Value maskMemref, Value sinksMemref);
  /// s + bias[b, h, row, key] (f32) at the i32 coordinates (local head h;
  /// broadcast extents ignore theirs, the others are clamped into the
  /// operand so that padding rows and keys read in bounds); s without a
  /// bias.
  Value addBias(Value s, Value batch, Value head, Value row, Value key);
  /// s, or -inf where the mask operand is false or the mask_mod region
  /// yields false at (b, h, row, key): i32 coordinates with the local head,
  /// and `batchIndex` / `globalHead` (index) for the region.
  /// `operandKeep` (i1, null: read the mask from global memory) is the
  /// mask element where a family staged it (ScoreTile). The mask_mod is
  /// left out where `maskModPerBlock` is set: the family then applies it per
  /// block (emitMaskModElements).
  Value applyOperandMasks(Value s, Value batch, Value head, Value row,
                          Value key, Value batchIndex, Value globalHead,
                          Value operandKeep = {});

  /// A bias or mask tile of one KV block staged in shared memory with
  /// cp.async, one warp's rows per warp (only that warp reads them, so no
  /// CTA barrier guards its reuse): rows of `rowBytes` = block-n x element
  /// bytes, `strideBytes` apart (scoreTileRowStride), read back two
  /// elements at a time in the fragment layout.
  struct ScoreTile {
    Value gptr;
    /// Byte offset (i64) of this program's [Lq, Lk] matrix of the operand
    /// (broadcast batch or head extents: stride 0).
    Value matrixBytes;
    /// Shared byte offset (i32) of this warp's tile.
    Value warpTile;
    int64_t eltBytes = 0, rowBytes = 0, strideBytes = 0;
  };
  ScoreTile makeScoreTile(Value gptr, ArrayRef<int64_t> shape,
                          int64_t eltBytes, Value batch, Value head,
                          Value warpTile);
  /// Issues this lane's cp.async of the tile of rows [warpRow0, warpRow0 +
  /// rows) and keys [n0, n0 + bn) (no commit); rows past Lq and keys past
  /// Lk are zero-filled.
  void copyScoreTile(const ScoreTile &tile, Value warpRow0, Value n0,
                     int64_t rows);
  /// The elements of registers `reg` and `reg` + 1 (same row, adjacent
  /// keys; `reg` even) of `layout` from the staged tile, as loaded.
  std::array<Value, 2> loadScorePair(const ScoreTile &tile,
                                     const FragmentLayout &layout,
                                     int64_t reg);
  /// The staged bias and mask of the current block (null: read from
  /// global memory), set by a family.
  std::optional<ScoreTile> stagedBias, stagedMask;

  /// mask_mod block classification (MaskModIntervals.h): {always, ever}
  /// (i1) of the region at (`batchIndex`, `globalHead`) (index) over rows
  /// [q0, q1] and keys [k0, k1] (i32), or nullopt where the region is not
  /// interval-evaluable.
  std::optional<std::array<Value, 2>>
  emitMaskModBounds(Value batchIndex, Value globalHead, Value q0, Value q1,
                    Value k0, Value k1);
  /// The mask_mod applied per element of the block at key `n0` (layout,
  /// laneRow as emitVisibilityMask) where `mixed` (i1) holds; scores pass
  /// unchanged on blocks the classification proved all true.
  SmallVector<Value> emitMaskModElements(const FragmentLayout &layout,
                                         ArrayRef<Value> s, Value n0,
                                         Value laneRow, Value mixed,
                                         Value batchIndex, Value globalHead);
  /// {ever, mixed} (i1) of the mask_mod over rows [q0, q1] and the block of
  /// keys [n0, n0 + bn): !ever, the rows see no key of it; mixed, some
  /// element may be kept and some not (the region must be cloned).
  std::pair<Value, Value> emitMaskModBlockClass(Value batchIndex,
                                                Value globalHead, Value q0,
                                                Value q1, Value n0);
  /// Raises `begin` and lowers `end` (i32 KV block indices) past the blocks
  /// the mask_mod is provably false on for every row of [q0, q1]: binary
  /// searches over prefixes and suffixes of [begin, end), one interval
  /// evaluation per step.
  void emitMaskModBlockRange(Value &begin, Value &end, Value q0, Value q1,
                             Value batchIndex, Value globalHead);
  /// Set by a family that classifies mask_mod blocks itself.
  bool maskModPerBlock = false;
  /// sinks[globalHead] * log2(e) (f32): the sink's logit in the base-2
  /// exponent units of the scaled running max.
  Value loadSinkLog2(Value globalHead);
  /// The final statistics of a row with the sink's term: with `mLog2` the
  /// row max in base-2 units (-inf: nothing seen) and `l` its full sum,
  /// M = max(mLog2, sink) and l' = l * 2^(mLog2 - M) + 2^(sink - M);
  /// returns {2^(mLog2 - M), M + log2 l', l'}: the factor of O (before the
  /// division by l'), the LSE in base-2 units and the new sum.
  std::array<Value, 3> foldSink(Value mLog2, Value l, Value sinkLog2);

  /// The scores `s` of the KV block at key `n0`, laid out as `layout`, with
  /// -inf where the key is not visible (KeyVisibility) or at or past
  /// `keyLength` (when `tail`). The lane's first score sits at row
  /// `laneRow` (warp's first row + g) and key n0 + 2t. Only blocks where
  /// `needsMask` (i1) holds pay for the element test: written once for
  /// every tensor-core family.
  SmallVector<Value> emitVisibilityMask(const FragmentLayout &layout,
                                        ArrayRef<Value> s, Value n0,
                                        Value laneRow, Value needsMask,
                                        Value keyLength, Value diag, bool tail);
  /// The coordinates of a one-head, block-m-row program (the prefill and
  /// hopper families' grid): y is b * Hq + h and x the query block, the
  /// longest first under a causal/window mask (the tail of the grid then
  /// holds the short CTAs). key_lengths is read from `keyLengthsArg` (null
  /// without); `lengths` are the kernel's runtime lengths (dynamic dims).
  FailureOr<ProgramCoordinates>
  emitQueryBlockProgram(const TiledProgram &program, int64_t blockM,
                        Value keyLengthsArg,
                        const RuntimeLengths &lengths = {});
  /// Whether the block at key `n0` has a key that some row of [firstRow,
  /// firstRow + rows) of `queryLength` queries does not see
  /// (KeyVisibility::keysSeenByAll), or one at or past `keyLength` (when
  /// `tail`): for kernels not lowered from a tiled program (the backward),
  /// which have no interior range to ask.
  Value blockNeedsMask(Value n0, Value firstRow, int64_t rows,
                       Value queryLength, Value keyLength, bool tail);
  /// Whether the block at key `n0` lies outside the program's interior
  /// [interiorBegin, interiorEnd) (i32, block-aligned), i.e. needs the mask.
  Value outsideInterior(Value n0, Value interiorBegin, Value interiorEnd);
  /// s <- P, updates m and l (per-lane partial sums), rescales O.
  void emitOnlineSoftmax(SmallVector<Value> &s, SmallVector<Value> &rowMax,
                         SmallVector<Value> &rowSum, SmallVector<Value> &acc);
  /// The online softmax without the rescale of O: s <- P, updates m and l,
  /// returns the factor alpha of each row (mt * 2 + half) that O must be
  /// multiplied by (a schedule that overlaps the softmax with O += P V
  /// rescales once that GEMM has retired).
  SmallVector<Value> emitSoftmaxStep(SmallVector<Value> &s,
                                     SmallVector<Value> &rowMax,
                                     SmallVector<Value> &rowSum);
  /// O <- O * alpha of its row.
  void rescaleAccumulators(SmallVector<Value> &acc, ArrayRef<Value> alpha);
  /// O += P V with P from registers and V from the tile at shared `vTile`.
  void emitPV(ArrayRef<Value> probs, Value vTile, SmallVector<Value> &acc);

  gpu::GPUFuncOp func;
  ImplicitLocOpBuilder b;
  const KernelProblem &p;
  /// D and Dv; mTiles m16 tiles per warp; bn keys per S tile. Global rows:
  /// tileRowBytes (Q, K: D elements) and valueRowBytes (V, O: Dv). Shared
  /// rows, padded (sharedRowBytes): smemRowBytes (K), vSmemRowBytes (V) and
  /// qSmemRowBytes (the Q tile: smemRowBytes unless a family widens it).
  int64_t d, dv, mTiles, bn, tileRowBytes, valueRowBytes;
  int64_t smemRowBytes, vSmemRowBytes, qSmemRowBytes;
  /// Factor from score units to the base-2 exponent (see the constructor).
  double expScale;
  /// The softmax's exponentials of S's n8 tiles nt with nt % 8 <
  /// polyExpTiles go through polyExp2 (a family whose MUFU pipe is as busy
  /// as its tensor pipe sets it); 0: all on ex2.approx.
  int64_t polyExpTiles = 0;
  /// The softmax reduces a row's max and sum over its elements as a
  /// balanced tree (depth log2 n) instead of a chain (depth n): its max
  /// feeds every exponential of the block, so the chain's latency is on the
  /// critical path where a warp has nothing else to issue.
  bool treeReductions = false;
  Type i32, i64, f32, half2, ptrGlobal, ptrShared;

  Value tid, warp, lane, g, t, r8, smem;
  /// Global pointers of the score operands (null: none).
  Value biasPtr, maskPtr, sinksPtr;
  /// The i32 batch and local head that bias and mask are read at in a
  /// one-head program (prefill), set by the family.
  Value operandBatch, operandHead;
  Value qLane, kLane, vLane;
  /// Q fragments [mt * kSteps + kk] when kept in registers, else empty.
  SmallVector<SmallVector<Value>> qRegs;
};

} // namespace mlir::attn::detail

#endif // ATTN_LIB_CONVERSION_ATTNTONVVM_FRAGMENTEMITTER_H
