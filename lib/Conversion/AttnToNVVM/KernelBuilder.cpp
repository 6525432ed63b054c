//===- KernelBuilder.cpp - the FlashAttention-2 kernel body ---------------===//
//
// Part of attn-mlir. Emits the body of one attention kernel with NVVM, LLVM,
// gpu, arith and scf ops. The kernel is written out fully unrolled over the
// fragments a thread owns (the loops below run in C++), so every fragment is
// an SSA value that the NVPTX backend keeps in registers; only the loop over
// KV blocks is an scf.for, carrying O, the row max m and the row sum l.
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

#include "attn/Conversion/AttnToNVVM/AttnToNVVM.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/LLVMIR/NVVMDialect.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/IR/IRMapping.h"
#include "mlir/IR/ImplicitLocOpBuilder.h"
#include "llvm/Support/MathExtras.h"

#include <limits>

using namespace mlir;
using namespace mlir::attn;

namespace {

constexpr int64_t kStages = 2;
constexpr double kLog2e = 1.4426950408889634;
constexpr double kLn2 = 0.6931471805599453;

/// Emits one kernel. Naming: BM/BN/D are the tile sizes and head dim, W the
/// warps, "rows" are query rows, "keys" are KV rows, "chunks" are 16-byte
/// (8-element) pieces of a row, the unit of cp.async, ldmatrix and swizzle.
class KernelEmitter {
public:
  KernelEmitter(gpu::GPUFuncOp func, const KernelProblem &p,
                const AttnToNVVMOptions &o)
      : func(func), b(func.getLoc(), func.getContext()), p(p), bm(o.blockM),
        bn(o.blockN), warps(o.numWarps), d(p.headDim) {
    MLIRContext *ctx = func.getContext();
    i32 = b.getI32Type();
    i64 = b.getI64Type();
    f32 = b.getF32Type();
    half2 = VectorType::get({2}, p.isBF16 ? Type(b.getBF16Type())
                                          : Type(b.getF16Type()));
    ptrGlobal = LLVM::LLVMPointerType::get(ctx, 1);
    ptrShared = LLVM::LLVMPointerType::get(ctx, 3);
    threads = 32 * warps;
    mTiles = bm / warps / 16;
    tileRowBytes = d * 2;
    qTileBytes = bm * tileRowBytes;
    kvTileBytes = bn * tileRowBytes;
    // Without modifiers the scale (or the softcap, which folds the scale
    // into tanh's argument so that the softmax works on tanh values in units
    // of `softcap` logits) rides in the exponent's factor for free. ALiBi or
    // a score_mod need natural-unit scores, so only log2(e) remains there.
    if (p.needsNaturalScores())
      expScale = kLog2e;
    else
      expScale = p.softcap ? *p.softcap * kLog2e : p.scale * kLog2e;
  }

  void emit();

private:
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
  Value log2(Value x) { return unaryPtx("lg2.approx.ftz.f32 $0, $1;", x); }
  Value tanhApprox(Value x) { return unaryPtx("tanh.approx.f32 $0, $1;", x); }
  Value fma(Value x, Value y, Value z) { return LLVM::FMAOp::create(b, x, y, z); }
  Value maxF(Value x, Value y) { return arith::MaxNumFOp::create(b, x, y); }
  Value shuffleXor(Value x, int64_t mask);
  Value unaryPtx(StringRef asmString, Value x);
  /// Packs two f32 values into one register of two 16-bit floats (x low).
  Value packHalf2(Value x, Value y);
  SmallVector<Value> ldmatrix(Value ptr, bool transpose);
  /// C = A * B + C on one m16n8k16 tile; `c` is the tile's four f32
  /// accumulator registers, updated in place.
  void mma(ArrayRef<Value> a, ArrayRef<Value> bFrag, MutableArrayRef<Value> c);

  /// Shared-memory byte offset of chunk `chunk` of row `row` in a tile: the
  /// chunk index is XORed with `row % 8`, so the 8 rows an ldmatrix phase
  /// reads, and the rows a warp's cp.async writes, spread over all banks.
  Value swizzled(Value row, Value chunk) {
    Value phys = arith::XOrIOp::create(b, chunk, andI(row, 7));
    return add(mul(row, tileRowBytes), mul(phys, 16));
  }
  /// Copies rows [firstRow, firstRow + rows) of one head (its row 0 at
  /// `headBytes`) into the tile at `tile` with 16-byte cp.async; rows at or
  /// past `rowLimit` are zero-filled (source size 0).
  void copyTile(Value gptr, Value headBytes, Value firstRow, int64_t rows,
                int64_t rowLimit, Value tile);
  /// Lane-dependent part of ldmatrix addresses: the lane's row (bytes) and
  /// its chunk `chunkAdd` swizzled by the row (see fragmentAddress).
  Value laneOffset(Value rowOffset, Value chunkAdd) {
    return add(rowOffset,
               mul(arith::XOrIOp::create(b, chunkAdd, r8), 16));
  }
  /// Address of an ldmatrix x4 read of chunk `chunk` (even) + the lane's
  /// chunk, `rowDelta` rows below the lane's row, in the tile at byte
  /// `tileOffset` of shared memory. Tiles and rows are 128-byte aligned, so
  /// the swizzle of a constant chunk is an XOR of the address bits 4-6:
  /// ((c + a) ^ r) * 16 == (a ^ r) * 16 ^ (c & 7) * 16 + (c & 8) * 16. XORing
  /// after adding the (loop-variant) tile offset keeps LLVM from hoisting one
  /// register per chunk out of the KV loop.
  Value fragmentAddress(Value tileOffset, Value laneOff, int64_t rowDelta,
                        int64_t chunk);

