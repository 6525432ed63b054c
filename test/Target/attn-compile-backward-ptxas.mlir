// REQUIRES: ptxas
// RUN: env CUDA_HOME=%cuda_home attn-compile --target=ptx --backward --cubin-arch=sm_90 --report=none --batch=2 --heads-q=4 --heads-kv=2 --seq-q=200 --seq-k=333 --head-dim=64 --mask=causal -o %t | FileCheck %s
// RUN: %ptxas -arch=sm_80 %t.ptx -o %t.check.cubin
// RUN: FileCheck %s --check-prefix=M0 < %t.json
// RUN: FileCheck %s --check-prefix=M1 < %t.1.json
// RUN: FileCheck %s --check-prefix=M2 < %t.2.json
// RUN: env CUDA_HOME=%cuda_home attn-compile --target=ptx --backward --cubin-arch=sm_90 --report=none --batch=1 --heads-q=4 --heads-kv=1 --seq-q=300 --seq-k=457 --head-dim=128 --dtype=f16 --mask=sliding-window --window-left=64 --window-right=8 --softcap=20 --alibi -o %t2 | FileCheck %s --check-prefix=D128
// RUN: not attn-compile --backward --target=cpu 2>&1 | FileCheck %s --check-prefix=CPU

// The backward program: three kernels, each in ptxas's report with no
// spills (D = 64 here; D = 128 with every modifier below), one manifest per
// launch in launch order. Grids: preprocess (ceil(200 / 16), 2 * 4),
// main (ceil(333 / 64), 2 * 2), convert 2 * 4 * 200 * 64 / 8 / 128 = 100.
// CHECK: ptxas -arch=sm_90 {{.*}}Used {{[0-9]+}} registers{{.*}}; Used {{[0-9]+}} registers{{.*}}; Used {{[0-9]+}} registers
// CHECK-NOT: spill
// CHECK: kernel attention_bwd_preprocess: grid [13, 8, 1] block [128, 1, 1] smem 0 bytes
// CHECK: kernel attention_bwd: grid [6, 4, 1] block [128, 1, 1] smem 58368 bytes
// CHECK: kernel attention_bwd_convert: grid [100, 1, 1] block [128, 1, 1] smem 0 bytes
// CHECK: wrote

// Every manifest lists the same arguments and workspaces, so one argument
// array and one workspace buffer serve the three launches.
// M0: "kernel": "attention_bwd_preprocess",
// M0: "family": "backward",
// M0: {"name": "delta", "role": "workspace",
// M0-NEXT: {"name": "lse_log2", "role": "workspace",
// M0-NEXT: {"name": "dq_accum", "role": "workspace",
// M1: "kernel": "attention_bwd",
// M1: "shared_memory_bytes": 58368,
// M1: {"name": "delta", "role": "workspace",
// M1-NEXT: {"name": "lse_log2", "role": "workspace",
// M1-NEXT: {"name": "dq_accum", "role": "workspace",
// M2: "kernel": "attention_bwd_convert",
// M2: {"name": "delta", "role": "workspace",
// M2-NEXT: {"name": "lse_log2", "role": "workspace",
// M2-NEXT: {"name": "dq_accum", "role": "workspace",

// D128: ptxas -arch=sm_90 {{.*}}Used {{[0-9]+}} registers{{.*}}; Used {{[0-9]+}} registers{{.*}}; Used {{[0-9]+}} registers
// D128-NOT: spill
// D128: kernel attention_bwd: grid [8, 1, 1] block [128, 1, 1] smem 107520 bytes

// CPU: error: expected --target=ptx with --backward
