#!/usr/bin/env bash
# Stages the latent (MLA) decode kernel session (issue #15, branch mla576)
# into DEST (default /work/main/.device-mla576): 576/512 rows over one shared
# paged K/V cache (--shared-kv, V = the first 512 columns of K's rows), Hq
# query heads over the one latent head. check_decode_shared_* kernels are
# checked against float64 by bench/mla576_bench.py (decode_bench.check_one);
# mla_b<B>_l<L>_h<H> are timed against torch SDPA's efficient backend on the
# same shape. The runtime sources the device builds a loader from come along.
# Usage: bench/mla576_prepare.sh [build-dir] [dest]; then on the device, from
# the repository root with DEST's folder carried: bash .device-mla576/mla576_run.sh
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
build="${1:-$root/build}"
dest="${2:-/work/main/.device-mla576}"
compile="$build/bin/attn-compile"
# MLA_KEEP=1: keep DEST's kernels and compile only those without a cubin.
[ -n "${MLA_KEEP:-}" ] || rm -rf "$dest"
rm -rf "$dest/src" "$dest/googletest"
mkdir -p "$dest/kernels"
mla="--heads-kv=1 --head-dim=576 --value-head-dim=512 --key-lengths --shared-kv --lse"
variants=(
  "check_decode_shared_mla_h16_paged64|--batch=3 --heads-q=16 $mla --dtype=bf16 --seq-q=1 --seq-k=1024 --mask=none --page-size=64"
  "check_decode_shared_mla_h128_paged64_split5_lq2|--batch=2 --heads-q=128 $mla --dtype=bf16 --seq-q=2 --seq-k=1024 --mask=causal --page-size=64 --convert-attn-to-nvvm=num-splits=5"
  "check_decode_shared_mla_h32_f16_paged64_zero|--batch=4 --heads-q=32 $mla --dtype=f16 --seq-q=1 --seq-k=2048 --mask=none --page-size=64"
  "check_decode_shared_mla_h64_paged16_split1|--batch=3 --heads-q=64 $mla --dtype=bf16 --seq-q=1 --seq-k=704 --mask=none --page-size=16 --convert-attn-to-nvvm=num-splits=1"
  "check_decode_shared_mla_h16_paged64_lq2|--batch=3 --heads-q=16 $mla --dtype=bf16 --seq-q=2 --seq-k=1536 --mask=causal --page-size=64"
  "check_decode_shared_mla_h8_paged64_split3|--batch=2 --heads-q=8 $mla --dtype=bf16 --seq-q=1 --seq-k=832 --mask=none --page-size=64 --convert-attn-to-nvvm=num-splits=3"
  # A contiguous cache per sequence: one page of Lk rows (block table [B, 1]).
  "check_decode_shared_mla_h16_onepage|--batch=3 --heads-q=16 $mla --dtype=bf16 --seq-q=1 --seq-k=2048 --mask=none --page-size=2048"
)
for b in ${MLA_BATCHES:-1 16 64 132}; do
  for l in ${MLA_LENGTHS:-4096 16384}; do
    for h in ${MLA_HEADS:-16 128}; do
      variants+=("mla_b${b}_l${l}_h${h}|--batch=$b --heads-q=$h $mla --dtype=bf16 --seq-q=1 --seq-k=$l --mask=none --page-size=64")
    done
  done
done
jobs=0
for v in "${variants[@]}"; do
  name="${v%%|*}"
  flags="${v#*|}"
  [ -n "${MLA_KEEP:-}" ] && [ -f "$dest/kernels/$name.sm_90.cubin" ] && continue
  # shellcheck disable=SC2086
  "$compile" --target=ptx --cubin-arch=sm_90 --gpu=h200 $flags -o "$dest/kernels/$name" > "$dest/kernels/$name.log" 2>&1 &
  echo "$flags" > "$dest/kernels/$name.flags"
  jobs=$((jobs + 1))
  if [ "$jobs" -ge "${MLA_JOBS:-2}" ]; then wait -n || true; jobs=$((jobs - 1)); fi
done
wait || true
for v in "${variants[@]}"; do
  name="${v%%|*}"
  [ -f "$dest/kernels/$name.sm_90.cubin" ] || { echo "no cubin for $name:"; cat "$dest/kernels/$name.log"; exit 1; }
done
find "$dest/kernels" -name "*.ptx" -delete
mkdir -p "$dest/src"
cp -r "$root/CMakeLists.txt" "$root/cmake" "$root/lib" "$root/include" "$root/test" "$dest/src/"
cp -r /usr/src/googletest "$dest/googletest"
cp "$root"/bench/*.py "$dest/"
cp "$root/bench/mla576_run.sh" "$dest/"
echo "staged $(ls "$dest/kernels"/*.cubin | wc -l) kernels in $dest ($(du -sh "$dest" | cut -f1))"
