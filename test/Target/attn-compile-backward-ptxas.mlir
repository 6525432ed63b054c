// REQUIRES: ptxas
// RUN: env CUDA_HOME=%cuda_home attn-compile --target=ptx --backward --convert-attn-to-nvvm=tile-model= --cubin-arch=sm_90 --report=none --batch=2 --heads-q=4 --heads-kv=2 --seq-q=200 --seq-k=333 --head-dim=64 --mask=causal -o %t | FileCheck %s
// RUN: %ptxas -arch=sm_80 %t.ptx -o %t.check.cubin
// RUN: FileCheck %s --check-prefix=M0 < %t.json
// RUN: FileCheck %s --check-prefix=M1 < %t.1.json
// RUN: FileCheck %s --check-prefix=M2 < %t.2.json
// RUN: env CUDA_HOME=%cuda_home attn-compile --target=ptx --backward --convert-attn-to-nvvm=tile-model= --cubin-arch=sm_90 --report=none --batch=1 --heads-q=8 --heads-kv=2 --seq-q=512 --seq-k=512 --head-dim=128 --mask=causal --alibi -o %t2 | FileCheck %s --check-prefix=D128
// RUN: env CUDA_HOME=%cuda_home attn-compile --target=ptx --backward --deterministic --convert-attn-to-nvvm=tile-model= --cubin-arch=sm_90 --report=none --batch=1 --heads-q=4 --heads-kv=2 --seq-q=300 --seq-k=457 --head-dim=128 --dtype=f16 --mask=causal --softcap=20 --alibi -o %t3 | FileCheck %s --check-prefix=DET
// RUN: FileCheck %s --check-prefix=DETM < %t3.2.json
// RUN: env CUDA_HOME=%cuda_home attn-compile --target=ptx --backward --convert-attn-to-nvvm=tile-model= --chip=sm_90 --ptx-features=+ptx81 --dq-reduction=red-v4 --cubin-arch=sm_90 --report=none --batch=1 --heads-q=8 --heads-kv=2 --seq-q=500 --seq-k=512 --head-dim=128 --mask=causal -o %t4 | FileCheck %s --check-prefix=V4
// RUN: FileCheck %s --check-prefix=V4PTX < %t4.ptx
// RUN: env CUDA_HOME=%cuda_home attn-compile --target=ptx --backward --convert-attn-to-nvvm=tile-model= --chip=sm_90 --ptx-features=+ptx81 --cubin-arch=sm_90 --report=none --batch=1 --heads-q=4 --heads-kv=4 --seq-q=256 --seq-k=256 --head-dim=64 --mask=none -o %t5 | FileCheck %s --check-prefix=CHECK-PTXAS
// RUN: FileCheck %s --check-prefix=V2PTX < %t5.ptx
// RUN: FileCheck %s --check-prefix=CONVPTX < %t5.ptx
// RUN: not attn-compile --target=ptx --backward --dq-reduction=red-v4 --report=none 2>&1 | FileCheck %s --check-prefix=V4SM80
// RUN: env CUDA_HOME=%cuda_home attn-compile --target=ptx --backward --chip=sm_90 --ptx-features=+ptx81 --bwd-block-n=128 --bwd-square-warp-tiles=false --cubin-arch=sm_90 --report=none --batch=1 --heads-q=8 --heads-kv=2 --seq-q=500 --seq-k=333 --head-dim=128 --mask=causal -o %t6 | FileCheck %s --check-prefix=N128
// RUN: FileCheck %s --check-prefix=N128PTX < %t6.ptx
// RUN: FileCheck %s --check-prefix=N128M < %t6.1.json
// RUN: env CUDA_HOME=%cuda_home attn-compile --target=ptx --backward --chip=sm_90 --ptx-features=+ptx81 --bwd-block-n=128 --cubin-arch=sm_90 --report=none --batch=1 --heads-q=8 --heads-kv=2 --seq-q=512 --seq-k=512 --head-dim=128 --mask=none -o %t10 | FileCheck %s --check-prefix=SQ128
// RUN: FileCheck %s --check-prefix=SQ128PTX < %t10.ptx
// RUN: env CUDA_HOME=%cuda_home attn-compile --target=ptx --backward --chip=sm_90 --ptx-features=+ptx81 --bwd-block-m=128 --bwd-block-n=128 --cubin-arch=sm_90 --report=none --batch=2 --heads-q=4 --heads-kv=4 --seq-q=300 --seq-k=300 --head-dim=64 --mask=none -o %t7 | FileCheck %s --check-prefix=M128
// RUN: FileCheck %s --check-prefix=M128PTX < %t7.ptx
// RUN: env CUDA_HOME=%cuda_home attn-compile --target=ptx --backward --deterministic --chip=sm_90 --ptx-features=+ptx81 --cubin-arch=sm_90 --report=none --batch=4 --heads-q=16 --heads-kv=16 --seq-q=4096 --seq-k=4096 --head-dim=128 --mask=causal -o %t8 | FileCheck %s --check-prefix=AUTO
// RUN: env CUDA_HOME=%cuda_home attn-compile --target=ptx --backward --chip=sm_90 --ptx-features=+ptx81 --cubin-arch=none --report=none --batch=4 --heads-q=16 --heads-kv=16 --seq-q=4096 --seq-k=4096 --head-dim=128 --mask=causal -o %t9 | FileCheck %s --check-prefix=ATOMIC
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
// and spills nothing. red-v4 at D = 128 (16 n8 fragments into the tiled
// dq_accum): 16 predicated red.global.add.v4.f32 per lane (Lq = 500 has a
// tail), then the row group that crosses Lq (500 is no multiple of 16) as
// 2 x 16 predicated pairs, no scalar atomics; auto (red-v4) at D = 64 with
// no tail: 8 unpredicated red.global.add.v4.f32.
// V4: ptxas -arch=sm_90 {{[^[]*}}Used {{[0-9]+}} registers{{[^[]*}}; Used {{[0-9]+}} registers{{[^[]*}}; Used {{[0-9]+}} registers{{[^[]*$}}
// V4PTX: .target sm_90
// V4PTX-COUNT-16: @p red.global.add.v4.f32 [%rd{{[0-9]+}}], {%r{{[0-9]+}}, %r{{[0-9]+}}, %r{{[0-9]+}}, %r{{[0-9]+}}};
// V4PTX-COUNT-32: @p red.global.add.v2.f32 [%rd{{[0-9]+}}], {%r{{[0-9]+}}, %r{{[0-9]+}}};
// V4PTX-NOT: red.global.add
// V4PTX-NOT: atom.global.add.f32
// CHECK-PTXAS: ptxas -arch=sm_90 {{.*}}Used {{[0-9]+}} registers
// V2PTX-COUNT-8: {{^}}	red.global.add.v4.f32 [%rd{{[0-9]+}}], {%r{{[0-9]+}}, %r{{[0-9]+}}, %r{{[0-9]+}}, %r{{[0-9]+}}};
// V2PTX-NOT: red.global.add
// V2PTX-NOT: atom.global.add.f32
// The convert kernel (Lq = 256, D = 64): two 16-byte loads of 8
// consecutive stored floats per thread and two 8-byte stores of dQ rows
// g and g + 8 (1024 bytes apart), no other global access.
// CONVPTX: .entry attention_bwd_convert(
// CONVPTX-COUNT-2: ld.global.v4.b32 {%r{{[0-9]+}}, %r{{[0-9]+}}, %r{{[0-9]+}}, %r{{[0-9]+}}}, [%rd{{[0-9]+}}{{(\+16)?}}];
// CONVPTX-NOT: ld.global
// CONVPTX: st.global.v2.b32 [%rd[[OUT:[0-9]+]]], {%r{{[0-9]+}}, %r{{[0-9]+}}};
// CONVPTX-NEXT: st.global.v2.b32 [%rd[[OUT]]+1024], {%r{{[0-9]+}}, %r{{[0-9]+}}};
// CONVPTX-NOT: st.global
// CONVPTX-NOT: ld.global
// V4SM80: expected chip sm_90 or newer and +ptx81 or newer for dq-reduction=red-v4

