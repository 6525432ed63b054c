//===- VarlenProgram.cpp - varlen batches on the GPU path -----------------===//
//
// Part of attn-mlir. A varlen attn.attention (cu_seqlens_q / cu_seqlens_k
// over packed [1, T, H, D] operands) runs as one kernel for every batch
// composition. attn-tile cuts it into (sequence, head, query block)
// programs, each reading its sequence's rows and lengths through
// buildVarlenSequence (Varlen.h, the definition the CPU loop uses too);
// TiledProgram reads those coordinates back. What is particular to the
// kernel lives here: the problem's checks and strides, the launch (one
// flattened x over the sequences' query blocks, so that no CTA count
// depends on the longest sequence), the N + 1 length, and the search that
// maps a CTA to its program.
//
// Sequence n's first CTA is floor(cu_q[n] / block_m) + n. That is
// monotone in n, and sequence n's ceil(lq_n / block_m) blocks end at or
// before sequence n + 1's first CTA (floor(a / m) + ceil((b - a) / m) <=
// floor(b / m) + 1), so ceil(T / block_m) + N CTAs cover every block of
// every sequence, at most N + 1 of them idle.
//
//===----------------------------------------------------------------------===//

#include "KernelFamily.h"

#include "attn/Dialect/Attn/IR/KeyVisibility.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "llvm/Support/MathExtras.h"

using namespace mlir;
using namespace mlir::attn;
using namespace mlir::attn::detail;

LogicalResult mlir::attn::detail::getVarlenStrides(Operation *anchor,
                                                   Value query, Value key,
                                                   Value value, Value output,
                                                   KernelProblem &p) {
  p.layout = Layout::BSHD;
  for (auto [tensor, strides, what] :
       {std::tuple<Value, OperandStrides *, StringRef>{query, &p.query, "Q"},
        {key, &p.key, "K"},
        {value, &p.value, "V"},
        {output, &p.output, "O"}}) {
    auto type = cast<ShapedType>(tensor.getType());
    if (type.hasStaticShape()) {
      FailureOr<OperandStrides> s =
          getOperandStrides(anchor, tensor, Layout::BSHD, what);
      if (failed(s))
        return failure();
      *strides = *s;
      continue;
    }
    // A runtime T: dense packed rows of H heads; the batch (always 0) has
    // no stride the kernel uses.
    int64_t heads = type.getDimSize(2), width = type.getDimSize(3);
    *strides = {ShapedType::kDynamic, width, heads * width};
  }
  return success();
}

/// The varlen problem over per-sequence caches: packed Q and O with static
/// totals (the split workspaces are sized by the programs, which the
/// totals count), static [N, Lk, Hkv, D] caches or bshd views of them.
static LogicalResult getVarlenCacheProblem(AttentionOp op, KernelProblem &p) {
  for (RankedTensorType type : {op.getQueryType(), op.getOutputType()})
    if (type.getRank() != 4 || type.getDimSize(0) != 1 ||
        !type.hasStaticShape())
      return op.emitOpError("expected packed [1, T, H, D] queries and "
                            "outputs of static shape for varlen queries over "
                            "caches on the GPU path (runtime totals are not "
                            "implemented: the split workspaces are sized by "
                            "them), got ")
             << type;
  for (RankedTensorType type : {op.getKeyType(), op.getValueType()})
    if (!type.hasStaticShape())
      return op.emitOpError("expected static [N, Lk, Hkv, D] caches for "
                            "varlen queries over caches on the GPU path, got ")
             << type;
  int64_t offsets = cast<RankedTensorType>(op.getCuSeqlensQ().getType())
                        .getDimSize(0);
  if (ShapedType::isDynamic(offsets) || offsets < 2)
    return op.emitOpError("expected a static cu_seqlens_q of N + 1 >= 2 "
                          "entries for varlen queries over caches on the GPU "
                          "path, got ")
           << op.getCuSeqlensQ().getType();
  for (Value v : {op.getCuSeqlensQ(), op.getKeyLengths()})
    if (!cast<RankedTensorType>(v.getType()).getElementType().isInteger(32))
      return op.emitOpError("expected i32 cu_seqlens_q and key_lengths on "
                            "the GPU path, got ")
             << v.getType();
  p.varlen = true;
  p.varlenCache = true;
  p.numSequences = offsets - 1;
  p.batch = 1;
  return getVarlenStrides(op, op.getQuery(), op.getKey(), op.getValue(),
                          op.getOutput(), p);
}

