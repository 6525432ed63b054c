// RUN: attn-opt %s --attn-tile="block-m=0" -verify-diagnostics -o /dev/null
// Every option is checked against its range before any IR is emitted, and
// the diagnostic names the option, the range and the value (issue #20).
// RUN: not attn-opt %s --attn-tile="block-n=-4" 2>&1 | FileCheck %s --check-prefix=NEG
// RUN: not attn-opt %s --attn-tile="block-m=268435456" 2>&1 | FileCheck %s --check-prefix=HUGE
// RUN: not attn-opt %s --attn-tile="num-splits=2147483648" 2>&1 | FileCheck %s --check-prefix=SPLITS
// RUN: not attn-opt %s --attn-tile="num-splits=0" 2>&1 | FileCheck %s --check-prefix=ZERO

// NEG: error: 'attn.attention' op expected attn-tile option block-n in [1, 65536], got -4
// HUGE: error: 'attn.attention' op expected attn-tile option block-m in [1, 65536], got 268435456
// SPLITS: error: 'attn.attention' op expected attn-tile option num-splits in [1, 1024], got 2147483648
// ZERO: error: 'attn.attention' op expected attn-tile option num-splits in [1, 1024], got 0

// Tile sizes must be positive; the op is reported and left as it was.
func.func @zero_block(%q: tensor<1x1x8x16xf32>, %k: tensor<1x1x8x16xf32>, %v: tensor<1x1x8x16xf32>) -> tensor<1x1x8x16xf32> {
  // expected-error @+1 {{expected attn-tile option block-m in [1, 65536], got 0}}
  %o = attn.attention ins(%q, %k, %v : tensor<1x1x8x16xf32>, tensor<1x1x8x16xf32>, tensor<1x1x8x16xf32>) -> tensor<1x1x8x16xf32>
  return %o : tensor<1x1x8x16xf32>
}
