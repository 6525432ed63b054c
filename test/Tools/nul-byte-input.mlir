// The first attn-fuzz finding (tools/attn-fuzz/regressions/nul-first-byte):
// a NUL byte then a bare identifier. MLIR's lexer relies on the NUL after a
// MemoryBuffer's contents; the harness had handed it a buffer without one.
// The tools read files into NUL-terminated buffers: a diagnostic, exit 1.
// RUN: printf '\000funcarith.remuprc.u' > %t
// RUN: not attn-opt %t 2>&1 | FileCheck %s
// RUN: not attn-compile %t 2>&1 | FileCheck %s
// CHECK: error: Dialect `funcarith' not found for custom op 'funcarith.remuprc.u'
