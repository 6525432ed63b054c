#!/usr/bin/env bash
# Stages the shared K/V cache session (issue #15, MLA latent decode) into
# DEST (default /work/main/.device-mladec): the decode-family kernels over
# one shared paged cache (--shared-kv: V = attn.kv_prefix of K's view, one
# k_pages buffer, no v_pages) that bench/decode_bench.py checks against
# float64 (check_decode_shared_*), the runtime sources the device builds a
# loader from, and bench/mla_decode_torch.py, torch SDPA's 576/512 decode on
# materialized K/V (the yardstick; our GPU path refuses rows wider than 256
# with a diagnostic today).
# Usage: bench/mla_prepare.sh [build-dir] [dest]; then on the device, from
# the repository root with DEST's folder carried: bash .device-mladec/mla_run.sh
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
build="${1:-$root/build}"
dest="${2:-/work/main/.device-mladec}"
compile="$build/bin/attn-compile"
rm -rf "$dest"
mkdir -p "$dest/kernels"
mqa="--heads-q=16 --heads-kv=1 --dtype=bf16 --key-lengths --shared-kv"
variants=(
  "check_decode_shared_mqa16_d256v128_paged64|--batch=3 $mqa --head-dim=256 --value-head-dim=128 --seq-q=1 --seq-k=1024 --mask=none --lse --page-size=64"
  "check_decode_shared_mqa16_d256v128_paged64_split5_lq2|--batch=3 $mqa --head-dim=256 --value-head-dim=128 --seq-q=2 --seq-k=1024 --mask=causal --lse --page-size=64 --convert-attn-to-nvvm=num-splits=5"
  "check_decode_shared_mqa16_d128v64_paged16_zero|--batch=4 $mqa --head-dim=128 --value-head-dim=64 --seq-q=1 --seq-k=2048 --mask=none --lse --page-size=16"
  "check_decode_shared_gqa8_2_d192v128_paged32|--batch=2 --heads-q=8 --heads-kv=2 --dtype=bf16 --key-lengths --shared-kv --head-dim=192 --value-head-dim=128 --seq-q=1 --seq-k=1024 --mask=none --lse --page-size=32"
)
for v in "${variants[@]}"; do
  name="${v%%|*}"
  flags="${v#*|}"
  # shellcheck disable=SC2086
  "$compile" --target=ptx --cubin-arch=sm_90 --gpu=h200 $flags -o "$dest/kernels/$name" > /dev/null
  echo "$flags" > "$dest/kernels/$name.flags"
done
find "$dest/kernels" -name "*.ptx" -delete
mkdir -p "$dest/src"
cp -r "$root/CMakeLists.txt" "$root/cmake" "$root/lib" "$root/include" "$root/test" "$dest/src/"
cp -r /usr/src/googletest "$dest/googletest"
cp "$root"/bench/*.py "$dest/"
cp "$root/bench/mla_run.sh" "$dest/"
echo "staged $(ls "$dest/kernels" | wc -l) files in $dest ($(du -sh "$dest" | cut -f1))"