  // Fragment-array indices: S is [mTiles][nTiles][4], O is [mTiles][dTiles][4].
  int64_t kSteps() const { return d / 16; }
  int64_t nTiles() const { return bn / 8; }
  int64_t dTiles() const { return d / 8; }
  int64_t sIndex(int64_t mt, int64_t nt, int64_t c) const {
    return (mt * nTiles() + nt) * 4 + c;
  }
  int64_t oIndex(int64_t mt, int64_t dt, int64_t c) const {
    return (mt * dTiles() + dt) * 4 + c;
  }
  // Shared-memory layout: the Q tile, then two stages of K, then of V.
  Value kTileOffset(Value stage) {
    return add(mul(stage, kvTileBytes), qTileBytes);
  }
  Value vTileOffset(Value stage) {
    return add(mul(stage, kvTileBytes), qTileBytes + kStages * kvTileBytes);
  }
  Value tileAt(Value offset) { return gep(ptrShared, smem, offset); }

  // The phases of the kernel, in program order.
  /// Thread/block coordinates, global pointers and lane address parts.
  void emitCoordinates();
  /// [nBegin, nEnd): the KV blocks this Q block must visit.
  void emitBlockRange();
  /// First cp.async groups; Q fragments to registers where they fit.
  void emitPrologue();
  SmallVector<Value> loadQ(int64_t mt, int64_t kk);
  /// The loop over KV blocks carrying O, m and l.
  scf::ForOp emitKVLoop();
  /// S = Q K^T for one block (and softcap), in natural units when ALiBi or a
  /// score_mod follows.
  SmallVector<Value> emitScores(Value kTile);
  /// ALiBi, then the score_mod region, on natural-unit scores of the block
  /// at key `n0` (identity when the op has neither).
  SmallVector<Value> emitScoreMods(Value n0, ArrayRef<Value> s);
  /// -slope[h] of this CTA's query head (emitCoordinates).
  Value emitNegAlibiSlope(Value head);
  /// Clones the score_mod body for one score at absolute index positions.
  Value inlineScoreMod(Value score, Value row, Value key);
  /// -inf where masked, evaluated only on boundary and tail blocks.
  SmallVector<Value> emitMask(Value n0, ArrayRef<Value> s);
  /// s <- P, updates m and l, rescales O.
  void emitOnlineSoftmax(SmallVector<Value> &s, SmallVector<Value> &rowMax,
                         SmallVector<Value> &rowSum, SmallVector<Value> &acc);
  /// O += P V with P from registers.
  void emitPV(ArrayRef<Value> probs, Value vTile, SmallVector<Value> &acc);
  /// O / l (staged through shared memory) and LSE to global memory.
  void emitEpilogue(ValueRange results);

  gpu::GPUFuncOp func;
  ImplicitLocOpBuilder b;
  const KernelProblem &p;
  int64_t bm, bn, warps, d;
  int64_t threads, mTiles, tileRowBytes, qTileBytes, kvTileBytes;
  double expScale;
  Type i32, i64, f32, half2, ptrGlobal, ptrShared;

  // Per-thread values set up by emitCoordinates / emitBlockRange.
  Value tid, warp, lane, g, t, r8, smem;
  Value bh, m0, warpRow0, qHeadBytes, kvHeadBytes;
  /// The CTA's batch and query head as index values (score_mod arguments),
  /// and -slope[h] (ALiBi); null when unused.
  Value batchIndex, headIndex, negSlope;
  Value qPtr, kPtr, vPtr, oPtr, lsePtr;
  Value qLane, kLane, vLane, nBegin, nEnd;
  /// Q fragments [mt * kSteps + kk] when kept in registers, else empty.
  SmallVector<SmallVector<Value>> qRegs;
};

} // namespace

Value KernelEmitter::pointerOf(Value memref, Type ptrType) {
  Value index = memref::ExtractAlignedPointerAsIndexOp::create(b, memref);
  Value asInt = arith::IndexCastUIOp::create(b, i64, index);
  return LLVM::IntToPtrOp::create(b, ptrType, asInt);
}

Value KernelEmitter::shuffleXor(Value x, int64_t mask) {
  return NVVM::ShflOp::create(b, f32, cI32(-1), x, cI32(mask), cI32(0x1f),
                              NVVM::ShflKind::bfly, UnitAttr());
}

Value KernelEmitter::unaryPtx(StringRef asmString, Value x) {
  // convert-gpu-to-nvvm turns exp2/log2/tanh into libdevice calls (precise,
  // slower, and a libdevice link); the special-function unit's approximate
  // forms are what FlashAttention uses. A side-effect-free inline asm lets
  // LLVM schedule and CSE them like any other instruction.
  return LLVM::InlineAsmOp::create(
             b, f32, ValueRange{x}, asmString, "=f,f",
             /*has_side_effects=*/false, /*is_align_stack=*/false,
             LLVM::TailCallKind::None, LLVM::AsmDialectAttr(), ArrayAttr())
      .getResult(0);
}

