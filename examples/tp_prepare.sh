#!/usr/bin/env bash
# Prepares examples/tp_attention_check.py's two-GPU run (here, where LLVM/MLIR
# live): compiles the attn_mlir kernels the dense block and both shards call
# (bf16, Llama-3-8B attention: 32/8 heads, D = 128, L = 1024, B = 2) into a
# kernel cache and stages it with the runtime's sources, the Python package
# and the check script into DEST/tp (default /work/main/.device).
# Usage: examples/tp_prepare.sh [build-dir] [dest]
# Then, on the GPU machine (kind nvidia-h200-x2), from the repo root:
#   bash .device/tp/run.sh
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
build="${1:-$root/build}"
dest="${2:-/work/main/.device}/tp"
[ -f "$build/lib/libAttnMLIRCAPI.so" ] || { echo "build $build first (scripts/build.sh)" >&2; exit 1; }
rm -rf "$dest"
mkdir -p "$dest/cache" "$dest/src" "$dest/python"
cp -r "$root/python/attn_mlir" "$dest/python/"
find "$dest/python" -name __pycache__ -prune -exec rm -rf {} +
ATTN_MLIR_CACHE_DIR="$dest/cache" PYTHONPATH="$build/python" PYTHONDONTWRITEBYTECODE=1 \
  /usr/bin/python3 "$root/examples/tp_attention_check.py" --prepare --nproc 2
# The runtime builds on the device with -DATTN_RUNTIME_ONLY=ON (no LLVM).
cp -r "$root/CMakeLists.txt" "$root/cmake" "$root/lib" "$root/include" "$root/test" "$dest/src/"
cp "$root/examples/tp_attention_check.py" "$dest/"
cp "$root/examples/tp_run.sh" "$dest/run.sh"
echo "staged $dest ($(du -sh "$dest" | cut -f1))"
