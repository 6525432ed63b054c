//===- FragmentEmitter.cpp - mma.sync fragment building blocks ------------===//
//
// Part of attn-mlir. See FragmentEmitter.h.
//
//===----------------------------------------------------------------------===//

#include "FragmentEmitter.h"

#include "attn/Dialect/Attn/IR/KeyVisibility.h"
#include "mlir/Dialect/SCF/IR/SCF.h"

#include <limits>

#include "attn/Dialect/Attn/IR/AttnOps.h"

#include "mlir/Dialect/LLVMIR/NVVMDialect.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/IR/IRMapping.h"
#include "mlir/Transforms/RegionUtils.h"
#include "llvm/ADT/SetVector.h"

#include <limits>

using namespace mlir;
using namespace mlir::attn;
using namespace mlir::attn::detail;

bool mlir::attn::detail::viewsShareRowOffsets(Operation *keyView,
                                              Operation *valueView) {
  auto k = cast<KVCacheViewInterface>(keyView);
  auto v = cast<KVCacheViewInterface>(valueView);
  SmallVector<Value> ks = k.getStorage(), vs = v.getStorage();
  int64_t rowStorages = k.getNumRowStorages();
  if (keyView->getName() != valueView->getName() ||
      keyView->getAttrDictionary() != valueView->getAttrDictionary() ||
      keyView->getResultTypes() != valueView->getResultTypes() ||
      ks.size() != vs.size() || v.getNumRowStorages() != rowStorages)
    return false;
  for (int64_t i = 0; i < rowStorages; ++i)
    if (ks[i].getType() != vs[i].getType())
      return false;
  return llvm::equal(ArrayRef(ks).drop_front(rowStorages),
                     ArrayRef(vs).drop_front(rowStorages));
}

FragmentEmitter::FragmentEmitter(gpu::GPUFuncOp func, const KernelProblem &p,
                                 int64_t mTiles, int64_t keysPerTile)
    : func(func), b(func.getLoc(), func.getContext()), p(p), d(p.headDim),
      dv(p.valueHeadDim), mTiles(mTiles), bn(keysPerTile),
      tileRowBytes(p.headDim * 2), valueRowBytes(p.valueHeadDim * 2),
      smemRowBytes(sharedRowBytes(p.headDim)),
      vSmemRowBytes(sharedRowBytes(p.valueHeadDim)),
      qSmemRowBytes(smemRowBytes) {
  MLIRContext *ctx = func.getContext();
  i32 = b.getI32Type();
  i64 = b.getI64Type();
  f32 = b.getF32Type();
  half2 = VectorType::get({2}, p.isBF16 ? Type(b.getBF16Type())
                                        : Type(b.getF16Type()));
  ptrGlobal = LLVM::LLVMPointerType::get(ctx, 1);
  ptrShared = LLVM::LLVMPointerType::get(ctx, 3);
  // Without modifiers the scale (or the softcap, which folds the scale into
  // tanh's argument so that the softmax works on tanh values in units of
  // `softcap` logits) rides in the exponent's factor for free. ALiBi or a
  // score_mod need natural-unit scores, so only log2(e) remains there.
  if (p.needsNaturalScores())
    expScale = kLog2e;
  else
    expScale = p.softcap ? *p.softcap * kLog2e : p.scale * kLog2e;
}

void FragmentEmitter::emitLaneCoordinates() {
  tid = arith::IndexCastUIOp::create(
      b, i32, gpu::ThreadIdOp::create(b, gpu::Dimension::x));
  warp = shr(tid, 5);
  lane = andI(tid, 31);
  g = shr(lane, 2);
  t = andI(lane, 3);
  r8 = andI(lane, 7);
  auto smemType = MemRefType::get(
      {ShapedType::kDynamic}, b.getI8Type(), MemRefLayoutAttrInterface(),
      gpu::AddressSpaceAttr::get(b.getContext(),
                                 gpu::AddressSpace::Workgroup));
  smem = pointerOf(gpu::DynamicSharedMemoryOp::create(b, smemType),
                   ptrShared);
  // Lanes 8i..8i+7 give the rows of matrix i of an ldmatrix x4: K tiles
  // are read as B fragments of two n8 tiles (matrices 2, 3 are keys 8-15),
  // V tiles transposed as B fragments of two d8 tiles.
  Value matrix = shr(lane, 3);
  Value lo8 = mul(andI(matrix, 1), 8), hi8 = mul(shr(matrix, 1), 8);
  kLane = laneOffset(mul(add(r8, hi8), smemRowBytes), andI(matrix, 1));
  vLane = laneOffset(mul(add(r8, lo8), vSmemRowBytes), shr(matrix, 1));
}