LogicalResult mlir::attn::detail::getVarlenProblem(AttentionOp op,
                                                   KernelProblem &p) {
  if (op.isVarlenCache())
    return getVarlenCacheProblem(op, p);
  for (RankedTensorType type : {op.getQueryType(), op.getKeyType(),
                                op.getValueType(), op.getOutputType()})
    if (type.getRank() != 4 || type.getDimSize(0) != 1 ||
        type.isDynamicDim(2) || type.isDynamicDim(3))
      return op.emitOpError("expected packed [1, T, H, D] operands with "
                            "static heads and head dims for a varlen "
                            "attention on the GPU path (T may be dynamic), "
                            "got ")
             << type;
  if (op.getKeyType().isDynamicDim(1) != op.getValueType().isDynamicDim(1) ||
      op.getQueryType().isDynamicDim(1) != op.getOutputType().isDynamicDim(1))
    return op.emitOpError("expected the packed keys dynamic in K and V alike "
                          "and the packed queries in Q and O alike on the GPU "
                          "path");
  if (p.keyView)
    return op.emitOpError("expected plain K and V tensors with cu_seqlens on "
                          "the GPU path (varlen over KV cache views is not "
                          "implemented)");
  // ALiBi needs nothing more: the prefill kernel's distance i + Lk - Lq - j
  // takes the sequence's lengths (emitSequenceBounds) and its rows and keys
  // count from the sequence's first.
  int64_t offsets = cast<RankedTensorType>(op.getCuSeqlensQ().getType())
                        .getDimSize(0);
  if (offsets == 1)
    return op.emitOpError("expected at least one sequence (cu_seqlens of "
                          "N + 1 >= 2 entries) on the GPU path");
  p.varlen = true;
  p.numSequences =
      ShapedType::isDynamic(offsets) ? ShapedType::kDynamic : offsets - 1;
  for (Value cu : {op.getCuSeqlensQ(), op.getCuSeqlensK()})
    if (!cast<RankedTensorType>(cu.getType()).getElementType().isInteger(32))
      return op.emitOpError("expected i32 cu_seqlens on the GPU path, got ")
             << cu.getType();
  return getVarlenStrides(op, op.getQuery(), op.getKey(), op.getValue(),
                          op.getOutput(), p);
}

LogicalResult mlir::attn::detail::supportsVarlen(Operation *op,
                                                 const KernelProblem &p,
                                                 StringRef kind) {
  if (p.varlenCache && kind != "decode")
    return op->emitOpError("expected the decode family for varlen queries "
                           "over per-sequence caches (cu_seqlens_q with "
                           "key_lengths): the ")
           << kind
           << " family reads packed keys only (kernel=auto picks decode)";
  if (!p.varlen || p.varlenCache || kind == "prefill")
    return success();
  return op->emitOpError("expected the prefill family for a varlen attention "
                         "(cu_seqlens): the ")
         << kind
         << " family does not read per-sequence offsets yet (kernel=auto "
            "picks prefill)";
}

LaunchPlan mlir::attn::detail::varlenQueryBlockLaunch(
    MLIRContext *ctx, StringRef family, const KernelProblem &problem,
    int64_t blockM, int64_t blockN, int64_t threads) {
  LaunchPlan plan;
  int64_t n = problem.numSequences;
  bool dynamicN = ShapedType::isDynamic(n);
  plan.threads = threads;
  plan.desc.family = family;
  plan.desc.blockM = blockM;
  plan.desc.blockN = blockN;
  plan.tileM = blockM;
  plan.tileN = blockN;
  // N is the runtime N1 - 1 where the offsets' extent is dynamic.
  std::string formula = "[ceil(Lq / block_m) + " +
                        (dynamicN ? std::string("N1 - 1") : std::to_string(n)) +
                        ", Hq, 1]";
  plan.desc.gridFormula = StringAttr::get(ctx, formula).getValue();
  plan.grid = {ShapedType::kDynamic, problem.headsQ, 1};
  if (problem.dynamicSeqQ)
    plan.runtimeGrid[0] = LaunchPlan::RuntimeExtent{
        "Lq", blockM, 1, dynamicN ? "N1" : "", dynamicN ? -1 : n};
  else if (dynamicN)
    plan.runtimeGrid[0] = LaunchPlan::RuntimeExtent{
        "N1", 1, 1, "",
        static_cast<int64_t>(llvm::divideCeil(problem.seqQ, blockM)) - 1};
  else
    plan.grid[0] = llvm::divideCeil(problem.seqQ, blockM) + n;
  return plan;
}

void mlir::attn::detail::addVarlenLengthArguments(const TiledProgram &program,
                                                  const KernelProblem &problem,
                                                  KernelArgumentList &list,
                                                  AttentionArguments &args) {
  if (!ShapedType::isDynamic(problem.numSequences))
    return;
  scf::ForallOp forall = program.forall;
  OpBuilder b(forall);
  Location loc = forall.getLoc();
  Value extent = memref::DimOp::create(b, loc, list.values[*args.cuSeqlensQ],
                                       0);
  args.numOffsets =
      list.add(arith::IndexCastOp::create(b, loc, b.getI32Type(), extent),
               "N1", ArgumentRole::Length, /*dedupe=*/false);
  for (std::optional<int64_t> cu : {args.cuSeqlensQ, args.cuSeqlensK})
    if (cu)
      list.dimSymbols[*cu] = {"N1"};
}

