#!/usr/bin/env bash
# Device side: Nsight Compute stall breakdown (warps stalled per issued
# instruction, by reason), tensor-pipe use and occupancy of staged hopper
# kernels and of torch's cuDNN SDPA on the same shapes.
# Usage (repository root on the device): bench/hopper_stalls.sh DIR "KERNEL[:cudnn] ..."
# e.g. bench/hopper_stalls.sh .device-hopper "bench_d64_l4096_none_hopper bench_d64_l4096_none_hopper:cudnn"
# HOPPER_LIB=path/libAttnRuntimeC.so launches ours through the runtime (TMA
# kernels need it: it builds their tensor maps).
set -uo pipefail
dir="${1:?staged folder}"
out="${OUT:-/tmp/out}"
mkdir -p "$out"
stalls="smsp__average_warps_issue_stalled_.*_per_issue_active\.ratio"
metrics="regex:$stalls"
# HOPPER_NCU_PIPES=1 adds every pipe's utilisation (cycles active and
# instructions executed, % of peak): tensor (gmma), XU (MUFU ex2), FMA, ALU.
# (ncu takes --metrics once: one regex of alternatives.)
if [ -n "${HOPPER_NCU_PIPES:-}" ]; then
  metrics="regex:^($stalls|sm__pipe_.*_cycles_active\.avg\.pct_of_peak_sustained_active|sm__inst_executed_pipe_.*\.avg\.pct_of_peak_sustained_active)\$"
fi
sections=(--section SpeedOfLight --section Occupancy --section WarpStateStats
          --section ComputeWorkloadAnalysis)
for item in $2; do
  name="${item%%:*}"; backend=ours; [ "$item" != "$name" ] && backend="${item#*:}"
  if [ "$backend" = ours ]; then
    sel=(--kernel-name attention_kernel --launch-count 1)
  else
    sel=(--kernel-name regex:'(?i)sdpa|fmha|cudnn|flash' --launch-skip 1 --launch-count 1)
  fi
  echo "==== $backend $name"
  ncu --clock-control none "${sel[@]}" "${sections[@]}" --metrics "$metrics" \
    python3 "$dir/hopper_ncu.py" --kernels "$dir/kernels" --name "$name" --backend "$backend" \
      ${HOPPER_LIB:+--lib "$HOPPER_LIB"} 2>&1
done > "$out/stalls.txt"
# The summary: duration, pipes, occupancy, and the stall reasons above 0.1
# warps per issued instruction.
grep -E "^====|Duration|Compute \(SM\) Throughput|Achieved Occupancy|Issue Slots Busy|Warp Cycles Per Issued|stalled_|sm__pipe_|sm__inst_executed_pipe_" "$out/stalls.txt" \
  | awk '!/stalled_|pipe_/ || (/stalled_/ && $NF + 0 >= 0.1) || (/pipe_/ && $NF + 0 >= 5)' | sed -E 's/smsp__average_warps_issue_stalled_//; s/_per_issue_active.ratio//' | awk '{$1=$1};1'

