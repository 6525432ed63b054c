//===- BackwardHopper.cpp - the sm_90a (wgmma) backward main kernel -------===//
//
// Part of attn-mlir. The hopper main kernel of the backward
// (convert-attn-backward-to-nvvm with a schedule whose `hopper` is set): the
// mma.sync main kernel's frame (BackwardKernel.cpp: coordinates, the loop
// over (query head, Q block) steps with two cp.async stages, masks, the dQ
// reductions into the tiled dq_accum, the epilogue) with every GEMM on
// wgmma. A CTA of two warpgroups owns 128 keys, 64 per warpgroup, and the
// tiles (K, V, and each stage's Q, dO) are 128B-swizzled 64-column panels
// (BackwardEmitterBase::panelTiles), 1024-byte aligned, which wgmma reads
// through shared-memory descriptors (WgmmaOps):
//
//   S^T [64 keys, 64 queries]  = K Q^T    (SS, both K-major, k over D)
//   dP^T                       = V dO^T   (SS, k over Dv)
//   P^T  = exp2(S^T c - lse_log2), dS^T = P^T (dP^T - delta)   (registers)
//   dV  [64 keys, Dv] += P^T dO           (A from registers, dO MN-major)
//   dK  [64 keys, D]  += dS^T Q           (A from registers, Q MN-major)
//   dQ  [64 queries, D / 2] = dS K        (SS: dS^T and K both MN-major)
//
// A warp of a warpgroup holds the accumulator rows 16 (w % 4) .. + 15, the
// layout of an mma.sync C tile: so the warp's keys are the mma.sync
// kernel's (16 w of the CTA), and the masks, the column loads of lse_log2
// and delta, the dQ reduction (4 row groups x 2 column halves: warpgroup g
// takes D / 2 columns from g D / 2 over all 128 keys) and the epilogue are
// the mma.sync kernel's unchanged. dS^T goes to shared memory once (the
// 128B swizzle of its 64-query rows is the mma.sync kernel's dS^T tile,
// written by stmatrix), is fenced to the async proxy and read by the other
// warpgroup too. The loop (emitHopperLoop) has one barrier per step: dS^T
// is double-buffered by step parity, and step it's dQ is issued at step
// it + 1, overlapping that step's S^T (the last step's after the loop).
//
//===----------------------------------------------------------------------===//

#include "BackwardMainEmitter.h"
#include "WgmmaOps.h"

#include "mlir/Dialect/LLVMIR/NVVMDialect.h"

using namespace mlir;
using namespace mlir::attn;
using namespace mlir::attn::detail;

/// Bytes of a swizzled panel row and of an 8-row swizzle atom.
static constexpr int64_t kRowBytes = 128;
static constexpr int64_t kAtom = 1024;

void MainEmitter::emitHopperSharedBase() {
  // Dynamic shared memory is only 16-byte aligned; swizzle atoms need
  // 1024 (backwardMainSharedBytes reserves the slack).
  Value address = LLVM::PtrToIntOp::create(b, i32, smem);
  Value pad = andI(arith::SubIOp::create(b, cI32(0), address),
                   kHopperBackwardAlignment - 1);
  smem = gep(ptrShared, smem, pad);
  sharedBase = add(address, pad);
}

SmallVector<Value> MainEmitter::packAccumulatorsAsA(ArrayRef<Value> acc) {
  // The registers of n8 tiles 2kk and 2kk + 1, packed pairwise, are the A
  // fragment of columns 16 kk .. + 15 (as with mma.sync C -> A).
  FragmentLayout layout = FragmentLayout::wgmma(2 * int64_t(acc.size()));
  auto at = [&](int64_t nt, int64_t c) { return acc[layout.index(0, nt, c)]; };
  SmallVector<Value> packed;
  for (int64_t kk = 0; kk < layout.nTiles / 2; ++kk)
    packed.append(packAFragment(at, kk));
  WgmmaOps(b, p.isBF16).pinRegisters(packed);
  return packed;
}

