//===- TileConfig.cpp - GPU tile configurations from the cost model -------===//
//
// Part of attn-mlir. docs/CostModel.md ("Choosing tiles") states the model:
// candidates that fit the target's shared memory and registers are scored
// by a simulated makespan of their CTAs over the SMs' slots, each KV tile
// costing the larger of its tensor-core and shared-memory time plus its
// exponentials; decode splits are scored by a bandwidth model with a fixed
// latency per wave and per merge.
//
//===----------------------------------------------------------------------===//

#include "attn/Analysis/TileConfig.h"
#include "attn/Analysis/KernelResources.h"

#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/MathExtras.h"

#include <algorithm>
#include <functional>
#include <queue>

using namespace mlir;
using namespace mlir::attn;

/// Bytes of shared memory per clock per SM: 32 banks of 4 bytes.
static constexpr double kSharedBytesPerClock = 128;
/// exp2 results per clock per SM (16 special-function lanes).
static constexpr double kSfuPerClock = 16;
/// Shared memory the system reserves per CTA (1 KiB since sm_80).
static constexpr int64_t kReservedSharedPerCta = 1024;
/// Registers kept for addresses, loop indices and the softmax scalars.
static constexpr int64_t kRegisterOverhead = 32;
/// Warps an SM needs resident to keep its tensor cores and shared memory
/// busy (two per scheduler): fewer leave latency exposed.
static constexpr int64_t kWarpsToHideLatency = 8;
/// Cycles the hopper kernel spends per KV tile on synchronisation that no
/// GEMM hides: waiting on the tile's full mbarriers, arriving on its empty
/// ones and the wgmma fence / commit / wait of its two GEMMs (an
/// assumption of the order of a few shared-memory round trips).
static constexpr double kHopperTileSyncCycles = 256;
/// Latency a memory-bound wave or a dependent merge step costs regardless
/// of its bytes (DRAM latency plus CTA launch), in seconds.
static constexpr double kWaveLatency = 1e-6;
/// The share of the dense tensor rate (the wgmma peak of the table) that
/// mma.sync reaches on Hopper: our prefill's best 380 of 731 TFLOP/s of
/// GEMM on the H200 (bench/NOTES.md) with softmax in between, FA2's 345;
/// the backward's relative choices do not depend on it, only the balance
/// against its shared-memory and reduction terms.
static constexpr double kMmaSyncShare = 0.6;
/// Cycles of an SM per f32 reduction instruction into global memory
/// (atom / red.global.add): the backward's dQ. Measured by the two
/// dq-reduction modes of one kernel on the H200 (bench/NOTES.md, GPU
/// backward speed): atom -> red-v2 halved the instructions and saved 3.15
/// ms of 9.07 ms on d128 L4k for 1.07e9 instructions over 132 SMs at
/// 1.83 GHz: about 0.7 cycles per instruction that nothing hides.
static constexpr double kReductionCycles = 0.7;
/// Cycles per main-kernel step that no GEMM hides: two CTA barriers and
/// the cp.async wait of the double buffer (the order of a few shared-
/// memory round trips, as kHopperTileSyncCycles).
static constexpr double kBackwardStepSyncCycles = 256;
/// Cycles per step a backward CTA alone on its SM loses at its barriers
/// and cp.async waits, which a second resident CTA would fill. Fitted to
/// the H200 (bench/NOTES.md session 6): the deterministic program's main
/// kernel of 128 keys on 8 warps (one CTA per SM) measured 0-6% slower than
/// two 64-key CTAs of 4 warps, where the shared-memory term alone predicts
/// it 5% faster; 640 is a value that orders them as measured at D = 128
/// (the direct estimate, 0.12 ms over 993 steps per SM on d128 L4k, gives
/// ~240, which does not). The atomic path keeps 128 keys: halving its
/// reductions saves more.
static constexpr double kLoneCtaStepCycles = 640;

/// Memory latency a decode CTA's loads see under load: with its 8 warps x
/// 2 stages x 16 keys of K and V in flight (128 KiB at D = 128) one CTA
/// streamed 87 GB/s on the H200 (the 2026-12-01 sweep's 1-split GQA B = 1
/// 8k row: 4 MiB per CTA in 48.3 us), i.e. 1.5 us per ring.
static constexpr double kDecodeMemoryLatency = 1.5e-6;
/// What a paged cache adds per page: the block table's entry is read
/// before the page's loads issue (the same row paged: 65 GB/s, 2.0 us).
static constexpr double kBlockTableLatency = 0.5e-6;

int64_t mlir::attn::estimatePrefillRegisters(int64_t rowsPerWarp,
                                             int64_t blockN, int64_t headDim,
                                             int64_t valueHeadDim) {
  // m16n8 accumulators hold rows x columns f32 over 32 lanes: O and S.
  int64_t o = rowsPerWarp * valueHeadDim / 32;
  int64_t s = rowsPerWarp * blockN / 32;
  // Q stays in registers when its fragments are few (the prefill kernel's
  // rule: m16 tiles x k16 steps x 4 registers <= 32, and <= 96 with O).
  int64_t qFragments = (rowsPerWarp / 16) * (headDim / 16) * 4;
  int64_t q = qFragments <= 32 && qFragments + o <= 96 ? qFragments : 0;
  // Running max and sum: two rows per thread per m16 tile.
  int64_t stats = 4 * (rowsPerWarp / 16);
  return o + s + q + stats + kRegisterOverhead;
}

