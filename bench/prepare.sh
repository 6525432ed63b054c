#!/usr/bin/env bash
# Compiles every benchmark and check kernel with attn-compile (here, where
# LLVM/MLIR live) and stages them, the runtime sources and the harness into
# DEST (default /work/main/.device), the folder the device call carries.
# Usage: bench/prepare.sh [build-dir] [dest]
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
build="${1:-$root/build}"
dest="${2:-/work/main/.device}"
compile="$build/bin/attn-compile"
rm -rf "$dest"
mkdir -p "$dest/kernels"

# Tile configurations tried on every benchmark shape: block-m,num-warps,block-n.
# ATTN_CHECKS_ONLY=1 stages the correctness variants alone.
# ATTN_ONLY=prefill|decode|dynamic|operands stages one part (plus
# runtime_test, which device_run.sh needs; operands: the check_op_ and
# bench_op_ kernels alone); default all.
# ATTN_DECODE_SPLITS="0 4 16": decode num-splits values staged for every
# timed decode shape (0 = the compiler's heuristic, flag omitted; N > 0 adds a
# kernel named ..._sN). Default "0".
# ATTN_KEEP_GOING=1: a kernel that fails to compile is logged and skipped
# (exit 0); otherwise the rest is still staged but the script exits 1.
configs="${ATTN_BENCH_CONFIGS:-128,4,64 128,4,32 256,8,64 64,4,64}"
[ -n "${ATTN_CHECKS_ONLY:-}" ] && configs=""
only="${ATTN_ONLY:-all}"
# ATTN_BENCH_GPU: the GPU the cost model tiles for (attn-compile --gpu,
# which tile-model=auto follows); default h200, the device these kernels
# are timed on (without it the variants' default sm_80 chip models an
# A100: e.g. 1 split for MHA B=1 8k decode, 32 CTAs on 132 SMs).
gpu="${ATTN_BENCH_GPU:-h200}"
decode_splits="${ATTN_DECODE_SPLITS:-0}"
# name | attn-compile flags
variants=()
if [ "$only" = all ] || [ "$only" = prefill ]; then
# Prefill benchmark shapes (BENCHMARKS.md): bf16, B*L = 16k, Hq*D = 2048.
for d in 64 128; do
  h=$((2048 / d))
  for l in 1024 4096 16384; do
    b=$((16384 / l))
    for mask in none causal; do
      for cfg in $configs; do
        IFS=, read -r bm w bn <<< "$cfg"
        variants+=("bench_d${d}_l${l}_${mask}_m${bm}w${w}n${bn}|--batch=$b --heads-q=$h --heads-kv=$h --seq-q=$l --seq-k=$l --head-dim=$d --mask=$mask --lse=false --convert-attn-to-nvvm=block-m=$bm,num-warps=$w,block-n=$bn")
      done
    done
  done
done
for mask in none causal; do
  for cfg in $configs; do
    IFS=, read -r bm w bn <<< "$cfg"
    variants+=("bench_gqa_l4096_${mask}_m${bm}w${w}n${bn}|--batch=4 --heads-q=32 --heads-kv=8 --seq-q=4096 --seq-k=4096 --head-dim=128 --mask=$mask --lse=false --convert-attn-to-nvvm=block-m=$bm,num-warps=$w,block-n=$bn")
  done
