//===- DecodeLatent.cpp - the latent (MLA) decode kernel ------------------===//
//
// Part of attn-mlir. The decode family's kernel for latent rows wider than
// 256 over one shared K/V cache: DeepSeek MLA's absorbed decode, where every
// query head of a sequence attends to one latent row per token (576 = 512
// latent + 64 rotary dims) and V is that row's first 512 columns
// (attn.kv_prefix of K's view). The mapping is FlashMLA's, on mma.sync:
//
//  * the query heads (x Lq rows) of a KV group are the M dimension, cut
//    into row blocks of up to 64 rows (DecodePlan::blockRows), one CTA per
//    (split, group, row block): every CTA of a group reads the same rows,
//    so a sequence's cache crosses HBM once per split and the row blocks
//    after the first read it from L2;
//  * the CTA streams its split's keys in blocks of 32 rows through a
//    CTA-wide cp.async ring of 4 stages (one barrier per block; the
//    latent row is copied once and serves Q.K and P.V, V being its first
//    Dv columns);
//  * warp w holds 16 query rows and Dv / 2 = 256 output columns: its O
//    accumulator is 16 x 256 f32, 128 registers a thread, next to 16 of S.
//    Both warps of a row tile compute that tile's S = Q K^T (16 x 32 over
//    D = 576) and its softmax: 16 x 512 would need 256 registers a thread
//    for O alone, and four parts of 128 columns would compute S four
//    times. The duplicated S costs 144 of a warp's 208 mma per block;
//    exchanging S through shared memory would trade it for two barriers
//    per block and a P tile;
//  * Q stays in shared memory (its 36 k-steps would take 144 registers)
//    and is read per block with ldmatrix;
//  * after the loop each row's (m, l) and O are staged in shared memory
//    and written (or the split's partial) by the decode family's merge
//    code, which also merges the splits by LSE (DecodeMerge.cpp), one
//    counter per row block.
//
//===----------------------------------------------------------------------===//

#include "DecodeEmitter.h"

#include "attn/Dialect/Attn/IR/AttnOps.h"

#include "mlir/Dialect/LLVMIR/NVVMDialect.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "llvm/Support/MathExtras.h"

#include <limits>

using namespace mlir;
using namespace mlir::attn;
using namespace mlir::attn::detail;

/// Keys per ring stage and stages: 4 x 32 rows of 1152 bytes plus a 64-row
/// Q tile is 221 KiB, the most an sm_90 CTA takes (227 KiB) with room for
/// the epilogue's staging in the same bytes.
static constexpr int64_t kLatentBlockKeys = 32, kLatentStages = 4;
/// The widest O slice a warp holds (128 f32 registers a thread).
static constexpr int64_t kLatentWarpColumns = 256;

FailureOr<DecodePlan> mlir::attn::detail::planLatentDecodeKernel(
    Operation *op, const KernelProblem &p, const ConvertAttnToNVVMOptions &o) {
  auto fail = [&](const Twine &msg) { return op->emitOpError(msg); };
  if (p.varlen)
    return fail("expected a dense batch (B sequences) for the latent decode "
                "kernel (D = " +
                Twine(p.headDim) + ", Dv = " + Twine(p.valueHeadDim) +
                "); varlen queries over latent caches are not implemented");
  if (o.numSMs < 1)
    return fail("expected a positive num-sms, got " + Twine(o.numSMs));
  if (o.numSplits < 0)
    return fail("expected num-splits >= 0, got " + Twine(o.numSplits));
  DecodePlan plan;
  int64_t groupSize = p.headsQ / p.headsKV;
  plan.rows = groupSize * p.seqQ;
  plan.blockM = p.seqQ;
  // Row blocks of the most rows (up to 64, whole m16 tiles) that cut the
  // group's padded rows evenly: only a group of rows that is no multiple
  // of 16 has padding rows, in its last block.
  int64_t tileRows = llvm::alignTo(plan.rows, 16);
  plan.blockRows = 16;
  for (int64_t r : {64, 48, 32})
    if (r <= tileRows && tileRows % r == 0) {
      plan.blockRows = r;
      break;
    }
  plan.rowBlocks = tileRows / plan.blockRows;
  plan.valueSplit = llvm::divideCeil(p.valueHeadDim, kLatentWarpColumns);
  plan.warps = plan.blockRows / 16 * plan.valueSplit;
  plan.keysPerWarp = kLatentBlockKeys;
  plan.stages = kLatentStages;
  plan.latent = true;
  plan.groups = p.batch * p.headsKV;
  int64_t rowBytes = getSharedRowBytes(p.headDim);
  int64_t qTile = plan.blockRows * rowBytes;
  int64_t ring = plan.stages * plan.keysPerWarp * rowBytes;
  int64_t staging = plan.blockRows * (8 + (p.valueHeadDim + 8) * 4);
  plan.sharedMemoryBytes = qTile + std::max(ring, staging);
  if (plan.sharedMemoryBytes > 227 * 1024)
    return fail("expected the latent decode kernel's shared memory (" +
                Twine(plan.sharedMemoryBytes) + " bytes) to fit 227 KiB");
  plan.ctasPerSM = std::max<int64_t>(
      1, std::min<int64_t>(4, (227 * 1024) / (plan.sharedMemoryBytes + 1024)));
  // The decode split heuristic over the CTAs of one split (groups x row
  // blocks), in blocks of the ring's keys.
  plan.numSplits = o.numSplits;
  if (plan.numSplits == 0)
    plan.numSplits =
        chooseNumSplits(plan.groups * plan.rowBlocks, p.seqK,
                        plan.keysPerWarp, o.numSMs, plan.ctasPerSM);
  plan.numSplits = std::min<int64_t>(
      plan.numSplits,
      std::max<int64_t>(1, llvm::divideCeil(p.seqK, plan.keysPerWarp)));
  return plan;
}

