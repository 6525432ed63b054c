//===- CostReport.cpp - the cost model's report for a module --------------===//
//
// Part of attn-mlir.
//
//===----------------------------------------------------------------------===//

#include "attn/Analysis/CostReport.h"

#include "llvm/Support/FormatVariadic.h"

using namespace mlir;
using namespace mlir::attn;
namespace json = llvm::json;

ScheduleConfig mlir::attn::getGpuKernelSchedule(const AttentionFigures &f,
                                                bool decodeKernel,
                                                int64_t blockM, int64_t blockN,
                                                bool packGqa,
                                                int64_t numSplits) {
  ScheduleConfig s;
  s.decodeKernel = decodeKernel;
  s.blockN = blockN;
  s.numSplits = numSplits;
  s.packGqa = packGqa;
  s.blockM = blockM;
  if (decodeKernel) {
    s.packGqa = true;
    s.blockM = std::max<int64_t>(f.queryLength,
                                 llvm::divideCeil(16, f.headGroupSize()));
  }
  return s;
}

FailureOr<AttentionReport>
mlir::attn::analyzeAttention(const AttentionFigures &figures,
                             const GpuSpec &gpu,
                             const CostReportOptions &options,
                             const GpuTilePlan *plan) {
  AttentionReport r;
  r.figures = figures;
  r.schedule = options.schedule;
  if (plan) {
    // The kernel as planned: the figures its manifest carries.
    r.plan = *plan;
    if (plan->model)
      r.tiles = *plan->model;
    r.schedule = getGpuKernelSchedule(
        figures, plan->info.getFamily() == "decode", plan->tiles.getBlockM(),
        plan->tiles.getBlockN(), plan->tiles.getPackGqa(),
        plan->tiles.getNumSplits());
  } else {
    r.tiles = chooseTileConfig(figures, gpu);
  }
  if (options.gpuKernel && !plan) {
    // The decode kernel's warps step through the keys 16 (keys per warp)
    // at a time; prefill CTAs are per query head.
    bool decode = r.tiles.decode;
    r.schedule = getGpuKernelSchedule(
        figures, decode,
        r.schedule.blockM, decode ? r.tiles.chosen.blockN : r.schedule.blockN,
        /*packGqa=*/false,
        decode && !options.splitsGiven ? r.tiles.chosen.numSplits
                                       : r.schedule.numSplits);
  }
  FailureOr<AttentionCost> cost = computeAttentionCost(figures, r.schedule);
  if (failed(cost))
    return failure();
  r.cost = *cost;
  r.roofline = computeRoofline(r.cost, gpu, figures.elementKind);
  return r;
}

FailureOr<BackwardReport>
mlir::attn::analyzeBackward(const BackwardFigures &figures, const GpuSpec &gpu,
                            const CostReportOptions &options,
                            const BackwardSchedule *planned) {
  BackwardReport r;
  r.figures = figures;
  r.schedule.deterministic = options.deterministicBackward;
  if (planned)
    r.schedule = *planned;
  FailureOr<BackwardCost> cost = computeBackwardCost(figures, r.schedule);
  if (failed(cost))
    return failure();
  r.cost = std::move(*cost);
  r.roofline =
      computeBackwardRoofline(r.cost, gpu, figures.attention.elementKind);
  return r;
}

/// "loc(...)" of `op`, empty for specs: their ops are at a bare NameLoc
/// naming the spec, which the report prints already.
static std::string describeLocation(Operation *op) {
  std::string text;
  auto name = dyn_cast<NameLoc>(op->getLoc());
  bool specOnly = name && isa<UnknownLoc>(name.getChildLoc());
  if (!isa<UnknownLoc>(op->getLoc()) && !specOnly) {
    llvm::raw_string_ostream os(text);
    op->getLoc().print(os);
  }
  return text;
}

