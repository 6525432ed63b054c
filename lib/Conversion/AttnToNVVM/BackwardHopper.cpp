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
// 128B swizzle of its 64-query rows is the mma.sync kernel's dS^T tile),
// is fenced to the async proxy and read by the other warpgroup too.
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

void MainEmitter::emitHopperStep(Value stage, Value head, Value m0,
                                 SmallVector<Value> &dK,
                                 SmallVector<Value> &dV) {
  WgmmaOps ops(b, p.isBF16);
  Value base = stageBase(stage);
  Value bh = add(mul(batch, p.headsQ), head);
  Value warpgroup = shr(warp, 2);
  auto desc = [&](Value offset, int64_t lbo) {
    return ops.descriptor(add(sharedBase, offset), lbo, kAtom);
  };
  auto advance = [&](Value d, int64_t bytes) -> Value {
    return bytes ? arith::AddIOp::create(b, d, cI64(bytes >> 4)).getResult()
                 : d;
  };
  // K-major operands: k step kk reads 32 bytes at (kk % 4) * 32 of every
  // row of panel kk / 4 (panels `rows` rows apart); 8-row atoms 1024 bytes
  // apart (SBO; LBO unused).
  auto kMajorStep = [](int64_t kk, int64_t rows) {
    return (kk / 4) * rows * kRowBytes + (kk % 4) * 32;
  };
  // MN-major operands: k step kk is rows 16 kk .. + 15, two atoms.
  auto mnStep = [](int64_t kk) { return kk * 16 * kRowBytes; };
  auto fence = [&] { NVVM::WgmmaFenceAlignedOp::create(b); };
  auto commit = [&] { NVVM::WgmmaGroupSyncAlignedOp::create(b); };
  auto wait = [&](int64_t pending) {
    NVVM::WgmmaWaitGroupSyncOp::create(b, pending);
  };

  // S^T and dP^T: A = this warpgroup's 64 keys of K / V (offset 64 rows in
  // every panel), B = the step's Q / dO rows.
  Value warpgroupRows = mul(warpgroup, 64 * kRowBytes);
  Value kDesc = desc(add(cI32(kTile()), warpgroupRows), 16);
  Value vDesc = desc(add(cI32(vTile()), warpgroupRows), 16);
  Value qDesc = desc(qTile(base), 16);
  Value doDesc = desc(doTile(base), 16);
  SmallVector<Value> s(blockM / 2, cF32(0.0)), dp(blockM / 2, cF32(0.0));
  ops.fenceOperands(s);
  ops.fenceOperands(dp);
  fence();
  for (int64_t kk = 0; kk < d / 16; ++kk)
    ops.wgmmaShared(s, advance(kDesc, kMajorStep(kk, blockN)),
                    advance(qDesc, kMajorStep(kk, blockM)));
  commit();
  for (int64_t kk = 0; kk < dv / 16; ++kk)
    ops.wgmmaShared(dp, advance(vDesc, kMajorStep(kk, blockN)),
                    advance(doDesc, kMajorStep(kk, blockM)));
  commit();
  wait(1);
  ops.fenceOperands(s);
  SmallVector<Value> th;
  s = finishTransposedScores(s, th, m0, head, rowLayout());
  emitProbabilities(s, base);
  SmallVector<Value> packedP = packAccumulatorsAsA(s);
  wait(0);
  ops.fenceOperands(dp);

  // dV += P^T dO, dK += dS^T Q: B MN-major, the 64-column panels of the
  // stage's rows `blockM` rows apart (LBO).
  Value doRows = desc(doTile(base), blockM * kRowBytes);
  Value qRows = desc(qTile(base), blockM * kRowBytes);
  ops.fenceOperands(dV);
  fence();
  for (int64_t kk = 0; kk < blockM / 16; ++kk)
    ops.wgmma(dV, ArrayRef<Value>(packedP).slice(4 * kk, 4),
              advance(doRows, mnStep(kk)), /*transposeB=*/true);
  commit();
  // dS^T (and, with grad_bias, d_bias) as the mma.sync step makes it: the
  // accumulator rows are that kernel's.
  emitScoreGradients(s, dp, th, base, m0, head);
  SmallVector<Value> packedDs = packAccumulatorsAsA(dp);
  ops.fenceOperands(dK);
  fence();
  for (int64_t kk = 0; kk < blockM / 16; ++kk)
    ops.wgmma(dK, ArrayRef<Value>(packedDs).slice(4 * kk, 4),
              advance(qRows, mnStep(kk)), /*transposeB=*/true);
  commit();

  // dS^T to shared memory for both warpgroups' dQ (generic writes, read by
  // wgmma through the async proxy).
  storeDsT(dp);
  NVVM::FenceProxyOp::create(
      b, NVVM::ProxyKind::async_shared,
      NVVM::SharedSpaceAttr::get(b.getContext(),
                                 NVVM::SharedSpace::shared_cta));
  // dV += P^T dO retired: P's A fragments are free before dQ's
  // accumulators are live (D = 128 spilled with all of them at once).
  wait(1);
  gpu::BarrierOp::create(b);
  // dQ [64 queries, D / 2 from warpgroup * D / 2] = dS K over the 128 keys:
  // A = dS^T (keys as rows: MN-major), B = K's columns (MN-major; D = 64:
  // the half panel at byte 64 of each row, D = 128: panel `warpgroup`).
  int64_t columns = d / 2;
  Value kColumns =
      d == 64 ? add(cI32(kTile()), mul(warpgroup, columns * 2))
              : add(cI32(kTile()), mul(warpgroup, blockN * kRowBytes));
  Value kDescMn = desc(kColumns, blockN * kRowBytes);
  Value dsDesc = desc(cI32(dsTile()), blockN * kRowBytes);
  SmallVector<Value> dq(columns / 2, cF32(0.0));
  ops.fenceOperands(dq);
  fence();
  for (int64_t kk = 0; kk < blockN / 16; ++kk)
    ops.wgmmaShared(dq, advance(dsDesc, mnStep(kk)),
                    advance(kDescMn, mnStep(kk)), /*transposeA=*/true,
                    /*transposeB=*/true);
  commit();
  wait(0);
  ops.fenceOperands(dV);
  ops.fenceOperands(dK);
  ops.fenceOperands(dq);
  emitDQReduction(bh, m0, dq);
}