int64_t mlir::attn::estimateHopperConsumerRegisters(int64_t blockN,
                                                    int64_t headDim,
                                                    int64_t valueHeadDim) {
  // wgmma m64nN accumulators over a warpgroup's 128 threads: 64 x N / 128.
  int64_t s = blockN / 2, o = valueHeadDim / 2, p = blockN / 4;
  int64_t q = hopperKeepsQInSharedMemory(headDim, blockN) ? 0 : headDim / 4;
  return s + o + p + q + kRegisterOverhead;
}

static double sfuRate(const GpuSpec &gpu) {
  return gpu.sfuTops > 0 ? gpu.sfuTops * 1e12
                         : double(gpu.numSMs) * kSfuPerClock * gpu.clockGHz *
                               1e9;
}

/// The work of each query-block CTA of one head: its KV blocks of `n`
/// keys the mask leaves visited, `tile` seconds each (a CTA per `m` query
/// rows, the last one partial).
static std::vector<double> queryBlockWork(const AttentionFigures &f,
                                          int64_t m, int64_t n, double tile) {
  std::vector<double> work;
  for (int64_t q0 = 0; q0 < f.queryLength; q0 += m) {
    int64_t rows = std::min(m, f.queryLength - q0);
    int64_t visited = getVisitedKVBlocks(f.mask, q0, q0 + rows, n).visited;
    work.push_back(double(visited) * tile);
  }
  return work;
}

/// Makespan of CTAs with the given per-CTA work (seconds of a whole SM),
/// launched in order onto numSMs x ctasPerSM slots that share their SM.
static double simulateMakespan(llvm::ArrayRef<double> work, int64_t repeats,
                               int64_t slots, int64_t ctasPerSM) {
  std::priority_queue<double, std::vector<double>, std::greater<double>> free;
  for (int64_t i = 0; i < slots; ++i)
    free.push(0);
  double end = 0;
  for (int64_t r = 0; r < repeats; ++r)
    for (double w : work) {
      double start = free.top();
      free.pop();
      double finish = start + w * double(ctasPerSM);
      end = std::max(end, finish);
      free.push(finish);
    }
  return end;
}

namespace {
struct PrefillModel {
  const AttentionFigures &f;
  const GpuSpec &gpu;

  TileCandidate evaluate(int64_t m, int64_t warps, int64_t n) const {
    TileCandidate c;
    c.blockM = m;
    c.numWarps = warps;
    c.blockN = n;
    int64_t d = f.headDim, dv = f.valueHeadDim, e = f.elementBytes;
    // The prefill kernel's own layout: Q tile (O staged there) plus two
    // stages of K and V tiles, rows padded to 128 bytes.
    c.sharedMemoryBytes = getPrefillSharedMemory(d, dv, m, n).total();
    int64_t rowsPerWarp = m / warps;
    if (rowsPerWarp > 16 && std::max(d, dv) > 128) {
      c.rejected = "32 rows per warp past D or Dv = 128 (the kernel takes 16)";
      return c;
    }
    c.registersPerThread = estimatePrefillRegisters(rowsPerWarp, n, d, dv);
    int64_t threads = 32 * warps;
    if (c.sharedMemoryBytes > gpu.sharedMemoryPerBlock) {
      c.rejected = llvm::formatv("{0} B of shared memory > {1} B per CTA",
                                 c.sharedMemoryBytes, gpu.sharedMemoryPerBlock)
                       .str();
      return c;
    }
    if (c.registersPerThread > 255) {
      c.rejected = llvm::formatv("~{0} registers per thread > 255 (spills)",
                                 c.registersPerThread)
                       .str();
      return c;
    }
    // Registers are allocated per warp in units of 256 (8 per thread).
    int64_t regs = llvm::alignTo(c.registersPerThread, 8);
    c.ctasPerSM = std::min(
        {gpu.sharedMemoryPerSM / (c.sharedMemoryBytes + kReservedSharedPerCta),
         gpu.registersPerSM / (regs * threads),
         gpu.maxThreadsPerSM / threads, gpu.maxBlocksPerSM});
    if (c.ctasPerSM < 1) {
      c.rejected = "no CTA fits one SM";
      return c;
    }
    // One KV tile on a whole SM: the larger of the tensor-core time and
    // the shared-memory reads of the fragments (every warp reads the K and
    // V tiles; Q too unless it stays in registers), then its exponentials.
    double flopsPerSM = getPeakFlops(gpu, f.elementKind) / gpu.numSMs;
    double clock = gpu.clockGHz * 1e9;
    double mma = 2.0 * m * n * (d + dv) / flopsPerSM;
    int64_t qFragments = (rowsPerWarp / 16) * (d / 16) * 4;
    bool qInRegisters =
        qFragments <= 32 && qFragments + rowsPerWarp * dv / 32 <= 96;
    double smemBytes = double(warps) * n * (d + dv) * e +
                       (qInRegisters ? 0.0 : double(m) * d * e);
    double smem = smemBytes / (kSharedBytesPerClock * clock);
    double exp = double(m) * n / (sfuRate(gpu) / gpu.numSMs);
    double tile = std::max(mma, smem) + exp;
    // The prefill grid: one CTA per (query block, batch x query head).
    std::vector<double> work = queryBlockWork(f, m, n, tile);
    int64_t heads = f.batch * f.headsQ;
    c.ctas = heads * int64_t(work.size());
    // An SM with too few resident warps runs its tiles proportionally
    // slower.
    double occupancy = std::min(
        1.0, double(c.ctasPerSM * warps) / double(kWarpsToHideLatency));
    for (double &w : work)
      w /= occupancy;
    c.waves = llvm::divideCeil(c.ctas, gpu.numSMs * c.ctasPerSM);
    c.seconds = simulateMakespan(work, heads, gpu.numSMs * c.ctasPerSM,
                                 c.ctasPerSM);
    return c;
  }
};

struct DecodeModel {
  const AttentionFigures &f;
  const GpuSpec &gpu;
  // convert-attn-to-nvvm's decode defaults: 8 warps (4 where their rings
  // exceed 227 KiB, as the kernel plans), 16 keys per warp step, 2 cp.async
  // stages.
  static constexpr int64_t keysPerWarp = 16, stages = 2;
  int64_t warps = sharedMemoryBytes(8) > kMaxKernelSharedMemoryBytes ? 4 : 8;