FailureOr<CostReport>
mlir::attn::buildCostReport(ModuleOp module, const CostReportOptions &options) {
  CostReport report;
  report.gpu = lookupGpu(options.gpu);
  if (!report.gpu)
    return module.emitError() << "expected a GPU name (" << listKnownGpus()
                              << "), got '" << options.gpu << "'";
  WalkResult walk = module.walk([&](AttentionOp op) {
    FailureOr<AttentionFigures> figures = getAttentionFigures(op);
    if (failed(figures))
      return WalkResult::interrupt();
    std::optional<GpuTilePlan> plan;
    if (options.planGpuKernel) {
      FailureOr<GpuTilePlan> planned = options.planGpuKernel(op);
      if (failed(planned))
        return WalkResult::interrupt();
      plan = std::move(*planned);
    }
    FailureOr<AttentionReport> r = analyzeAttention(
        *figures, *report.gpu, options, plan ? &*plan : nullptr);
    if (failed(r)) {
      op.emitOpError() << "expected positive block sizes and splits for the "
                          "cost model";
      return WalkResult::interrupt();
    }
    r->location = describeLocation(op);
    report.attention.push_back(std::move(*r));
    return WalkResult::advance();
  });
  if (walk.wasInterrupted())
    return failure();
  walk = module.walk([&](AttentionBackwardOp op) {
    FailureOr<BackwardFigures> figures = getBackwardFigures(op);
    if (failed(figures))
      return WalkResult::interrupt();
    std::optional<BackwardSchedule> planned;
    if (options.planBackward) {
      FailureOr<BackwardSchedule> schedule = options.planBackward(op);
      if (failed(schedule))
        return WalkResult::interrupt();
      planned = *schedule;
    }
    FailureOr<BackwardReport> r = analyzeBackward(
        *figures, *report.gpu, options, planned ? &*planned : nullptr);
    if (failed(r)) {
      op.emitOpError() << "expected heads that divide for the cost model";
      return WalkResult::interrupt();
    }
    r->location = describeLocation(op);
    report.backward.push_back(std::move(*r));
    return WalkResult::advance();
  });
  if (walk.wasInterrupted())
    return failure();
  if (options.model) {
    if (std::optional<std::string> error =
            validateTransformerConfig(*options.model))
      return module.emitError() << *error;
    if (options.modelBatch <= 0 || options.modelContext <= 0)
      return module.emitError()
             << "expected a positive batch and context for the model figures";
    report.model = options.model;
    report.modelBatch = options.modelBatch;
    report.modelContext = options.modelContext;
    report.kvElementBytes = options.kvElementBytes;
    report.modelCost =
        computeTransformerCost(*options.model, options.modelBatch,
                               options.modelContext, options.kvElementBytes);
  }
  return report;
}

static std::string describeShape(const AttentionFigures &f) {
  return llvm::formatv("B={0} Hq={1} Hkv={2} Lq={3} Lk={4} D={5}/{6} {7}",
                       f.batch, f.headsQ, f.headsKV, f.queryLength,
                       f.keyLength, f.headDim, f.valueHeadDim,
                       stringifyElementKind(f.elementKind))
      .str();
}

static void printModel(const CostReport &r, llvm::raw_ostream &os) {
  const TransformerConfig &c = *r.model;
  const TransformerCost &t = *r.modelCost;
  os << llvm::formatv("model: {0}: H={1} layers={2} ffn={3} heads={4}/{5} "
                      "D={6} vocab={7} ({8})\n",
                      c.name, c.hidden, c.layers, c.ffn, c.heads, c.kvHeads,
                      c.getHeadDim(), c.vocab, c.source);
  os << llvm::formatv("model: params per layer {0} (attention {1}, mlp {2}, "
                      "norms {3}); total {4} ({5:f3} B; embedding {6}, "
                      "positions {7}, lm head {8}{9})\n",
                      t.paramsPerLayer, t.attentionParams, t.mlpParams,
                      t.normParams, t.paramsTotal, t.paramsTotal / 1e9,
                      t.embeddingParams, t.positionParams, t.lmHeadParams,
                      c.tiedEmbeddings ? ", tied" : "");
  os << llvm::formatv("model: forward {0:e} FLOP for B={1} L={2} ({3:e} per "
                      "layer, logits {4:e}; causal attention {5:e}); "
                      "{6:e} FLOP per token at L={2}; training {7:e} FLOP\n",
                      t.forwardFlops, r.modelBatch, r.modelContext,
                      t.forwardFlopsPerLayer, t.logitsFlops,
                      t.causalAttentionFlops, t.forwardFlopsPerToken,
                      t.trainingFlops);
  os << llvm::formatv("model: KV cache {0} bytes ({1:f3} GiB) at {2} B/elt; "
                      "MHA would need {3} ({4:f1}x), an 8-bit cache {5} "
                      "({6:f1}x less)\n",
                      t.kvCacheBytes, t.kvCacheBytes / double(1 << 30),
                      r.kvElementBytes, t.kvCacheBytesMHA,
                      double(t.kvCacheBytesMHA) / double(t.kvCacheBytes),
                      t.kvCacheBytes8Bit,
                      double(t.kvCacheBytes) / double(t.kvCacheBytes8Bit));
}

