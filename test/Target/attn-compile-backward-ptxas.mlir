// REQUIRES: ptxas
// RUN: env CUDA_HOME=%cuda_home attn-compile --target=ptx --backward --cubin-arch=sm_90 --report=none --batch=2 --heads-q=4 --heads-kv=2 --seq-q=200 --seq-k=333 --head-dim=64 --mask=causal -o %t | FileCheck %s
// RUN: %ptxas -arch=sm_80 %t.ptx -o %t.check.cubin
// RUN: FileCheck %s --check-prefix=M0 < %t.json
// RUN: FileCheck %s --check-prefix=M1 < %t.1.json
// RUN: FileCheck %s --check-prefix=M2 < %t.2.json
// RUN: env CUDA_HOME=%cuda_home attn-compile --target=ptx --backward --cubin-arch=sm_90 --report=none --batch=1 --heads-q=8 --heads-kv=2 --seq-q=512 --seq-k=512 --head-dim=128 --mask=causal --alibi -o %t2 | FileCheck %s --check-prefix=D128
// RUN: env CUDA_HOME=%cuda_home attn-compile --target=ptx --backward --deterministic --cubin-arch=sm_90 --report=none --batch=1 --heads-q=4 --heads-kv=2 --seq-q=300 --seq-k=457 --head-dim=128 --dtype=f16 --mask=causal --softcap=20 --alibi -o %t3 | FileCheck %s --check-prefix=DET
// RUN: FileCheck %s --check-prefix=DETM < %t3.2.json
// RUN: env CUDA_HOME=%cuda_home attn-compile --target=ptx --backward --chip=sm_90 --ptx-features=+ptx81 --dq-reduction=red-v4 --cubin-arch=sm_90 --report=none --batch=1 --heads-q=8 --heads-kv=2 --seq-q=500 --seq-k=512 --head-dim=128 --mask=causal -o %t4 | FileCheck %s --check-prefix=V4
// RUN: FileCheck %s --check-prefix=V4PTX < %t4.ptx
// RUN: env CUDA_HOME=%cuda_home attn-compile --target=ptx --backward --chip=sm_90 --ptx-features=+ptx81 --cubin-arch=sm_90 --report=none --batch=1 --heads-q=4 --heads-kv=4 --seq-q=256 --seq-k=256 --head-dim=64 --mask=none -o %t5 | FileCheck %s --check-prefix=CHECK-PTXAS
// RUN: FileCheck %s --check-prefix=V2PTX < %t5.ptx
// RUN: not attn-compile --target=ptx --backward --dq-reduction=red-v4 --report=none 2>&1 | FileCheck %s --check-prefix=V4SM80
// RUN: not attn-compile --backward --target=cpu 2>&1 | FileCheck %s --check-prefix=CPU
// RUN: not attn-compile --deterministic --target=ptx 2>&1 | FileCheck %s --check-prefix=NOBWD

// The backward program: three kernels, each in ptxas's report with no
// spills (D = 64 here; D = 128 with GQA and ALiBi below; ptxas 13.0 spills
// 4-8 bytes in the main kernel at D = 128 with softcap, ALiBi and f16 together), one manifest per
// launch in launch order. Grids: preprocess (ceil(200 / 16), 2 * 4),
// main (ceil(333 / 64), 2 * 2), convert 2 * 4 * 200 * 64 / 8 / 128 = 100.
// A spill would add "[... spill ...]" to the line: no "[" anywhere.
// CHECK: ptxas -arch=sm_90 {{[^[]*}}Used {{[0-9]+}} registers{{[^[]*}}; Used {{[0-9]+}} registers{{[^[]*}}; Used {{[0-9]+}} registers{{[^[]*$}}
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

// D128: ptxas -arch=sm_90 {{[^[]*}}Used {{[0-9]+}} registers{{[^[]*}}; Used {{[0-9]+}} registers{{[^[]*}}; Used {{[0-9]+}} registers{{[^[]*$}}
// D128: kernel attention_bwd: grid [8, 2, 1] block [128, 1, 1] smem 107520 bytes

// The deterministic program: the dQ kernel (ceil(300 / 64), 1 * 4) in
// place of the convert, no dq_accum workspace. (ptxas 13.0 spills 4 bytes
// in this dQ kernel with softcap and ALiBi at D = 128: the line is not
// checked for spills.)
// DET: ptxas -arch=sm_90 {{.*}}Used {{[0-9]+}} registers{{.*}}; Used {{[0-9]+}} registers{{.*}}; Used {{[0-9]+}} registers
// DET: kernel attention_bwd_dq: grid [5, 4, 1] block [128, 1, 1] smem 98304 bytes
// DETM: "kernel": "attention_bwd_dq",
// DETM-NOT: dq_accum

// CPU: error: expected --target=ptx with --backward
// NOBWD: error: expected --backward with --deterministic

// dq-reduction on sm_90 with +ptx81: ptxas takes the vector reductions
// and spills nothing. red-v4 at D = 128 (16 d8 tiles): 16 predicated
// red.global.add.v4.f32 per lane (Lq = 500 has a tail), no scalar atomics;
// auto (red-v2) at D = 64: 2 x 8 pairs.
// V4: ptxas -arch=sm_90 {{[^[]*}}Used {{[0-9]+}} registers{{[^[]*}}; Used {{[0-9]+}} registers{{[^[]*}}; Used {{[0-9]+}} registers{{[^[]*$}}
// V4PTX: .target sm_90
// V4PTX-COUNT-16: @p red.global.add.v4.f32 [%rd{{[0-9]+}}], {%r{{[0-9]+}}, %r{{[0-9]+}}, %r{{[0-9]+}}, %r{{[0-9]+}}};
// V4PTX-NOT: atom.global.add.f32
// CHECK-PTXAS: ptxas -arch=sm_90 {{.*}}Used {{[0-9]+}} registers
// V2PTX-COUNT-16: red.global.add.v2.f32 [%rd{{[0-9]+}}], {%r{{[0-9]+}}, %r{{[0-9]+}}};
// V2PTX-NOT: atom.global.add.f32
// V4SM80: expected chip sm_90 or newer and +ptx81 or newer for dq-reduction=red-v4
