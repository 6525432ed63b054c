//===- PlanBackward.cpp - attn-plan-gpu-backward --------------------------===//
//
// Part of attn-mlir. The first step of the backward's GPU path: checks an
// attn.attention_backward against what the GPU backward kernels support,
// resolves its schedule (tiles given or from the cost model, the dQ program
// and reduction, the main kernel's warp tiles) and records it on the op as
// #attn.backward_schedule, with the main kernel's #attn.kernel_info.
// attn-tile-backward tiles the op by that schedule and
// convert-attn-backward-to-nvvm reads it back from the tiled program.
//
//===----------------------------------------------------------------------===//

#include "BackwardKernel.h"
#include "BackwardProblem.h"
#include "KernelFamily.h"

#include "attn/Analysis/BackwardCost.h"
#include "attn/Analysis/TileConfig.h"
#include "attn/Conversion/AttnToNVVM/AttnToNVVM.h"
#include "attn/Conversion/Passes.h"
#include "attn/Dialect/Attn/IR/KernelInfo.h"

#include "mlir/Dialect/Bufferization/IR/Bufferization.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"

#define DEBUG_TYPE "attn-plan-gpu-backward"

namespace mlir::attn {
#define GEN_PASS_DEF_ATTNPLANGPUBACKWARD
#include "attn/Conversion/Passes.h.inc"
} // namespace mlir::attn

using namespace mlir;
using namespace mlir::attn;
using namespace mlir::attn::detail;

BackwardOperands
mlir::attn::detail::getBackwardOperands(AttentionBackwardOp op) {
  auto type = [](Value v) { return cast<RankedTensorType>(v.getType()); };
  BackwardOperands o;
  o.query = type(op.getQuery());
  o.key = type(op.getKey());
  o.value = type(op.getValue());
  o.output = type(op.getOutput());
  o.gradOutput = type(op.getGradOutput());
  o.gradQuery = type(op.getGradQuery());
  o.gradKey = type(op.getGradKey());
  o.gradValue = type(op.getGradValue());
  o.layout = op.getLayout();
  o.scale = op.getEffectiveScale();
  o.softcap = op.getSoftcapValue();
  o.alibiSlopes = op.getAlibiSlopes();
  o.visibility = op.getKeyVisibility();
  if (Value bias = op.getBias())
    o.bias = type(bias);
  if (Value mask = op.getMask())
    o.mask = type(mask);
  o.withGradBias = static_cast<bool>(op.getGradBias());
  if (!op.getMaskMod().empty())
    o.maskMod = &op.getMaskMod();
  o.withScoreMod = !op.getScoreMod().empty();
  o.withSinks = static_cast<bool>(op.getSinks());
  o.withKeyLengths = static_cast<bool>(op.getKeyLengths());
  o.withGradLse = static_cast<bool>(op.getGradLse());
  o.varlen = op.isVarlen();
  if (o.varlen)
    o.cuSeqlens = type(op.getCuSeqlensQ());
  return o;
}

/// The bias and mask operands as the kernels read them (the forward's
/// rule): [B, Hq, Lq, Lk] with size-1 extents broadcast, static, the bias
/// bf16, f16 or f32, the mask one byte per element.
static LogicalResult readBackwardScoreOperands(Operation *anchor,
                                               const BackwardOperands &o,
                                               KernelProblem &p) {
  if (o.bias) {
    Type elt = o.bias.getElementType();
    if (!elt.isBF16() && !elt.isF16() && !elt.isF32())
      return anchor->emitOpError("expected a bf16, f16 or f32 bias on the "
                                 "GPU backward, got ")
             << elt;
    p.biasShape = llvm::to_vector(o.bias.getShape());
    p.biasBytes = elt.getIntOrFloatBitWidth() / 8;
    p.biasIsBF16 = elt.isBF16();
  }
  if (o.mask)
    p.maskShape = llvm::to_vector(o.mask.getShape());
  for (RankedTensorType t : {o.bias, o.mask})
    if (t && !t.hasStaticShape())
      return anchor->emitOpError("expected static bias and mask shapes on "
                                 "the GPU backward, got ")
             << t;
  return success();
}

