//===- HopperKernel.cpp - the sm_90a (wgmma) prefill kernel body ----------===//
//
// Part of attn-mlir. A warp-specialized prefill kernel for Hopper: a CTA owns
// 64 query rows per consumer warpgroup (128 or 192) of one (batch, head) and
// has a producer warpgroup besides.
//
// * Warpgroup 0, the producer, lowers its register budget (setmaxnreg.dec)
//   and streams the K and V blocks the mask leaves visible into a ring of
//   `stages` shared-memory stages; a tile is reused once its "empty"
//   mbarrier has seen every consumer thread arrive. plan.tma (hopper-loads
//   =tma, the default): thread 0 alone issues cp.async.bulk.tensor copies,
//   one per 64-column panel (a box of the tile's rows by 64 columns with
//   the 128-byte swizzle, which is exactly the panel layout below), after
//   an mbarrier.arrive.expect_tx of the tile's bytes on its "full" barrier
//   (one arrival); the tensor maps are kernel parameters (tensor_map
//   arguments: 128-byte __grid_constant__ params, attn-mark-tensor-map-
//   params) that the runtime encodes at each launch from the manifest and
//   the launch's pointers, and rows past Lq / Lk come back as zeros (TMA's
//   out-of-bounds fill). Otherwise (cp-async) every producer thread issues
//   16-byte cp.async into the same layout, completing on the "full" barrier
//   with cp.async.mbarrier.arrive.noinc (128 arrivals), and a consumer
//   fences the generic proxy's writes before wgmma reads them.
// * Warpgroups 1 .. plan.consumers (2, or 3 at D = 64: hopper-consumers),
//   the consumers (setmaxnreg.inc), own 64 rows each.
//   Per block, S = Q K^T is a chain of wgmma m64n{BN}k16 over the head dim
//   with B = the K tile (K-major) and A = Q, read once into registers or
//   (plan.qInSharedMemory) from a shared tile the producer loads first;
//   O += P V is a chain of m64n{D}k16 over the block's keys with A = P from
//   registers and B = the V tile (MN-major, transposed). K and V tiles
//   have their own "empty" barriers: K goes back as soon as S is computed.
// * plan.overlap (FA3's intra-warpgroup pipeline): a consumer issues S of
//   block j and O += P V of block j - 1 back to back, waits for S alone
//   (wgmma.wait_group 1) and runs the softmax of block j while P V is in
//   flight; O takes block j's rescale once that group retired. With
//   plan.pingPong the consumers take turns issuing their GEMMs (named
//   barriers 1 .. plan.consumers, round robin).
//
// * plan.persistentCtas: a grid of at most that many CTAs, each looping over
//   the query-block tiles (round k takes tile k * G + c, or k * G + G - 1 - c
//   for odd k, against the shrinking causal tiles), longest first under a
//   causal or window mask. The ring's stages and phases run on across
//   tiles, and the producer streams the next tile's Q, K and V while the
//   consumers finish the last one (Q's tile has an "empty" barrier too).
//   Under a causal mask this static assignment loses to the hardware's
//   dynamic block scheduling (bench/NOTES.md); plan.dynamicScheduler
//   (HopperScheduler.cpp) hands the same tiles out from an atomic counter
//   instead.
//
// Tiles are [rows][D] bf16/f16 split into 64-column panels: row r of a
// panel is 128 bytes at r * 128, its 16-byte chunk c at (c ^ r % 8) * 16 (the
// 128B swizzle of a canonical wgmma layout; panels 1024-byte aligned).
//
// The accumulator layout of a warp of a wgmma m64nN tile is that of
// FragmentLayout::wgmma, the same per-lane shape as mma.sync's C tiles, so
// the online softmax of FragmentEmitter applies unchanged.
//
//===----------------------------------------------------------------------===//

#include "HopperEmitter.h"

#include "attn/Analysis/KernelResources.h"
#include "attn/Dialect/Attn/IR/AttnOps.h"

#include "mlir/Dialect/LLVMIR/NVVMDialect.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "llvm/Support/MathExtras.h"
#include "llvm/Support/raw_ostream.h"

#include <algorithm>
#include <limits>

using namespace mlir;
using namespace mlir::attn;
using namespace mlir::attn::detail;


/// Checks that the hopper kernel supports `problem` and plans its launch;
/// with `emitErrors` false it only answers (kernel=auto's question).
static FailureOr<HopperPlan>
planHopperKernel(Operation *op, const KernelProblem &problem,
                 const ConvertAttnToNVVMOptions &options,
                 bool emitErrors = true);

