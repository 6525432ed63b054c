#!/usr/bin/env bash
# Installs everything attn-mlir needs on a fresh Debian bookworm machine:
# LLVM/MLIR 22 (Debian packages), clang/lld 22 and its sanitizer runtimes
# (scripts/test.sh --sanitize, the fuzzer), lit/FileCheck, GoogleTest,
# CMake, Ninja, ccache, and numpy and torch (CPU) for the Python package's
# tests. Idempotent: a second run installs nothing.
set -euo pipefail

packages=(
  libmlir-22-dev mlir-22-tools llvm-22-dev llvm-22-tools clang-22 lld-22
  libclang-rt-22-dev cmake ninja-build ccache libgtest-dev python3 python3-numpy
  python3-torch
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" \
    || missing+=("$p")
done

if ((${#missing[@]})); then
  echo "bootstrap: installing ${missing[*]}"
  SUDO=""
  if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

for tool in /usr/lib/llvm-22/bin/lit /usr/lib/llvm-22/bin/FileCheck \
            /usr/lib/llvm-22/bin/mlir-tblgen /usr/lib/llvm-22/bin/ld.lld; do
  [ -x "$tool" ] || { echo "bootstrap: missing $tool after install" >&2; exit 1; }
done
echo "bootstrap: dependencies present (LLVM/MLIR $(/usr/lib/llvm-22/bin/llvm-config --version))"
