// RUN: attn-opt %s -split-input-file -verify-diagnostics

// Every varlen diagnostic of AttentionOp::verify (verifyVarlen), one case
// each. Unless a case says otherwise: Q [1, 10, 4, 16], K/V [1, 12, 2, 16]
// bshd, cu_seqlens [4], f32.

func.func @only_q(%q: tensor<1x10x4x16xf32>, %k: tensor<1x12x2x16xf32>, %v: tensor<1x12x2x16xf32>, %cq: tensor<4xi32>) -> tensor<1x10x4x16xf32> {
  // expected-error @+1 {{'attn.attention' op expected cu_seqlens_q and cu_seqlens_k together (the query and key offsets of the packed sequences)}}
  %o = attn.attention ins(%q, %k, %v : tensor<1x10x4x16xf32>, tensor<1x12x2x16xf32>, tensor<1x12x2x16xf32>) cu_seqlens_q(%cq : tensor<4xi32>) {layout = #attn.layout<bshd>} -> tensor<1x10x4x16xf32>
  return %o : tensor<1x10x4x16xf32>
}

// -----

func.func @shapes_differ(%q: tensor<1x10x4x16xf32>, %k: tensor<1x12x2x16xf32>, %v: tensor<1x12x2x16xf32>, %cq: tensor<4xi32>, %ck: tensor<3xi32>) -> tensor<1x10x4x16xf32> {
  // expected-error @+1 {{expected cu_seqlens_q and cu_seqlens_k of one shape [N+1] (N sequences), got 'tensor<4xi32>' and 'tensor<3xi32>'}}
  %o = attn.attention ins(%q, %k, %v : tensor<1x10x4x16xf32>, tensor<1x12x2x16xf32>, tensor<1x12x2x16xf32>) cu_seqlens_q(%cq : tensor<4xi32>) cu_seqlens_k(%ck : tensor<3xi32>) {layout = #attn.layout<bshd>} -> tensor<1x10x4x16xf32>
  return %o : tensor<1x10x4x16xf32>
}

// -----

func.func @rank_two(%q: tensor<1x10x4x16xf32>, %k: tensor<1x12x2x16xf32>, %v: tensor<1x12x2x16xf32>, %cq: tensor<2x2xi32>, %ck: tensor<2x2xi32>) -> tensor<1x10x4x16xf32> {
  // expected-error @+1 {{expected cu_seqlens_q and cu_seqlens_k of one shape [N+1] (N sequences), got 'tensor<2x2xi32>' and 'tensor<2x2xi32>'}}
  %o = attn.attention ins(%q, %k, %v : tensor<1x10x4x16xf32>, tensor<1x12x2x16xf32>, tensor<1x12x2x16xf32>) cu_seqlens_q(%cq : tensor<2x2xi32>) cu_seqlens_k(%ck : tensor<2x2xi32>) {layout = #attn.layout<bshd>} -> tensor<1x10x4x16xf32>
  return %o : tensor<1x10x4x16xf32>
}

// -----

// [0]: no entry at all, not even the leading 0 of zero sequences.
func.func @empty_offsets(%q: tensor<1x10x4x16xf32>, %k: tensor<1x12x2x16xf32>, %v: tensor<1x12x2x16xf32>, %cq: tensor<0xi32>, %ck: tensor<0xi32>) -> tensor<1x10x4x16xf32> {
  // expected-error @+1 {{expected cu_seqlens_q and cu_seqlens_k of one shape [N+1] (N sequences), got 'tensor<0xi32>' and 'tensor<0xi32>'}}
  %o = attn.attention ins(%q, %k, %v : tensor<1x10x4x16xf32>, tensor<1x12x2x16xf32>, tensor<1x12x2x16xf32>) cu_seqlens_q(%cq : tensor<0xi32>) cu_seqlens_k(%ck : tensor<0xi32>) {layout = #attn.layout<bshd>} -> tensor<1x10x4x16xf32>
  return %o : tensor<1x10x4x16xf32>
}

// -----

func.func @i64_offsets(%q: tensor<1x10x4x16xf32>, %k: tensor<1x12x2x16xf32>, %v: tensor<1x12x2x16xf32>, %cq: tensor<4xi64>, %ck: tensor<4xi64>) -> tensor<1x10x4x16xf32> {
  // expected-error @+1 {{operand #3 must be ranked tensor of 32-bit signless integer values}}
  %o = attn.attention ins(%q, %k, %v : tensor<1x10x4x16xf32>, tensor<1x12x2x16xf32>, tensor<1x12x2x16xf32>) cu_seqlens_q(%cq : tensor<4xi64>) cu_seqlens_k(%ck : tensor<4xi64>) {layout = #attn.layout<bshd>} -> tensor<1x10x4x16xf32>
  return %o : tensor<1x10x4x16xf32>
}

// -----

func.func @bhsd(%q: tensor<1x4x10x16xf32>, %k: tensor<1x2x12x16xf32>, %v: tensor<1x2x12x16xf32>, %cq: tensor<4xi32>, %ck: tensor<4xi32>) -> tensor<1x4x10x16xf32> {
  // expected-error @+1 {{expected the bshd layout with cu_seqlens (the sequences are packed as [1, T, H, D])}}
  %o = attn.attention ins(%q, %k, %v : tensor<1x4x10x16xf32>, tensor<1x2x12x16xf32>, tensor<1x2x12x16xf32>) cu_seqlens_q(%cq : tensor<4xi32>) cu_seqlens_k(%ck : tensor<4xi32>) -> tensor<1x4x10x16xf32>
  return %o : tensor<1x4x10x16xf32>
}

// -----

func.func @batch_two(%q: tensor<2x10x4x16xf32>, %k: tensor<2x12x2x16xf32>, %v: tensor<2x12x2x16xf32>, %cq: tensor<4xi32>, %ck: tensor<4xi32>) -> tensor<2x10x4x16xf32> {
  // expected-error @+1 {{expected a batch of 1 in the query with cu_seqlens (the sequences are packed along the sequence axis), got 'tensor<2x10x4x16xf32>'}}
  %o = attn.attention ins(%q, %k, %v : tensor<2x10x4x16xf32>, tensor<2x12x2x16xf32>, tensor<2x12x2x16xf32>) cu_seqlens_q(%cq : tensor<4xi32>) cu_seqlens_k(%ck : tensor<4xi32>) {layout = #attn.layout<bshd>} -> tensor<2x10x4x16xf32>
  return %o : tensor<2x10x4x16xf32>
}

// -----

// A dynamic batch could be anything: varlen needs it to be 1.
func.func @dynamic_batch(%q: tensor<?x10x4x16xf32>, %k: tensor<?x12x2x16xf32>, %v: tensor<?x12x2x16xf32>, %cq: tensor<4xi32>, %ck: tensor<4xi32>) -> tensor<?x10x4x16xf32> {
  // expected-error @+1 {{expected a batch of 1 in the query with cu_seqlens}}
  %o = attn.attention ins(%q, %k, %v : tensor<?x10x4x16xf32>, tensor<?x12x2x16xf32>, tensor<?x12x2x16xf32>) cu_seqlens_q(%cq : tensor<4xi32>) cu_seqlens_k(%ck : tensor<4xi32>) {layout = #attn.layout<bshd>} -> tensor<?x10x4x16xf32>
  return %o : tensor<?x10x4x16xf32>
}

// -----

func.func @key_lengths(%q: tensor<1x10x4x16xf32>, %k: tensor<1x12x2x16xf32>, %v: tensor<1x12x2x16xf32>, %lens: tensor<1xi32>, %cq: tensor<4xi32>, %ck: tensor<4xi32>) -> tensor<1x10x4x16xf32> {
  // expected-error @+1 {{expected no key_lengths with cu_seqlens_k (sequence n has cu_seqlens_k[n+1] - cu_seqlens_k[n] keys)}}
  %o = attn.attention ins(%q, %k, %v : tensor<1x10x4x16xf32>, tensor<1x12x2x16xf32>, tensor<1x12x2x16xf32>) key_lengths(%lens : tensor<1xi32>) cu_seqlens_q(%cq : tensor<4xi32>) cu_seqlens_k(%ck : tensor<4xi32>) {layout = #attn.layout<bshd>} -> tensor<1x10x4x16xf32>
  return %o : tensor<1x10x4x16xf32>
}

// -----

func.func @bias(%q: tensor<1x10x4x16xf32>, %k: tensor<1x12x2x16xf32>, %v: tensor<1x12x2x16xf32>, %bias: tensor<1x4x10x12xf32>, %cq: tensor<4xi32>, %ck: tensor<4xi32>) -> tensor<1x10x4x16xf32> {
  // expected-error @+1 {{expected no bias or mask operand with cu_seqlens (a [B, Hq, Lq, Lk] operand has no per-sequence indexing)}}
  %o = attn.attention ins(%q, %k, %v : tensor<1x10x4x16xf32>, tensor<1x12x2x16xf32>, tensor<1x12x2x16xf32>) bias(%bias : tensor<1x4x10x12xf32>) cu_seqlens_q(%cq : tensor<4xi32>) cu_seqlens_k(%ck : tensor<4xi32>) {layout = #attn.layout<bshd>} -> tensor<1x10x4x16xf32>
  return %o : tensor<1x10x4x16xf32>
}

// -----

func.func @score_mod(%q: tensor<1x10x4x16xf32>, %k: tensor<1x12x2x16xf32>, %v: tensor<1x12x2x16xf32>, %cq: tensor<4xi32>, %ck: tensor<4xi32>) -> tensor<1x10x4x16xf32> {
  // expected-error @+1 {{expected no score_mod or mask_mod region with cu_seqlens}}
  %o = attn.attention ins(%q, %k, %v : tensor<1x10x4x16xf32>, tensor<1x12x2x16xf32>, tensor<1x12x2x16xf32>) cu_seqlens_q(%cq : tensor<4xi32>) cu_seqlens_k(%ck : tensor<4xi32>) {layout = #attn.layout<bshd>} -> tensor<1x10x4x16xf32> score_mod {
  ^bb0(%s: f32, %b: index, %h: index, %i: index, %j: index):
    attn.yield %s : f32
  }
  return %o : tensor<1x10x4x16xf32>
}

// -----

// Queries over per-sequence caches (cu_seqlens_q with key_lengths): one
// cache per sequence.
func.func @caches_count(%q: tensor<1x10x4x16xf32>, %k: tensor<2x64x2x16xf32>, %v: tensor<2x64x2x16xf32>, %lens: tensor<2xi32>, %cq: tensor<4xi32>) -> tensor<1x10x4x16xf32> {
  // expected-error @+1 {{expected one key/value cache per sequence with cu_seqlens_q and key_lengths (K and V [N, Lk, Hkv, D], N = 3), got 'tensor<2x64x2x16xf32>'}}
  %o = attn.attention ins(%q, %k, %v : tensor<1x10x4x16xf32>, tensor<2x64x2x16xf32>, tensor<2x64x2x16xf32>) key_lengths(%lens : tensor<2xi32>) cu_seqlens_q(%cq : tensor<4xi32>) {layout = #attn.layout<bshd>} -> tensor<1x10x4x16xf32>
  return %o : tensor<1x10x4x16xf32>
}

// -----

func.func @caches_lengths(%q: tensor<1x10x4x16xf32>, %k: tensor<3x64x2x16xf32>, %v: tensor<3x64x2x16xf32>, %lens: tensor<1xi32>, %cq: tensor<4xi32>) -> tensor<1x10x4x16xf32> {
  // expected-error @+1 {{expected key_lengths of shape [B] = [3], got 'tensor<1xi32>'}}
  %o = attn.attention ins(%q, %k, %v : tensor<1x10x4x16xf32>, tensor<3x64x2x16xf32>, tensor<3x64x2x16xf32>) key_lengths(%lens : tensor<1xi32>) cu_seqlens_q(%cq : tensor<4xi32>) {layout = #attn.layout<bshd>} -> tensor<1x10x4x16xf32>
  return %o : tensor<1x10x4x16xf32>
}

// -----

func.func @caches_bhsd(%q: tensor<1x4x10x16xf32>, %k: tensor<3x2x64x16xf32>, %v: tensor<3x2x64x16xf32>, %lens: tensor<3xi32>, %cq: tensor<4xi32>) -> tensor<1x4x10x16xf32> {
  // expected-error @+1 {{expected the bshd layout with cu_seqlens (the sequences are packed as [1, T, H, D])}}
  %o = attn.attention ins(%q, %k, %v : tensor<1x4x10x16xf32>, tensor<3x2x64x16xf32>, tensor<3x2x64x16xf32>) key_lengths(%lens : tensor<3xi32>) cu_seqlens_q(%cq : tensor<4xi32>) -> tensor<1x4x10x16xf32>
  return %o : tensor<1x4x10x16xf32>
}

// -----

func.func @caches_query_batch(%q: tensor<3x10x4x16xf32>, %k: tensor<3x64x2x16xf32>, %v: tensor<3x64x2x16xf32>, %lens: tensor<3xi32>, %cq: tensor<4xi32>) -> tensor<3x10x4x16xf32> {
  // expected-error @+1 {{expected a batch of 1 in the query with cu_seqlens (the sequences are packed along the sequence axis), got 'tensor<3x10x4x16xf32>'}}
  %o = attn.attention ins(%q, %k, %v : tensor<3x10x4x16xf32>, tensor<3x64x2x16xf32>, tensor<3x64x2x16xf32>) key_lengths(%lens : tensor<3xi32>) cu_seqlens_q(%cq : tensor<4xi32>) {layout = #attn.layout<bshd>} -> tensor<3x10x4x16xf32>
  return %o : tensor<3x10x4x16xf32>
}

// -----

func.func @caches_bias(%q: tensor<1x10x4x16xf32>, %k: tensor<3x64x2x16xf32>, %v: tensor<3x64x2x16xf32>, %bias: tensor<1x4x10x64xf32>, %lens: tensor<3xi32>, %cq: tensor<4xi32>) -> tensor<1x10x4x16xf32> {
  // expected-error @+1 {{expected no bias or mask operand with cu_seqlens}}
  %o = attn.attention ins(%q, %k, %v : tensor<1x10x4x16xf32>, tensor<3x64x2x16xf32>, tensor<3x64x2x16xf32>) bias(%bias : tensor<1x4x10x64xf32>) key_lengths(%lens : tensor<3xi32>) cu_seqlens_q(%cq : tensor<4xi32>) {layout = #attn.layout<bshd>} -> tensor<1x10x4x16xf32>
  return %o : tensor<1x10x4x16xf32>
}

// -----

// A bhsd view cannot feed a bshd attention: the tile's layout is the view's.
func.func @caches_bhsd_view(%pages: tensor<12x16x2x16xf32>, %table: tensor<3x4xi32>, %n: index, %h: index, %k0: index) -> tensor<16x16xf32> {
  %k = attn.paged_view %pages[%table] : tensor<12x16x2x16xf32>, tensor<3x4xi32> -> tensor<3x2x64x16xf32>
  // expected-error @+1 {{expected the tile's layout to be the KV cache view's (bhsd)}}
  %t = attn.kv_tile %k[%n, %h, %k0] {layout = #attn.layout<bshd>} : tensor<3x2x64x16xf32> -> tensor<16x16xf32>
  return %t : tensor<16x16xf32>
}

// -----

func.func @bshd_view_shape(%pages: tensor<12x16x2x16xf32>, %table: tensor<3x4xi32>) -> tensor<3x2x64x16xf32> {
  // expected-error @+1 {{expected the view to be [B, max_pages * page_size, Hkv, D] = 'tensor<3x64x2x16xf32>', got 'tensor<3x2x64x16xf32>'}}
  %k = attn.paged_view %pages[%table] {layout = #attn.layout<bshd>} : tensor<12x16x2x16xf32>, tensor<3x4xi32> -> tensor<3x2x64x16xf32>
  return %k : tensor<3x2x64x16xf32>
}

// The backward's varlen rules (verifyVarlen(AttentionBackwardOp)), one case
// each, on the same shapes with O / dO [1, 10, 4, 16] and LSE [1, 4, 10].

// -----

// Offsets of another integer type: the ODS constraint (i32, as the forward).
func.func @backward_i64_offsets(%q: tensor<1x10x4x16xf32>, %k: tensor<1x12x2x16xf32>, %v: tensor<1x12x2x16xf32>, %o: tensor<1x10x4x16xf32>, %do: tensor<1x10x4x16xf32>, %lse: tensor<1x4x10xf32>, %cq: tensor<4xi64>, %ck: tensor<4xi64>) {
  // expected-error @+1 {{operand #6 must be ranked tensor of 32-bit signless integer values}}
  %dq, %dk, %dv = attn.attention_backward ins(%q, %k, %v, %o, %do, %lse : tensor<1x10x4x16xf32>, tensor<1x12x2x16xf32>, tensor<1x12x2x16xf32>, tensor<1x10x4x16xf32>, tensor<1x10x4x16xf32>, tensor<1x4x10xf32>) cu_seqlens_q(%cq : tensor<4xi64>) cu_seqlens_k(%ck : tensor<4xi64>) {layout = #attn.layout<bshd>} -> tensor<1x10x4x16xf32>, tensor<1x12x2x16xf32>, tensor<1x12x2x16xf32>
  return
}

// -----

func.func @backward_only_q(%q: tensor<1x10x4x16xf32>, %k: tensor<1x12x2x16xf32>, %v: tensor<1x12x2x16xf32>, %o: tensor<1x10x4x16xf32>, %do: tensor<1x10x4x16xf32>, %lse: tensor<1x4x10xf32>, %cq: tensor<4xi32>) {
  // expected-error @+1 {{'attn.attention_backward' op expected cu_seqlens_q and cu_seqlens_k together in a backward (the query and key offsets of the packed sequences)}}
  %dq, %dk, %dv = attn.attention_backward ins(%q, %k, %v, %o, %do, %lse : tensor<1x10x4x16xf32>, tensor<1x12x2x16xf32>, tensor<1x12x2x16xf32>, tensor<1x10x4x16xf32>, tensor<1x10x4x16xf32>, tensor<1x4x10xf32>) cu_seqlens_q(%cq : tensor<4xi32>) {layout = #attn.layout<bshd>} -> tensor<1x10x4x16xf32>, tensor<1x12x2x16xf32>, tensor<1x12x2x16xf32>
  return
}

// -----

// The default bhsd layout: Q [1, 4, 10, 16] and K/V [1, 2, 12, 16] as heads
// by rows, which packs nothing along a sequence axis of one batch row.
func.func @backward_bhsd(%q: tensor<1x4x10x16xf32>, %k: tensor<1x2x12x16xf32>, %v: tensor<1x2x12x16xf32>, %o: tensor<1x4x10x16xf32>, %do: tensor<1x4x10x16xf32>, %lse: tensor<1x4x10xf32>, %cq: tensor<4xi32>, %ck: tensor<4xi32>) {
  // expected-error @+1 {{expected the bshd layout with cu_seqlens (the sequences are packed as [1, T, H, D])}}
  %dq, %dk, %dv = attn.attention_backward ins(%q, %k, %v, %o, %do, %lse : tensor<1x4x10x16xf32>, tensor<1x2x12x16xf32>, tensor<1x2x12x16xf32>, tensor<1x4x10x16xf32>, tensor<1x4x10x16xf32>, tensor<1x4x10xf32>) cu_seqlens_q(%cq : tensor<4xi32>) cu_seqlens_k(%ck : tensor<4xi32>) -> tensor<1x4x10x16xf32>, tensor<1x2x12x16xf32>, tensor<1x2x12x16xf32>
  return
}

// -----

func.func @backward_shapes_differ(%q: tensor<1x10x4x16xf32>, %k: tensor<1x12x2x16xf32>, %v: tensor<1x12x2x16xf32>, %o: tensor<1x10x4x16xf32>, %do: tensor<1x10x4x16xf32>, %lse: tensor<1x4x10xf32>, %cq: tensor<4xi32>, %ck: tensor<3xi32>) {
  // expected-error @+1 {{expected cu_seqlens_q and cu_seqlens_k of one shape [N+1] (N sequences), got 'tensor<4xi32>' and 'tensor<3xi32>'}}
  %dq, %dk, %dv = attn.attention_backward ins(%q, %k, %v, %o, %do, %lse : tensor<1x10x4x16xf32>, tensor<1x12x2x16xf32>, tensor<1x12x2x16xf32>, tensor<1x10x4x16xf32>, tensor<1x10x4x16xf32>, tensor<1x4x10xf32>) cu_seqlens_q(%cq : tensor<4xi32>) cu_seqlens_k(%ck : tensor<3xi32>) {layout = #attn.layout<bshd>} -> tensor<1x10x4x16xf32>, tensor<1x12x2x16xf32>, tensor<1x12x2x16xf32>
  return
}

// -----

func.func @backward_key_lengths(%q: tensor<1x10x4x16xf32>, %k: tensor<1x12x2x16xf32>, %v: tensor<1x12x2x16xf32>, %o: tensor<1x10x4x16xf32>, %do: tensor<1x10x4x16xf32>, %lse: tensor<1x4x10xf32>, %lens: tensor<1xi32>, %cq: tensor<4xi32>, %ck: tensor<4xi32>) {
  // expected-error @+1 {{expected no key_lengths with cu_seqlens_k (sequence n has cu_seqlens_k[n+1] - cu_seqlens_k[n] keys)}}
  %dq, %dk, %dv = attn.attention_backward ins(%q, %k, %v, %o, %do, %lse : tensor<1x10x4x16xf32>, tensor<1x12x2x16xf32>, tensor<1x12x2x16xf32>, tensor<1x10x4x16xf32>, tensor<1x10x4x16xf32>, tensor<1x4x10xf32>) key_lengths(%lens : tensor<1xi32>) cu_seqlens_q(%cq : tensor<4xi32>) cu_seqlens_k(%ck : tensor<4xi32>) {layout = #attn.layout<bshd>} -> tensor<1x10x4x16xf32>, tensor<1x12x2x16xf32>, tensor<1x12x2x16xf32>
  return
}

// -----

func.func @backward_bias(%q: tensor<1x10x4x16xf32>, %k: tensor<1x12x2x16xf32>, %v: tensor<1x12x2x16xf32>, %o: tensor<1x10x4x16xf32>, %do: tensor<1x10x4x16xf32>, %lse: tensor<1x4x10xf32>, %bias: tensor<1x4x10x12xf32>, %cq: tensor<4xi32>, %ck: tensor<4xi32>) {
  // expected-error @+1 {{expected no bias or mask operand with cu_seqlens (a [B, Hq, Lq, Lk] operand has no per-sequence indexing)}}
  %dq, %dk, %dv = attn.attention_backward ins(%q, %k, %v, %o, %do, %lse : tensor<1x10x4x16xf32>, tensor<1x12x2x16xf32>, tensor<1x12x2x16xf32>, tensor<1x10x4x16xf32>, tensor<1x10x4x16xf32>, tensor<1x4x10xf32>) bias(%bias : tensor<1x4x10x12xf32>) cu_seqlens_q(%cq : tensor<4xi32>) cu_seqlens_k(%ck : tensor<4xi32>) {layout = #attn.layout<bshd>} -> tensor<1x10x4x16xf32>, tensor<1x12x2x16xf32>, tensor<1x12x2x16xf32>
  return
}