LogicalResult HopperEmitter::emitCoordinates() {
  emitLaneCoordinates();
  warpgroup = shr(tid, 7);
  // A persistent CTA's tiles are computed in its loop.
  if (!plan.persistentCtas && failed(emitTileCoordinates(Value())))
    return failure();

  qPtr = pointerOf(arg(args.query), ptrGlobal);
  kPtr = pointerOf(arg(args.keyStorage.front()), ptrGlobal);
  vPtr = pointerOf(arg(args.valueStorage.front()), ptrGlobal);
  oPtr = pointerOf(arg(args.output), ptrGlobal);
  if (args.lse)
    lsePtr = pointerOf(arg(*args.lse), ptrGlobal);

  // Dynamic shared memory is only 16-byte aligned; swizzle atoms need 1024.
  smemAddress = LLVM::PtrToIntOp::create(b, i32, smem);
  base = andI(arith::SubIOp::create(b, cI32(0), smemAddress), kAtomBytes - 1);
  return success();
}

LogicalResult HopperEmitter::emitTileCoordinates(Value tile) {
  auto idx32 = [&](Value v) -> Value {
    return arith::IndexCastUIOp::create(b, i32, v);
  };
  FailureOr<ProgramCoordinates> planned;
  if (!tile) {
    // The program (b, h, query block) of this CTA.
    planned = emitQueryBlockProgram(program, plan.blockM, Value());
  } else {
    // Tile t: with a right bound (causal, window) the query blocks go
    // longest first within groups of heads whose K and V fit L2 together,
    // so that concurrent CTAs share them (on an H200 no faster than longest
    // first across all heads: the imbalance of the static assignment
    // dominates); without, head-major as the one-CTA-per-tile grid.
    int64_t numM = llvm::divideCeil(p.seqQ, plan.blockM);
    int64_t heads = p.batch * p.headsQ;
    auto div = [&](Value x, int64_t y) -> Value {
      return arith::DivUIOp::create(b, x, cI32(y));
    };
    auto rem = [&](Value x, int64_t y) -> Value {
      return arith::RemUIOp::create(b, x, cI32(y));
    };
    Value mBlock, y;
    if (p.visibility.right) {
      // Group gi holds heads [gi Hg, gi Hg + hg), hg = min(Hg, heads - gi
      // Hg); its tiles go block rank-major, head fastest.
      int64_t groupTiles = plan.headsPerGroup * numM;
      Value gi = div(tile, groupTiles);
      Value r = arith::SubIOp::create(b, tile, mul(gi, groupTiles));
      Value firstHead = mul(gi, plan.headsPerGroup);
      Value hg = arith::MinUIOp::create(
          b, cI32(plan.headsPerGroup),
          arith::SubIOp::create(b, cI32(heads), firstHead));
      mBlock = arith::SubIOp::create(b, cI32(numM - 1),
                                     arith::DivUIOp::create(b, r, hg));
      y = add(firstHead, arith::RemUIOp::create(b, r, hg));
    } else {
      mBlock = rem(tile, numM);
      y = div(tile, numM);
    }
    auto index = [&](Value v) -> Value {
      return arith::IndexCastUIOp::create(b, b.getIndexType(), v);
    };
    planned = program.emitCoordinates(
        b, {index(div(y, p.headsQ)), index(rem(y, p.headsQ)), index(mBlock)},
        Value());
  }
  if (failed(planned))
    return failure();
  coords = *planned;
  batch = idx32(coords.batch);
  head = idx32(coords.head0);
  kvHead = idx32(coords.kvHead);
  bh = add(mul(batch, p.headsQ), head);
  Value kvBh = add(mul(batch, p.headsKV), kvHead);
  if (p.scoreMod) {
    batchIndex = arith::IndexCastUIOp::create(b, b.getIndexType(), batch);
    headIndex = arith::IndexCastUIOp::create(b, b.getIndexType(),
                                             add(head, p.headOffset));
  }
  qHeadBytes = headByteOffset(p.query, p.headsQ, batch, head, bh);
  kvHeadBytes = headByteOffset(p.key, p.headsKV, batch, kvHead, kvBh);
  vHeadBytes = p.value == p.key
                   ? kvHeadBytes
                   : headByteOffset(p.value, p.headsKV, batch, kvHead, kvBh);
  oHeadBytes = p.output == p.query
                   ? qHeadBytes
                   : headByteOffset(p.output, p.headsQ, batch, head, bh);
  m0 = idx32(coords.q0);
  // Consumer warp w (warpgroup 1 + w / 4) owns rows 64 (w / 4) + 16 (w % 4).
  Value consumerWarp = arith::SubIOp::create(b, warp, cI32(4));
  warpRow0 = add(m0, mul(consumerWarp, 16));
  if (plan.persistentCtas)
    emitBlockRange();
  return success();
}

