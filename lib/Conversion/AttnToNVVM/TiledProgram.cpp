//===- TiledProgram.cpp - one tiled attention program, read for a kernel --===//
//
// Part of attn-mlir. See TiledProgram.h.
//
//===----------------------------------------------------------------------===//

#include "TiledProgram.h"

#include "mlir/Analysis/SliceAnalysis.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Bufferization/IR/Bufferization.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/IRMapping.h"
#include "mlir/Transforms/RegionUtils.h"
#include "llvm/ADT/SetVector.h"

using namespace mlir;
using namespace mlir::attn;
using namespace mlir::attn::detail;

/// The KV loops of the program, in order, and their online steps.
static LogicalResult matchKVLoops(scf::ForallOp forall,
                                  SmallVectorImpl<scf::ForOp> &loops,
                                  SmallVectorImpl<OnlineStepOp> &steps) {
  for (Operation &op : forall.getBody()->without_terminator()) {
    auto loop = dyn_cast<scf::ForOp>(op);
    if (!loop)
      continue;
    for (Operation &inner : loop.getBody()->without_terminator())
      if (isa<BlockAttentionOp>(inner))
        return inner.emitOpError("expected attn-fuse-online-softmax to have "
                                 "fused the KV loops of the program before "
                                 "convert-attn-to-nvvm");
    auto inner = loop.getBody()->getOps<OnlineStepOp>();
    if (!llvm::hasSingleElement(inner))
      return loop.emitOpError("expected one attn.online_step per KV loop of "
                              "the program");
    loops.push_back(loop);
    steps.push_back(*inner.begin());
  }
  if (loops.empty())
    return forall.emitOpError("expected a KV loop of attn.online_step in the "
                              "program (attn-tile, attn-fuse-online-softmax)");
  return success();
}

FailureOr<Value> mlir::attn::detail::getScoreOperandSource(Operation *step,
                                                          Value tile) {
  if (auto broadcast = tile.getDefiningOp<linalg::GenericOp>();
      broadcast && broadcast.getNumDpsInputs() == 1)
    tile = broadcast.getDpsInputs().front();
  if (auto pad = tile.getDefiningOp<tensor::PadOp>())
    tile = pad.getSource();
  auto slice = tile.getDefiningOp<tensor::ExtractSliceOp>();
  if (!slice || slice.getSourceType().getRank() != 4)
    return step->emitOpError("expected the bias and mask tiles to be slices "
                            "of [B, Hq, Lq, Lk] tensors (attn-tile)");
  return slice.getSource();
}

/// The sinks tensor behind a sink partial's LSE (Sinks.h, buildSinkRows: a
/// generic spreading a slice of the sinks over the rows), or null.
static Value getSinkSource(Value lse) {
  auto spread = lse.getDefiningOp<linalg::GenericOp>();
  if (!spread || spread.getNumDpsInputs() != 1)
    return Value();
  // The slice folds away where it takes every head.
  Value sinks = spread.getDpsInputs().front();
  if (auto slice = sinks.getDefiningOp<tensor::ExtractSliceOp>())
    sinks = slice.getSource();
  if (cast<ShapedType>(sinks.getType()).getRank() != 1)
    return Value();
  return sinks;
}

