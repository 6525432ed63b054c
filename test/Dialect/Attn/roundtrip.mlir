// RUN: attn-opt %s | attn-opt | FileCheck %s
// RUN: attn-opt %s --mlir-print-op-generic | attn-opt | FileCheck %s

// Every form of attn.attention prints and parses back to itself, through the
// custom and the generic syntax. Default attributes (mask_kind none, layout
// bhsd) are elided by the printer.

// MHA: Hq == Hkv == 8, f16; no attributes, so scale = 1/sqrt(64).
// CHECK-LABEL: func.func @mha
// CHECK-SAME: (%[[Q:.+]]: tensor<2x8x128x64xf16>, %[[K:.+]]: tensor<2x8x128x64xf16>, %[[V:.+]]: tensor<2x8x128x64xf16>)
// CHECK: %[[O:.+]] = attn.attention ins(%[[Q]], %[[K]], %[[V]] : tensor<2x8x128x64xf16>, tensor<2x8x128x64xf16>, tensor<2x8x128x64xf16>) -> tensor<2x8x128x64xf16>
// CHECK-NEXT: return %[[O]]
func.func @mha(%q: tensor<2x8x128x64xf16>, %k: tensor<2x8x128x64xf16>, %v: tensor<2x8x128x64xf16>) -> tensor<2x8x128x64xf16> {
  %o = attn.attention ins(%q, %k, %v : tensor<2x8x128x64xf16>, tensor<2x8x128x64xf16>, tensor<2x8x128x64xf16>) -> tensor<2x8x128x64xf16>
  return %o : tensor<2x8x128x64xf16>
}

// GQA: 32 query heads share 8 key/value heads (groups of 4), bf16.
// CHECK-LABEL: func.func @gqa
// CHECK-SAME: (%[[Q:.+]]: tensor<2x32x256x128xbf16>, %[[K:.+]]: tensor<2x8x256x128xbf16>, %[[V:.+]]: tensor<2x8x256x128xbf16>)
// CHECK: attn.attention ins(%[[Q]], %[[K]], %[[V]] : tensor<2x32x256x128xbf16>, tensor<2x8x256x128xbf16>, tensor<2x8x256x128xbf16>) -> tensor<2x32x256x128xbf16>
func.func @gqa(%q: tensor<2x32x256x128xbf16>, %k: tensor<2x8x256x128xbf16>, %v: tensor<2x8x256x128xbf16>) -> tensor<2x32x256x128xbf16> {
  %o = attn.attention ins(%q, %k, %v : tensor<2x32x256x128xbf16>, tensor<2x8x256x128xbf16>, tensor<2x8x256x128xbf16>) -> tensor<2x32x256x128xbf16>
  return %o : tensor<2x32x256x128xbf16>
}

// MQA: all 16 query heads read the single key/value head (Hkv == 1), f32.
// CHECK-LABEL: func.func @mqa
// CHECK-SAME: (%[[Q:.+]]: tensor<1x16x64x32xf32>, %[[K:.+]]: tensor<1x1x64x32xf32>, %[[V:.+]]: tensor<1x1x64x32xf32>)
// CHECK: attn.attention ins(%[[Q]], %[[K]], %[[V]] : tensor<1x16x64x32xf32>, tensor<1x1x64x32xf32>, tensor<1x1x64x32xf32>) -> tensor<1x16x64x32xf32>
func.func @mqa(%q: tensor<1x16x64x32xf32>, %k: tensor<1x1x64x32xf32>, %v: tensor<1x1x64x32xf32>) -> tensor<1x16x64x32xf32> {
  %o = attn.attention ins(%q, %k, %v : tensor<1x16x64x32xf32>, tensor<1x1x64x32xf32>, tensor<1x1x64x32xf32>) -> tensor<1x16x64x32xf32>
  return %o : tensor<1x16x64x32xf32>
}

// Dv != D: keys are 64 wide, values 128 wide (as in MLA); O takes Dv.
// CHECK-LABEL: func.func @value_head_dim
// CHECK: attn.attention ins(%{{.+}}, %{{.+}}, %{{.+}} : tensor<1x4x16x64xf16>, tensor<1x4x16x64xf16>, tensor<1x4x16x128xf16>) -> tensor<1x4x16x128xf16>
func.func @value_head_dim(%q: tensor<1x4x16x64xf16>, %k: tensor<1x4x16x64xf16>, %v: tensor<1x4x16x128xf16>) -> tensor<1x4x16x128xf16> {
  %o = attn.attention ins(%q, %k, %v : tensor<1x4x16x64xf16>, tensor<1x4x16x64xf16>, tensor<1x4x16x128xf16>) -> tensor<1x4x16x128xf16>
  return %o : tensor<1x4x16x128xf16>
}

