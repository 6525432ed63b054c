//===- TiledBackwardProgram.cpp - a tiled backward, read for its kernels --===//
//
// Part of attn-mlir. See TiledBackwardProgram.h.
//
//===----------------------------------------------------------------------===//

#include "TiledBackwardProgram.h"
#include "TiledProgram.h"

#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"
#include "mlir/Transforms/RegionUtils.h"
#include "llvm/ADT/SetVector.h"

using namespace mlir;
using namespace mlir::attn;
using namespace mlir::attn::detail;

/// The slice a tile of the program (attn-tile-backward's rowTile, keyTile
/// or statTile: a slice, zero- or -inf-padded at the tails, a bshd row tile
/// then transposed to [G, M, X]) is cut by, or null.
static tensor::ExtractSliceOp getTileSlice(Value tile) {
  if (auto transpose = tile.getDefiningOp<linalg::TransposeOp>())
    tile = transpose.getInput();
  if (auto pad = tile.getDefiningOp<tensor::PadOp>())
    tile = pad.getSource();
  return tile.getDefiningOp<tensor::ExtractSliceOp>();
}

/// The host tensor a tile of the program is read from, or null.
static Value getTileSource(Value tile) {
  tensor::ExtractSliceOp slice = getTileSlice(tile);
  return slice ? slice.getSource() : Value();
}

/// The packed row offset of a tile's slice (axis 1 of a bshd operand), or
/// null.
static Value getTileRow(Value tile) {
  tensor::ExtractSliceOp slice = getTileSlice(tile);
  if (!slice || slice.getMixedOffsets().size() != 4)
    return Value();
  return dyn_cast<Value>(slice.getMixedOffsets()[1]);
}

/// The start of a varlen row `row` = start + pos (either order), or null.
static Value getStartOf(Value row, Value pos) {
  auto add = row ? row.getDefiningOp<arith::AddIOp>() : arith::AddIOp();
  if (!add || (add.getLhs() != pos && add.getRhs() != pos))
    return Value();
  return add.getLhs() == pos ? add.getRhs() : add.getLhs();
}

/// attn-tile-backward's varlen program: Q rows at queryStart + q0 and K
/// rows at keyStart + k0 of the packed operands, both starts read from
/// cu_seqlens (buildVarlenSequence) inside the program.
static LogicalResult matchVarlen(TiledBackwardProgram &p) {
  Block *body = p.forall.getBody();
  Value q0 = p.queryLoop.getInductionVar();
  Value k0 = p.step.getKeyPos();
  Value queryStart = getStartOf(getTileRow(p.step.getQuery()), q0);
  Value keyStart = getStartOf(getTileRow(p.step.getKey()), k0);
  if (queryStart)
    p.cuSeqlensQ = getOffsetsTensor(queryStart, body);
  if (keyStart)
    p.cuSeqlensK = getOffsetsTensor(keyStart, body);
  if (!p.cuSeqlensQ || !p.cuSeqlensK)
    return p.step.emitOpError("expected a varlen program of "
                              "attn-tile-backward (Q rows at queryStart + q0, "
                              "K rows at keyStart + k0, starts read from "
                              "cu_seqlens)");
  return success();
}

/// The single scf.for of the program and its steps, which must agree on
/// their tiles and be precision-lowered.
static LogicalResult matchQueryLoop(scf::ForallOp forall, scf::ForOp &loop,
                                    BackwardStepOp &step) {
  auto loops = forall.getBody()->getOps<scf::ForOp>();
  if (!llvm::hasSingleElement(loops))
    return forall.emitOpError("expected one query loop (scf.for) in the "
                              "backward program (attn-tile-backward)");
  loop = *loops.begin();
  SmallVector<BackwardStepOp> steps;
  loop.walk([&](BackwardStepOp s) { steps.push_back(s); });
  if (steps.empty())
    return loop.emitOpError("expected attn.backward_step in the query loop "
                            "of the backward program");
  step = steps.front();
  Type input = cast<RankedTensorType>(step.getQuery().getType())
                   .getElementType();
  for (BackwardStepOp s : steps) {
    std::optional<Type> pType = s.getPType();
    if (!pType || *pType != input)
      return s.emitOpError("expected attn-lower-precision to have run (P "
                           "and dS rounded to ")
             << input << " before their GEMMs, as the tensor cores take them)";
    if (s.getQuery().getType() != step.getQuery().getType() ||
        s.getKey().getType() != step.getKey().getType())
      return s.emitOpError("expected every step of the backward program to "
                           "use the same tiles");
  }
  std::optional<int64_t> stride = getConstantIntValue(loop.getStep());
  if (!stride || *stride != step.getBlockM())
    return loop.emitOpError("expected the query loop to step by the tile's ")
           << step.getBlockM() << " rows";
  return success();
}

