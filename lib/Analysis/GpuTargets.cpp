//===- GpuTargets.cpp - peak figures of named GPUs and the roofline -------===//
//
// Part of attn-mlir. The numbers below are the vendor's published ones;
// docs/CostModel.md cites the document each comes from. Tensor rates are
// dense (NVIDIA's datasheets quote 2:4 sparsity, twice these).
//
//===----------------------------------------------------------------------===//

#include "attn/Analysis/CostModel.h"

#include "llvm/ADT/StringSwitch.h"
#include "llvm/Support/FormatVariadic.h"

#include <algorithm>

using namespace mlir;
using namespace mlir::attn;

static constexpr int64_t KiB = 1024;

// name, description, TFLOP/s bf16, f16, tf32, fp8, HBM TB/s, SFU Tops/s,
// clock GHz, SMs, smem/SM, smem/block, registers/SM, threads/SM, CTAs/SM, arch.
static const GpuSpec kGpus[] = {
    {"a100-sxm", "NVIDIA A100 SXM4 80GB", 312, 312, 156, 0, 2.039,
     // 108 SMs x 16 exp2/clk x 1.41 GHz boost.
     2.436, 1.41, 108, 164 * KiB, 163 * KiB, 65536, 2048, 32, "sm_80"},
    // 989.4 TFLOP/s = 132 SMs x 4096 dense bf16 FLOP/clk x 1.83 GHz.
    {"h100-sxm", "NVIDIA H100 SXM5 80GB", 989.4, 989.4, 494.7, 1978.9, 3.35,
     3.9, 1.83, 132, 228 * KiB, 227 * KiB, 65536, 2048, 32, "sm_90"},
    {"h200", "NVIDIA H200 SXM 141GB", 989.4, 989.4, 494.7, 1978.9, 4.8, 3.9,
     1.83, 132, 228 * KiB, 227 * KiB, 65536, 2048, 32, "sm_90"},
    {"b200", "NVIDIA B200 (HGX, 1000 W)", 2250, 2250, 1100, 4500, 7.7, 0,
     // Unpublished: 2250 TFLOP/s over 148 SMs at 8192 FLOP/clk (twice
     // Hopper's per SM) implies 1.86 GHz.
     1.86, 148,
     228 * KiB, 227 * KiB, 65536, 2048, 32, "sm_100"},
};

ArrayRef<GpuSpec> mlir::attn::getKnownGpus() { return kGpus; }

const GpuSpec *mlir::attn::lookupGpu(StringRef name) {
  StringRef canonical = llvm::StringSwitch<StringRef>(name.lower())
                            .Cases({"a100", "a100-sxm"}, "a100-sxm")
                            .Cases({"h100", "h100-sxm"}, "h100-sxm")
                            .Case("h200", "h200")
                            .Case("b200", "b200")
                            .Default("");
  for (const GpuSpec &gpu : kGpus)
    if (gpu.name == canonical)
      return &gpu;
  return nullptr;
}

const GpuSpec *mlir::attn::lookupGpuForChip(StringRef chip) {
  StringRef name = llvm::StringSwitch<StringRef>(chip)
                       .Case("sm_80", "a100-sxm")
                       .Cases({"sm_90", "sm_90a"}, "h100-sxm")
                       .Cases({"sm_100", "sm_100a"}, "b200")
                       .Default("");
  return name.empty() ? nullptr : lookupGpu(name);
}

std::string mlir::attn::listKnownGpus() {
  std::string names;
  for (const GpuSpec &gpu : kGpus)
    names += (names.empty() ? "" : ", ") + gpu.name.str();
  return names;
}

double mlir::attn::getPeakFlops(const GpuSpec &gpu, ElementKind kind) {
  switch (kind) {
  case ElementKind::BF16:
    return gpu.tflopsBF16 * 1e12;
  case ElementKind::F16:
    return gpu.tflopsF16 * 1e12;
  default:
    // f32 inputs: the TF32 tensor rate, the fastest an f32 GEMM runs.
    return gpu.tflopsTF32 * 1e12;
  }
}

double RooflineBound::boundSeconds() const {
  return std::max({computeSeconds, memorySeconds, exponentialSeconds});
}

StringRef RooflineBound::limiter() const {
  double bound = boundSeconds();
  if (bound == exponentialSeconds && exponentialSeconds > computeSeconds &&
      exponentialSeconds > memorySeconds)
    return "exp";
  return computeSeconds >= memorySeconds ? "compute" : "memory";
}

RooflineBound mlir::attn::computeRoofline(double executedFlops, double bytes,
                                          double exponentials,
                                          const GpuSpec &gpu,
                                          ElementKind kind) {
  RooflineBound r;
  double peak = getPeakFlops(gpu, kind);
  double bandwidth = gpu.hbmTBps * 1e12;
  r.computeSeconds = executedFlops / peak;
  r.memorySeconds = bytes / bandwidth;
  if (gpu.sfuTops > 0)
    r.exponentialSeconds = exponentials / (gpu.sfuTops * 1e12);
  r.ridgeIntensity = peak / bandwidth;
  return r;
}

RooflineBound mlir::attn::computeRoofline(const AttentionCost &cost,
                                          const GpuSpec &gpu,
                                          ElementKind kind) {
  return computeRoofline(cost.executedGemmFlops, double(cost.bytes.total()),
                         cost.exponentials, gpu, kind);
}

std::string mlir::attn::describeRoofline(const RooflineBound &r,
                                         const AttentionCost &cost,
                                         const GpuSpec &gpu) {
  return describeRoofline(r, cost.executedGemmFlops, gpu);
}

std::string mlir::attn::describeRoofline(const RooflineBound &r,
                                         double executedFlops,
                                         const GpuSpec &gpu) {
  std::string exp = gpu.sfuTops > 0
                        ? llvm::formatv("{0:f3} us", r.exponentialSeconds * 1e6)
                              .str()
                        : std::string("unpublished rate");
  return llvm::formatv("{0}: bound {1:f3} us ({2}-bound; compute {3:f3} us, "
                       "memory {4:f3} us, exp {5}), ridge {6:f1} FLOP/B, "
                       "attainable {7:f1} TFLOP/s",
                       gpu.name, r.boundSeconds() * 1e6, r.limiter(),
                       r.computeSeconds * 1e6, r.memorySeconds * 1e6, exp,
                       r.ridgeIntensity,
                       r.attainableFlops(executedFlops) / 1e12)
      .str();
}