/// The varlen part of the problem (the verifier has checked packed bshd
/// operands of batch 1 and both offsets of one i32 [N + 1] type): the
/// kernels' grids count the sequences, so N is static.
static LogicalResult readVarlenBackward(Operation *anchor,
                                        const BackwardOperands &o,
                                        KernelProblem &p) {
  int64_t offsets = o.cuSeqlens.getDimSize(0);
  if (ShapedType::isDynamic(offsets) || offsets < 2)
    return anchor->emitOpError("expected static cu_seqlens of N + 1 >= 2 "
                               "entries on the GPU backward (its grids count "
                               "the sequences), got ")
           << o.cuSeqlens;
  p.varlen = true;
  p.numSequences = offsets - 1;
  return success();
}

FailureOr<KernelProblem>
mlir::attn::detail::getBackwardProblem(Operation *anchor,
                                       const BackwardOperands &o) {
  auto fail = [&](const Twine &msg) { return anchor->emitOpError(msg); };
  // mask_mod: cloned per recomputed score, as the forward's kernels do.
  if (o.maskMod &&
      failed(checkGpuModifierRegion(anchor, *o.maskMod, "mask_mod")))
    return failure();
  if (o.withScoreMod)
    return fail("expected no score_mod on the GPU backward (its derivative "
                "is not emitted yet)");
  Type elt = o.query.getElementType();
  if (!elt.isBF16() && !elt.isF16())
    return fail("expected bf16 or f16 inputs on the GPU backward, got ")
               << elt
               << (elt.isF32()
                       ? " (f32-compute=bf16 or f16 runs it on rounded "
                         "copies of Q, K, V, O and dO, as accurate as a "
                         "bf16 / f16 backward; f32-compute=refuse, the "
                         "default, does not round silently; or use the CPU "
                         "path)"
                       : ""),
           failure();
  for (RankedTensorType t : {o.key, o.value, o.output, o.gradOutput,
                             o.gradQuery, o.gradKey, o.gradValue})
    if (t.getElementType() != elt)
      return fail("expected every operand and gradient (but lse) of the "
                  "inputs' element type on the GPU backward, got ")
                 << t,
             failure();
  for (RankedTensorType t : {o.query, o.key, o.value, o.output, o.gradOutput,
                             o.gradQuery, o.gradKey, o.gradValue})
    if (!t.hasStaticShape())
      return fail("expected static shapes on the GPU backward, got ") << t,
             failure();
  // Every multiple of 16 in [32, 256], as the forward (the kernels step D
  // and Dv in k16 / n8 fragments); which pairs fit the main kernel's
  // registers is the schedule's rule (getBackwardBlockMLimit).
  int64_t headDim = o.query.getDimSize(3);
  int64_t valueHeadDim = o.value.getDimSize(3);
  for (auto [what, dim] : {std::pair<StringRef, int64_t>{"head dim", headDim},
                           {"value head dim", valueHeadDim}})
    if (dim % 16 != 0 || dim < 32 || dim > 256)
      return fail("expected a " + what +
                  " that is a multiple of 16 in [32, 256] on the GPU "
                  "backward, got " +
                  Twine(dim));

  // [B, H, L, D] or [B, L, H, D]; the strides say where rows lie
  // (getBackwardStrides).
  bool bhsd = o.layout == Layout::BHSD;
  int64_t headsDim = bhsd ? 1 : 2, seqDim = bhsd ? 2 : 1;
  KernelProblem p;
  p.layout = o.layout;
  p.batch = o.query.getDimSize(0);
  p.headsQ = o.query.getDimSize(headsDim);
  p.headsKV = o.key.getDimSize(headsDim);
  p.seqQ = o.query.getDimSize(seqDim);
  p.seqK = o.key.getDimSize(seqDim);
  p.headDim = headDim;
  p.valueHeadDim = valueHeadDim;
  p.isBF16 = elt.isBF16();
  p.withLse = true;
  p.withKeyLengths = o.withKeyLengths;
  p.withSinks = o.withSinks;
  p.withGradLse = o.withGradLse;
  p.maskMod = o.maskMod;
  p.scale = o.scale;
  p.softcap = o.softcap;
  if (o.alibiSlopes)
    llvm::append_range(p.alibiSlopes, o.alibiSlopes->take_front(p.headsQ));
  if (p.seqQ < 1 || p.seqK < 1)
    return fail("expected non-empty query and key sequences");
  // The convert kernel indexes 8-element chunks of dQ with i32; grid y is
  // B * Hq (preprocess) and B * Hkv (main).
  if (p.batch * p.headsQ * p.seqQ * headDim / 8 >= (int64_t(1) << 31))
    return fail("expected fewer than 2^31 8-element chunks of dQ");
  if (p.batch * p.headsQ > 65535)
    return fail("expected B * Hq <= 65535 (the grid's y extent)");
  if (failed(readBackwardScoreOperands(anchor, o, p)))
    return failure();
  p.withGradBias = o.withGradBias;
  // _bwd_dbias_zero and _bwd_dbias_convert index the bias' elements
  // with i32.
  if (p.withGradBias && backwardBiasElements(p) >= (int64_t(1) << 31))
    return fail("expected a bias of fewer than 2^31 elements for grad_bias "
                "on the GPU backward");
  p.visibility = o.visibility;
  ConstArith constants;
  p.diagOffset = p.visibility.diagonal(constants, p.seqQ, p.seqK);
  if (o.varlen && failed(readVarlenBackward(anchor, o, p)))
    return failure();
  return p;
}

