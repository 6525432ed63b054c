// Varlen batches (--varlen=q:k,...): sequences packed as [1, T, H, D] with
// cu_seqlens_q / cu_seqlens_k, run on the CPU against the float64
// Reference, which computes each sequence as its own dense problem. The
// lengths include an empty sequence (0:3: rows of no query), one without
// keys (3:0: output 0, LSE -inf), a single token (1:1) and a longer one
// whose causal alignment (bottom-right, per sequence) differs from the
// packed rows' (a kernel that ignored the offsets would fail all of them).
// RUN: attn-compile --run-cpu --heads-q=4 --heads-kv=2 --head-dim=16 --dtype=f32 --mask=causal --varlen=5:7,0:3,1:1,3:0,20:33 | FileCheck %s --check-prefix=FLASH
// RUN: attn-compile --run-cpu --flash=false --heads-q=4 --heads-kv=2 --head-dim=16 --dtype=f32 --mask=causal-top-left --varlen=5:7,0:3,1:1,3:0,20:33 | FileCheck %s --check-prefix=WHOLE
// RUN: attn-compile --run-cpu --heads-q=4 --heads-kv=2 --head-dim=16 --dtype=bf16 --mask=sliding-window --window-left=3 --window-right=1 --sinks=random --varlen=5:7,0:3,1:1,3:0,20:33 | FileCheck %s --check-prefix=SINKS
// RUN: attn-compile --run-cpu --heads-q=4 --heads-kv=2 --head-dim=16 --dtype=f32 --mask=causal --varlen=5:7,0:3,1:1,3:0,20:33 --dynamic=batch,seq-q,seq-k | FileCheck %s --check-prefix=DYN
// RUN: attn-compile --run-cpu --split-varlen=false --heads-q=4 --heads-kv=2 --head-dim=16 --dtype=f32 --mask=causal --attn-tile=block-n=4 --varlen=0:3,20:33,5:7,0:0,1:1,3:0 | FileCheck %s --check-prefix=DIRECT
// RUN: attn-compile --run-cpu --split-varlen=false --heads-q=4 --heads-kv=2 --head-dim=16 --dtype=bf16 --mask=sliding-window --window-left=3 --window-right=1 --sinks=random --attn-tile=block-m=8,block-n=8 --varlen=5:7,0:3,1:1,3:0,20:33 | FileCheck %s --check-prefix=DIRECT
// RUN: attn-compile --run-cpu --split-varlen=false --heads-q=4 --heads-kv=2 --head-dim=16 --dtype=f32 --mask=causal-top-left --attn-tile=block-m=8,block-n=4 --varlen=5:7,0:3,1:1,3:0,20:33 --dynamic=batch,seq-q,seq-k | FileCheck %s --check-prefix=DIRECT
// RUN: attn-compile --target=ptx --heads-q=4 --heads-kv=2 --head-dim=64 --varlen=5:7,1 --cubin-arch=none --print-ptx 2>&1 | FileCheck %s --check-prefix=GPU
// RUN: attn-compile --target=ptx --heads-q=4 --heads-kv=2 --head-dim=128 --dtype=f16 --mask=causal-top-left --varlen=5:7,0:3,1:1,3:0,20:33 --dynamic=batch,seq-q,seq-k --cubin-arch=none --print-ptx 2>&1 | FileCheck %s --check-prefix=GPUDYN
// RUN: not attn-compile --target=ptx --heads-q=4 --heads-kv=2 --head-dim=64 --varlen=5:7,1 --cubin-arch=none --convert-attn-to-nvvm=kernel=decode 2>&1 | FileCheck %s --check-prefix=GPUDECODE
// RUN: not attn-compile --varlen=5:7 --seq-q=3 2>&1 | FileCheck %s --check-prefix=SEQQ
// RUN: not attn-compile --varlen=5:x 2>&1 | FileCheck %s --check-prefix=BADLEN
// RUN: not attn-compile --varlen=5:7 --bias 2>&1 | FileCheck %s --check-prefix=BIAS
// RUN: attn-compile --target=ptx --backward --heads-q=4 --heads-kv=2 --head-dim=64 --varlen=5:7,1 --mask=causal --cubin-arch=none --report=none -o %t.bwd | FileCheck %s --check-prefix=GPUBWD
// RUN: FileCheck %s --check-prefix=GPUBWDMAIN < %t.bwd.1.json
// RUN: attn-compile --target=ptx --backward --deterministic --heads-q=4 --heads-kv=2 --head-dim=64 --varlen=5:7,1 --mask=causal --cubin-arch=none --report=none -o %t.det | FileCheck %s --check-prefix=GPUDET
// RUN: FileCheck %s --check-prefix=GPUDETDQ < %t.det.2.json
// RUN: not attn-compile --target=ptx --backward --heads-q=4 --heads-kv=2 --head-dim=64 --varlen=5:7,1 --dynamic=batch,seq-q,seq-k --cubin-arch=none 2>&1 | FileCheck %s --check-prefix=GPUBWDDYN
// RUN: attn-compile --run-cpu --heads-q=4 --heads-kv=2 --head-dim=16 --dtype=f32 --mask=causal --alibi --varlen=5:7,0:3,1:1,3:0,20:33 | FileCheck %s --check-prefix=ALIBICPU
// RUN: attn-compile --target=ptx --heads-q=4 --heads-kv=2 --head-dim=64 --mask=causal --alibi --varlen=5:7,1 --cubin-arch=none --print-ptx 2>&1 | FileCheck %s --check-prefix=GPUALIBI
// RUN: attn-compile --target=ptx --backward --heads-q=4 --heads-kv=2 --head-dim=64 --varlen=5:7,1 --mask=causal --alibi --cubin-arch=none --report=none -o %t.alibi | FileCheck %s --check-prefix=GPUBWDALIBI
// RUN: attn-compile --target=ptx --backward --chip=sm_90a --ptx-features=+ptx81 --heads-q=4 --heads-kv=2 --head-dim=64 --varlen=5:7,1 --mask=causal --alibi --cubin-arch=none --report=none -o %t.halibi | FileCheck %s --check-prefix=GPUBWDALIBI
// RUN: FileCheck %s --check-prefix=HOPPERALIBI < %t.halibi.1.json
// RUN: attn-compile --target=ptx --heads-q=4 --heads-kv=2 --head-dim=64 --mask=causal --key-lengths --seq-k=40 --alibi --varlen=1:33,0:5 --cubin-arch=none --print-ptx 2>&1 | FileCheck %s --check-prefix=CACHEALIBI