SmallVector<Value *> HopperEmitter::tileStateMembers() {
  return {&batch,      &head,       &kvHead,        &bh,
          &batchIndex, &headIndex,  &qHeadBytes,    &kvHeadBytes,
          &vHeadBytes, &oHeadBytes, &m0,            &warpRow0,
          &nBegin,     &nEnd,       &interiorBegin, &interiorEnd};
}

LogicalResult HopperEmitter::forEachTile(bool isProducer,
                                         function_ref<LogicalResult()> body) {
  if (!plan.persistentCtas)
    return body();
  if (plan.dynamicScheduler)
    return forEachDynamicTile(isProducer, body);
  // Round k of CTA c (of G) is tile k * G + c, or k * G + G - 1 - c for odd
  // k; the last round may leave a CTA without a tile.
  Value c = arith::IndexCastUIOp::create(
      b, i32, gpu::BlockIdOp::create(b, gpu::Dimension::x));
  Value ctas = arith::IndexCastUIOp::create(
      b, i32, gpu::GridDimOp::create(b, gpu::Dimension::x));
  Value numTiles = cI32(plan.numTiles);
  Value rounds = arith::DivUIOp::create(
      b, add(numTiles, arith::SubIOp::create(b, ctas, cI32(1))), ctas);
  Value reversed =
      arith::SubIOp::create(b, arith::SubIOp::create(b, ctas, cI32(1)), c);
  auto loop = scf::ForOp::create(b, cI32(0), rounds, cI32(1),
                                 ValueRange{cI32(0), cI32(0)});
  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPointToStart(loop.getBody());
  Value k = loop.getInductionVar();
  Value blocksDone = loop.getRegionIterArgs()[0];
  Value tilesDone = loop.getRegionIterArgs()[1];
  Value odd = cmp(arith::CmpIPredicate::ne, andI(k, 1), cI32(0));
  Value tile = add(arith::MulIOp::create(b, k, ctas), sel(odd, reversed, c));
  Value valid = cmp(arith::CmpIPredicate::ult, tile, numTiles);
  auto ifOp = scf::IfOp::create(b, TypeRange{i32, i32}, valid,
                                /*withElse=*/true);
  {
    OpBuilder::InsertionGuard elseGuard(b);
    b.setInsertionPointToStart(&ifOp.getElseRegion().front());
    scf::YieldOp::create(b, ValueRange{blocksDone, tilesDone});
  }
  b.setInsertionPointToStart(&ifOp.getThenRegion().front());
  ringOffset = blocksDone;
  tileParity = andI(tilesDone, 1);
  if (failed(emitTileCoordinates(tile)) || failed(body()))
    return failure();
  Value blocks = arith::MaxSIOp::create(
      b, arith::SubIOp::create(b, nEnd, nBegin), cI32(0));
  scf::YieldOp::create(
      b, ValueRange{add(blocksDone, blocks), add(tilesDone, 1)});
  b.setInsertionPointAfter(ifOp);
  scf::YieldOp::create(b, ifOp.getResults());
  return success();
}

void HopperEmitter::emitBlockRange() {
  // As the prefill kernel: the program's KV blocks (possibly none) and its
  // interior, where no mask is evaluated.
  auto i32Of = [&](Value v) { return arith::IndexCastOp::create(b, i32, v); };
  IntArith a(b, b.getLoc(), i32);
  nBegin = a.floorDiv(i32Of(coords.begin), bn);
  nEnd = a.ceilDiv(i32Of(coords.end), bn);
  interiorBegin = i32Of(coords.interiorBegin);
  interiorEnd = i32Of(coords.interiorEnd);
}