LogicalResult mlir::attn::detail::getBackwardStrides(
    Operation *anchor, Layout layout, Value query, Value key, Value value,
    Value output, Value gradOutput, ValueRange gradients, KernelProblem &p) {
  if (failed(
          getProblemStrides(anchor, layout, query, key, value, output, p)))
    return failure();
  auto str = [](const OperandStrides &s) {
    return "[batch " + std::to_string(s.batch) + ", head " +
           std::to_string(s.head) + ", seq " + std::to_string(s.seq) + "]";
  };
  auto same = [&](const OperandStrides &s, StringRef what,
                  const OperandStrides &partner,
                  StringRef partnerName) -> LogicalResult {
    if (s == partner)
      return success();
    return anchor->emitOpError("expected ")
           << what << " with the strides of " << partnerName
           << " on the GPU backward (one stride record addresses both), got "
           << str(s) << " and " << str(partner);
  };
  // Where Dv != D the rows of O and V differ from Q's and K's: O and dO
  // share O's record, V and dV V's.
  bool oneWidth = p.headDim == p.valueHeadDim;
  if (oneWidth && (failed(same(p.output, "O", p.query, "Q")) ||
                   failed(same(p.value, "V", p.key, "K"))))
    return failure();
  OperandStrides *outputs = oneWidth ? &p.query : &p.output;
  OperandStrides *values = oneWidth ? &p.key : &p.value;
  StringRef outputsName = oneWidth ? "Q" : "O";
  StringRef valuesName = oneWidth ? "K" : "V";
  // The gradients' strides are their stores' memrefs' (getOperandStrides
  // finds the materialize_in_destination of each).
  for (auto [v, what, partner, partnerName] :
       {std::tuple<Value, StringRef, OperandStrides *, StringRef>{
            gradOutput, "dO", outputs, outputsName},
        {gradients[0], "dQ", &p.query, "Q"},
        {gradients[1], "dK", &p.key, "K"},
        {gradients[2], "dV", values, valuesName}}) {
    FailureOr<OperandStrides> s = getOperandStrides(anchor, v, layout, what);
    if (failed(s) || failed(same(*s, what, *partner, partnerName)))
      return failure();
  }
  return success();
}

std::optional<DQReduction>
mlir::attn::detail::parseDQReduction(StringRef name) {
  return llvm::StringSwitch<std::optional<DQReduction>>(name)
      .Case("atom", DQReduction::Atom)
      .Case("red-v2", DQReduction::RedV2)
      .Case("red-v4", DQReduction::RedV4)
      .Default(std::nullopt);
}

LogicalResult mlir::attn::detail::checkBackwardMemref(Operation *anchor,
                                                     MemRefType type,
                                                     bool allowStrided) {
  // Strided Q, K, V, O, dO and gradients (torch's x.transpose(1, 2)) are
  // addressed by their strides (getBackwardStrides); the LSE is read dense.
  if ((type.getLayout().isIdentity() ||
       (allowStrided && isa<StridedLayoutAttr>(type.getLayout()))) &&
      !type.getMemorySpace())
    return success();
  return anchor->emitOpError(allowStrided
                                 ? "expected identity-layout or strided "
                                   "memrefs in the default memory space, got "
                                 : "expected an identity-layout memref in the "
                                   "default memory space for the LSE and "
                                   "the score operands, got ")
         << type;
}

