// REQUIRES: ptxas
// RUN: env CUDA_HOME=%cuda_home attn-compile --target=ptx --backward --bwd-kernel=hopper --chip=sm_90a --ptx-features=+ptx81 --cubin-arch=sm_90a --report=none --batch=2 --heads-q=4 --heads-kv=2 --seq-q=200 --seq-k=333 --head-dim=64 --mask=causal -o %t | FileCheck %s
// RUN: grep -o "wgmma.mma_async.sync.aligned.m64n[0-9]*k16.f32.bf16.bf16.*p, 1, 1, [0-9, ]*;\|fence.proxy.async.shared::cta\|red.global.add.v4.f32\|stmatrix.sync.aligned.m8n8.x4.shared.b16\|cp.async.bulk.tensor\|mbarrier" %t.ptx | sed 's/ {.*p,/ p,/' | sort | uniq -c | FileCheck %s --check-prefix=PTX
// RUN: FileCheck %s --check-prefix=M1 < %t.1.json
// RUN: FileCheck %s --check-prefix=M0 < %t.json
// RUN: env CUDA_HOME=%cuda_home attn-compile --target=ptx --backward --chip=sm_90a --ptx-features=+ptx81 --cubin-arch=sm_90a --report=none --batch=1 --heads-q=4 --heads-kv=4 --seq-q=333 --seq-k=200 --head-dim=128 --mask=causal-top-left -o %t2 | FileCheck %s --check-prefix=D128
// RUN: grep -o "wgmma.mma_async.sync.aligned.m64n[0-9]*k16.f32.bf16.bf16.*p, 1, 1, [0-9, ]*;" %t2.ptx | sed 's/ {.*p,/ p,/' | sort | uniq -c | FileCheck %s --check-prefix=D128PTX
// RUN: FileCheck %s --check-prefix=M1 < %t2.1.json
// RUN: env CUDA_HOME=%cuda_home attn-compile --target=ptx --backward --chip=sm_90a --ptx-features=+ptx81 --cubin-arch=sm_90a --report=none --batch=1 --heads-q=4 --heads-kv=4 --seq-q=256 --seq-k=256 --head-dim=96 --mask=none -o %t3 > /dev/null
// RUN: FileCheck %s --check-prefix=FALLBACK < %t3.1.json
// RUN: env CUDA_HOME=%cuda_home attn-compile --target=ptx --backward --deterministic --chip=sm_90a --ptx-features=+ptx81 --cubin-arch=sm_90a --report=none --batch=1 --heads-q=4 --heads-kv=4 --seq-q=256 --seq-k=256 --head-dim=64 --mask=none -o %t4 > /dev/null
// RUN: FileCheck %s --check-prefix=FALLBACK < %t4.1.json
// RUN: env CUDA_HOME=%cuda_home attn-compile --target=ptx --backward --bwd-kernel=mma-sync --chip=sm_90a --ptx-features=+ptx81 --cubin-arch=sm_90a --report=none --batch=1 --heads-q=4 --heads-kv=4 --seq-q=256 --seq-k=256 --head-dim=64 --mask=none -o %t5 > /dev/null
// RUN: FileCheck %s --check-prefix=FALLBACK < %t5.1.json
// RUN: not attn-compile --target=ptx --backward --bwd-kernel=hopper --chip=sm_90a --cubin-arch=none --report=none --head-dim=96 2>&1 | FileCheck %s --check-prefix=FORCED
// RUN: env CUDA_HOME=%cuda_home attn-compile --target=ptx --backward --chip=sm_90a --ptx-features=+ptx81 --cubin-arch=sm_90a --report=none --batch=1 --heads-q=4 --heads-kv=2 --seq-q=300 --seq-k=457 --head-dim=64 --mask=sliding-window --window-left=64 --window-right=8 --softcap=20 --alibi --bias --sinks=random -o %t6 > /dev/null
// RUN: FileCheck %s --check-prefix=MODS < %t6.2.json
// RUN: not attn-compile --target=ptx --backward --bwd-kernel=hopper --cubin-arch=none --report=none --head-dim=64 2>&1 | FileCheck %s --check-prefix=SM80
// RUN: env CUDA_HOME=%cuda_home attn-compile --target=ptx --backward --lse-grad --chip=sm_90a --ptx-features=+ptx81 --cubin-arch=sm_90a --report=none --batch=1 --heads-q=4 --heads-kv=2 --seq-q=300 --seq-k=333 --head-dim=128 --mask=causal -o %t7 > /dev/null
// RUN: FileCheck %s --check-prefix=LSEGRAD0 < %t7.json
// RUN: FileCheck %s --check-prefix=M1 < %t7.1.json