/// The split merge after a forall of KV-split partials: slices of the
/// partials (and the sink partial, which sets `sinks`), one attn.combine,
/// the generic that writes the output type.
static LogicalResult matchSplitMerge(scf::ForallOp forall, bool withLse,
                                     SmallVectorImpl<Value> &results,
                                     SmallVectorImpl<Operation *> &epilogue,
                                     Value &sinks) {
  CombineOp combine;
  for (Value partial : forall.getResults())
    for (Operation *user : partial.getUsers()) {
      auto slice = dyn_cast<tensor::ExtractSliceOp>(user);
      if (!slice || !slice->hasOneUse())
        return forall.emitOpError("expected the KV-split partials to be read "
                                  "only by their attn.combine");
      auto merge = dyn_cast<CombineOp>(*slice->user_begin());
      if (!merge || (combine && merge != combine))
        return forall.emitOpError("expected one attn.combine of the KV-split "
                                  "partials");
      combine = merge;
      epilogue.push_back(slice);
    }
  if (!combine)
    return forall.emitOpError("expected an attn.combine of the KV-split "
                              "partials");
  for (Value lse : combine.getLses())
    if (!llvm::is_contained(forall.getResults(), lse) &&
        !lse.getDefiningOp<tensor::ExtractSliceOp>())
      sinks = getSinkSource(lse);
  epilogue.push_back(combine);
  Value output = combine.getOutput();
  if (!output.hasOneUse() || !isa<linalg::GenericOp>(*output.user_begin()))
    return combine.emitOpError("expected the merged split output to be "
                               "written to the output type by one generic");
  Operation *write = *output.user_begin();
  epilogue.push_back(write);
  results.push_back(write->getResult(0));
  if (withLse)
    results.push_back(combine.getLse());
  return success();
}

FailureOr<TiledProgram> TiledProgram::match(scf::ForallOp forall) {
  TiledProgram p;
  p.forall = forall;
  p.info =
      forall->getAttrOfType<KernelInfoAttr>(KernelInfoAttr::getAttributeName());
  if (!p.info)
    return forall.emitOpError("expected an attn.kernel_info on the program");
  SmallVector<scf::ForOp> loops;
  SmallVector<OnlineStepOp> steps;
  if (failed(matchKVLoops(forall, loops, steps)))
    return failure();
  p.step = steps.front();
  Type inputType = p.info.getQueryType();
  for (OnlineStepOp step : steps) {
    std::optional<Type> pType = step.getPType();
    if (!pType || *pType != inputType || !step.getLog2Domain())
      return step.emitOpError("expected attn-lower-precision to have run "
                              "(P rounded to ")
             << inputType
             << " before P.V and exp2, as the tensor cores take them)";
    if (step.getBlockN() != p.step.getBlockN() ||
        step.getBlockM() != p.step.getBlockM())
      return step.emitOpError("expected every KV loop of the program to use "
                              "the same tiles");
  }
  for (scf::ForOp loop : loops) {
    std::optional<int64_t> stride = getConstantIntValue(loop.getStep());
    if (!stride || *stride != p.step.getBlockN())
      return loop.emitOpError("expected the KV loop to step by the tile's ")
             << p.step.getBlockN() << " keys";
  }

  // Q: the program's slice of the host tensor (padded at the Lq tail; in
  // the BSHD layout a [rows, G, D] slice transposed to [G, rows, D]).
  bool bshd = p.info.getLayout() == Layout::BSHD;
  Value q = p.step.getQuery();
  if (auto transpose = q.getDefiningOp<linalg::TransposeOp>()) {
    if (!bshd || transpose.getPermutation() != ArrayRef<int64_t>{1, 0, 2})
      return p.step.emitOpError("expected the query tile to be transposed "
                                "only from the bshd layout's [rows, G, D]");
    q = transpose.getInput();
  } else if (bshd) {
    return p.step.emitOpError("expected the bshd query tile to be "
                              "transposed to [G, rows, D]");
  }
  if (auto pad = q.getDefiningOp<tensor::PadOp>())
    q = pad.getSource();
  auto slice = q.getDefiningOp<tensor::ExtractSliceOp>();
  if (!slice || slice.getSourceType().getRank() != 4)
    return p.step.emitOpError("expected the query tile to be a slice of the "
                              "4-D query");
  p.query = slice.getSource();
  // Offsets as [b, h, q0, 0], whatever the layout.
  SmallVector<OpFoldResult> offsets = slice.getMixedOffsets();
  if (bshd)
    std::swap(offsets[1], offsets[2]);

  // K and V: attn.kv_tile of the host tensor or a view.
  auto keyTile = p.step.getKey().getDefiningOp<KVTileOp>();
  auto valueTile = p.step.getValue().getDefiningOp<KVTileOp>();
  if (!keyTile || !valueTile)
    return p.step.emitOpError("expected K and V tiles from attn.kv_tile");
  p.key = keyTile.getSource();
  p.value = valueTile.getSource();
  p.keyView = keyTile.getView() ? keyTile.getView().getOperation() : nullptr;
  p.valueView =
      valueTile.getView() ? valueTile.getView().getOperation() : nullptr;
  Value kvHead = keyTile.getKvHead();
  Operation *kvHeadDef = kvHead.getDefiningOp();
  if (kvHeadDef && forall->isProperAncestor(kvHeadDef) &&
      kvHeadDef->getBlock() != forall.getBody())
    return keyTile.emitOpError("expected the KV head to be a coordinate of "
                               "the program");

  if (p.info.getKeyLengths().getValue()) {
    for (auto extract : forall.getBody()->getOps<tensor::ExtractOp>())
      if (extract.getTensor().getParentRegion()->isProperAncestor(
              &forall.getRegion()))
        p.keyLengths = extract.getTensor();
    if (!p.keyLengths)
      return forall.emitOpError("expected the program to read key_lengths");
  }

  // [begin, end) from the first and last loop; the interior is the loop
  // whose steps skip the mask (empty at begin when there is none).
  Value begin = loops.front().getLowerBound();
  Value interiorBegin = begin, interiorEnd = begin;
  for (auto [loop, step] : llvm::zip(loops, steps))
    if (step.getInterior()) {
      interiorBegin = loop.getLowerBound();
      interiorEnd = loop.getUpperBound();
    }
  p.coordinates = {offsets[0],     offsets[1],  kvHead,
                   offsets[2],     p.step.getKeyLen(), begin,
                   interiorBegin,  interiorEnd, loops.back().getUpperBound()};

  if (failed(p.matchScoreOperands()))
    return failure();
  if (p.info.getVarlen() && failed(p.matchVarlen(loops)))
    return failure();

  bool withLse = p.info.getLse().getValue();
  if (forall.getRank() == 4) {
    if (failed(matchSplitMerge(forall, withLse, p.results, p.epilogue,
                               p.sinks)))
      return failure();
  } else {
    p.results.push_back(forall.getResult(0));
    if (withLse)
      p.results.push_back(forall.getResult(1));
  }
  return p;
}