// 128-key CTAs with 16 keys per warp (square-warp-tiles off) at D = 128,
// Q blocks of 64 rows: the
// dQ of a step splits into 4 row groups x 2 halves of D, so each lane adds
// 8 n8 fragments as red.global.add.v4.f32: 8 (the 4-warp kernel's 16 for
// half the keys), then the crossing group's 2 x 8 pairs (Lq = 500). Grid (ceil(333 / 128), 1 * 2), 256
// threads, shared memory 2 * 128 * 256 + 128 * 128 + 2 * (2 * 64 * 256 +
// 512) = 148480; ptxas fits 255 registers without a spill (no "[").
// N128: ptxas -arch=sm_90 {{[^[]*}}Used {{[0-9]+}} registers{{[^[]*}}; Used 255 registers{{[^[]*}}; Used {{[0-9]+}} registers{{[^[]*$}}
// N128: kernel attention_bwd: grid [3, 2, 1] block [256, 1, 1] smem 148480 bytes
// N128PTX: .entry attention_bwd(
// N128PTX: .maxntid 256, 1, 1
// N128PTX-COUNT-8: @p red.global.add.v4.f32 [%rd{{[0-9]+}}], {%r{{[0-9]+}}, %r{{[0-9]+}}, %r{{[0-9]+}}, %r{{[0-9]+}}};
// N128PTX-COUNT-16: @p red.global.add.v2.f32 [%rd{{[0-9]+}}], {%r{{[0-9]+}}, %r{{[0-9]+}}};
// N128PTX-NOT: red.global.add
// N128M: "block": [256, 1, 1],
// N128M: "tuning": {"block_m": 64, "block_n": 128, "num_warps": 8},