namespace {
/// The wgmma vocabulary of the hopper step: shared-memory descriptors over
/// 128B-swizzled panels and the steps along k of its two operand majors.
struct HopperGemms {
  HopperGemms(ImplicitLocOpBuilder &b, bool isBF16, Value sharedBase)
      : b(b), ops(b, isBF16), sharedBase(sharedBase) {}

  Value desc(Value offset, int64_t lbo) {
    return ops.descriptor(arith::AddIOp::create(b, sharedBase, offset), lbo,
                          kAtom);
  }
  Value advance(Value d, int64_t bytes) {
    if (!bytes)
      return d;
    Value step = arith::ConstantIntOp::create(b, b.getI64Type(), bytes >> 4);
    return arith::AddIOp::create(b, d, step);
  }
  // K-major operands: k step kk reads 32 bytes at (kk % 4) * 32 of every
  // row of panel kk / 4 (panels `rows` rows apart); 8-row atoms 1024 bytes
  // apart (SBO; LBO unused).
  static int64_t kMajorStep(int64_t kk, int64_t rows) {
    return (kk / 4) * rows * kRowBytes + (kk % 4) * 32;
  }
  // MN-major operands: k step kk is rows 16 kk .. + 15, two atoms.
  static int64_t mnStep(int64_t kk) { return kk * 16 * kRowBytes; }
  void fence() { NVVM::WgmmaFenceAlignedOp::create(b); }
  void commit() { NVVM::WgmmaGroupSyncAlignedOp::create(b); }
  void wait(int64_t pending) { NVVM::WgmmaWaitGroupSyncOp::create(b, pending); }

  ImplicitLocOpBuilder &b;
  WgmmaOps ops;
  Value sharedBase;
};
} // namespace

static void fenceSharedToAsyncProxy(ImplicitLocOpBuilder &b) {
  NVVM::FenceProxyOp::create(
      b, NVVM::ProxyKind::async_shared,
      NVVM::SharedSpaceAttr::get(b.getContext(),
                                 NVVM::SharedSpace::shared_cta));
}

void MainEmitter::storeDsTMatrices(ArrayRef<Value> ds, Value tile) {
  // storeDsT's bytes by stmatrix (sm_90): the lane's 16 packed pairs are
  // the C fragments of 16 8x8 matrices (half h = rows 8h .. + 7 of the
  // warp's 16 keys, nt = queries 8 nt .. + 7), four per x4 store, so four
  // shared stores per lane instead of sixteen. Lane l addresses row l % 8
  // of matrix l / 8 of its store; chunk nt of key row r sits at
  // (nt ^ r % 8) * 16, the swizzle the dQ wgmma reads.
  Value matrix = shr(lane, 3), row8 = andI(lane, 7);
  for (int64_t j = 0; j < 2 * nTiles() / 4; ++j) {
    SmallVector<Value> sources;
    for (int64_t m = 0; m < 4; ++m) {
      int64_t nt = 2 * j + m / 2, half = m % 2;
      sources.push_back(packHalf2(ds[sIndex(0, nt, 2 * half)],
                                  ds[sIndex(0, nt, 2 * half + 1)]));
    }
    // Matrix m of this store: nt = 2 j + m / 2, half m % 2.
    Value nt = add(shr(matrix, 1), 2 * j);
    Value key = add(add(mul(warp, 16), mul(andI(matrix, 1), 8)), row8);
    Value chunk = arith::XOrIOp::create(b, nt, row8);
    Value offset = add(tile, add(mul(key, dsRowBytes), mul(chunk, 16)));
    NVVM::StMatrixOp::create(
        b, tileAt(offset), sources, NVVM::MMALayout::row,
        NVVM::LdStMatrixShapeAttr::get(b.getContext(), 8, 8),
        NVVM::LdStMatrixEltType::B16);
  }
}

Value MainEmitter::hopperDsTile(Value it) {
  return add(cI32(dsTile()), mul(andI(it, 1), blockN * dsRowBytes));
}