  int64_t sharedMemoryBytes(int64_t numWarps) const {
    // The decode kernel's own layout (Q tile, rings reused by the merge).
    return getDecodeSharedMemoryBytes(f.headDim, f.valueHeadDim, numWarps,
                                      keysPerWarp, stages);
  }
  int64_t sharedMemoryBytes() const { return sharedMemoryBytes(warps); }

  /// Keys some query row of a group sees.
  int64_t visibleKeys() const {
    KeyRange first = getVisibleKeys(f.mask, 0);
    KeyRange last = getVisibleKeys(f.mask, f.queryLength - 1);
    return std::max<int64_t>(0, last.end - first.begin);
  }

  /// Bytes of one key's K and V rows.
  int64_t keyBytes() const {
    return (f.headDim + f.valueHeadDim) * f.elementBytes;
  }

  /// The rate one CTA streams K and V at by itself: its cp.async rings (a
  /// K and a V slot of keysPerWarp keys per stage per warp) in flight per
  /// memory latency (Little's law); a paged cache waits on the block
  /// table's entry before each page's loads.
  double ctaBandwidth() const {
    double inFlight = double(warps * stages * keysPerWarp) * keyBytes();
    double latency = kDecodeMemoryLatency +
                     (f.kvSource == KVSource::Paged ? kBlockTableLatency : 0);
    return inFlight / latency;
  }

  TileCandidate evaluate(int64_t splits, int64_t ctasPerSM) const {
    TileCandidate c;
    // One m16 tile of a group's rows; warps step keysPerWarp keys.
    c.blockM = 16;
    c.numWarps = warps;
    c.blockN = keysPerWarp;
    c.numSplits = splits;
    c.sharedMemoryBytes = sharedMemoryBytes();
    c.ctasPerSM = ctasPerSM;
    int64_t groups = f.batch * f.headsKV;
    int64_t rows = f.headGroupSize() * f.queryLength;
    c.ctas = groups * splits;
    // A split's keys are an equal share of whole subtiles (the attn-tile
    // split rule) that its warps take round-robin: the CTA lasts as long
    // as its busiest warp's steps, every warp of the step loading.
    int64_t subtiles = llvm::divideCeil(visibleKeys(), keysPerWarp);
    int64_t steps =
        llvm::divideCeil(llvm::divideCeil(subtiles, splits), warps);
    double ctaBytes = double(steps * warps * keysPerWarp) * keyBytes();
    double bandwidth = gpu.hbmTBps * 1e12;
    // Waves of CTAs; a wave takes the longer of its CTAs' share of the HBM
    // bandwidth and one CTA's own streaming rate, plus a latency.
    int64_t slots = gpu.numSMs * ctasPerSM;
    c.waves = llvm::divideCeil(c.ctas, slots);
    double seconds = 0;
    for (int64_t left = c.ctas; left > 0; left -= slots) {
      double inWave = double(std::min(left, slots));
      seconds += kWaveLatency + std::max(inWave * ctaBytes / bandwidth,
                                         ctaBytes / ctaBandwidth());
    }
    if (splits > 1) {
      // Partial O and LSE written and read back, one dependent merge.
      double partials =
          2.0 * double(c.ctas) * rows * (f.valueHeadDim + 1) * 4;
      seconds += kWaveLatency + partials / bandwidth;
    }
    c.seconds = seconds;
    return c;
  }
};
} // namespace

