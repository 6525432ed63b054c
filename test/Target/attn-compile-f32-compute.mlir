// REQUIRES: ptxas
// RUN: env CUDA_HOME=%cuda_home attn-compile --target=ptx --dtype=f32 --convert-attn-to-nvvm=f32-compute=bf16,tile-model= --cubin-arch=sm_90 --report=none --batch=2 --heads-q=8 --heads-kv=2 --seq-q=300 --seq-k=300 --head-dim=64 --mask=causal -o %t | FileCheck %s
// RUN: FileCheck %s --check-prefix=M0 < %t.json
// RUN: FileCheck %s --check-prefix=M3 < %t.3.json
// RUN: FileCheck %s --check-prefix=M4 < %t.4.json
// RUN: env CUDA_HOME=%cuda_home attn-compile --target=ptx --dtype=f32 --convert-attn-to-nvvm=f32-compute=f16,tile-model= --cubin-arch=none --report=none --batch=4 --heads-q=32 --heads-kv=8 --seq-q=1 --seq-k=4096 --head-dim=128 --mask=none --lse=false -o %t2 | FileCheck %s --check-prefix=DECODE
// RUN: not attn-compile --target=ptx --dtype=f32 --cubin-arch=none --report=none 2>&1 | FileCheck %s --check-prefix=REFUSE
// RUN: env CUDA_HOME=%cuda_home attn-compile --target=ptx --backward --dtype=f32 --convert-attn-to-nvvm=f32-compute=bf16,tile-model= --cubin-arch=sm_90 --report=none --batch=2 --heads-q=8 --heads-kv=2 --seq-q=300 --seq-k=300 --head-dim=64 --mask=causal -o %t3 | FileCheck %s --check-prefix=BWD
// RUN: FileCheck %s --check-prefix=BWDM < %t3.6.json

// f32 through f32-compute=bf16: the f32 program is five launches, each in
// ptxas's report without spills, one manifest per launch in launch order.
// Grids: Q 2 * 8 * 300 * 64 / 8 / 256 = 150 CTAs, K and V 38 (rounded up),
// the prefill kernel ceil(300 / 128) x 16, O widened as Q.
// CHECK: ptxas -arch=sm_90 {{[^[]*}}Used {{[0-9]+}} registers{{[^[]*$}}
// CHECK: kernel attention_kernel_round_q: grid [150, 1, 1] block [256, 1, 1] smem 0 bytes
// CHECK-NEXT: kernel attention_kernel_round_k: grid [38, 1, 1] block [256, 1, 1] smem 0 bytes
// CHECK-NEXT: kernel attention_kernel_round_v: grid [38, 1, 1] block [256, 1, 1] smem 0 bytes
// CHECK-NEXT: kernel attention_kernel: grid [3, 16, 1] block [128, 1, 1]
// CHECK-NEXT: kernel attention_kernel_widen_o: grid [150, 1, 1] block [256, 1, 1] smem 0 bytes

// The caller passes f32 q, k, v and gets f32 o (LSE f32); the bf16 copies
// are workspace slices the runtime does not zero-fill (the program writes
// them first).
// M0: "kernel": "attention_kernel_round_q",
// M0: "family": "convert",
// M0: {"name": "q", "role": "input", "dtype": "f32", "shape": [2, 8, 300, 64]
// M0-NEXT: {"name": "q_bf16", "role": "workspace", "dtype": "bf16", "shape": [2, 8, 300, 64], "alignment": 16, "output": false},
// M0-NEXT: {"name": "k", "role": "input", "dtype": "f32"
// M0-NEXT: {"name": "k_bf16", "role": "workspace", "dtype": "bf16"
// M0-NEXT: {"name": "v", "role": "input", "dtype": "f32"
// M0-NEXT: {"name": "v_bf16", "role": "workspace", "dtype": "bf16"
// M0-NEXT: {"name": "o", "role": "output", "dtype": "f32", "shape": [2, 8, 300, 64]
// M0-NEXT: {"name": "lse", "role": "output", "dtype": "f32"
// M0-NEXT: {"name": "o_bf16", "role": "workspace", "dtype": "bf16", "shape": [2, 8, 300, 64], "alignment": 16, "output": false}
// M0-NOT: zero_init
// M3: "kernel": "attention_kernel",
// M3: "family": "prefill",
// M4: "kernel": "attention_kernel_widen_o",
// M4: "family": "convert",