// Tq = 5 + 0 + 1 + 3 + 20 = 29 packed query rows, Tk = 7 + 3 + 1 + 0 + 33 = 44.
// FLASH: spec: GQA 4/2 B=1 Lq=29 Lk=44 D=16 f32 bshd causal_bottom_right varlen[5] +lse
// FLASH: attn-split-varlen
// FLASH: cpu run vs float64 reference: PASS
// WHOLE: spec: GQA 4/2 B=1 Lq=29 Lk=44 D=16 f32 bshd causal_top_left varlen[5] +lse
// WHOLE: cpu run vs float64 reference: PASS
// SINKS: spec: GQA 4/2 B=1 Lq=29 Lk=44 D=16 bf16 bshd sliding_window[3,1] varlen[5] sinks +lse
// SINKS: cpu run vs float64 reference: PASS

// Runtime lengths: N (the offsets' extent) and the packed totals are
// dynamic, the packed operands keep their batch of 1: one kernel for every
// varlen batch of these heads.
// DYN: spec: GQA 4/2 B=1 Lq=?(29) Lk=?(44) D=16 f32 bshd causal_bottom_right varlen[?(5)] +lse
// DYN: cpu run vs float64 reference: PASS

// --split-varlen=false: attn-tile tiles the varlen op itself, the program
// the GPU kernel consumes (sequence, head group, query block programs over
// the packed rows), run on the CPU. Tk = 36 is a whole number of 4-key
// tiles while the tiles start at each sequence's first key (3 + k0): the
// last one crosses Tk and must be cut there.
// DIRECT-NOT: attn-split-varlen
// DIRECT: cpu run vs float64 reference: PASS