static void printBackward(const BackwardReport &b, const GpuSpec &gpu,
                          llvm::raw_ostream &os) {
  const BackwardCost &c = b.cost;
  os << llvm::formatv("backward: {0} ({1}tiles {2}x{3}, {4}): {5} of {6} "
                      "tiles visited\n",
                      describeShape(b.figures.attention),
                      b.location.empty() ? "" : b.location + "; ",
                      b.schedule.blockM, b.schedule.blockN,
                      b.schedule.deterministic ? "deterministic dQ"
                                               : "atomic dQ",
                      c.tilesVisited, c.tilesDense);
  os << "backward: " << describeBackwardCost(c) << "\n";
  for (const BackwardKernelCost &k : c.kernels)
    os << "backward: "
       << describeBackwardKernel(k, gpu, b.figures.attention.elementKind)
       << "\n";
  os << "roofline: " << describeRoofline(b.roofline, c.executedGemmFlops, gpu)
     << "\n";
}

void mlir::attn::printCostReport(const CostReport &r, llvm::raw_ostream &os) {
  for (const AttentionReport &a : r.attention) {
    const AttentionCost &c = a.cost;
    os << llvm::formatv("cost: {0} ({1}tiles {2}x{3}, {4} split(s)): {5} of "
                        "{6} KV tiles visited ({7} interior)\n",
                        describeShape(a.figures),
                        a.location.empty() ? "" : a.location + "; ",
                        a.schedule.blockM, a.schedule.blockN,
                        a.schedule.numSplits, c.tilesVisited, c.tilesDense,
                        c.tilesInterior);
    os << "cost: " << describeCost(c) << "\n";
    os << "roofline: " << describeRoofline(a.roofline, c, *r.gpu) << "\n";
    os << "tiles: " << (a.plan ? describeGpuTilePlan(*a.plan) : a.tiles.reason)
       << "\n";
  }
  for (const BackwardReport &b : r.backward)
    printBackward(b, *r.gpu, os);
  if (r.model)
    printModel(r, os);
}

static json::Object bytesToJson(const AttentionBytes &b) {
  return json::Object{
      {"read", b.read()},         {"written", b.written()},
      {"total", b.total()},       {"query", b.query},
      {"key", b.key},             {"value", b.value},
      {"bias", b.bias},           {"mask", b.maskOperand},
      {"key_lengths", b.keyLengths}, {"block_table", b.blockTable},
      {"append_tokens_read", b.appendTokensRead},
      {"append_positions", b.appendPositions},
      {"append_written", b.appendWritten},
      {"output", b.output},       {"lse", b.lse},
      {"workspace", b.workspace},
  };
}

static json::Object candidateToJson(const TileCandidate &c) {
  return json::Object{{"block_m", c.blockM},
                      {"block_n", c.blockN},
                      {"num_warps", c.numWarps},
                      {"num_splits", c.numSplits},
                      {"stages", c.stages},
                      {"shared_memory_bytes", c.sharedMemoryBytes},
                      {"registers_per_thread", c.registersPerThread},
                      {"ctas_per_sm", c.ctasPerSM},
                      {"ctas", c.ctas},
                      {"waves", c.waves},
                      {"modelled_us", c.seconds * 1e6}};
}

/// The model's choice: its candidate's figures, the runner-up and why.
static void addModelToJson(const TileConfigChoice &t, json::Object &o) {
  const TileCandidate &c = t.chosen;
  o["registers_per_thread"] = c.registersPerThread;
  o["ctas_per_sm"] = c.ctasPerSM;
  o["ctas"] = c.ctas;
  o["waves"] = c.waves;
  o["modelled_us"] = c.seconds * 1e6;
  o["model"] = candidateToJson(c);
  if (const TileCandidate *next = getRunnerUp(t))
    o["runner_up"] = candidateToJson(*next);
  o["reason"] = t.reason;
}