LogicalResult HopperEmitter::emit() {
  // setmaxnreg takes effect only under a register cap at entry: one CTA of
  // `threads` per SM (ptxas: 64K / threads registers each).
  func->setAttr(NVVM::NVVMDialect::getMinctasmAttrName(),
                b.getI32IntegerAttr(1));
  func->setAttr(NVVM::NVVMDialect::getMaxntidAttrName(),
                b.getDenseI32ArrayAttr(
                    {static_cast<int32_t>(plan.threads), 1, 1}));
  b.setInsertionPointToStart(&func.getBody().front());
  if (failed(emitCoordinates()))
    return failure();
  if (!plan.persistentCtas)
    emitBlockRange();
  emitBarrierInit();
  // The producer's and the consumers' roles are the two branches of one
  // if/else (setmaxnreg is per warpgroup).
  Value isProducer = cmp(arith::CmpIPredicate::eq, warpgroup, cI32(0));
  LogicalResult status = success();
  scf::IfOp::create(
      b, isProducer,
      [&](OpBuilder &, Location) {
        status = emitProducer();
        scf::YieldOp::create(b);
      },
      [&](OpBuilder &, Location) {
        if (succeeded(status))
          status = emitConsumer();
        scf::YieldOp::create(b);
      });
  gpu::ReturnOp::create(b);
  return status;
}

/// The most keys one query-block tile of `p` sees: Lk, or for a window its
/// extent plus the query block.
static int64_t hopperLongestTileKeys(const KernelProblem &p,
                                     const HopperPlan &plan) {
  const KeyVisibility &v = p.visibility;
  int64_t keys = p.seqK;
  if (v.left && v.right)
    keys = std::min(keys, *v.left + *v.right + plan.blockM);
  return keys;
}

/// hopper-scheduler=auto: whether the dynamic tile scheduler is chosen for
/// `p`. Measured on an H200 (2026-12-01, two calls, the 14 prefill shapes
/// of bench/NOTES.md): against one CTA per tile (and the static persistent
/// grid at D = 64 without a mask) it is 2-10% faster at L = 1k and 4k and
/// on GQA causal, level at L = 16k, except under a right bound whose
/// longest tile is long: D = 128 causal L = 16k (128 KV blocks of 128 keys)
/// was 4% slower in both calls, D = 64 causal L = 16k (the same keys, half
/// the work) level. So: dynamic unless a right bound lets the longest tile
/// see more than 16384 x 64 (keys x D); and only on TMA loads and a grid
/// that may be persistent.
static bool hopperAutoDynamic(const KernelProblem &p, const HopperPlan &plan,
                              const ConvertAttnToNVVMOptions &o) {
  if (!plan.tma || o.hopperPersistent == 0)
    return false;
  // A window's tiles span at most its extent plus the query block (not
  // measured: the rule applied to the longest tile it allows).
  int64_t keys = hopperLongestTileKeys(p, plan);
  return !(p.visibility.right && keys * p.headDim > 16384 * 64);
}

/// Whether no query-block tile of `p` sees more than 8 KV blocks (L = 1k at
/// block-n 128): there the first block's S and softmax, the last block's
/// P V and the tile's Q load and epilogue, which a consumer cannot overlap
/// with its own GEMMs, are a large share of each tile.
static bool hopperShortTiles(const KernelProblem &p, const HopperPlan &plan) {
  return llvm::divideCeil(hopperLongestTileKeys(p, plan), plan.blockN) <= 8;
}

/// hopper-ping-pong=auto: at D = 64, where the softmax costs as much as the
/// GEMMs (+10% non-causal, H200, bench/NOTES.md), and on short tiles, where
/// taking turns lets the other consumer's GEMMs run under a consumer's
/// unoverlapped first and last blocks. Measured at D = 128 on an H200
/// (2026-12-02, three calls): L = 1k non-causal +4.1 / +1.9 / +2.9%,
/// causal +2.9 / +1.3 / -0.6%; causal L = 4k / 16k and GQA causal -1.4 to
/// +2.5% (level, two calls), non-causal L >= 4k level (earlier calls:
/// neutral to -8%): off there.
static bool hopperAutoPingPong(const KernelProblem &p,
                               const HopperPlan &plan) {
  return p.headDim == 64 || hopperShortTiles(p, plan);
}

/// hopper-consumers=0 (auto): consumer warpgroups per CTA (`plan` complete
/// up to Q's placement). Three where they apply (D = 64, TMA loads, a Q
/// tile allowed in shared memory, block-n 128) unless the 192-row tiles
/// are short (hopperShortTiles). Measured on an H200 (2026-12-04, two
/// calls, bench/NOTES.md): 2-10% faster on D = 64 tiles of 32 KV blocks or
/// more, 14% slower on causal L = 1k (8 blocks; a 1024-row head leaves a
/// third of its last 192-row tile idle) and level non-causal there.
static int64_t hopperAutoConsumers(const KernelProblem &p,
                                   const HopperPlan &plan,
                                   const ConvertAttnToNVVMOptions &o) {
  if (p.headDim != 64 || o.hopperLoads != "tma" || o.hopperQShared == "false" ||
      plan.blockN != 128)
    return 2;
  HopperPlan three = plan;
  three.blockM = 3 * kConsumerRows;
  return hopperShortTiles(p, three) ? 2 : 3;
}