LogicalResult DecodeEmitter::emitLatent() {
  b.setInsertionPointToStart(&func.getBody().front());
  qTileBytes = plan.blockRows * smemRowBytes;
  if (failed(emitCoordinates()))
    return failure();
  warpRowTile = arith::DivUIOp::create(b, warp, cI32(plan.valueSplit));
  warpPart = arith::RemUIOp::create(b, warp, cI32(plan.valueSplit));
  emitQueryCopy();
  emitSequenceBounds();
  emitLatentKeyRange();
  // The first stages - 1 blocks in flight behind Q.
  for (int64_t s = 0; s + 1 < stages; ++s) {
    ifThen(cmp(arith::CmpIPredicate::slt, cI32(s), nWarpTiles),
           [&]() { copyLatentBlock(cI32(s), cI32(s)); });
    NVVM::CpAsyncCommitGroupOp::create(b);
  }
  // ldmatrix x4 of Q: lanes 8i.. give rows of matrix i, the warp's row
  // tile's (rows 16 apart keep the swizzle of row % 8).
  Value matrix = shr(lane, 3);
  qLane = laneOffset(
      mul(add(add(r8, mul(andI(matrix, 1), 8)), mul(warpRowTile, 16)),
          smemRowBytes),
      shr(matrix, 1));
  scf::ForOp loop = emitLatentKeyLoop();
  b.setInsertionPointAfter(loop);
  emitLatentEpilogue(loop.getResults());
  if (plan.numSplits > 1)
    emitSplitMerge();
  gpu::ReturnOp::create(b);
  return success();
}

void DecodeEmitter::emitLatentKeyRange() {
  auto i32Of = [&](Value v) { return arith::IndexCastOp::create(b, i32, v); };
  kBegin = i32Of(coords.begin);
  kEnd = i32Of(coords.end);
  interiorBegin = i32Of(coords.interiorBegin);
  interiorEnd = i32Of(coords.interiorEnd);
  // Every warp visits every block of the CTA's keys.
  nWarpTiles = arith::DivUIOp::create(
      b, add(arith::SubIOp::create(b, kEnd, kBegin), bn - 1), cI32(bn));
}

void DecodeEmitter::copyLatentBlock(Value j, Value stage) {
  // The block's rows x 16-byte chunks over the CTA's threads; keys past the
  // range re-read its last row (masked before the softmax). V is the rows'
  // first Dv columns: nothing else is copied.
  SmallVector<CopyPass> passes =
      planTileCopy(tid, 32 * warps, bn, d / 8, smemRowBytes);
  Value key0 = add(kBegin, mul(j, bn));
  Value lastKey = add(kEnd, -1);
  Value tile = latentStage(stage);
  for (const CopyPass &pass : passes)
    ifValid(pass.valid, [&]() {
      Value key = minS(add(key0, add(pass.rowBase, pass.rowDelta)), lastKey);
      Value src = gep(ptrGlobal, rowAddress(false, rowLocation(false, key)),
                      toI64(mul(pass.chunk, 16)));
      NVVM::CpAsyncOp::create(
          b, tileAt(add(tile, copyDestination(pass, smemRowBytes))), src, 16,
          NVVM::LoadCacheModifierKind::CG, Value());
    });
}