/// The one materialize_in_destination of `result` into a memref; with
/// `widening`, also through the arith.extf between them where f32-compute
/// widens it (set to it, else null).
static FailureOr<bufferization::MaterializeInDestinationOp>
getStore(Operation *anchor, Value result, arith::ExtFOp *widening = nullptr) {
  if (widening) {
    *widening = result.hasOneUse()
                    ? dyn_cast<arith::ExtFOp>(*result.user_begin())
                    : arith::ExtFOp();
    if (*widening)
      result = widening->getOut();
  }
  auto store = result.hasOneUse()
                   ? dyn_cast<bufferization::MaterializeInDestinationOp>(
                         *result.user_begin())
                   : bufferization::MaterializeInDestinationOp();
  if (!store || !isa<BaseMemRefType>(store.getDest().getType()))
    return anchor->emitOpError("expected every gradient to be stored once "
                               "with bufferization.materialize_in_destination "
                               "into a memref on the GPU backward");
  return store;
}

/// dQ: the forall's dQ shares summed by one attn.accumulate and rounded by
/// one generic.
static LogicalResult matchAccumulation(TiledBackwardProgram &p) {
  Value shares = p.forall.getResult(2);
  p.accumulate = shares.hasOneUse()
                     ? dyn_cast<AccumulateOp>(*shares.user_begin())
                     : AccumulateOp();
  if (!p.accumulate)
    return p.forall.emitOpError("expected the program's dQ shares to be "
                                "summed by one attn.accumulate");
  Value sum = p.accumulate.getResult();
  p.dqRounding = sum.hasOneUse()
                     ? dyn_cast<linalg::GenericOp>(*sum.user_begin())
                     : linalg::GenericOp();
  if (!p.dqRounding || p.dqRounding.getNumDpsInputs() != 1)
    return p.accumulate.emitOpError("expected the summed dQ to be rounded to "
                                    "dQ's type by one generic");
  p.deterministic = p.accumulate.getDeterministic();
  return success();
}

/// Q, K, V, dO and LSE from the step's tiles; O from the Delta generic that
/// feeds the step's delta tile.
static LogicalResult matchHostTensors(TiledBackwardProgram &p) {
  BackwardStepOp step = p.step;
  // bshd row tiles are transposed slices (the kernels read their rows by
  // the host tensors' strides); bhsd ones plain.
  bool bshd = p.info.getLayout() == Layout::BSHD;
  for (Value tile : {step.getQuery(), step.getGradOutput()})
    if (static_cast<bool>(tile.getDefiningOp<linalg::TransposeOp>()) != bshd)
      return step.emitOpError("expected the step's Q and dO tiles to be ")
             << (bshd ? "transposed" : "plain") << " slices of the "
             << stringifyLayout(p.info.getLayout())
             << " host tensors (attn-tile-backward)";
  p.query = getTileSource(step.getQuery());
  p.key = getTileSource(step.getKey());
  p.value = getTileSource(step.getValue());
  p.gradOutput = getTileSource(step.getGradOutput());
  p.lse = getTileSource(step.getLse());
  Value delta = getTileSource(step.getDelta());
  if (!p.query || !p.key || !p.value || !p.gradOutput || !p.lse || !delta)
    return step.emitOpError("expected the step's tiles to be slices of the "
                            "host tensors (attn-tile-backward)");
  p.delta = delta.getDefiningOp<linalg::GenericOp>();
  if (!p.delta || p.delta.getNumDpsInputs() != 2 ||
      p.delta.getDpsInputs()[0] != p.gradOutput)
    return step.emitOpError("expected the delta tile to be a slice of "
                            "rowsum(dO * O) (attn-tile-backward's Delta)");
  p.output = p.delta.getDpsInputs()[1];
  // Delta's init: zeros, or -grad_lse (Sinks.h buildDeltaInit).
  Value init = p.delta.getDpsInits()[0];
  auto negation = init.getDefiningOp<linalg::GenericOp>();
  bool negatesGradLse =
      negation && negation.getNumDpsInputs() == 1 &&
      isa_and_nonnull<arith::NegFOp>(
          negation.getBody()->getTerminator()->getOperand(0).getDefiningOp());
  if (!negatesGradLse && !init.getDefiningOp<linalg::FillOp>())
    return p.delta.emitOpError("expected Delta's init to be zeros or "
                               "-grad_lse (attn-tile-backward's Delta)");
  if (negatesGradLse)
    p.gradLse = negation.getDpsInputs()[0];
  for (auto [tile, host] : {std::pair<Value, Value *>{step.getBias(), &p.bias},
                            {step.getMask(), &p.mask}}) {
    if (!tile)
      continue;
    FailureOr<Value> source = getScoreOperandSource(step, tile);
    if (failed(source))
      return failure();
    *host = *source;
  }
  // The sinks' gradient reads Delta too (one generic of sinks, LSE and
  // Delta, attn-tile-backward's buildSinkGradient); nothing else may.
  for (Operation *user : p.delta->getResult(0).getUsers()) {
    if (p.forall->isProperAncestor(user))
      continue;
    auto generic = dyn_cast<linalg::GenericOp>(user);
    if (!generic || p.sinkGradient || generic.getNumDpsInputs() != 3 ||
        generic.getDpsInputs()[1] != p.lse ||
        generic.getDpsInputs()[2] != p.delta->getResult(0))
      return p.delta.emitOpError("expected Delta to be read by the backward "
                                 "program and the sinks' gradient only");
    p.sinkGradient = generic;
    p.sinks = generic.getDpsInputs()[0];
  }
  if (!p.sinkGradient)
    return success();
  FailureOr<bufferization::MaterializeInDestinationOp> store =
      getStore(p.sinkGradient, p.sinkGradient->getResult(0));
  if (failed(store))
    return failure();
  p.sinkStore = *store;
  return success();
}