/// Whether `op` is in the destination-passing form the kernels take its
/// arguments from: operands read from identity-layout or strided memrefs
/// (the LSE dense), each gradient stored once into one.
static LogicalResult checkDestinationPassing(AttentionBackwardOp op) {
  auto checkMemref = [&](MemRefType type, bool allowStrided = true) {
    return checkBackwardMemref(op, type, allowStrided);
  };
  SmallVector<Value> inputs = {op.getQuery(),  op.getKey(),
                               op.getValue(),  op.getOutput(),
                               op.getGradOutput(), op.getLse()};
  for (Value operand :
       {op.getBias(), op.getMask(), op.getKeyLengths(), op.getSinks(),
        op.getCuSeqlensQ(), op.getCuSeqlensK(), op.getGradLse()})
    if (operand)
      inputs.push_back(operand);
  for (auto [i, operand] : llvm::enumerate(inputs)) {
    // f32-compute rounds Q, K, V, O and dO (attn-round-f32-inputs).
    Value tensor = operand;
    if (auto truncate = tensor.getDefiningOp<arith::TruncFOp>();
        truncate && i < 5)
      tensor = truncate.getIn();
    auto toTensor = tensor.getDefiningOp<bufferization::ToTensorOp>();
    if (!toTensor)
      return op.emitOpError("expected every operand to come from "
                            "bufferization.to_tensor of memrefs on the GPU "
                            "backward (destination-passing form)");
    // Q, K, V, O and dO may be strided; LSE and the score operands are
    // read dense.
    if (failed(checkMemref(cast<MemRefType>(toTensor.getBuffer().getType()),
                           i < 5)))
      return failure();
  }
  for (Value produced : op->getResults()) {
    // ... and widens dQ, dK and dV.
    Value result = produced;
    if (auto widening = result.hasOneUse()
                            ? dyn_cast<arith::ExtFOp>(*result.user_begin())
                            : arith::ExtFOp())
      result = widening.getOut();
    auto store =
        result.hasOneUse()
            ? dyn_cast<bufferization::MaterializeInDestinationOp>(
                  *result.user_begin())
            : bufferization::MaterializeInDestinationOp();
    if (!store || !isa<BaseMemRefType>(store.getDest().getType()))
      return op.emitOpError("expected every gradient to be stored once with "
                            "bufferization.materialize_in_destination into a "
                            "memref on the GPU backward");
    if (failed(checkMemref(cast<MemRefType>(store.getDest().getType()))))
      return failure();
  }
  return success();
}

/// The number NN of a chip name sm_NN or sm_NNa, or 0.
static int getChipVersion(StringRef chip) {
  int v = 0;
  if (!chip.consume_front("sm_"))
    return 0;
  chip.consume_back("a");
  return chip.getAsInteger(10, v) ? 0 : v;
}

/// Resolves dq-reduction for `chip` and `features` (vector red.global.add
/// of f32 needs sm_90 and PTX ISA 8.1); errors at `op`.
static FailureOr<DQReduction> resolveDQReduction(Operation *op,
                                                 StringRef name,
                                                 StringRef chip,
                                                 StringRef features) {
  bool vectorRed =
      getChipVersion(chip) >= 90 && getPtxFeatureVersion(features) >= 81;
  // red-v4: one 16-byte reduction per C fragment of the tiled dq_accum
  // (BackwardKernel.h; bench/NOTES.md, branch bwdperf).
  if (name == "auto")
    return vectorRed ? DQReduction::RedV4 : DQReduction::Atom;
  if (name == "atom")
    return DQReduction::Atom;
  if (name != "red-v2" && name != "red-v4")
    return op->emitOpError("expected dq-reduction auto, atom, red-v2 or "
                           "red-v4, got '")
           << name << "'";
  if (!vectorRed)
    return op->emitOpError("expected chip sm_90 or newer and +ptx81 or "
                           "newer for dq-reduction=")
           << name << " (red.global.add.v2/v4.f32), got chip '" << chip
           << "' and features '" << features << "'";
  return name == "red-v2" ? DQReduction::RedV2 : DQReduction::RedV4;
}