/// hopper-poly-exp2=auto: how many of every 8 n8 tiles of S take the
/// polynomial exp2 (`plan` complete but for it). None: measured on an H200
/// (2026-12-02, bench/NOTES.md) slower on every prefill shape and more so
/// with every tile moved (D = 64: 2 of 8 -5 to -13%; D = 128: 1 of 8 -2 to
/// -6%): the XU share halves but the softmax's warps become issue-bound.
static int64_t hopperAutoPolyExp2(const KernelProblem &p,
                                  const HopperPlan &plan) {
  return 0;
}

/// hopper-tree-reductions=auto: whether the softmax's row reductions are
/// balanced trees (`plan` complete but for it). No: measured on an H200
/// (2026-12-02) 3-5% slower at D = 64 and level at D = 128 (ptxas
/// interleaves the chains of the two rows and the exponentials already).
static bool hopperAutoTreeReductions(const KernelProblem &p,
                                     const HopperPlan &plan) {
  return false;
}

/// hopper-epilogue: whether O goes out through the shared tile and TMA
/// (`plan` complete but for it); failure for an unknown value. auto
/// (hopperAutoTmaEpilogue): at D = 128 where the O tile fits, with TMA
/// loads (the tensor maps are built at launch anyway; the cp.async
/// producer keeps a launch free of them).
static FailureOr<bool> hopperTmaEpilogue(const KernelProblem &p,
                                         const HopperPlan &plan,
                                         const ConvertAttnToNVVMOptions &o) {
  if (o.hopperEpilogue == "registers" || o.hopperEpilogue == "tma")
    return o.hopperEpilogue == "tma";
  if (o.hopperEpilogue != "auto")
    return failure();
  return plan.tma && hopperAutoTmaEpilogue(p.headDim, plan.blockM,
                                           plan.sharedMemoryBytes);
}

