// RUN: attn-compile --target=ptx --batch=1 --heads-q=4 --heads-kv=2 --seq-q=200 --seq-k=300 --head-dim=64 --mask=causal --score-mod=relative-bias --alibi --lse=false --cubin-arch=none --print-ptx | FileCheck %s

// A relative-bias score_mod and ALiBi survive the whole GPU pipeline: the
// region's index -> i64 -> f32 conversion and the ALiBi distance
// |i + Lk - Lq - j| (max.s32 of d and -d, converted from i32) appear in the
// PTX, next to the plain kernel's mma.sync and ex2.approx.
// CHECK: spec: GQA 4/2 B=1 Lq=200 Lk=300 D=64 bf16 causal_bottom_right alibi score_mod=relative-bias
// CHECK: stage  5 convert-attn-to-nvvm
// CHECK: .visible .entry attention_kernel(
// CHECK-DAG: mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32
// CHECK-DAG: max.s32
// CHECK-DAG: cvt.rn.f32.s32
// CHECK-DAG: cvt.rn.f32.s64
// CHECK-DAG: ex2.approx.ftz.f32