static StringRef getDQReductionName(DQReduction reduction) {
  switch (reduction) {
  case DQReduction::Atom:
    return "atom";
  case DQReduction::RedV2:
    return "red-v2";
  case DQReduction::RedV4:
    return "red-v4";
  }
  llvm_unreachable("unknown dQ reduction");
}

/// The cost model's figures of the backward `op` read into `p`.
static AttentionFigures getBackwardFigures(AttentionBackwardOp op,
                                           const KernelProblem &p) {
  AttentionFigures f;
  f.batch = p.batch;
  f.headsQ = p.headsQ;
  f.headsKV = p.headsKV;
  f.queryLength = p.seqQ;
  f.keyLength = p.seqK;
  f.headDim = p.headDim;
  f.valueHeadDim = p.valueHeadDim;
  f.elementKind = p.isBF16 ? ElementKind::BF16 : ElementKind::F16;
  f.elementBytes = f.outputElementBytes = 2;
  f.mask = {op.getMaskKind(), p.seqQ, p.seqK, 0, 0};
  if (op.getMaskKind() == MaskKind::SlidingWindow && op.getWindow()) {
    f.mask.windowLeft = (*op.getWindow())[0];
    f.mask.windowRight = (*op.getWindow())[1];
  }
  f.withLse = true;
  f.withSoftcap = p.softcap.has_value();
  f.withAlibi = !p.alibiSlopes.empty();
  return f;
}

/// The program's tiles: block-m, block-n and dq-block-m as given, those
/// left at 0 from the cost model of the GPU `tileModel` names (auto: the
/// GPU of `chip`; empty: the fixed 64). Errors at `op`.
static FailureOr<BackwardTiles>
resolveBackwardTiles(AttentionBackwardOp op, const KernelProblem &p,
                     int64_t blockM, int64_t blockN, int64_t dqBlockM,
                     StringRef tileModel, StringRef chip, bool deterministic,
                     DQReduction reduction, bool squareWarpTiles,
                     int64_t dqWarpRows) {
  if (dqWarpRows != 0 && dqWarpRows != 16 && dqWarpRows != 32)
    return op.emitOpError("expected dq-warp-rows 0 (auto), 16 or 32, got ")
           << dqWarpRows;
  // block-m 32: the main kernel's register rule's last step
  // (getBackwardBlockMLimit).
  if (blockM != 0 && blockM != 32 && blockM != 64 && blockM != 128)
    return op.emitOpError(
               "expected block-m 0 (the tile model's), 32, 64 or 128, got ")
           << blockM;
  for (auto [name, v] : {std::pair<StringRef, int64_t>{"block-n", blockN},
                         {"dq-block-m", dqBlockM}})
    if (v != 0 && v != 64 && v != 128)
      return op.emitOpError("expected ")
             << name << " 0 (the tile model's), 64 or 128, got " << v;
  int64_t blockMLimit = getBackwardBlockMLimit(p.headDim, p.valueHeadDim);
  if (!blockMLimit)
    return op.emitOpError("expected D + Dv small enough for the GPU "
                          "backward's registers: the main kernel keeps dK "
                          "and dV of 16 keys per warp, (D + Dv) / 2 = ")
           << (p.headDim + p.valueHeadDim) / 2 << " f32 per thread, ~"
           << estimateBackwardMainRegisters(32, p.headDim, p.valueHeadDim)
           << " registers with 32-query steps > 255 (D = " << p.headDim
           << ", Dv = " << p.valueHeadDim << ")";
  BackwardTiles tiles;
  // Register-bound pairs (D + Dv > 286 at block-m 64) take 32-query steps.
  tiles.blockM = std::min(tiles.blockM, blockMLimit);
  // Measured on the H200: the deterministic main kernel (no dQ) is faster
  // with 16 keys per warp (bench/NOTES.md, branch bwdfast). Square warp
  // tiles split D in halves of 16-byte chunk pairs for D = Dv = 64, 128.
  bool squareHeads = p.headDim == p.valueHeadDim &&
                     (p.headDim == 64 || p.headDim == 128);
  tiles.squareWarpTiles = squareWarpTiles && !deterministic && squareHeads;
  bool modelled = !tileModel.empty() &&
                  (!blockM || !blockN || (deterministic && !dqBlockM));
  if (modelled) {
    const GpuSpec *gpu =
        tileModel == "auto" ? lookupGpuForChip(chip) : lookupGpu(tileModel);
    if (!gpu && tileModel == "auto")
      return op.emitOpError("expected tile-model=auto to know a GPU of chip '")
             << chip << "' (" << listKnownGpus()
             << "); name one with tile-model=<gpu>";
    if (!gpu)
      return op.emitOpError("expected tile-model to name a known GPU (")
             << listKnownGpus() << ", or auto), got '" << tileModel << "'";
    int64_t width = reduction == DQReduction::RedV4   ? 4
                    : reduction == DQReduction::RedV2 ? 2
                                                      : 1;
    BackwardTileChoice choice = chooseBackwardTileConfig(
        getBackwardFigures(op, p), *gpu, deterministic, width,
        tiles.squareWarpTiles);
    tiles.blockM = choice.blockM;
    tiles.blockN = choice.blockN;
    tiles.dqBlockM = choice.dqBlockM;
    // auto is silent (the choice is in the kernel info and manifests);
    // naming a GPU asks to see why.
    if (tileModel != "auto")
      op.emitRemark() << "attn-plan-gpu-backward: tiles from the cost "
                         "model: "
                      << choice.reason;
  }
  // Given tiles win over the model's.
  if (blockM)
    tiles.blockM = blockM;
  if (blockN)
    tiles.blockN = blockN;
  if (dqBlockM)
    tiles.dqBlockM = dqBlockM;
  if (tiles.blockM > tiles.blockN)
    return op.emitOpError("expected block-m <= block-n (the main kernel's "
                          "dQ gives each warp 16 query rows), got block-m ")
           << tiles.blockM << " and block-n " << tiles.blockN;
  // 32-row dQ tiles measured faster (H200) where they turn 8 row groups of
  // all of D into 4 x 2 halves (square tiles at block-m 128), not where
  // they turn 4 x 2 into 2 x 4 (block-m 64).
  if (!dqWarpRows)
    dqWarpRows = tiles.square() && tiles.blockM == 128 ? 32 : 16;
  tiles.dqWarpRows = dqWarpRows;
  if (tiles.blockM < 64 && tiles.square())
    return op.emitOpError("expected block-m 64 or 128 with square warp "
                          "tiles, got ")
           << tiles.blockM;
  // dQ = dS K: each warp's column part is whole k16 pairs of D.
  int64_t parts = tiles.dqColumnParts();
  if ((p.headDim / 16) % parts != 0)
    return op.emitOpError("expected D / 16 = ")
           << p.headDim / 16 << " to split over the main kernel's " << parts
           << " dQ column parts (block-n / 16 warps over block-m / "
              "dq-warp-rows row groups); take block-n 64 or block-m 128";
  return tiles;
}