Value KernelEmitter::packHalf2(Value x, Value y) {
  auto f32x2 = VectorType::get({2}, f32);
  Value v = LLVM::PoisonOp::create(b, f32x2);
  v = LLVM::InsertElementOp::create(b, v, x, cI32(0));
  v = LLVM::InsertElementOp::create(b, v, y, cI32(1));
  // fptrunc <2 x float> becomes one cvt.rn.{bf16x2,f16x2}.f32 on sm_80+.
  Value h = LLVM::FPTruncOp::create(b, half2, v);
  return LLVM::BitcastOp::create(b, i32, h);
}

SmallVector<Value> KernelEmitter::ldmatrix(Value ptr, bool transpose) {
  auto structType = LLVM::LLVMStructType::getLiteral(
      b.getContext(), SmallVector<Type>(4, i32));
  Value res = NVVM::LdMatrixOp::create(
      b, structType, ptr, /*num=*/4,
      transpose ? NVVM::MMALayout::col : NVVM::MMALayout::row,
      NVVM::LdStMatrixShapeAttr::get(b.getContext(), 8, 8),
      NVVM::LdStMatrixEltType::B16);
  SmallVector<Value> regs;
  for (int64_t i = 0; i < 4; ++i)
    regs.push_back(LLVM::ExtractValueOp::create(b, res, i));
  return regs;
}

void KernelEmitter::mma(ArrayRef<Value> a, ArrayRef<Value> bFrag,
                        MutableArrayRef<Value> c) {
  SmallVector<Value> aOps(a), bOps(bFrag);
  if (!p.isBF16) {
    // f16 multiplicands are typed vector<2xf16>; bf16 ones are raw i32.
    for (Value &v : llvm::concat<Value>(aOps, bOps))
      v = LLVM::BitcastOp::create(b, half2, v);
  }
  auto structType = LLVM::LLVMStructType::getLiteral(
      b.getContext(), SmallVector<Type>(4, f32));
  NVVM::MMATypes mmaType = p.isBF16 ? NVVM::MMATypes::bf16 : NVVM::MMATypes::f16;
  Value res = NVVM::MmaOp::create(
      b, structType, aOps, bOps, c, ArrayRef<int64_t>{16, 8, 16},
      std::nullopt, std::nullopt,
      std::array<NVVM::MMATypes, 2>{mmaType, mmaType},
      std::array<NVVM::MMALayout, 2>{NVVM::MMALayout::row,
                                     NVVM::MMALayout::col});
  for (int64_t i = 0; i < 4; ++i)
    c[i] = LLVM::ExtractValueOp::create(b, res, i);
}

void KernelEmitter::copyTile(Value gptr, Value headBytes, Value firstRow,
                             int64_t rows, int64_t rowLimit, Value tile) {
  // Thread tid copies chunk (tid % chunksPerRow) of rows tid / chunksPerRow
  // + k * rowsPerPass: consecutive lanes read consecutive 16 bytes of a row.
  // rowsPerPass is a multiple of 8, so the swizzled chunk is loop invariant.
  int64_t chunksPerRow = d / 8;
  int64_t rowsPerPass = threads / chunksPerRow;
  Value row0 = shr(tid, llvm::Log2_64(chunksPerRow));
  Value chunk = andI(tid, chunksPerRow - 1);
  Value smemOffset = swizzled(row0, chunk);
  bool needsCheck = rowLimit % rows != 0;
  for (int64_t k = 0; k < rows / rowsPerPass; ++k) {
    Value row = add(add(firstRow, row0), k * rowsPerPass);
    Value srcSize;
    if (needsCheck) {
      Value valid = cmp(arith::CmpIPredicate::slt, row, cI32(rowLimit));
      row = sel(valid, row, cI32(0));
      srcSize = sel(valid, cI32(16), cI32(0));
    }
    Value byteOffset = arith::AddIOp::create(
        b, headBytes,
        toI64(add(mul(row, tileRowBytes), mul(chunk, 16))));
    Value src = gep(ptrGlobal, gptr, byteOffset);
    Value dst = gep(ptrShared, tile,
                    add(smemOffset, k * rowsPerPass * tileRowBytes));
    NVVM::CpAsyncOp::create(b, dst, src, 16, NVVM::LoadCacheModifierKind::CG,
                            srcSize);
  }
}

Value KernelEmitter::fragmentAddress(Value tileOffset, Value laneOff,
                                     int64_t rowDelta, int64_t chunk) {
  Value offset = add(tileOffset, laneOff);
  if (int64_t low = chunk & 7)
    offset = arith::XOrIOp::create(b, offset, cI32(low * 16));
  offset = add(offset, rowDelta * tileRowBytes + (chunk & 8) * 16);
  return gep(ptrShared, smem, offset);
}

