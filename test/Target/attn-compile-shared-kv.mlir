// One shared K/V cache (--shared-kv, issue #15's MLA latent decode): V is
// the first Dv columns of K's rows (attn.kv_prefix of the key operand), so
// the entry, and the kernel's manifest, take one cache and no V.
//
// CPU, against the float64 Reference (which reads V from K): DeepSeek's
// 576/512 rows, 16 query heads over the one latent head, decode and two
// speculative rows, whole and tiled with splits; a paged cache.
// RUN: attn-compile --run-cpu --flash=false --batch=2 --heads-q=16 --heads-kv=1 --seq-q=1 --seq-k=40 --head-dim=576 --value-head-dim=512 --dtype=bf16 --mask=causal --key-lengths --shared-kv | FileCheck %s --check-prefix=CPU576
// RUN: attn-compile --run-cpu --batch=1 --heads-q=16 --heads-kv=1 --seq-q=2 --seq-k=48 --head-dim=576 --value-head-dim=512 --dtype=bf16 --mask=causal --shared-kv --attn-tile=block-m=2,block-n=16,pack-gqa=true,num-splits=3 | FileCheck %s --check-prefix=CPU
// RUN: attn-compile --run-cpu --batch=2 --heads-q=8 --heads-kv=2 --seq-q=1 --seq-k=64 --head-dim=48 --value-head-dim=32 --dtype=f32 --page-size=16 --key-lengths --shared-kv | FileCheck %s --check-prefix=CPU
//
// GPU, rows the decode family holds (D <= 256): a paged latent-style cache,
// V the prefix view of K's paged view, one pages buffer in the manifest and
// one cp.async copy per row (K's), P.V reading its first Dv columns.
// RUN: attn-compile --target=ptx --cubin-arch=none --batch=2 --heads-q=16 --heads-kv=1 --seq-q=1 --seq-k=1024 --head-dim=256 --value-head-dim=128 --mask=causal --key-lengths --page-size=64 --shared-kv -o %t | FileCheck %s --check-prefix=GPU
// RUN: FileCheck %s --check-prefix=JSON < %t.json
// RUN: %ptxas -arch=sm_90 %t.ptx -o %t.cubin
// RUN: grep -c cp.async.cg %t.ptx | FileCheck %s --check-prefix=COPIES
// RUN: attn-compile --target=ptx --cubin-arch=none --batch=2 --heads-q=16 --heads-kv=1 --seq-q=1 --seq-k=1024 --head-dim=256 --value-head-dim=128 --mask=causal --key-lengths --page-size=64 -o %t.two > /dev/null
// RUN: grep -c cp.async.cg %t.two.ptx | FileCheck %s --check-prefix=TWO
//
// What the GPU path does not run yet, named: a prefix of a plain K tensor
// (576/512 rows: the latent kernel, attn-compile-latent-decode.mlir).
// RUN: not attn-compile --target=ptx --cubin-arch=none --batch=2 --heads-q=16 --heads-kv=1 --seq-q=1 --seq-k=1024 --head-dim=256 --value-head-dim=128 --shared-kv 2>&1 | FileCheck %s --check-prefix=PLAIN
// RUN: not attn-compile --heads-q=4 --heads-kv=1 --head-dim=64 --value-head-dim=128 --shared-kv 2>&1 | FileCheck %s --check-prefix=SPEC
// RUN: not attn-compile --heads-q=4 --heads-kv=1 --head-dim=64 --value-head-dim=32 --shared-kv --dynamic=seq-k 2>&1 | FileCheck %s --check-prefix=DYN

// CPU576: spec: MQA 16/1 B=2 Lq=1 Lk=40 D=576 Dv=512 bf16 causal_bottom_right key_lengths shared-kv
// CPU576: cpu run vs float64 reference: PASS
// CPU: shared-kv
// CPU: cpu run vs float64 reference: PASS

// GPU: tiles: decode
// JSON: "family": "decode"
// JSON: "name": "q", "role": "input", "dtype": "bf16", "shape": [2, 16, 1, 256]
// JSON-NEXT: "name": "k_pages", "role": "input", "dtype": "bf16", "shape": [32, 64, 1, 256]
// JSON-NEXT: "name": "block_table", "role": "input", "dtype": "i32", "shape": [2, 16]
// JSON-NEXT: "name": "key_lengths"
// JSON-NOT: v_pages
// JSON: "name": "o", "role": "output", "dtype": "bf16", "shape": [2, 16, 1, 128]

// 16-byte cp.async copies in the PTX (4 warps, 16 keys per warp subtile,
// a ring copy in the prologue and one in the loop): Q's 16 rows x 32 chunks
// over 128 threads = 4, each K subtile 16 rows x 32 chunks over 32 lanes =
// 16, twice: 36. With its own V cache each subtile also copies 16 rows x 16
// chunks / 32 = 8 V chunks, twice: 52.
// COPIES: {{^}}36{{$}}
// TWO: {{^}}52{{$}}

// PLAIN: expected the shared K/V cache (attn.kv_prefix) over a KV cache view (e.g. attn.paged_view) on the GPU path; over a plain K tensor it is not implemented
// DYN: expected static dims for a shared K/V cache spec
// SPEC: expected Dv <= D, no appended tokens and no backward for a shared K/V cache, got D = 64, Dv = 128