/// The bias gradient: the forall's fourth result (the full [B, Hq, Lq, Lk]
/// f32 dS) through attn-tile-backward's reduction and rounding into one
/// store. The kernels compute it themselves (BackwardBiasGradient.cpp).
static LogicalResult matchGradBias(TiledBackwardProgram &p) {
  if (!p.bias)
    return p.forall.emitOpError("expected a bias operand with a bias "
                                "gradient");
  Value v = p.forall.getResult(3);
  while (v.hasOneUse()) {
    Operation *user = *v.user_begin();
    if (auto store =
            dyn_cast<bufferization::MaterializeInDestinationOp>(user)) {
      FailureOr<bufferization::MaterializeInDestinationOp> checked =
          getStore(p.forall, v);
      if (failed(checked))
        return failure();
      p.gradBiasStore = *checked;
      return success();
    }
    auto generic = dyn_cast<linalg::GenericOp>(user);
    bool rounding = generic && generic.getNumDpsInputs() == 1 &&
                    generic.getDpsInputs()[0] == v;
    if (!rounding && !isa<linalg::ReduceOp, tensor::ExpandShapeOp>(user))
      break;
    p.gradBiasChain.push_back(user);
    v = user->getResult(0);
  }
  return p.forall.emitOpError("expected the bias gradient to be reduced, "
                              "rounded and stored once into a memref "
                              "(attn-tile-backward)");
}

