#!/usr/bin/env bash
# Prepares bench/hf_e2e.py's device run (here, where LLVM/MLIR live): compiles
# every attention kernel the run needs into a kernel cache with attn_mlir
# (the same keys the torch op computes on the device), and stages the cache,
# the runtime's sources, the Python package and the scripts into
# DEST/hf_e2e (default /work/main/.device, the folder the device call
# carries). Usage: bench/hf_e2e_prepare.sh [build-dir] [dest]
# Then, on the GPU machine, from the repo root: bash .device/hf_e2e/run.sh
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
build="${1:-$root/build}"
dest="${2:-/work/main/.device}/hf_e2e"
[ -f "$build/lib/libAttnMLIRCAPI.so" ] || { echo "build $build first (scripts/build.sh)" >&2; exit 1; }
rm -rf "$dest"
mkdir -p "$dest/cache" "$dest/src" "$dest/python"
# The kernels for the device's chip (the torch op asks the GPU there; here
# there is none): ATTN_MLIR_GPU_CHIPS, default sm_90 (what the op picks on
# an H100/H200); several ("sm_90 sm_90a") stage each, for an A/B on the
# device with ATTN_MLIR_GPU_CHIP=<chip> there.
for chip in ${ATTN_MLIR_GPU_CHIPS:-sm_90}; do
  ATTN_MLIR_GPU_CHIP=$chip ATTN_MLIR_CACHE_DIR="$dest/cache" PYTHONPATH="$build/python" \
    PYTHONDONTWRITEBYTECODE=1 /usr/bin/python3 "$root/bench/hf_e2e.py" --prepare
done
# The runtime builds on the device with -DATTN_RUNTIME_ONLY=ON (no LLVM).
cp -r "$root/CMakeLists.txt" "$root/cmake" "$root/lib" "$root/include" "$root/test" "$dest/src/"
cp -r "$root/python/attn_mlir" "$dest/python/"
find "$dest/python" -name __pycache__ -prune -exec rm -rf {} +
cp "$root/bench/hf_e2e.py" "$dest/"
cp "$root/bench/hf_e2e_run.sh" "$dest/run.sh"
echo "staged $dest ($(du -sh "$dest" | cut -f1))"
