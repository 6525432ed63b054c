// REQUIRES: ptxas
// Which cubins attn-compile assembles: by default those the chip's PTX runs
// on (portable sm_80 PTX: sm_80 and sm_90; arch-specific sm_90a PTX: sm_90a
// alone), and an explicit arch the PTX cannot be assembled for is refused
// by name before any work, not left to ptxas's "SM version ... higher than
// default".
// RUN: attn-compile --target=ptx --batch=1 --heads-q=2 --heads-kv=2 --seq-q=64 --seq-k=64 --head-dim=64 -o %t.a | FileCheck %s --check-prefix=SM80
// RUN: attn-compile --target=ptx --batch=1 --heads-q=2 --heads-kv=2 --seq-q=64 --seq-k=64 --head-dim=64 --chip=sm_90a -o %t.b | FileCheck %s --check-prefix=SM90A
// RUN: not attn-compile --target=ptx --batch=1 --heads-q=2 --heads-kv=2 --seq-q=64 --seq-k=64 --head-dim=64 --chip=sm_90a --cubin-arch=sm_90 -o %t.c 2>&1 | FileCheck %s --check-prefix=ARCH
// RUN: not attn-compile --target=ptx --batch=1 --heads-q=2 --heads-kv=2 --seq-q=64 --seq-k=64 --head-dim=64 --chip=sm_90 --cubin-arch=sm_80 -o %t.d 2>&1 | FileCheck %s --check-prefix=OLDER

// SM80: ptxas -arch=sm_80
// SM80: ptxas -arch=sm_90
// SM80: wrote {{.*}}<arch>.cubin

// SM90A-NOT: ptxas -arch=sm_80
// SM90A: ptxas -arch=sm_90a
// SM90A-NOT: ptxas -arch=sm_90{{ }}

// ARCH: error: expected a cubin arch that PTX for sm_90a assembles for (only sm_90a itself: arch-specific PTX), got sm_90
// OLDER: error: expected a cubin arch that PTX for sm_90 assembles for (archs not older than it), got sm_80

// A score_mod's math.tanh lowers to libdevice's __nv_tanhf: the PTX links
// the toolkit's libdevice, found as ptxas is (lit passes no CUDA_HOME), so
// no call is left unresolved and ptxas assembles it.
// RUN: attn-compile --target=ptx --batch=1 --heads-q=2 --heads-kv=2 --seq-q=64 --seq-k=64 --head-dim=64 --score-mod=tanh-cap --cubin-arch=sm_90 -o %t.e | FileCheck %s --check-prefix=LIBDEVICE
// RUN: not grep -q __nv_tanhf %t.e.ptx
// LIBDEVICE: ptxas -arch=sm_90 {{.*}}Used {{[0-9]+}} registers
