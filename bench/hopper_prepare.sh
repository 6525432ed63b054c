#!/usr/bin/env bash
# Stages the hopper (sm_90a, wgmma) kernel checks and benchmarks, mma.sync
# kernels of the same bench shapes for comparison, and the harness into DEST
# (default /work/main/.device-hopper), the folder a device call carries.
# Usage: bench/hopper_prepare.sh [build-dir] [dest]
# Then, on the device from the repository root: python3 .device-hopper/hopper_bench.py
# (kernels with TMA loads, the default, need the runtime: build it from
# DEST/src as bench/hopper_tma_run.sh does and pass --lib).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
build="${1:-$root/build}"
dest="${2:-/work/main/.device-hopper}"
compile="$build/bin/attn-compile"
rm -rf "$dest"
mkdir -p "$dest/kernels"
hop="--chip=sm_90a --cubin-arch=sm_90a --convert-attn-to-nvvm=kernel=hopper"
mma="--cubin-arch=sm_90 --convert-attn-to-nvvm=kernel=prefill"
variants=(
  "check_h_plain_d128|$hop --batch=1 --heads-q=2 --heads-kv=2 --seq-q=512 --seq-k=512 --head-dim=128 --mask=none"
  "check_h_bn64_d128|$hop --batch=1 --heads-q=2 --heads-kv=2 --seq-q=512 --seq-k=512 --head-dim=128 --mask=none --convert-attn-to-nvvm=hopper-block-n=64"
  "check_h_bn64_window_d128|$hop --batch=1 --heads-q=8 --heads-kv=1 --seq-q=777 --seq-k=1000 --head-dim=128 --mask=sliding-window --window-left=100 --window-right=20 --convert-attn-to-nvvm=hopper-block-n=64"
  "check_h_bn64_alibi_gqa_causal|$hop --batch=2 --heads-q=8 --heads-kv=2 --seq-q=512 --seq-k=512 --head-dim=128 --mask=causal --alibi --convert-attn-to-nvvm=hopper-block-n=64"
  "check_h_st3_tail_tl_d128|$hop --batch=1 --heads-q=4 --heads-kv=4 --seq-q=333 --seq-k=200 --head-dim=128 --mask=causal-top-left --convert-attn-to-nvvm=hopper-stages=3"
  "check_h_st3_window_d128|$hop --batch=1 --heads-q=8 --heads-kv=1 --seq-q=777 --seq-k=1000 --head-dim=128 --mask=sliding-window --window-left=100 --window-right=20 --convert-attn-to-nvvm=hopper-stages=3"
  "check_h_pp_tail_causal_tl|$hop --batch=1 --heads-q=4 --heads-kv=4 --seq-q=333 --seq-k=200 --head-dim=128 --mask=causal-top-left --convert-attn-to-nvvm=hopper-ping-pong=true"
  "check_h_pp_br_lq_gt_lk|$hop --batch=1 --heads-q=2 --heads-kv=2 --seq-q=300 --seq-k=100 --head-dim=64 --mask=causal --convert-attn-to-nvvm=hopper-ping-pong=true"
  "check_h_pp_window_d128|$hop --batch=1 --heads-q=8 --heads-kv=1 --seq-q=777 --seq-k=1000 --head-dim=128 --mask=sliding-window --window-left=100 --window-right=20 --convert-attn-to-nvvm=hopper-ping-pong=true"
  "check_h_plain_d64|$hop --batch=1 --heads-q=2 --heads-kv=2 --seq-q=512 --seq-k=512 --head-dim=64 --mask=none"
  "check_h_tail_causal_br|$hop --batch=2 --heads-q=4 --heads-kv=2 --seq-q=200 --seq-k=333 --head-dim=64 --mask=causal"
  "check_h_tail_causal_tl|$hop --batch=1 --heads-q=4 --heads-kv=4 --seq-q=333 --seq-k=200 --head-dim=128 --mask=causal-top-left"
  "check_h_window|$hop --batch=1 --heads-q=8 --heads-kv=1 --seq-q=777 --seq-k=1000 --head-dim=128 --mask=sliding-window --window-left=100 --window-right=20"
  "check_h_softcap_f16|$hop --batch=2 --heads-q=4 --heads-kv=4 --seq-q=256 --seq-k=256 --head-dim=64 --mask=none --dtype=f16 --softcap=30"
  "check_h_mqa_d128|$hop --batch=1 --heads-q=8 --heads-kv=1 --seq-q=512 --seq-k=640 --head-dim=128 --mask=none"
  "check_h_br_lq_gt_lk|$hop --batch=1 --heads-q=2 --heads-kv=2 --seq-q=300 --seq-k=100 --head-dim=64 --mask=causal"
  "check_h_f16_causal_d128|$hop --batch=1 --heads-q=4 --heads-kv=4 --seq-q=1000 --seq-k=1000 --head-dim=128 --mask=causal --dtype=f16"
  "check_h_gqa_causal|$hop --batch=2 --heads-q=8 --heads-kv=2 --seq-q=512 --seq-k=512 --head-dim=128 --mask=causal"
  "check_h_smod_relbias_gqa_causal|$hop --batch=2 --heads-q=8 --heads-kv=2 --seq-q=512 --seq-k=512 --head-dim=128 --mask=causal --score-mod=relative-bias"
  "check_h_smod_tanhcap_gqa_causal|$hop --batch=2 --heads-q=8 --heads-kv=2 --seq-q=512 --seq-k=512 --head-dim=128 --mask=causal --score-mod=tanh-cap"
  "check_h_alibi_gqa_causal|$hop --batch=2 --heads-q=8 --heads-kv=2 --seq-q=512 --seq-k=512 --head-dim=128 --mask=causal --alibi"
  "check_h_alibi_relbias_tail|$hop --batch=2 --heads-q=4 --heads-kv=2 --seq-q=200 --seq-k=333 --head-dim=64 --mask=causal --alibi --score-mod=relative-bias"
  "check_h_smod_softcap_window_f16|$hop --batch=1 --heads-q=4 --heads-kv=1 --seq-q=300 --seq-k=400 --head-dim=64 --mask=sliding-window --window-left=64 --window-right=8 --dtype=f16 --softcap=30 --score-mod=tanh-cap"
  "check_h_bshd_tail_causal_d128|$hop --batch=2 --heads-q=4 --heads-kv=2 --seq-q=333 --seq-k=333 --head-dim=128 --mask=causal --bshd"
  "check_h_bshd_tail_d64|$hop --batch=2 --heads-q=8 --heads-kv=1 --seq-q=200 --seq-k=333 --head-dim=64 --mask=none --bshd"
)
# Schedule variants of issue #13 (tag -> flags): hopper (the defaults:
# overlapped, ping-pong auto), hserial (the schedule before #13), hov
# (overlap, no ping-pong), hovpp (overlap + ping-pong), hovst3 (3 stages);
# hpers* the persistent grid (hopper-persistent): 132 CTAs (an H200 / H100
# SXM's SMs) with ping-pong auto / on / off, and 3 CTAs (hpers3, for the
# checks: several tiles per CTA, a partial last round); hnopers one CTA per
# tile (the default before hopper-persistent=auto); htma / hcpasync the
# producer's loads (hopper-loads: TMA from runtime-built tensor maps, or
# cp.async); hdyn / hdyn3 the dynamic tile scheduler (hopper-scheduler=
# dynamic: an atomic tile counter) on num-sms CTAs / on 3 CTAs (checks),
# hstatic the static round robin on 132 CTAs; hdynq / hdynq3 the same
# with Q as a shared tile (hopper-q-shared=true), hdyng1 with one head per
# longest-first group (hopper-group-bytes=1); hepi the TMA store epilogue
# (hopper-epilogue=tma) under the default schedule, hepi3 / hepis3 on a
# 3-CTA dynamic / static grid (several tiles per CTA: the O tile reused),
# hepinp one CTA per tile, hepics with cp.async loads, hreg
# hopper-epilogue=registers; hbn64 / hst3 / hpp / hnopp block-n 64, 3
# stages, ping-pong on / off (the option sweep of the short and D = 64
# shapes); hqpf / hnoqpf the consumers' Q prefetch on / off
# (hopper-q-prefetch); hpx0 / hpx1 .. hpx8 that many of every 8 n8 tiles of
# S exponentiated by the FMA polynomial (hopper-poly-exp2; hpx8: all, the
# float64 checks' variant); htree the softmax's row max and sum as balanced
# trees (hopper-tree-reductions=true), hnotree as chains; hc3 three
# consumer warpgroups (hopper-consumers=3, D = 64: 192-row tiles), hc3dyn3 on
# a 3-CTA dynamic grid, hc3epi with the TMA store epilogue, hc3nopp without
# ping-pong; hc2 two (the rule's alternative where auto takes three),
# hst3c3 three consumers over three stages.
ov="--convert-attn-to-nvvm=hopper-overlap=true"
pp="--convert-attn-to-nvvm=hopper-ping-pong=true"
nopp="--convert-attn-to-nvvm=hopper-ping-pong=false"
declare -A schedule=(
  [hopper]="" [hserial]="--convert-attn-to-nvvm=hopper-overlap=false $nopp"
  [hov]="$ov $nopp" [hovpp]="$ov $pp" [hovst3]="$ov --convert-attn-to-nvvm=hopper-stages=3"
  [hnopers]="--convert-attn-to-nvvm=hopper-persistent=0"
  [hpers]="--convert-attn-to-nvvm=hopper-persistent=132"
  [hperspp]="--convert-attn-to-nvvm=hopper-persistent=132 $pp"
  [hpersnopp]="--convert-attn-to-nvvm=hopper-persistent=132 $nopp"
  [hpers3]="--convert-attn-to-nvvm=hopper-persistent=3"
  [hpers3pp]="--convert-attn-to-nvvm=hopper-persistent=3 $pp"
  [hpers3nopp]="--convert-attn-to-nvvm=hopper-persistent=3 $nopp"
  [htma]="--convert-attn-to-nvvm=hopper-loads=tma"
  [hcpasync]="--convert-attn-to-nvvm=hopper-loads=cp-async"
  [hdyn]="--convert-attn-to-nvvm=hopper-scheduler=dynamic"
  [hdyn3]="--convert-attn-to-nvvm=hopper-persistent=3 --convert-attn-to-nvvm=hopper-scheduler=dynamic"
  [hdynq]="--convert-attn-to-nvvm=hopper-scheduler=dynamic --convert-attn-to-nvvm=hopper-q-shared=true"
  [hdynq3]="--convert-attn-to-nvvm=hopper-persistent=3 --convert-attn-to-nvvm=hopper-scheduler=dynamic --convert-attn-to-nvvm=hopper-q-shared=true"
  [hdyng1]="--convert-attn-to-nvvm=hopper-scheduler=dynamic --convert-attn-to-nvvm=hopper-group-bytes=1"
  [hstatic]="--convert-attn-to-nvvm=hopper-persistent=132 --convert-attn-to-nvvm=hopper-scheduler=static"
  [hepi]="--convert-attn-to-nvvm=hopper-epilogue=tma"
  [hepi3]="--convert-attn-to-nvvm=hopper-persistent=3 --convert-attn-to-nvvm=hopper-scheduler=dynamic --convert-attn-to-nvvm=hopper-epilogue=tma"
  [hepis3]="--convert-attn-to-nvvm=hopper-persistent=3 --convert-attn-to-nvvm=hopper-scheduler=static --convert-attn-to-nvvm=hopper-epilogue=tma"
  [hepinp]="--convert-attn-to-nvvm=hopper-persistent=0 --convert-attn-to-nvvm=hopper-epilogue=tma"
  [hepics]="--convert-attn-to-nvvm=hopper-loads=cp-async --convert-attn-to-nvvm=hopper-epilogue=tma"
  [hreg]="--convert-attn-to-nvvm=hopper-epilogue=registers"
  [hbn64]="--convert-attn-to-nvvm=hopper-block-n=64"
  [hst3]="--convert-attn-to-nvvm=hopper-stages=3"
  [hpp]="$pp" [hnopp]="$nopp"
  [hqpf]="--convert-attn-to-nvvm=hopper-q-prefetch=true"
  [hnoqpf]="--convert-attn-to-nvvm=hopper-q-prefetch=false"
  [hpx0]="--convert-attn-to-nvvm=hopper-poly-exp2=0"
  [hpx1]="--convert-attn-to-nvvm=hopper-poly-exp2=1"
  [hpx2]="--convert-attn-to-nvvm=hopper-poly-exp2=2"
  [hpx3]="--convert-attn-to-nvvm=hopper-poly-exp2=3"
  [hpx4]="--convert-attn-to-nvvm=hopper-poly-exp2=4"
  [hpx5]="--convert-attn-to-nvvm=hopper-poly-exp2=5"
  [hpx8]="--convert-attn-to-nvvm=hopper-poly-exp2=8"
  [htree]="--convert-attn-to-nvvm=hopper-tree-reductions=true"
  [hnotree]="--convert-attn-to-nvvm=hopper-tree-reductions=false"
  [hc3]="--convert-attn-to-nvvm=hopper-consumers=3"
  [hc3dyn3]="--convert-attn-to-nvvm=hopper-consumers=3 --convert-attn-to-nvvm=hopper-persistent=3 --convert-attn-to-nvvm=hopper-scheduler=dynamic"
  [hc3epi]="--convert-attn-to-nvvm=hopper-consumers=3 --convert-attn-to-nvvm=hopper-epilogue=tma"
  [hc3nopp]="--convert-attn-to-nvvm=hopper-consumers=3 $nopp"
  [hc2]="--convert-attn-to-nvvm=hopper-consumers=2"
  [hst3c3]="--convert-attn-to-nvvm=hopper-consumers=3 --convert-attn-to-nvvm=hopper-stages=3"
)
# HOPPER_CHECK_VARIANTS: every check again under each listed schedule,
# but those whose base name matches HOPPER_CHECK_SKIP (a regex: e.g.
# 'st3_.*d128', whose 3 stages leave no room for the O tile of hepi*).
base_checks=("${variants[@]}")
for tag in ${HOPPER_CHECK_VARIANTS:-}; do
  for v in "${base_checks[@]}"; do
    name="${v%%|*}"; flags="${v#*|}"
    if [ -n "${HOPPER_CHECK_SKIP:-}" ] && [[ "$name" =~ $HOPPER_CHECK_SKIP ]]; then continue; fi
    variants+=("check_${tag}_${name#check_h_}|$flags ${schedule[$tag]}")
  done