void KernelEmitter::emitCoordinates() {
  Block &entry = func.getBody().front();
  auto idx32 = [&](Value v) -> Value {
    return arith::IndexCastUIOp::create(b, i32, v);
  };
  tid = idx32(gpu::ThreadIdOp::create(b, gpu::Dimension::x));
  warp = shr(tid, 5);
  lane = andI(tid, 31);
  g = shr(lane, 2);
  t = andI(lane, 3);
  r8 = andI(lane, 7);
  Value mBlock = idx32(gpu::BlockIdOp::create(b, gpu::Dimension::x));
  if (p.right) {
    // Under a causal/window mask later Q blocks see more keys: launch them
    // first so the longest CTAs do not form the tail of the grid.
    int64_t numMBlocks = llvm::divideCeil(p.seqQ, bm);
    mBlock = arith::SubIOp::create(b, cI32(numMBlocks - 1), mBlock);
  }
  bh = idx32(gpu::BlockIdOp::create(b, gpu::Dimension::y));
  Value batch = arith::DivUIOp::create(b, bh, cI32(p.headsQ));
  Value head = arith::RemUIOp::create(b, bh, cI32(p.headsQ));
  Value kvHead = arith::DivUIOp::create(b, head, cI32(p.headsQ / p.headsKV));
  Value kvBh = add(mul(batch, p.headsKV), kvHead);
  if (p.scoreMod) {
    batchIndex = arith::IndexCastUIOp::create(b, b.getIndexType(), batch);
    headIndex = arith::IndexCastUIOp::create(b, b.getIndexType(), head);
  }
  if (!p.alibiSlopes.empty())
    negSlope = emitNegAlibiSlope(head);
  // Byte offsets of row 0 of this (batch, head) in Q/O and in K/V (i64: a
  // tensor may exceed 2 GiB).
  qHeadBytes = arith::MulIOp::create(b, toI64(bh), cI64(p.seqQ * tileRowBytes));
  kvHeadBytes =
      arith::MulIOp::create(b, toI64(kvBh), cI64(p.seqK * tileRowBytes));
  m0 = mul(mBlock, bm);
  warpRow0 = add(m0, mul(warp, bm / warps));

  qPtr = pointerOf(entry.getArgument(0), ptrGlobal);
  kPtr = pointerOf(entry.getArgument(1), ptrGlobal);
  vPtr = pointerOf(entry.getArgument(2), ptrGlobal);
  oPtr = pointerOf(entry.getArgument(3), ptrGlobal);
  if (p.withLse)
    lsePtr = pointerOf(entry.getArgument(4), ptrGlobal);
  auto smemType = MemRefType::get(
      {ShapedType::kDynamic}, b.getI8Type(), MemRefLayoutAttrInterface(),
      gpu::AddressSpaceAttr::get(b.getContext(),
                                 gpu::AddressSpace::Workgroup));
  smem = pointerOf(gpu::DynamicSharedMemoryOp::create(b, smemType),
                   ptrShared);

  // Lane-dependent parts of the ldmatrix addresses (see the file header):
  // lanes 8i..8i+7 give the rows of matrix i.
  Value matrix = shr(lane, 3);
  Value lo8 = mul(andI(matrix, 1), 8), hi8 = mul(shr(matrix, 1), 8);
  qLane = laneOffset(
      mul(add(add(mul(warp, bm / warps), r8), lo8), tileRowBytes),
      shr(matrix, 1));
  kLane = laneOffset(mul(add(r8, hi8), tileRowBytes), andI(matrix, 1));
  vLane = laneOffset(mul(add(r8, lo8), tileRowBytes), shr(matrix, 1));
}

void KernelEmitter::emitBlockRange() {
  // Blocks wholly outside the mask for every row of this Q block are never
  // visited: [nBegin, nEnd) covers keys i + off - left .. i + off + right.
  nBegin = cI32(0);
  nEnd = cI32(llvm::divideCeil(p.seqK, bn));
  if (p.left) {
    Value first = arith::FloorDivSIOp::create(
        b, add(m0, p.diagOffset - *p.left), cI32(bn));
    nBegin = arith::MaxSIOp::create(b, first, cI32(0));
  }
  if (p.right) {
    Value lastRow = arith::MinSIOp::create(b, add(m0, bm - 1),
                                           cI32(p.seqQ - 1));
    Value last = arith::FloorDivSIOp::create(
        b, add(lastRow, p.diagOffset + *p.right), cI32(bn));
    nEnd = arith::MinSIOp::create(b, add(last, 1), nEnd);
  }
}

void KernelEmitter::emitPrologue() {
  // Q and K[nBegin] in one cp.async group, V[nBegin] in the next.
  Value hasWork = cmp(arith::CmpIPredicate::slt, nBegin, nEnd);
  scf::IfOp::create(b, hasWork, [&](OpBuilder &, Location) {
    copyTile(qPtr, qHeadBytes, m0, bm, p.seqQ, tileAt(cI32(0)));
    Value n0 = mul(nBegin, bn);
    copyTile(kPtr, kvHeadBytes, n0, bn, p.seqK, tileAt(kTileOffset(cI32(0))));
    NVVM::CpAsyncCommitGroupOp::create(b);
    copyTile(vPtr, kvHeadBytes, n0, bn, p.seqK, tileAt(vTileOffset(cI32(0))));
    NVVM::CpAsyncCommitGroupOp::create(b);
    scf::YieldOp::create(b);
  });

  // Q stays in registers when its fragments are few (one m16 tile per warp
  // and D <= 128); otherwise it is re-read from shared memory per KV block,
  // as FlashAttention-2 does, to leave registers to O.
  if (mTiles * kSteps() * 4 > 32)
    return;
  NVVM::CpAsyncWaitGroupOp::create(b, 1);
  gpu::BarrierOp::create(b);
  SmallVector<SmallVector<Value>> regs;
  for (int64_t mt = 0; mt < mTiles; ++mt)
    for (int64_t kk = 0; kk < kSteps(); ++kk)
      regs.push_back(loadQ(mt, kk));
  qRegs = std::move(regs);
}