// The GPU path takes the spec --run-cpu runs: one prefill kernel over the
// packed rows, the offsets two i32 inputs. Static totals (Tq = 6, N = 2):
// a constant grid of ceil(6 / block_m) + 2 = 3 CTAs along x, one per query
// head along y.
// GPU: kernel attention_kernel: grid [3, 4, 1]
// GPU: "grid_formula": "[ceil(Lq / block_m) + 2, Hq, 1]"
// GPU: "name": "cu_seqlens_q", "role": "input", "dtype": "i32", "shape": [3]
// GPU: "name": "cu_seqlens_k", "role": "input", "dtype": "i32", "shape": [3]
// Dynamic totals and N: the lengths Lq, Lk (dims 1 of the packed tensors)
// and N1 (the offsets' extent, N + 1) bind at launch, the grid from them.
// GPUDYN: "grid_formula": "[ceil(Lq / block_m) + N1 - 1, Hq, 1]"
// GPUDYN: "name": "q", "role": "input", "dtype": "f16", "shape": [1, -1, 4, 128], {{.*}}"dim_symbols": ["", "Lq", "", ""]
// GPUDYN: "name": "cu_seqlens_q", "role": "input", "dtype": "i32", "shape": [-1], {{.*}}"dim_symbols": ["N1"]
// GPUDYN: "name": "lse", "role": "output", "dtype": "f32", "shape": [1, 4, -1], {{.*}}"dim_symbols": ["", "", "Lq"]
// GPUDYN: "name": "N1", "role": "length", "dtype": "i32"
// The decode family reads no offsets: refused by name.
// GPUDECODE: expected the prefill family for a varlen attention (cu_seqlens): the decode family does not read per-sequence offsets yet (kernel=auto picks prefill)
// SEQQ: error: expected no --seq-q with --varlen (the packed batch sets it)
// BADLEN: error: expected --varlen entries q[:k] of lengths in [0, 2^30], got '5:x'
// BIAS: error: expected a varlen spec without key lengths, bias, mask, paged or appended KV or modifiers

// The GPU varlen backward. The main kernel's grid flattens every
// sequence's KV blocks, one more CTA per sequence (Tk = 8 keys in blocks of
// 128: ceil(8 / 128) + 2 = 3), the deterministic dQ kernel the same over
// the query blocks; the preprocess runs over the packed rows. The offsets
// are i32 [N + 1] inputs of every kernel.
// GPUBWD: kernel attention_bwd_preprocess: grid [1, 4, 1]
// GPUBWD: kernel attention_bwd: grid [3, 2, 1]
// GPUBWD: kernel attention_bwd_convert:
// GPUBWDMAIN: "kernel": "attention_bwd",
// GPUBWDMAIN: "grid_formula": "[ceil(Lk / block_n) + 2, Hkv, 1]",
// GPUBWDMAIN: "name": "cu_seqlens_q", "role": "input", "dtype": "i32", "shape": [3]
// GPUBWDMAIN: "name": "cu_seqlens_k", "role": "input", "dtype": "i32", "shape": [3]
// GPUBWDMAIN: "name": "dq", "role": "output"
// GPUDET: kernel attention_bwd: grid [3, 2, 1]
// GPUDET: kernel attention_bwd_dq: grid [3, 4, 1]
// GPUDETDQ: "kernel": "attention_bwd_dq",
// GPUDETDQ: "grid_formula": "[ceil(Lq / block_m) + 2, B * Hq, 1]",
// GPUDETDQ: "name": "cu_seqlens_k", "role": "input", "dtype": "i32", "shape": [3]
// Backward specs are static (the grids count the sequences).
// GPUBWDDYN: error: expected static dims for a backward spec (dynamic dims: the forward only)

// ALiBi over varlen rows: the distance i + Lk_n - Lq_n - j of each
// sequence's own rows (i, j from its first row), as the split per-sequence
// ops compute it on the CPU; the GPU prefill kernel reads the sequence's
// lengths for the offset (the |distance| below), the backward's main and
// dQ kernels too (mma.sync and hopper). bench/varlen_backward_bench.py's
// ALiBi variants check them on the device against float64.
// ALIBICPU: spec: GQA 4/2 B=1 Lq=29 Lk=44 D=16 f32 bshd causal_bottom_right alibi varlen[5] +lse
// ALIBICPU: cpu run vs float64 reference: PASS
// GPUALIBI: kernel attention_kernel: grid [3, 4, 1]
// GPUALIBI: abs.s32
// GPUBWDALIBI: kernel attention_bwd: grid [{{[0-9]+}}, 2, 1]
// HOPPERALIBI: "family": "hopper-backward"
// Varlen queries over caches (the decode kernel): the distance takes the
// sequence's key length and query count (DecodeLoop.cpp).
// CACHEALIBI: abs.s32
// CACHEALIBI: "family": "decode"
