//===- BackwardCost.cpp - FLOPs and bytes of the attention backward -------===//
//
// Part of attn-mlir. The tile counts and K/V rows come from the forward's
// cost under the backward kernels' schedule (64 x 64, no GQA packing): the
// main kernel's (KV block, Q block) pairs are the forward's (Q block, KV
// block) pairs the mask leaves visited, from the same mask-geometry helper.
//
//===----------------------------------------------------------------------===//

#include "attn/Analysis/BackwardCost.h"

#include "llvm/Support/FormatVariadic.h"

using namespace mlir;
using namespace mlir::attn;

static std::optional<int64_t> elementBytesOf(Type type) {
  auto shaped = dyn_cast<ShapedType>(type);
  if (!shaped)
    return std::nullopt;
  std::optional<ElementKind> kind = getElementKind(shaped.getElementType());
  if (!kind)
    return std::nullopt;
  return getElementByteSize(*kind);
}

FailureOr<BackwardFigures>
mlir::attn::getBackwardFigures(AttentionBackwardOp op) {
  for (Value v : op->getOperands())
    if (!cast<ShapedType>(v.getType()).hasStaticShape() ||
        !elementBytesOf(v.getType()))
      return op.emitOpError()
             << "expected statically shaped operands of f32, f16, bf16, i1 "
                "or i32 for the cost model";
  std::optional<ElementKind> kind =
      getElementKind(op.getQueryType().getElementType());
  std::optional<int64_t> dq = elementBytesOf(op.getGradQuery().getType());
  std::optional<int64_t> dk = elementBytesOf(op.getGradKey().getType());
  if (!kind || !dq || !dk ||
      !cast<ShapedType>(op.getGradQuery().getType()).hasStaticShape())
    return op.emitOpError() << "expected statically shaped gradients of f32, "
                               "f16 or bf16 for the cost model";
  BackwardFigures b;
  AttentionFigures &f = b.attention;
  readProblemFigures(op, f);
  f.elementKind = *kind;
  f.elementBytes = getElementByteSize(*kind);
  f.outputElementBytes = *elementBytesOf(op.getOutput().getType());
  f.withLse = true;
  f.withAlibi = op.getAlibiSlopes().has_value();
  b.gradOutputElementBytes = *elementBytesOf(op.getGradOutput().getType());
  b.gradQueryElementBytes = *dq;
  b.gradKVElementBytes = *dk;
  return b;
}

int64_t BackwardCost::bytesRead() const {
  int64_t n = 0;
  for (const BackwardKernelCost &k : kernels)
    n += k.bytesRead;
  return n;
}

int64_t BackwardCost::bytesWritten() const {
  int64_t n = 0;
  for (const BackwardKernelCost &k : kernels)
    n += k.bytesWritten;
  return n;
}

namespace {
/// Per (row, key) pair of a visited tile, for one kernel.
struct PairWork {
  /// GEMM FLOPs: 2 per multiply-add of each GEMM the kernel runs.
  double gemm = 0;
  /// The exponential of P (two with a softcap's tanh), and the elementwise
  /// arithmetic besides it.
  double exp = 0, elementwise = 0;
};
} // namespace

/// The score chain's work per pair, recomputed in the main and dQ kernels:
/// scale, - lse, dP - Delta, x P (4); a softcap's divide and multiply and
/// its derivative 1 - t^2 and product (4); ALiBi's distance, abs, fma (3).
static PairWork scoreWork(const AttentionFigures &f, double gemm) {
  PairWork w;
  w.gemm = gemm;
  w.exp = f.withSoftcap ? 2 : 1;
  w.elementwise = 4 + (f.withSoftcap ? 4 : 0) + (f.withAlibi ? 3 : 0);
  return w;
}