done
# Correctness variants: tails, masks, softcap, f16, MQA, LSE.
variants+=(
  "check_tail_causal_br|--batch=2 --heads-q=4 --heads-kv=2 --seq-q=200 --seq-k=333 --head-dim=64 --mask=causal"
  "check_tail_causal_tl|--batch=1 --heads-q=4 --heads-kv=4 --seq-q=333 --seq-k=200 --head-dim=128 --mask=causal-top-left"
  "check_window|--batch=1 --heads-q=8 --heads-kv=1 --seq-q=777 --seq-k=1000 --head-dim=128 --mask=sliding-window --window-left=100 --window-right=20"
  "check_softcap_f16|--batch=2 --heads-q=4 --heads-kv=4 --seq-q=256 --seq-k=256 --head-dim=64 --mask=none --dtype=f16 --softcap=30"
  "check_mqa_d128|--batch=1 --heads-q=8 --heads-kv=1 --seq-q=512 --seq-k=640 --head-dim=128 --mask=none"
  "check_br_lq_gt_lk|--batch=1 --heads-q=2 --heads-kv=2 --seq-q=300 --seq-k=100 --head-dim=64 --mask=causal"
  "check_m64_window|--batch=1 --heads-q=4 --heads-kv=2 --seq-q=500 --seq-k=500 --head-dim=64 --mask=sliding-window --window-left=64 --window-right=0 --convert-attn-to-nvvm=block-m=64"
  "check_w8_f16_causal|--batch=1 --heads-q=4 --heads-kv=4 --seq-q=1000 --seq-k=1000 --head-dim=128 --mask=causal --dtype=f16 --convert-attn-to-nvvm=num-warps=8"
  "check_plain_gqa_causal|--batch=2 --heads-q=8 --heads-kv=2 --seq-q=512 --seq-k=512 --head-dim=128 --mask=causal"
  "check_smod_relbias_gqa_causal|--batch=2 --heads-q=8 --heads-kv=2 --seq-q=512 --seq-k=512 --head-dim=128 --mask=causal --score-mod=relative-bias"
  "check_smod_tanhcap_gqa_causal|--batch=2 --heads-q=8 --heads-kv=2 --seq-q=512 --seq-k=512 --head-dim=128 --mask=causal --score-mod=tanh-cap"
  "check_alibi_gqa_causal|--batch=2 --heads-q=8 --heads-kv=2 --seq-q=512 --seq-k=512 --head-dim=128 --mask=causal --alibi"
  "check_alibi_relbias_tail|--batch=2 --heads-q=4 --heads-kv=2 --seq-q=200 --seq-k=333 --head-dim=64 --mask=causal --alibi --score-mod=relative-bias"
  "check_smod_softcap_window_f16|--batch=1 --heads-q=4 --heads-kv=1 --seq-q=300 --seq-k=400 --head-dim=64 --mask=sliding-window --window-left=64 --window-right=8 --dtype=f16 --softcap=30 --score-mod=tanh-cap"
)
# Head dims (issue #15): every kernel family takes D and Dv multiples of 16
# in [32, 256]. Lq = Lk = 300 (tails in both; torch flash as the yardstick
# for causal too), GQA 8/2, LSE.
for d in 32 64 80 96 128 160 192 256; do
  for mask in none causal; do
    variants+=("check_hd_d${d}_${mask}|--batch=2 --heads-q=8 --heads-kv=2 --seq-q=300 --seq-k=300 --head-dim=$d --mask=$mask")
  done
