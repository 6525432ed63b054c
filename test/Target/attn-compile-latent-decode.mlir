// REQUIRES: ptxas
// The latent (MLA) decode kernel (issue #15, DecodeLatent.cpp): DeepSeek's
// 576/512 rows over one shared paged K/V cache (--shared-kv: V is the first
// 512 columns of K's rows), Hq query heads over the one latent head, on the
// decode family. Each PTX costs ~30 s of LLVM here: two kernels.
//
// 16 heads, one query row: one 16-row block, two warps (Dv in halves of
// 256 columns: O is 16 x 256 f32 = 128 registers a thread), grid [splits,
// B * Hkv * 1, 1].
// RUN: attn-compile --target=ptx --cubin-arch=none --gpu=h200 --batch=2 --heads-q=16 --heads-kv=1 --seq-q=1 --seq-k=1024 --head-dim=576 --value-head-dim=512 --mask=none --key-lengths --lse --page-size=64 --shared-kv -o %t16 | FileCheck %s --check-prefix=H16
// RUN: FileCheck %s --check-prefix=JSON16 < %t16.json
// RUN: grep -c cp.async.cg %t16.ptx | FileCheck %s --check-prefix=COPIES
// RUN: %ptxas -arch=sm_90 -v %t16.ptx -o %t16.cubin 2>&1 | FileCheck %s --check-prefix=REGS
//
// 128 heads x 2 speculative rows (causal), 5 splits: 256 rows in 4 blocks
// of 64, 8 warps; the split counters are one per row block.
// RUN: attn-compile --target=ptx --cubin-arch=none --gpu=h200 --batch=2 --heads-q=128 --heads-kv=1 --seq-q=2 --seq-k=1024 --head-dim=576 --value-head-dim=512 --mask=causal --key-lengths --lse --page-size=64 --shared-kv --convert-attn-to-nvvm=num-splits=5 -o %t128 | FileCheck %s --check-prefix=H128
// RUN: FileCheck %s --check-prefix=JSON128 < %t128.json
//
// What the latent kernel does not run, named.
// RUN: not attn-compile --target=ptx --cubin-arch=none --batch=2 --heads-q=16 --heads-kv=1 --seq-q=1 --seq-k=1024 --head-dim=576 --value-head-dim=512 --key-lengths --page-size=64 --shared-kv --convert-attn-to-nvvm=kernel=prefill 2>&1 | FileCheck %s --check-prefix=PREFILL
// RUN: not attn-compile --target=ptx --cubin-arch=none --batch=2 --heads-q=16 --heads-kv=1 --seq-q=1 --seq-k=1024 --head-dim=640 --value-head-dim=512 --key-lengths --page-size=64 --shared-kv 2>&1 | FileCheck %s --check-prefix=WIDER
// RUN: not attn-compile --target=ptx --cubin-arch=none --varlen=1:100,2:300 --key-lengths --heads-q=16 --heads-kv=1 --head-dim=576 --value-head-dim=512 --seq-k=512 --page-size=64 --shared-kv 2>&1 | FileCheck %s --check-prefix=VARLEN

// Shared memory: the Q block, 16 rows x 1152 bytes = 18432, then the larger
// of the ring, 4 stages x 32 keys x 1152 = 147456, and the epilogue's
// staging, 16 x (8 + 520 * 4) = 33408: 165888 bytes. Splits: 2 CTAs on
// 132 SMs, one a SM: the split heuristic's cap, 1024 / (2 * 32) = 16.
// H16: kernel attention_kernel: grid [16, 2, 1] block [64, 1, 1] smem 165888 bytes
// JSON16: "family": "decode"
// JSON16: "grid_formula": "[num_splits, B * Hkv * ceil(Hq / Hkv * Lq / block_m), 1]"
// JSON16: "block_m": 16
// JSON16: "name": "q", "role": "input", "dtype": "bf16", "shape": [2, 16, 1, 576]
// JSON16-NEXT: "name": "k_pages", "role": "input", "dtype": "bf16", "shape": [32, 64, 1, 576]
// JSON16-NEXT: "name": "block_table"
// JSON16-NOT: v_pages
// JSON16: "name": "o", "role": "output", "dtype": "bf16", "shape": [2, 16, 1, 512]
// JSON16: "name": "split_counters", "role": "workspace", "dtype": "i32", "shape": [2]

// 16-byte cp.async copies in the PTX: Q's 16 rows x 72 chunks over 64
// threads = 18; a block of 32 latent rows x 72 chunks over 64 threads = 36,
// at 4 copy sites (3 prologue stages, 1 in the loop): 162. No V copies: P.V
// reads the first 512 columns of K's stage.
// COPIES: {{^}}162{{$}}

// ptxas takes it at the register file's limit: the 16 x 256 O slice (128
// registers), S (16) and the fragments; a little spills (116 bytes at
// 2026-12-02), the 8-warp 64-row kernels none.
// REGS: Used 255 registers

// Shared memory 64 x 1152 + max(147456, 64 x 2088) = 221184 bytes; grid
// [5, B * Hkv * 4 = 8, 1].
// H128: kernel attention_kernel: grid [5, 8, 1] block [256, 1, 1] smem 221184 bytes
// JSON128: "block_m": 64
// JSON128: "name": "partial_o", "role": "workspace", "dtype": "f32", "shape": [2, 5, 256, 512]
// JSON128: "name": "split_counters", "role": "workspace", "dtype": "i32", "shape": [8]

// PREFILL: expected kernel=decode or auto for latent rows over one shared K/V cache (D = 576, Dv = 512): only the decode family's latent kernel holds them, got 'prefill'
// WIDER: expected head dims D and Dv that are multiples of 16 in [32, 256], or latent rows D <= 576 (a multiple of 16) with Dv <= 512 (a multiple of 32), on the GPU path, got D = 640, Dv = 512 over one shared K/V cache (attn.kv_prefix)
// VARLEN: expected a dense batch (B sequences) for the latent decode kernel (D = 576, Dv = 512); varlen queries over latent caches are not implemented