FailureOr<BackwardCost>
mlir::attn::computeBackwardCost(const BackwardFigures &b,
                                const BackwardSchedule &s) {
  const AttentionFigures &f = b.attention;
  // The forward's tile walk under the kernels' schedule: every query head
  // its own rows (the main kernel loops over a group's heads), masked
  // tiles skipped.
  ScheduleConfig forward;
  forward.blockM = s.blockM;
  forward.blockN = s.blockN;
  forward.packGqa = false;
  forward.skipMaskedBlocks = true;
  FailureOr<AttentionCost> fc = computeAttentionCost(f, forward);
  if (failed(fc))
    return failure();
  BackwardCost c;
  c.tilesVisited = fc->tilesVisited;
  c.tilesDense = fc->tilesDense;
  c.forwardDenseGemmFlops = fc->denseGemmFlops;
  double d = double(f.headDim), dv = double(f.valueHeadDim);
  double forwardPerPair = 2 * (d + dv);
  double densePairs = fc->denseGemmFlops / forwardPerPair;
  double visiblePairs = fc->visibleGemmFlops / forwardPerPair;
  double executedPairs = double(c.tilesVisited) * s.blockM * s.blockN;
  // GEMMs per pair: S = Q K^T (D), dP = dO V^T (Dv), dV += P^T dO (Dv),
  // dK += dS^T Q (D), dQ += dS K (D).
  double flashPerPair = 2 * (3 * d + 2 * dv);
  c.denseGemmFlops = flashPerPair * densePairs;
  c.visibleGemmFlops = flashPerPair * visiblePairs;

  int64_t rowsQ = f.batch * f.headsQ * f.queryLength;
  int64_t e = f.elementBytes;
  BackwardTensorBytes &t = c.tensors;
  t.query = rowsQ * f.headDim * e;
  // K and V: the rows some visited tile covers, as the forward reads them.
  t.key = fc->bytes.key;
  t.value = fc->bytes.value;
  t.output = rowsQ * f.valueHeadDim * f.outputElementBytes;
  t.gradOutput = rowsQ * f.valueHeadDim * b.gradOutputElementBytes;
  t.lse = rowsQ * 4;
  t.gradQuery = rowsQ * f.headDim * b.gradQueryElementBytes;
  int64_t kvRows = f.batch * f.headsKV * f.keyLength;
  t.gradKey = kvRows * f.headDim * b.gradKVElementBytes;
  t.gradValue = kvRows * f.valueHeadDim * b.gradKVElementBytes;
  t.delta = t.lseLog2 = rowsQ * 4;
  if (!s.deterministic)
    t.dqAccum = rowsQ * f.headDim * 4;

  // preprocess: Delta = rowsum(dO * O) (2 Dv per row) and lse * log2(e);
  // the atomic program zeroes dq_accum.
  BackwardKernelCost pre;
  pre.kernel = "preprocess";
  pre.symbolSuffix = "_bwd_preprocess";
  pre.elementwiseFlops = double(rowsQ) * (2 * dv + 1);
  pre.bytesRead = t.output + t.gradOutput + t.lse;
  pre.bytesWritten = t.delta + t.lseLog2 + t.dqAccum;
  c.kernels.push_back(pre);

  // main: per visited tile S, dP, dV, dK, and with atomics dQ too, whose
  // M x D tile is added into dq_accum (the reductions stay in L2; the
  // accumulated rows reach HBM once: one write of dq_accum).
  BackwardKernelCost main;
  main.kernel = "main";
  main.symbolSuffix = "_bwd";
  double mainPerPair = s.deterministic ? 2 * (2 * d + 2 * dv) : flashPerPair;
  PairWork mw = scoreWork(f, mainPerPair);
  main.executedGemmFlops = mw.gemm * executedPairs;
  main.visibleGemmFlops = mw.gemm * visiblePairs;
  main.denseGemmFlops = mw.gemm * densePairs;
  main.exponentials = mw.exp * executedPairs;
  main.elementwiseFlops = mw.elementwise * executedPairs;
  if (!s.deterministic)
    main.dqReductions = double(c.tilesVisited) * s.blockM * d;
  main.bytesRead =
      t.query + t.key + t.value + t.gradOutput + t.lseLog2 + t.delta;
  main.bytesWritten = t.gradKey + t.gradValue + t.dqAccum;
  c.kernels.push_back(main);

  if (s.deterministic) {
    // dq: per visited tile S and dP again, then dQ = dS K, in registers.
    BackwardKernelCost dq;
    dq.kernel = "dq";
    dq.symbolSuffix = "_bwd_dq";
    PairWork w = scoreWork(f, 2 * (2 * d + dv));
    dq.executedGemmFlops = w.gemm * executedPairs;
    dq.visibleGemmFlops = w.gemm * visiblePairs;
    dq.denseGemmFlops = w.gemm * densePairs;
    dq.exponentials = w.exp * executedPairs;
    dq.elementwiseFlops = w.elementwise * executedPairs;
    dq.bytesRead =
        t.query + t.key + t.value + t.gradOutput + t.lseLog2 + t.delta;
    dq.bytesWritten = t.gradQuery;
    c.kernels.push_back(dq);
  } else {
    // convert: dQ = dq_accum in the gradient's type.
    BackwardKernelCost convert;
    convert.kernel = "convert";
    convert.symbolSuffix = "_bwd_convert";
    convert.bytesRead = t.dqAccum;
    convert.bytesWritten = t.gradQuery;
    c.kernels.push_back(convert);
  }
  for (const BackwardKernelCost &k : c.kernels) {
    c.executedGemmFlops += k.executedGemmFlops;
    c.exponentials += k.exponentials;
    c.elementwiseFlops += k.elementwiseFlops;
    c.dqReductions += k.dqReductions;
  }
  return c;
}