SmallVector<Value> KernelEmitter::loadQ(int64_t mt, int64_t kk) {
  if (!qRegs.empty())
    return qRegs[mt * kSteps() + kk];
  return ldmatrix(fragmentAddress(cI32(0), qLane, mt * 16, 2 * kk),
                  /*transpose=*/false);
}

SmallVector<Value> KernelEmitter::emitScores(Value kTile) {
  SmallVector<Value> s(mTiles * nTiles() * 4, cF32(0.0));
  for (int64_t kk = 0; kk < kSteps(); ++kk) {
    SmallVector<SmallVector<Value>> qFrag;
    for (int64_t mt = 0; mt < mTiles; ++mt)
      qFrag.push_back(loadQ(mt, kk));
    for (int64_t np = 0; np < nTiles() / 2; ++np) {
      // One ldmatrix x4 gives the B fragments of two n8 tiles.
      SmallVector<Value> kf = ldmatrix(
          fragmentAddress(kTile, kLane, np * 16, 2 * kk), /*transpose=*/false);
      for (int64_t mt = 0; mt < mTiles; ++mt)
        for (int64_t half = 0; half < 2; ++half) {
          mma(qFrag[mt], {kf[2 * half], kf[2 * half + 1]},
              MutableArrayRef<Value>(s).slice(sIndex(mt, 2 * np + half, 0), 4));
        }
    }
  }
  if (p.softcap) {
    Value inner = cF32(p.scale / *p.softcap);
    for (Value &v : s)
      v = tanhApprox(arith::MulFOp::create(b, v, inner));
  }
  if (!p.needsNaturalScores())
    return s;
  // Modifiers see scale * dot, or softcap * tanh(scale * dot / softcap).
  Value unit = cF32(p.softcap ? *p.softcap : p.scale);
  for (Value &v : s)
    v = arith::MulFOp::create(b, v, unit);
  return s;
}

Value KernelEmitter::emitNegAlibiSlope(Value head) {
  // One select per head, once per CTA: cheaper than a constant table in
  // global memory and keeps the slope in a register for the whole loop.
  Value negSlope = cF32(-p.alibiSlopes.front());
  for (auto [h, slope] : llvm::enumerate(p.alibiSlopes))
    if (h > 0 && slope != p.alibiSlopes.front())
      negSlope = sel(cmp(arith::CmpIPredicate::eq, head, cI32(h)), cF32(-slope),
                     negSlope);
  return negSlope;
}

Value KernelEmitter::inlineScoreMod(Value score, Value row, Value key) {
  Block &body = p.scoreMod->front();
  IRMapping mapping;
  mapping.map(body.getArguments(),
              ValueRange{score, batchIndex, headIndex, row, key});
  for (Operation &op : body.without_terminator())
    b.clone(op, mapping);
  return mapping.lookupOrDefault(body.getTerminator()->getOperand(0));
}

SmallVector<Value> KernelEmitter::emitScoreMods(Value n0, ArrayRef<Value> s) {
  SmallVector<Value> out(s);
  if (!p.needsNaturalScores())
    return out;
  // Element (mt, nt, c) of this lane is query row warpRow0 + g + mt * 16 +
  // (c >> 1) * 8 and key n0 + 2t + nt * 8 + (c & 1) (see the file header).
  Value row0 = add(warpRow0, g), col0 = add(n0, mul(t, 2));
  Value alibiDist0, rowIdx0, colIdx0;
  if (negSlope)
    // The ALiBi distance i + Lk - Lq - j, up to a constant per element.
    alibiDist0 = arith::SubIOp::create(b, add(row0, p.seqK - p.seqQ), col0);
  if (p.scoreMod) {
    rowIdx0 = arith::IndexCastUIOp::create(b, b.getIndexType(), row0);
    colIdx0 = arith::IndexCastUIOp::create(b, b.getIndexType(), col0);
  }
  auto addIndex = [&](Value x, int64_t y) -> Value {
    if (!y)
      return x;
    return arith::AddIOp::create(b, x, arith::ConstantIndexOp::create(b, y));
  };
  for (int64_t mt = 0; mt < mTiles; ++mt)
    for (int64_t nt = 0; nt < nTiles(); ++nt)
      for (int64_t c = 0; c < 4; ++c) {
        int64_t rowDelta = mt * 16 + (c >> 1) * 8, colDelta = nt * 8 + (c & 1);
        Value &v = out[sIndex(mt, nt, c)];
        if (negSlope) {
          Value dist = add(alibiDist0, rowDelta - colDelta);
          Value absDist = arith::MaxSIOp::create(
              b, dist, arith::SubIOp::create(b, cI32(0), dist));
          v = fma(negSlope, arith::SIToFPOp::create(b, f32, absDist), v);
        }
        if (p.scoreMod)
          v = inlineScoreMod(v, addIndex(rowIdx0, rowDelta),
                             addIndex(colIdx0, colDelta));
      }
  return out;
}

