// RUN: attn-compile --target=ptx --cubin-arch=none --print-ptx --batch=1 --heads-q=32 --heads-kv=8 --seq-q=1 --seq-k=8192 --head-dim=128 --mask=none --lse=false --key-lengths --page-size=16 --convert-attn-to-nvvm=tile-model= | FileCheck %s
// RUN: attn-compile --target=ptx --cubin-arch=none --print-ptx --batch=64 --heads-q=32 --heads-kv=8 --seq-q=1 --seq-k=2048 --head-dim=128 --mask=none --lse=false --key-lengths --convert-attn-to-nvvm=tile-model= | FileCheck %s --check-prefix=FULL
// tile-model= (off): these checks are of the options' fixed default tiles.

// GQA 32/8 decode at B=1 from a paged cache: 8 KV groups cannot fill 132
// SMs, so the keys are split 16 ways (128 CTAs of 8 warps) and merged in the
// same launch; the manifest lists the runtime-owned workspaces.
// CHECK: kernel attention_kernel: grid [16, 8, 1] block [256, 1, 1] smem 135168 bytes
// CHECK: cp.async.cg.shared.global
// CHECK: mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32
// CHECK: bar.warp.sync
// CHECK: atom.acq_rel.gpu.global.add.u32
// CHECK: ld.global.cg.v4.f32
// The manifest (schema 1.0): the decode family, its tiles, the caller's
// arguments and the workspaces, one counter per KV group (B * Hkv = 8).
// CHECK: "schema_version": [1, 2]
// CHECK: "family": "decode"
// CHECK: "grid_formula": "[num_splits, B * Hkv, 1]"
// CHECK: "tuning": {"num_warps": 8, "num_splits": 16, "keys_per_warp": 16, "stages": 2}
// CHECK: {"name": "block_table", "role": "input", "dtype": "i32",
// CHECK: {"name": "key_lengths", "role": "input", "dtype": "i32", "shape": [1], "alignment": 16, "output": false}
// CHECK: {"name": "split_counters", "role": "workspace", "dtype": "i32", "shape": [8], "alignment": 16, "output": false, "zero_init": true}
// CHECK: "attention": {
// CHECK: "key_lengths": true,
// CHECK: "kv_view": "attn.paged_view"

// B=64: 512 groups fill the machine, one split, no merge and no workspace.
// FULL: kernel attention_kernel: grid [1, 512, 1] block [256, 1, 1]
// FULL-NOT: atom.
// FULL-NOT: "workspace"
