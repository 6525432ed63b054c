#!/usr/bin/env bash
# Device side of issue #13's schedule A/B: checks every staged kernel
# against float64, times the bench variants beside torch cuDNN / flash in
# the same process, dumps the SASS of the wgmma pipeline and profiles D = 128
# L = 16k with Nsight Compute (ours serial and overlapped, cuDNN).
# Stage first (dev machine): HOPPER_BENCH_SET=overlap bench/hopper_prepare.sh build DIR
# Then on the device, from the repository root: bench/hopper_overlap_run.sh DIR
# (PHASES="gemm check sass ncu" by default; OUT receives the results).
set -uo pipefail
dir="${1:?staged folder}"
out="${OUT:-/tmp/out}"
mkdir -p "$out"
phases="${PHASES:-gemm check sass ncu}"
export PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,clocks.sm,clocks.mem,temperature.gpu --format=csv | tee "$out/device.txt"
if [[ " $phases " == *" check "* ]]; then
  python3 "$dir/hopper_bench.py" --kernels "$dir/kernels" --out "$out" ${MATCH:+--match "$MATCH"} \
    2>&1 | tee "$out/bench.log"
fi
if [[ " $phases " == *" gemm "* ]]; then
  # The bf16 GEMM ceiling of this run (issue #13's 85% target), random data.
  python3 - <<'PY' 2>&1 | tee "$out/gemm.txt"
import torch
from triton.testing import do_bench
n = 8192
a = torch.randn(n, n, device="cuda", dtype=torch.bfloat16)
b = torch.randn(n, n, device="cuda", dtype=torch.bfloat16)
for _ in range(2):
    ms = do_bench(lambda: a @ b, warmup=100, rep=500, return_mode="median")
    print(f"gemm bf16 {n}^3: {ms:.3f} ms {2 * n**3 / ms / 1e9:.1f} TFLOP/s")
PY
fi
if [[ " $phases " == *" sass "* ]]; then
  for k in ${SASS_KERNELS:-bench_d128_l16384_none_hov}; do
    cubin=$(ls "$dir/kernels/$k".sm_90*.cubin)
    echo "== $k"
    # Where the wgmmas, their waits and the barriers sit in the schedule.
    cuobjdump --dump-sass "$cubin" | grep -nE "HGMMA|WARPGROUP|DEPBAR|SYNCS|BAR\.|MUFU.EX2|BRA|EXIT" \
      | awk '{$1=$1};1' | head -400
  done > "$out/sass.txt" 2>&1
  echo "sass: $(wc -l < "$out/sass.txt") lines"
fi
if [[ " $phases " == *" ncu "* ]]; then
  sections=(--section SpeedOfLight --section WarpStateStats --section Occupancy
            --section ComputeWorkloadAnalysis --section SchedulerStats)
  {
    for k in ${NCU_KERNELS:-bench_d128_l16384_none_hopper bench_d128_l16384_none_hov}; do
      echo "==== ours $k"
      ncu --clock-control none --kernel-name attention_kernel --launch-count 1 "${sections[@]}" \
        python3 "$dir/hopper_ncu.py" --kernels "$dir/kernels" --name "$k"
    done
    echo "==== cudnn ${NCU_CUDNN:-bench_d128_l16384_none_hopper}"
    ncu --clock-control none --kernel-name regex:'(?i)sdpa|fmha|cudnn|flash' --launch-skip 1 \
      --launch-count 1 "${sections[@]}" \
      python3 "$dir/hopper_ncu.py" --kernels "$dir/kernels" \
      --name "${NCU_CUDNN:-bench_d128_l16384_none_hopper}" --backend cudnn
  } > "$out/ncu.txt" 2>&1
  grep -E "^====|Duration|Compute \(SM\) Throughput|Achieved Occupancy|Issue Slots Busy|No Eligible|Warp Cycles Per Issued|Registers Per|Block Limit Reg|Tensor|Stall" "$out/ncu.txt" | head -80
fi
