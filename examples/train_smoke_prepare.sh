#!/usr/bin/env bash
# Prepares examples/train_smoke.py's CUDA run (here, where LLVM/MLIR live):
# compiles the run's GPU kernels into a kernel cache (the forward with LSE
# and, once the compiler has it, the backward; until then --prepare prints
# the MissingGpuBackward the device run will stop with) and stages the
# cache, the runtime's sources, the Python package and the script into
# DEST/train_smoke (default /work/main/.device). Usage:
#   examples/train_smoke_prepare.sh [build-dir] [dest]
# Then, on the GPU machine, from the repo root: bash .device/train_smoke/run.sh
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
build="${1:-$root/build}"
dest="${2:-/work/main/.device}/train_smoke"
[ -f "$build/lib/libAttnMLIRCAPI.so" ] || { echo "build $build first (scripts/build.sh)" >&2; exit 1; }
rm -rf "$dest"
mkdir -p "$dest/cache" "$dest/src" "$dest/python"
# The kernels for the device's chip (the torch op asks the GPU there; here
# there is none): ATTN_MLIR_GPU_CHIPS, default sm_90 (what the op picks on
# an H100/H200); several ("sm_90 sm_90a") stage each, for an A/B on the
# device with ATTN_MLIR_GPU_CHIP=<chip> there.
for chip in ${ATTN_MLIR_GPU_CHIPS:-sm_90}; do
  ATTN_MLIR_GPU_CHIP=$chip ATTN_MLIR_CACHE_DIR="$dest/cache" PYTHONPATH="$build/python" \
    PYTHONDONTWRITEBYTECODE=1 /usr/bin/python3 "$root/examples/train_smoke.py" --prepare --dtype bfloat16
done
# The runtime builds on the device with -DATTN_RUNTIME_ONLY=ON (no LLVM).
cp -r "$root/CMakeLists.txt" "$root/cmake" "$root/lib" "$root/include" "$root/test" "$dest/src/"
cp -r "$root/python/attn_mlir" "$dest/python/"
find "$dest/python" -name __pycache__ -prune -exec rm -rf {} +
cp "$root/examples/train_smoke.py" "$dest/"
cp "$root/examples/train_smoke_run.sh" "$dest/run.sh"
echo "staged $dest ($(du -sh "$dest" | cut -f1))"