LogicalResult mlir::attn::detail::checkGradBiasMode(Operation *anchor,
                                                    const KernelProblem &p,
                                                    bool deterministic) {
  if (!deterministic || !backwardGradBiasAtomic(p))
    return success();
  std::string shape;
  for (int64_t extent : p.biasShape)
    shape += (shape.empty() ? "" : "x") + std::to_string(extent);
  return anchor->emitOpError(
      "expected a bias of the full [B, Hq, Lq, Lk] shape for grad_bias in "
      "the deterministic backward (a broadcast bias' gradient is summed "
      "with atomics), got " +
      shape);
}

/// What the hopper backward (BackwardHopper.cpp) needs that `p` does not
/// have, as the end of an "expected ..." sentence; empty where it takes `p`.
static std::string getHopperBackwardGap(const KernelProblem &p, StringRef chip,
                                        bool deterministic) {
  if (chip != "sm_90a")
    return ("chip sm_90a (wgmma), got '" + chip + "'").str();
  if (deterministic)
    return "the atomic dQ program (deterministic=false)";
  if (p.headDim != p.valueHeadDim || (p.headDim != 64 && p.headDim != 128))
    return "D = Dv = 64 or 128 (128B-swizzled 64-column panels), got D = " +
           std::to_string(p.headDim) +
           ", Dv = " + std::to_string(p.valueHeadDim);
  // Softcap, ALiBi, the window, key_lengths, the sinks, the bias, bool mask
  // and mask_mod and d_bias take the mma.sync frame's score code
  // (finishTransposedScores, emitScoreGradients, emitBiasGradient), which
  // the hopper step shares.
  return "";
}