SmallVector<FragmentEmitter::CopyPass>
FragmentEmitter::planTileCopy(Value id, int64_t threads, int64_t rows,
                              int64_t chunks, int64_t rowBytes) {
  SmallVector<CopyPass> passes;
  if (llvm::isPowerOf2_64(chunks) && threads % chunks == 0) {
    int64_t rowsPerPass = threads / chunks;
    Value row0 = shr(id, llvm::Log2_64(chunks));
    Value chunk = andI(id, chunks - 1);
    // Rows 8 apart have the same swizzle.
    Value smem0 = rowsPerPass % 8 == 0 ? swizzled(row0, chunk, rowBytes)
                                       : Value();
    for (int64_t k = 0; k * rowsPerPass < rows; ++k) {
      Value valid;
      if ((k + 1) * rowsPerPass > rows)
        valid = cmp(arith::CmpIPredicate::slt, row0, cI32(rows - k * rowsPerPass));
      passes.push_back({row0, k * rowsPerPass, chunk, smem0,
                        k * rowsPerPass * rowBytes, valid});
    }
    return passes;
  }
  // Rows of a chunk count that is no power of two: items split by division
  // (by a constant: a multiply-high and a shift).
  for (int64_t k = 0; k * threads < rows * chunks; ++k) {
    Value item = add(id, k * threads);
    Value row = arith::DivUIOp::create(b, item, cI32(chunks));
    Value chunk = arith::RemUIOp::create(b, item, cI32(chunks));
    Value valid;
    if ((k + 1) * threads > rows * chunks)
      valid = cmp(arith::CmpIPredicate::slt, item, cI32(rows * chunks));
    passes.push_back(
        {row, 0, chunk, swizzled(row, chunk, rowBytes), 0, valid});
  }
  return passes;
}

void FragmentEmitter::ifValid(Value cond, function_ref<void()> body) {
  if (!cond)
    return body();
  scf::IfOp::create(b, cond, [&](OpBuilder &, Location) {
    body();
    scf::YieldOp::create(b);
  });
}

Value FragmentEmitter::headByteOffset(const OperandStrides &s, int64_t heads,
                                      Value batch, Value head, Value bh) {
  if (s.mergesBatchAndHead(heads)) {
    if (!bh)
      bh = add(mul(batch, heads), head);
    return arith::MulIOp::create(b, toI64(bh), cI64(s.head * 2));
  }
  // The head does not determine the batch's offset (e.g. BSHD: heads are
  // adjacent within a row): each index times its own stride, in i64.
  Value batchBytes = arith::MulIOp::create(b, toI64(batch), cI64(s.batch * 2));
  Value headBytes = arith::MulIOp::create(b, toI64(head), cI64(s.head * 2));
  return arith::AddIOp::create(b, batchBytes, headBytes);
}

Value FragmentEmitter::packedRowByteOffset(const OperandStrides &s, Value row,
                                           Value column, int64_t columnBytes) {
  if (packedRowsAreLinear(s))
    return toI64(add(mul(row, rowBytes(s)), mul(column, columnBytes)));
  // Heads of the group are not one run of rows (e.g. BSHD, where a
  // sequence position holds every head): head and query of the row apart.
  Value headOfRow =
      p.seqQ == 1 ? row : arith::DivUIOp::create(b, row, cI32(p.seqQ));
  Value offset = arith::MulIOp::create(b, toI64(headOfRow), cI64(s.head * 2));
  if (p.seqQ != 1) {
    Value query = arith::RemUIOp::create(b, row, cI32(p.seqQ));
    offset =
        arith::AddIOp::create(b, offset, toI64(mul(query, rowBytes(s))));
  }
  return arith::AddIOp::create(b, offset, toI64(mul(column, columnBytes)));
}

