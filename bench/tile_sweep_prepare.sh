#!/usr/bin/env bash
# Stages the tile-model sweep (issue #17): for every benchmark shape of
# BENCHMARKS.md, every tile configuration the cost model considers for its
# kernel family plus the model's own choice (tile-model=auto for the chip)
# and the options' fixed defaults, as cubins + manifests, into DEST (default
# /work/main/.device-sweep), with the harness, the runtime's sources (the
# hopper kernels load through TMA, whose tensor maps the runtime encodes at
# launch) and the Python package: ~22 MB.
# Usage: bench/tile_sweep_prepare.sh [build-dir] [dest]
# SWEEP_GPU (default h200, the bench device) is the --gpu every kernel is
# compiled with: the GPU tile-model=auto tiles the "model" variant for (the
# chip alone says sm_90 for an H100 and an H200 alike) and the manifests'
# cost figures are for. bench/tile_sweep_replay.py replays a finished sweep
# against a later model without a GPU.
# Then, on the device from the repository root (carry .device-sweep):
#   bash .device-sweep/tile_sweep_run.sh .device-sweep
# (builds the runtime's C ABI, then runs tile_sweep.py; SWEEP_BUDGET_S caps it).
# Names: sweep_<family>_<shape>__<config>; config "model" is the model's
# choice, "default" the options' fixed defaults (tile-model= : off).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
build="${1:-$root/build}"
dest="${2:-/work/main/.device-sweep}"
gpu="${SWEEP_GPU:-h200}"
compile="$build/bin/attn-compile"
rm -rf "$dest"
mkdir -p "$dest/kernels"
variants=()
# Prefill shapes: bf16, B*L = 16k, Hq*D = 2048, causal and not; GQA 32/8.
prefill_shapes=()
for d in 64 128; do
  h=$((2048 / d))
  for l in 1024 4096 16384; do
    b=$((16384 / l))
    for mask in none causal; do
      prefill_shapes+=("d${d}_l${l}_${mask}|--batch=$b --heads-q=$h --heads-kv=$h --seq-q=$l --seq-k=$l --head-dim=$d --mask=$mask --lse=false")
    done
  done
done
for mask in none causal; do
  prefill_shapes+=("gqa_l4096_${mask}|--batch=4 --heads-q=32 --heads-kv=8 --seq-q=4096 --seq-k=4096 --head-dim=128 --mask=$mask --lse=false")
done
# mma.sync prefill: the model's candidates (TileConfig.cpp choosePrefill).
mma="--chip=sm_90 --cubin-arch=sm_90 --convert-attn-to-nvvm=kernel=prefill"
for s in "${prefill_shapes[@]}"; do
  tag="${s%%|*}"; flags="${s#*|}"
  for mw in 128,4 64,4 128,8 256,8; do
    IFS=, read -r bm w <<< "$mw"
    for bn in 64 32 128; do
      variants+=("sweep_mma_${tag}__m${bm}w${w}n${bn}|$mma $flags --convert-attn-to-nvvm=block-m=$bm,num-warps=$w,block-n=$bn")
    done
  done
  variants+=("sweep_mma_${tag}__model|$mma $flags --convert-attn-to-nvvm=tile-model=auto")
  variants+=("sweep_mma_${tag}__default|$mma $flags --convert-attn-to-nvvm=tile-model=")
done
# Hopper prefill: block-n x stages (TileConfig.cpp chooseHopperTileConfig),
# with the shipped loads (hopper-loads=tma, the default): tile_sweep.py
# launches them through the runtime, which encodes their tensor maps.
hop="--chip=sm_90a --cubin-arch=sm_90a --convert-attn-to-nvvm=kernel=hopper"
for s in "${prefill_shapes[@]}"; do
  tag="${s%%|*}"; flags="${s#*|}"
  for bn in 128 64; do
    for st in 2 3 4; do
      variants+=("sweep_hopper_${tag}__n${bn}s${st}|$hop $flags --convert-attn-to-nvvm=hopper-block-n=$bn,hopper-stages=$st")
    done
  done
  variants+=("sweep_hopper_${tag}__model|$hop $flags --convert-attn-to-nvvm=tile-model=auto")
  variants+=("sweep_hopper_${tag}__default|$hop $flags --convert-attn-to-nvvm=tile-model=")
done
# Decode: one query token, D = 128, GQA 32/8 and MHA 32/32, (B, Lk),
# contiguous and paged (page 16), runtime key lengths; split counts.
dec="--chip=sm_90 --cubin-arch=sm_90 --seq-q=1 --head-dim=128 --mask=none --lse=false --key-lengths"
for kv in gqa,8 mha,32; do
  IFS=, read -r kind hkv <<< "$kv"
  for bl in 1,8192 16,4096 64,2048 8,32768; do
    IFS=, read -r b l <<< "$bl"
    for layout in contig paged; do
      extra=""
      [ "$layout" = paged ] && extra=" --page-size=16"
      tag="${kind}_b${b}_l${l}_${layout}"
      base="$dec --batch=$b --heads-q=32 --heads-kv=$hkv --seq-k=$l$extra"
      # The model's candidates (TileConfig.cpp kDecodeSplitCandidates).
      for sp in 1 2 3 4 6 8 12 16 24 32 48 64; do
        variants+=("sweep_decode_${tag}__s${sp}|$base --convert-attn-to-nvvm=num-splits=$sp")
      done
      variants+=("sweep_decode_${tag}__model|$base --convert-attn-to-nvvm=tile-model=auto")
      variants+=("sweep_decode_${tag}__default|$base --convert-attn-to-nvvm=tile-model=")
    done
  done
done
log="$dest/compile_log.txt"
: > "$log"
for v in "${variants[@]}"; do
  name="${v%%|*}"
  flags="${v#*|}"
  # A configuration the kernel refuses (shared memory, registers, rows per
  # warp) is not a candidate: logged and skipped.
  # shellcheck disable=SC2086
  if ! out=$("$compile" --target=ptx --report=none --gpu="$gpu" $flags -o "$dest/kernels/$name" 2>&1); then
    echo "$name: refused: $(echo "$out" | grep -m1 -E 'error' || echo "$out" | tail -1)" >> "$log"
    rm -f "$dest/kernels/$name".*
    continue
  fi
  echo "$name: ok" >> "$log"
  echo "$flags" > "$dest/kernels/$name.flags"
done
find "$dest/kernels" -name "*.ptx" -delete
cp "$root/bench/tile_sweep.py" "$root/bench/tile_sweep_run.sh" "$root/bench/device_bench.py" \
   "$root/bench/decode_bench.py" "$root/bench/operand_bench.py" "$dest/"
mkdir -p "$dest/src" "$dest/python"
cp -r "$root/CMakeLists.txt" "$root/cmake" "$root/lib" "$root/include" "$root/test" "$dest/src/"
cp -r "$root/python/attn_mlir" "$dest/python/"
find "$dest/python" -name __pycache__ -prune -exec rm -rf {} +
echo "staged $(ls "$dest/kernels"/*.json | wc -l) kernels in $dest ($(du -sh "$dest" | cut -f1)); $(grep -c refused "$log" || true) configurations refused (see $log)"