done
variants+=(
  # Copies whose last pass is partial (6 chunks x 32 keys over 128 threads;
  # 10 x 32 over 256), 16 rows per warp at D = 256 with 8 warps, f16.
  "check_hd_d48_n32_causal|--batch=2 --heads-q=8 --heads-kv=2 --seq-q=300 --seq-k=300 --head-dim=48 --mask=causal --convert-attn-to-nvvm=block-n=32"
  "check_hd_d80_w8n32_none|--batch=2 --heads-q=8 --heads-kv=2 --seq-q=300 --seq-k=300 --head-dim=80 --mask=none --convert-attn-to-nvvm=num-warps=8,block-n=32"
  "check_hd_d256_w8_causal|--batch=2 --heads-q=8 --heads-kv=2 --seq-q=300 --seq-k=300 --head-dim=256 --mask=causal --convert-attn-to-nvvm=num-warps=8,block-m=256"
  "check_hd_d96_f16_window|--batch=1 --heads-q=4 --heads-kv=1 --seq-q=300 --seq-k=400 --head-dim=96 --mask=sliding-window --window-left=64 --window-right=8 --dtype=f16 --softcap=30"
  # Dv != D: MLA prefill (192/128) and a V wider than K.
  "check_hd_mla_none|--batch=2 --heads-q=8 --heads-kv=2 --seq-q=300 --seq-k=300 --head-dim=192 --value-head-dim=128 --mask=none"
  "check_hd_mla_causal|--batch=2 --heads-q=8 --heads-kv=2 --seq-q=300 --seq-k=300 --head-dim=192 --value-head-dim=128 --mask=causal"
  "check_hd_mla_alibi_causal|--batch=1 --heads-q=4 --heads-kv=4 --seq-q=200 --seq-k=333 --head-dim=192 --value-head-dim=128 --mask=causal --alibi"
  "check_hd_d64_dv128_causal|--batch=2 --heads-q=8 --heads-kv=2 --seq-q=300 --seq-k=300 --head-dim=64 --value-head-dim=128 --mask=causal"
)
# Layouts (issue #15): BSHD Q, K, V and O ([B, L, H, D], the buffers behind
# torch's x.transpose(1, 2)); the harness passes the BSHD copies of its BHSD
# inputs and reads O back through .transpose(1, 2). Prefill causal D = 128
# and D = 64 (tails), GQA, decode (the decode family, no key_lengths: the
# prefill harness), hopper on sm_90a.
variants+=(
  "check_bshd_causal_d128|--bshd --batch=2 --heads-q=4 --heads-kv=4 --seq-q=1000 --seq-k=1000 --head-dim=128 --mask=causal"
  "check_bshd_causal_d64_tail|--bshd --batch=2 --heads-q=4 --heads-kv=2 --seq-q=200 --seq-k=333 --head-dim=64 --mask=causal"
  "check_bshd_gqa_none|--bshd --batch=2 --heads-q=8 --heads-kv=2 --seq-q=300 --seq-k=300 --head-dim=128 --mask=none"
  "check_bshd_mla_causal|--bshd --batch=2 --heads-q=8 --heads-kv=2 --seq-q=300 --seq-k=300 --head-dim=192 --value-head-dim=128 --mask=causal"
  "check_bshd_decodefamily_gqa|--bshd --batch=3 --heads-q=8 --heads-kv=2 --seq-q=1 --seq-k=1000 --head-dim=128 --mask=none"
  "check_bshd_decodefamily_lq2_split7|--bshd --batch=2 --heads-q=16 --heads-kv=2 --seq-q=2 --seq-k=1000 --head-dim=64 --mask=none --convert-attn-to-nvvm=num-splits=7"
  "check_bshd_hopper_causal_d128|--bshd --chip=sm_90a --cubin-arch=sm_90a --convert-attn-to-nvvm=kernel=hopper --batch=2 --heads-q=4 --heads-kv=2 --seq-q=1000 --seq-k=1000 --head-dim=128 --mask=causal"
  "check_bshd_hopper_d64_tail|--bshd --chip=sm_90a --cubin-arch=sm_90a --convert-attn-to-nvvm=kernel=hopper --batch=1 --heads-q=4 --heads-kv=4 --seq-q=333 --seq-k=200 --head-dim=64 --mask=causal-top-left"
)
# BSHD against BHSD on one timed shape (the bench_d128_l4096_* rows): the
# same tiles, expected at the same speed.
for mask in none causal; do
  for cfg in $configs; do
    IFS=, read -r bm w bn <<< "$cfg"
    variants+=("bench_bshd_d128_l4096_${mask}_m${bm}w${w}n${bn}|--bshd --batch=4 --heads-q=16 --heads-kv=16 --seq-q=4096 --seq-k=4096 --head-dim=128 --mask=$mask --lse=false --convert-attn-to-nvvm=block-m=$bm,num-warps=$w,block-n=$bn")
  done
done
# Timed head-dim shapes: B * L = 16k, L = 4096; D = 96 (16 heads), D = 256
# (8 heads), MLA prefill D = 192, Dv = 128 (16 heads). Past D = 128 the
# kernel caps block-m at 16 rows per warp (the names keep the requested
# config; the manifest records the planned one).
for hd in d96,96,0,16 d256,256,0,8 mla_d192v128,192,128,16; do
  IFS=, read -r tag d dv h <<< "$hd"
  for mask in none causal; do
    for cfg in $configs; do
      IFS=, read -r bm w bn <<< "$cfg"
      variants+=("bench_${tag}_l4096_${mask}_m${bm}w${w}n${bn}|--batch=4 --heads-q=$h --heads-kv=$h --seq-q=4096 --seq-k=4096 --head-dim=$d --value-head-dim=$dv --mask=$mask --lse=false --convert-attn-to-nvvm=block-m=$bm,num-warps=$w,block-n=$bn")
    done
  done
done
fi
variants+=("runtime_test|--batch=1 --heads-q=2 --heads-kv=1 --seq-q=100 --seq-k=130 --head-dim=64 --mask=causal")

if [ "$only" = all ] || [ "$only" = decode ]; then
# Decode benchmark shapes (BENCHMARKS.md): bf16, one query token, D=128,
# GQA 32/8 and MHA 32/32, (B, Lk) in (1, 8k) (16, 4k) (64, 2k) (8, 32k),
# contiguous and paged (page 16) KV, runtime key lengths.
# Names: decode_<gqa|mha>_b<B>_l<Lk>_<contig|paged>[_s<splits>].
dec="--seq-q=1 --head-dim=128 --mask=none --lse=false --key-lengths"
if [ -z "${ATTN_CHECKS_ONLY:-}" ]; then
  for kv in gqa,8 mha,32; do
    IFS=, read -r kind hkv <<< "$kv"
    for bl in 1,8192 16,4096 64,2048 8,32768; do
      IFS=, read -r b l <<< "$bl"
      for layout in contig paged; do
        for s in $decode_splits; do
          suffix=""; extra=""
          [ "$s" != 0 ] && { suffix="_s$s"; extra=" --convert-attn-to-nvvm=num-splits=$s"; }
          [ "$layout" = paged ] && extra="$extra --page-size=16"
          variants+=("decode_${kind}_b${b}_l${l}_${layout}${suffix}|--batch=$b --heads-q=32 --heads-kv=$hkv --seq-k=$l $dec$extra")
        done
      done
    done
  done
