//===- BackwardKernel.h - the mma.sync backward kernel family --*- C++ -*-===//
//
// Part of attn-mlir. The FlashAttention-2 backward as three kernels launched
// in stream order (convert-attn-backward-to-nvvm): preprocess (delta, the
// base-2 LSE, dq_accum zeroed), main (one CTA per KV block: dK, dV in
// registers, dQ added to dq_accum with f32 atomics) and convert (dq_accum to
// dQ). All three take the same arguments, so a caller passes one argument
// array and one workspace buffer to each launch (the manifests list them
// alike).
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_LIB_CONVERSION_ATTNTONVVM_BACKWARDKERNEL_H
#define ATTN_LIB_CONVERSION_ATTNTONVVM_BACKWARDKERNEL_H

#include "attn/Conversion/AttnToNVVM/AttnToNVVM.h"

#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "llvm/Support/MathExtras.h"

#include <algorithm>

namespace mlir::attn::detail {

/// The fixed tiles (tile-model off, no tile option given): 64 keys per
/// main CTA (16 per warp, 4 warps), Q blocks of 64 rows, dQ CTAs of 64
/// rows. The deterministic dQ kernel's KV blocks are always 64 keys.
constexpr int64_t kBackwardBlockM = 64;
constexpr int64_t kBackwardBlockN = 64;
constexpr int64_t kBackwardWarps = 4;
/// The preprocess and convert kernels' block (and the 4-warp main's).
constexpr int64_t kBackwardThreads = 32 * kBackwardWarps;

/// The tiles of a backward program (convert-attn-backward-to-nvvm block-m,
/// block-n, dq-block-m, or the cost model's choice). Every warp owns 16
/// rows of its kernel's accumulators: the main kernel's blockN keys (dK, dV
/// of 16 keys per warp, so blockN / 16 warps) and the dQ kernel's dqBlockM
/// query rows (dqBlockM / 16 warps).
struct BackwardTiles {
  int64_t blockM = kBackwardBlockM, blockN = kBackwardBlockN;
  int64_t dqBlockM = kBackwardBlockM;
  int64_t mainWarps() const { return blockN / 16; }
  int64_t mainThreads() const { return 32 * mainWarps(); }
  int64_t dqWarps() const { return dqBlockM / 16; }
  int64_t dqThreads() const { return 32 * dqWarps(); }
  /// The main kernel's dQ = dS K split: warps cover blockM / dqWarpRows
  /// row groups times dqColumnParts column parts of D.
  int64_t dqColumnParts() const { return mainWarps() / (blockM / dqWarpRows); }
  /// Query rows of a warp's dQ tile in the main kernel: 16, or 32 (two m16
  /// tiles: each K fragment serves twice the rows).
  int64_t dqWarpRows = 16;
  /// 128-key CTAs: 32 x 32-ish warp tiles with P^T and dS^T staged through
  /// shared memory (convert-attn-backward-to-nvvm square-warp-tiles).
  bool squareWarpTiles = false;
  bool square() const { return squareWarpTiles && blockN == 128 && !hopper; }
  /// The sm_90a main kernel (BackwardHopper.cpp): two warpgroups of 64
  /// keys, wgmma on 128B-swizzled panels; blockN 128, blockM 64.
  bool hopper = false;
};

/// Kernel argument positions, the same in the three kernels.
enum BackwardArgument : int64_t {
  kBwdQ,
  kBwdK,
  kBwdV,
  kBwdO,
  kBwdDO,
  kBwdLse,
  kBwdDQ,
  kBwdDK,
  kBwdDV,
  /// Workspaces: delta [B, Hq, Lq] f32, lse_log2 [B, Hq, Lq] f32,
  /// dq_accum [B, Hq, Lq, D] f32, fragment-tiled (kDQAccumGroupRows; not
  /// in the deterministic program), dbias_accum f32 of the bias' shape
  /// (only where d_bias is reduced with atomics:
  /// backwardGradBiasAtomic).
  kBwdDelta,
  kBwdLseLog2,
  kBwdDQAccum,
  kBwdDBiasAccum,
  kBwdNumArguments
};

/// The score operands a backward kernel takes after the LSE, in the entry
/// function's order: bias, mask, key_lengths, sinks, cu_seqlens_q,
/// cu_seqlens_k and grad_lse (each where the problem has it); dQ, dK and dV
/// follow them, then d_bias with grad_bias and d_sinks with sinks, then the
/// workspaces, so a kernel without score operands keeps the BackwardArgument
/// positions.
struct BackwardScoreArguments {
  std::optional<int64_t> bias, mask, keyLengths, sinks, cuSeqlensQ, cuSeqlensK,
      gradLse, gradSinks, gradBias;
  /// The inputs among them.
  int64_t count = 0;
};
inline BackwardScoreArguments getBackwardScoreArguments(const KernelProblem &p) {
  BackwardScoreArguments a;
  auto next = [&](bool present, std::optional<int64_t> &slot) {
    if (present)
      slot = kBwdDQ + a.count++;
  };
  next(p.withBias(), a.bias);
  next(p.withMask(), a.mask);
  next(p.withKeyLengths, a.keyLengths);
  next(p.withSinks, a.sinks);
  next(p.varlen, a.cuSeqlensQ);
  next(p.varlen, a.cuSeqlensK);
  next(p.withGradLse, a.gradLse);
  // d_bias, then d_sinks, after dV (the entry's order).
  if (p.withGradBias)
    a.gradBias = kBwdDV + 1 + a.count;
  if (p.withSinks)
    a.gradSinks = kBwdDV + 1 + a.count + (p.withGradBias ? 1 : 0);
  return a;
}
/// The kernel argument position of BackwardArgument `a`: with f32-compute
/// the scratch copy in place of an f32 Q, K, V, O, dO, dQ, dK or dV.
inline int64_t getBackwardArgumentIndex(const KernelProblem &p, int64_t a) {
  if (p.roundedArguments >= 0 && a <= kBwdDV && a != kBwdLse)
    return p.roundedArguments + (a < kBwdLse ? a : a - 1);
  if (a < kBwdDQ)
    return a;
  int64_t shift = getBackwardScoreArguments(p).count;
  return a <= kBwdDV
             ? a + shift
             : a + shift + (p.withSinks ? 1 : 0) + (p.withGradBias ? 1 : 0);
}

/// Whether d_bias sums dS over broadcast extents (a bias extent of 1
/// against B, Hq, Lq or Lk > 1): then the main kernel adds into the f32
/// dbias_accum with atomics (zeroed by _bwd_dbias_zero, rounded into d_bias
/// by _bwd_dbias_convert); a full-shape bias' gradient is dS itself, each
/// element stored once, rounded, by the main kernel.
inline bool backwardGradBiasAtomic(const KernelProblem &p) {
  if (!p.withGradBias)
    return false;
  int64_t full[] = {p.batch, p.headsQ, p.seqQ, p.seqK};
  for (int64_t axis = 0; axis < 4; ++axis)
    if (p.biasShape[axis] != full[axis])
      return true;
  return false;
}
/// Elements of the bias (and of d_bias, dbias_accum).
inline int64_t backwardBiasElements(const KernelProblem &p) {
  int64_t n = 1;
  for (int64_t extent : p.biasShape)
    n *= extent;
  return n;
}

/// How the main kernel adds its dQ tile to dq_accum (the
/// convert-attn-backward-to-nvvm option dq-reduction). Every mode writes
/// the fragment-tiled layout of dq_accum (kDQAccumGroupRows).
enum class DQReduction {
  /// One atom.global.add.f32 per element (any chip).
  Atom,
  /// Two red.global.add.v2.f32 per C fragment (sm_90, PTX 8.1).
  RedV2,
  /// One red.global.add.v4.f32 per C fragment (sm_90, PTX 8.1): a quarter
  /// of Atom's reduction instructions, each a warp's 512 contiguous bytes.
  RedV4,
};

/// dq_accum [B, Hq, Lq, D] f32 is stored fragment-tiled, so that a warp's
/// reduction of one mma C fragment per lane covers whole 128-byte lines
/// (the natural layout put each red on 8 rows, 8 lines for 256 bytes):
/// within every group of 16 rows [16k, 16k + 16) wholly below Lq and every
/// unit of 32 columns [32u, 32u + 32), the element at row 16k + 8h + g,
/// column 32u + 8n + 2t + e (h, e < 2; g < 8; n, t < 4: the C fragment of
/// lane 4g + t in n8 tile n) lives at row 16k + 4n + g / 2, column
/// 32u + 16 (g % 2) + 4t + 2h + e. The 4 floats of a lane's fragment are
/// consecutive, and lanes 8i .. 8i + 7 cover one 128-byte row part. The
/// rows of a group that crosses Lq are stored as they are (the layout
/// needs no padding). Only the main and convert kernels read the layout.
constexpr int64_t kDQAccumGroupRows = 16;
/// Whether dq_accum takes the tiled layout above: its 32-column units need
/// D a multiple of 32, and its groups rows that start on a multiple of 16.
/// Other D (48, 80, 112, ...) store every row group natural ([B, Hq, Lq, D]
/// row-major), as the groups that cross Lq.
inline bool backwardDQAccumTiled(const KernelProblem &p) {
  // A varlen sequence's rows start anywhere, not on a group of 16.
  return p.headDim % 32 == 0 && !p.varlen;
}

/// Lanes of the preprocess kernel per query row: one per 16-byte chunk of
/// the wider of a dO row and a dq_accum row, rounded up to a power of two
/// (the row sum is a butterfly; D / 8 where D = Dv is a power of two).
inline int64_t backwardPreprocessLanes(const KernelProblem &p) {
  return int64_t(
      llvm::PowerOf2Ceil(std::max(p.headDim, p.valueHeadDim) / 8));
}
/// Query rows one preprocess CTA covers.
inline int64_t backwardPreprocessRows(const KernelProblem &p) {
  return kBackwardThreads / backwardPreprocessLanes(p);
}
/// Bytes of a row of the main kernel's staged dS^T (and P^T) tile: block-m
/// 16-bit elements, at least 128 (block-m 32) so that the chunk swizzle
/// stays in the row.
inline int64_t backwardStagedRowBytes(int64_t blockM) {
  return std::max<int64_t>(blockM * 2, 128);
}
/// The alignment of the hopper main kernel's tiles (a 128B swizzle atom of
/// 8 rows); its dynamic shared memory reserves that much more for aligning
/// the base.
constexpr int64_t kHopperBackwardAlignment = 1024;
/// Dynamic shared memory of the main kernel: K, V, the dS^T tile (and the
/// P^T tile with square warp tiles) and two stages of (Q, dO, lse_log2,
/// delta).
int64_t backwardMainSharedBytes(const KernelProblem &p,
                                const BackwardTiles &tiles);

/// Dynamic shared memory of the deterministic dQ kernel: Q, dO and two
/// stages of (K, V).
int64_t backwardDQSharedBytes(const KernelProblem &p,
                              const BackwardTiles &tiles);

/// `atomicDQ`: the main kernel adds dQ to dq_accum (which the preprocess
/// zeroes and the convert kernel reads); otherwise dq_accum does not exist
/// and emitBackwardDQ computes dQ (the deterministic program).
void emitBackwardPreprocess(gpu::GPUFuncOp func, const KernelProblem &p,
                            bool atomicDQ);
/// The main kernel's choices (convert-attn-backward-to-nvvm options).
struct BackwardMainOptions {
  bool atomicDQ = true;
  DQReduction reduction = DQReduction::Atom;
  /// Atomic path only: KV block n starts its Q loop at Q block n mod the
  /// count (then wraps) instead of every CTA of a head at the same block,
  /// so that concurrent reductions hit different dq_accum rows.
  bool rotateQBlocks = false;
  BackwardTiles tiles;
};
void emitBackwardMain(gpu::GPUFuncOp func, const KernelProblem &p,
                      const BackwardMainOptions &options);
void emitBackwardConvert(gpu::GPUFuncOp func, const KernelProblem &p);
/// d_bias' launches (BackwardBiasGradient.cpp), one thread per element of
/// the bias (kBackwardThreads per CTA): d_bias (full shape) or dbias_accum
/// (broadcast) zeroed before the main kernel; dbias_accum rounded into
/// d_bias after it.
void emitBackwardBiasZero(gpu::GPUFuncOp func, const KernelProblem &p);
void emitBackwardBiasConvert(gpu::GPUFuncOp func, const KernelProblem &p);
/// d_sinks[h] = -sum_{b, i} exp(sinks[h] - lse[b, h, i]) delta[b, h, i]:
/// one CTA of kBackwardThreads per query head, summed in a fixed order
/// (bit-identical run to run), after the preprocess (BackwardSinksKernel.cpp).
void emitBackwardSinks(gpu::GPUFuncOp func, const KernelProblem &p);
/// The sinks kernel's shared memory: one f32 per warp.
constexpr int64_t kBackwardSinksSharedBytes = 4 * kBackwardWarps;
/// The deterministic dQ: one CTA per (Q block of tiles.dqBlockM rows,
/// batch, query head) over the KV blocks its rows see, dQ accumulated in
/// registers in a fixed order (BackwardDQKernel.cpp).
void emitBackwardDQ(gpu::GPUFuncOp func, const KernelProblem &p,
                    const BackwardTiles &tiles);

} // namespace mlir::attn::detail

#endif // ATTN_LIB_CONVERSION_ATTNTONVVM_BACKWARDKERNEL_H
