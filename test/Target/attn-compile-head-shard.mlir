// RUN: attn-compile --heads-q=4 --heads-kv=1 --heads-total=8 --head-offset=4 --seq-q=16 --seq-k=24 --head-dim=16 --dtype=bf16 --alibi --score-mod=head-relative-bias --run-cpu | FileCheck %s
// RUN: attn-compile --target=ptx --cubin-arch=none --heads-q=4 --heads-kv=1 --heads-total=8 --head-offset=4 --seq-q=64 --seq-k=64 --head-dim=64 --alibi --score-mod=head-relative-bias | FileCheck %s --check-prefix=PTX
// RUN: not attn-compile --heads-q=4 --heads-kv=1 --heads-total=8 --head-offset=2 --seq-q=16 --seq-k=24 --head-dim=16 2>&1 | FileCheck %s --check-prefix=ERR

// Rank 1 of a 2-way split of GQA 8/2 with ALiBi over the 8 global heads
// and a head-dependent score_mod (score + 0.01 (h + 1) (kv_idx - q_idx)):
// the shard's 4 local heads are global heads 4..7. The CPU run (tiled,
// online softmax, lowered precision) agrees with the float64 Reference of
// the same shard, which applies ALiBi and the modifier at h + 4.
// CHECK: spec: MQA 4/1 B=1 Lq=16 Lk=24 D=16 bf16 causal_bottom_right alibi heads[4:8]/8 score_mod=head-relative-bias +lse
// CHECK: cpu run vs float64 reference: PASS

// The GPU path takes the same flags.
// PTX: spec: MQA 4/1 B=1 Lq=64 Lk=64 D=64 bf16 causal_bottom_right alibi heads[4:8]/8 score_mod=head-relative-bias +lse
// PTX: stage  5 convert-attn-to-nvvm

// Offset 2 would split the 4 query heads of the shard's KV head.
// ERR: error: 'attn.attention' op expected head_offset (2) and num_heads_total (8) to be multiples of the query heads per key/value head (4), so no key/value group is split
