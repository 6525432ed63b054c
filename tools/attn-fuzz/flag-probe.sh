#!/usr/bin/env bash
# Runs attn-compile with extreme values for each integer flag on three
# configurations (CPU run, PTX, sliding window with key lengths) and reports
# every run that crashed (exit >= 128) or went past the time limit (124).
# A refusal (exit 1 and a message) or a success both count as fine.
#
# usage: tools/attn-fuzz/flag-probe.sh [build dir] [seconds per run]
set -uo pipefail
cd "$(dirname "$0")/../.."
compile="${1:-build}/bin/attn-compile"
limit="${2:-60}"
base="--seq-q=64 --seq-k=64 --heads-q=4 --heads-kv=2 --head-dim=64 --cubin-arch=none"
flags="batch heads-q heads-kv seq-q seq-k head-dim value-head-dim window-left window-right
       tile-m tile-n num-splits block-m block-n num-warps num-sms
       decode-num-warps decode-keys-per-warp decode-stages page-size
       append-tokens"
values="-9223372036854775808 -1 0 1 3 17 4096 2147483648 9223372036854775807"
runs=0 bad=0
out=$(mktemp)
for config in "--target=cpu --run-cpu" "--target=ptx" \
              "--target=cpu --mask=sliding-window --key-lengths"; do
  for flag in $flags; do
    for value in $values; do
      runs=$((runs + 1))
      # shellcheck disable=SC2086
      timeout "$limit" "$compile" $base $config "--$flag=$value" >"$out" 2>&1
      rc=$?
      if [ "$rc" -ge 124 ]; then
        bad=$((bad + 1))
        echo "exit $rc: $config --$flag=$value"
        tail -n 3 "$out"
      fi
    done
  done
done
rm -f "$out"
echo "flag-probe: $runs runs, $bad crashed or timed out"
[ "$bad" -eq 0 ]
