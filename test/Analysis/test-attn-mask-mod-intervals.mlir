// RUN: attn-opt %s --load-pass-plugin=%test_analysis_plugin --pass-pipeline="builtin.module(test-attn-mask-mod-intervals)" --split-input-file --verify-diagnostics

// Causal as a mask_mod (k <= q): keys [0, 63] are below every query of
// [64, 127] (all true), keys [128, 191] above all of them (all false); the
// diagonal block holds both.
func.func @causal(%q: tensor<1x1x256x64xbf16>) -> tensor<1x1x256x64xbf16> {
  // expected-remark @+4 {{mask_mod interval-evaluable}}
  // expected-remark @+3 {{mask_mod block b 0 h 0 q [64, 127] k [0, 63]: all-true}}
  // expected-remark @+2 {{mask_mod block b 0 h 0 q [64, 127] k [128, 191]: all-false}}
  // expected-remark @+1 {{mask_mod block b 0 h 0 q [64, 127] k [64, 127]: mixed}}
  %o = attn.attention ins(%q, %q, %q : tensor<1x1x256x64xbf16>, tensor<1x1x256x64xbf16>, tensor<1x1x256x64xbf16>) {test.blocks = [array<i64: 0, 0, 64, 127, 0, 63>, array<i64: 0, 0, 64, 127, 128, 191>, array<i64: 0, 0, 64, 127, 64, 127>]} -> tensor<1x1x256x64xbf16>
  mask_mod {
  ^bb0(%b: index, %h: index, %i: index, %j: index):
    %keep = arith.cmpi sle, %j, %i : index
    attn.yield %keep : i1
  }
  return %o : tensor<1x1x256x64xbf16>
}

// -----

// A sliding window of 256 keys (q - k < 256, k <= q): at queries [1024,
// 1087], q - k over keys [512, 575] is in [449, 575] (all false), over
// [960, 1023] in [1, 127] (all true), over [768, 831] in [193, 319].
func.func @window(%q: tensor<1x1x2048x64xbf16>) -> tensor<1x1x2048x64xbf16> {
  // expected-remark @+4 {{mask_mod interval-evaluable}}
  // expected-remark @+3 {{q [1024, 1087] k [512, 575]: all-false}}
  // expected-remark @+2 {{q [1024, 1087] k [960, 1023]: all-true}}
  // expected-remark @+1 {{q [1024, 1087] k [768, 831]: mixed}}
  %o = attn.attention ins(%q, %q, %q : tensor<1x1x2048x64xbf16>, tensor<1x1x2048x64xbf16>, tensor<1x1x2048x64xbf16>) {test.blocks = [array<i64: 0, 0, 1024, 1087, 512, 575>, array<i64: 0, 0, 1024, 1087, 960, 1023>, array<i64: 0, 0, 1024, 1087, 768, 831>]} -> tensor<1x1x2048x64xbf16>
  mask_mod {
  ^bb0(%b: index, %h: index, %i: index, %j: index):
    %c256 = arith.constant 256 : index
    %d = arith.subi %i, %j : index
    %near = arith.cmpi slt, %d, %c256 : index
    %past = arith.cmpi sle, %j, %i : index
    %keep = arith.andi %near, %past : i1
    attn.yield %keep : i1
  }
  return %o : tensor<1x1x2048x64xbf16>
}

// -----

// The spec's prefix-LM (k <= q or k < 4): keys [0, 3] are kept for every
// query, even above the diagonal; keys [64, 127] at queries [0, 63] never.
func.func @prefix_lm(%q: tensor<1x1x256x64xbf16>) -> tensor<1x1x256x64xbf16> {
  // expected-remark @+4 {{mask_mod interval-evaluable}}
  // expected-remark @+3 {{q [0, 1] k [0, 3]: all-true}}
  // expected-remark @+2 {{q [0, 63] k [64, 127]: all-false}}
  // expected-remark @+1 {{q [0, 63] k [0, 63]: mixed}}
  %o = attn.attention ins(%q, %q, %q : tensor<1x1x256x64xbf16>, tensor<1x1x256x64xbf16>, tensor<1x1x256x64xbf16>) {test.blocks = [array<i64: 0, 0, 0, 1, 0, 3>, array<i64: 0, 0, 0, 63, 64, 127>, array<i64: 0, 0, 0, 63, 0, 63>]} -> tensor<1x1x256x64xbf16>
  mask_mod {
  ^bb0(%b: index, %h: index, %i: index, %j: index):
    %c4 = arith.constant 4 : index
    %causal = arith.cmpi sle, %j, %i : index
    %prefix = arith.cmpi slt, %j, %c4 : index
    %keep = arith.ori %causal, %prefix : i1
    attn.yield %keep : i1
  }
  return %o : tensor<1x1x256x64xbf16>
}

// -----