static FailureOr<HopperPlan>
planHopperKernel(Operation *op, const KernelProblem &p,
                             const ConvertAttnToNVVMOptions &o,
                             bool emitErrors) {
  auto fail = [&](const Twine &msg) -> FailureOr<HopperPlan> {
    if (emitErrors)
      op->emitOpError(msg);
    return failure();
  };
  if (o.chip != "sm_90a")
    return fail("expected chip sm_90a for the hopper kernel (wgmma, "
                "setmaxnreg), got '" +
                o.chip + "'");
  if (p.withKeyLengths)
    return fail("expected no key_lengths operand on the hopper kernel (not "
                "supported yet)");
  if (p.keyView || p.valueView)
    return fail("expected contiguous K and V on the hopper kernel (KV cache "
                "views not supported yet)");
  if (p.withBias() || p.withOperandMasks() || p.withSinks)
    return fail("expected no bias, mask, mask_mod or sinks on the hopper "
                "kernel (not supported yet: kernel=prefill takes them, as "
                "kernel=auto does)");
  // Its tiles are 64-column panels of the 128B wgmma swizzle, O as wide as S.
  if ((p.headDim != 64 && p.headDim != 128) || p.valueHeadDim != p.headDim)
    return fail("expected D = Dv = 64 or 128 on the hopper kernel, got D = " +
                Twine(p.headDim) + ", Dv = " + Twine(p.valueHeadDim) +
                " (the prefill kernel takes it)");
  HopperPlan plan;
  // A consumer thread holds S (BN / 2), O (D / 2), Q (D / 4) and the packed
  // P (BN / 4) registers: at D = 128 and BN = 128 (about 187) more than the
  // 168 a thread has before setmaxnreg; that kernel relied on
  // setmaxnreg.inc and gave wrong results on an H200, so Q goes to shared
  // memory there instead (about 155).
  plan.blockN = o.hopperBlockN ? o.hopperBlockN : 128;
  if (plan.blockN != 64 && plan.blockN != 128)
    return fail("expected hopper-block-n of 0, 64 or 128, got " +
                Twine(plan.blockN));
  // Q in registers costs D / 4 of them: at D = 128 and block-n 128 Q is read
  // by wgmma from shared memory instead.
  bool qMustShare = hopperKeepsQInSharedMemory(p.headDim, plan.blockN);
  if (o.hopperQShared == "auto" || o.hopperQShared == "true")
    plan.qInSharedMemory = qMustShare || o.hopperQShared == "true";
  else if (o.hopperQShared == "false" && !qMustShare)
    plan.qInSharedMemory = false;
  else if (o.hopperQShared == "false")
    return fail("expected hopper-q-shared of auto or true at D = 128 with "
                "block-n 128 (Q in registers needs more than the 168 "
                "registers a consumer thread has before setmaxnreg)");
  else
    return fail("expected hopper-q-shared of auto, true or false, got '" +
                o.hopperQShared + "'");
  // The producer's Q copy needs more registers than 40 (ptxas spills).
  if (plan.qInSharedMemory) {
    plan.producerRegisters = 72;
    plan.consumerRegisters = 216;
  }
  if (o.hopperConsumers != 0 && o.hopperConsumers != 2 &&
      o.hopperConsumers != 3)
    return fail("expected hopper-consumers of 0 (auto), 2 or 3, got " +
                Twine(o.hopperConsumers));
  plan.consumers =
      o.hopperConsumers ? o.hopperConsumers : hopperAutoConsumers(p, plan, o);
  if (plan.consumers == 3) {
    // ptxas allocates a 512-thread kernel within the entry cap (128
    // registers) whatever setmaxnreg says: Q in registers spills there
    // (96 bytes at D = 64, block-n 128), a shared Q tile does not.
    if (o.hopperQShared == "auto")
      plan.qInSharedMemory = true;
    // setmaxnreg 32 / 160 (32 * 128 + 160 * 384 = 64K), though ptxas holds
    // the consumers to 128: S, O and P of a 64-row slice fit that at D = 64
    // only, and only a TMA producer (one thread) lives on 32.
    if (p.headDim != 64)
      return fail("expected D = 64 with hopper-consumers=3 (a consumer thread "
                  "has 160 registers), got D = " +
                  Twine(p.headDim));
    if (o.hopperLoads != "tma")
      return fail("expected hopper-loads=tma with hopper-consumers=3 (the "
                  "producer keeps 32 registers)");
    plan.producerRegisters = 32;
    plan.consumerRegisters = 160;
  }
  plan.blockM = kConsumerRows * plan.consumers;
  plan.threads = kWarpgroupThreads * (1 + plan.consumers);
  plan.stages = o.hopperStages;
  // Ping-pong: see hopperAutoPingPong.
  if (o.hopperPingPong == "auto")
    plan.pingPong = hopperAutoPingPong(p, plan);
  else if (o.hopperPingPong == "true" || o.hopperPingPong == "false")
    plan.pingPong = o.hopperPingPong == "true";
  else
    return fail("expected hopper-ping-pong of auto, true or false, got '" +
                o.hopperPingPong + "'");
  plan.overlap = o.hopperOverlap;
  if (o.hopperLoads != "tma" && o.hopperLoads != "cp-async")
    return fail("expected hopper-loads of tma or cp-async, got '" +
                o.hopperLoads + "'");
  plan.tma = o.hopperLoads == "tma";
  if (o.hopperPersistent < -1)
    return fail("expected hopper-persistent of -1 (auto), 0 (one CTA per "
                "tile) or a CTA count, got " +
                Twine(o.hopperPersistent));
  plan.numTiles = llvm::divideCeil(p.seqQ, plan.blockM) * p.batch * p.headsQ;
  const std::string &scheduler = o.hopperScheduler;
  if (scheduler != "auto" && scheduler != "static" && scheduler != "dynamic")
    return fail("expected hopper-scheduler of auto, static or dynamic, got '" +
                scheduler + "'");
  bool dynamic = scheduler == "dynamic" ||
                 (scheduler == "auto" && hopperAutoDynamic(p, plan, o));
  if (dynamic && !plan.tma)
    return fail("expected hopper-loads=tma with hopper-scheduler=dynamic (the "
                "tile counter is read by the producer's one TMA thread)");
  if (dynamic && o.hopperPersistent == 0)
    return fail("expected a persistent grid (hopper-persistent of -1 or a CTA "
                "count) with hopper-scheduler=dynamic, got 0");
  // Auto (measured on an H200, 2026-12-01, bench/NOTES.md): num-sms CTAs
  // with the dynamic scheduler, and for the static one at D = 64 without a
  // right bound, where a tile is cheap enough that the exposed Q load,
  // pipeline fill and epilogue of each CTA cost 3-8%; elsewhere one CTA
  // per tile.
  if (o.hopperPersistent == -1)
    plan.persistentCtas =
        dynamic || (p.headDim == 64 && !p.visibility.right) ? o.numSMs : 0;
  else
    plan.persistentCtas = o.hopperPersistent;
  plan.dynamicScheduler = dynamic && plan.persistentCtas > 0;
  if (plan.persistentCtas && o.numSMs < 1)
    return fail("expected a positive num-sms, got " + Twine(o.numSMs));
  // A group's K and V (shared by Hq / Hkv query heads) within 24 MiB, half
  // of an H100 / H200's L2.
  int64_t kvBytesPerHead =
      std::max<int64_t>(1, 2 * p.seqK * p.headDim * 2 * p.headsKV / p.headsQ);
  if (o.hopperGroupBytes < 1)
    return fail("expected a positive hopper-group-bytes, got " +
                Twine(o.hopperGroupBytes));
  plan.headsPerGroup = std::clamp<int64_t>(o.hopperGroupBytes / kvBytesPerHead, 1,
                                           p.batch * p.headsQ);
  if (plan.stages < 2 || plan.stages > 4)
    return fail("expected hopper-stages of 2 to 4, got " + Twine(plan.stages));
  // K and V tiles per stage, 1024 bytes to align the first, the full and
  // empty mbarriers of every stage's K and V, and Q's full mbarrier (and
  // empty one where a persistent CTA reuses the Q tile; the size the tile
  // model uses too).
  bool recyclesQ = plan.qInSharedMemory && plan.persistentCtas;
  // The dynamic scheduler's slots go after Q's two barriers (reserved
  // whether or not Q is recycled).
  plan.sharedMemoryBytes = getHopperSharedMemoryBytes(
      p.headDim, plan.blockM, plan.blockN, plan.stages,
      recyclesQ || plan.dynamicScheduler);
  // A Q tile by choice (hopper-q-shared=true) where the resource model
  // keeps Q in registers.
  if (plan.qInSharedMemory && !qMustShare)
    plan.sharedMemoryBytes += plan.blockM * p.headDim * 2;
  if (plan.dynamicScheduler)
    plan.sharedMemoryBytes += kSchedulerBytes;
  FailureOr<bool> tmaEpilogue = hopperTmaEpilogue(p, plan, o);
  if (failed(tmaEpilogue))
    return fail("expected hopper-epilogue of auto, registers or tma, got '" +
                o.hopperEpilogue + "'");
  plan.tmaEpilogue = *tmaEpilogue;
  if (plan.tmaEpilogue)
    plan.sharedMemoryBytes += getHopperOTileBytes(p.headDim, plan.blockM);
  // The producer hands the next tile over once it has issued the current
  // one's loads, so the consumers can take it before their epilogue; Q in
  // shared memory is the producer's to prefetch already. auto: short
  // tiles under a right bound (causal tiles of 1 to 8 blocks), where the Q
  // load is a large share of a tile. Measured on an H200 (2026-12-02, D =
  // 64, two calls): causal L = 1k +5.1 / +6.1%; causal L = 4k +1.5 / -2.4%,
  // 16k -0.6 / -1.2%; without a mask L = 1k -3.2 / -0.8%, 4k and 16k -3%
  // (one call; not understood: the receive moves before the epilogue and
  // the loop carries Q).
  bool prefetchApplies = plan.dynamicScheduler && !plan.qInSharedMemory;
  const std::string &prefetch = o.hopperQPrefetch;
  if (prefetch != "auto" && prefetch != "true" && prefetch != "false")
    return fail("expected hopper-q-prefetch of auto, true or false, got '" +
                prefetch + "'");
  if (prefetch == "true" && !prefetchApplies)
    return fail("expected the dynamic scheduler and Q in registers with "
                "hopper-q-prefetch=true (the next tile comes from the "
                "scheduler's hand-over; a shared Q tile is the producer's)");
  plan.prefetchQ =
      prefetchApplies &&
      (prefetch == "true" || (prefetch == "auto" && p.visibility.right &&
                              hopperShortTiles(p, plan)));
  if (o.hopperPolyExp2 < -1 || o.hopperPolyExp2 > 8)
    return fail("expected hopper-poly-exp2 of -1 (auto) or 0 to 8 (n8 tiles "
                "of every 8), got " +
                Twine(o.hopperPolyExp2));
  plan.polyExpTiles = o.hopperPolyExp2 == -1 ? hopperAutoPolyExp2(p, plan)
                                             : o.hopperPolyExp2;
  const std::string &tree = o.hopperTreeReductions;
  if (tree != "auto" && tree != "true" && tree != "false")
    return fail("expected hopper-tree-reductions of auto, true or false, got '" +
                tree + "'");
  plan.treeReductions =
      tree == "true" || (tree == "auto" && hopperAutoTreeReductions(p, plan));
  if (plan.sharedMemoryBytes > 227 * 1024)
    return fail("expected the hopper kernel's shared memory to fit 227 KiB, "
                "got " +
                Twine(plan.sharedMemoryBytes) + " bytes");
  return plan;
}

