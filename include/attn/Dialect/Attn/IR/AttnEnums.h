//===- AttnEnums.h - attn dialect enums -------------------------*- C++ -*-===//
//
// Part of attn-mlir. The generated enums (MaskKind, Layout) behind one
// include guard, for headers that need them without the ops.
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_DIALECT_ATTN_IR_ATTNENUMS_H
#define ATTN_DIALECT_ATTN_IR_ATTNENUMS_H

#include "mlir/IR/Attributes.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "llvm/ADT/StringRef.h"

#include "attn/Dialect/Attn/IR/AttnEnums.h.inc"

#endif // ATTN_DIALECT_ATTN_IR_ATTNENUMS_H
