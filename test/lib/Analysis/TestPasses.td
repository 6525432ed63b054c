//===- TestPasses.td - test-only passes of attn-mlir ------*- tablegen -*-===//
//
// Part of attn-mlir's tests: passes that print what an analysis concludes,
// loaded into attn-opt with --load-pass-plugin (TestAnalysisPlugin.so).
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_TEST_ANALYSIS_PASSES
#define ATTN_TEST_ANALYSIS_PASSES

include "mlir/Pass/PassBase.td"

def TestAttnMaskModIntervals : Pass<"test-attn-mask-mod-intervals"> {
  let summary = "Remarks with the interval classification of mask_mod blocks";
  let description = [{
    For every `attn.attention` with a `mask_mod` region, remarks whether the
    region is interval-evaluable (MaskModIntervals.h) and, for each block
    the op lists in its `test.blocks` attribute (arrays `[b, h, q0, q1, k0,
    k1]`), the block's class: `all-true`, `all-false` or `mixed`.

    ```mlir
    %o = attn.attention ins(%q, %k, %v : ...) {test.blocks = [
           array<i64: 0, 0, 64, 127, 0, 63>]} -> tensor<...>
    mask_mod { ... }
    // remark: mask_mod block b 0 h 0 q [64, 127] k [0, 63]: all-true
    ```
  }];
  let dependentDialects = ["mlir::arith::ArithDialect"];
}

#endif // ATTN_TEST_ANALYSIS_PASSES