namespace {
/// The hopper kernel: one CTA of a producer and two consumer warpgroups per
/// SM (setmaxnreg splits the register file between them), 128 query rows,
/// a ring of `stages` K and V tiles of blockN keys.
struct HopperModel {
  const AttentionFigures &f;
  const GpuSpec &gpu;
  static constexpr int64_t blockM = 128, warps = 12;

  TileCandidate evaluate(int64_t n, int64_t stages) const {
    TileCandidate c;
    c.blockM = blockM;
    c.blockN = n;
    c.numWarps = warps;
    c.stages = stages;
    int64_t d = f.headDim, dv = f.valueHeadDim;
    c.sharedMemoryBytes = getHopperSharedMemoryBytes(d, blockM, n, stages);
    // hopper-epilogue=auto's O tile, where the kernel takes one.
    if (hopperAutoTmaEpilogue(d, blockM, c.sharedMemoryBytes))
      c.sharedMemoryBytes += getHopperOTileBytes(d, blockM);
    c.registersPerThread = estimateHopperConsumerRegisters(n, d, dv);
    // The consumers' setmaxnreg target: 232, or 216 where the producer
    // keeps 72 to copy Q as well.
    int64_t budget = hopperKeepsQInSharedMemory(d, n) ? 216 : 232;
    if (c.sharedMemoryBytes > gpu.sharedMemoryPerBlock) {
      c.rejected = llvm::formatv("{0} B of shared memory > {1} B per CTA",
                                 c.sharedMemoryBytes, gpu.sharedMemoryPerBlock)
                       .str();
      return c;
    }
    if (c.registersPerThread > budget) {
      c.rejected = llvm::formatv("~{0} registers per consumer thread > {1}",
                                 c.registersPerThread, budget)
                       .str();
      return c;
    }
    c.ctasPerSM = 1;
    // One KV tile on a whole SM: with the overlapped schedule the softmax's
    // exponentials run under the GEMMs, so the larger of the two, plus a
    // fixed synchronisation cost per tile (the full/empty mbarrier round
    // trip and the wgmma fences). The ring's depth only hides load latency
    // that one tile's work already covers at these sizes (stages 2-4
    // measured within noise, bench/NOTES.md), so deeper rings cost nothing
    // and win nothing: ties keep the shallow default.
    double flopsPerSM = getPeakFlops(gpu, f.elementKind) / gpu.numSMs;
    double clock = gpu.clockGHz * 1e9;
    double mma = 2.0 * blockM * n * (d + dv) / flopsPerSM;
    double exp = double(blockM) * n / (sfuRate(gpu) / gpu.numSMs);
    double tile = std::max(mma, exp) + kHopperTileSyncCycles / clock;
    std::vector<double> work = queryBlockWork(f, blockM, n, tile);
    int64_t heads = f.batch * f.headsQ;
    c.ctas = heads * int64_t(work.size());
    c.waves = llvm::divideCeil(c.ctas, gpu.numSMs);
    c.seconds = simulateMakespan(work, heads, gpu.numSMs, 1);
    return c;
  }
};
} // namespace

int64_t mlir::attn::estimateBackwardMainRegisters(int64_t blockM,
                                                  int64_t headDim,
                                                  int64_t valueHeadDim) {
  return (headDim + valueHeadDim) / 2 + blockM + 16 + kRegisterOverhead;
}

int64_t mlir::attn::getBackwardBlockMLimit(int64_t headDim,
                                           int64_t valueHeadDim) {
  for (int64_t m : {64, 32})
    if (estimateBackwardMainRegisters(m, headDim, valueHeadDim) <= 255)
      return m;
  return 0;
}

namespace {
/// The backward program of convert-attn-backward-to-nvvm: a main kernel of
/// one CTA per KV block (16 keys per warp) over the Q blocks that see it,
/// with the dQ reductions or, deterministic, a dQ kernel of one CTA per Q
/// block over the KV blocks of 64 keys it sees.
struct BackwardModel {
  const AttentionFigures &f;
  const GpuSpec &gpu;
  bool deterministic;
  int64_t reductionWidth;
  /// 128-key CTAs with square warp tiles (square-warp-tiles).
  bool squareWarpTiles;

  double flopsPerSM() const {
    return kMmaSyncShare * getPeakFlops(gpu, f.elementKind) / gpu.numSMs;
  }
  double clock() const { return gpu.clockGHz * 1e9; }

  /// CTAs per SM of a kernel, or 0 (and `c.rejected`) when none fits.
  int64_t fit(TileCandidate &c, int64_t threads) const {
    if (c.sharedMemoryBytes > gpu.sharedMemoryPerBlock) {
      c.rejected = llvm::formatv("{0} B of shared memory > {1} B per CTA",
                                 c.sharedMemoryBytes, gpu.sharedMemoryPerBlock)
                       .str();
      return 0;
    }
    if (c.registersPerThread > 255) {
      c.rejected = llvm::formatv("~{0} registers per thread > 255 (spills)",
                                 c.registersPerThread)
                       .str();
      return 0;
    }
    int64_t regs = llvm::alignTo(c.registersPerThread, 8);
    return std::min(
        {gpu.sharedMemoryPerSM / (c.sharedMemoryBytes + kReservedSharedPerCta),
         gpu.registersPerSM / (regs * threads), gpu.maxThreadsPerSM / threads,
         gpu.maxBlocksPerSM});
  }

