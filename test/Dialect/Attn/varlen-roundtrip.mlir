// RUN: attn-opt %s | attn-opt | FileCheck %s

// Varlen attention: N sequences packed along the sequence axis of one bshd
// batch row, delimited by cu_seqlens_q / cu_seqlens_k ([N+1] i32 each).

// Three sequences, 10 query and 12 key rows in all, GQA 4/2, with the LSE
// [1, Hq, Tq] (FlashAttention's [H, total]).
// CHECK-LABEL: func.func @varlen_gqa
// CHECK: attn.attention ins(%{{.*}}, %{{.*}}, %{{.*}} : tensor<1x10x4x16xbf16>, tensor<1x12x2x16xbf16>, tensor<1x12x2x16xbf16>)
// CHECK-SAME: cu_seqlens_q(%{{.*}} : tensor<4xi32>) cu_seqlens_k(%{{.*}} : tensor<4xi32>)
// CHECK-SAME: layout = #attn.layout<bshd>
// CHECK-SAME: mask_kind = #attn.mask<causal_bottom_right>
// CHECK-SAME: -> tensor<1x10x4x16xbf16>, tensor<1x4x10xf32>
func.func @varlen_gqa(%q: tensor<1x10x4x16xbf16>, %k: tensor<1x12x2x16xbf16>, %v: tensor<1x12x2x16xbf16>, %cq: tensor<4xi32>, %ck: tensor<4xi32>) -> (tensor<1x10x4x16xbf16>, tensor<1x4x10xf32>) {
  %o, %lse = attn.attention ins(%q, %k, %v : tensor<1x10x4x16xbf16>, tensor<1x12x2x16xbf16>, tensor<1x12x2x16xbf16>) cu_seqlens_q(%cq : tensor<4xi32>) cu_seqlens_k(%ck : tensor<4xi32>) {layout = #attn.layout<bshd>, mask_kind = #attn.mask<causal_bottom_right>} -> tensor<1x10x4x16xbf16>, tensor<1x4x10xf32>
  return %o, %lse : tensor<1x10x4x16xbf16>, tensor<1x4x10xf32>
}

// Dynamic totals and sequence count, with sinks (which varlen keeps).
// CHECK-LABEL: func.func @varlen_dynamic_sinks
// CHECK: sinks(%{{.*}} : tensor<4xf32>) cu_seqlens_q(%{{.*}} : tensor<?xi32>) cu_seqlens_k(%{{.*}} : tensor<?xi32>)
func.func @varlen_dynamic_sinks(%q: tensor<1x?x4x16xf32>, %k: tensor<1x?x4x16xf32>, %v: tensor<1x?x4x16xf32>, %s: tensor<4xf32>, %cq: tensor<?xi32>, %ck: tensor<?xi32>) -> tensor<1x?x4x16xf32> {
  %o = attn.attention ins(%q, %k, %v : tensor<1x?x4x16xf32>, tensor<1x?x4x16xf32>, tensor<1x?x4x16xf32>) sinks(%s : tensor<4xf32>) cu_seqlens_q(%cq : tensor<?xi32>) cu_seqlens_k(%ck : tensor<?xi32>) {layout = #attn.layout<bshd>} -> tensor<1x?x4x16xf32>
  return %o : tensor<1x?x4x16xf32>
}

// Queries over per-sequence caches (decode): 3 sequences of 10 query rows
// in all, each over its own cache of a paged store read as a bshd view,
// filled to key_lengths.
// CHECK-LABEL: func.func @varlen_paged_caches
// CHECK: attn.paged_view %{{.*}}[%{{.*}}] {layout = #attn.layout<bshd>} : tensor<12x16x2x16xbf16>, tensor<3x4xi32> -> tensor<3x64x2x16xbf16>
// CHECK: attn.attention ins(%{{.*}}, %{{.*}}, %{{.*}} : tensor<1x10x4x16xbf16>, tensor<3x64x2x16xbf16>, tensor<3x64x2x16xbf16>)
// CHECK-SAME: key_lengths(%{{.*}} : tensor<3xi32>) cu_seqlens_q(%{{.*}} : tensor<4xi32>)
// CHECK-NOT: cu_seqlens_k
func.func @varlen_paged_caches(%q: tensor<1x10x4x16xbf16>, %kp: tensor<12x16x2x16xbf16>, %vp: tensor<12x16x2x16xbf16>, %table: tensor<3x4xi32>, %lens: tensor<3xi32>, %cq: tensor<4xi32>) -> (tensor<1x10x4x16xbf16>, tensor<1x4x10xf32>) {
  %k = attn.paged_view %kp[%table] {layout = #attn.layout<bshd>} : tensor<12x16x2x16xbf16>, tensor<3x4xi32> -> tensor<3x64x2x16xbf16>
  %v = attn.paged_view %vp[%table] {layout = #attn.layout<bshd>} : tensor<12x16x2x16xbf16>, tensor<3x4xi32> -> tensor<3x64x2x16xbf16>
  %o, %lse = attn.attention ins(%q, %k, %v : tensor<1x10x4x16xbf16>, tensor<3x64x2x16xbf16>, tensor<3x64x2x16xbf16>) key_lengths(%lens : tensor<3xi32>) cu_seqlens_q(%cq : tensor<4xi32>) {layout = #attn.layout<bshd>, mask_kind = #attn.mask<causal_bottom_right>} -> tensor<1x10x4x16xbf16>, tensor<1x4x10xf32>
  return %o, %lse : tensor<1x10x4x16xbf16>, tensor<1x4x10xf32>
}

// The backward of a varlen batch: the forward's operands, O, dO and its LSE
// [1, Hq, Tq], with the same offsets.
// CHECK-LABEL: func.func @varlen_backward
// CHECK: attn.attention_backward ins(%{{.*}} : tensor<1x10x4x16xbf16>, tensor<1x12x2x16xbf16>, tensor<1x12x2x16xbf16>, tensor<1x10x4x16xbf16>, tensor<1x10x4x16xbf16>, tensor<1x4x10xf32>)
// CHECK-SAME: cu_seqlens_q(%{{.*}} : tensor<4xi32>) cu_seqlens_k(%{{.*}} : tensor<4xi32>)
// CHECK-SAME: layout = #attn.layout<bshd>
// CHECK-SAME: -> tensor<1x10x4x16xbf16>, tensor<1x12x2x16xbf16>, tensor<1x12x2x16xbf16>
func.func @varlen_backward(%q: tensor<1x10x4x16xbf16>, %k: tensor<1x12x2x16xbf16>, %v: tensor<1x12x2x16xbf16>, %o: tensor<1x10x4x16xbf16>, %do: tensor<1x10x4x16xbf16>, %lse: tensor<1x4x10xf32>, %cq: tensor<4xi32>, %ck: tensor<4xi32>) -> (tensor<1x10x4x16xbf16>, tensor<1x12x2x16xbf16>, tensor<1x12x2x16xbf16>) {
  %dq, %dk, %dv = attn.attention_backward ins(%q, %k, %v, %o, %do, %lse : tensor<1x10x4x16xbf16>, tensor<1x12x2x16xbf16>, tensor<1x12x2x16xbf16>, tensor<1x10x4x16xbf16>, tensor<1x10x4x16xbf16>, tensor<1x4x10xf32>) cu_seqlens_q(%cq : tensor<4xi32>) cu_seqlens_k(%ck : tensor<4xi32>) {layout = #attn.layout<bshd>, mask_kind = #attn.mask<causal_bottom_right>} -> tensor<1x10x4x16xbf16>, tensor<1x12x2x16xbf16>, tensor<1x12x2x16xbf16>
  return %dq, %dk, %dv : tensor<1x10x4x16xbf16>, tensor<1x12x2x16xbf16>, tensor<1x12x2x16xbf16>
}