scf::ForOp DecodeEmitter::emitLatentKeyLoop() {
  int64_t numO = dv / plan.valueSplit / 8 * 4;
  SmallVector<Value> init(numO, cF32(0.0));
  init.append(2, negInf());  // m
  init.append(2, cF32(0.0)); // l
  auto loop = scf::ForOp::create(b, cI32(0), nWarpTiles, cI32(1), init);
  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPointToStart(loop.getBody());
  Value j = loop.getInductionVar();
  ValueRange iter = loop.getRegionIterArgs();
  SmallVector<Value> acc(iter.begin(), iter.begin() + numO);
  SmallVector<Value> rowMax(iter.begin() + numO, iter.begin() + numO + 2);
  SmallVector<Value> rowSum(iter.begin() + numO + 2, iter.end());

  // Q and blocks 0 .. j have landed for this thread (stages - 2 younger
  // groups may be in flight); the barrier makes every thread's copies
  // visible and retires the reads of block j - 1, whose stage the
  // prefetch of block j + stages - 1 overwrites.
  NVVM::CpAsyncWaitGroupOp::create(b, stages - 2);
  gpu::BarrierOp::create(b);
  Value ahead = add(j, stages - 1);
  ifThen(cmp(arith::CmpIPredicate::slt, ahead, nWarpTiles), [&]() {
    copyLatentBlock(ahead, arith::RemUIOp::create(b, ahead, cI32(stages)));
  });
  NVVM::CpAsyncCommitGroupOp::create(b);

  Value tile = latentStage(arith::RemUIOp::create(b, j, cI32(stages)));
  Value key0 = add(kBegin, mul(j, bn));
  SmallVector<Value> s =
      emitMask(key0, emitScoreMods(key0, emitScores(tile)));
  SmallVector<Value> alpha = emitSoftmaxStep(s, rowMax, rowSum);
  for (int64_t i = 0; i < numO; ++i)
    acc[i] = arith::MulFOp::create(b, acc[i], alpha[(i % 4) / 2]);
  emitLatentPV(s, tile, acc);

  SmallVector<Value> yields(acc);
  yields.append(rowMax);
  yields.append(rowSum);
  scf::YieldOp::create(b, yields);
  return loop;
}

void DecodeEmitter::emitLatentPV(ArrayRef<Value> probs, Value vTile,
                                 SmallVector<Value> &acc) {
  // The warp's columns start warpPart * Dv / valueSplit into the row (a
  // multiple of 8 chunks: the swizzle of the row stays the same).
  int64_t columns = dv / plan.valueSplit;
  Value partTile = add(vTile, mul(warpPart, columns * 2));
  for (int64_t kk = 0; kk < bn / 16; ++kk) {
    // The C fragments of n8 tiles 2kk and 2kk + 1 are the A fragment of
    // keys 16kk .. 16kk + 15 (FragmentEmitter::emitPV).
    auto at = [&](int64_t nt, int64_t e) { return probs[sIndex(0, nt, e)]; };
    SmallVector<Value> pFrag = packAFragment(at, kk);
    for (int64_t dp = 0; dp < columns / 16; ++dp) {
      SmallVector<Value> vf = ldmatrix(
          fragmentAddress(partTile, vLane, kk * 16, 2 * dp, vSmemRowBytes),
          /*transpose=*/true);
      for (int64_t half = 0; half < 2; ++half)
        mma(pFrag, {vf[2 * half], vf[2 * half + 1]},
            MutableArrayRef<Value>(acc).slice((2 * dp + half) * 4, 4));
    }
  }
}

void DecodeEmitter::emitLatentEpilogue(ValueRange results) {
  // Shared memory, reusing the ring: each row's m (scaled to the base-2
  // exponent) and l, from the warp of its first columns (both warps of a
  // row tile computed the same), then the rows of O, Dv + 8 floats apart.
  int64_t columns = dv / plan.valueSplit;
  int64_t numO = columns / 8 * 4;
  int64_t oRowBytes = (dv + 8) * 4;
  Value statsBase = cI32(qTileBytes);
  Value oBase = cI32(qTileBytes + plan.blockRows * 8);
  NVVM::CpAsyncWaitGroupOp::create(b, 0);
  gpu::BarrierOp::create(b);
  Value colBase = mul(warpPart, columns * 4);
  for (int64_t half = 0; half < 2; ++half) {
    Value m = results[numO + half];
    Value l = results[numO + 2 + half];
    l = arith::AddFOp::create(b, l, shuffleXor(l, 1));
    l = arith::AddFOp::create(b, l, shuffleXor(l, 2));
    Value row = add(add(g, half * 8), mul(warpRowTile, 16));
    Value statsWriter = arith::AndIOp::create(
        b, cmp(arith::CmpIPredicate::eq, t, cI32(0)),
        cmp(arith::CmpIPredicate::eq, warpPart, cI32(0)));
    ifThen(statsWriter, [&]() {
      Value slot = add(mul(row, 8), statsBase);
      Value mScaled = sel(isNegInf(m), negInf(),
                          arith::MulFOp::create(b, m, cF32(expScale)));
      LLVM::StoreOp::create(b, mScaled, tileAt(slot), 4);
      LLVM::StoreOp::create(b, l, tileAt(add(slot, 4)), 4);
    });
    Value rowBase =
        add(add(mul(row, oRowBytes), oBase), add(colBase, mul(t, 8)));
    auto f32x2 = VectorType::get({2}, f32);
    for (int64_t dt = 0; dt < columns / 8; ++dt) {
      Value v = LLVM::PoisonOp::create(b, f32x2);
      v = LLVM::InsertElementOp::create(b, v, results[dt * 4 + 2 * half],
                                        cI32(0));
      v = LLVM::InsertElementOp::create(b, v, results[dt * 4 + 2 * half + 1],
                                        cI32(1));
      LLVM::StoreOp::create(b, v, tileAt(add(rowBase, dt * 32)), 8);
    }
  }
  gpu::BarrierOp::create(b);
  emitStagedRowsMerge(/*slots=*/1, plan.blockRows, statsBase, oBase);
}
