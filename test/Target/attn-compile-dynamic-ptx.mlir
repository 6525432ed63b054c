// RUN: attn-compile --target=ptx --heads-q=8 --heads-kv=2 --head-dim=128 --mask=causal --dynamic=batch,seq-q,seq-k --cubin-arch=none --print-ptx | FileCheck %s
// RUN: attn-compile --target=cpu --run-cpu --batch=2 --heads-q=4 --heads-kv=2 --seq-q=37 --seq-k=70 --head-dim=16 --dtype=f32 --mask=causal --dynamic=batch,seq-q,seq-k | FileCheck %s --check-prefix=CPU
// RUN: not attn-compile --target=ptx --heads-q=8 --heads-kv=2 --head-dim=128 --dynamic=heads 2>&1 | FileCheck %s --check-prefix=BAD
// RUN: not attn-compile --target=ptx --heads-q=8 --heads-kv=2 --head-dim=128 --dynamic=seq-k --page-size=16 2>&1 | FileCheck %s --check-prefix=PAGED

// One kernel for every B, Lq and Lk: the spec's entry takes
// tensor<?x8x?x128xbf16>; the kernel takes q, k, v, o, lse and the i32
// lengths B, Lq, Lk, and the grid [ceil(Lq / 128), B * 8, 1] is computed at
// launch (0 in the manifest).
// CHECK: spec: GQA 8/2 B=?(1) Lq=?(1024) Lk=?(1024) D=128
// CHECK: kernel attention_kernel: grid [0, 0, 1] block [128, 1, 1]
// CHECK: .visible .entry attention_kernel(
// CHECK-COUNT-5: .param .u64
// CHECK-COUNT-3: .param .u32
// CHECK: "grid": [0, 0, 1],
// CHECK-NEXT: "grid_formula": "[ceil(Lq / block_m), B * Hq, 1]",
// CHECK: {"name": "q", "role": "input", "dtype": "bf16", "shape": [-1, 8, -1, 128], "alignment": 16, "output": false, "dim_symbols": ["B", "", "Lq", ""]},
// CHECK-NEXT: {"name": "k", "role": "input", "dtype": "bf16", "shape": [-1, 2, -1, 128], "alignment": 16, "output": false, "dim_symbols": ["B", "", "Lk", ""]},
// CHECK: {"name": "lse", "role": "output", "dtype": "f32", "shape": [-1, 8, -1], "alignment": 16, "output": true, "dim_symbols": ["B", "", "Lq"]},
// CHECK-NEXT: {"name": "B", "role": "length", "dtype": "i32", "shape": [], "alignment": 4, "output": false},
// CHECK-NEXT: {"name": "Lq", "role": "length", "dtype": "i32", "shape": [], "alignment": 4, "output": false},
// CHECK-NEXT: {"name": "Lk", "role": "length", "dtype": "i32", "shape": [], "alignment": 4, "output": false}
// CHECK: "batch": -1,
// CHECK: "seq_q": -1,
// CHECK-NEXT: "seq_k": -1,

// The CPU path takes the same dynamic entry (run at the flags' lengths).
// CPU: spec: GQA 4/2 B=?(2) Lq=?(37) Lk=?(70)
// CPU: PASS

// BAD: unknown --dynamic dim 'heads' (expected batch, seq-q or seq-k)
// PAGED: expected dense K and V without bias, mask, sinks or appended tokens for dynamic dims