fi
# Decode correctness variants. The harness draws key lengths at run time:
# one sequence of full length, one of length 1 (B >= 3), the rest random;
# "zero" in the name makes one sequence empty (O = 0, LSE = -inf). Paged
# variants use Lk divisible by the page size.
g82="--heads-q=8 --heads-kv=2 --head-dim=128"
variants+=(
  "check_decode_ragged_gqa_contig|--batch=3 $g82 --seq-q=1 --seq-k=1000 --mask=none --lse=false --key-lengths"
  "check_decode_ragged_zero_gqa_contig|--batch=4 $g82 --seq-q=1 --seq-k=1000 --mask=none --lse=false --key-lengths"
  "check_decode_ragged_gqa_paged16|--batch=3 $g82 --seq-q=1 --seq-k=1024 --mask=none --lse=false --key-lengths --page-size=16"
  "check_decode_ragged_zero_gqa_paged64|--batch=4 $g82 --seq-q=1 --seq-k=1024 --mask=none --lse=false --key-lengths --page-size=64"
  "check_decode_mha_contig|--batch=3 --heads-q=8 --heads-kv=8 --head-dim=128 --seq-q=1 --seq-k=2000 --mask=none --lse=false --key-lengths"
  "check_decode_mha_paged16|--batch=3 --heads-q=8 --heads-kv=8 --head-dim=128 --seq-q=1 --seq-k=2048 --mask=none --lse=false --key-lengths --page-size=16"
  "check_decode_mqa_contig|--batch=3 --heads-q=8 --heads-kv=1 --head-dim=128 --seq-q=1 --seq-k=1000 --mask=none --lse=false --key-lengths"
  "check_decode_f16_gqa_contig|--batch=3 $g82 --seq-q=1 --seq-k=1000 --mask=none --lse=false --key-lengths --dtype=f16"
  "check_decode_f16_gqa_paged16|--batch=3 $g82 --seq-q=1 --seq-k=1024 --mask=none --lse=false --key-lengths --dtype=f16 --page-size=16"
  "check_decode_lse_zero_gqa_contig|--batch=4 $g82 --seq-q=1 --seq-k=1000 --mask=none --lse --key-lengths"
  "check_decode_lse_zero_gqa_paged64|--batch=4 $g82 --seq-q=1 --seq-k=1024 --mask=none --lse --key-lengths --page-size=64"
  "check_decode_long_gqa_contig|--batch=2 --heads-q=32 --heads-kv=8 --head-dim=128 --seq-q=1 --seq-k=20000 --mask=none --lse --key-lengths"
  "check_decode_long_gqa_paged16|--batch=2 --heads-q=32 --heads-kv=8 --head-dim=128 --seq-q=1 --seq-k=20000 --mask=none --lse --key-lengths --page-size=16"
  "check_decode_split7_gqa_contig|--batch=3 $g82 --seq-q=1 --seq-k=1000 --mask=none --lse --key-lengths --convert-attn-to-nvvm=num-splits=7"
  "check_decode_split1_gqa_paged16|--batch=3 $g82 --seq-q=1 --seq-k=1024 --mask=none --lse --key-lengths --convert-attn-to-nvvm=num-splits=1 --page-size=16"
  "check_decode_append1_gqa_contig|--batch=3 $g82 --seq-q=1 --seq-k=1000 --mask=none --lse --key-lengths --append-tokens=1"
  "check_decode_append1_zero_split5_gqa_contig|--batch=4 $g82 --seq-q=1 --seq-k=1000 --mask=none --lse --key-lengths --append-tokens=1 --convert-attn-to-nvvm=num-splits=5"
  "check_decode_append4_chunked_causal_mqa_contig|--batch=3 --heads-q=4 --heads-kv=1 --head-dim=128 --seq-q=4 --seq-k=700 --mask=causal --lse --key-lengths --append-tokens=4"
  "check_decode_chunked_causal_contig|--batch=3 $g82 --seq-q=3 --seq-k=1000 --mask=causal --lse --key-lengths"
  "check_decode_chunked_causal_zero_paged16|--batch=4 $g82 --seq-q=3 --seq-k=1024 --mask=causal --lse --key-lengths --page-size=16"
  # Chunked prefill on the prefill kernel (Hq / Hkv * Lq > 16): lengths
  # shorter than Lq leave rows (or, for len 0, whole Q blocks) seeing nothing.
  "check_decode_chunked64_causal_gqa_paged16|--batch=3 $g82 --seq-q=64 --seq-k=1024 --mask=causal --lse --key-lengths --page-size=16"
  "check_decode_chunked128_causal_zero_contig|--batch=4 $g82 --seq-q=128 --seq-k=1000 --mask=causal --lse --key-lengths"
  "check_decode_chunked64_window_paged64|--batch=3 $g82 --seq-q=64 --seq-k=1024 --mask=sliding-window --window-left=100 --window-right=0 --lse --key-lengths --page-size=64"
  # Several Q blocks (block-m 64, an Lq tail) and ALiBi with len_b - Lq.
  "check_decode_chunked200_alibi_m64_zero_paged16|--batch=4 $g82 --seq-q=200 --seq-k=1024 --mask=causal --lse --key-lengths --page-size=16 --alibi --convert-attn-to-nvvm=block-m=64"
  # Score modifiers (harness: float64 reference, fixed bound, no flash yardstick).
  "check_decode_alibi_gqa_contig|--batch=3 $g82 --seq-q=1 --seq-k=1000 --mask=none --lse --key-lengths --alibi"
  "check_decode_smod_relbias_gqa_paged16|--batch=3 $g82 --seq-q=1 --seq-k=1024 --mask=none --lse --key-lengths --page-size=16 --score-mod=relative-bias"
  "check_decode_smod_tanhcap_gqa_paged16|--batch=3 $g82 --seq-q=1 --seq-k=1024 --mask=none --lse --key-lengths --page-size=16 --score-mod=tanh-cap"
  "check_decode_softcap_f16_gqa_contig|--batch=3 $g82 --seq-q=1 --seq-k=1000 --mask=none --lse --key-lengths --dtype=f16 --softcap=30"
  # Head dim 64.
  "check_decode_d64_gqa_contig|--batch=3 --heads-q=8 --heads-kv=2 --head-dim=64 --seq-q=1 --seq-k=1000 --mask=none --lse --key-lengths"
  "check_decode_d64_zero_gqa_paged64|--batch=4 --heads-q=8 --heads-kv=2 --head-dim=64 --seq-q=1 --seq-k=1024 --mask=none --lse --key-lengths --page-size=64"
  # Masks whose visible set is a range [lo, hi) or a top-left prefix.
  "check_decode_window_gqa_contig|--batch=3 $g82 --seq-q=1 --seq-k=1000 --mask=sliding-window --window-left=100 --window-right=0 --lse --key-lengths"
  "check_decode_window_lq4_zero_mqa_contig|--batch=4 --heads-q=4 --heads-kv=1 --head-dim=128 --seq-q=4 --seq-k=1000 --mask=sliding-window --window-left=100 --window-right=0 --lse --key-lengths"
  "check_decode_causal_tl_zero_gqa_contig|--batch=4 $g82 --seq-q=2 --seq-k=1000 --mask=causal-top-left --lse --key-lengths"
  # Many splits: merged in batches of 8 plus a remainder.
  "check_decode_split40_gqa_contig|--batch=3 $g82 --seq-q=1 --seq-k=4000 --mask=none --lse --key-lengths --convert-attn-to-nvvm=num-splits=40"
  # Decode tiling options.
  "check_decode_w4_kpw32_st2_gqa_contig|--batch=3 $g82 --seq-q=1 --seq-k=1000 --mask=none --lse --key-lengths --convert-attn-to-nvvm=decode-num-warps=4,decode-keys-per-warp=32,decode-stages=2"
  "check_decode_w4_kpw16_st4_gqa_contig|--batch=3 $g82 --seq-q=1 --seq-k=1000 --mask=none --lse --key-lengths --convert-attn-to-nvvm=decode-num-warps=4,decode-keys-per-warp=16,decode-stages=4"
  "check_decode_kpw16_st2_gqa_paged16|--batch=3 $g82 --seq-q=1 --seq-k=1024 --mask=none --lse --key-lengths --convert-attn-to-nvvm=decode-keys-per-warp=16,decode-stages=2 --page-size=16"
)
# Head dims (issue #15) on the decode kernel, and chunked prefill (the
# prefill kernel's view path) at widths that are no power of two; D = 256
# streams with 4 warps; MLA-shaped D = 192, Dv = 128 (contiguous, paged,
# appended, split).
for d in 32 80 96 160 192 256; do
  variants+=("check_decode_hd${d}_gqa_contig|--batch=3 --heads-q=8 --heads-kv=2 --head-dim=$d --seq-q=1 --seq-k=1000 --mask=none --lse --key-lengths")
