#!/usr/bin/env bash
# Stages a torch run for the GPU machine (here, where LLVM/MLIR live): the
# kernels `script --prepare ARGS` compiles into a kernel cache, the runtime's
# sources (built there with -DATTN_RUNTIME_ONLY=ON), the Python package,
# the script and its run script (as run.sh), into DEST.
# Usage: scripts/stage_torch_run.sh BUILD DEST SCRIPT RUN_SCRIPT [ARGS...]
# The kernels are for the device's chip (the torch op asks the GPU there;
# here there is none): ATTN_MLIR_GPU_CHIPS, default sm_90 (what the op picks
# on an H100/H200); several ("sm_90 sm_90a") stage each, for an A/B on the
# device with ATTN_MLIR_GPU_CHIP=<chip> there.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
build="$1" dest="$2" script="$3" run="$4"
shift 4
[ -f "$build/lib/libAttnMLIRCAPI.so" ] || { echo "build $build first (scripts/build.sh)" >&2; exit 1; }
rm -rf "$dest"
mkdir -p "$dest/cache" "$dest/src" "$dest/python"
for chip in ${ATTN_MLIR_GPU_CHIPS:-sm_90}; do
  ATTN_MLIR_GPU_CHIP=$chip ATTN_MLIR_CACHE_DIR="$dest/cache" PYTHONPATH="$build/python" \
    PYTHONDONTWRITEBYTECODE=1 /usr/bin/python3 "$script" --prepare "$@"
done
cp -r "$root/CMakeLists.txt" "$root/cmake" "$root/lib" "$root/include" "$root/test" "$dest/src/"
cp -r "$root/python/attn_mlir" "$dest/python/"
find "$dest/python" -name __pycache__ -prune -exec rm -rf {} +
cp "$script" "$root/bench/timing.py" "$dest/"
cp "$run" "$dest/run.sh"
echo "staged $dest ($(du -sh "$dest" | cut -f1))"