  /// Whether some row of [q0, q1) sees a key of [k0, k1).
  bool visits(int64_t q0, int64_t q1, int64_t k0, int64_t k1) const {
    return classifyKVTile(f.mask, q0, q1, k0, k1, /*wholeBlock=*/true) !=
           TileVisit::Skipped;
  }

  TileCandidate evaluateMain(int64_t m, int64_t n) const {
    TileCandidate c;
    c.blockM = m;
    c.blockN = n;
    c.numWarps = n / 16;
    int64_t d = f.headDim, dv = f.valueHeadDim, e = f.elementBytes;
    int64_t threads = 32 * c.numWarps;
    // K, V, the dS^T tile (and P^T with square warp tiles) and two stages
    // of (Q, dO, lse_log2, delta): the kernel's own layout
    // (backwardMainSharedBytes).
    // As the pass: the deterministic main kernel keeps 16 keys per warp.
    bool square = squareWarpTiles && !deterministic && n == 128;
    // Rows padded to 128 bytes (getSharedRowBytes: D = 96 takes 256), the
    // staged tiles' rows at least 128 bytes (block-m 32).
    int64_t rows = getSharedRowBytes(d) + getSharedRowBytes(dv);
    c.sharedMemoryBytes = n * rows +
                          (square ? 2 : 1) * n * std::max<int64_t>(m * e, 128) +
                          2 * (m * rows + 2 * m * 4);
    // Softcap keeps tanh of every score for the chain rule: one more
    // S^T tile.
    c.registersPerThread =
        estimateBackwardMainRegisters(m, d, dv) + (f.withSoftcap ? m / 2 : 0);
    if (m > n) {
      c.rejected = "block-m > block-n (the dQ split needs a warp per 16 rows)";
      return c;
    }
    // The dQ split gives each warp whole k16 pairs of D.
    int64_t dqRows = square && m == 128 ? 32 : 16;
    int64_t dqParts = c.numWarps / (m / dqRows);
    if ((d / 16) % dqParts != 0) {
      c.rejected = llvm::formatv("D / 16 = {0} does not split over {1} dQ "
                                 "column parts",
                                 d / 16, dqParts)
                       .str();
      return c;
    }
    c.ctasPerSM = fit(c, threads);
    if (!c.ctasPerSM) {
      if (c.rejected.empty())
        c.rejected = "no CTA fits one SM";
      return c;
    }
    // One (KV block, Q block) step on a whole SM. GEMMs: S^T, dV, dP^T,
    // dK (and dQ on the atomic path). Shared memory: every warp reads the
    // Q and dO tiles twice each as B fragments, its K and V rows as A;
    // the copies write Q and dO; dS^T is stored once and, for dQ, every
    // warp reads its rows of dS and its columns of K.
    bool atomic = !deterministic;
    double gemms = atomic ? 5 : 4;
    double mma = gemms * 2.0 * m * n * d / flopsPerSM();
    double perWarp = 2.0 * m * (d + dv) * e + 16.0 * (d + dv) * e;
    // Square warp tiles: S^T and dP^T read 32 K / V rows and half the Q /
    // dO rows per warp, dV and dK 32 staged P^T / dS^T rows and half of D
    // of every dO / Q row; P^T is stored too.
    if (square)
      perWarp = (32.0 + m / 2.0) * (d + dv) * e +
                (2.0 * 32 * m + m * (d + dv) / 2.0) * e;
    double smemBytes = c.numWarps * perWarp + m * (d + dv) * e;
    if (square)
      smemBytes += n * m * e;
    if (atomic || square)
      smemBytes += n * m * e;
    if (atomic) {
      // Square warp tiles at block-m 128 take 32-row dQ tiles
      // (dq-warp-rows auto).
      int64_t rows = square && m == 128 ? 32 : 16;
      int64_t parts = c.numWarps / (m / rows);
      smemBytes += c.numWarps * (double(rows) * n * e + n * d / parts * e);
    }
    double smem = smemBytes / (kSharedBytesPerClock * clock());
    double exp = double(m) * n / (sfuRate(gpu) / gpu.numSMs);
    double reductions =
        atomic ? double(m) * d / reductionWidth * kReductionCycles / clock()
               : 0;
    double sync = kBackwardStepSyncCycles +
                  (c.ctasPerSM == 1 ? kLoneCtaStepCycles : 0.0);
    double step = std::max(mma, smem) + exp + reductions + sync / clock();
    std::vector<double> work;
    for (int64_t k0 = 0; k0 < f.keyLength; k0 += n) {
      int64_t k1 = std::min(k0 + n, f.keyLength), steps = 0;
      for (int64_t q0 = 0; q0 < f.queryLength; q0 += m)
        steps += visits(q0, std::min(q0 + m, f.queryLength), k0, k1);
      work.push_back(double(steps * f.headGroupSize()) * step);
    }
    return finish(c, std::move(work), f.batch * f.headsKV);
  }