SmallVector<Value> KernelEmitter::emitMask(Value n0, ArrayRef<Value> s) {
  // Only blocks that straddle the mask's boundary or the Lk tail pay for it.
  auto orI = [&](Value x, Value y) { return arith::OrIOp::create(b, x, y); };
  Value needsMask = arith::ConstantIntOp::create(b, b.getI1Type(), 0);
  if (p.left)
    needsMask = orI(needsMask, cmp(arith::CmpIPredicate::slt, n0,
                                   add(m0, bm - 1 + p.diagOffset - *p.left)));
  if (p.right)
    needsMask = orI(needsMask, cmp(arith::CmpIPredicate::sgt, add(n0, bn - 1),
                                   add(m0, p.diagOffset + *p.right)));
  if (p.seqK % bn != 0)
    needsMask = orI(needsMask, cmp(arith::CmpIPredicate::sgt, add(n0, bn),
                                   cI32(p.seqK)));
  if (!p.left && !p.right && p.seqK % bn == 0)
    return SmallVector<Value>(s);

  auto masked = scf::IfOp::create(
      b, needsMask,
      [&](OpBuilder &, Location) {
        // key - query = (n0 + 2t) - (warpRow0 + g) + a constant per fragment
        // element, so each element costs one add and two compares.
        Value col0 = add(n0, mul(t, 2));
        Value diff0 = arith::SubIOp::create(b, col0, add(warpRow0, g));
        Value negInf = cF32(-std::numeric_limits<double>::infinity());
        auto andB = [&](Value x, Value y) {
          return arith::AndIOp::create(b, x, y);
        };
        SmallVector<Value> out;
        for (int64_t mt = 0; mt < mTiles; ++mt)
          for (int64_t nt = 0; nt < nTiles(); ++nt)
            for (int64_t c = 0; c < 4; ++c) {
              int64_t colDelta = nt * 8 + (c & 1);
              Value diff = add(diff0, colDelta - (mt * 16 + (c >> 1) * 8));
              Value keep = arith::ConstantIntOp::create(b, b.getI1Type(), 1);
              if (p.left)
                keep = andB(keep, cmp(arith::CmpIPredicate::sge, diff,
                                      cI32(p.diagOffset - *p.left)));
              if (p.right)
                keep = andB(keep, cmp(arith::CmpIPredicate::sle, diff,
                                      cI32(p.diagOffset + *p.right)));
              if (p.seqK % bn != 0)
                keep = andB(keep, cmp(arith::CmpIPredicate::slt,
                                      add(col0, colDelta), cI32(p.seqK)));
              out.push_back(sel(keep, s[sIndex(mt, nt, c)], negInf));
            }
        scf::YieldOp::create(b, out);
      },
      [&](OpBuilder &, Location) { scf::YieldOp::create(b, s); });
  return SmallVector<Value>(masked.getResults());
}

void KernelEmitter::emitOnlineSoftmax(SmallVector<Value> &s,
                                      SmallVector<Value> &rowMax,
                                      SmallVector<Value> &rowSum,
                                      SmallVector<Value> &acc) {
  // Row (mt, half) of this thread holds elements 2 * half and 2 * half + 1
  // of every n8 tile; the other three lanes of the quad hold the rest.
  Value c = cF32(expScale);
  Value negInf = cF32(-std::numeric_limits<double>::infinity());
  SmallVector<Value> alpha(mTiles * 2);
  for (int64_t mt = 0; mt < mTiles; ++mt) {
    for (int64_t half = 0; half < 2; ++half) {
      int64_t row = mt * 2 + half;
      Value mx = rowMax[row];
      for (int64_t nt = 0; nt < nTiles(); ++nt)
        for (int64_t e = 0; e < 2; ++e)
          mx = maxF(mx, s[sIndex(mt, nt, 2 * half + e)]);
      mx = maxF(mx, shuffleXor(mx, 1));
      mx = maxF(mx, shuffleXor(mx, 2));
      // A row with nothing visible yet keeps m = -inf; exponentiate against
      // 0 there so that exp2(-inf - -inf) never makes a NaN.
      Value isEmpty =
          arith::CmpFOp::create(b, arith::CmpFPredicate::OEQ, mx, negInf);
      Value mScaled =
          sel(isEmpty, cF32(0.0), arith::MulFOp::create(b, mx, c));
      Value negM = arith::NegFOp::create(b, mScaled);
      alpha[row] = exp2(fma(rowMax[row], c, negM));
      Value sum = cF32(0.0);
      for (int64_t nt = 0; nt < nTiles(); ++nt)
        for (int64_t e = 0; e < 2; ++e) {
          Value &v = s[sIndex(mt, nt, 2 * half + e)];
          v = exp2(fma(v, c, negM));
          sum = arith::AddFOp::create(b, sum, v);
        }
      // The quad reduction of l is deferred to the epilogue: alpha is the
      // same in all four lanes, so partial sums rescale consistently.
      rowSum[row] = fma(rowSum[row], alpha[row], sum);
      rowMax[row] = mx;
    }
  }
  for (int64_t mt = 0; mt < mTiles; ++mt)
    for (int64_t dt = 0; dt < dTiles(); ++dt)
      for (int64_t e = 0; e < 4; ++e) {
        Value &o = acc[oIndex(mt, dt, e)];
        o = arith::MulFOp::create(b, o, alpha[mt * 2 + e / 2]);
      }
}

