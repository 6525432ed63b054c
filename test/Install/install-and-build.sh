#!/usr/bin/env bash
# ctest "install": installs the build tree to a temporary prefix, moves the
# prefix elsewhere (the package must be relocatable), configures
# examples/host-compiler against it with find_package(AttnMLIR), builds it
# (with attn-mlir's C test, test/CAPI) and runs what it built.
# Usage: install-and-build.sh <build-dir> <source-dir> <c-compiler> <c++-compiler>
set -euo pipefail
build="$1" src="$2" cc="$3" cxx="$4"
work="$(mktemp -d "${TMPDIR:-/tmp}/attn-install.XXXXXX")"
trap 'rm -rf "$work"' EXIT

cmake --install "$build" --prefix "$work/stage" > "$work/install.log"
mv "$work/stage" "$work/prefix"
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
echo "install: OK"