SmallVector<Value> MainEmitter::issueHopperDQ(Value it) {
  // dQ [64 queries, D / 2 from warpgroup * D / 2] = dS K over the 128 keys:
  // A = dS^T (keys as rows: MN-major), B = K's columns (MN-major; D = 64:
  // the half panel at byte 64 of each row, D = 128: panel `warpgroup`).
  HopperGemms g(b, p.isBF16, sharedBase);
  Value warpgroup = shr(warp, 2);
  int64_t columns = d / 2;
  Value kColumns = d == 64
                       ? add(cI32(kTile()), mul(warpgroup, columns * 2))
                       : add(cI32(kTile()), mul(warpgroup, blockN * kRowBytes));
  Value kDescMn = g.desc(kColumns, blockN * kRowBytes);
  Value dsDesc = g.desc(hopperDsTile(it), blockN * kRowBytes);
  SmallVector<Value> dq = g.ops.freshAccumulators(columns / 2);
  g.fence();
  for (int64_t kk = 0; kk < blockN / 16; ++kk)
    g.ops.wgmmaShared(dq, g.advance(dsDesc, HopperGemms::mnStep(kk)),
                      g.advance(kDescMn, HopperGemms::mnStep(kk)),
                      /*transposeA=*/true, /*transposeB=*/true,
                      /*accumulate=*/kk > 0);
  g.commit();
  return dq;
}

void MainEmitter::emitHopperStep(Value it, Value stage, SmallVector<Value> &dK,
                                 SmallVector<Value> &dV) {
  HopperGemms g(b, p.isBF16, sharedBase);
  auto [head, m0] = stepCoordinates(it);
  Value base = stageBase(stage);
  Value warpgroup = shr(warp, 2);
  using G = HopperGemms;

  // The previous step's dQ first (its dS^T is in shared memory since the
  // loop's barrier), so that its wgmma overlaps this step's S^T and its
  // reduction the wgmma of S^T; at step 0 the product of the other dS^T
  // buffer is unused.
  SmallVector<Value> dq = issueHopperDQ(add(it, 1));
  // S^T and dP^T: A = this warpgroup's 64 keys of K / V (offset 64 rows in
  // every panel), B = the step's Q / dO rows.
  Value warpgroupRows = mul(warpgroup, 64 * kRowBytes);
  Value kDesc = g.desc(add(cI32(kTile()), warpgroupRows), 16);
  Value vDesc = g.desc(add(cI32(vTile()), warpgroupRows), 16);
  Value qDesc = g.desc(qTile(base), 16);
  Value doDesc = g.desc(doTile(base), 16);
  // The chains start without accumulating: no zeros are written into
  // registers while dQ's wgmma is in flight (ptxas would wait for it).
  SmallVector<Value> s = g.ops.freshAccumulators(blockM / 2);
  SmallVector<Value> dp = g.ops.freshAccumulators(blockM / 2);
  g.fence();
  for (int64_t kk = 0; kk < d / 16; ++kk)
    g.ops.wgmmaShared(s, g.advance(kDesc, G::kMajorStep(kk, blockN)),
                      g.advance(qDesc, G::kMajorStep(kk, blockM)),
                      /*transposeA=*/false, /*transposeB=*/false,
                      /*accumulate=*/kk > 0);
  g.commit();
  // dQ retired (S^T may still run): reduced before dP^T's accumulators are
  // live, so that D = 128 never holds dQ, S^T and dP^T at once.
  g.wait(1);
  g.ops.fenceOperands(dq);
  ifThen(cmp(arith::CmpIPredicate::sgt, it, cI32(0)),
         [&] { reduceHopperDQ(add(it, -1), dq); });
  g.fence();
  for (int64_t kk = 0; kk < dv / 16; ++kk)
    g.ops.wgmmaShared(dp, g.advance(vDesc, G::kMajorStep(kk, blockN)),
                      g.advance(doDesc, G::kMajorStep(kk, blockM)),
                      /*transposeA=*/false, /*transposeB=*/false,
                      /*accumulate=*/kk > 0);
  g.commit();
  g.wait(1);
  g.ops.fenceOperands(s);
  SmallVector<Value> th;
  s = finishTransposedScores(s, th, m0, head, rowLayout());
  emitProbabilities(s, base);
  SmallVector<Value> packedP = packAccumulatorsAsA(s);
  g.wait(0);
  g.ops.fenceOperands(dp);

  // dV += P^T dO, dK += dS^T Q: B MN-major, the 64-column panels of the
  // stage's rows `blockM` rows apart (LBO).
  Value doRows = g.desc(doTile(base), blockM * kRowBytes);
  Value qRows = g.desc(qTile(base), blockM * kRowBytes);
  g.ops.fenceOperands(dV);
  g.fence();
  for (int64_t kk = 0; kk < blockM / 16; ++kk)
    g.ops.wgmma(dV, ArrayRef<Value>(packedP).slice(4 * kk, 4),
                g.advance(doRows, G::mnStep(kk)), /*transposeB=*/true);
  g.commit();
  // dS^T (and, with grad_bias, d_bias) as the mma.sync step makes it: the
  // accumulator rows are that kernel's.
  emitScoreGradients(s, dp, th, base, m0, head);
  SmallVector<Value> packedDs = packAccumulatorsAsA(dp);
  g.ops.fenceOperands(dK);
  g.fence();
  for (int64_t kk = 0; kk < blockM / 16; ++kk)
    g.ops.wgmma(dK, ArrayRef<Value>(packedDs).slice(4 * kk, 4),
                g.advance(qRows, G::mnStep(kk)), /*transposeB=*/true);
  g.commit();

  // dS^T to this step's buffer for both warpgroups' dQ at the next step
  // (generic writes, read by wgmma through the async proxy). The buffer was
  // last read by step it - 2's dQ, retired by every warpgroup before the
  // loop's barrier of step it.
  storeDsTMatrices(dp, hopperDsTile(it));
  fenceSharedToAsyncProxy(b);
  // dK and dV settle before they are carried to the next step.
  g.wait(0);
  g.ops.fenceOperands(dV);
  g.ops.fenceOperands(dK);
}

