// REQUIRES: ptxas
// RUN: env CUDA_HOME=%cuda_home attn-compile --target=ptx --chip=sm_90a --cubin-arch=sm_90a --batch=1 --heads-q=4 --heads-kv=1 --seq-q=300 --seq-k=400 --head-dim=64 --mask=sliding-window --window-left=64 --window-right=8 --dtype=f16 --softcap=30 --score-mod=tanh-cap -o %t | FileCheck %s
// RUN: %ptxas -arch=sm_90a %t.ptx -o %t.check.cubin
// RUN: env CUDA_HOME=%cuda_home attn-compile --target=ptx --chip=sm_90a --cubin-arch=sm_90a --batch=1 --heads-q=8 --heads-kv=2 --seq-q=512 --seq-k=512 --head-dim=128 --mask=causal --alibi -o %t2 | FileCheck %s --check-prefix=D128

// ptxas accepts the hopper kernels (wgmma, setmaxnreg: sm_90a only) with no
// spills: D = 64 (f16, window, softcap, score_mod) and D = 128 (GQA, ALiBi).
// CHECK: ptxas -arch=sm_90a {{.*}} Used {{[0-9]+}} registers
// CHECK-NOT: spill
// D128: ptxas -arch=sm_90a {{.*}} Used {{[0-9]+}} registers