//===----------------------------------------------------------------------===//
// The family
//===----------------------------------------------------------------------===//

namespace {

class HopperFamily : public KernelFamily {
public:
  explicit HopperFamily(const ConvertAttnToNVVMOptions &options)
      : options(options) {}

  FailureOr<LaunchPlan> plan(Operation *op,
                             const KernelProblem &problem) override {
    FailureOr<HopperPlan> planned = planHopperKernel(op, problem, options);
    if (failed(planned))
      return failure();
    hopper = *planned;
    LaunchPlan plan = queryBlockLaunch("hopper", problem, hopper.blockM,
                                       hopper.blockN, hopper.threads);
    if (hopper.persistentCtas) {
      plan.grid = {std::min(hopper.persistentCtas, hopper.numTiles), 1, 1};
      plan.desc.gridFormula =
          "[min(hopper_persistent, ceil(Lq / block_m) * B * Hq), 1, 1]";
    }
    plan.desc.sharedMemoryBytes = hopper.sharedMemoryBytes;
    plan.desc.stages = hopper.stages;
    plan.desc.numWarps = hopper.threads / 32;
    return plan;
  }

  LogicalResult collectArguments(const TiledProgram &program,
                                 const KernelProblem &problem,
                                 KernelArgumentList &list) override {
    // As the prefill kernel's: Q, K, V, O[, LSE]; then the tensor maps.
    if (failed(addAttentionArguments(program, problem, /*dedupe=*/false, list,
                                     args)))
      return failure();
    if (hopper.tma) {
      maps.key = addTensorMap(list, args.keyStorage.front(), bn(), problem);
      maps.value =
          addTensorMap(list, args.valueStorage.front(), bn(), problem);
      if (hopper.qInSharedMemory)
        maps.query = addTensorMap(list, args.query, hopper.blockM, problem);
    }
    // One box per consumer warpgroup's 64 rows (HopperEpilogue.cpp).
    if (hopper.tmaEpilogue)
      maps.output = addTensorMap(list, args.output, kConsumerRows, problem);
    if (hopper.dynamicScheduler) {
      // One i32 the runtime zero-fills once; the kernel re-arms it.
      OpBuilder b(program.forall);
      Value counter = memref::AllocOp::create(
          b, program.forall->getLoc(),
          MemRefType::get({1}, IntegerType::get(b.getContext(), 32)));
      tileCounter = list.add(counter, "tile_counter", ArgumentRole::Workspace);
    }
    return success();
  }