scf::ForOp MainEmitter::emitHopperLoop(Value total) {
  // One barrier per step: at the top of step it every warp has finished
  // step it - 1 (all its wgmma retired but that step's dQ, which reads K
  // and dS^T only), so step it + 1's copies may overwrite the stage step
  // it - 1 read, and the dS^T that step stored is complete.
  scf::ForOp loop = emitStepLoop(total, [&](StepState &step) {
    // Step it's tiles (copied during step it - 1, or before the loop) have
    // landed; each thread's cp.async writes are fenced to the async proxy
    // wgmma reads through before the barrier.
    NVVM::CpAsyncWaitGroupOp::create(b, 0);
    fenceSharedToAsyncProxy(b);
    gpu::BarrierOp::create(b);
    copyNextStep(step.it, step.stage, total);
    emitHopperStep(step.it, step.stage, step.dK, step.dV);
  });
  // The last step's dQ, once both warpgroups' dS^T is stored.
  ifThen(cmp(arith::CmpIPredicate::sgt, total, cI32(0)), [&] {
    gpu::BarrierOp::create(b);
    Value last = add(total, -1);
    SmallVector<Value> dq = issueHopperDQ(last);
    HopperGemms(b, p.isBF16, sharedBase).wait(0);
    WgmmaOps(b, p.isBF16).fenceOperands(dq);
    reduceHopperDQ(last, dq);
  });
  return loop;
}

void MainEmitter::reduceHopperDQ(Value it, ArrayRef<Value> dq) {
  auto [head, m0] = stepCoordinates(it);
  emitDQReduction(add(mul(batch, p.headsQ), head), m0, dq);
}