Value mlir::attn::detail::getOffsetsTensor(Value start, Block *body) {
  Operation *def = start.getDefiningOp();
  if (!def || def->getBlock() != body)
    return Value();
  BackwardSliceOptions options;
  options.inclusive = true;
  options.omitBlockArguments = true;
  options.filter = [&](Operation *op) { return op->getBlock() == body; };
  SetVector<Operation *> slice;
  (void)getBackwardSlice(def, &slice, options);
  for (Operation *op : slice)
    if (auto extract = dyn_cast<tensor::ExtractOp>(op))
      if (!body->getParentOp()->isAncestor(
              extract.getTensor().getParentRegion()->getParentOp()))
        return extract.getTensor();
  return Value();
}

LogicalResult TiledProgram::matchVarlen(ArrayRef<scf::ForOp> loops) {
  // attn-tile's varlen programs: Q sliced at packed row queryStart + q0,
  // K and V tiles at keyStart + k0, the steps at positions within the
  // sequence and its lengths.
  auto fail = [&]() {
    return step.emitOpError("expected a varlen program of attn-tile (Q rows "
                            "at queryStart + q0, K/V rows at keyStart + k0, "
                            "starts read from cu_seqlens)");
  };
  Value q0 = step.getQueryPos();
  auto qRow = dyn_cast<Value>(coordinates[3]);
  auto qAdd = qRow ? qRow.getDefiningOp<arith::AddIOp>() : nullptr;
  if (!qAdd || (qAdd.getRhs() != q0 && qAdd.getLhs() != q0))
    return fail();
  Value queryStart = qAdd.getLhs() == q0 ? qAdd.getRhs() : qAdd.getLhs();
  auto kTile = step.getKey().getDefiningOp<KVTileOp>();
  scf::ForOp loop = loops.front();
  Value k0 = loop.getInductionVar();
  Block *body = forall.getBody();
  cuSeqlensQ = getOffsetsTensor(queryStart, body);
  if (!cuSeqlensQ)
    return fail();
  coordinates[0] = step.getBatch();
  coordinates[3] = q0;
  // Over per-sequence caches (key_lengths) the tiles are rows k0 of cache
  // n: no key offsets, the key start is 0.
  if (keyLengths && kTile.getStart() == k0) {
    coordinates.append({queryStart, OpFoldResult(IntegerAttr::get(
                                        IndexType::get(forall.getContext()),
                                        0)),
                        step.getQueryLen()});
    return success();
  }
  auto kAdd = kTile.getStart().getDefiningOp<arith::AddIOp>();
  if (!kAdd || (kAdd.getRhs() != k0 && kAdd.getLhs() != k0))
    return fail();
  Value keyStart = kAdd.getLhs() == k0 ? kAdd.getRhs() : kAdd.getLhs();
  cuSeqlensK = getOffsetsTensor(keyStart, body);
  if (!cuSeqlensK)
    return fail();
  coordinates.append({queryStart, keyStart, step.getQueryLen()});
  return success();
}