  /// `c` with its CTAs and modelled time: `work` is one CTA's seconds per
  /// tile of a group (every group alike), stretched where too few warps are
  /// resident to hide latency, then scheduled over the SMs' CTA slots.
  TileCandidate finish(TileCandidate c, std::vector<double> work,
                       int64_t groups) const {
    c.ctas = groups * int64_t(work.size());
    double occupancy = std::min(
        1.0, double(c.ctasPerSM * c.numWarps) / double(kWarpsToHideLatency));
    for (double &w : work)
      w /= occupancy;
    c.seconds = simulateMakespan(work, groups, gpu.numSMs * c.ctasPerSM,
                                 c.ctasPerSM);
    return c;
  }

  TileCandidate evaluateDQ(int64_t m) const {
    constexpr int64_t n = 64;
    TileCandidate c;
    c.blockM = m;
    c.blockN = n;
    c.numWarps = m / 16;
    int64_t d = f.headDim, dv = f.valueHeadDim, e = f.elementBytes;
    int64_t threads = 32 * c.numWarps;
    // Q and dO, two stages of K and V (backwardDQSharedBytes), rows padded
    // to 128 bytes.
    c.sharedMemoryBytes =
        (m + 2 * n) * (getSharedRowBytes(d) + getSharedRowBytes(dv));
    // dQ (D / 2), S and dP (n / 2 each), fragments and the overhead.
    c.registersPerThread = d / 2 + n + 16 + kRegisterOverhead;
    c.ctasPerSM = fit(c, threads);
    if (!c.ctasPerSM) {
      if (c.rejected.empty())
        c.rejected = "no CTA fits one SM";
      return c;
    }
    // One (Q block, KV block) step: S = Q K^T, dP = dO V^T, dQ += dS K;
    // every warp reads the K tile twice and V once, the copies write both.
    double mma = 3 * 2.0 * m * n * d / flopsPerSM();
    double smemBytes = c.numWarps * (2.0 * n * d + n * dv) * e +
                       double(n) * (d + dv) * e;
    double smem = smemBytes / (kSharedBytesPerClock * clock());
    double exp = double(m) * n / (sfuRate(gpu) / gpu.numSMs);
    double sync = kBackwardStepSyncCycles +
                  (c.ctasPerSM == 1 ? kLoneCtaStepCycles : 0.0);
    double step = std::max(mma, smem) + exp + sync / clock();
    return finish(c, queryBlockWork(f, m, n, step), f.batch * f.headsQ);
  }
};
} // namespace

/// The fastest candidate of `cs` not rejected (ties within 0.5% keep the
/// earlier), and the runner-up; null when none fits.
static std::pair<const TileCandidate *, const TileCandidate *>
pickFastest(ArrayRef<TileCandidate> cs) {
  const TileCandidate *best = nullptr, *second = nullptr;
  for (const TileCandidate &c : cs) {
    if (!c.rejected.empty())
      continue;
    if (!best || c.seconds < best->seconds * 0.995) {
      second = best;
      best = &c;
    } else if (!second || c.seconds < second->seconds) {
      second = &c;
    }
  }
  return {best, second};
}

BackwardTileChoice
mlir::attn::chooseBackwardTileConfig(const AttentionFigures &f,
                                     const GpuSpec &gpu, bool deterministic,
                                     int64_t reductionWidth,
                                     bool squareWarpTiles) {
  BackwardTileChoice choice;
  BackwardModel model{f, gpu, deterministic,
                      std::max<int64_t>(1, reductionWidth), squareWarpTiles};
  // The fixed tiles first (they win ties), then 128-key CTAs of 8 warps.
  const int64_t mainShapes[][2] = {{64, 64}, {64, 128}, {128, 128}};
  for (auto [m, n] : mainShapes)
    choice.candidates.push_back(model.evaluateMain(m, n));
  // 32-query steps only where no 64-row step fits the registers
  // (getBackwardBlockMLimit): they read K and V for half the queries.
  int64_t blockMLimit = getBackwardBlockMLimit(f.headDim, f.valueHeadDim);
  if (blockMLimit == 32)
    choice.candidates.push_back(model.evaluateMain(32, 64));
  size_t numMain = choice.candidates.size();
  if (deterministic)
    for (int64_t m : {64, 128})
      choice.candidates.push_back(model.evaluateDQ(m));
  ArrayRef<TileCandidate> all(choice.candidates);
  auto [main, mainNext] = pickFastest(all.take_front(numMain));
  auto [dq, dqNext] = pickFastest(all.drop_front(numMain));
  if (!main || (deterministic && !dq)) {
    // The fixed tiles, within the register rule (32-query steps where
    // 64-row ones are over it).
    choice.blockM = std::max<int64_t>(32, std::min<int64_t>(64, blockMLimit));
    choice.reason = llvm::formatv("backward: no candidate fits {0} ({1}); "
                                  "keeping {2} / 64 / 64 tiles",
                                  gpu.name, choice.candidates.front().rejected,
                                  choice.blockM)
                        .str();
    return choice;
  }
  choice.blockM = main->blockM;
  choice.blockN = main->blockN;
  std::string reason = llvm::formatv(
      "backward on {0}: main {1}x{2} ({3} warps, {4} B shared memory, ~{5} "
      "registers/thread, {6} CTA(s)/SM, {7} CTAs) modelled {8:f1} us",
      gpu.name, main->blockM, main->blockN, main->numWarps,
      main->sharedMemoryBytes, main->registersPerThread, main->ctasPerSM,
      main->ctas, main->seconds * 1e6).str();
  if (mainNext)
    reason += llvm::formatv(" (next {0}x{1}: {2:f1} us)", mainNext->blockM,
                            mainNext->blockN, mainNext->seconds * 1e6)
                  .str();
  if (dq) {
    choice.dqBlockM = dq->blockM;
    reason += llvm::formatv("; dQ {0} rows ({1} warps, {2} CTAs) modelled "
                            "{3:f1} us",
                            dq->blockM, dq->numWarps, dq->ctas,
                            dq->seconds * 1e6)
                  .str();
    if (dqNext)
      reason += llvm::formatv(" (next {0} rows: {1:f1} us)", dqNext->blockM,
                              dqNext->seconds * 1e6)
                    .str();
  }
  choice.reason = reason;
  return choice;
}

