// MLIR 22's parser segfaults on a dense array of `index` (mlir-opt too);
// attn-opt and attn-compile scan their input first and refuse it with a
// diagnostic (docs/Reliability.md, "Known upstream crashes"; issue #20).
// RUN: not attn-opt %s 2>&1 | FileCheck %s
// RUN: not attn-compile %s 2>&1 | FileCheck %s
// A mention in a comment or a string is not refused, so the diagnostic points
// at the attribute below: array<index: 0.25>

// CHECK: upstream-index-array.mlir:[[@LINE+1]]:62: error: expected a dense array of integer or float elements, got `array<index ...>` (MLIR 22's parser would crash on it; see docs/Reliability.md)
func.func @index_array() attributes {s = "array<index>", a = array<index: 0.25>} {
  return
}