// Square warp tiles (the 128-key default) at D = 128: P^T staged too
// (148480 + 128 * 64 * 2 = 164864 bytes), 254 registers without a spill;
// dQ on 16-row warp tiles at block-m 64, the same 8 fragments per lane
// (Lq = 512: no predicate, no natural rows).
// (With a causal tail at Lq = 500, ptxas 13.0 spills 16 bytes here: not
// checked.)
// SQ128: ptxas -arch=sm_90 {{[^[]*}}Used {{[0-9]+}} registers{{[^[]*}}; Used {{[0-9]+}} registers{{[^[]*}}; Used {{[0-9]+}} registers{{[^[]*$}}
// SQ128: kernel attention_bwd: grid [4, 2, 1] block [256, 1, 1] smem 164864 bytes
// SQ128PTX: .entry attention_bwd(
// SQ128PTX-COUNT-8: {{^}}	red.global.add.v4.f32 [%rd{{[0-9]+}}], {%r{{[0-9]+}}, %r{{[0-9]+}}, %r{{[0-9]+}}, %r{{[0-9]+}}};
// SQ128PTX-NOT: red.global.add

// 128 x 128 at D = 64 (square warp tiles, 32-row dQ tiles): 4 row groups
// x 2 halves of D, each warp 2 m16 x 4 n8 = 8 fragments per lane for
// 128 x 128 (query, key) pairs (Lq = 300: predicated, plus the crossing
// group's 2 x 2 x 4 pairs); shared memory 2 * 128 * 128 +
// 2 * 128 * 256 + 2 * (2 * 128 * 128 + 1024) = 165888.
// M128: ptxas -arch=sm_90 {{[^[]*}}Used {{[0-9]+}} registers{{[^[]*}}; Used {{[0-9]+}} registers{{[^[]*}}; Used {{[0-9]+}} registers{{[^[]*$}}
// M128: kernel attention_bwd: grid [3, 8, 1] block [256, 1, 1] smem 165888 bytes
// M128PTX-COUNT-4: @p red.global.add.v4.f32
// M128PTX-COUNT-8: @p red.global.add.v2.f32
// M128PTX-COUNT-4: @p red.global.add.v4.f32
// M128PTX-COUNT-8: @p red.global.add.v2.f32
// M128PTX-NOT: red.global.add

// The tile model's choice on sm_90 (the H100 model, the H200's compute)
// for a benchmark shape, d128 L4k causal: the atomic program gets 64 x 128
// main CTAs of 8 warps (half the dQ reductions per key; square warp tiles,
// P^T staged: 164864 bytes); the deterministic
// one, which has no reductions to halve, keeps two 4-warp CTAs of 64 keys
// per SM and 64-row dQ CTAs (measured faster on the H200).
// ATOMIC: kernel attention_bwd: grid [32, 64, 1] block [256, 1, 1] smem 164864 bytes
// AUTO: kernel attention_bwd: grid [64, 64, 1] block [128, 1, 1] smem 107520 bytes
// AUTO: kernel attention_bwd_dq: grid [64, 64, 1] block [128, 1, 1] smem 98304 bytes