done
mla="--heads-q=8 --heads-kv=2 --head-dim=192 --value-head-dim=128"
variants+=(
  "check_decode_hd96_zero_gqa_paged16|--batch=4 --heads-q=8 --heads-kv=2 --head-dim=96 --seq-q=1 --seq-k=1024 --mask=none --lse --key-lengths --page-size=16"
  "check_decode_hd256_split7_gqa_paged16|--batch=3 --heads-q=8 --heads-kv=2 --head-dim=256 --seq-q=1 --seq-k=1024 --mask=none --lse --key-lengths --page-size=16 --convert-attn-to-nvvm=num-splits=7"
  "check_decode_hd80_causal_lq3_gqa_contig|--batch=3 --heads-q=8 --heads-kv=2 --head-dim=80 --seq-q=3 --seq-k=1000 --mask=causal --lse --key-lengths"
  "check_decode_hd96_chunked64_causal_paged16|--batch=3 --heads-q=8 --heads-kv=2 --head-dim=96 --seq-q=64 --seq-k=1024 --mask=causal --lse --key-lengths --page-size=16"
  # Partial copy passes on the view path (6 chunks x 32 keys over 128
  # threads), and Dv > D with chunk counts no power of two.
  "check_decode_hd48_chunked64_n32_causal_paged16|--batch=3 --heads-q=8 --heads-kv=2 --head-dim=48 --seq-q=64 --seq-k=1024 --mask=causal --lse --key-lengths --page-size=16 --convert-attn-to-nvvm=block-n=32"
  "check_decode_hd48v80_chunked64_n32_causal_contig|--batch=3 --heads-q=8 --heads-kv=2 --head-dim=48 --value-head-dim=80 --seq-q=64 --seq-k=1000 --mask=causal --lse --key-lengths --convert-attn-to-nvvm=block-n=32"
  "check_decode_hd256_chunked128_zero_contig|--batch=4 --heads-q=8 --heads-kv=2 --head-dim=256 --seq-q=128 --seq-k=1000 --mask=causal --lse --key-lengths"
  "check_decode_mla_gqa_contig|--batch=3 $mla --seq-q=1 --seq-k=1000 --mask=none --lse --key-lengths"
  "check_decode_mla_zero_gqa_paged16|--batch=4 $mla --seq-q=1 --seq-k=1024 --mask=none --lse --key-lengths --page-size=16"
  "check_decode_mla_append1_split5_gqa_contig|--batch=3 $mla --seq-q=1 --seq-k=1000 --mask=none --lse --key-lengths --append-tokens=1 --convert-attn-to-nvvm=num-splits=5"
  "check_decode_mla_chunked64_causal_paged16|--batch=3 $mla --seq-q=64 --seq-k=1024 --mask=causal --lse --key-lengths --page-size=16"
  "check_decode_mla_chunked128_zero_contig|--batch=4 $mla --seq-q=128 --seq-k=1000 --mask=causal --lse --key-lengths"
)
fi
# Score operands (issue #15; bench/operand_bench.py): bias, boolean masks,
# mask_mod and sinks, checked against float64 with inputs built from each
# manifest (names check_op_*), and timed against FlexAttention and SDPA
# with attn_mask at D = 128, L = 4096 (bench_op_*). Entries: name | cubin
# arch | attn-compile spec flags, or @file.mlir followed by the harness's
# flags (the mask kind of the file's op).
op_variants=()
if [ "$only" != decode ]; then
g82="--heads-q=8 --heads-kv=2 --head-dim=128"
op_variants+=(
  "check_op_bias_causal_tail|sm_90|--batch=2 $g82 --seq-q=300 --seq-k=333 --mask=causal --bias"
  "check_op_bias_heads_causal|sm_90|@bench/mlir/op_bias_heads_causal.mlir --mask=causal"
  "check_op_boolmask_tail_d64|sm_90|--batch=2 --heads-q=4 --heads-kv=4 --head-dim=64 --seq-q=200 --seq-k=333 --mask=none --bool-mask"
  "check_op_maskmod_prefixlm|sm_90|--batch=2 $g82 --seq-q=512 --seq-k=512 --mask=none --mask-mod=prefix-lm"
  "check_op_sinks_causal|sm_90|--batch=2 $g82 --seq-q=300 --seq-k=300 --mask=causal --sinks=random"
  "check_op_sinks_empty_rows|sm_90|--batch=1 --heads-q=4 --heads-kv=4 --head-dim=64 --seq-q=300 --seq-k=100 --mask=causal --sinks=random"
  "check_op_all_f16_causal|sm_90|--batch=2 $g82 --seq-q=256 --seq-k=256 --mask=causal --dtype=f16 --bias --bool-mask --mask-mod=prefix-lm --sinks=random"
  "check_op_decode_bias_sinks|sm_90|--batch=3 $g82 --seq-q=1 --seq-k=1000 --mask=none --bias --sinks=random"
  "check_op_decode_bias_sinks_s1|sm_90|--batch=3 $g82 --seq-q=1 --seq-k=1000 --mask=none --bias --sinks=random --convert-attn-to-nvvm=num-splits=1"
  "check_op_decode_mask_heads|sm_90|@bench/mlir/op_mask_heads_decode.mlir --mask=none"
  "check_op_decode_maskmod_sinks_s4|sm_90|--batch=2 --heads-q=8 --heads-kv=2 --head-dim=64 --seq-q=4 --seq-k=700 --mask=causal --mask-mod=prefix-lm --sinks=random --convert-attn-to-nvvm=num-splits=4"
  # kernel=auto on sm_90a: the hopper kernel refuses a bias, prefill runs it.
  "check_op_hopper_fallback_bias|sm_90a|--batch=2 --heads-q=8 --heads-kv=8 --head-dim=128 --seq-q=512 --seq-k=512 --mask=causal --bias --chip=sm_90a --ptx-features=+ptx80"
  # Bias and mask tiles staged through shared memory (rows of Lk elements a
  # multiple of 16 bytes), with row and key tails.
  "check_op_bias_staged_tail|sm_90|--batch=2 $g82 --seq-q=300 --seq-k=328 --mask=causal --bias"
  "check_op_boolmask_staged_tail_d64|sm_90|--batch=2 --heads-q=4 --heads-kv=4 --head-dim=64 --seq-q=200 --seq-k=336 --mask=none --bool-mask"
  "check_op_bias_staged_m128_d64|sm_90|--batch=1 --heads-q=8 --heads-kv=2 --head-dim=64 --seq-q=520 --seq-k=512 --mask=none --bias --convert-attn-to-nvvm=tile-model=,block-m=128,block-n=64"
  # mask_mod regions classified per block: a sliding window and a document
  # mask as regions (no mask kind).
  "check_op_maskmod_window|sm_90|@bench/mlir/op_maskmod_window_check.mlir --mask=none --mask-mod=window-256"
  "check_op_maskmod_document|sm_90|@bench/mlir/op_maskmod_document_check.mlir --mask=none --mask-mod=document-1000-2500"
)
if [ -z "${ATTN_CHECKS_ONLY:-}" ]; then
  for mask in none causal; do
    t="--batch=4 --heads-q=16 --heads-kv=16 --head-dim=128 --seq-q=4096 --seq-k=4096 --mask=$mask --lse=false"
    op_variants+=(
      "bench_op_bias_l4096_$mask|sm_90|$t --bias"
      "bench_op_maskmod_l4096_$mask|sm_90|$t --mask-mod=prefix-lm"
      "bench_op_plain_l4096_$mask|sm_90|$t"
    )
  done
  op_variants+=(
    "bench_op_maskmod_window_l4096_none|sm_90|@bench/mlir/op_maskmod_window_l4096.mlir --mask=none --mask-mod=window-256"
    "bench_op_maskmod_document_l4096_none|sm_90|@bench/mlir/op_maskmod_document_l4096.mlir --mask=none --mask-mod=document-1000-2500"
  )
