// RUN: attn-compile --target=ptx --batch=3 --heads-q=8 --heads-kv=2 --seq-q=64 --seq-k=1024 --head-dim=128 --mask=causal --key-lengths --page-size=16 --cubin-arch=none --print-ptx --convert-attn-to-nvvm=tile-model= | FileCheck %s
// tile-model= (off): these checks are of the options' fixed default tiles.

// Chunked prefill from a spec: 64 new tokens per sequence of GQA 8/2 (256
// packed rows per KV group) against a paged cache with per-sequence lengths
// take the prefill kernel, grid (ceil(64 / 128), B * Hq) = (1, 24).
// CHECK: spec: GQA 8/2 B=3 Lq=64 Lk=1024 D=128 bf16 causal_bottom_right paged[16] key_lengths +lse
// CHECK: kernel attention_kernel: grid [1, 24, 1] block [128, 1, 1] smem 98304 bytes

// Seven pointers: q, k_pages, block_table, v_pages, key_lengths, o, lse.
// The length is loaded once and clamped to [0, Lk]; block-table entries are
// loaded in the kernel for the rows it copies.
// CHECK: .visible .entry attention_kernel(
// CHECK-COUNT-7: .param .u64
// CHECK-NEXT: {{^}})
// CHECK: ld.global.b32 [[RAW:%r[0-9]+]]
// CHECK-NEXT: max.s32 [[POS:%r[0-9]+]], [[RAW]], 0;
// CHECK-NEXT: min.s32 {{%r[0-9]+}}, [[POS]], 1024;
// CHECK: ld.global.b32
// CHECK: cp.async.cg.shared.global [{{.*}}], [{{.*}}], 16, {{%r[0-9]+}};
// CHECK: mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32

// The manifest names the arguments as the decode kernel's do.
// CHECK: "kernel": "attention_kernel"
// CHECK: "name": "q"
// CHECK: "name": "k_pages"
// CHECK: "name": "block_table"
// CHECK: "name": "v_pages"
// CHECK: "name": "key_lengths"
// CHECK: "name": "o"
// CHECK: "name": "lse"
