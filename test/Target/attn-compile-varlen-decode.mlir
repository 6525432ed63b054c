// Varlen queries over per-sequence caches (decode; --varlen=q:k,...
// --key-lengths): N sequences of q packed query rows each, sequence n over
// the first k rows of its own cache [N, Lk, Hkv, D] (bshd; paged with
// --page-size, its pages shuffled), run on the CPU against the float64
// Reference. The lengths include a one-token decode (1:33), a sequence
// without queries (0:5), a full cache (3:40), one without keys (2:0: output
// 0, LSE -inf), a single key (1:1) and a speculative step off the pages
// (4:17); causal masks align each sequence at k - q (bottom-right).
// RUN: attn-compile --run-cpu --heads-q=4 --heads-kv=2 --head-dim=16 --dtype=f32 --mask=causal --key-lengths --seq-k=40 --varlen=1:33,0:5,3:40,2:0,1:1,4:17 | FileCheck %s --check-prefix=SPLIT
// RUN: attn-compile --run-cpu --flash=false --heads-q=4 --heads-kv=2 --head-dim=16 --dtype=f32 --mask=causal --key-lengths --page-size=8 --varlen=1:33,0:5,3:40,2:0,1:1,4:17 | FileCheck %s --check-prefix=WHOLE
// RUN: attn-compile --run-cpu --split-varlen=false --heads-q=4 --heads-kv=2 --head-dim=16 --dtype=f32 --mask=causal --key-lengths --page-size=8 --attn-tile=block-m=2,block-n=4,pack-gqa=true,num-splits=3 --varlen=1:33,0:5,3:40,2:0,1:1,4:17 | FileCheck %s --check-prefix=DIRECT
// RUN: attn-compile --run-cpu --split-varlen=false --heads-q=4 --heads-kv=1 --head-dim=16 --dtype=bf16 --mask=sliding-window --window-left=5 --window-right=0 --key-lengths --seq-k=48 --attn-tile=block-m=4,block-n=8,pack-gqa=true,num-splits=2 --varlen=1:33,0:5,3:40,2:0,1:1,4:17 | FileCheck %s --check-prefix=DIRECT
// RUN: attn-compile --run-cpu --split-varlen=false --heads-q=2 --heads-kv=2 --head-dim=16 --dtype=f32 --mask=none --key-lengths --page-size=4 --sinks=random --attn-tile=block-m=8,block-n=4 --varlen=1:33,0:5,3:40,2:0,1:1,4:17 | FileCheck %s --check-prefix=DIRECT
// RUN: attn-compile --target=ptx --heads-q=8 --heads-kv=2 --head-dim=64 --mask=causal --key-lengths --page-size=16 --seq-k=256 --varlen=1:200,3:9,0:0,2:256 --cubin-arch=none --print-ptx 2>&1 | FileCheck %s --check-prefix=GPU
// RUN: not attn-compile --target=ptx --heads-q=8 --heads-kv=2 --head-dim=64 --key-lengths --seq-k=256 --varlen=1:200,3:9 --cubin-arch=none --convert-attn-to-nvvm=kernel=prefill 2>&1 | FileCheck %s --check-prefix=PREFILL
// RUN: not attn-compile --heads-q=4 --heads-kv=2 --head-dim=16 --key-lengths --seq-k=8 --varlen=1:9 2>&1 | FileCheck %s --check-prefix=LONG
// RUN: attn-compile --run-cpu --flash=false --heads-q=4 --heads-kv=2 --head-dim=16 --dtype=f32 --mask=causal --key-lengths --page-size=8 --num-pages=57 --varlen=1:33,0:5,3:40,2:0,1:1,4:17 | FileCheck %s --check-prefix=POOL
// RUN: attn-compile --target=ptx --heads-q=8 --heads-kv=2 --head-dim=64 --mask=causal --key-lengths --page-size=16 --seq-k=256 --num-pages=9 --varlen=1:200,3:9,0:0,2:256 --cubin-arch=none --print-ptx 2>&1 | FileCheck %s --check-prefix=GPUPOOL
// RUN: not attn-compile --run-cpu --heads-q=4 --heads-kv=2 --head-dim=16 --dtype=f32 --key-lengths --page-size=8 --num-pages=7 --varlen=1:33,0:5 2>&1 | FileCheck %s --check-prefix=SMALLPOOL
// RUN: not attn-compile --heads-q=4 --heads-kv=2 --head-dim=16 --key-lengths --num-pages=7 --varlen=1:3 2>&1 | FileCheck %s --check-prefix=NOPAGE