fi
fi
log="$dest/compile_times.txt"
: > "$log"
failed=()
# Compiles kernel NAME (attn-compile ARGS... for the bench's GPU) into
# $dest/kernels and records the flags the harness reads back (HARNESS); a
# failure is logged, its files removed and NAME added to `failed`.
compile_kernel() {
  local name="$1" harness="$2" out
  shift 2
  if ! out=$("$compile" --target=ptx --gpu="$gpu" "$@" -o "$dest/kernels/$name" 2>&1); then
    echo "COMPILE FAILED $name ($harness):" >&2
    echo "$out" | tail -5 >&2
    echo "$name: COMPILE FAILED" >> "$log"
    failed+=("$name")
    rm -f "$dest/kernels/$name".*
    return
  fi
  echo "$name: $(echo "$out" | grep -E 'spec -> PTX|ptxas' | tr -s ' ' | tr '\n' ' ')" >> "$log"
  echo "$harness" > "$dest/kernels/$name.flags"
}
for v in "${op_variants[@]}"; do
  IFS='|' read -r name arch flags <<< "$v"
  harness="$flags"
  if [[ "$flags" == @* ]]; then
    file="${flags%% *}"; file="$root/${file#@}"
    harness="${flags#* }"
    set -- "$file"
  else
    # shellcheck disable=SC2086
    set -- $flags
  fi
  compile_kernel "$name" "$harness" --cubin-arch="$arch" "$@"