done
# HOPPER_BENCH_SET=overlap: only the schedule A/B (HOPPER_BENCH_VARIANTS)
# on the bench shapes (HOPPER_BENCH_SHAPES: "D,L" pairs, gqa and gqa81), plus
# HOPPER_BENCH_EXTRA.
if [ "${HOPPER_BENCH_SET:-}" = overlap ]; then
  for shape in ${HOPPER_BENCH_SHAPES:-128,4096 128,16384 64,4096 gqa}; do
    if [ "$shape" = gqa ]; then
      sets=("gqa_l4096|--batch=4 --heads-q=32 --heads-kv=8 --seq-q=4096 --seq-k=4096 --head-dim=128")
    elif [ "$shape" = gqa81 ]; then
      # GQA 8/1 (Hq * D = 2048, B * L = 16k).
      sets=("gqa81_l4096|--batch=4 --heads-q=16 --heads-kv=2 --seq-q=4096 --seq-k=4096 --head-dim=128")
    else
      IFS=, read -r d l <<< "$shape"
      h=$((2048 / d)); b=$((16384 / l))
      sets=("d${d}_l${l}|--batch=$b --heads-q=$h --heads-kv=$h --seq-q=$l --seq-k=$l --head-dim=$d")
    fi
    for mask in none causal; do
      tag="${sets[0]%%|*}_${mask}"
      s="${sets[0]#*|} --mask=$mask --lse=false"
      for sched in ${HOPPER_BENCH_VARIANTS:-hopper hserial hov hovpp mma128x4x64}; do
        if [ "$sched" = mma128x4x64 ]; then
          variants+=("bench_${tag}_${sched}|$mma $s --convert-attn-to-nvvm=block-m=128,num-warps=4,block-n=64")
        else
          variants+=("bench_${tag}_${sched}|$hop $s ${schedule[$sched]}")
        fi
      done
      # HOPPER_BENCH_EXTRA: "variant:regex" pairs, the variant on the shapes
      # whose tag matches (e.g. hdynq:^d64 where it differs from hdyn).
      for extra in ${HOPPER_BENCH_EXTRA:-}; do
        if [[ "$tag" =~ ${extra#*:} ]]; then
          variants+=("bench_${tag}_${extra%%:*}|$hop $s ${schedule[${extra%%:*}]}")
        fi
      done
    done
  done
fi
# Bench shapes (BENCHMARKS.md prefill: bf16, B*L = 16k, Hq*D = 2048) and GQA 32/8.
[ "${HOPPER_BENCH_SET:-}" = overlap ] || for shape in "128,4096" "128,16384" "64,4096"; do
  IFS=, read -r d l <<< "$shape"
  h=$((2048 / d)); b=$((16384 / l))
  for mask in none causal; do
    s="--batch=$b --heads-q=$h --heads-kv=$h --seq-q=$l --seq-k=$l --head-dim=$d --mask=$mask --lse=false"
    variants+=("bench_d${d}_l${l}_${mask}_hopper|$hop $s")
    variants+=("bench_d${d}_l${l}_${mask}_hst3|$hop $s --convert-attn-to-nvvm=hopper-stages=3")
    variants+=("bench_d${d}_l${l}_${mask}_hpp|$hop $s --convert-attn-to-nvvm=hopper-ping-pong=true")
    if [ "$d" = 64 ]; then
      variants+=("bench_d${d}_l${l}_${mask}_hst4|$hop $s --convert-attn-to-nvvm=hopper-stages=4")
    else
      variants+=("bench_d${d}_l${l}_${mask}_hbn64|$hop $s --convert-attn-to-nvvm=hopper-block-n=64")
      variants+=("bench_d${d}_l${l}_${mask}_hbn64st3|$hop $s --convert-attn-to-nvvm=hopper-block-n=64 --convert-attn-to-nvvm=hopper-stages=3")
    fi
    variants+=("bench_d${d}_l${l}_${mask}_mma128x4x64|$mma $s --convert-attn-to-nvvm=block-m=128,num-warps=4,block-n=64")
  done
done
[ "${HOPPER_BENCH_SET:-}" = overlap ] || for mask in none causal; do
  s="--batch=4 --heads-q=32 --heads-kv=8 --seq-q=4096 --seq-k=4096 --head-dim=128 --mask=$mask --lse=false"
  variants+=("bench_gqa_l4096_${mask}_hopper|$hop $s")
  variants+=("bench_gqa_l4096_${mask}_hst3|$hop $s --convert-attn-to-nvvm=hopper-stages=3")
  variants+=("bench_gqa_l4096_${mask}_hbn64|$hop $s --convert-attn-to-nvvm=hopper-block-n=64")
  variants+=("bench_gqa_l4096_${mask}_hpp|$hop $s --convert-attn-to-nvvm=hopper-ping-pong=true")
  variants+=("bench_gqa_l4096_${mask}_mma128x4x64|$mma $s --convert-attn-to-nvvm=block-m=128,num-warps=4,block-n=64")
done
# HOPPER_BASELINE=BUILD: every bench_*_hopper kernel (the defaults) again
# from BUILD/bin/attn-compile, tagged hbase: the A of an A/B in one call
# (e.g. /work/main/build against this tree's build).
for v in "${variants[@]}"; do
  name="${v%%|*}"; flags="${v#*|}"
  compilers=("$compile|$name")
  if [ -n "${HOPPER_BASELINE:-}" ] && [[ "$name" == bench_*_hopper ]]; then
    compilers+=("$HOPPER_BASELINE/bin/attn-compile|${name%_hopper}_hbase")
  fi
  for c in "${compilers[@]}"; do
    tool="${c%%|*}"; kname="${c#*|}"
    # shellcheck disable=SC2086
    if ! out=$("$tool" --target=ptx $flags -o "$dest/kernels/$kname" 2>&1); then
      echo "COMPILE FAILED $kname: $(echo "$out" | tail -3)" >&2; exit 1
    fi
    echo "$flags" > "$dest/kernels/$kname.flags"
    rm -f "$dest/kernels/$kname.ptx"
  done
done
cp "$root/bench/hopper_bench.py" "$root/bench/hopper_ncu.py" "$root/bench/device_bench.py" "$root/bench/decode_bench.py" \
   "$root/bench/operand_bench.py" "$root/bench/hopper_stalls.sh" "$root/bench/hopper_tma_run.sh" "$dest/"
# The runtime's sources (built on the device with ATTN_RUNTIME_ONLY: it
# builds the tensor maps of TMA kernels at launch).
mkdir -p "$dest/src"
cp -r "$root/CMakeLists.txt" "$root/cmake" "$root/lib" "$root/include" "$root/test" "$dest/src/"
echo "staged $(ls "$dest/kernels" | wc -l) files in $dest ($(du -sh "$dest" | cut -f1))"
