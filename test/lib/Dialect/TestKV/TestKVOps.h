//===- TestKVOps.h - a foreign KV cache layout for tests --------*- C++ -*-===//
//
// Part of attn-mlir's tests. See TestKVOps.td.
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_TEST_LIB_DIALECT_TESTKV_TESTKVOPS_H
#define ATTN_TEST_LIB_DIALECT_TESTKV_TESTKVOPS_H

#include "attn/Dialect/Attn/IR/AttnOps.h"

#include "mlir/Bytecode/BytecodeOpInterface.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/Dialect.h"
#include "mlir/IR/OpDefinition.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"

#include "TestKVDialect.h.inc"

#define GET_OP_CLASSES
#include "TestKVOps.h.inc"

#endif // ATTN_TEST_LIB_DIALECT_TESTKV_TESTKVOPS_H
