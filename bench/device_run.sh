#!/usr/bin/env bash
# Runs on the device machine from the repository root with .device carried:
# builds the runtime (no LLVM/MLIR), runs its GoogleTests for real, a
# compute-sanitizer memcheck on a small kernel, then the benchmark harness.
# Arguments go to device_bench.py, e.g. --only decode, --only prefill,
# --match REGEX, --skip-flex.
set -uo pipefail
D=.device
OUT=${OUT:-/tmp/out}
mkdir -p "$OUT"
nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.max.sm --format=csv | tee "$OUT/gpu.txt"
cmake -S $D/src -B /tmp/rt -DATTN_RUNTIME_ONLY=ON -DATTN_GTEST_SOURCE_DIR=$PWD/$D/googletest \
  -DCMAKE_BUILD_TYPE=Release > /tmp/rt-cmake.log 2>&1 || { cat /tmp/rt-cmake.log; exit 1; }
cmake --build /tmp/rt -j 16 > /tmp/rt-build.log 2>&1 || { tail -50 /tmp/rt-build.log; exit 1; }
echo "== runtime built"
echo "== manifest schema (no GPU needed)"
/tmp/rt/AttnManifestTests 2>&1 | tail -3
echo "== runtime: contexts, memory images, caller workspaces, C ABI, reference launch"
# Every test must run here (a GPU is present): SKIPPED lines are a failure.
ATTN_TEST_KERNEL=$D/kernels/runtime_test /tmp/rt/AttnRuntimeTests 2>&1 \
  | grep -E "^\[  (PASSED|FAILED|SKIPPED) |Failure|tests ran"
echo "== KV cache manager on device storage (all-or-nothing checks read back from the GPU)"
/tmp/rt/AttnKVCacheTests 2>&1 | tail -3
echo "== PTX path (JIT by the driver)"
mv $D/kernels/runtime_test.sm_90.cubin /tmp/rt_test.cubin
ATTN_TEST_KERNEL=$D/kernels/runtime_test /tmp/rt/AttnRuntimeTests --gtest_filter='*Reference*' 2>&1 | tail -3
mv /tmp/rt_test.cubin $D/kernels/runtime_test.sm_90.cubin
echo "== compute-sanitizer memcheck"
ATTN_TEST_KERNEL=$D/kernels/runtime_test timeout 120 compute-sanitizer --tool memcheck \
  /tmp/rt/AttnRuntimeTests --gtest_filter='*Reference*' 2>&1 | tail -4
echo "== compute-sanitizer memcheck: workspaces (own and caller's) and the C ABI"
timeout 120 compute-sanitizer --tool memcheck /tmp/rt/AttnRuntimeTests \
  --gtest_filter='*Workspace*:*CAbi*:*SharedMemory*' 2>&1 | tail -4
echo "== compute-sanitizer racecheck"
ATTN_TEST_KERNEL=$D/kernels/runtime_test timeout 120 compute-sanitizer --tool racecheck \
  /tmp/rt/AttnRuntimeTests --gtest_filter='*Reference*' 2>&1 | tail -4
echo "== decode kernels: two launches agree, counters re-armed; memcheck, racecheck"
for k in check_decode_ragged_gqa_paged16 check_decode_split40_gqa_contig \
         check_decode_append1_zero_split5_gqa_contig check_decode_window_lq4_zero_mqa_contig; do
  [ -f $D/kernels/$k.json ] || continue
  echo "-- $k"
  ATTN_TEST_DECODE_KERNEL=$D/kernels/$k /tmp/rt/AttnRuntimeTests --gtest_filter='*Decode*' 2>&1 | tail -1
  for tool in memcheck racecheck; do
    ATTN_TEST_DECODE_KERNEL=$D/kernels/$k timeout 120 compute-sanitizer --tool $tool \
      /tmp/rt/AttnRuntimeTests --gtest_filter='*Decode*' 2>&1 | grep -E "ERROR SUMMARY|RACECHECK SUMMARY|PASSED|FAILED" | tr '\n' ' '
    echo
  done
done
echo "== bench"
PYTHONUNBUFFERED=1 python3 $D/device_bench.py --lib /tmp/rt/lib/libAttnRuntimeC.so \
  --kernels $D/kernels --out "$OUT" "$@"
status=$?
if [ -d $D/dynamic ]; then
  echo "== runtime lengths: one dynamic prefill kernel, 10 (B, Lq, Lk) draws, timing vs static"
  PYTHONUNBUFFERED=1 python3 $D/dynamic_bench.py --lib /tmp/rt/lib/libAttnRuntimeC.so \
    --kernels $D/dynamic --out "$OUT" || status=1
fi
exit $status
