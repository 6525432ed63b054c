// attn-compile checks every flag before it builds anything (the passes' own
// options, given with --attn-tile= and --attn-gpu-kernels=, are checked by
// the passes); the message names the flag or option, its range and the value, and the exit status is 1 (issue #20:
// --batch=-1 ended in an uncaught std::length_error, --tile-m=2^28 with
// --run-cpu segfaulted in the JIT code, negative lengths were compiled into
// invalid tensor types, sm_70 aborted in the NVPTX backend).
// RUN: not attn-compile --batch=-1 2>&1 | FileCheck %s --check-prefix=BATCH
// RUN: not attn-compile --seq-q=-1 --run-cpu 2>&1 | FileCheck %s --check-prefix=SEQQ
// RUN: not attn-compile --seq-k=0 --target=cpu 2>&1 | FileCheck %s --check-prefix=SEQK
// RUN: not attn-compile --attn-tile=block-m=268435456 --run-cpu 2>&1 | FileCheck %s --check-prefix=TILEM
// RUN: not attn-compile --attn-tile=block-n=0 2>&1 | FileCheck %s --check-prefix=TILEN
// RUN: not attn-compile --attn-tile=num-splits=2147483648 2>&1 | FileCheck %s --check-prefix=SPLITS
// RUN: not attn-compile --softcap=nan 2>&1 | FileCheck %s --check-prefix=SOFTCAPNAN
// RUN: not attn-compile --softcap=1e39 2>&1 | FileCheck %s --check-prefix=SOFTCAP
// RUN: not attn-compile --target=gpu 2>&1 | FileCheck %s --check-prefix=TARGET
// RUN: not attn-compile --target=ptx --chip=sm_70 2>&1 | FileCheck %s --check-prefix=SM70
// RUN: not attn-compile --target=ptx --chip=sm_100 2>&1 | FileCheck %s --check-prefix=SM100
// RUN: not attn-compile --target=ptx --convert-attn-to-nvvm=block-m=0 --cubin-arch=none 2>&1 | FileCheck %s --check-prefix=BLOCKM
// RUN: not attn-compile --target=ptx --convert-attn-to-nvvm=num-sms=-1 --cubin-arch=none 2>&1 | FileCheck %s --check-prefix=SMS
// Products too large for int64 index math or 1 TiB operands: the spec check.
// RUN: not attn-compile --heads-q=65536 --heads-kv=1 --seq-q=2147483647 2>&1 | FileCheck %s --check-prefix=HUGE
// RUN: not attn-compile --page-size=3 --seq-k=64 2>&1 | FileCheck %s --check-prefix=PAGE
// A kernel's refusal of a spec names the spec (its ops' location) and reads
// as an MLIR error.
// RUN: not attn-compile --dtype=f32 --target=ptx --cubin-arch=none 2>&1 | FileCheck %s --check-prefix=GPUF32
// RUN: not attn-compile --backward --heads-q=4 --heads-kv=4 --head-offset=4 --heads-total=8 --alibi --target=ptx --cubin-arch=none 2>&1 | FileCheck %s --check-prefix=BWDSHARD
// RUN: not attn-compile --lse-grad --target=ptx --cubin-arch=none 2>&1 | FileCheck %s --check-prefix=LSEGRAD
// Large tiles are clamped to the lengths (attn-tile): this runs and matches.
// RUN: attn-compile --run-cpu --batch=1 --heads-q=2 --heads-kv=1 --seq-q=5 --seq-k=7 --head-dim=16 --dtype=f32 --attn-tile=block-m=65536,block-n=65536,num-splits=1024 | FileCheck %s --check-prefix=CLAMP

// BATCH: error: expected --batch in [1, 65536], got -1
// SEQQ: error: expected --seq-q in [1, 2147483647], got -1
// SEQK: error: expected --seq-k in [1, 2147483647], got 0
// TILEM: 'attn.attention' op expected attn-tile option block-m in [1, 65536], got 268435456
// TILEN: 'attn.attention' op expected attn-tile option block-n in [1, 65536], got 0
// SPLITS: 'attn.attention' op expected attn-tile option num-splits in [1, 1024], got 2147483648
// SOFTCAPNAN: error: expected --softcap of 0 (off) or a finite positive value, got nan
// SOFTCAP: error: 'attn.attention' op expected a finite, positive softcap in f32's normal range [1.175494e-38, 3.402823e+38], got 1.000000e+39
// TARGET: error: unknown --target 'gpu' (expected cpu or ptx)
// SM70: error: --chip/--ptx-features: expected a chip the mma.sync kernels (sm_80 and newer: mma.sync m16n8k16, ldmatrix, cp.async) can target, {{.*}}; got 'sm_70'
// SM100: error: --chip/--ptx-features: expected PTX features with +ptx86 or newer for chip sm_100, got '+ptx80'
// BLOCKM: error: expected block-m in [16, 256], got 0
// SMS: error: expected num-sms in [1, 1024], got -1
// HUGE: error: expected the spec's query under 1 TiB (2^40 bytes), got shape [1, 65536, 2147483647, 128]
// GPUF32: loc("attention spec: GQA 32/8 B=1 Lq=1024 Lk=1024 D=128 f32 causal_bottom_right +lse"): error: 'attn.attention' op expected bf16 or f16 inputs on the GPU path, got 'f32' (f32-compute=bf16 or f16 runs it on rounded copies of Q, K and V, as accurate as a bf16 / f16 call; f32-compute=refuse, the default, does not round silently; or use the CPU path)
// BWDSHARD: error: expected no tensor-parallel head shard (--head-offset, --heads-total) with ALiBi or a score_mod for a backward spec (the backward op has no head_offset)
// LSEGRAD: error: expected a backward spec with an LSE gradient (--lse-grad: the backward's grad_lse operand)
// PAGE: loc("attention spec: {{.*}} paged[3] +lse"): error: expected a BHSD spec whose key length is a multiple of the page size
// CLAMP: cpu run vs float64 reference: {{.*}}PASS

// --run-cpu keeps operands as float64 for the reference: bounded to what a
// CPU run can hold instead of failing to allocate.
// RUN: not attn-compile --run-cpu --seq-q=2147483647 --heads-q=1 --heads-kv=1 2>&1 | FileCheck %s --check-prefix=RUNSIZE
// RUN: not attn-compile --target=ptx --cubin-arch=-v 2>&1 | FileCheck %s --check-prefix=ARCH
// RUNSIZE: error: expected B * Hq * Lq * D (query) <= 2^28 elements with --run-cpu, got 274877906816
// ARCH: error: expected --cubin-arch of the form sm_<N>[a|f] or none, got '-v'