// Tq = 1 + 0 + 3 + 2 + 1 + 4 = 11 packed query rows over 6 caches of 40
// rows (--seq-k), or of the longest k rounded up to the page (40).
// SPLIT: spec: GQA 4/2 B=1 Lq=11 Lk=40 D=16 f32 bshd causal_bottom_right key_lengths varlen[6] +lse
// SPLIT: attn-split-varlen
// SPLIT: cpu run vs float64 reference: PASS
// WHOLE: spec: GQA 4/2 B=1 Lq=11 Lk=40 D=16 f32 bshd causal_bottom_right paged[8] key_lengths varlen[6] +lse
// WHOLE: cpu run vs float64 reference: PASS

// --split-varlen=false: attn-tile tiles the op itself into (sequence, KV
// group, query block, split) programs over the caches, the program the
// decode kernel consumes; the splits' partials merge at the packed rows.
// DIRECT-NOT: attn-split-varlen
// DIRECT: cpu run vs float64 reference: PASS

// The GPU path: the decode family (kernel=auto), GQA 4 so block-m = 4 query
// rows per head; ceil(6 / 4) + 4 = 6 flattened blocks per KV head, 2 KV
// heads; the offsets, lengths and the block table are inputs.
// GPU: kernel attention_kernel: grid [{{[0-9]+}}, 12, 1]
// GPU: "family": "decode"
// GPU: "grid_formula": "[num_splits, (ceil(Lq / block_m) + N) * Hkv, 1]"
// GPU: "name": "q", "role": "input", "dtype": "bf16", "shape": [1, 6, 8, 64]
// GPU: "name": "k_pages", "role": "input", "dtype": "bf16", "shape": [64, 16, 2, 64]
// GPU: "name": "block_table", "role": "input", "dtype": "i32", "shape": [4, 16]
// GPU: "name": "key_lengths", "role": "input", "dtype": "i32", "shape": [4]
// GPU: "name": "cu_seqlens_q", "role": "input", "dtype": "i32", "shape": [5]
// GPU: "name": "o", "role": "output", "dtype": "bf16", "shape": [1, 6, 8, 64]
// PREFILL: expected the decode family for varlen queries over per-sequence caches (cu_seqlens_q with key_lengths): the prefill family reads packed keys only (kernel=auto picks decode)
// LONG: expected key lengths in [0, 8], got 9

// --num-pages: the pools hold any number of pages the block table indexes
// (a serving engine's shared pool), not one set per cache: 57 pages of 8
// rows for 6 caches of 5 pages on the CPU (the check scatters the caches
// into distinct pages of it), 9 pages for 4 caches of 16 on the GPU.
// POOL: spec: GQA 4/2 B=1 Lq=11 Lk=40 D=16 f32 bshd causal_bottom_right paged[8, pool 57] key_lengths varlen[6] +lse
// POOL: cpu run vs float64 reference: PASS
// GPUPOOL: "name": "k_pages", "role": "input", "dtype": "bf16", "shape": [9, 16, 2, 64]
// GPUPOOL: "name": "block_table", "role": "input", "dtype": "i32", "shape": [4, 16]
// GPUPOOL: "name": "v_pages", "role": "input", "dtype": "bf16", "shape": [9, 16, 2, 64]
// SMALLPOOL: the numeric check fills every cache to capacity: expected a page pool of at least 10 pages, got 7
// NOPAGE: expected a page size with a page pool size
