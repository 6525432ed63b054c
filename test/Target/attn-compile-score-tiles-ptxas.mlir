// REQUIRES: ptxas
// RUN: env CUDA_HOME=%cuda_home attn-compile --target=ptx --cubin-arch=sm_90 --report=none --batch=1 --heads-q=2 --heads-kv=2 --seq-q=300 --seq-k=320 --head-dim=64 --mask=causal --bias --convert-attn-to-nvvm=tile-model=,block-m=64 -o %t | FileCheck %s
// RUN: FileCheck %s --check-prefix=PTX < %t.ptx
// RUN: FileCheck %s --check-prefix=NOGLOBAL < %t.ptx
// RUN: env CUDA_HOME=%cuda_home attn-compile --target=ptx --cubin-arch=sm_90 --report=none --batch=4 --heads-q=16 --heads-kv=16 --head-dim=128 --seq-q=4096 --seq-k=4096 --mask=causal --lse=false --bias -o %t.big | FileCheck %s --check-prefix=BIG
// RUN: env CUDA_HOME=%cuda_home attn-compile --target=ptx --cubin-arch=sm_90 --report=none --batch=4 --heads-q=16 --heads-kv=16 --head-dim=128 --seq-q=4096 --seq-k=4096 --mask=none --lse=false --mask-mod=prefix-lm -o %t.mm | FileCheck %s --check-prefix=BIG

// A staged bf16 bias (B 1, H 2, Lq 300, Lk 320: rows of 640 bytes, a
// multiple of 16) at block-m 64, block-n 64, D 64: shared memory is Q 64 x
// 128 + 2 x (K + V) 64 x 128 + the bias tile 64 x (128 + 16) = 50176
// bytes. ptxas reports no spill (a spill adds "[... spill ...]").
// CHECK: ptxas -arch=sm_90 {{[^[]*}}Used {{[0-9]+}} registers{{[^[]*$}}
// CHECK: kernel attention_kernel: grid [5, 2, 1] block [128, 1, 1] smem 50176 bytes

// The prologue's groups: {Q, K[0]}, then the bias tile of the warp (4
// copies of 16 bytes per lane, zero-filled past Lq or Lk by the src-size
// register) at byte 40960, rows 144 bytes apart (4 rows per pass: +576),
// then V[0]. In the loop each lane reads its 16 register pairs as one
// 2 x b16 load each from one base register plus constants (+1152: 8 rows
// down; +16: the next n8 tile), the warp syncs before refilling its rows,
// and V waits with three groups in flight; no bias element is read from
// global memory.
// PTX: cp.async.commit_group;
// PTX: cp.async.cg.shared.global [%rd[[T:[0-9]+]]+40960], [%rd{{[0-9]+}}], 16, %r{{[0-9]+}};
// PTX: cp.async.cg.shared.global [%rd[[T]]+41536], [%rd{{[0-9]+}}], 16, %r{{[0-9]+}};
// PTX: cp.async.commit_group;
// PTX: cp.async.commit_group;
// PTX: cp.async.wait_group 2;
// PTX: cp.async.wait_group 3;
// PTX: ld.shared.v2.b16 {%rs{{[0-9]+}}, %rs{{[0-9]+}}}, [%rd[[B:[0-9]+]]+40960];
// PTX-NEXT: cvt
// PTX: ld.shared.v2.b16 {%rs{{[0-9]+}}, %rs{{[0-9]+}}}, [%rd[[B]]+42112];
// PTX: ld.shared.v2.b16 {%rs{{[0-9]+}}, %rs{{[0-9]+}}}, [%rd[[B]]+40976];
// PTX: bar.warp.sync -1;
// NOGLOBAL-NOT: ld.global
// NOGLOBAL: ret;

// The benchmark shapes (B 4, H 16, L 4096, D 128) of a staged bias and of
// a classified prefix-LM mask_mod: no spill at the tile model's block-m 64.
// BIG: ptxas -arch=sm_90 {{[^[]*}}Used {{[0-9]+}} registers{{[^[]*$}}
// BIG: kernel attention_kernel: grid [64, 64, 1] block [128, 1, 1]
