//===- CountKVTiles.cpp - attn-count-kv-tiles -----------------------------===//
//
// Part of attn-mlir. Makes mask-block skipping observable: for each program
// grid attn-tile produced over static shapes, evaluates the bounds of its KV
// loops for every program and reports how many KV tiles are visited. It
// folds the index arithmetic the compiler emitted (IndexEvaluator), so a
// wrong bound in the tiler shows up here as a wrong count.
//
//===----------------------------------------------------------------------===//

#include "attn/Dialect/Attn/IR/AttnOps.h"
#include "attn/Transforms/IndexEvaluator.h"
#include "attn/Transforms/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/SCF/IR/SCF.h"

#define DEBUG_TYPE "attn-count-kv-tiles"

namespace mlir::attn {
#define GEN_PASS_DEF_ATTNCOUNTKVTILES
#include "attn/Transforms/Passes.h.inc"
} // namespace mlir::attn

using namespace mlir;
using namespace mlir::attn;

namespace {

struct TileCounts {
  int64_t visited = 0, interior = 0, dense = 0;
};

/// The tile op of a KV loop, if the loop is one.
static Operation *tileOpOf(scf::ForOp loop) {
  for (Operation &op : *loop.getBody())
    if (isa<BlockAttentionOp, OnlineStepOp>(op))
      return &op;
  return nullptr;
}

static bool isInterior(Operation *tileOp) {
  if (auto block = dyn_cast<BlockAttentionOp>(tileOp))
    return block.getInterior();
  return cast<OnlineStepOp>(tileOp).getInterior();
}

/// Counts the KV tiles of one program grid; fails if a bound is not static.
static FailureOr<TileCounts> countTiles(scf::ForallOp forall) {
  std::optional<SmallVector<int64_t>> ubs =
      getConstantIntValues(forall.getMixedUpperBound());
  SmallVector<scf::ForOp> loops;
  for (Operation &op : *forall.getBody())
    if (auto loop = dyn_cast<scf::ForOp>(op); loop && tileOpOf(loop))
      loops.push_back(loop);
  if (!ubs || loops.empty())
    return failure();

  TileCounts counts;
  SmallVector<int64_t> ivs(ubs->size(), 0);
  int64_t programs = 1;
  for (int64_t ub : *ubs)
    programs *= ub;
  IndexEvaluator eval;
  for (int64_t p = 0; p < programs; ++p) {
    // Decompose the linear program id into induction variable values.
    for (int64_t d = ubs->size() - 1, rest = p; d >= 0; --d) {
      ivs[d] = rest % (*ubs)[d];
      rest /= (*ubs)[d];
    }
    eval.reset();
    for (auto [iv, x] : llvm::zip(forall.getInductionVars(), ivs))
      eval.bind(iv, x);
    for (scf::ForOp loop : loops) {
      std::optional<int64_t> lb = eval.evaluateInt(loop.getLowerBound()),
                             ub = eval.evaluateInt(loop.getUpperBound()),
                             step = eval.evaluateInt(loop.getStep());
      if (!lb || !ub || !step || *step <= 0)
        return failure();
      int64_t trips = *ub > *lb ? (*ub - *lb + *step - 1) / *step : 0;
      counts.visited += trips;
      if (isInterior(tileOpOf(loop)))
        counts.interior += trips;
    }
  }
  // A dense schedule visits every KV block once per query block and head
  // group; with split-KV, the splits share those blocks.
  Operation *tileOp = tileOpOf(loops.front());
  Value keyLen = isa<BlockAttentionOp>(tileOp)
                     ? cast<BlockAttentionOp>(tileOp).getKeyLen()
                     : cast<OnlineStepOp>(tileOp).getKeyLen();
  int64_t blockN = isa<BlockAttentionOp>(tileOp)
                       ? cast<BlockAttentionOp>(tileOp).getBlockN()
                       : cast<OnlineStepOp>(tileOp).getBlockN();
  eval.reset();
  std::optional<int64_t> lk = eval.evaluateInt(keyLen);
  if (!lk)
    return failure();
  int64_t splits = ubs->size() > 3 ? (*ubs)[3] : 1;
  counts.dense = programs / splits * ((*lk + blockN - 1) / blockN);
  return counts;
}

struct AttnCountKVTilesPass
    : mlir::attn::impl::AttnCountKVTilesBase<AttnCountKVTilesPass> {
  void runOnOperation() override {
    getOperation()->walk([&](scf::ForallOp forall) {
      FailureOr<TileCounts> counts = countTiles(forall);
      if (failed(counts))
        return;
      // At the location only: the op dump would bury the one-line report.
      mlir::emitRemark(forall.getLoc())
          << "attn-tile: " << counts->visited << " of " << counts->dense
          << " KV tiles visited (" << counts->interior << " interior, "
          << counts->visited - counts->interior << " boundary)";
    });
  }
};

} // namespace
