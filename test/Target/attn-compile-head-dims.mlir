// REQUIRES: ptxas
// RUN: env CUDA_HOME=%cuda_home attn-compile --target=ptx --cubin-arch=none --batch=2 --heads-q=8 --heads-kv=2 --seq-q=300 --seq-k=300 --head-dim=96 --mask=causal --convert-attn-to-nvvm=num-warps=8 -o %t96 | FileCheck %s --check-prefix=D96
// RUN: %ptxas -arch=sm_90 -v %t96.ptx -o %t96.cubin 2>&1 | FileCheck %s --check-prefix=PTXAS
// RUN: env CUDA_HOME=%cuda_home attn-compile --target=ptx --cubin-arch=none --batch=1 --heads-q=4 --heads-kv=4 --seq-q=300 --seq-k=300 --head-dim=256 --mask=none -o %t256 | FileCheck %s --check-prefix=D256
// RUN: %ptxas -arch=sm_90 -v %t256.ptx -o %t256.cubin 2>&1 | FileCheck %s --check-prefix=PTXAS
// RUN: env CUDA_HOME=%cuda_home attn-compile --target=ptx --cubin-arch=none --batch=1 --heads-q=8 --heads-kv=8 --seq-q=300 --seq-k=300 --head-dim=192 --value-head-dim=128 --mask=causal -o %tmla | FileCheck %s --check-prefix=MLA
// RUN: %ptxas -arch=sm_90 -v %tmla.ptx -o %tmla.cubin 2>&1 | FileCheck %s --check-prefix=PTXAS
// RUN: FileCheck %s --check-prefix=MLA-JSON < %tmla.json
// RUN: env CUDA_HOME=%cuda_home attn-compile --target=ptx --cubin-arch=none --batch=1 --heads-q=2 --heads-kv=2 --seq-q=100 --seq-k=100 --head-dim=80 --mask=causal --convert-attn-to-nvvm=num-warps=8,block-n=32 -o %t80 | FileCheck %s --check-prefix=D80
// RUN: %ptxas -arch=sm_90 -v %t80.ptx -o %t80.cubin 2>&1 | FileCheck %s --check-prefix=PTXAS
// RUN: env CUDA_HOME=%cuda_home attn-compile --target=ptx --cubin-arch=none --batch=2 --heads-q=8 --heads-kv=2 --seq-q=1 --seq-k=1000 --head-dim=96 --mask=none --key-lengths -o %td96 | FileCheck %s --check-prefix=DEC96
// RUN: %ptxas -arch=sm_90 -v %td96.ptx -o %td96.cubin 2>&1 | FileCheck %s --check-prefix=PTXAS
// RUN: env CUDA_HOME=%cuda_home attn-compile --target=ptx --cubin-arch=none --batch=2 --heads-q=8 --heads-kv=2 --seq-q=1 --seq-k=1024 --head-dim=256 --mask=none --key-lengths --page-size=16 -o %td256 | FileCheck %s --check-prefix=DEC256
// RUN: %ptxas -arch=sm_90 -v %td256.ptx -o %td256.cubin 2>&1 | FileCheck %s --check-prefix=PTXAS
// RUN: env CUDA_HOME=%cuda_home attn-compile --target=ptx --cubin-arch=none --batch=2 --heads-q=8 --heads-kv=2 --seq-q=1 --seq-k=1000 --head-dim=192 --value-head-dim=128 --mask=none --key-lengths -o %tdmla | FileCheck %s --check-prefix=DECMLA
// RUN: %ptxas -arch=sm_90 -v %tdmla.ptx -o %tdmla.cubin 2>&1 | FileCheck %s --check-prefix=PTXAS

// Head dims past 64 and 128 (issue #15): every kernel lowers, ptxas accepts
// it for sm_90 and spills nothing. Shared-memory rows are padded to a
// multiple of 128 bytes (FragmentEmitter's sharedRowBytes) so the XOR
// swizzle stays inside a row.
// PTXAS: ptxas info    : Compiling entry function 'attention_kernel' for 'sm_90'
// PTXAS: 0 bytes stack frame, 0 bytes spill stores, 0 bytes spill loads

// D = 96 (rows of 192 bytes, padded to 256): block-m 128 over 8 warps (16
// rows per warp; at 4 warps, 32 rows, ptxas needs all 255 registers and
// spills 24 bytes on this shape),
// grid (ceil(300 / 128), B * Hq) = (3, 16); shared memory
// (128 + 2 * 2 * 64) rows * 256 bytes = 98304.
// D96: kernel attention_kernel: grid [3, 16, 1] block [256, 1, 1] smem 98304 bytes

// D = 256: 32 rows per warp would hold 128 O registers per m16 tile, so a
// warp takes 16 rows: block-m 64, grid (ceil(300 / 64), 4) = (5, 4); Q is
// re-read from shared memory; (64 + 2 * 2 * 64) rows * 512 bytes = 163840.
// D256: kernel attention_kernel: grid [5, 4, 1] block [128, 1, 1] smem 163840 bytes

// MLA prefill, D = 192 and Dv = 128: S contracts 192 columns, O and V have
// 128. Block-m 64 (D > 128); the Q tile (O staged there) has rows of
// max(384, 256) bytes, K 384, V 256:
// 64 * 384 + 2 * 64 * 384 + 2 * 64 * 256 = 106496.
// MLA: kernel attention_kernel: grid [5, 8, 1] block [128, 1, 1] smem 106496 bytes
// MLA-JSON: "tuning": {"block_m": 64, "block_n": 64, "num_warps": 4}
// MLA-JSON: "head_dim": 192,
// MLA-JSON: "value_head_dim": 128,

// D = 80: 10 chunks per row (no power of two): copies divide items by 10,
// and a 32-key tile of 320 items over 256 threads ends in a partial pass.
// Rows padded to 256 bytes: (128 + 2 * 2 * 32) * 256 = 65536.
// D80: kernel attention_kernel: grid [1, 2, 1] block [256, 1, 1] smem 65536 bytes

// Decode at D = 96: the Q tile 16 * 256 bytes, then the larger of the rings
// (8 warps x 2 stages x (K + V) x 16 keys x 256 bytes = 131072) and the
// warps' merge (8 x 16 x (8 + (96 + 8) * 4) = 54272): 135168.
// DEC96: kernel attention_kernel: grid [{{[0-9]+}}, 4, 1] block [256, 1, 1] smem 135168 bytes

// Decode at D = 256: 8 warps' rings (262144 bytes) exceed 227 KiB, so the
// kernel streams with 4: 16 * 512 + 4 * 2 * 2 * 16 * 512 = 139264.
// DEC256: kernel attention_kernel: grid [{{[0-9]+}}, 4, 1] block [128, 1, 1] smem 139264 bytes

// Decode with D = 192, Dv = 128: K and V take ring slots of the wider row
// (384 bytes): 16 * 384 + 8 * 2 * 2 * 16 * 384 = 202752.
// DECMLA: kernel attention_kernel: grid [{{[0-9]+}}, 4, 1] block [256, 1, 1] smem 202752 bytes