done
for v in "${variants[@]}"; do
  name="${v%%|*}"
  flags="${v#*|}"
  # sm_90 cubins unless the variant names its own (sm_90a for wgmma).
  arch="--cubin-arch=sm_90"
  [[ "$flags" == *--cubin-arch=* ]] && arch=""
  # The harness reads each kernel's spec flags back.
  # shellcheck disable=SC2086
  compile_kernel "$name" "$flags" $arch $flags
done
# Runtime lengths (issue #15, bench/dynamic_bench.py): one prefill kernel
# over dynamic B, Lq, Lk (causal GQA 32/8, D = 128) and one decode kernel
# over a dynamic Lk (one query, GQA 32/8, B = 4), each with LSE for the
# checks and without for timing, and the static kernels of the timed shapes.
# ATTN_ONLY=dynamic stages it alone (plus runtime_test).
if [ "$only" = all ] || [ "$only" = dynamic ]; then
  mkdir -p "$dest/dynamic"
  gqa="--heads-q=32 --heads-kv=8 --head-dim=128 --mask=causal"
  dec="--batch=4 --heads-q=32 --heads-kv=8 --head-dim=128 --mask=none --seq-q=1"
  dynamic_variants=(
    "dyn_prefill_lse|$gqa --dynamic=batch,seq-q,seq-k --lse"
    "dyn_prefill|$gqa --dynamic=batch,seq-q,seq-k --lse=false"
    "dynref_b4_l4096|$gqa --batch=4 --seq-q=4096 --seq-k=4096 --lse=false"
    "dynref_b2_l1500|$gqa --batch=2 --seq-q=1500 --seq-k=1500 --lse=false"
    "dyn_decode_lse|$dec --dynamic=seq-k --lse"
    "dyn_decode|$dec --dynamic=seq-k --lse=false"
    "dynref_decode_b4_l4096|$dec --seq-k=4096 --lse=false"
    "dynref_decode_b4_l1000|$dec --seq-k=1000 --lse=false"
    "dynref_decode_b4_l32768|$dec --seq-k=32768 --lse=false"
  )
  for v in "${dynamic_variants[@]}"; do
    name="${v%%|*}"
    flags="${v#*|}"
    # shellcheck disable=SC2086
    if ! out=$("$compile" --target=ptx --cubin-arch=sm_90 --gpu="$gpu" $flags -o "$dest/dynamic/$name" 2>&1); then
      echo "COMPILE FAILED $name ($flags):" >&2
      echo "$out" | tail -5 >&2
      failed+=("$name")
      continue
    fi
    echo "$name: $(echo "$out" | grep -E 'spec -> PTX|ptxas' | tr -s ' ' | tr '\n' ' ')" >> "$log"
    echo "$flags" > "$dest/dynamic/$name.flags"
  done
  rm -f "$dest/dynamic/"*.ptx
fi
# The harness loads cubins; keep one PTX to exercise the PTX path.
find "$dest/kernels" -name "*.ptx" ! -name "runtime_test.ptx" -delete
mkdir -p "$dest/src"
cp -r "$root/CMakeLists.txt" "$root/cmake" "$root/lib" "$root/include" "$root/test" "$dest/src/"
cp -r /usr/src/googletest "$dest/googletest"
cp "$root"/bench/*.py "$root"/bench/*.sh "$dest/"
echo "staged $(ls "$dest/kernels" | wc -l) files in $dest ($(du -sh "$dest" | cut -f1))"
if [ ${#failed[@]} -gt 0 ]; then
  echo "${#failed[@]} kernels failed to compile: ${failed[*]}" >&2
  [ -n "${ATTN_KEEP_GOING:-}" ] || exit 1
fi