FailureOr<TiledBackwardProgram>
TiledBackwardProgram::match(scf::ForallOp forall) {
  TiledBackwardProgram p;
  p.forall = forall;
  p.schedule = forall->getAttrOfType<BackwardScheduleAttr>(
      BackwardScheduleAttr::getAttributeName());
  p.info =
      forall->getAttrOfType<KernelInfoAttr>(KernelInfoAttr::getAttributeName());
  if (!p.schedule || !p.info ||
      (p.info.getFamily() != "backward" &&
       p.info.getFamily() != "hopper-backward"))
    return forall.emitOpError("expected an attn.backward_schedule and a "
                              "backward attn.kernel_info on the program "
                              "(attn-plan-gpu-backward)");
  if (forall.getNumResults() != 3 && forall.getNumResults() != 4)
    return forall.emitOpError("expected the program to compute dK, dV and "
                              "dQ shares, and the bias gradient with "
                              "grad_bias");
  std::optional<SmallVector<int64_t>> extents =
      getConstantIntValues(forall.getMixedUpperBound());
  if (!extents || extents->size() != 3 ||
      !llvm::all_of(forall.getMixedLowerBound(), isZeroInteger) ||
      !llvm::all_of(forall.getMixedStep(), isOneInteger))
    return forall.emitOpError("expected the program to range over (batch, "
                              "KV head, KV block) from 0 in steps of 1");
  p.numKeyBlocks = (*extents)[2];
  if (failed(matchQueryLoop(forall, p.queryLoop, p.step)))
    return failure();
  p.blockM = p.step.getBlockM();
  p.blockN = p.step.getBlockN();
  // attn-tile-backward reads len_b once per program (tensor.extract of
  // key_lengths at the batch coordinate); a varlen program reads its
  // sequence's offsets instead (the verifier refuses both).
  if (p.info.getVarlen()) {
    if (failed(matchVarlen(p)))
      return failure();
  } else {
    for (auto extract : forall.getBody()->getOps<tensor::ExtractOp>())
      if (extract.getTensor().getParentRegion()->isProperAncestor(
              &forall.getRegion()))
        p.keyLengths = extract.getTensor();
  }
  if (static_cast<bool>(p.keyLengths) != p.info.getKeyLengths().getValue())
    return forall.emitOpError("expected the program to read key_lengths "
                              "exactly when its kernel info says it has them");
  if (failed(matchAccumulation(p)) || failed(matchHostTensors(p)))
    return failure();
  if (p.blockM != p.schedule.getBlockM() ||
      p.blockN != p.schedule.getBlockN() ||
      p.deterministic != p.schedule.getDeterministic())
    return forall.emitOpError("expected the program to be tiled as its "
                              "attn.backward_schedule says (block_m ")
           << p.schedule.getBlockM() << ", block_n "
           << p.schedule.getBlockN() << ", deterministic "
           << p.schedule.getDeterministic() << "), got block_m " << p.blockM
           << ", block_n " << p.blockN << ", deterministic "
           << p.deterministic;
  if (forall.getNumResults() == 4 && failed(matchGradBias(p)))
    return failure();
  p.results = {p.dqRounding->getResult(0), forall.getResult(0),
               forall.getResult(1)};
  for (Value result : p.results) {
    arith::ExtFOp widening;
    FailureOr<bufferization::MaterializeInDestinationOp> store =
        getStore(forall, result, &widening);
    if (failed(store))
      return failure();
    p.stores.push_back(*store);
    p.widenings.push_back(widening);
  }
  return p;
}

BackwardOperands TiledBackwardProgram::getOperands() const {
  auto type = [](Value v) { return cast<RankedTensorType>(v.getType()); };
  BackwardStepOp s = step;
  BackwardOperands o;
  o.query = type(query);
  o.key = type(key);
  o.value = type(value);
  o.output = type(output);
  o.gradOutput = type(gradOutput);
  o.gradQuery = type(results[0]);
  o.gradKey = type(results[1]);
  o.gradValue = type(results[2]);
  o.layout = info.getLayout();
  o.scale = s.getScaleAttr().getValueAsDouble();
  o.softcap = s.getSoftcapValue();
  o.alibiSlopes = s.getAlibiSlopes();
  o.visibility = s.getKeyVisibility();
  if (bias)
    o.bias = type(bias);
  if (mask)
    o.mask = type(mask);
  o.withGradBias = static_cast<bool>(gradBiasStore);
  if (!s.getMaskMod().empty())
    o.maskMod = &s.getMaskMod();
  o.withScoreMod = !s.getScoreMod().empty();
  o.withKeyLengths = info.getKeyLengths().getValue();
  o.withSinks = static_cast<bool>(sinkGradient);
  o.withGradLse = static_cast<bool>(gradLse);
  o.varlen = static_cast<bool>(cuSeqlensQ);
  if (o.varlen)
    o.cuSeqlens = type(cuSeqlensQ);
  return o;
}

void TiledBackwardProgram::erase() {
  // What the program reads from above (host tensors, Delta, constants) may
  // die with it.
  SetVector<Value> captured;
  getUsedValuesDefinedAbove(forall.getRegion(), captured);
  SetVector<Operation *> worklist;
  for (Value v : captured)
    if (Operation *def = v.getDefiningOp())
      worklist.insert(def);
  SmallVector<Operation *> roots(stores.begin(), stores.end());
  for (arith::ExtFOp widening : widenings)
    if (widening)
      roots.push_back(widening);
  if (sinkGradient)
    roots.append({sinkStore, sinkGradient});
  if (gradBiasStore) {
    roots.push_back(gradBiasStore);
    roots.append(gradBiasChain.rbegin(), gradBiasChain.rend());
  }
  roots.append({dqRounding, accumulate, forall, delta});
  for (Operation *op : roots) {
    worklist.remove(op);
    for (Value operand : op->getOperands())
      if (Operation *def = operand.getDefiningOp())
        worklist.insert(def);
    op->erase();
  }
  while (!worklist.empty()) {
    Operation *op = worklist.pop_back_val();
    if (!isOpTriviallyDead(op))
      continue;
    for (Value operand : op->getOperands())
      if (Operation *def = operand.getDefiningOp())
        worklist.insert(def);
    op->erase();
  }
}