std::pair<Value, Value>
mlir::attn::detail::searchVarlenBlock(ImplicitLocOpBuilder &b, Value offsets,
                                      Value total, Value numSequences,
                                      int64_t blockRows, Value x) {
  Type i32 = b.getI32Type(), index = b.getIndexType();
  IntArith a(b, b.getLoc(), i32);
  auto toIndex = [&](Value v) -> Value {
    return arith::IndexCastUIOp::create(b, index, v);
  };
  // The first CTA of sequence n, from cu[n] clamped to [0, T] as
  // buildVarlenSequence clamps it.
  auto firstBlock = [&](Value n) {
    Value cu = memref::LoadOp::create(b, offsets, ValueRange{toIndex(n)});
    Value start = a.min(a.max(cu, a.c(0)), total);
    return a.add(arith::DivUIOp::create(b, start, a.c(blockRows)), n);
  };
  // The last n in [0, N) whose first CTA is at or before x: lo's first CTA
  // stays <= x, hi's > x (or hi = N).
  Value one = a.c(1);
  auto search = scf::WhileOp::create(
      b, TypeRange{i32, i32}, ValueRange{a.c(0), numSequences},
      [&](OpBuilder &nb, Location loc, ValueRange range) {
        Value wide = arith::CmpIOp::create(nb, loc, arith::CmpIPredicate::sgt,
                                           arith::SubIOp::create(
                                               nb, loc, range[1], range[0]),
                                           one);
        scf::ConditionOp::create(nb, loc, wide, range);
      },
      [&](OpBuilder &nb, Location loc, ValueRange range) {
        OpBuilder::InsertionGuard guard(b);
        b.setInsertionPoint(nb.getInsertionBlock(), nb.getInsertionPoint());
        Value mid =
            arith::ShRUIOp::create(b, a.add(range[0], range[1]), one);
        Value atOrBefore = arith::CmpIOp::create(
            b, arith::CmpIPredicate::sle, firstBlock(mid), x);
        scf::YieldOp::create(
            b, ValueRange{arith::SelectOp::create(b, atOrBefore, mid, range[0]),
                          arith::SelectOp::create(b, atOrBefore, range[1],
                                                  mid)});
      });
  Value n = search.getResult(0);
  Value block = a.sub(x, firstBlock(n));
  return {n, block};
}

/// The sequence n of flattened query block `x` and the query block within
/// it (all i32), over cu_seqlens_q and the packed query total.
static std::pair<Value, Value>
searchVarlenSequence(ImplicitLocOpBuilder &b, const KernelProblem &p,
                     int64_t blockM, Value x, const RuntimeLengths &lengths) {
  IntArith a(b, b.getLoc(), b.getI32Type());
  Value total = lengths.seqQ ? lengths.seqQ : a.c(p.seqQ);
  Value numSequences =
      lengths.numOffsets ? a.add(lengths.numOffsets, -1) : a.c(p.numSequences);
  return searchVarlenBlock(b, lengths.cuSeqlensQ, total, numSequences, blockM,
                           x);
}

static Value toIndex(ImplicitLocOpBuilder &b, Value v) {
  return arith::IndexCastUIOp::create(b, b.getIndexType(), v);
}

FailureOr<ProgramCoordinates> mlir::attn::detail::emitVarlenQueryBlockProgram(
    ImplicitLocOpBuilder &b, const KernelProblem &p,
    const TiledProgram &program, int64_t blockM,
    const RuntimeLengths &lengths) {
  Value x = arith::IndexCastUIOp::create(
      b, b.getI32Type(), gpu::BlockIdOp::create(b, gpu::Dimension::x));
  auto [n, block] = searchVarlenSequence(b, p, blockM, x, lengths);
  Value head = gpu::BlockIdOp::create(b, gpu::Dimension::y);
  Value seq = toIndex(b, n);
  return program.emitCoordinates(b, {seq, head, toIndex(b, block)}, Value(),
                                 lengths);
}

FailureOr<ProgramCoordinates> mlir::attn::detail::emitVarlenFlatProgram(
    ImplicitLocOpBuilder &b, const KernelProblem &p,
    const TiledProgram &program, int64_t blockM, Value flat, Value group,
    Value split, Value keyLengths, const RuntimeLengths &lengths) {
  auto [n, block] = searchVarlenSequence(b, p, blockM, flat, lengths);
  Value seq = toIndex(b, n);
  SmallVector<Value> ivs = {seq, group, toIndex(b, block)};
  if (split)
    ivs.push_back(split);
  return program.emitCoordinates(b, ivs, keyLengths, lengths);
}