// BSHD: Q [B=2, Lq=128, Hq=8, D=64], K/V [2, 128, Hkv=2, 64] (GQA, group 4);
// the output follows the layout.
// CHECK-LABEL: func.func @bshd
// CHECK-SAME: (%[[Q:.+]]: tensor<2x128x8x64xbf16>, %[[K:.+]]: tensor<2x128x2x64xbf16>, %[[V:.+]]: tensor<2x128x2x64xbf16>)
// CHECK: attn.attention ins(%[[Q]], %[[K]], %[[V]] : tensor<2x128x8x64xbf16>, tensor<2x128x2x64xbf16>, tensor<2x128x2x64xbf16>) {layout = #attn.layout<bshd>} -> tensor<2x128x8x64xbf16>
func.func @bshd(%q: tensor<2x128x8x64xbf16>, %k: tensor<2x128x2x64xbf16>, %v: tensor<2x128x2x64xbf16>) -> tensor<2x128x8x64xbf16> {
  %o = attn.attention ins(%q, %k, %v : tensor<2x128x8x64xbf16>, tensor<2x128x2x64xbf16>, tensor<2x128x2x64xbf16>) {layout = #attn.layout<bshd>} -> tensor<2x128x8x64xbf16>
  return %o : tensor<2x128x8x64xbf16>
}

// Default attributes written out are elided on printing: mask none and
// layout bhsd are the defaults.
// CHECK-LABEL: func.func @explicit_defaults
// CHECK: attn.attention ins({{.+}}) -> tensor<1x2x8x16xf32>
// CHECK-NOT: mask_kind
// CHECK-NOT: layout
// CHECK: return
func.func @explicit_defaults(%q: tensor<1x2x8x16xf32>, %k: tensor<1x2x8x16xf32>, %v: tensor<1x2x8x16xf32>) -> tensor<1x2x8x16xf32> {
  %o = attn.attention ins(%q, %k, %v : tensor<1x2x8x16xf32>, tensor<1x2x8x16xf32>, tensor<1x2x8x16xf32>) {mask_kind = #attn.mask<none>, layout = #attn.layout<bhsd>} -> tensor<1x2x8x16xf32>
  return %o : tensor<1x2x8x16xf32>
}

// Causal, top-left aligned: key j is visible to query i iff j <= i.
// CHECK-LABEL: func.func @causal_top_left
// CHECK: attn.attention ins({{.+}}) {mask_kind = #attn.mask<causal_top_left>} -> tensor<1x4x16x32xf16>
func.func @causal_top_left(%q: tensor<1x4x16x32xf16>, %k: tensor<1x4x16x32xf16>, %v: tensor<1x4x16x32xf16>) -> tensor<1x4x16x32xf16> {
  %o = attn.attention ins(%q, %k, %v : tensor<1x4x16x32xf16>, tensor<1x4x16x32xf16>, tensor<1x4x16x32xf16>) {mask_kind = #attn.mask<causal_top_left>} -> tensor<1x4x16x32xf16>
  return %o : tensor<1x4x16x32xf16>
}

// Causal, bottom-right aligned (decode with a cache): 4 new queries over 64
// keys; key j is visible to query i iff j <= i + 64 - 4.
// CHECK-LABEL: func.func @causal_bottom_right
// CHECK: attn.attention ins({{.+}} : tensor<1x4x4x32xf16>, tensor<1x4x64x32xf16>, tensor<1x4x64x32xf16>) {mask_kind = #attn.mask<causal_bottom_right>} -> tensor<1x4x4x32xf16>
func.func @causal_bottom_right(%q: tensor<1x4x4x32xf16>, %k: tensor<1x4x64x32xf16>, %v: tensor<1x4x64x32xf16>) -> tensor<1x4x4x32xf16> {
  %o = attn.attention ins(%q, %k, %v : tensor<1x4x4x32xf16>, tensor<1x4x64x32xf16>, tensor<1x4x64x32xf16>) {mask_kind = #attn.mask<causal_bottom_right>} -> tensor<1x4x4x32xf16>
  return %o : tensor<1x4x4x32xf16>
}

// Sliding window [left = 8, right = 0]: query i sees keys
// i + Lk - Lq - 8 .. i + Lk - Lq (Mistral-style local causal attention).
// CHECK-LABEL: func.func @sliding_window
// CHECK: attn.attention ins({{.+}}) {mask_kind = #attn.mask<sliding_window>, window = array<i64: 8, 0>} -> tensor<1x4x32x32xbf16>
func.func @sliding_window(%q: tensor<1x4x32x32xbf16>, %k: tensor<1x4x32x32xbf16>, %v: tensor<1x4x32x32xbf16>) -> tensor<1x4x32x32xbf16> {
  %o = attn.attention ins(%q, %k, %v : tensor<1x4x32x32xbf16>, tensor<1x4x32x32xbf16>, tensor<1x4x32x32xbf16>) {mask_kind = #attn.mask<sliding_window>, window = array<i64: 8, 0>} -> tensor<1x4x32x32xbf16>
  return %o : tensor<1x4x32x32xbf16>
}

// Symmetric (non-causal) window [4, 4]: a band of 9 keys around the diagonal.
// CHECK-LABEL: func.func @sliding_window_symmetric
// CHECK: {mask_kind = #attn.mask<sliding_window>, window = array<i64: 4, 4>}
func.func @sliding_window_symmetric(%q: tensor<1x4x32x32xf32>, %k: tensor<1x4x32x32xf32>, %v: tensor<1x4x32x32xf32>) -> tensor<1x4x32x32xf32> {
  %o = attn.attention ins(%q, %k, %v : tensor<1x4x32x32xf32>, tensor<1x4x32x32xf32>, tensor<1x4x32x32xf32>) {mask_kind = #attn.mask<sliding_window>, window = array<i64: 4, 4>} -> tensor<1x4x32x32xf32>
  return %o : tensor<1x4x32x32xf32>
}

// Logit soft-capping (Gemma 2): s = 50 * tanh(s / 50).
// CHECK-LABEL: func.func @softcap
// CHECK: attn.attention ins({{.+}}) {softcap = 5.000000e+01 : f64} -> tensor<1x8x16x64xbf16>
func.func @softcap(%q: tensor<1x8x16x64xbf16>, %k: tensor<1x4x16x64xbf16>, %v: tensor<1x4x16x64xbf16>) -> tensor<1x8x16x64xbf16> {
  %o = attn.attention ins(%q, %k, %v : tensor<1x8x16x64xbf16>, tensor<1x4x16x64xbf16>, tensor<1x4x16x64xbf16>) {softcap = 50.0 : f64} -> tensor<1x8x16x64xbf16>
  return %o : tensor<1x8x16x64xbf16>
}

// ALiBi: s -= slope[h] * |i + Lk - Lq - j|, one slope per query head
// (2^-(8h/H) for H = 4).
// CHECK-LABEL: func.func @alibi
// CHECK: attn.attention ins({{.+}}) {alibi_slopes = array<f64: 2.500000e-01, 6.250000e-02, 1.562500e-02, 3.906250e-03>, mask_kind = #attn.mask<causal_top_left>} -> tensor<1x4x16x32xf16>
func.func @alibi(%q: tensor<1x4x16x32xf16>, %k: tensor<1x4x16x32xf16>, %v: tensor<1x4x16x32xf16>) -> tensor<1x4x16x32xf16> {
  %o = attn.attention ins(%q, %k, %v : tensor<1x4x16x32xf16>, tensor<1x4x16x32xf16>, tensor<1x4x16x32xf16>) {alibi_slopes = array<f64: 0.25, 0.0625, 0.015625, 0.00390625>, mask_kind = #attn.mask<causal_top_left>} -> tensor<1x4x16x32xf16>
  return %o : tensor<1x4x16x32xf16>
}

// Tensor-parallel shard: local heads 0..1 are global heads 4..5 of 8 (GQA
// 2/1, so the offset 4 is a whole group); ALiBi keeps one slope per global
// head and reads slope[h + 4], score_mod sees h + 4.
// CHECK-LABEL: func.func @head_shard
// CHECK: attn.attention ins({{.+}}) {alibi_slopes = array<f64: 5.000000e-01, 2.500000e-01, 1.250000e-01, 6.250000e-02, 3.125000e-02, 1.562500e-02, 7.812500e-03, 3.906250e-03>, head_offset = 4 : i64, num_heads_total = 8 : i64} -> tensor<1x2x16x32xf16> score_mod {
func.func @head_shard(%q: tensor<1x2x16x32xf16>, %k: tensor<1x1x16x32xf16>, %v: tensor<1x1x16x32xf16>) -> tensor<1x2x16x32xf16> {
  %o = attn.attention ins(%q, %k, %v : tensor<1x2x16x32xf16>, tensor<1x1x16x32xf16>, tensor<1x1x16x32xf16>) {head_offset = 4 : i64, num_heads_total = 8 : i64, alibi_slopes = array<f64: 0.5, 0.25, 0.125, 0.0625, 0.03125, 0.015625, 0.0078125, 0.00390625>} -> tensor<1x2x16x32xf16> score_mod {
  ^bb0(%s: f32, %b: index, %h: index, %i: index, %j: index):
    attn.yield %s : f32
  }
  return %o : tensor<1x2x16x32xf16>
}

// The default head_offset (0) is elided; num_heads_total may exceed Hq on
// the first shard.
// CHECK-LABEL: func.func @first_head_shard
// CHECK: attn.attention ins({{.+}}) {num_heads_total = 4 : i64} -> tensor<1x2x16x32xf32>
func.func @first_head_shard(%q: tensor<1x2x16x32xf32>, %k: tensor<1x2x16x32xf32>, %v: tensor<1x2x16x32xf32>) -> tensor<1x2x16x32xf32> {
  %o = attn.attention ins(%q, %k, %v : tensor<1x2x16x32xf32>, tensor<1x2x16x32xf32>, tensor<1x2x16x32xf32>) {head_offset = 0 : i64, num_heads_total = 4 : i64} -> tensor<1x2x16x32xf32>
  return %o : tensor<1x2x16x32xf32>
}

// Explicit scale 0.125 instead of the default 1/sqrt(16) = 0.25.
// CHECK-LABEL: func.func @explicit_scale
// CHECK: attn.attention ins({{.+}}) {scale = 1.250000e-01 : f64} -> tensor<1x2x8x16xf32>
func.func @explicit_scale(%q: tensor<1x2x8x16xf32>, %k: tensor<1x2x8x16xf32>, %v: tensor<1x2x8x16xf32>) -> tensor<1x2x8x16xf32> {
  %o = attn.attention ins(%q, %k, %v : tensor<1x2x8x16xf32>, tensor<1x2x8x16xf32>, tensor<1x2x8x16xf32>) {scale = 0.125 : f64} -> tensor<1x2x8x16xf32>
  return %o : tensor<1x2x8x16xf32>
}

// Additive bias of the full score shape [B, Hq, Lq, Lk]: s += bias[b, h, i, j].
// CHECK-LABEL: func.func @bias
// CHECK-SAME: %[[BIAS:[^:]+]]: tensor<2x4x8x12xf16>
// CHECK: attn.attention ins({{.+}} : tensor<2x4x8x16xf16>, tensor<2x2x12x16xf16>, tensor<2x2x12x16xf16>) bias(%[[BIAS]] : tensor<2x4x8x12xf16>) -> tensor<2x4x8x16xf16>
func.func @bias(%q: tensor<2x4x8x16xf16>, %k: tensor<2x2x12x16xf16>, %v: tensor<2x2x12x16xf16>, %bias: tensor<2x4x8x12xf16>) -> tensor<2x4x8x16xf16> {
  %o = attn.attention ins(%q, %k, %v : tensor<2x4x8x16xf16>, tensor<2x2x12x16xf16>, tensor<2x2x12x16xf16>) bias(%bias : tensor<2x4x8x12xf16>) -> tensor<2x4x8x16xf16>
  return %o : tensor<2x4x8x16xf16>
}

// Bias shared by the batch: [1, Hq, Lq, Lk] broadcasts over B; an f32 bias
// with bf16 operands is allowed (it is added in the accumulator type).
// CHECK-LABEL: func.func @bias_broadcast
// CHECK-SAME: %[[BIAS:[^:]+]]: tensor<1x4x8x12xf32>
// CHECK: bias(%[[BIAS]] : tensor<1x4x8x12xf32>) -> tensor<2x4x8x16xbf16>
func.func @bias_broadcast(%q: tensor<2x4x8x16xbf16>, %k: tensor<2x2x12x16xbf16>, %v: tensor<2x2x12x16xbf16>, %bias: tensor<1x4x8x12xf32>) -> tensor<2x4x8x16xbf16> {
  %o = attn.attention ins(%q, %k, %v : tensor<2x4x8x16xbf16>, tensor<2x2x12x16xbf16>, tensor<2x2x12x16xbf16>) bias(%bias : tensor<1x4x8x12xf32>) -> tensor<2x4x8x16xbf16>
  return %o : tensor<2x4x8x16xbf16>
}

// Boolean mask [B, 1, 1, Lk] (a padding mask): key j is kept iff mask[b, 0, 0, j].
// CHECK-LABEL: func.func @bool_mask
// CHECK-SAME: %[[MASK:[^:]+]]: tensor<2x1x1x12xi1>
// CHECK: attn.attention ins({{.+}}) mask(%[[MASK]] : tensor<2x1x1x12xi1>) -> tensor<2x4x8x16xf32>
func.func @bool_mask(%q: tensor<2x4x8x16xf32>, %k: tensor<2x4x12x16xf32>, %v: tensor<2x4x12x16xf32>, %mask: tensor<2x1x1x12xi1>) -> tensor<2x4x8x16xf32> {
  %o = attn.attention ins(%q, %k, %v : tensor<2x4x8x16xf32>, tensor<2x4x12x16xf32>, tensor<2x4x12x16xf32>) mask(%mask : tensor<2x1x1x12xi1>) -> tensor<2x4x8x16xf32>
  return %o : tensor<2x4x8x16xf32>
}

// Bias and boolean mask together, plus causal masking: all three combine.
// CHECK-LABEL: func.func @bias_and_mask
// CHECK-SAME: %[[BIAS:[^:]+]]: tensor<1x1x8x8xf32>, %[[MASK:[^:]+]]: tensor<2x1x8x8xi1>
// CHECK: bias(%[[BIAS]] : tensor<1x1x8x8xf32>) mask(%[[MASK]] : tensor<2x1x8x8xi1>) {mask_kind = #attn.mask<causal_top_left>} -> tensor<2x4x8x16xf32>
func.func @bias_and_mask(%q: tensor<2x4x8x16xf32>, %k: tensor<2x4x8x16xf32>, %v: tensor<2x4x8x16xf32>, %bias: tensor<1x1x8x8xf32>, %mask: tensor<2x1x8x8xi1>) -> tensor<2x4x8x16xf32> {
  %o = attn.attention ins(%q, %k, %v : tensor<2x4x8x16xf32>, tensor<2x4x8x16xf32>, tensor<2x4x8x16xf32>) bias(%bias : tensor<1x1x8x8xf32>) mask(%mask : tensor<2x1x8x8xi1>) {mask_kind = #attn.mask<causal_top_left>} -> tensor<2x4x8x16xf32>
  return %o : tensor<2x4x8x16xf32>
}

// Optional second result: lse[b, h, i] = log(sum_j exp(s[b, h, i, j])),
// always f32 and [B, Hq, Lq].
// CHECK-LABEL: func.func @lse
// CHECK: %[[O:.+]], %[[LSE:.+]] = attn.attention ins({{.+}}) {mask_kind = #attn.mask<causal_bottom_right>} -> tensor<2x32x16x128xbf16>, tensor<2x32x16xf32>
// CHECK-NEXT: return %[[O]], %[[LSE]] : tensor<2x32x16x128xbf16>, tensor<2x32x16xf32>
func.func @lse(%q: tensor<2x32x16x128xbf16>, %k: tensor<2x8x1024x128xbf16>, %v: tensor<2x8x1024x128xbf16>) -> (tensor<2x32x16x128xbf16>, tensor<2x32x16xf32>) {
  %o, %lse = attn.attention ins(%q, %k, %v : tensor<2x32x16x128xbf16>, tensor<2x8x1024x128xbf16>, tensor<2x8x1024x128xbf16>) {mask_kind = #attn.mask<causal_bottom_right>} -> tensor<2x32x16x128xbf16>, tensor<2x32x16xf32>
  return %o, %lse : tensor<2x32x16x128xbf16>, tensor<2x32x16xf32>
}

// The LSE is [B, Hq, Lq] in the BSHD layout too (Q is [B, Lq, Hq, D]).
// CHECK-LABEL: func.func @lse_bshd
// CHECK: {layout = #attn.layout<bshd>} -> tensor<2x16x8x64xf16>, tensor<2x8x16xf32>
func.func @lse_bshd(%q: tensor<2x16x8x64xf16>, %k: tensor<2x16x8x64xf16>, %v: tensor<2x16x8x64xf16>) -> tensor<2x8x16xf32> {
  %o, %lse = attn.attention ins(%q, %k, %v : tensor<2x16x8x64xf16>, tensor<2x16x8x64xf16>, tensor<2x16x8x64xf16>) {layout = #attn.layout<bshd>} -> tensor<2x16x8x64xf16>, tensor<2x8x16xf32>
  return %lse : tensor<2x8x16xf32>
}

// score_mod: s = score_mod(s, b, h, q_idx, kv_idx); here a relative position
// bias s + (q_idx - kv_idx), as in FlexAttention's examples.
// CHECK-LABEL: func.func @score_mod
// CHECK: attn.attention ins({{.+}}) -> tensor<1x4x16x32xf32> score_mod {
// CHECK-NEXT: ^bb0(%[[S:.+]]: f32, %[[B:.+]]: index, %[[H:.+]]: index, %[[I:.+]]: index, %[[J:.+]]: index):
// CHECK-NEXT: %[[D:.+]] = arith.subi %[[I]], %[[J]] : index
// CHECK-NEXT: %[[DI:.+]] = arith.index_cast %[[D]] : index to i64
// CHECK-NEXT: %[[DF:.+]] = arith.sitofp %[[DI]] : i64 to f32
// CHECK-NEXT: %[[R:.+]] = arith.addf %[[S]], %[[DF]] : f32
// CHECK-NEXT: attn.yield %[[R]] : f32
// CHECK-NEXT: }
// CHECK-NOT: mask_mod
// CHECK: return
func.func @score_mod(%q: tensor<1x4x16x32xf32>, %k: tensor<1x4x16x32xf32>, %v: tensor<1x4x16x32xf32>) -> tensor<1x4x16x32xf32> {
  %o = attn.attention ins(%q, %k, %v : tensor<1x4x16x32xf32>, tensor<1x4x16x32xf32>, tensor<1x4x16x32xf32>) -> tensor<1x4x16x32xf32>
  score_mod {
  ^bb0(%s: f32, %b: index, %h: index, %i: index, %j: index):
    %d = arith.subi %i, %j : index
    %di = arith.index_cast %d : index to i64
    %df = arith.sitofp %di : i64 to f32
    %r = arith.addf %s, %df : f32
    attn.yield %r : f32
  }
  return %o : tensor<1x4x16x32xf32>
}

// score_mod may read a tensor defined above the op (pure): a per-head
// bias table, s + table[h].
// CHECK-LABEL: func.func @score_mod_captures
// CHECK-SAME: %[[TABLE:[^:]+]]: tensor<8xf32>
// CHECK: score_mod {
// CHECK-NEXT: ^bb0(%[[S:.+]]: f32, %{{.+}}: index, %[[H:.+]]: index, %{{.+}}: index, %{{.+}}: index):
// CHECK-NEXT: %[[T:.+]] = tensor.extract %[[TABLE]][%[[H]]] : tensor<8xf32>
// CHECK-NEXT: %[[R:.+]] = arith.addf %[[S]], %[[T]] : f32
// CHECK-NEXT: attn.yield %[[R]] : f32
func.func @score_mod_captures(%q: tensor<1x8x16x32xf16>, %k: tensor<1x2x16x32xf16>, %v: tensor<1x2x16x32xf16>, %table: tensor<8xf32>) -> tensor<1x8x16x32xf16> {
  %o = attn.attention ins(%q, %k, %v : tensor<1x8x16x32xf16>, tensor<1x2x16x32xf16>, tensor<1x2x16x32xf16>) -> tensor<1x8x16x32xf16>
  score_mod {
  ^bb0(%s: f32, %b: index, %h: index, %i: index, %j: index):
    %t = tensor.extract %table[%h] : tensor<8xf32>
    %r = arith.addf %s, %t : f32
    attn.yield %r : f32
  }
  return %o : tensor<1x8x16x32xf16>
}

// mask_mod alone (no score_mod): key j kept iff mask_mod(b, h, q_idx, kv_idx);
// here a prefix-LM mask: the first 4 keys are visible to every query, the
// rest causally.
// CHECK-LABEL: func.func @mask_mod
// CHECK: attn.attention ins({{.+}}) -> tensor<1x4x16x32xbf16> mask_mod {
// CHECK-NEXT: ^bb0(%{{.+}}: index, %{{.+}}: index, %[[I:.+]]: index, %[[J:.+]]: index):
// CHECK-NEXT: %[[C4:.+]] = arith.constant 4 : index
// CHECK-NEXT: %[[PREFIX:.+]] = arith.cmpi slt, %[[J]], %[[C4]] : index
// CHECK-NEXT: %[[CAUSAL:.+]] = arith.cmpi sle, %[[J]], %[[I]] : index
// CHECK-NEXT: %[[KEEP:.+]] = arith.ori %[[PREFIX]], %[[CAUSAL]] : i1
// CHECK-NEXT: attn.yield %[[KEEP]] : i1
// CHECK-NOT: score_mod
// CHECK: return
func.func @mask_mod(%q: tensor<1x4x16x32xbf16>, %k: tensor<1x4x16x32xbf16>, %v: tensor<1x4x16x32xbf16>) -> tensor<1x4x16x32xbf16> {
  %o = attn.attention ins(%q, %k, %v : tensor<1x4x16x32xbf16>, tensor<1x4x16x32xbf16>, tensor<1x4x16x32xbf16>) -> tensor<1x4x16x32xbf16>
  mask_mod {
  ^bb0(%b: index, %h: index, %i: index, %j: index):
    %c4 = arith.constant 4 : index
    %prefix = arith.cmpi slt, %j, %c4 : index
    %causal = arith.cmpi sle, %j, %i : index
    %keep = arith.ori %prefix, %causal : i1
    attn.yield %keep : i1
  }
  return %o : tensor<1x4x16x32xbf16>
}

// Both regions, printed score_mod first: s * 0.5 where the document ids of
// query and key match (document masking over a packed batch).
// CHECK-LABEL: func.func @both_regions
// CHECK-SAME: %[[DOC:[^:]+]]: tensor<16xi32>
// CHECK: %[[O:.+]], %[[LSE:.+]] = attn.attention ins({{.+}}) -> tensor<1x4x16x32xf32>, tensor<1x4x16xf32> score_mod {
// CHECK-NEXT: ^bb0(%[[S:.+]]: f32, %{{.+}}: index, %{{.+}}: index, %{{.+}}: index, %{{.+}}: index):
// CHECK-NEXT: %[[HALF:.+]] = arith.constant 5.000000e-01 : f32
// CHECK-NEXT: %[[R:.+]] = arith.mulf %[[S]], %[[HALF]] : f32
// CHECK-NEXT: attn.yield %[[R]] : f32
// CHECK-NEXT: } mask_mod {
// CHECK-NEXT: ^bb0(%{{.+}}: index, %{{.+}}: index, %[[I:.+]]: index, %[[J:.+]]: index):
// CHECK-NEXT: %[[DI:.+]] = tensor.extract %[[DOC]][%[[I]]] : tensor<16xi32>
// CHECK-NEXT: %[[DJ:.+]] = tensor.extract %[[DOC]][%[[J]]] : tensor<16xi32>
// CHECK-NEXT: %[[SAME:.+]] = arith.cmpi eq, %[[DI]], %[[DJ]] : i32
// CHECK-NEXT: attn.yield %[[SAME]] : i1
// CHECK-NEXT: }
// CHECK-NEXT: return %[[O]], %[[LSE]]
func.func @both_regions(%q: tensor<1x4x16x32xf32>, %k: tensor<1x4x16x32xf32>, %v: tensor<1x4x16x32xf32>, %doc: tensor<16xi32>) -> (tensor<1x4x16x32xf32>, tensor<1x4x16xf32>) {
  %o, %lse = attn.attention ins(%q, %k, %v : tensor<1x4x16x32xf32>, tensor<1x4x16x32xf32>, tensor<1x4x16x32xf32>) -> tensor<1x4x16x32xf32>, tensor<1x4x16xf32>
  score_mod {
  ^bb0(%s: f32, %b: index, %h: index, %i: index, %j: index):
    %half = arith.constant 0.5 : f32
    %r = arith.mulf %s, %half : f32
    attn.yield %r : f32
  }
  mask_mod {
  ^bb0(%b: index, %h: index, %i: index, %j: index):
    %di = tensor.extract %doc[%i] : tensor<16xi32>
    %dj = tensor.extract %doc[%j] : tensor<16xi32>
    %same = arith.cmpi eq, %di, %dj : i32
    attn.yield %same : i1
  }
  return %o, %lse : tensor<1x4x16x32xf32>, tensor<1x4x16xf32>
}

// Dynamic batch and sequence lengths (B, Lq, Lk unknown); head counts and
// head dimensions stay static. Lq and Lk are independent.
// CHECK-LABEL: func.func @dynamic
// CHECK-SAME: (%[[Q:.+]]: tensor<?x8x?x64xf16>, %[[K:.+]]: tensor<?x2x?x64xf16>, %[[V:.+]]: tensor<?x2x?x64xf16>)
// CHECK: %[[O:.+]], %[[LSE:.+]] = attn.attention ins(%[[Q]], %[[K]], %[[V]] : tensor<?x8x?x64xf16>, tensor<?x2x?x64xf16>, tensor<?x2x?x64xf16>) {mask_kind = #attn.mask<causal_bottom_right>} -> tensor<?x8x?x64xf16>, tensor<?x8x?xf32>
func.func @dynamic(%q: tensor<?x8x?x64xf16>, %k: tensor<?x2x?x64xf16>, %v: tensor<?x2x?x64xf16>) -> (tensor<?x8x?x64xf16>, tensor<?x8x?xf32>) {
  %o, %lse = attn.attention ins(%q, %k, %v : tensor<?x8x?x64xf16>, tensor<?x2x?x64xf16>, tensor<?x2x?x64xf16>) {mask_kind = #attn.mask<causal_bottom_right>} -> tensor<?x8x?x64xf16>, tensor<?x8x?xf32>
  return %o, %lse : tensor<?x8x?x64xf16>, tensor<?x8x?xf32>
}

// Dynamic BSHD with a dynamic-length broadcast bias [1, Hq, ?, ?].
// CHECK-LABEL: func.func @dynamic_bshd_bias
// CHECK: bias(%{{.+}} : tensor<1x4x?x?xbf16>) {layout = #attn.layout<bshd>} -> tensor<?x?x4x32xbf16>
func.func @dynamic_bshd_bias(%q: tensor<?x?x4x32xbf16>, %k: tensor<?x?x4x32xbf16>, %v: tensor<?x?x4x32xbf16>, %bias: tensor<1x4x?x?xbf16>) -> tensor<?x?x4x32xbf16> {
  %o = attn.attention ins(%q, %k, %v : tensor<?x?x4x32xbf16>, tensor<?x?x4x32xbf16>, tensor<?x?x4x32xbf16>) bias(%bias : tensor<1x4x?x?xbf16>) {layout = #attn.layout<bshd>} -> tensor<?x?x4x32xbf16>
  return %o : tensor<?x?x4x32xbf16>
}

// Everything at once: GQA in BSHD, explicit scale, sliding window, softcap,
// ALiBi, bias, boolean mask, LSE and both regions.
// CHECK-LABEL: func.func @kitchen_sink
// CHECK-SAME: (%[[Q:.+]]: tensor<2x16x4x32xf32>, %[[K:.+]]: tensor<2x16x2x32xf32>, %[[V:.+]]: tensor<2x16x2x32xf32>, %[[BIAS:.+]]: tensor<1x4x16x16xf32>, %[[MASK:.+]]: tensor<2x1x1x16xi1>)
// CHECK: %{{.+}}, %{{.+}} = attn.attention ins(%[[Q]], %[[K]], %[[V]] : tensor<2x16x4x32xf32>, tensor<2x16x2x32xf32>, tensor<2x16x2x32xf32>) bias(%[[BIAS]] : tensor<1x4x16x16xf32>) mask(%[[MASK]] : tensor<2x1x1x16xi1>) {alibi_slopes = array<f64: 5.000000e-01, 2.500000e-01, 1.250000e-01, 6.250000e-02>, layout = #attn.layout<bshd>, mask_kind = #attn.mask<sliding_window>, scale = 1.000000e-01 : f64, softcap = 3.000000e+01 : f64, window = array<i64: 6, 0>} -> tensor<2x16x4x32xf32>, tensor<2x4x16xf32> score_mod {
// CHECK: attn.yield %{{.+}} : f32
// CHECK-NEXT: } mask_mod {
// CHECK: attn.yield %{{.+}} : i1
func.func @kitchen_sink(%q: tensor<2x16x4x32xf32>, %k: tensor<2x16x2x32xf32>, %v: tensor<2x16x2x32xf32>, %bias: tensor<1x4x16x16xf32>, %mask: tensor<2x1x1x16xi1>) -> (tensor<2x16x4x32xf32>, tensor<2x4x16xf32>) {
  %o, %lse = attn.attention ins(%q, %k, %v : tensor<2x16x4x32xf32>, tensor<2x16x2x32xf32>, tensor<2x16x2x32xf32>) bias(%bias : tensor<1x4x16x16xf32>) mask(%mask : tensor<2x1x1x16xi1>) {layout = #attn.layout<bshd>, scale = 0.1 : f64, mask_kind = #attn.mask<sliding_window>, window = array<i64: 6, 0>, softcap = 30.0 : f64, alibi_slopes = array<f64: 0.5, 0.25, 0.125, 0.0625>} -> tensor<2x16x4x32xf32>, tensor<2x4x16xf32>
  score_mod {
  ^bb0(%s: f32, %b: index, %h: index, %i: index, %j: index):
    %neg = arith.negf %s : f32
    attn.yield %neg : f32
  }
  mask_mod {
  ^bb0(%b: index, %h: index, %i: index, %j: index):
    %ne = arith.cmpi ne, %i, %j : index
    attn.yield %ne : i1
  }
  return %o, %lse : tensor<2x16x4x32xf32>, tensor<2x4x16xf32>
}

//===----------------------------------------------------------------------===//
// Tile-level ops (made by attn-tile, attn-fuse-online-softmax and
// attn-lower-precision). A tile is G query heads x M rows against N keys:
// Q [G, M, D], K [N, D], V [N, Dv]; output/acc [G, M, Dv], lse/max/sum
// [G, M], all f32. `at(b, head, query_pos, key_pos) lengths(Lq, Lk)` are the
// absolute positions the masks and modifiers are evaluated at.
//===----------------------------------------------------------------------===//

// One bf16 tile, G = 2, M = 4, N = 4, D = 16, Dv = 32 (Dv != D): the
// normalised tile output O[g, i, :] = softmax_j(0.25 * Q[g, i] . K[j]) V and
// lse[g, i] = log sum_j exp(s[g, i, j]); no mask kind (printed elided).
// CHECK-LABEL: func.func @block_attention_tile
// CHECK-SAME: (%[[Q:[^:]+]]: tensor<2x4x16xbf16>, %[[K:[^:]+]]: tensor<4x16xbf16>, %[[V:[^:]+]]: tensor<4x32xbf16>, %[[B:[^:]+]]: index, %[[H:[^:]+]]: index, %[[QP:[^:]+]]: index, %[[KP:[^:]+]]: index, %[[LQ:[^:]+]]: index, %[[LK:[^:]+]]: index)
// CHECK: %[[O:.+]], %[[LSE:.+]] = attn.block_attention ins(%[[Q]], %[[K]], %[[V]] : tensor<2x4x16xbf16>, tensor<4x16xbf16>, tensor<4x32xbf16>) at(%[[B]], %[[H]], %[[QP]], %[[KP]]) lengths(%[[LQ]], %[[LK]]) {scale = 2.500000e-01 : f64} -> tensor<2x4x32xf32>, tensor<2x4xf32>
// CHECK-NEXT: return %[[O]], %[[LSE]]
func.func @block_attention_tile(%q: tensor<2x4x16xbf16>, %k: tensor<4x16xbf16>, %v: tensor<4x32xbf16>, %b: index, %h: index, %qp: index, %kp: index, %lq: index, %lk: index) -> (tensor<2x4x32xf32>, tensor<2x4xf32>) {
  %o, %lse = attn.block_attention ins(%q, %k, %v : tensor<2x4x16xbf16>, tensor<4x16xbf16>, tensor<4x32xbf16>) at(%b, %h, %qp, %kp) lengths(%lq, %lk) {scale = 0.25 : f64, mask_kind = #attn.mask<none>} -> tensor<2x4x32xf32>, tensor<2x4xf32>
  return %o, %lse : tensor<2x4x32xf32>, tensor<2x4xf32>
}

// A tile with bias [G, M, N] and boolean mask [G, M, N] operands (f32 bias
// on f16 inputs), an interior tile (no position mask evaluated) with a
// sliding window [j >= i' - 3, j <= i' + 1], softcap 20 and three ALiBi
// slopes for G = 2 (more slopes than G: the tile sees heads head + g); both
// regions: s' = -s and keep iff q_idx != kv_idx.
// CHECK-LABEL: func.func @block_attention_everything
// CHECK-SAME: %[[BIAS:[^:]+]]: tensor<2x4x4xf32>, %[[MASK:[^:]+]]: tensor<2x4x4xi1>
// CHECK: attn.block_attention ins(%{{.+}}, %{{.+}}, %{{.+}} : tensor<2x4x16xf16>, tensor<4x16xf16>, tensor<4x16xf16>) bias(%[[BIAS]] : tensor<2x4x4xf32>) mask(%[[MASK]] : tensor<2x4x4xi1>) at(%{{.+}}) lengths(%{{.+}}) {alibi_slopes = array<f64: 5.000000e-01, 2.500000e-01, 1.250000e-01>, interior, mask_kind = #attn.mask<sliding_window>, scale = 1.250000e-01 : f64, softcap = 2.000000e+01 : f64, window = array<i64: 3, 1>} -> tensor<2x4x16xf32>, tensor<2x4xf32> score_mod {
// CHECK-NEXT: ^bb0(%[[S:.+]]: f32, %{{.+}}: index, %{{.+}}: index, %{{.+}}: index, %{{.+}}: index):
// CHECK-NEXT: %[[NEG:.+]] = arith.negf %[[S]] : f32
// CHECK-NEXT: attn.yield %[[NEG]] : f32
// CHECK-NEXT: } mask_mod {
// CHECK-NEXT: ^bb0(%{{.+}}: index, %{{.+}}: index, %[[I:.+]]: index, %[[J:.+]]: index):
// CHECK-NEXT: %[[NE:.+]] = arith.cmpi ne, %[[I]], %[[J]] : index
// CHECK-NEXT: attn.yield %[[NE]] : i1
// CHECK-NEXT: }
func.func @block_attention_everything(%q: tensor<2x4x16xf16>, %k: tensor<4x16xf16>, %v: tensor<4x16xf16>, %bias: tensor<2x4x4xf32>, %mask: tensor<2x4x4xi1>, %b: index, %h: index, %qp: index, %kp: index, %lq: index, %lk: index) -> (tensor<2x4x16xf32>, tensor<2x4xf32>) {
  %o, %lse = attn.block_attention ins(%q, %k, %v : tensor<2x4x16xf16>, tensor<4x16xf16>, tensor<4x16xf16>) bias(%bias : tensor<2x4x4xf32>) mask(%mask : tensor<2x4x4xi1>) at(%b, %h, %qp, %kp) lengths(%lq, %lk) {interior, mask_kind = #attn.mask<sliding_window>, window = array<i64: 3, 1>, softcap = 20.0 : f64, alibi_slopes = array<f64: 0.5, 0.25, 0.125>, scale = 0.125 : f64} -> tensor<2x4x16xf32>, tensor<2x4xf32>
  score_mod {
  ^bb0(%s: f32, %bb: index, %hh: index, %i: index, %j: index):
    %n = arith.negf %s : f32
    attn.yield %n : f32
  }
  mask_mod {
  ^bb0(%bb: index, %hh: index, %i: index, %j: index):
    %ne = arith.cmpi ne, %i, %j : index
    attn.yield %ne : i1
  }
  return %o, %lse : tensor<2x4x16xf32>, tensor<2x4xf32>
}

// A boolean mask alone (no bias), causal top-left on a boundary tile
// (no `interior`): key key_pos + j visible to row query_pos + i iff
// key_pos + j <= query_pos + i and key_pos + j < Lk.
// CHECK-LABEL: func.func @block_attention_mask_only
// CHECK: attn.block_attention ins(%{{[^)]+}}) mask(%{{.+}} : tensor<1x2x8xi1>) at(%{{[^)]+}}) lengths(%{{[^)]+}}) {mask_kind = #attn.mask<causal_top_left>, scale = 1.000000e+00 : f64} -> tensor<1x2x8xf32>, tensor<1x2xf32>
// CHECK-NEXT: return
func.func @block_attention_mask_only(%q: tensor<1x2x8xf32>, %k: tensor<8x8xf32>, %v: tensor<8x8xf32>, %mask: tensor<1x2x8xi1>, %i: index) -> (tensor<1x2x8xf32>, tensor<1x2xf32>) {
  %o, %lse = attn.block_attention ins(%q, %k, %v : tensor<1x2x8xf32>, tensor<8x8xf32>, tensor<8x8xf32>) mask(%mask : tensor<1x2x8xi1>) at(%i, %i, %i, %i) lengths(%i, %i) {mask_kind = #attn.mask<causal_top_left>, scale = 1.0 : f64} -> tensor<1x2x8xf32>, tensor<1x2xf32>
  return %o, %lse : tensor<1x2x8xf32>, tensor<1x2xf32>
}

// One online-softmax step after attn-lower-precision: P is rounded to bf16
// before P.V and the running max is in units of log2 (exp2 replaces exp):
// m' = max(m, rowmax(s)), a = 2^(m - m'), p = 2^(s - m'),
// l' = a*l + rowsum(p), acc' = a*acc + bf16(p) . V.
// CHECK-LABEL: func.func @online_step_lowered_precision
// CHECK-SAME: %[[ACC:[^:]+]]: tensor<2x4x16xf32>, %[[MAX:[^:]+]]: tensor<2x4xf32>, %[[SUM:[^:]+]]: tensor<2x4xf32>)
// CHECK: %[[NACC:.+]], %[[NMAX:.+]], %[[NSUM:.+]] = attn.online_step ins(%{{.+}}, %{{.+}}, %{{.+}} : tensor<2x4x16xbf16>, tensor<4x16xbf16>, tensor<4x16xbf16>) at(%{{.+}}) lengths(%{{.+}}) state(%[[ACC]], %[[MAX]], %[[SUM]] : tensor<2x4x16xf32>, tensor<2x4xf32>, tensor<2x4xf32>) {log2_domain, mask_kind = #attn.mask<causal_bottom_right>, p_type = bf16, scale = 2.500000e-01 : f64} -> tensor<2x4x16xf32>, tensor<2x4xf32>, tensor<2x4xf32>
// CHECK-NEXT: return %[[NACC]], %[[NMAX]], %[[NSUM]]
func.func @online_step_lowered_precision(%q: tensor<2x4x16xbf16>, %k: tensor<4x16xbf16>, %v: tensor<4x16xbf16>, %b: index, %h: index, %qp: index, %kp: index, %lq: index, %lk: index, %acc: tensor<2x4x16xf32>, %m: tensor<2x4xf32>, %l: tensor<2x4xf32>) -> (tensor<2x4x16xf32>, tensor<2x4xf32>, tensor<2x4xf32>) {
  %a, %mm, %ll = attn.online_step ins(%q, %k, %v : tensor<2x4x16xbf16>, tensor<4x16xbf16>, tensor<4x16xbf16>) at(%b, %h, %qp, %kp) lengths(%lq, %lk) state(%acc, %m, %l : tensor<2x4x16xf32>, tensor<2x4xf32>, tensor<2x4xf32>) {log2_domain, mask_kind = #attn.mask<causal_bottom_right>, p_type = bf16, scale = 0.25 : f64} -> tensor<2x4x16xf32>, tensor<2x4xf32>, tensor<2x4xf32>
  return %a, %mm, %ll : tensor<2x4x16xf32>, tensor<2x4xf32>, tensor<2x4xf32>
}

// An online step with a bias tile and a score_mod (s' = s * 0.5), in the
// natural-log domain and without p_type (P stays f32).
// CHECK-LABEL: func.func @online_step_bias_score_mod
// CHECK: attn.online_step ins({{.+}}) bias(%{{.+}} : tensor<1x2x4xf16>) at({{.+}}) lengths({{.+}}) state({{.+}}) {scale = 5.000000e-01 : f64} -> tensor<1x2x8xf32>, tensor<1x2xf32>, tensor<1x2xf32> score_mod {
// CHECK-NEXT: ^bb0(%[[S:.+]]: f32, %{{.+}}: index, %{{.+}}: index, %{{.+}}: index, %{{.+}}: index):
// CHECK-NEXT: %[[HALF:.+]] = arith.constant 5.000000e-01 : f32
// CHECK-NEXT: %[[R:.+]] = arith.mulf %[[S]], %[[HALF]] : f32
// CHECK-NEXT: attn.yield %[[R]] : f32
// CHECK-NEXT: }
// CHECK-NOT: mask_mod
// CHECK: return
func.func @online_step_bias_score_mod(%q: tensor<1x2x8xf16>, %k: tensor<4x8xf16>, %v: tensor<4x8xf16>, %bias: tensor<1x2x4xf16>, %i: index, %acc: tensor<1x2x8xf32>, %m: tensor<1x2xf32>, %l: tensor<1x2xf32>) -> (tensor<1x2x8xf32>, tensor<1x2xf32>, tensor<1x2xf32>) {
  %a, %mm, %ll = attn.online_step ins(%q, %k, %v : tensor<1x2x8xf16>, tensor<4x8xf16>, tensor<4x8xf16>) bias(%bias : tensor<1x2x4xf16>) at(%i, %i, %i, %i) lengths(%i, %i) state(%acc, %m, %l : tensor<1x2x8xf32>, tensor<1x2xf32>, tensor<1x2xf32>) {scale = 0.5 : f64} -> tensor<1x2x8xf32>, tensor<1x2xf32>, tensor<1x2xf32>
  score_mod {
  ^bb0(%s: f32, %bb: index, %hh: index, %qi: index, %kj: index):
    %half = arith.constant 0.5 : f32
    %r = arith.mulf %s, %half : f32
    attn.yield %r : f32
  }
  return %a, %mm, %ll : tensor<1x2x8xf32>, tensor<1x2xf32>, tensor<1x2xf32>
}

// finalize, f32 output, natural log: O = l == 0 ? 0 : acc / l,
// lse = l == 0 ? -inf : m + log(l).
// CHECK-LABEL: func.func @finalize_f32
// CHECK-SAME: (%[[ACC:[^:]+]]: tensor<2x4x16xf32>, %[[MAX:[^:]+]]: tensor<2x4xf32>, %[[SUM:[^:]+]]: tensor<2x4xf32>)
// CHECK: %[[O:.+]], %[[LSE:.+]] = attn.finalize %[[ACC]], %[[MAX]], %[[SUM]] : tensor<2x4x16xf32>, tensor<2x4xf32>, tensor<2x4xf32> -> tensor<2x4x16xf32>, tensor<2x4xf32>
// CHECK-NEXT: return %[[O]], %[[LSE]]
func.func @finalize_f32(%acc: tensor<2x4x16xf32>, %m: tensor<2x4xf32>, %l: tensor<2x4xf32>) -> (tensor<2x4x16xf32>, tensor<2x4xf32>) {
  %o, %lse = attn.finalize %acc, %m, %l : tensor<2x4x16xf32>, tensor<2x4xf32>, tensor<2x4xf32> -> tensor<2x4x16xf32>, tensor<2x4xf32>
  return %o, %lse : tensor<2x4x16xf32>, tensor<2x4xf32>
}

// finalize to a bf16 output with the max in log2 units:
// lse = (m + log2(l)) * ln(2).
// CHECK-LABEL: func.func @finalize_bf16_log2
// CHECK: attn.finalize %{{.+}}, %{{.+}}, %{{.+}} {log2_domain} : tensor<2x4x16xf32>, tensor<2x4xf32>, tensor<2x4xf32> -> tensor<2x4x16xbf16>, tensor<2x4xf32>
func.func @finalize_bf16_log2(%acc: tensor<2x4x16xf32>, %m: tensor<2x4xf32>, %l: tensor<2x4xf32>) -> (tensor<2x4x16xbf16>, tensor<2x4xf32>) {
  %o, %lse = attn.finalize %acc, %m, %l {log2_domain} : tensor<2x4x16xf32>, tensor<2x4xf32>, tensor<2x4xf32> -> tensor<2x4x16xbf16>, tensor<2x4xf32>
  return %o, %lse : tensor<2x4x16xbf16>, tensor<2x4xf32>
}

// combine of 2 rank-3 partials [G, M, Dv] over disjoint key ranges:
// lse = log(e^lse0 + e^lse1), O = sum_k e^(lse_k - lse) O_k.
// CHECK-LABEL: func.func @combine_two
// CHECK-SAME: (%[[O0:[^:]+]]: tensor<2x4x16xf32>, %[[O1:[^:]+]]: tensor<2x4x16xf32>, %[[L0:[^:]+]]: tensor<2x4xf32>, %[[L1:[^:]+]]: tensor<2x4xf32>)
// CHECK: %[[O:.+]], %[[LSE:.+]] = attn.combine outputs(%[[O0]], %[[O1]] : tensor<2x4x16xf32>, tensor<2x4x16xf32>) lses(%[[L0]], %[[L1]] : tensor<2x4xf32>, tensor<2x4xf32>) -> tensor<2x4x16xf32>, tensor<2x4xf32>
// CHECK-NEXT: return %[[O]], %[[LSE]]
func.func @combine_two(%o0: tensor<2x4x16xf32>, %o1: tensor<2x4x16xf32>, %l0: tensor<2x4xf32>, %l1: tensor<2x4xf32>) -> (tensor<2x4x16xf32>, tensor<2x4xf32>) {
  %o, %lse = attn.combine outputs(%o0, %o1 : tensor<2x4x16xf32>, tensor<2x4x16xf32>) lses(%l0, %l1 : tensor<2x4xf32>, tensor<2x4xf32>) -> tensor<2x4x16xf32>, tensor<2x4xf32>
  return %o, %lse : tensor<2x4x16xf32>, tensor<2x4xf32>
}

// combine of 3 rank-4 partials [B, Hq, Lq, Dv] (the splits of split-KV
// decode), with a dynamic batch: LSEs [B, Hq, Lq].
// CHECK-LABEL: func.func @combine_three_rank4
// CHECK-SAME: (%[[O0:[^:]+]]: tensor<?x8x1x64xf32>, %[[O1:[^:]+]]: tensor<?x8x1x64xf32>, %[[O2:[^:]+]]: tensor<?x8x1x64xf32>, %[[L0:[^:]+]]: tensor<?x8x1xf32>, %[[L1:[^:]+]]: tensor<?x8x1xf32>, %[[L2:[^:]+]]: tensor<?x8x1xf32>)
// CHECK: attn.combine outputs(%[[O0]], %[[O1]], %[[O2]] : tensor<?x8x1x64xf32>, tensor<?x8x1x64xf32>, tensor<?x8x1x64xf32>) lses(%[[L0]], %[[L1]], %[[L2]] : tensor<?x8x1xf32>, tensor<?x8x1xf32>, tensor<?x8x1xf32>) -> tensor<?x8x1x64xf32>, tensor<?x8x1xf32>
func.func @combine_three_rank4(%o0: tensor<?x8x1x64xf32>, %o1: tensor<?x8x1x64xf32>, %o2: tensor<?x8x1x64xf32>, %l0: tensor<?x8x1xf32>, %l1: tensor<?x8x1xf32>, %l2: tensor<?x8x1xf32>) -> (tensor<?x8x1x64xf32>, tensor<?x8x1xf32>) {
  %o, %lse = attn.combine outputs(%o0, %o1, %o2 : tensor<?x8x1x64xf32>, tensor<?x8x1x64xf32>, tensor<?x8x1x64xf32>) lses(%l0, %l1, %l2 : tensor<?x8x1xf32>, tensor<?x8x1xf32>, tensor<?x8x1xf32>) -> tensor<?x8x1x64xf32>, tensor<?x8x1xf32>
  return %o, %lse : tensor<?x8x1x64xf32>, tensor<?x8x1xf32>
}

// -----

// A paged KV cache: 8 pages of 4 tokens, 2 sequences of up to 4 pages each;
// the view is the logical [B, Hkv, 16, D] key tensor attention reads.
// CHECK-LABEL: func.func @paged_view
// CHECK-SAME: (%[[PAGES:[^:]+]]: tensor<8x4x2x16xbf16>, %[[TABLE:[^:]+]]: tensor<2x4xi32>
// CHECK: attn.paged_view %[[PAGES]][%[[TABLE]]] : tensor<8x4x2x16xbf16>, tensor<2x4xi32> -> tensor<2x2x16x16xbf16>
func.func @paged_view(%pages: tensor<8x4x2x16xbf16>, %table: tensor<2x4xi32>) -> tensor<2x2x16x16xbf16> {
  %k = attn.paged_view %pages[%table] : tensor<8x4x2x16xbf16>, tensor<2x4xi32> -> tensor<2x2x16x16xbf16>
  return %k : tensor<2x2x16x16xbf16>
}

// Per-sequence key lengths of a partly filled cache [B, Hkv, Lmax, D].
// CHECK-LABEL: func.func @key_lengths
// CHECK: attn.attention ins(%{{.+}}, %{{.+}}, %{{.+}} : {{.+}}) key_lengths(%{{.+}} : tensor<2xi32>) {mask_kind = #attn.mask<causal_bottom_right>}
func.func @key_lengths(%q: tensor<2x4x1x16xf32>, %k: tensor<2x2x64x16xf32>, %v: tensor<2x2x64x16xf32>, %lens: tensor<2xi32>) -> tensor<2x4x1x16xf32> {
  %o = attn.attention ins(%q, %k, %v : tensor<2x4x1x16xf32>, tensor<2x2x64x16xf32>, tensor<2x2x64x16xf32>) key_lengths(%lens : tensor<2xi32>) {mask_kind = #attn.mask<causal_bottom_right>} -> tensor<2x4x1x16xf32>
  return %o : tensor<2x4x1x16xf32>
}

// Appending a chunk of 4 new tokens to a contiguous cache at each sequence's
// position; the result feeds the attention of the same step.
// CHECK-LABEL: func.func @kv_append
// CHECK: %[[K:.+]] = attn.kv_append %{{.+}} into %{{.+}} at %{{.+}} : tensor<2x2x4x16xf32> into tensor<2x2x64x16xf32> at tensor<2xi32> -> tensor<2x2x64x16xf32>
func.func @kv_append(%new: tensor<2x2x4x16xf32>, %cache: tensor<2x2x64x16xf32>, %pos: tensor<2xi32>) -> tensor<2x2x64x16xf32> {
  %k = attn.kv_append %new into %cache at %pos : tensor<2x2x4x16xf32> into tensor<2x2x64x16xf32> at tensor<2xi32> -> tensor<2x2x64x16xf32>
  return %k : tensor<2x2x64x16xf32>
}

// -----

// CHECK-LABEL: func.func @kv_tile
// CHECK: attn.kv_tile %{{.+}}[%{{.+}}, %{{.+}}, %{{.+}}] : tensor<2x4x64x32xbf16> -> tensor<16x32xbf16>
// CHECK: attn.kv_tile %{{.+}}[%{{.+}}, %{{.+}}, %{{.+}}] {layout = #attn.layout<bshd>} : tensor<2x64x4x32xbf16> -> tensor<16x32xbf16>
func.func @kv_tile(%k: tensor<2x4x64x32xbf16>, %kb: tensor<2x64x4x32xbf16>, %i: index) -> (tensor<16x32xbf16>, tensor<16x32xbf16>) {
  %t = attn.kv_tile %k[%i, %i, %i] : tensor<2x4x64x32xbf16> -> tensor<16x32xbf16>
  %u = attn.kv_tile %kb[%i, %i, %i] {layout = #attn.layout<bshd>} : tensor<2x64x4x32xbf16> -> tensor<16x32xbf16>
  return %t, %u : tensor<16x32xbf16>, tensor<16x32xbf16>
}

// -----

// f64 (the CPU's float64 gradient-check precision), with its f64 LSE.
// CHECK-LABEL: func.func @f64
// CHECK: attn.attention ins({{.+}} : tensor<1x2x8x16xf64>, tensor<1x1x8x16xf64>, tensor<1x1x8x16xf64>) -> tensor<1x2x8x16xf64>, tensor<1x2x8xf64>
func.func @f64(%q: tensor<1x2x8x16xf64>, %k: tensor<1x1x8x16xf64>, %v: tensor<1x1x8x16xf64>) -> tensor<1x2x8xf64> {
  %o, %lse = attn.attention ins(%q, %k, %v : tensor<1x2x8x16xf64>, tensor<1x1x8x16xf64>, tensor<1x1x8x16xf64>) -> tensor<1x2x8x16xf64>, tensor<1x2x8xf64>
  return %lse : tensor<1x2x8xf64>
}

// Attention sinks: one f32 logit per query head of the whole attention (a
// shard indexes them by the global head, like the ALiBi slopes).
// CHECK-LABEL: func.func @sinks
// CHECK: attn.attention ins(%{{.+}}, %{{.+}}, %{{.+}} : {{.+}}) key_lengths(%{{.+}} : tensor<2xi32>) sinks(%{{.+}} : tensor<8xf32>) {head_offset = 4 : i64, mask_kind = #attn.mask<causal_bottom_right>, num_heads_total = 8 : i64} -> tensor<2x4x1x16xf32>, tensor<2x4x1xf32>
func.func @sinks(%q: tensor<2x4x1x16xf32>, %k: tensor<2x2x64x16xf32>, %v: tensor<2x2x64x16xf32>, %lens: tensor<2xi32>, %s: tensor<8xf32>) -> (tensor<2x4x1x16xf32>, tensor<2x4x1xf32>) {
  %o, %lse = attn.attention ins(%q, %k, %v : tensor<2x4x1x16xf32>, tensor<2x2x64x16xf32>, tensor<2x2x64x16xf32>) key_lengths(%lens : tensor<2xi32>) sinks(%s : tensor<8xf32>) {mask_kind = #attn.mask<causal_bottom_right>, head_offset = 4 : i64, num_heads_total = 8 : i64} -> tensor<2x4x1x16xf32>, tensor<2x4x1xf32>
  return %o, %lse : tensor<2x4x1x16xf32>, tensor<2x4x1xf32>
}

// One shared K/V cache (MLA latent decode): V is the first 512 of the 576
// columns of K's rows, K itself the whole row.
// CHECK-LABEL: func.func @kv_prefix
// CHECK-SAME: (%{{[^:]+}}: tensor<2x16x1x576xbf16>, %[[KV:[^:]+]]: tensor<2x1x64x576xbf16>)
// CHECK: %[[V:.+]] = attn.kv_prefix %[[KV]] : tensor<2x1x64x576xbf16> -> tensor<2x1x64x512xbf16>
// CHECK: attn.attention ins(%{{.+}}, %[[KV]], %[[V]] : tensor<2x16x1x576xbf16>, tensor<2x1x64x576xbf16>, tensor<2x1x64x512xbf16>)
func.func @kv_prefix(%q: tensor<2x16x1x576xbf16>, %kv: tensor<2x1x64x576xbf16>) -> tensor<2x16x1x512xbf16> {
  %v = attn.kv_prefix %kv : tensor<2x1x64x576xbf16> -> tensor<2x1x64x512xbf16>
  %o = attn.attention ins(%q, %kv, %v : tensor<2x16x1x576xbf16>, tensor<2x1x64x576xbf16>, tensor<2x1x64x512xbf16>) -> tensor<2x16x1x512xbf16>
  return %o : tensor<2x16x1x512xbf16>
}

// The prefix of a bshd paged view (varlen decode over a paged latent cache)
// takes the view's layout.
// CHECK-LABEL: func.func @kv_prefix_paged_bshd
// CHECK: %[[K:.+]] = attn.paged_view
// CHECK: attn.kv_prefix %[[K]] {layout = #attn.layout<bshd>} : tensor<2x16x1x80xbf16> -> tensor<2x16x1x64xbf16>
func.func @kv_prefix_paged_bshd(%pages: tensor<8x4x1x80xbf16>, %table: tensor<2x4xi32>) -> tensor<2x16x1x64xbf16> {
  %k = attn.paged_view %pages[%table] {layout = #attn.layout<bshd>} : tensor<8x4x1x80xbf16>, tensor<2x4xi32> -> tensor<2x16x1x80xbf16>
  %v = attn.kv_prefix %k {layout = #attn.layout<bshd>} : tensor<2x16x1x80xbf16> -> tensor<2x16x1x64xbf16>
  return %v : tensor<2x16x1x64xbf16>
}