/// kernel=auto: whether the hopper main kernel is chosen for `p`, which it
/// supports. Measured on an H200 (2026-12-02, one call, bench/NOTES.md):
/// 1.18-1.35x the mma.sync backward (A/B on the same inputs) on all 14
/// prefill shapes (D = 64, 128, L = 1k to 16k, causal and not, GQA 32/8),
/// every check against float64 passing; with ALiBi + softcap 1.31x, with a
/// window 1.24x (session 12): everywhere it applies.
static bool useHopperBackward(const KernelProblem &) { return true; }

/// Whether the main kernel is the hopper one: kernel=hopper (an error
/// names what `p` lacks for it), mma-sync, or auto (silently mma-sync
/// where hopper does not apply).
static FailureOr<bool>
resolveBackwardKernel(AttentionBackwardOp op, const KernelProblem &p,
                      const AttnPlanGpuBackwardOptions &options) {
  const std::string &kernel = options.kernel;
  if (kernel != "auto" && kernel != "mma-sync" && kernel != "hopper")
    return op.emitOpError("expected kernel auto, mma-sync or hopper, got '")
           << kernel << "'";
  if (kernel == "mma-sync")
    return false;
  std::string gap =
      getHopperBackwardGap(p, options.chip, options.deterministic);
  if (kernel == "hopper" && !gap.empty())
    return op.emitOpError("expected ") << gap << " for kernel=hopper";
  return gap.empty() && (kernel == "hopper" || useHopperBackward(p));
}

/// The hopper main kernel's tiles: 128 keys per CTA (two warpgroups of 64
/// keys, the wgmma M of S^T = K Q^T), 64-row Q blocks (the N of S^T, the K
/// of dV += P^T dO), dQ as 4 row groups x 2 column halves (one per
/// warpgroup). Given tiles must be these.
static FailureOr<BackwardTiles>
resolveHopperBackwardTiles(AttentionBackwardOp op,
                           const AttnPlanGpuBackwardOptions &options) {
  BackwardTiles tiles;
  tiles.hopper = true;
  tiles.blockM = 64;
  tiles.blockN = 128;
  tiles.squareWarpTiles = false;
  tiles.dqWarpRows = 16;
  if ((options.blockM && options.blockM != tiles.blockM) ||
      (options.blockN && options.blockN != tiles.blockN))
    return op.emitOpError("expected block-m 0 or 64 and block-n 0 or 128 "
                          "with kernel=hopper, got block-m ")
           << options.blockM << " and block-n " << options.blockN;
  if (options.dqWarpRows && options.dqWarpRows != 16)
    return op.emitOpError("expected dq-warp-rows 0 or 16 with kernel=hopper, "
                          "got ")
           << options.dqWarpRows;
  return tiles;
}

/// The schedule of `op` under `options`, every choice resolved.
static FailureOr<BackwardScheduleAttr>
resolveBackwardSchedule(AttentionBackwardOp op, const KernelProblem &p,
                        const AttnPlanGpuBackwardOptions &options) {
  if (failed(checkGradBiasMode(op, p, options.deterministic)))
    return failure();
  FailureOr<DQReduction> reduction = resolveDQReduction(
      op, options.dqReduction, options.chip, options.ptxFeatures);
  if (failed(reduction))
    return failure();
  FailureOr<bool> hopper = resolveBackwardKernel(op, p, options);
  if (failed(hopper))
    return failure();
  FailureOr<BackwardTiles> tiles =
      *hopper ? resolveHopperBackwardTiles(op, options)
              : resolveBackwardTiles(
                    op, p, options.blockM, options.blockN, options.dqBlockM,
                    options.tileModel, options.chip, options.deterministic,
                    *reduction, options.squareWarpTiles, options.dqWarpRows);
  if (failed(tiles))
    return failure();
  return BackwardScheduleAttr::get(
      op.getContext(), tiles->blockM, tiles->blockN, options.deterministic,
      tiles->dqBlockM, getDQReductionName(*reduction), options.rotateQBlocks,
      tiles->squareWarpTiles, tiles->dqWarpRows, tiles->hopper);
}

