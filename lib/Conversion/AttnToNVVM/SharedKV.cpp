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

LogicalResult mlir::attn::detail::checkSharedKVCache(AttentionOp op) {
  auto prefix = op.getValue().getDefiningOp<KVPrefixOp>();
  if (!prefix)
    return success();
  int64_t d = op.getHeadDim(), dv = op.getValueHeadDim();
  // The mma.sync families hold a 16-row warp tile's O accumulators and the
  // K/V rows of a subtile for D <= 256; MLA's 576/512 rows need a kernel
  // that splits Dv across warps (and many query heads per CTA).
  if (!isSupportedGpuHeadDim(d) || !isSupportedGpuHeadDim(dv))
    return op.emitOpError()
           << "expected head dims D and Dv that are multiples of 16 in "
              "[32, 256] on the GPU path, got D = "
           << d << ", Dv = " << dv
           << " over one shared K/V cache (attn.kv_prefix): the latent "
              "(MLA) decode kernel for rows wider than 256 is not "
              "implemented; the CPU path runs it";
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