void KernelEmitter::emitPV(ArrayRef<Value> probs, Value vTile,
                           SmallVector<Value> &acc) {
  for (int64_t kk = 0; kk < bn / 16; ++kk) {
    // The C fragments of n8 tiles 2kk and 2kk+1, packed pairwise, are the A
    // fragment of keys 16kk..16kk+15.
    SmallVector<SmallVector<Value>> pFrag;
    for (int64_t mt = 0; mt < mTiles; ++mt) {
      auto at = [&](int64_t nt, int64_t e) { return probs[sIndex(mt, nt, e)]; };
      pFrag.push_back({packHalf2(at(2 * kk, 0), at(2 * kk, 1)),
                       packHalf2(at(2 * kk, 2), at(2 * kk, 3)),
                       packHalf2(at(2 * kk + 1, 0), at(2 * kk + 1, 1)),
                       packHalf2(at(2 * kk + 1, 2), at(2 * kk + 1, 3))});
    }
    for (int64_t dp = 0; dp < d / 16; ++dp) {
      SmallVector<Value> vf = ldmatrix(
          fragmentAddress(vTile, vLane, kk * 16, 2 * dp), /*transpose=*/true);
      for (int64_t mt = 0; mt < mTiles; ++mt)
        for (int64_t half = 0; half < 2; ++half) {
          mma(pFrag[mt], {vf[2 * half], vf[2 * half + 1]},
              MutableArrayRef<Value>(acc).slice(oIndex(mt, 2 * dp + half, 0),
                                                4));
        }
    }
  }
}

scf::ForOp KernelEmitter::emitKVLoop() {
  int64_t numO = mTiles * dTiles() * 4, numRows = mTiles * 2;
  SmallVector<Value> init(numO, cF32(0.0));
  init.append(numRows, cF32(-std::numeric_limits<double>::infinity())); // m
  init.append(numRows, cF32(0.0));                                       // l
  auto loop = scf::ForOp::create(b, nBegin, nEnd, cI32(1), init);
  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPointToStart(loop.getBody());
  Value j = loop.getInductionVar();
  ValueRange iter = loop.getRegionIterArgs();
  SmallVector<Value> acc(iter.begin(), iter.begin() + numO);
  SmallVector<Value> rowMax(iter.begin() + numO, iter.begin() + numO + numRows);
  SmallVector<Value> rowSum(iter.begin() + numO + numRows, iter.end());
  Value stage = andI(arith::SubIOp::create(b, j, nBegin), 1);
  Value nextStage = arith::XOrIOp::create(b, stage, cI32(1));
  Value n0 = mul(j, bn);
  Value hasNext = cmp(arith::CmpIPredicate::slt, add(j, 1), nEnd);
  // Issues the copy of the next block's K or V tile (an empty cp.async group
  // on the last block keeps the wait_group counts uniform).
  auto prefetch = [&](Value gptr, Value tileOffset) {
    scf::IfOp::create(b, hasNext, [&](OpBuilder &, Location) {
      copyTile(gptr, kvHeadBytes, add(n0, bn), bn, p.seqK, tileAt(tileOffset));
      scf::YieldOp::create(b);
    });
    NVVM::CpAsyncCommitGroupOp::create(b);
  };

  // Groups in flight here: ..., K[j], V[j], K[j+1]; K[j] must have landed.
  prefetch(kPtr, kTileOffset(nextStage));
  NVVM::CpAsyncWaitGroupOp::create(b, 2);
  gpu::BarrierOp::create(b);
  // Masks come last so that masked and padded keys stay -inf whatever the
  // modifiers compute for them.
  SmallVector<Value> s =
      emitMask(n0, emitScoreMods(n0, emitScores(kTileOffset(stage))));
  emitOnlineSoftmax(s, rowMax, rowSum, acc);

  // ..., V[j], K[j+1], V[j+1]; V[j] must have landed. The barrier also
  // tells every warp that S[j] no longer reads K[j]'s stage.
  prefetch(vPtr, vTileOffset(nextStage));
  NVVM::CpAsyncWaitGroupOp::create(b, 2);
  gpu::BarrierOp::create(b);
  emitPV(s, vTileOffset(stage), acc);

  SmallVector<Value> yields(acc);
  yields.append(rowMax);
  yields.append(rowSum);
  scf::YieldOp::create(b, yields);
  return loop;
}