Value FragmentEmitter::pointerOf(Value memref, Type ptrType) {
  Value index = memref::ExtractAlignedPointerAsIndexOp::create(b, memref);
  Value asInt = arith::IndexCastUIOp::create(b, i64, index);
  return LLVM::IntToPtrOp::create(b, ptrType, asInt);
}

Value FragmentEmitter::viewRowByteOffset(Operation *view, ValueRange storage,
                                         Value batch, Value kvHead,
                                         Value row) {
  auto toIndex = [&](Value x) -> Value {
    return arith::IndexCastUIOp::create(b, b.getIndexType(), x);
  };
  Value element = cast<KVCacheViewInterface>(view).buildRowOffset(
      b, b.getLoc(), storage, toIndex(batch), toIndex(kvHead), toIndex(row));
  Value elem64 = arith::IndexCastUIOp::create(b, i64, element);
  return arith::MulIOp::create(b, elem64, cI64(2));
}

Value FragmentEmitter::shuffleXor(Value x, int64_t mask) {
  return NVVM::ShflOp::create(b, f32, cI32(-1), x, cI32(mask), cI32(0x1f),
                              NVVM::ShflKind::bfly, UnitAttr());
}

Value FragmentEmitter::unaryPtx(StringRef asmString, Value x) {
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

Value FragmentEmitter::reduceRow(ArrayRef<Value> values,
                                 function_ref<Value(Value, Value)> op) {
  if (!treeReductions) {
    Value acc = values.front();
    for (Value v : values.drop_front())
      acc = op(acc, v);
    return acc;
  }
  SmallVector<Value> level(values);
  while (level.size() > 1) {
    SmallVector<Value> next;
    for (size_t i = 0; i + 1 < level.size(); i += 2)
      next.push_back(op(level[i], level[i + 1]));
    if (level.size() % 2)
      next.push_back(level.back());
    level = std::move(next);
  }
  return level.front();
}

Value FragmentEmitter::polyExp2(Value x) {
  // 2^x = 2^floor(x) * 2^f, f in [0, 1): adding 1.5 * 2^23 rounding down
  // leaves floor(x) in the low mantissa bits (exact for |x| < 2^22), which
  // shifted by 23 add to the exponent of 2^f's degree-3 minimax polynomial
  // (relative error 8.8e-5, below the 2^-9 of the bf16 / f16 P it feeds).
  // Below -126 (-inf for masked keys) the result is 0, as ex2.approx.ftz
  // flushes it: the integer add would wrap there. 10 FMA-pipe / ALU
  // instructions for one MUFU one, which at D = 64 is as busy as the
  // tensor pipe.
  return unaryPtx("{\n.reg .f32 r, fl, f, q;\n.reg .b32 e, qi;\n"
                  ".reg .pred lo;\n"
                  "add.rm.f32 r, $1, 0f4B400000;\n"
                  "sub.f32 fl, r, 0f4B400000;\n"
                  "sub.f32 f, $1, fl;\n"
                  "fma.rn.f32 q, f, 0f3D9DF09D, 0f3E6906A4;\n"
                  "fma.rn.f32 q, q, f, 0f3F31F519;\n"
                  "fma.rn.f32 q, q, f, 0f3F800000;\n"
                  "mov.b32 qi, q;\n"
                  "mov.b32 e, r;\n"
                  "shl.b32 e, e, 23;\n"
                  "add.s32 qi, qi, e;\n"
                  "mov.b32 q, qi;\n"
                  "setp.lt.f32 lo, $1, 0fC2FC0000;\n"
                  "selp.f32 $0, 0f00000000, q, lo;\n}",
                  x);
}

Value FragmentEmitter::packHalf2(Value x, Value y) {
  auto f32x2 = VectorType::get({2}, f32);
  Value v = LLVM::PoisonOp::create(b, f32x2);
  v = LLVM::InsertElementOp::create(b, v, x, cI32(0));
  v = LLVM::InsertElementOp::create(b, v, y, cI32(1));
  // fptrunc <2 x float> becomes one cvt.rn.{bf16x2,f16x2}.f32 on sm_80+.
  Value h = LLVM::FPTruncOp::create(b, half2, v);
  return LLVM::BitcastOp::create(b, i32, h);
}

SmallVector<Value> FragmentEmitter::ldmatrix(Value ptr, bool transpose) {
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

void FragmentEmitter::mma(ArrayRef<Value> a, ArrayRef<Value> bFrag,
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

Value FragmentEmitter::fragmentAddress(Value tileOffset, Value laneOff,
                                       int64_t rowDelta, int64_t chunk,
                                       int64_t rowBytes) {
  Value offset = add(tileOffset, laneOff);
  if (int64_t low = chunk & 7)
    offset = arith::XOrIOp::create(b, offset, cI32(low * 16));
  // Chunks 8c.. of a row are c 128-byte groups in: the XOR stays in one.
  offset = add(offset, rowDelta * rowBytes + (chunk & ~int64_t(7)) * 16);
  return gep(ptrShared, smem, offset);
}

SmallVector<Value> FragmentEmitter::loadQ(int64_t mt, int64_t kk) {
  if (!qRegs.empty())
    return qRegs[mt * kSteps() + kk];
  return ldmatrix(
      fragmentAddress(cI32(0), qLane, mt * 16, 2 * kk, qSmemRowBytes),
      /*transpose=*/false);
}

SmallVector<Value> FragmentEmitter::emitScores(Value kTile) {
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
  return finishRawScores(std::move(s));
}

SmallVector<Value> FragmentEmitter::finishRawScores(SmallVector<Value> s) {
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

Value FragmentEmitter::emitNegAlibiSlope(Value head) {
  // One select per head, once per CTA: cheaper than a constant table in
  // global memory and keeps the slope in a register for the whole loop.
  Value negSlope = cF32(-p.alibiSlopes.front());
  for (auto [h, slope] : llvm::enumerate(p.alibiSlopes))
    if (h > 0 && slope != p.alibiSlopes.front())
      negSlope = sel(cmp(arith::CmpIPredicate::eq, head, cI32(h)), cF32(-slope),
                     negSlope);
  return negSlope;
}

Value FragmentEmitter::inlineScoreMod(Value score, Value batch, Value head,
                                      Value row, Value key) {
  Block &body = p.scoreMod->front();
  IRMapping mapping;
  mapping.map(body.getArguments(),
              ValueRange{score, batch, head, row, key});
  // The op's region captured nothing (attn-plan-gpu-kernels checks it);
  // folding in the tiling passes may have hoisted its constants above it.
  SetVector<Value> captured;
  getUsedValuesDefinedAbove(*p.scoreMod, captured);
  for (Value value : captured)
    if (Operation *constant = value.getDefiningOp();
        constant && constant->hasTrait<OpTrait::ConstantLike>())
      mapping.map(value, b.clone(*constant)->getResult(0));
  for (Operation &op : body.without_terminator())
    b.clone(op, mapping);
  return mapping.lookupOrDefault(body.getTerminator()->getOperand(0));
}

void FragmentEmitter::emitOnlineSoftmax(SmallVector<Value> &s,
                                      SmallVector<Value> &rowMax,
                                      SmallVector<Value> &rowSum,
                                      SmallVector<Value> &acc) {
  rescaleAccumulators(acc, emitSoftmaxStep(s, rowMax, rowSum));
}

SmallVector<Value> FragmentEmitter::emitSoftmaxStep(SmallVector<Value> &s,
                                                    SmallVector<Value> &rowMax,
                                                    SmallVector<Value> &rowSum) {
  // Row (mt, half) of this thread holds elements 2 * half and 2 * half + 1
  // of every n8 tile; the other three lanes of the quad hold the rest.
  Value c = cF32(expScale);
  Value negInf = cF32(-std::numeric_limits<double>::infinity());
  SmallVector<Value> alpha(mTiles * 2);
  for (int64_t mt = 0; mt < mTiles; ++mt) {
    for (int64_t half = 0; half < 2; ++half) {
      int64_t row = mt * 2 + half;
      SmallVector<Value> rowValues = {rowMax[row]};
      for (int64_t nt = 0; nt < nTiles(); ++nt)
        for (int64_t e = 0; e < 2; ++e)
          rowValues.push_back(s[sIndex(mt, nt, 2 * half + e)]);
      Value mx =
          reduceRow(rowValues, [&](Value x, Value y) { return maxF(x, y); });
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
      // The chain's adds go in between the exponentials, as they always
      // have (the kernels without trees stay instruction for instruction).
      Value sum = cF32(0.0);
      SmallVector<Value> probs;
      for (int64_t nt = 0; nt < nTiles(); ++nt)
        for (int64_t e = 0; e < 2; ++e) {
          Value &v = s[sIndex(mt, nt, 2 * half + e)];
          Value x = fma(v, c, negM);
          v = nt % 8 < polyExpTiles ? polyExp2(x) : exp2(x);
          if (treeReductions)
            probs.push_back(v);
          else
            sum = arith::AddFOp::create(b, sum, v);
        }
      if (treeReductions)
        sum = reduceRow(probs, [&](Value x, Value y) -> Value {
          return arith::AddFOp::create(b, x, y);
        });
      // The quad reduction of l is deferred to the epilogue: alpha is the
      // same in all four lanes, so partial sums rescale consistently.
      rowSum[row] = fma(rowSum[row], alpha[row], sum);
      rowMax[row] = mx;
    }
  }
  return alpha;
}

void FragmentEmitter::rescaleAccumulators(SmallVector<Value> &acc,
                                          ArrayRef<Value> alpha) {
  for (int64_t mt = 0; mt < mTiles; ++mt)
    for (int64_t dt = 0; dt < dTiles(); ++dt)
      for (int64_t e = 0; e < 4; ++e) {
        Value &o = acc[oIndex(mt, dt, e)];
        o = arith::MulFOp::create(b, o, alpha[mt * 2 + e / 2]);
      }
}

SmallVector<Value>
FragmentEmitter::packAFragment(function_ref<Value(int64_t, int64_t)> at,
                               int64_t kk) {
  SmallVector<Value> frag;
  for (int64_t nt : {2 * kk, 2 * kk + 1})
    for (int64_t e : {0, 2})
      frag.push_back(packHalf2(at(nt, e), at(nt, e + 1)));
  return frag;
}

void FragmentEmitter::emitPV(ArrayRef<Value> probs, Value vTile,
                           SmallVector<Value> &acc) {
  for (int64_t kk = 0; kk < bn / 16; ++kk) {
    // The C fragments of n8 tiles 2kk and 2kk+1, packed pairwise, are the A
    // fragment of keys 16kk..16kk+15.
    SmallVector<SmallVector<Value>> pFrag;
    for (int64_t mt = 0; mt < mTiles; ++mt) {
      auto at = [&](int64_t nt, int64_t e) { return probs[sIndex(mt, nt, e)]; };
      pFrag.push_back(packAFragment(at, kk));
    }
    for (int64_t dp = 0; dp < dv / 16; ++dp) {
      SmallVector<Value> vf =
          ldmatrix(fragmentAddress(vTile, vLane, kk * 16, 2 * dp, vSmemRowBytes),
                   /*transpose=*/true);
      for (int64_t mt = 0; mt < mTiles; ++mt)
        for (int64_t half = 0; half < 2; ++half) {
          mma(pFrag[mt], {vf[2 * half], vf[2 * half + 1]},
              MutableArrayRef<Value>(acc).slice(oIndex(mt, 2 * dp + half, 0),
                                                4));
        }
    }
  }
}

FailureOr<ProgramCoordinates>
FragmentEmitter::emitQueryBlockProgram(const TiledProgram &program,
                                       int64_t blockM, Value keyLengthsArg,
                                       const RuntimeLengths &lengths) {
  Location loc = b.getLoc();
  Value mBlock = gpu::BlockIdOp::create(b, gpu::Dimension::x);
  if (p.visibility.right && lengths.seqQ) {
    // ceil(Lq / block-m) - 1 - x with the runtime Lq.
    IntArith a(b, loc, b.getIndexType());
    Value seqQ = arith::IndexCastUIOp::create(b, b.getIndexType(), lengths.seqQ);
    mBlock = a.sub(a.add(a.ceilDiv(seqQ, blockM), -1), mBlock);
  } else if (p.visibility.right) {
    int64_t numMBlocks = llvm::divideCeil(p.seqQ, blockM);
    mBlock = arith::SubIOp::create(
        b, arith::ConstantIndexOp::create(b, loc, numMBlocks - 1), mBlock);
  }
  Value y = gpu::BlockIdOp::create(b, gpu::Dimension::y);
  Value headsQ = arith::ConstantIndexOp::create(b, loc, p.headsQ);
  return program.emitCoordinates(b,
                                 {arith::DivUIOp::create(b, y, headsQ),
                                  arith::RemUIOp::create(b, y, headsQ), mBlock},
                                 keyLengthsArg, lengths);
}

Value FragmentEmitter::blockNeedsMask(Value n0, Value firstRow, int64_t rows,
                                      Value queryLength, Value keyLength,
                                      bool tail) {
  const KeyVisibility &vis = p.visibility;
  // Rows past Lq are padding, so the bound may count them.
  IntArith a(b, b.getLoc(), i32);
  KeyInterval<Value> full = vis.keysSeenByAll(
      a, firstRow, add(firstRow, rows - 1), queryLength, keyLength);
  Value needsMask = arith::ConstantIntOp::create(b, b.getI1Type(), 0);
  if (vis.left)
    needsMask = arith::OrIOp::create(b, needsMask, a.slt(n0, full.begin));
  if (vis.right || tail)
    needsMask = arith::OrIOp::create(
        b, needsMask,
        cmp(arith::CmpIPredicate::sgt, add(n0, bn), full.end));
  return needsMask;
}

Value FragmentEmitter::outsideInterior(Value n0, Value interiorBegin,
                                       Value interiorEnd) {
  Value after = cmp(arith::CmpIPredicate::sge, n0, interiorEnd);
  // Without a left bound attn-tile starts the interior at the first block
  // visited, so no block lies before it (one register less in the loop).
  if (!p.visibility.left)
    return after;
  return arith::OrIOp::create(
      b, cmp(arith::CmpIPredicate::slt, n0, interiorBegin), after);
}

SmallVector<Value> FragmentEmitter::emitVisibilityMask(
    const FragmentLayout &layout, ArrayRef<Value> s, Value n0, Value laneRow,
    Value needsMask, Value keyLength, Value diag, bool tail) {
  const KeyVisibility &vis = p.visibility;
  if (!vis.isBounded() && !tail)
    return SmallVector<Value>(s);
  IntArith a(b, b.getLoc(), i32);
  auto masked = scf::IfOp::create(
      b, needsMask,
      [&](OpBuilder &, Location) {
        // key - query = (n0 + 2t) - laneRow + a constant per register, so
        // each element costs one add and two compares against the
        // visibility's delta bounds (computed once per block).
        Value col0 = add(n0, mul(t, 2));
        Value diff0 = arith::SubIOp::create(b, col0, laneRow);
        Value negInf = cF32(-std::numeric_limits<double>::infinity());
        Value lo = vis.left ? vis.lowestDelta(a, diag) : Value();
        Value hi = vis.right ? vis.highestDelta(a, diag) : Value();
        SmallVector<Value> out;
        for (int64_t r = 0; r < layout.numRegisters(); ++r) {
          int64_t colDelta = layout.colOffset(r);
          Value diff = add(diff0, colDelta - layout.rowOffset(r));
          Value keep = arith::ConstantIntOp::create(b, b.getI1Type(), 1);
          if (lo)
            keep = arith::AndIOp::create(b, keep, a.sge(diff, lo));
          if (hi)
            keep = arith::AndIOp::create(b, keep, a.sle(diff, hi));
          if (tail)
            keep = arith::AndIOp::create(
                b, keep, a.slt(add(col0, colDelta), keyLength));
          out.push_back(sel(keep, s[r], negInf));
        }
        scf::YieldOp::create(b, out);
      },
      [&](OpBuilder &, Location) { scf::YieldOp::create(b, s); });
  return SmallVector<Value>(masked.getResults());
}

SmallVector<Value> FragmentEmitter::emitPositionalMods(
    const FragmentLayout &layout, ArrayRef<Value> s, Value n0, Value laneRow,
    Value alibiOffset, Value negSlope, Value batchIndex, Value headIndex) {
  SmallVector<Value> out(s);
  if (!p.needsNaturalScores() && !p.withOperandMasks())
    return out;
  Value col0 = add(n0, mul(t, 2));
  Value alibiDist0, rowIdx0, colIdx0;
  if (negSlope)
    // The ALiBi distance i + Lk - Lq - j (Lk: len_b with key_lengths), up
    // to a constant per register.
    alibiDist0 = arith::SubIOp::create(
        b,
        alibiOffset ? add(laneRow, alibiOffset)
                    : add(laneRow, p.seqK - p.seqQ),
        col0);
  if (p.scoreMod) {
    rowIdx0 = arith::IndexCastUIOp::create(b, b.getIndexType(), laneRow);
    colIdx0 = arith::IndexCastUIOp::create(b, b.getIndexType(), col0);
  }
  auto addIndex = [&](Value x, int64_t y) -> Value {
    if (!y)
      return x;
    return arith::AddIOp::create(b, x, arith::ConstantIndexOp::create(b, y));
  };
  std::array<Value, 2> biasPair, maskPair;
  for (int64_t r = 0; r < layout.numRegisters(); ++r) {
    int64_t rowDelta = layout.rowOffset(r), colDelta = layout.colOffset(r);
    Value &v = out[r];
    if (negSlope) {
      Value dist = add(alibiDist0, rowDelta - colDelta);
      Value absDist = arith::MaxSIOp::create(
          b, dist, arith::SubIOp::create(b, cI32(0), dist));
      v = fma(negSlope, arith::SIToFPOp::create(b, f32, absDist), v);
    }
    // bias[b, h, i, j] after ALiBi and before score_mod; the operand masks
    // after score_mod (the op's order, as the CPU lowering applies it).
    if (p.withBias() || p.withOperandMasks()) {
      Value row = add(laneRow, rowDelta), key = add(col0, colDelta);
      // Staged tiles are read a register pair at a time.
      if (r % 2 == 0 && stagedBias)
        biasPair = loadScorePair(*stagedBias, layout, r);
      if (r % 2 == 0 && stagedMask)
        maskPair = loadScorePair(*stagedMask, layout, r);
      if (stagedBias) {
        Value x = biasPair[r % 2];
        if (x.getType() != f32)
          x = arith::ExtFOp::create(b, f32, x);
        v = arith::AddFOp::create(b, v, x);
      } else {
        v = addBias(v, operandBatch, operandHead, row, key);
      }
      if (p.scoreMod)
        v = inlineScoreMod(v, batchIndex, headIndex,
                           addIndex(rowIdx0, rowDelta),
                           addIndex(colIdx0, colDelta));
      Value keep;
      if (stagedMask)
        keep = arith::CmpIOp::create(
            b, arith::CmpIPredicate::ne, maskPair[r % 2],
            arith::ConstantIntOp::create(b, b.getI8Type(), 0));
      v = applyOperandMasks(v, operandBatch, operandHead, row, key,
                            batchIndex, headIndex, keep);
      continue;
    }
    if (p.scoreMod)
      v = inlineScoreMod(v, batchIndex, headIndex, addIndex(rowIdx0, rowDelta),
                         addIndex(colIdx0, colDelta));
  }
  return out;
}