// The decode family takes the rounded copies as well (f16 here).
// DECODE: kernel attention_kernel_round_q:
// DECODE: kernel attention_kernel:
// DECODE: kernel attention_kernel_widen_o:

// REFUSE: error: 'attn.attention' op expected bf16 or f16 inputs on the GPU path, got 'f32' (f32-compute=bf16 or f16 runs it on rounded copies of Q, K and V, as accurate as a bf16 / f16 call; f32-compute=refuse, the default, does not round silently; or use the CPU path)

// The backward: Q, K, V, O and dO rounded first, the backward's three
// kernels on the copies, dQ, dK and dV widened last; eleven launches, one
// manifest each, every one of them in ptxas's report without spills.
// BWD: ptxas -arch=sm_90 {{[^[]*}}Used {{[0-9]+}} registers{{[^[]*$}}
// BWD: kernel attention_bwd_round_q: grid [150, 1, 1] block [256, 1, 1]
// BWD-NEXT: kernel attention_bwd_round_k: grid [38, 1, 1]
// BWD-NEXT: kernel attention_bwd_round_v: grid [38, 1, 1]
// BWD-NEXT: kernel attention_bwd_round_o: grid [150, 1, 1]
// BWD-NEXT: kernel attention_bwd_round_do: grid [150, 1, 1]
// BWD-NEXT: kernel attention_bwd_preprocess:
// BWD-NEXT: kernel attention_bwd:
// BWD-NEXT: kernel attention_bwd_convert:
// BWD-NEXT: kernel attention_bwd_widen_dq: grid [150, 1, 1]
// BWD-NEXT: kernel attention_bwd_widen_dk: grid [38, 1, 1]
// BWD-NEXT: kernel attention_bwd_widen_dv: grid [38, 1, 1]
// The caller's f32 tensors in the backward's order; the copies after the
// workspaces, not zero-filled.
// BWDM: "kernel": "attention_bwd",
// BWDM: {"name": "q", "role": "input", "dtype": "f32"
// BWDM-NEXT: {"name": "k", "role": "input", "dtype": "f32"
// BWDM-NEXT: {"name": "v", "role": "input", "dtype": "f32"
// BWDM-NEXT: {"name": "o", "role": "input", "dtype": "f32"
// BWDM-NEXT: {"name": "do", "role": "input", "dtype": "f32"
// BWDM-NEXT: {"name": "lse", "role": "input", "dtype": "f32"
// BWDM-NEXT: {"name": "dq", "role": "output", "dtype": "f32"
// BWDM-NEXT: {"name": "dk", "role": "output", "dtype": "f32"
// BWDM-NEXT: {"name": "dv", "role": "output", "dtype": "f32"
// BWDM-NEXT: {"name": "delta", "role": "workspace", {{.*}} "zero_init": true}
// BWDM-NEXT: {"name": "lse_log2", "role": "workspace", {{.*}} "zero_init": true}
// BWDM-NEXT: {"name": "dq_accum", "role": "workspace", {{.*}} "zero_init": true}
// BWDM-NEXT: {"name": "q_bf16", "role": "workspace", "dtype": "bf16", "shape": [2, 8, 300, 64], "alignment": 16, "output": false},
// BWDM-NEXT: {"name": "k_bf16", "role": "workspace", "dtype": "bf16", "shape": [2, 2, 300, 64]
// BWDM-NEXT: {"name": "v_bf16"
// BWDM-NEXT: {"name": "o_bf16"
// BWDM-NEXT: {"name": "do_bf16"
// BWDM-NEXT: {"name": "dq_bf16"
// BWDM-NEXT: {"name": "dk_bf16"
// BWDM-NEXT: {"name": "dv_bf16", "role": "workspace", "dtype": "bf16", "shape": [2, 2, 300, 64], "alignment": 16, "output": false}
