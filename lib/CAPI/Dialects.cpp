//===- Dialects.cpp - C API of the attn dialect ---------------------------===//
//
// Part of attn-mlir.
//
//===----------------------------------------------------------------------===//

#include "attn-c/Dialects.h"
#include "attn/Dialect/Attn/IR/AttnDialect.h"
#include "attn/Dialect/Attn/IR/AttnOps.h"
#include "attn/InitAll.h"

#include "mlir/CAPI/IR.h"
#include "mlir/CAPI/Registration.h"
#include "mlir/IR/Builders.h"

using namespace mlir;
using namespace mlir::attn;

MLIR_DEFINE_CAPI_DIALECT_REGISTRATION(Attn, attn, mlir::attn::AttnDialect)

// The C enums spell the ODS enums' values; a changed ODS case must fail here.
static_assert(MlirAttnMaskNone == static_cast<int>(MaskKind::None) &&
              MlirAttnMaskCausalTopLeft ==
                  static_cast<int>(MaskKind::CausalTopLeft) &&
              MlirAttnMaskCausalBottomRight ==
                  static_cast<int>(MaskKind::CausalBottomRight) &&
              MlirAttnMaskSlidingWindow ==
                  static_cast<int>(MaskKind::SlidingWindow));
static_assert(MlirAttnLayoutBHSD == static_cast<int>(Layout::BHSD) &&
              MlirAttnLayoutBSHD == static_cast<int>(Layout::BSHD));

void mlirAttnRegisterRequiredDialects(MlirDialectRegistry registry) {
  registerRequiredDialects(*unwrap(registry));
}

MlirAttribute mlirAttnMaskAttrGet(MlirContext ctx, MlirAttnMaskKind kind) {
  return wrap(MaskKindAttr::get(unwrap(ctx), static_cast<MaskKind>(kind)));
}

MlirAttribute mlirAttnLayoutAttrGet(MlirContext ctx, MlirAttnLayout layout) {
  return wrap(LayoutAttr::get(unwrap(ctx), static_cast<Layout>(layout)));
}

MlirOperation mlirAttnAttentionOpCreate(MlirLocation loc, MlirValue query,
                                        MlirValue key, MlirValue value,
                                        MlirAttnMaskKind mask, bool withLse) {
  Location location = unwrap(loc);
  // No insertion point: the op is created detached, as mlirOperationCreate
  // does.
  OpBuilder builder(location.getContext());
  auto op =
      AttentionOp::create(builder, location, unwrap(query), unwrap(key),
                          unwrap(value), static_cast<MaskKind>(mask), withLse);
  return wrap(op.getOperation());
}

bool mlirOperationIsAAttnAttention(MlirOperation op) {
  return isa<AttentionOp>(unwrap(op));
}