static json::Object tilesToJson(const AttentionReport &a) {
  if (!a.plan) {
    // No kernel planned (the CPU target): the model's advice.
    const TileConfigChoice &t = a.tiles;
    const TileCandidate &c = t.chosen;
    json::Object o{{"kernel", t.hopper ? "hopper"
                              : t.decode ? "decode"
                                         : "prefill"},
                   {"source", "the cost model (advice: no GPU kernel)"},
                   {"from_model", true},
                   {"block_m", c.blockM},
                   {"block_n", c.blockN},
                   {"num_warps", c.numWarps},
                   {"num_splits", c.numSplits},
                   {"stages", c.stages},
                   {"shared_memory_bytes", c.sharedMemoryBytes}};
    addModelToJson(t, o);
    return o;
  }
  // The kernel as attn-plan-gpu-kernels records it.
  const GpuTilePlan &p = *a.plan;
  KernelInfoAttr info = p.info;
  json::Object o{{"kernel", info.getFamily()},
                 {"source", p.source},
                 {"from_model", p.fromModel},
                 {"block_m", info.getBlockM()},
                 {"block_n", info.getBlockN()},
                 {"num_warps", info.getNumWarps()},
                 {"num_splits", info.getNumSplits()},
                 {"keys_per_warp", info.getKeysPerWarp()},
                 {"stages", info.getStages()},
                 {"shared_memory_bytes", info.getSharedMemoryBytes()},
                 {"grid_formula", info.getGridFormula()},
                 {"summary", describeGpuTilePlan(p)}};
  if (p.modelGpu)
    o["model_gpu"] = p.modelGpu->name;
  if (p.model)
    addModelToJson(*p.model, o);
  return o;
}

/// The problem's extents and element type, as the forward's and the
/// backward's reports print them.
static json::Object shapeToJson(const AttentionFigures &f) {
  return json::Object{{"batch", f.batch},
                      {"heads_q", f.headsQ},
                      {"heads_kv", f.headsKV},
                      {"seq_q", f.queryLength},
                      {"seq_k", f.keyLength},
                      {"head_dim", f.headDim},
                      {"value_head_dim", f.valueHeadDim},
                      {"dtype", stringifyElementKind(f.elementKind)}};
}

static json::Object attentionToJson(const AttentionReport &a) {
  const AttentionFigures &f = a.figures;
  const AttentionCost &c = a.cost;
  const RooflineBound &rf = a.roofline;
  return json::Object{
      {"location", a.location},
      {"shape", shapeToJson(f)},
      {"schedule", json::Object{{"block_m", a.schedule.blockM},
                                {"block_n", a.schedule.blockN},
                                {"num_splits", a.schedule.numSplits},
                                {"pack_gqa", a.schedule.packGqa}}},
      {"kv_tiles", json::Object{{"visited", c.tilesVisited},
                                {"interior", c.tilesInterior},
                                {"dense", c.tilesDense}}},
      {"gemm_flops", json::Object{{"executed", c.executedGemmFlops},
                                  {"visible", c.visibleGemmFlops},
                                  {"dense", c.denseGemmFlops}}},
      {"exponentials", c.exponentials},
      {"softmax_flops", c.softmaxFlops},
      {"bytes", bytesToJson(c.bytes)},
      {"arithmetic_intensity", c.arithmeticIntensity()},
      {"roofline", json::Object{{"bound_us", rf.boundSeconds() * 1e6},
                                {"limiter", rf.limiter()},
                                {"compute_us", rf.computeSeconds * 1e6},
                                {"memory_us", rf.memorySeconds * 1e6},
                                {"exp_us", rf.exponentialSeconds * 1e6},
                                {"ridge_flop_per_byte", rf.ridgeIntensity}}},
      {"tile_config", tilesToJson(a)},
  };
}

static json::Object rooflineToJson(const RooflineBound &rf) {
  return json::Object{{"bound_us", rf.boundSeconds() * 1e6},
                      {"limiter", rf.limiter()},
                      {"compute_us", rf.computeSeconds * 1e6},
                      {"memory_us", rf.memorySeconds * 1e6},
                      {"exp_us", rf.exponentialSeconds * 1e6},
                      {"ridge_flop_per_byte", rf.ridgeIntensity}};
}

