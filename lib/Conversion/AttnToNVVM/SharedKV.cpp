//===- SharedKV.cpp - one K/V cache for both operands on the GPU path -----===//
//
// Part of attn-mlir. What the GPU path supports of a value operand that is
// attn.kv_prefix of the key's cache (DeepSeek MLA's latent decode): the
// problem check that names what is missing, and the question the decode
// family asks to read each row once for both Q.K and P.V.
//
//===----------------------------------------------------------------------===//

#include "KernelFamily.h"

#include "attn/Dialect/Attn/IR/AttnOps.h"

using namespace mlir;
using namespace mlir::attn;
using namespace mlir::attn::detail;

/// The widest latent rows the latent decode kernel holds: a 64-row Q tile
/// and four 32-key stages of 576-wide rows fill 221 KiB of shared memory,
/// and half of a 512-wide O accumulator is 128 registers per thread.
static constexpr int64_t kMaxLatentKeyDim = 576, kMaxLatentValueDim = 512;

bool mlir::attn::detail::isLatentSharedKVShape(int64_t d, int64_t dv) {
  // Rows the decode family does not hold (D or Dv over 256), that the
  // latent kernel does: k16 steps of D, Dv in two halves of whole k16 steps.
  return (d > 256 || dv > 256) && d % 16 == 0 && d <= kMaxLatentKeyDim &&
         dv % 32 == 0 && dv <= kMaxLatentValueDim && dv <= d;
}

LogicalResult mlir::attn::detail::checkSharedKVCache(AttentionOp op) {
  auto prefix = op.getValue().getDefiningOp<KVPrefixOp>();
  if (!prefix)
    return success();
  int64_t d = op.getHeadDim(), dv = op.getValueHeadDim();
  // The mma.sync decode family holds a 16-row warp tile's O accumulators
  // and the K/V rows of a subtile for D <= 256; wider latent rows (MLA's
  // 576/512) go to its latent kernel (DecodeLatent.cpp), which splits Dv
  // across warps and packs many query heads per CTA.
  bool latent = isLatentSharedKVShape(d, dv);
  if (!latent && (!isSupportedGpuHeadDim(d) || !isSupportedGpuHeadDim(dv)))
    return op.emitOpError()
           << "expected head dims D and Dv that are multiples of 16 in "
              "[32, 256], or latent rows D <= "
           << kMaxLatentKeyDim << " (a multiple of 16) with Dv <= "
           << kMaxLatentValueDim
           << " (a multiple of 32), on the GPU path, got D = " << d
           << ", Dv = " << dv << " over one shared K/V cache (attn.kv_prefix)";
  // The families address a view's rows through its hook; a plain K tensor
  // is addressed by its strides, and a V prefix of it has no such form yet.
  if (!prefix.getSourceView())
    return op.emitOpError()
           << "expected the shared K/V cache (attn.kv_prefix) over a KV "
              "cache view (e.g. attn.paged_view) on the GPU path; over a "
              "plain K tensor it is not implemented";
  return success();
}

bool mlir::attn::detail::valueSharesKeyRows(const KernelProblem &p) {
  auto prefix = dyn_cast_or_null<KVPrefixOp>(p.valueView);
  return prefix && p.keyView && prefix.getSource().getDefiningOp() == p.keyView;
}

bool mlir::attn::detail::needsLatentDecode(const KernelProblem &p) {
  return valueSharesKeyRows(p) &&
         isLatentSharedKVShape(p.headDim, p.valueHeadDim);
}