static std::string describeCandidate(const TileCandidate &c, bool decode) {
  if (decode)
    return llvm::formatv("{0} split(s)", c.numSplits).str();
  return llvm::formatv("{0}x{1} tiles, {2} warps", c.blockM, c.blockN,
                       c.numWarps)
      .str();
}

static TileConfigChoice choosePrefill(const AttentionFigures &f,
                                      const GpuSpec &gpu) {
  TileConfigChoice choice;
  PrefillModel model{f, gpu};
  // The block sizes the prefill kernel accepts (block-m a multiple of
  // 16 x warps, block-n 32, 64 or 128); the usual default first, so it
  // wins ties.
  const int64_t shapes[][2] = {{128, 4}, {64, 4}, {128, 8}, {256, 8}};
  for (auto [m, warps] : shapes)
    for (int64_t n : {64, 32, 128})
      choice.candidates.push_back(model.evaluate(m, warps, n));
  const TileCandidate *best = nullptr, *second = nullptr;
  for (const TileCandidate &c : choice.candidates) {
    if (!c.rejected.empty())
      continue;
    // Within 0.5% counts as a tie: the earlier (more usual) one stays.
    if (!best || c.seconds < best->seconds * 0.995) {
      second = best;
      best = &c;
    } else if (!second || c.seconds < second->seconds) {
      second = &c;
    }
  }
  if (!best) {
    choice.chosen = choice.candidates[1]; // 64x64, 4 warps: the smallest
    choice.reason = llvm::formatv("prefill: no candidate fits {0} ({1}); "
                                  "falling back to 64x64 tiles, 4 warps",
                                  gpu.name, choice.candidates[1].rejected)
                        .str();
    return choice;
  }
  choice.chosen = *best;
  if (second)
    choice.runnerUp = second - choice.candidates.data();
  const TileCandidate &c = *best;
  std::string reason = llvm::formatv(
      "prefill on {0}: {1}: {2} B shared memory and ~{3} registers/thread "
      "give {4} CTA(s)/SM ({5} slots) for {6} CTAs ({7} wave(s)); modelled "
      "{8:f1} us",
      gpu.name, describeCandidate(c, false), c.sharedMemoryBytes,
      c.registersPerThread, c.ctasPerSM, c.ctasPerSM * gpu.numSMs, c.ctas,
      c.waves, c.seconds * 1e6).str();
  if (second)
    reason += llvm::formatv(" (next: {0}, {1:f1} us)",
                            describeCandidate(*second, false),
                            second->seconds * 1e6)
                  .str();
  choice.reason = reason;
  return choice;
}

/// The split counts the decode model weighs: products of 2 and 3, which
/// cut power-of-two key counts into whole steps more often than the counts
/// between them (and are what the device sweep times).
static constexpr int64_t kDecodeSplitCandidates[] = {1,  2,  3,  4,  6,  8,
                                                     12, 16, 24, 32, 48, 64};