  LogicalResult emit(gpu::GPUFuncOp func, const KernelProblem &problem,
                     const TiledProgram &program) override {
    return HopperEmitter(func, problem, hopper, args, maps, tileCounter,
                         program)
        .emit();
  }

private:
  int64_t bn() const { return hopper.blockN; }
  /// Adds the tensor map of argument `source` (a [B, H, L, D] or
  /// [B, L, H, D] operand): boxes of `rows` rows by one 64-column panel,
  /// the 128-byte swizzle the wgmma descriptors read.
  int64_t addTensorMap(KernelArgumentList &list, int64_t source, int64_t rows,
                       const KernelProblem &problem) {
    SmallVector<int64_t> box = {1, 1, 1, kPanelRowBytes / 2};
    box[problem.layout == Layout::BHSD ? 2 : 1] = rows;
    Value memref = list.values[source];
    std::string name = list.names[source];
    int64_t i = list.add(memref, name + "_tensor_map", ArgumentRole::TensorMap,
                         /*dedupe=*/false);
    list.tensorMaps[i] = TensorMapAttr::get(memref.getContext(), name, box,
                                            /*swizzle=*/kPanelRowBytes);
    return i;
  }

  const ConvertAttnToNVVMOptions &options;
  HopperPlan hopper;
  AttentionArguments args;
  HopperTensorMaps maps;
  int64_t tileCounter = -1;
};

} // namespace

std::unique_ptr<KernelFamily>
mlir::attn::detail::createHopperFamily(const ConvertAttnToNVVMOptions &options) {
  return std::make_unique<HopperFamily>(options);
}

bool mlir::attn::detail::hopperFamilySupports(
    Operation *op, const KernelProblem &problem,
    const ConvertAttnToNVVMOptions &options) {
  return succeeded(planHopperKernel(op, problem, options,
                                    /*emitErrors=*/false));
}