void KernelEmitter::emitEpilogue(ValueRange results) {
  // O / l goes through the warp's own rows of the Q tile (only this warp
  // ever read them) so that global stores are whole 16-byte chunks of a row
  // instead of 4-byte pieces of eight rows.
  int64_t numO = mTiles * dTiles() * 4, numRows = mTiles * 2;
  int64_t rowsPerWarp = bm / warps;
  Value warpTileRow = mul(warp, rowsPerWarp);
  for (int64_t mt = 0; mt < mTiles; ++mt) {
    for (int64_t half = 0; half < 2; ++half) {
      int64_t rowIdx = mt * 2 + half;
      Value m = results[numO + rowIdx];
      Value l = results[numO + numRows + rowIdx];
      l = arith::AddFOp::create(b, l, shuffleXor(l, 1));
      l = arith::AddFOp::create(b, l, shuffleXor(l, 2));
      // l == 0: every key of the row is masked; O is 0 and LSE is -inf.
      Value empty =
          arith::CmpFOp::create(b, arith::CmpFPredicate::OEQ, l, cF32(0.0));
      Value inv = sel(empty, cF32(0.0), arith::DivFOp::create(b, cF32(1.0), l));
      Value tileRow = add(add(warpTileRow, g), mt * 16 + half * 8);
      // Lane (g, t) holds columns 8 dt + 2t, +1: bytes 4t of chunk dt.
      Value rowOffset = add(mul(tileRow, tileRowBytes), mul(t, 4));
      for (int64_t dt = 0; dt < dTiles(); ++dt) {
        int64_t base = oIndex(mt, dt, 2 * half);
        Value packed =
            packHalf2(arith::MulFOp::create(b, results[base], inv),
                      arith::MulFOp::create(b, results[base + 1], inv));
        Value chunk = arith::XOrIOp::create(b, cI32(dt), andI(tileRow, 7));
        LLVM::StoreOp::create(b, packed,
                              tileAt(add(rowOffset, mul(chunk, 16))),
                              /*alignment=*/4);
      }
      if (!lsePtr)
        continue;
      Value row = add(m0, tileRow);
      Value store = cmp(arith::CmpIPredicate::eq, t, cI32(0));
      if (p.seqQ % bm != 0)
        store = arith::AndIOp::create(
            b, store, cmp(arith::CmpIPredicate::slt, row, cI32(p.seqQ)));
      scf::IfOp::create(b, store, [&](OpBuilder &, Location) {
        // LSE = ln(sum exp(x)) = (m * c + log2(l)) * ln 2.
        Value log2Sum = fma(m, cF32(expScale), log2(l));
        Value lse = sel(empty, cF32(-std::numeric_limits<double>::infinity()),
                        arith::MulFOp::create(b, log2Sum, cF32(kLn2)));
        Value off = arith::AddIOp::create(
            b, arith::MulIOp::create(b, toI64(bh), cI64(p.seqQ * 4)),
            toI64(mul(row, 4)));
        LLVM::StoreOp::create(b, lse, gep(ptrGlobal, lsePtr, off),
                              /*alignment=*/4);
        scf::YieldOp::create(b);
      });
    }
  }
  NVVM::SyncWarpOp::create(b, cI32(-1));

  // Each lane copies chunk (lane % chunksPerRow) of every rowsPerPass-th row
  // of the warp's rows with one 16-byte load and store.
  int64_t chunksPerRow = d / 8, rowsPerPass = 32 / chunksPerRow;
  Value chunk = andI(lane, chunksPerRow - 1);
  Value firstRow = add(warpTileRow, shr(lane, llvm::Log2_64(chunksPerRow)));
  auto vec4 = VectorType::get({4}, i32);
  for (int64_t k = 0; k < rowsPerWarp / rowsPerPass; ++k) {
    Value tileRow = add(firstRow, k * rowsPerPass);
    Value row = add(m0, tileRow);
    auto copy = [&]() {
      Value v = LLVM::LoadOp::create(b, vec4, tileAt(swizzled(tileRow, chunk)),
                                     /*alignment=*/16);
      Value off = arith::AddIOp::create(
          b, qHeadBytes, toI64(add(mul(row, tileRowBytes), mul(chunk, 16))));
      LLVM::StoreOp::create(b, v, gep(ptrGlobal, oPtr, off), /*alignment=*/16);
    };
    if (p.seqQ % bm == 0) {
      copy();
      continue;
    }
    scf::IfOp::create(b, cmp(arith::CmpIPredicate::slt, row, cI32(p.seqQ)),
                      [&](OpBuilder &, Location) {
                        copy();
                        scf::YieldOp::create(b);
                      });
  }
}

void KernelEmitter::emit() {
  b.setInsertionPointToStart(&func.getBody().front());
  emitCoordinates();
  emitBlockRange();
  emitPrologue();
  scf::ForOp loop = emitKVLoop();
  b.setInsertionPointAfter(loop);
  emitEpilogue(loop.getResults());
  gpu::ReturnOp::create(b);
}

int64_t mlir::attn::getKernelSharedMemoryBytes(const KernelProblem &problem,
                                               const AttnToNVVMOptions &o) {
  return (o.blockM + 2 * kStages * o.blockN) * problem.headDim * 2;
}

void mlir::attn::buildAttentionKernelBody(gpu::GPUFuncOp func,
                                          const KernelProblem &problem,
                                          const AttnToNVVMOptions &options) {
  KernelEmitter(func, problem, options).emit();
}
