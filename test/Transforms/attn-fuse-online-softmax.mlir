// RUN: attn-opt %s --attn-tile="block-m=32 block-n=16" --attn-fuse-online-softmax --canonicalize --split-input-file | FileCheck %s
// RUN: attn-opt %s --attn-fuse-online-softmax --split-input-file | FileCheck %s --check-prefix=KEEP

// The interior and boundary KV loops of one query tile become the online
// recurrence: the first starts from the empty state (acc = 0, m = -inf,
// l = 0), the second continues from the first's (acc, m, l) without
// normalising in between, and one attn.finalize divides at the end:
//   m' = max(m, rowmax(s)); a = exp(m - m'); l' = a l + rowsum(exp(s - m'));
//   acc' = a acc + exp(s - m') V;  out = acc / l; lse = m + log(l).
// CHECK-LABEL: func.func @causal
// CHECK-DAG: %[[ZERO:.+]] = arith.constant 0.000000e+00 : f32
// CHECK-DAG: %[[NEGINF:.+]] = arith.constant 0xFF800000 : f32
// CHECK: scf.forall
// CHECK: %[[ACC0:.+]] = linalg.fill ins(%[[ZERO]] : f32) outs(%{{.+}} : tensor<4x32x32xf32>)
// CHECK: %[[M0:.+]] = linalg.fill ins(%[[NEGINF]] : f32) outs(%{{.+}} : tensor<4x32xf32>)
// CHECK: %[[L0:.+]] = linalg.fill ins(%[[ZERO]] : f32) outs(%{{.+}} : tensor<4x32xf32>)
// CHECK: %[[S1:.+]]:3 = scf.for {{.+}} iter_args(%[[ACC:.+]] = %[[ACC0]], %[[M:.+]] = %[[M0]], %[[L:.+]] = %[[L0]])
// CHECK: %[[A1:.+]], %[[MX1:.+]], %[[SM1:.+]] = attn.online_step ins({{.+}}) at({{.+}}) lengths({{.+}}) state(%[[ACC]], %[[M]], %[[L]] : {{.+}}) {interior, mask_kind = #attn.mask<causal_bottom_right>, scale = 0.17677669529663687 : f64}
// CHECK: scf.yield %[[A1]], %[[MX1]], %[[SM1]]
// CHECK: %[[S2:.+]]:3 = scf.for {{.+}} iter_args(%{{.+}} = %[[S1]]#0, %{{.+}} = %[[S1]]#1, %{{.+}} = %[[S1]]#2)
// CHECK: attn.online_step {{.+}} {mask_kind = #attn.mask<causal_bottom_right>, scale = 0.17677669529663687 : f64}
// CHECK: %[[O:.+]], %[[LSE:.+]] = attn.finalize %[[S2]]#0, %[[S2]]#1, %[[S2]]#2 : tensor<4x32x32xf32>, tensor<4x32xf32>, tensor<4x32xf32> -> tensor<4x32x32xf32>, tensor<4x32xf32>
// CHECK: arith.truncf
// CHECK: tensor.parallel_insert_slice %[[LSE]]
// CHECK-NOT: attn.combine
// CHECK-NOT: attn.block_attention
func.func @causal(%q: tensor<2x8x64x32xbf16>, %k: tensor<2x2x64x32xbf16>, %v: tensor<2x2x64x32xbf16>) -> (tensor<2x8x64x32xbf16>, tensor<2x8x64xf32>) {
  %o, %lse = attn.attention ins(%q, %k, %v : tensor<2x8x64x32xbf16>, tensor<2x2x64x32xbf16>, tensor<2x2x64x32xbf16>) {mask_kind = #attn.mask<causal_bottom_right>} -> tensor<2x8x64x32xbf16>, tensor<2x8x64xf32>
  return %o, %lse : tensor<2x8x64x32xbf16>, tensor<2x8x64xf32>
}

// -----

// A KV loop whose block result is also read elsewhere is left alone: the
// fused loop would no longer produce that normalised value.
// CHECK-LABEL: func.func @block_result_escapes
// KEEP-LABEL: func.func @block_result_escapes
// KEEP: scf.for
// KEEP: attn.block_attention
// KEEP: attn.combine
// KEEP-NOT: attn.online_step
func.func @block_result_escapes(%q: tensor<1x4x8xf32>, %k: tensor<4x8xf32>, %v: tensor<4x8xf32>, %lb: index, %ub: index) -> (tensor<1x4x8xf32>, tensor<1x4x8xf32>) {
  %c0 = arith.constant 0 : index
  %c4 = arith.constant 4 : index
  %zero = arith.constant 0.0 : f32
  %ninf = arith.constant 0xFF800000 : f32
  %e0 = tensor.empty() : tensor<1x4x8xf32>
  %o0 = linalg.fill ins(%zero : f32) outs(%e0 : tensor<1x4x8xf32>) -> tensor<1x4x8xf32>
  %e1 = tensor.empty() : tensor<1x4xf32>
  %l0 = linalg.fill ins(%ninf : f32) outs(%e1 : tensor<1x4xf32>) -> tensor<1x4xf32>
  %r:3 = scf.for %k0 = %lb to %ub step %c4 iter_args(%o = %o0, %l = %l0, %last = %o0) -> (tensor<1x4x8xf32>, tensor<1x4xf32>, tensor<1x4x8xf32>) {
    %bo, %bl = attn.block_attention ins(%q, %k, %v : tensor<1x4x8xf32>, tensor<4x8xf32>, tensor<4x8xf32>) at(%c0, %c0, %c0, %k0) lengths(%c4, %ub) {scale = 1.0 : f64} -> tensor<1x4x8xf32>, tensor<1x4xf32>
    %co, %cl = attn.combine outputs(%o, %bo : tensor<1x4x8xf32>, tensor<1x4x8xf32>) lses(%l, %bl : tensor<1x4xf32>, tensor<1x4xf32>) -> tensor<1x4x8xf32>, tensor<1x4xf32>
    scf.yield %co, %cl, %bo : tensor<1x4x8xf32>, tensor<1x4xf32>, tensor<1x4x8xf32>
  }
  return %r#0, %r#2 : tensor<1x4x8xf32>, tensor<1x4x8xf32>
}

// -----

// A loop whose initial (output, lse) is neither the empty state nor a fused
// loop's state has no (acc, max, sum) to start from: left alone.
// KEEP-LABEL: func.func @unknown_initial_state
// KEEP: attn.block_attention
// KEEP: attn.combine
// KEEP-NOT: attn.online_step
func.func @unknown_initial_state(%q: tensor<1x4x8xf32>, %k: tensor<4x8xf32>, %v: tensor<4x8xf32>, %o0: tensor<1x4x8xf32>, %l0: tensor<1x4xf32>, %ub: index) -> tensor<1x4x8xf32> {
  %c0 = arith.constant 0 : index
  %c4 = arith.constant 4 : index
  %r:2 = scf.for %k0 = %c0 to %ub step %c4 iter_args(%o = %o0, %l = %l0) -> (tensor<1x4x8xf32>, tensor<1x4xf32>) {
    %bo, %bl = attn.block_attention ins(%q, %k, %v : tensor<1x4x8xf32>, tensor<4x8xf32>, tensor<4x8xf32>) at(%c0, %c0, %c0, %k0) lengths(%c4, %ub) {scale = 1.0 : f64} -> tensor<1x4x8xf32>, tensor<1x4xf32>
    %co, %cl = attn.combine outputs(%o, %bo : tensor<1x4x8xf32>, tensor<1x4x8xf32>) lses(%l, %bl : tensor<1x4xf32>, tensor<1x4xf32>) -> tensor<1x4x8xf32>, tensor<1x4xf32>
    scf.yield %co, %cl : tensor<1x4x8xf32>, tensor<1x4xf32>
  }
  return %r#0 : tensor<1x4x8xf32>
}

// -----

// Attention sinks: attn-tile merges the sink after the KV loops as one more
// partial (0, sinks[h]); the loops fuse into the online recurrence from the
// empty state as without sinks, and the sink's combine stays after the
// finalize. It runs once per row (not per KV block) and needs no state of
// its own: finalize's (out, lse) is a partial like any other.
// CHECK-LABEL: func.func @sinks_after_finalize
// CHECK-SAME: %[[SINKS:[^:]+]]: tensor<8xf32>
// CHECK: %[[STATE:.+]]:3 = scf.for
// CHECK: attn.online_step
// CHECK-NOT: attn.combine
// CHECK: %[[OUT:.+]], %[[LSE:.+]] = attn.finalize %[[STATE]]#0, %[[STATE]]#1, %[[STATE]]#2
// CHECK: tensor.extract_slice %[[SINKS]]
// CHECK: attn.combine outputs(%[[OUT]], %{{.+}} : {{.+}}) lses(%[[LSE]], %{{.+}} : {{.+}})
func.func @sinks_after_finalize(%q: tensor<1x4x32x16xf32>, %k: tensor<1x2x32x16xf32>, %v: tensor<1x2x32x16xf32>, %s: tensor<8xf32>) -> (tensor<1x4x32x16xf32>, tensor<1x4x32xf32>) {
  %o, %lse = attn.attention ins(%q, %k, %v : tensor<1x4x32x16xf32>, tensor<1x2x32x16xf32>, tensor<1x2x32x16xf32>) sinks(%s : tensor<8xf32>) {mask_kind = #attn.mask<causal_bottom_right>, head_offset = 4 : i64, num_heads_total = 8 : i64} -> tensor<1x4x32x16xf32>, tensor<1x4x32xf32>
  return %o, %lse : tensor<1x4x32x16xf32>, tensor<1x4x32xf32>
}