static TileConfigChoice chooseDecode(const AttentionFigures &f,
                                     const GpuSpec &gpu) {
  TileConfigChoice choice;
  choice.decode = true;
  DecodeModel model{f, gpu};
  int64_t smem = model.sharedMemoryBytes();
  int64_t threads = 32 * model.warps;
  int64_t ctasPerSM = std::max<int64_t>(
      1, std::min({gpu.sharedMemoryPerSM / (smem + kReservedSharedPerCta),
                   gpu.maxThreadsPerSM / threads, gpu.maxBlocksPerSM}));
  int64_t keysPerStep = model.warps * DecodeModel::keysPerWarp;
  // At least two steps of keys per split, at most 64 splits (the decode
  // kernel's merge bound).
  int64_t maxSplits = std::clamp<int64_t>(
      model.visibleKeys() / (2 * keysPerStep), 1, 64);
  for (int64_t s : kDecodeSplitCandidates)
    if (s <= maxSplits)
      choice.candidates.push_back(model.evaluate(s, ctasPerSM));
  int64_t best = 0;
  for (auto [i, c] : llvm::enumerate(choice.candidates))
    // Fewer splits unless more save over 2%: merges cost what the model
    // does not see (the counter, the last CTA's reads).
    if (c.seconds < choice.candidates[best].seconds * 0.98)
      best = i;
  for (auto [i, c] : llvm::enumerate(choice.candidates))
    if (int64_t(i) != best &&
        (choice.runnerUp < 0 ||
         c.seconds < choice.candidates[choice.runnerUp].seconds))
      choice.runnerUp = i;
  choice.chosen = choice.candidates[best];
  const TileCandidate &c = choice.chosen;
  choice.reason =
      llvm::formatv(
          "decode on {0}: {1} group(s) (B x Hkv) of {2} visible keys; {3} "
          "CTA(s)/SM ({4} B shared memory) give {5} slots; {6} split(s) -> "
          "{7} CTAs ({8} wave(s)), modelled {9:f2} us; one CTA streams "
          "{10:f0} GB/s{11}",
          gpu.name, f.batch * f.headsKV, model.visibleKeys(), ctasPerSM, smem,
          ctasPerSM * gpu.numSMs, c.numSplits, c.ctas, c.waves,
          c.seconds * 1e6, model.ctaBandwidth() / 1e9,
          f.kvSource == KVSource::Paged ? " (paged)" : "")
          .str();
  if (choice.runnerUp >= 0) {
    const TileCandidate &next = choice.candidates[choice.runnerUp];
    choice.reason += llvm::formatv(" (next: {0} split(s), {1:f2} us)",
                                   next.numSplits, next.seconds * 1e6)
                         .str();
  }
  return choice;
}

TileConfigChoice mlir::attn::chooseTileConfig(const AttentionFigures &f,
                                              const GpuSpec &gpu) {
  // convert-attn-to-nvvm kernel=auto: decode when a group's rows fit m16.
  if (f.headGroupSize() * f.queryLength <= 16)
    return chooseDecode(f, gpu);
  return choosePrefill(f, gpu);
}

TileConfigChoice mlir::attn::chooseHopperTileConfig(const AttentionFigures &f,
                                                    const GpuSpec &gpu) {
  TileConfigChoice choice;
  choice.hopper = true;
  HopperModel model{f, gpu};
  // The kernel's defaults (block-n 128, 2 stages) first: they win ties.
  for (int64_t n : {128, 64})
    for (int64_t stages : {2, 3, 4})
      choice.candidates.push_back(model.evaluate(n, stages));
  const TileCandidate *best = nullptr, *second = nullptr;
  for (const TileCandidate &c : choice.candidates) {
    if (!c.rejected.empty())
      continue;
    if (!best || c.seconds < best->seconds * 0.995) {
      second = best;
      best = &c;
    } else if (c.blockN != best->blockN &&
               (!second || c.seconds < second->seconds)) {
      second = &c;
    }
  }
  if (!best) {
    choice.chosen = choice.candidates.front();
    choice.reason = llvm::formatv("hopper: no candidate fits {0} ({1}); "
                                  "keeping block-n 128, 2 stages",
                                  gpu.name, choice.chosen.rejected)
                        .str();
    return choice;
  }
  choice.chosen = *best;
  if (second)
    choice.runnerUp = second - choice.candidates.data();
  const TileCandidate &c = *best;
  choice.reason =
      llvm::formatv("hopper on {0}: block-n {1}, {2} stages: {3} B shared "
                    "memory and ~{4} registers/consumer thread, 1 CTA/SM for "
                    "{5} CTAs ({6} wave(s)); modelled {7:f1} us",
                    gpu.name, c.blockN, c.stages, c.sharedMemoryBytes,
                    c.registersPerThread, c.ctas, c.waves, c.seconds * 1e6)
          .str();
  if (second)
    choice.reason += llvm::formatv(" (block-n {0}: {1:f1} us)", second->blockN,
                                   second->seconds * 1e6)
                         .str();
  return choice;
}

const TileCandidate *mlir::attn::getRunnerUp(const TileConfigChoice &choice) {
  if (choice.runnerUp < 0 ||
      choice.runnerUp >= int64_t(choice.candidates.size()))
    return nullptr;
  return &choice.candidates[choice.runnerUp];
}

std::string mlir::attn::describePlannedTiles(KernelInfoAttr info) {
  StringRef family = info.getFamily();
  if (family == "decode")
    return llvm::formatv("decode {0} split(s), {1} warps", info.getNumSplits(),
                         info.getNumWarps())
        .str();
  if (family == "hopper")
    return llvm::formatv("hopper block-n {0}, {1} stages", info.getBlockN(),
                         info.getStages())
        .str();
  return llvm::formatv("{0} {1}x{2} tiles, {3} warps", family,
                       info.getBlockM(), info.getBlockN(), info.getNumWarps())
      .str();
}

std::string mlir::attn::describeGpuTilePlan(const GpuTilePlan &plan) {
  std::string text = describePlannedTiles(plan.info) + " from " + plan.source;
  if (!plan.model)
    return text;
  // Options that won still show what the model would have taken.
  return text + (plan.fromModel ? ": " : "; the model's choice: ") +
         plan.model->reason;
}
