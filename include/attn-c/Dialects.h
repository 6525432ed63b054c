/*===- Dialects.h - C API of the attn dialect ---------------------*- C -*-===*\
|*                                                                            *|
|* Part of attn-mlir. The attn dialect in the style of mlir-c: its dialect    *|
|* handle, the minimal registration of what the attn pipelines need, and     *|
|* attn.attention creation. Link libAttnMLIRCAPI.so, which also carries the  *|
|* upstream mlir-c IR API (mlirContextCreate, ...).                          *|
|*                                                                            *|
\*===----------------------------------------------------------------------===*/

#ifndef ATTN_C_DIALECTS_H
#define ATTN_C_DIALECTS_H

#include "mlir-c/IR.h"
#include "mlir-c/Support.h"

#ifdef __cplusplus
extern "C" {
#endif

MLIR_DECLARE_CAPI_DIALECT_REGISTRATION(Attn, attn);

/// Inserts the attn dialect and the upstream dialects, interface models and
/// LLVM IR translations the attn pipelines need
/// (attn::registerRequiredDialects) into `registry`.
MLIR_CAPI_EXPORTED void
mlirAttnRegisterRequiredDialects(MlirDialectRegistry registry);

/// attn::MaskKind (the values of #attn.mask).
typedef enum MlirAttnMaskKind {
  MlirAttnMaskNone = 0,
  MlirAttnMaskCausalTopLeft = 1,
  MlirAttnMaskCausalBottomRight = 2,
  MlirAttnMaskSlidingWindow = 3,
} MlirAttnMaskKind;

/// attn::Layout (the values of #attn.layout).
typedef enum MlirAttnLayout {
  MlirAttnLayoutBHSD = 0,
  MlirAttnLayoutBSHD = 1,
} MlirAttnLayout;

MLIR_CAPI_EXPORTED MlirAttribute mlirAttnMaskAttrGet(MlirContext ctx,
                                                     MlirAttnMaskKind kind);
MLIR_CAPI_EXPORTED MlirAttribute mlirAttnLayoutAttrGet(MlirContext ctx,
                                                       MlirAttnLayout layout);

/// Creates a detached attn.attention(query, key, value) on ranked tensors
/// (append it to a block with mlirBlockAppendOwnedOperation), inferring its
/// result types: the output and, with `withLse`, the log-sum-exp. Further
/// attributes (scale, softcap, window, alibi_slopes, layout) can be set by
/// name with mlirOperationSetAttributeByName. Verify the enclosing module
/// (mlirOperationVerify) to check it.
MLIR_CAPI_EXPORTED MlirOperation
mlirAttnAttentionOpCreate(MlirLocation loc, MlirValue query, MlirValue key,
                          MlirValue value, MlirAttnMaskKind mask, bool withLse);

/// True if `op` is an attn.attention.
MLIR_CAPI_EXPORTED bool mlirOperationIsAAttnAttention(MlirOperation op);

#ifdef __cplusplus
}
#endif

#endif /* ATTN_C_DIALECTS_H */