LogicalResult TiledProgram::matchScoreOperands() {
  for (auto [tile, source] : {std::pair<Value, Value *>{step.getBias(), &bias},
                              {step.getMask(), &mask}}) {
    if (!tile)
      continue;
    FailureOr<Value> host = getScoreOperandSource(step, tile);
    if (failed(host))
      return failure();
    *source = *host;
  }
  // One split: the sink partial joins the program's own result, after its
  // KV loops (with splits it joins their merge: matchSplitMerge).
  for (auto combine : forall.getBody()->getOps<CombineOp>())
    for (Value lse : combine.getLses())
      if (Value source = getSinkSource(lse))
        sinks = source;
  return success();
}

bool TiledProgram::contains(Operation *user) const {
  return forall->isAncestor(user) || llvm::is_contained(epilogue, user);
}

Value TiledProgram::getRuntimeLength(tensor::DimOp dim,
                                    const RuntimeLengths &lengths) const {
  std::optional<int64_t> axis = getConstantIntValue(dim.getDimension());
  Value source = dim.getSource();
  if (axis && *axis == 0 && source &&
      (source == cuSeqlensQ || source == cuSeqlensK))
    return lengths.numOffsets;
  if (!axis || (source != query && source != key && source != value))
    return {};
  int64_t seqAxis = info.getLayout() == Layout::BSHD ? 1 : 2;
  if (*axis == 0)
    return lengths.batch;
  if (*axis == seqAxis)
    return source == query ? lengths.seqQ : lengths.seqK;
  return {};
}

