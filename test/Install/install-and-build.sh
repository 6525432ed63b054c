#!/usr/bin/env bash
# ctest "install": installs the build tree to a temporary prefix, moves the
# prefix elsewhere (the package must be relocatable), compiles every
# installed header on its own, configures
# examples/host-compiler against it with find_package(AttnMLIR), builds it
# (with attn-mlir's C test, test/CAPI), runs what it built, and imports the
# installed Python package.
# Usage: install-and-build.sh <build-dir> <source-dir> <c-compiler> <c++-compiler>
set -euo pipefail
build="$1" src="$2" cc="$3" cxx="$4"
# A fixed folder in the build tree (not mktemp): the example's compile lines
# stay the same from run to run, so ccache serves them. Kept on failure.
work="$build/test/Install/work"
rm -rf "$work"
mkdir -p "$work"

cmake --install "$build" --prefix "$work/stage" > "$work/install.log"
mv "$work/stage" "$work/prefix"

# Every installed header compiles on its own (C++; the C API's also as C).
inc="$work/prefix/include"
mlir_inc="$(dirname "$(dirname "$cxx")")/include"
(cd "$inc" && find attn attn-c -name '*.h' | sort) > "$work/headers.txt"
xargs -P 2 -I{} sh -c 'echo "#include \"{}\"" | "$0" -std=c++17 -fsyntax-only \
    -x c++ -I"$1" -isystem "$2" -I/usr/local/cuda/include - || { echo "not self-contained: {}"; exit 255; }' \
  "$cxx" "$inc" "$mlir_inc" < "$work/headers.txt"
for h in "$inc"/attn-c/*.h; do
  echo "#include \"$h\"" | "$cc" -std=c99 -Wall -pedantic -fsyntax-only -x c \
    -isystem "$mlir_inc" -I"$inc" - || { echo "not valid C: $h"; exit 1; }
done
echo "headers: $(wc -l < "$work/headers.txt") self-contained"
launcher=()
if command -v ccache > /dev/null; then
  launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_C_COMPILER_LAUNCHER=ccache)
fi
cmake -S "$src/examples/host-compiler" -B "$work/build" -G Ninja \
  -DCMAKE_BUILD_TYPE=Release -DCMAKE_PREFIX_PATH="$work/prefix" \
  -DCMAKE_C_COMPILER="$cc" -DCMAKE_CXX_COMPILER="$cxx" "${launcher[@]}" \
  -DATTN_CAPI_TEST="$src/test/CAPI/attn-capi-test.c" > "$work/configure.log" \
  || { cat "$work/configure.log"; exit 1; }
grep "AttnMLIR " "$work/configure.log"
cmake --build "$work/build" -j "${ATTN_BUILD_JOBS:-2}" > "$work/build.log" \
  || { tail -40 "$work/build.log"; exit 1; }

"$work/build/host-compiler" "$work/out"
"$work/build/check-manifest" "$work/out/gqa.json"
"$work/build/attn-capi-test"
# The runtime-only program links no MLIR.
if ldd "$work/build/check-manifest" | grep -q libMLIR; then
  echo "check-manifest links libMLIR: AttnMLIR::Runtime must not" >&2
  exit 1
fi
# The Python package from the installed prefix finds its libraries there.
PYTHONPATH="$work/prefix/lib/python" ATTN_MLIR_CACHE_DIR="$work/cache" \
  /usr/bin/python3 -c '
import attn_mlir, numpy as np
k = attn_mlir.compile(heads_q=2, heads_kv=1, seq_q=4, seq_k=4, head_dim=8,
                      dtype="f32", mask="none", lse=False, target="cpu")
o = k(*(np.ones(s, np.float32) for s in ((1, 2, 4, 8), (1, 1, 4, 8), (1, 1, 4, 8))))
assert np.allclose(o, 1.0), o
print("python: attn_mlir", attn_mlir.__version__, "from", attn_mlir.__file__)'
rm -rf "$work"
echo "install: OK"
