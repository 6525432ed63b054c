#!/usr/bin/env bash
# Stages the score-operand A/B (bench/scoreperf_run.sh) into DEST (default
# /work/main/.device-scoreperf): the op_ kernels of bench/prepare.sh
# (ATTN_ONLY=operands) compiled by this tree's build ("new") and by an older
# build ("old", default /work/main/build), and the runtime library.
# Usage: bench/scoreperf_prepare.sh [old-build] [dest]
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
old="${1:-/work/main/build}"
dest="${2:-/work/main/.device-scoreperf}"
rm -rf "$dest"
mkdir -p "$dest"
ATTN_ONLY=operands ATTN_KEEP_GOING=1 "$root/bench/prepare.sh" "$root/build" "$dest/new"
ATTN_ONLY=operands ATTN_KEEP_GOING=1 "$root/bench/prepare.sh" "$old" "$dest/old"
# The old side needs its kernels only; the runtime and harness are new's.
rm -rf "$dest/old/src" "$dest/old/googletest" "$dest/old/"*.py "$dest/old/"*.sh
cp "$root/build/lib/libAttnRuntimeC.so" "$dest/"
git -C "$root" rev-parse HEAD > "$dest/new.commit"
git -C "$(dirname "$old")" rev-parse HEAD > "$dest/old.commit" 2>/dev/null || true
du -sh "$dest"
