// RUN: attn-compile --target=ptx --batch=2 --heads-q=8 --heads-kv=2 --seq-q=1000 --seq-k=1000 --head-dim=128 --mask=causal --cubin-arch=none --print-ptx --convert-attn-to-nvvm=tile-model= | FileCheck %s
// RUN: attn-compile --target=ptx --batch=1 --heads-q=2 --heads-kv=2 --seq-q=64 --seq-k=64 --head-dim=64 --dtype=f16 --mask=none --lse=false --convert-attn-to-nvvm=block-m=64 --gpu=h100-sxm --cubin-arch=none --print-ptx | FileCheck %s --check-prefix=F16
// tile-model= (off): these checks are of the options' fixed default tiles.

// Spec -> PTX through attn-to-ptx; one summary line per stage: the family
// and its tiles, the tiling passes (the kv_tile ops of the programs), the
// kernels, NVVM, PTX.
// CHECK: spec: GQA 8/2 B=2 Lq=1000 Lk=1000 D=128 bf16 causal_bottom_right +lse
// CHECK: stage  1 attn-plan-gpu-kernels
// CHECK: stage  2 attn-tile {{.*}} attn.kv_tile
// CHECK: stage  3 attn-fuse-online-softmax
// CHECK: stage  4 attn-lower-precision
// CHECK: stage  5 convert-attn-to-nvvm
// CHECK: stage  6 gpu/nvvm lowering
// CHECK: stage  7 gpu-module-to-binary (PTX) {{.*}} lines of PTX
// CHECK: kernel attention_kernel: grid [8, 16, 1] block [128, 1, 1] smem 98304 bytes
// CHECK: target: ptx (sm_80), spec -> PTX in

// The PTX: one kernel entry taking five pointers, 16-byte cp.async into
// shared memory, ldmatrix (plain for Q/K, .trans for V), bf16 mma.sync with
// f32 accumulators, quad shuffles and ex2.approx.
// CHECK: .target sm_80
// CHECK: .visible .entry attention_kernel(
// CHECK-COUNT-5: .param .u64
// CHECK-DAG: cp.async.cg.shared.global [{{.*}}], [{{.*}}], 16, {{.*}};
// CHECK-DAG: cp.async.commit_group;
// CHECK-DAG: cp.async.wait_group 2;
// CHECK-DAG: ldmatrix.sync.aligned.m8n8.x4.shared.b16
// CHECK-DAG: ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16
// CHECK-DAG: mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32
// CHECK-DAG: shfl.sync.bfly.b32
// CHECK-DAG: ex2.approx.ftz.f32
// CHECK-DAG: cvt.rn.bf16x2.f32
// CHECK-DAG: st.global.v4.b32

// The manifest (schema 1.1, keys in this order): symbol, family, launch
// geometry, tiles, the argument ABI (q, k, v inputs; o, lse outputs; no
// workspaces) and the attention computed: scale 1/sqrt(128).
// CHECK: "schema_version": [1, 2],
// CHECK-NEXT: "kernel": "attention_kernel",
// CHECK-NEXT: "family": "prefill",
// CHECK-NEXT: "chip": "sm_80",
// CHECK-NEXT: "grid": [8, 16, 1],
// CHECK-NEXT: "grid_formula": "[ceil(Lq / block_m), B * Hq, 1]",
// CHECK-NEXT: "block": [128, 1, 1],
// CHECK-NEXT: "shared_memory_bytes": 98304,
// CHECK-NEXT: "tuning": {"block_m": 128, "block_n": 64, "num_warps": 4},
// CHECK-NEXT: "abi": "bare-pointer",
// CHECK-NEXT: "arguments": [
// CHECK-NEXT: {"name": "q", "role": "input", "dtype": "bf16", "shape": [2, 8, 1000, 128], "alignment": 16, "output": false},
// CHECK:      {"name": "lse", "role": "output", "dtype": "f32", "shape": [2, 8, 1000], "alignment": 16, "output": true}
// CHECK-NOT: "zero_init"
// CHECK: "attention": {
// CHECK-NEXT: "mask": "causal_bottom_right",
// CHECK-NEXT: "scale": 0.088388347648318
// CHECK: "heads_q": 8,
// CHECK-NEXT: "heads_kv": 2,

// F16: kernel attention_kernel: grid [1, 2, 1] block [128, 1, 1] smem 40960 bytes
// F16: mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32
// F16: cvt.rn.f16x2.f32
// F16-NOT: "name": "lse"

// The manifest's cost figures (schema 1.1) for --gpu=h100-sxm (without
// --gpu, the chip's GPU: sm_80, the A100): B = 1, H = 2, L = 64, D = 64, no mask, 64 x 64 tiles: one KV
// tile per head; GEMM 2 x 64 x 64 x 2 (64 + 64) = 2097152 FLOPs (= dense =
// visible = 4 x 2 x 64 x 64 x 64); exp 2 x 4096 + 2 x 64 = 8320; softmax
// 8192 x 4 + 128 x 65 + 128 x 64 = 49280; Q, K, V 2 x 64 x 64 x 2 = 16384
// each read, O 16384 written; intensity 2097152 / 65536 = 32; memory
// 65536 B / 3.35 TB/s = 0.019563 us > exp 8320 / 3.9 T/s = 0.0021333 us >
// compute 2097152 / 989.4 TFLOP/s = 0.0021196 us.
// F16: "cost": {
// F16-NEXT: "gpu": "h100-sxm",
// F16-NEXT: "gemm_flops": 2097152,
// F16-NEXT: "visible_gemm_flops": 2097152,
// F16-NEXT: "dense_gemm_flops": 2097152,
// F16-NEXT: "exponentials": 8320,
// F16-NEXT: "softmax_flops": 49280,
// F16-NEXT: "bytes_read": 49152,
// F16-NEXT: "bytes_written": 16384,
// F16-NEXT: "arithmetic_intensity": 32.0,
// F16-NEXT: "bound_us": 0.019562
// F16-NEXT: "compute_us": 0.0021196
// F16-NEXT: "memory_us": 0.019562
// F16-NEXT: "exp_us": 0.0021333
// F16-NEXT: "limiter": "memory"