RooflineBound mlir::attn::computeBackwardRoofline(const BackwardCost &c,
                                                  const GpuSpec &gpu,
                                                  ElementKind kind) {
  return computeRoofline(c.executedGemmFlops, double(c.bytesTotal()),
                         c.exponentials, gpu, kind);
}

RooflineBound mlir::attn::computeBackwardRoofline(const BackwardKernelCost &k,
                                                  const GpuSpec &gpu,
                                                  ElementKind kind) {
  return computeRoofline(k.executedGemmFlops,
                         double(k.bytesRead + k.bytesWritten), k.exponentials,
                         gpu, kind);
}

std::string mlir::attn::describeBackwardCost(const BackwardCost &c) {
  auto n = [](double x) { return static_cast<int64_t>(x); };
  double ratio =
      c.forwardDenseGemmFlops > 0 ? c.denseGemmFlops / c.forwardDenseGemmFlops
                                  : 0;
  return llvm::formatv(
             "gemm {0} FLOP executed ({1} visible, {2} dense: {3:f2}x the "
             "forward's dense), exp {4}, elementwise {5} FLOP, dq reductions "
             "{6}, bytes {7} ({8} read, {9} written), intensity {10:f1} "
             "FLOP/B",
             n(c.executedGemmFlops), n(c.visibleGemmFlops),
             n(c.denseGemmFlops), ratio, n(c.exponentials),
             n(c.elementwiseFlops), n(c.dqReductions), c.bytesTotal(),
             c.bytesRead(), c.bytesWritten(), c.arithmeticIntensity())
      .str();
}

std::string mlir::attn::describeBackwardKernel(const BackwardKernelCost &k,
                                               const GpuSpec &gpu,
                                               ElementKind kind) {
  auto n = [](double x) { return static_cast<int64_t>(x); };
  RooflineBound r = computeBackwardRoofline(k, gpu, kind);
  return llvm::formatv("{0}: gemm {1} FLOP, exp {2}, bytes {3} read, {4} "
                       "written, intensity {5:f1} FLOP/B; bound {6:f3} us "
                       "({7}-bound)",
                       k.kernel, n(k.executedGemmFlops), n(k.exponentials),
                       k.bytesRead, k.bytesWritten, k.arithmeticIntensity(),
                       r.boundSeconds() * 1e6, r.limiter())
      .str();
}