FailureOr<BackwardSchedule> mlir::attn::planBackwardSchedule(
    AttentionBackwardOp op, const AttnPlanGpuBackwardOptions &options) {
  FailureOr<KernelProblem> problem =
      getBackwardProblem(op, getBackwardOperands(op));
  if (failed(problem))
    return failure();
  FailureOr<BackwardScheduleAttr> schedule =
      resolveBackwardSchedule(op, *problem, options);
  if (failed(schedule))
    return failure();
  BackwardSchedule result;
  result.blockM = schedule->getBlockM();
  result.blockN = schedule->getBlockN();
  result.deterministic = schedule->getDeterministic();
  return result;
}

BackwardTiles
mlir::attn::detail::getBackwardTiles(BackwardScheduleAttr schedule) {
  BackwardTiles tiles;
  tiles.blockM = schedule.getBlockM();
  tiles.blockN = schedule.getBlockN();
  tiles.dqBlockM = schedule.getDqBlockM();
  tiles.dqWarpRows = schedule.getDqWarpRows();
  tiles.squareWarpTiles = schedule.getSquareWarpTiles();
  tiles.hopper = schedule.getHopper();
  return tiles;
}

namespace {

struct AttnPlanGpuBackwardPass
    : public mlir::attn::impl::AttnPlanGpuBackwardBase<
          AttnPlanGpuBackwardPass> {
  using Base::Base;

  AttnPlanGpuBackwardOptions getOptions() const {
    AttnPlanGpuBackwardOptions o;
    o.deterministic = deterministic;
    o.dqReduction = dqReduction;
    o.rotateQBlocks = rotateQBlocks;
    o.squareWarpTiles = squareWarpTiles;
    o.dqWarpRows = dqWarpRows;
    o.chip = chip;
    o.ptxFeatures = ptxFeatures;
    o.blockM = blockM;
    o.blockN = blockN;
    o.dqBlockM = dqBlockM;
    o.tileModel = tileModel;
    o.kernel = kernel;
    return o;
  }

  void runOnOperation() override {
    AttnPlanGpuBackwardOptions options = getOptions();
    WalkResult result = getOperation().walk([&](AttentionBackwardOp op) {
      return failed(plan(op, options)) ? WalkResult::interrupt()
                                       : WalkResult::advance();
    });
    if (result.wasInterrupted())
      signalPassFailure();
  }

  /// The schedule and the main kernel's planned info of `op`, recorded on
  /// it.
  static LogicalResult plan(AttentionBackwardOp op,
                            const AttnPlanGpuBackwardOptions &options) {
    FailureOr<KernelProblem> problem =
        getBackwardProblem(op, getBackwardOperands(op));
    if (failed(problem) || failed(checkDestinationPassing(op)) ||
        failed(getBackwardStrides(op, op.getLayout(), op.getQuery(),
                                  op.getKey(), op.getValue(), op.getOutput(),
                                  op.getGradOutput(), op->getResults(),
                                  *problem)))
      return failure();
    FailureOr<BackwardScheduleAttr> schedule =
        resolveBackwardSchedule(op, *problem, options);
    if (failed(schedule))
      return failure();
    BackwardTiles tiles = getBackwardTiles(*schedule);
    KernelLaunchDesc desc;
    desc.family = tiles.hopper ? "hopper-backward" : "backward";
    desc.gridFormula = kBackwardMainGridFormula;
    desc.sharedMemoryBytes = backwardMainSharedBytes(*problem, tiles);
    desc.blockM = tiles.blockM;
    desc.blockN = tiles.blockN;
    desc.numWarps = tiles.mainWarps();
    FailureOr<KernelInfoAttr> info = buildKernelInfo(op, desc);
    if (failed(info))
      return failure();
    op->setAttr(BackwardScheduleAttr::getAttributeName(), *schedule);
    op->setAttr(KernelInfoAttr::getAttributeName(), *info);
    return success();
  }
};

} // namespace

LogicalResult mlir::attn::parseAttnPlanGpuBackwardOptions(
    StringRef text, AttnPlanGpuBackwardOptions &options,
    function_ref<LogicalResult(const Twine &)> errorHandler) {
  AttnPlanGpuBackwardPass pass;
  if (failed(pass.initializeOptions(text, errorHandler)))
    return failure();
  options = pass.getOptions();
  return success();
}
