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
metrics="regex:smsp__average_warps_issue_stalled_.*_per_issue_active\.ratio"
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
grep -E "^====|Duration|Compute \(SM\) Throughput|Achieved Occupancy|Issue Slots Busy|Warp Cycles Per Issued|stalled_" "$out/stalls.txt" \
  | awk '!/stalled_/ || $NF + 0 >= 0.1' | sed -E 's/smsp__average_warps_issue_stalled_//; s/_per_issue_active.ratio//' | awk '{$1=$1};1'