FailureOr<ProgramCoordinates>
TiledProgram::emitCoordinates(OpBuilder &b, ValueRange ivs,
                              Value keyLengthsArg,
                              const RuntimeLengths &lengths) const {
  // Op handles are values; the program itself is not modified here.
  scf::ForallOp forall = this->forall;
  Block *body = forall.getBody();
  IRMapping map;
  map.map(forall.getInductionVars(), ivs);

  // Every op of the program body that a coordinate depends on, in order.
  BackwardSliceOptions options;
  options.inclusive = true;
  options.omitBlockArguments = true;
  options.filter = [&](Operation *op) { return op->getBlock() == body; };
  SetVector<Operation *> slice;
  for (OpFoldResult c : coordinates)
    if (auto v = dyn_cast<Value>(c))
      if (Operation *def = v.getDefiningOp(); def && def->getBlock() == body)
        (void)getBackwardSlice(def, &slice, options);
  SmallVector<Operation *> ops(slice.begin(), slice.end());
  llvm::sort(ops, [](Operation *x, Operation *y) {
    return x->isBeforeInBlock(y);
  });

  // Values from above the program: constants only (the kernel is isolated),
  // and the runtime lengths as dims of the host tensors.
  auto lookup = [&](Value v) -> FailureOr<Value> {
    if (Value mapped = map.lookupOrNull(v))
      return mapped;
    if (auto dim = v.getDefiningOp<tensor::DimOp>()) {
      Value length = getRuntimeLength(dim, lengths);
      if (!length)
        return failure();
      Value cast = arith::IndexCastUIOp::create(b, dim.getLoc(),
                                                b.getIndexType(), length);
      map.map(v, cast);
      return cast;
    }
    auto constant = v.getDefiningOp<arith::ConstantOp>();
    if (!constant)
      return failure();
    Value cloned = b.clone(*constant)->getResult(0);
    map.map(v, cloned);
    return cloned;
  };
  for (Operation *op : ops) {
    // key_lengths and the varlen offsets: loads of the kernel's memrefs.
    Value source;
    if (auto extract = dyn_cast<tensor::ExtractOp>(op)) {
      Value tensor = extract.getTensor();
      if (tensor == keyLengths)
        source = keyLengthsArg;
      else if (tensor && tensor == cuSeqlensQ)
        source = lengths.cuSeqlensQ;
      else if (tensor && tensor == cuSeqlensK)
        source = lengths.cuSeqlensK;
    }
    if (auto extract = dyn_cast<tensor::ExtractOp>(op); extract && source) {
      SmallVector<Value> indices;
      for (Value index : extract.getIndices()) {
        FailureOr<Value> mapped = lookup(index);
        if (failed(mapped))
          return extract.emitOpError("expected the key_lengths index to be a "
                                     "coordinate of the program");
        indices.push_back(*mapped);
      }
      map.map(extract.getResult(),
              memref::LoadOp::create(b, op->getLoc(), source, indices)
                  .getResult());
      continue;
    }
    if (!isa<arith::ArithDialect>(op->getDialect()) || op->getNumRegions())
      return op->emitOpError("expected index arithmetic in the coordinates "
                             "and bounds of a GPU program");
    for (Value operand : op->getOperands())
      if (failed(lookup(operand)))
        return op->emitOpError("expected the program's coordinates to use "
                               "only its induction variables and constants");
    b.clone(*op, map);
  }

  SmallVector<Value> values;
  for (OpFoldResult c : coordinates) {
    if (auto attr = dyn_cast<Attribute>(c)) {
      values.push_back(arith::ConstantIndexOp::create(
          b, forall.getLoc(), cast<IntegerAttr>(attr).getInt()));
      continue;
    }
    FailureOr<Value> v = lookup(cast<Value>(c));
    if (failed(v))
      return forall.emitOpError("expected the program's coordinates to use "
                                "only its induction variables and constants");
    values.push_back(*v);
  }
  ProgramCoordinates c;
  c.batch = values[0];
  c.head0 = values[1];
  c.kvHead = values[2];
  c.q0 = values[3];
  c.keyLength = values[4];
  c.begin = values[5];
  c.interiorBegin = values[6];
  c.interiorEnd = values[7];
  c.end = values[8];
  if (values.size() == 12) {
    c.queryStart = values[9];
    c.keyStart = values[10];
    c.queryLength = values[11];
  }
  return c;
}

void TiledProgram::erase(ArrayRef<Operation *> stores) {
  // Producers that may die with the program: the host reads it captured.
  SetVector<Value> captured;
  getUsedValuesDefinedAbove(forall.getRegion(), captured);
  SetVector<Operation *> worklist;
  auto feeders = [&](Operation *op) {
    for (Value operand : op->getOperands())
      if (Operation *def = operand.getDefiningOp())
        worklist.insert(def);
  };
  for (Value v : captured)
    if (Operation *def = v.getDefiningOp())
      worklist.insert(def);
  SmallVector<Operation *> dead(stores);
  llvm::append_range(dead, llvm::reverse(epilogue));
  dead.push_back(forall);
  for (Operation *op : dead) {
    worklist.remove(op);
    feeders(op);
    op->erase();
  }
  while (!worklist.empty()) {
    Operation *op = worklist.pop_back_val();
    if (!isOpTriviallyDead(op))
      continue;
    feeders(op);
    op->erase();
  }
}