// A document mask by boundaries (documents [0, 1000), [1000, 2500),
// [2500, ...), bench/mlir/op_maskmod_document_*.mlir): blocks inside one
// document are all true, blocks across two all false, a block that
// straddles a boundary mixed.
func.func @document(%q: tensor<1x1x4096x64xbf16>) -> tensor<1x1x4096x64xbf16> {
  // expected-remark @+4 {{mask_mod interval-evaluable}}
  // expected-remark @+3 {{q [1024, 1087] k [2048, 2111]: all-true}}
  // expected-remark @+2 {{q [1024, 1087] k [0, 63]: all-false}}
  // expected-remark @+1 {{q [1024, 1087] k [960, 1023]: mixed}}
  %o = attn.attention ins(%q, %q, %q : tensor<1x1x4096x64xbf16>, tensor<1x1x4096x64xbf16>, tensor<1x1x4096x64xbf16>) {test.blocks = [array<i64: 0, 0, 1024, 1087, 2048, 2111>, array<i64: 0, 0, 1024, 1087, 0, 63>, array<i64: 0, 0, 1024, 1087, 960, 1023>]} -> tensor<1x1x4096x64xbf16>
  mask_mod {
  ^bb0(%b: index, %h: index, %i: index, %j: index):
    %c1000 = arith.constant 1000 : index
    %c2500 = arith.constant 2500 : index
    %i1 = arith.cmpi sge, %i, %c1000 : index
    %i2 = arith.cmpi sge, %i, %c2500 : index
    %j1 = arith.cmpi sge, %j, %c1000 : index
    %j2 = arith.cmpi sge, %j, %c2500 : index
    %i1x = arith.extui %i1 : i1 to i32
    %i2x = arith.extui %i2 : i1 to i32
    %j1x = arith.extui %j1 : i1 to i32
    %j2x = arith.extui %j2 : i1 to i32
    %di = arith.addi %i1x, %i2x : i32
    %dj = arith.addi %j1x, %j2x : i32
    %keep = arith.cmpi eq, %di, %dj : i32
    attn.yield %keep : i1
  }
  return %o : tensor<1x1x4096x64xbf16>
}

// -----

// Per-head masks: head h sees keys below 64 * (h + 1) (b and h are single
// points, so the bound is exact per head).
func.func @per_head(%q: tensor<1x2x256x64xbf16>) -> tensor<1x2x256x64xbf16> {
  // expected-remark @+3 {{mask_mod interval-evaluable}}
  // expected-remark @+2 {{mask_mod block b 0 h 0 q [0, 63] k [64, 127]: all-false}}
  // expected-remark @+1 {{mask_mod block b 0 h 1 q [0, 63] k [64, 127]: all-true}}
  %o = attn.attention ins(%q, %q, %q : tensor<1x2x256x64xbf16>, tensor<1x2x256x64xbf16>, tensor<1x2x256x64xbf16>) {test.blocks = [array<i64: 0, 0, 0, 63, 64, 127>, array<i64: 0, 1, 0, 63, 64, 127>]} -> tensor<1x2x256x64xbf16>
  mask_mod {
  ^bb0(%b: index, %h: index, %i: index, %j: index):
    %c1 = arith.constant 1 : index
    %c64 = arith.constant 64 : index
    %h1 = arith.addi %h, %c1 : index
    %lim = arith.muli %h1, %c64 : index
    %keep = arith.cmpi slt, %j, %lim : index
    attn.yield %keep : i1
  }
  return %o : tensor<1x2x256x64xbf16>
}

// -----

// Not modelled: a product of two indices, and a float computation; such
// regions are tested per element (no block is skipped).
func.func @product(%q: tensor<1x1x256x64xbf16>) -> tensor<1x1x256x64xbf16> {
  // expected-remark @+1 {{mask_mod not interval-evaluable: expected a multiplication by a constant at 'arith.muli'}}
  %o = attn.attention ins(%q, %q, %q : tensor<1x1x256x64xbf16>, tensor<1x1x256x64xbf16>, tensor<1x1x256x64xbf16>) -> tensor<1x1x256x64xbf16>
  mask_mod {
  ^bb0(%b: index, %h: index, %i: index, %j: index):
    %p = arith.muli %i, %j : index
    %c5000 = arith.constant 5000 : index
    %keep = arith.cmpi slt, %p, %c5000 : index
    attn.yield %keep : i1
  }
  return %o : tensor<1x1x256x64xbf16>
}

// -----

func.func @float(%q: tensor<1x1x256x64xbf16>) -> tensor<1x1x256x64xbf16> {
  // expected-remark @+1 {{mask_mod not interval-evaluable: expected integer results at 'arith.sitofp'}}
  %o = attn.attention ins(%q, %q, %q : tensor<1x1x256x64xbf16>, tensor<1x1x256x64xbf16>, tensor<1x1x256x64xbf16>) -> tensor<1x1x256x64xbf16>
  mask_mod {
  ^bb0(%b: index, %h: index, %i: index, %j: index):
    %ii = arith.index_cast %i : index to i32
    %f = arith.sitofp %ii : i32 to f32
    %c = arith.constant 100.0 : f32
    %keep = arith.cmpf olt, %f, %c : f32
    attn.yield %keep : i1
  }
  return %o : tensor<1x1x256x64xbf16>
}