// The hopper main kernel (BackwardHopper.cpp), GQA 4/2, Lq = 200, Lk = 333,
// D = 64, causal: one CTA of two warpgroups per 128 keys, grid
// (ceil(333 / 128), 2 * 2); shared memory K + V (2 * 128 * 128) + two dS^T
// buffers (2 * 128 * 128) + two stages of Q, dO, lse_log2, delta on
// 1024-byte atoms (2 * 17408) + 1024 to align the base = 101376. No spill
// at D = 64.
// CHECK: ptxas -arch=sm_90a {{[^[]*}}Used {{[0-9]+}} registers{{[^[]*}}; Used {{[0-9]+}} registers{{[^[]*}}; Used {{[0-9]+}} registers{{[^[]*$}}
// CHECK: kernel attention_bwd_preprocess: grid [13, 8, 1] block [128, 1, 1] smem 0 bytes
// CHECK: kernel attention_bwd: grid [3, 4, 1] block [256, 1, 1] smem 101376 bytes
// CHECK: kernel attention_bwd_convert: grid [100, 1, 1] block [128, 1, 1] smem 0 bytes

// Per step and warpgroup: S^T = K Q^T and dP^T = V dO^T, D / 16 = 4 SS
// wgmma m64n64k16 each (64 keys x 64 queries); dV += P^T dO and dK += dS^T
// Q, 4 RS wgmma m64n64k16 each (k over the 64 queries); dQ = dS K with both
// operands MN-major (the trans flags 1, 1), 8 m64n32k16 over the 128 keys
// (D / 2 columns per warpgroup), issued at the next step (and once after
// the loop for the last step): each dQ chain and its reduction appear
// twice. Tiles by cp.async, fenced to the async proxy before the barrier
// that publishes them; dS^T likewise, stored by 4 stmatrix x4 per lane
// (16 8x8 matrices of the lane's 16 keys x 64 queries). dQ into the tiled
// dq_accum by red.global.add.v4 (the mma.sync kernel's reduction).
// (the instructions of the main kernel counted; no TMA or mbarrier yet)
// PTX:      2 fence.proxy.async.shared::cta
// PTX-NEXT: 8 red.global.add.v4.f32
// PTX-NEXT: 4 stmatrix.sync.aligned.m8n8.x4.shared.b16
// PTX-NEXT: 16 wgmma.mma_async.sync.aligned.m64n32k16.f32.bf16.bf16 p, 1, 1, 1, 1;
// PTX-NEXT: 8 wgmma.mma_async.sync.aligned.m64n64k16.f32.bf16.bf16 p, 1, 1, 0, 0;
// PTX-NEXT: 8 wgmma.mma_async.sync.aligned.m64n64k16.f32.bf16.bf16 p, 1, 1, 1;
// PTX-NOT: {{.}}

// The main kernel's manifest names its family; the other launches stay
// the backward's.
// M1: "family": "hopper-backward",
// M1: "tuning": {"block_m": 64, "block_n": 128, "num_warps": 8},
// M0: "family": "backward",
// The LSE's gradient (--lse-grad) is an input after lse, of its shape; the
// main kernel stays the hopper one (Dv = D).
// LSEGRAD0: "name": "lse", "role": "input", {{.*}}"shape": [1, 4, 300]
// LSEGRAD0: "name": "grad_lse", "role": "input", {{.*}}"shape": [1, 4, 300]

// D = 128 (kernel=auto on sm_90a picks the hopper kernel: measured faster
// on every prefill shape): S^T and dP^T 8 m64n64k16 each, dV and dK 4
// m64n128k16 each, dQ 8 m64n64k16 (warpgroup g: panel g of K; twice, as
// above). Shared memory 2 * 128 * 256 + 2 * 128 * 128 + 2 * 33792 + 1024 =
// 166912 (ptxas 13.0 spills about 64 bytes here at 255 registers).
// D128: kernel attention_bwd: grid [2, 4, 1] block [256, 1, 1] smem 166912 bytes
// D128PTX:      8 wgmma.mma_async.sync.aligned.m64n128k16.f32.bf16.bf16 p, 1, 1, 1;
// D128PTX-NEXT: 16 wgmma.mma_async.sync.aligned.m64n64k16.f32.bf16.bf16 p, 1, 1, 0, 0;
// D128PTX-NEXT: 16 wgmma.mma_async.sync.aligned.m64n64k16.f32.bf16.bf16 p, 1, 1, 1, 1;
// D128PTX-NOT: {{.}}

// kernel=auto falls back to the mma.sync kernel silently where the hopper
// one does not apply (D = 96; the deterministic dQ program), as
// kernel=mma-sync asks.
// FALLBACK: "family": "backward",
// FALLBACK-NOT: hopper-backward

// Softcap, ALiBi, a window, the bias and its gradient, the sinks (and
// mask_mod, the bool mask, key_lengths) take the hopper main kernel (the
// mma.sync frame's score code, which its step shares).
// MODS: "kernel": "attention_bwd",
// MODS: "family": "hopper-backward",

// Forced, it names what is missing.
// FORCED: error: 'attn.attention_backward' op expected D = Dv = 64 or 128 (128B-swizzled 64-column panels), got D = 96, Dv = 96 for kernel=hopper
// SM80: error: 'attn.attention_backward' op expected chip sm_90a (wgmma), got 'sm_80' for kernel=hopper