static json::Object backwardToJson(const BackwardReport &b, const GpuSpec &gpu) {
  const AttentionFigures &f = b.figures.attention;
  const BackwardCost &c = b.cost;
  const BackwardTensorBytes &t = c.tensors;
  json::Array kernels;
  for (const BackwardKernelCost &k : c.kernels)
    kernels.push_back(json::Object{
        {"kernel", k.kernel},
        {"gemm_flops", json::Object{{"executed", k.executedGemmFlops},
                                    {"visible", k.visibleGemmFlops},
                                    {"dense", k.denseGemmFlops}}},
        {"exponentials", k.exponentials},
        {"elementwise_flops", k.elementwiseFlops},
        {"dq_reductions", k.dqReductions},
        {"bytes_read", k.bytesRead},
        {"bytes_written", k.bytesWritten},
        {"arithmetic_intensity", k.arithmeticIntensity()},
        {"roofline",
         rooflineToJson(computeBackwardRoofline(k, gpu, f.elementKind))}});
  return json::Object{
      {"location", b.location},
      {"shape", shapeToJson(f)},
      {"schedule", json::Object{{"block_m", b.schedule.blockM},
                                {"block_n", b.schedule.blockN},
                                {"deterministic", b.schedule.deterministic}}},
      {"kv_tiles", json::Object{{"visited", c.tilesVisited},
                                {"dense", c.tilesDense}}},
      {"gemm_flops",
       json::Object{{"executed", c.executedGemmFlops},
                    {"visible", c.visibleGemmFlops},
                    {"dense", c.denseGemmFlops},
                    {"forward_dense", c.forwardDenseGemmFlops},
                    {"dense_over_forward",
                     c.forwardDenseGemmFlops > 0
                         ? c.denseGemmFlops / c.forwardDenseGemmFlops
                         : 0.0}}},
      {"exponentials", c.exponentials},
      {"elementwise_flops", c.elementwiseFlops},
      {"dq_reductions", c.dqReductions},
      {"bytes",
       json::Object{{"read", c.bytesRead()},
                    {"written", c.bytesWritten()},
                    {"total", c.bytesTotal()},
                    {"query", t.query},
                    {"key", t.key},
                    {"value", t.value},
                    {"output", t.output},
                    {"grad_output", t.gradOutput},
                    {"lse", t.lse},
                    {"grad_query", t.gradQuery},
                    {"grad_key", t.gradKey},
                    {"grad_value", t.gradValue},
                    {"delta", t.delta},
                    {"lse_log2", t.lseLog2},
                    {"dq_accum", t.dqAccum}}},
      {"arithmetic_intensity", c.arithmeticIntensity()},
      {"roofline", rooflineToJson(b.roofline)},
      {"kernels", std::move(kernels)},
  };
}

json::Value mlir::attn::costReportToJson(const CostReport &r) {
  json::Array ops;
  for (const AttentionReport &a : r.attention)
    ops.push_back(attentionToJson(a));
  json::Array backward;
  for (const BackwardReport &b : r.backward)
    backward.push_back(backwardToJson(b, *r.gpu));
  const GpuSpec &g = *r.gpu;
  json::Object root{
      {"gpu", json::Object{{"name", g.name},
                           {"description", g.description},
                           {"tflops_bf16", g.tflopsBF16},
                           {"tflops_f16", g.tflopsF16},
                           {"tflops_tf32", g.tflopsTF32},
                           {"hbm_tbps", g.hbmTBps},
                           {"sms", g.numSMs}}},
      {"attention", std::move(ops)},
      {"backward", std::move(backward)},
  };
  if (r.model) {
    const TransformerCost &t = *r.modelCost;
    root["model"] = r.model->name;
    root["model_source"] = r.model->source;
    root["batch"] = r.modelBatch;
    root["context"] = r.modelContext;
    root["params_per_layer"] = t.paramsPerLayer;
    root["params_total"] = t.paramsTotal;
    root["forward_flops"] = t.forwardFlops;
    root["forward_flops_per_layer"] = t.forwardFlopsPerLayer;
    root["logits_flops"] = t.logitsFlops;
    root["causal_attention_flops"] = t.causalAttentionFlops;
    root["forward_flops_per_token"] = t.forwardFlopsPerToken;
    root["training_flops"] = t.trainingFlops;
    root["kv_cache_bytes"] = t.kvCacheBytes;
    root["kv_cache_bytes_mha"] = t.kvCacheBytesMHA;
    root["kv_cache_bytes_8bit"] = t.kvCacheBytes8Bit;
  }
  return json::Value(std::move(root));
}
