#!/usr/bin/env bash
# Compiles the backward kernels (attn-compile --backward: three kernels per
# variant, manifests <name>.json, <name>.1.json, <name>.2.json in launch
# order) and stages them, the runtime sources and the harness into DEST
# (default <repo>/.device-bwd), the folder the device call carries.
# Usage: bench/backward_prepare.sh [build-dir] [dest]
# ATTN_CHECKS_ONLY=1 stages the correctness variants alone.
# ATTN_BWD_TARGET: the chip flags of every variant (default the H200's
# sm_90 with +ptx81, which dq-reduction=auto turns into red.global.add.v4).
# ATTN_BWD_FLAGS: flags added to every variant's compile, not to its
# .flags (e.g. --convert-attn-to-nvvm=tile-model= for the fixed 64 / 64 / 64
# tiles of the A side of an A/B: same names, same harness spec).
# ATTN_BWD_SET=tiles: the checks plus the 128-key configurations pinned,
# and the 14 benchmark shapes in the two dQ modes only (no atom / red-v4 /
# no-rotation side variants).
# ATTN_BWD_SET=headdims: the head-dim and Dv != D checks and timings alone.
# ATTN_BWD_SET=hoppermods: the hopper main kernel's modifier and operand
# checks and two timed shapes (flags as for ATTN_BWD_SET=hopper).
# ATTN_BWD_SET=hopper: the hopper main kernel's checks and the 14 prefill
# benchmark shapes (atomic dQ) alone, for ATTN_BWD_FLAGS=--bwd-kernel=hopper
# with ATTN_BWD_TARGET="--chip=sm_90a --ptx-features=+ptx81" and
# ATTN_BWD_CUBIN=sm_90a (the A side: the same set with
# --bwd-kernel=mma-sync on the default target).
# ATTN_BWD_CUBIN: the cubin arch (default sm_90; sm_90a for hopper PTX).
# ATTN_KERNELS_ONLY=1: kernels and compile times only (an A side's folder).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
build="${1:-$root/build}"
dest="${2:-$root/.device-bwd}"
compile="$build/bin/attn-compile"
target="${ATTN_BWD_TARGET---chip=sm_90 --ptx-features=+ptx81}"
cubin="${ATTN_BWD_CUBIN:-sm_90}"
rm -rf "$dest"
mkdir -p "$dest/kernels"
# name | attn-compile spec flags (the harness reads them back)
variants=(
  "bwd_check_plain_d128|--batch=2 --heads-q=4 --heads-kv=4 --seq-q=512 --seq-k=512 --head-dim=128 --mask=none"
  "bwd_check_causal_d64|--batch=1 --heads-q=4 --heads-kv=4 --seq-q=1000 --seq-k=1000 --head-dim=64 --mask=causal"
  "bwd_check_tail_causal_br_gqa|--batch=2 --heads-q=4 --heads-kv=2 --seq-q=200 --seq-k=333 --head-dim=64 --mask=causal"
  "bwd_check_tail_causal_tl|--batch=1 --heads-q=4 --heads-kv=4 --seq-q=333 --seq-k=200 --head-dim=128 --mask=causal-top-left"
  "bwd_check_br_lq_gt_lk|--batch=1 --heads-q=2 --heads-kv=2 --seq-q=300 --seq-k=100 --head-dim=64 --mask=causal"
  "bwd_check_window_mqa|--batch=1 --heads-q=8 --heads-kv=1 --seq-q=777 --seq-k=1000 --head-dim=128 --mask=sliding-window --window-left=100 --window-right=20"
  "bwd_check_softcap_f16|--batch=2 --heads-q=4 --heads-kv=4 --seq-q=256 --seq-k=256 --head-dim=64 --mask=none --dtype=f16 --softcap=30"
  "bwd_check_alibi_gqa_causal|--batch=2 --heads-q=8 --heads-kv=2 --seq-q=512 --seq-k=512 --head-dim=128 --mask=causal --alibi"
  "bwd_check_f16_causal_d128|--batch=1 --heads-q=4 --heads-kv=4 --seq-q=1000 --seq-k=1000 --head-dim=128 --mask=causal --dtype=f16"
  "bwd_check_det_tail_causal_br_gqa|--batch=2 --heads-q=4 --heads-kv=2 --seq-q=200 --seq-k=333 --head-dim=64 --mask=causal --deterministic"
  "bwd_check_det_window_mqa_d128|--batch=1 --heads-q=8 --heads-kv=1 --seq-q=777 --seq-k=1000 --head-dim=128 --mask=sliding-window --window-left=100 --window-right=20 --deterministic"
  "bwd_check_det_softcap_alibi_f16|--batch=1 --heads-q=4 --heads-kv=2 --seq-q=300 --seq-k=457 --head-dim=128 --mask=causal --softcap=20 --alibi --dtype=f16 --deterministic"
  "bwd_check_softcap_alibi_window_tail|--batch=1 --heads-q=4 --heads-kv=2 --seq-q=300 --seq-k=457 --head-dim=64 --mask=sliding-window --window-left=64 --window-right=8 --softcap=20 --alibi"
  # The other dq-reduction modes (the default is auto) on tails in both.
  "bwd_check_atom_tail_causal_br_gqa|--batch=2 --heads-q=4 --heads-kv=2 --seq-q=200 --seq-k=333 --head-dim=64 --mask=causal --dq-reduction=atom"
  "bwd_check_v2_tail_causal_tl_d128|--batch=1 --heads-q=4 --heads-kv=4 --seq-q=333 --seq-k=200 --head-dim=128 --mask=causal-top-left --dq-reduction=red-v2"
  # Lq a multiple of 16 but not of block m: every dq_accum row group is
  # tiled, the Q block past Lq adds nothing (the tails above cross a group).
  "bwd_check_lq336_causal_d128|--batch=1 --heads-q=4 --heads-kv=4 --seq-q=336 --seq-k=400 --head-dim=128 --mask=causal"
  "bwd_check_lq336_gqa_d64|--batch=2 --heads-q=4 --heads-kv=2 --seq-q=336 --seq-k=336 --head-dim=64 --mask=none"
  "bwd_check_atom_lq336_d64|--batch=1 --heads-q=4 --heads-kv=4 --seq-q=336 --seq-k=300 --head-dim=64 --mask=causal --dq-reduction=atom"
  # BSHD operands ([B, L, H, D]: every row through Q's or K's strides, the
  # convert's dQ rows too), in both dQ programs, each main kernel layout
  # (square warp tiles, 16 keys per warp at 64 and 128 keys), tails and a
  # fully tiled Lq.
  "bwd_check_bshd_tail_causal_br_gqa|--bshd --batch=2 --heads-q=4 --heads-kv=2 --seq-q=200 --seq-k=333 --head-dim=64 --mask=causal"
  "bwd_check_bshd_window_alibi_softcap_d128|--bshd --batch=1 --heads-q=8 --heads-kv=2 --seq-q=777 --seq-k=1000 --head-dim=128 --mask=sliding-window --window-left=100 --window-right=20 --alibi --softcap=20"
  "bwd_check_bshd_det_tail_causal_d128|--bshd --batch=2 --heads-q=4 --heads-kv=2 --seq-q=300 --seq-k=457 --head-dim=128 --mask=causal --deterministic"
  "bwd_check_bshd_lq336_f16_mqa|--bshd --batch=2 --heads-q=4 --heads-kv=1 --seq-q=336 --seq-k=400 --head-dim=64 --mask=none --dtype=f16"
  "bwd_check_bshd_t64_atom_tail_causal_tl|--bshd --batch=1 --heads-q=4 --heads-kv=4 --seq-q=333 --seq-k=200 --head-dim=128 --mask=causal-top-left --bwd-block-m=64 --bwd-block-n=64 --dq-reduction=atom"
  "bwd_check_bshd_rows128_tail_causal_br|--bshd --batch=1 --heads-q=8 --heads-kv=2 --seq-q=500 --seq-k=333 --head-dim=128 --mask=causal --bwd-block-n=128 --bwd-square-warp-tiles=false"
  # Score operands (the harness: backward_operands.py, fully masked rows
  # and a sequence of length 0 included): a constant bias (no d_bias), a
  # bool mask, key_lengths, on tails, GQA, causal in both alignments, both
  # dQ programs, both dtypes, square warp tiles and 16 keys per warp.
  "bwd_check_bias_tail_causal_br_gqa|--batch=2 --heads-q=4 --heads-kv=2 --seq-q=200 --seq-k=333 --head-dim=64 --mask=causal --bias --bias-grad=false"
  "bwd_check_mask_tail_d128_f16|--batch=2 --heads-q=4 --heads-kv=4 --seq-q=300 --seq-k=457 --head-dim=128 --mask=none --bool-mask --dtype=f16"
  "bwd_check_det_bias_mask_causal_tl_gqa_d128|--batch=1 --heads-q=8 --heads-kv=2 --seq-q=333 --seq-k=200 --head-dim=128 --mask=causal-top-left --bias --bool-mask --bias-grad=false --deterministic"
  "bwd_check_bias_softcap_alibi_window_f16|--batch=1 --heads-q=4 --heads-kv=2 --seq-q=300 --seq-k=457 --head-dim=64 --mask=sliding-window --window-left=64 --window-right=8 --softcap=20 --alibi --bias --bias-grad=false --dtype=f16"
  "bwd_check_sq_mask_causal_d64|--batch=2 --heads-q=4 --heads-kv=2 --seq-q=500 --seq-k=333 --head-dim=64 --mask=causal --bool-mask --bwd-block-n=128"
  "bwd_check_rows128_bias_d128|--batch=1 --heads-q=4 --heads-kv=4 --seq-q=256 --seq-k=300 --head-dim=128 --mask=none --bias --bias-grad=false --bwd-block-n=128 --bwd-square-warp-tiles=false"
  "bwd_check_klen_causal_br_gqa|--batch=3 --heads-q=4 --heads-kv=2 --seq-q=200 --seq-k=333 --head-dim=64 --mask=causal --key-lengths"
  "bwd_check_det_klen_alibi_f16_d128|--batch=3 --heads-q=4 --heads-kv=4 --seq-q=300 --seq-k=457 --head-dim=128 --mask=causal --alibi --key-lengths --dtype=f16 --deterministic"
  "bwd_check_klen_bias_window|--batch=2 --heads-q=4 --heads-kv=2 --seq-q=256 --seq-k=400 --head-dim=64 --mask=sliding-window --window-left=100 --window-right=20 --key-lengths --bias --bias-grad=false"
  "bwd_check_klen_mask_none_d128|--batch=3 --heads-q=4 --heads-kv=1 --seq-q=128 --seq-k=512 --head-dim=128 --mask=none --key-lengths --bool-mask"
  # Attention sinks (d_sinks by the fourth launch), alone and with the
  # other operands, both dQ programs and dtypes.
  "bwd_check_sinks_causal_gqa|--batch=2 --heads-q=4 --heads-kv=2 --seq-q=200 --seq-k=333 --head-dim=64 --mask=causal --sinks=random"
  "bwd_check_det_sinks_klen_mask_f16_d128|--batch=3 --heads-q=4 --heads-kv=4 --seq-q=300 --seq-k=457 --head-dim=128 --mask=causal --sinks=random --key-lengths --bool-mask --dtype=f16 --deterministic"
  "bwd_check_sinks_window_bias_softcap|--batch=1 --heads-q=8 --heads-kv=2 --seq-q=256 --seq-k=400 --head-dim=64 --mask=sliding-window --window-left=100 --window-right=20 --sinks=random --bias --bias-grad=false --softcap=20"
  # d_bias (BackwardBiasGradient.cpp): a full-shape bias' gradient stored
  # by the main kernel (both dQ programs, softcap, f16, square tiles and 16
  # keys per warp), broadcast biases summed with atomics (over B as a
  # relative-position bias, over heads and queries with key_lengths, with
  # sinks). A bias broadcast over keys has d_bias = sum_j dS_ij = 0 in exact
  # arithmetic: its f32 sum is all rounding (1.6e-2 against the eager
  # bf16 yardstick's 6e-3 on the H200), so no check takes it.
  "bwd_check_dbias_tail_causal_br_gqa|--batch=2 --heads-q=4 --heads-kv=2 --seq-q=200 --seq-k=333 --head-dim=64 --mask=causal --bias"
  "bwd_check_det_dbias_softcap_f16_d128|--batch=1 --heads-q=4 --heads-kv=2 --seq-q=300 --seq-k=257 --head-dim=128 --mask=none --softcap=20 --bias --dtype=f16 --deterministic"
  "bwd_check_sq_dbias_causal_d64|--batch=2 --heads-q=4 --heads-kv=2 --seq-q=500 --seq-k=333 --head-dim=64 --mask=causal --bias --bwd-block-n=128"
  "bwd_check_dbias_bcast_batch_causal|--batch=3 --heads-q=4 --heads-kv=4 --seq-q=256 --seq-k=300 --head-dim=64 --mask=causal --bias --bias-broadcast=batch"
  "bwd_check_dbias_bcast_heads_query_klen_window|--batch=2 --heads-q=8 --heads-kv=2 --seq-q=128 --seq-k=400 --head-dim=64 --mask=sliding-window --window-left=100 --window-right=20 --key-lengths --bias --bias-broadcast=heads,query"
  "bwd_check_dbias_bcast_batch_heads_sinks_d128|--batch=2 --heads-q=4 --heads-kv=2 --seq-q=200 --seq-k=333 --head-dim=128 --mask=causal --sinks=random --bias --bias-broadcast=batch,heads"
  "bwd_check_dbias_klen_lq_gt_lk_causal|--batch=3 --heads-q=4 --heads-kv=2 --seq-q=300 --seq-k=200 --head-dim=64 --mask=causal --key-lengths --bias"
)
# Head dims past 64 / 128 and Dv != D (the plan's tiles per D: D = 32, 48
# take 128 x 128, 80, 112 64 x 64 (5, 7 k16 pairs), 96 64 x 128 (dQ parts
# of 6 chunks), MLA 192 / 128 and 160 32 x 64 (the register rule); D not a
# multiple of 32 stores dq_accum natural): tails, GQA / MQA, causal, bf16
# and f16, both dQ programs, BSHD, atom reductions on the natural layout.
# ATTN_BWD_SET=headdims stages these and their timings alone.
headdim_checks=(
  "bwd_check_hd_d32_tail_causal_br_gqa|--batch=2 --heads-q=4 --heads-kv=2 --seq-q=200 --seq-k=333 --head-dim=32 --mask=causal"
  "bwd_check_hd_d48_f16_tail_none|--batch=1 --heads-q=4 --heads-kv=4 --seq-q=300 --seq-k=457 --head-dim=48 --mask=none --dtype=f16"
  "bwd_check_hd_d80_tail_causal_tl_gqa|--batch=1 --heads-q=4 --heads-kv=2 --seq-q=333 --seq-k=200 --head-dim=80 --mask=causal-top-left"
  "bwd_check_hd_d80_atom_lq336_mqa|--batch=2 --heads-q=4 --heads-kv=1 --seq-q=336 --seq-k=300 --head-dim=80 --mask=causal --dq-reduction=atom"
  "bwd_check_hd_d96_tail_causal_br_gqa|--batch=2 --heads-q=4 --heads-kv=2 --seq-q=200 --seq-k=333 --head-dim=96 --mask=causal"
  "bwd_check_hd_d96_f16_window_alibi|--batch=1 --heads-q=8 --heads-kv=2 --seq-q=777 --seq-k=1000 --head-dim=96 --mask=sliding-window --window-left=100 --window-right=20 --alibi --dtype=f16"
  "bwd_check_hd_d96_m128_lq336|--batch=1 --heads-q=4 --heads-kv=4 --seq-q=336 --seq-k=400 --head-dim=96 --mask=causal --bwd-block-m=128 --bwd-block-n=128"
  "bwd_check_hd_d112_f16_tail_causal|--batch=1 --heads-q=4 --heads-kv=4 --seq-q=300 --seq-k=457 --head-dim=112 --mask=causal --dtype=f16"
  "bwd_check_hd_d160_tail_causal_gqa|--batch=1 --heads-q=4 --heads-kv=2 --seq-q=300 --seq-k=457 --head-dim=160 --mask=causal"
  "bwd_check_hd_mla_tail_causal_gqa|--batch=2 --heads-q=4 --heads-kv=2 --seq-q=200 --seq-k=333 --head-dim=192 --value-head-dim=128 --mask=causal"
  "bwd_check_hd_mla_f16_softcap_none|--batch=1 --heads-q=4 --heads-kv=4 --seq-q=256 --seq-k=300 --head-dim=160 --value-head-dim=128 --mask=none --dtype=f16 --softcap=30"
  "bwd_check_hd_mla_bshd_lq336|--bshd --batch=1 --heads-q=4 --heads-kv=4 --seq-q=336 --seq-k=400 --head-dim=192 --value-head-dim=128 --mask=causal"
  "bwd_check_hd_d128_dv64_tail_causal|--batch=1 --heads-q=4 --heads-kv=2 --seq-q=333 --seq-k=200 --head-dim=128 --value-head-dim=64 --mask=causal"
  "bwd_check_hd_det_d96_tail_causal_gqa|--batch=2 --heads-q=4 --heads-kv=2 --seq-q=200 --seq-k=333 --head-dim=96 --mask=causal --deterministic"
  "bwd_check_hd_det_mla_tail_causal|--batch=1 --heads-q=4 --heads-kv=2 --seq-q=300 --seq-k=457 --head-dim=192 --value-head-dim=128 --mask=causal --deterministic"
  "bwd_check_hd_det_d48_f16_tail|--batch=1 --heads-q=4 --heads-kv=4 --seq-q=300 --seq-k=200 --head-dim=48 --mask=causal --dtype=f16 --deterministic"
)
# D = 96 and MLA 192 / 128 on the prefill shapes' L = 4096 (B * L = 16k,
# Hq * D near 2048), against flash and cuDNN (flash has no Dv != D).
headdim_benches=()
for mask in none causal; do
  headdim_benches+=("bwd_bench_hd_d96_l4096_${mask}|--batch=4 --heads-q=21 --heads-kv=21 --seq-q=4096 --seq-k=4096 --head-dim=96 --mask=$mask --deterministic=false")
  headdim_benches+=("bwd_bench_hd_mla_l4096_${mask}|--batch=4 --heads-q=16 --heads-kv=16 --seq-q=4096 --seq-k=4096 --head-dim=192 --value-head-dim=128 --mask=$mask --deterministic=false")
done
# The hopper main kernel (bf16 / f16, D = Dv = 64, 128, atomic dQ, no
# score modifiers): tails on both sides, GQA / MQA, causal in both
# alignments, BSHD, every dq-reduction, Lq a multiple of 16 but not of 64.
hopper_checks=(
  "bwd_check_h_plain_d64|--batch=2 --heads-q=4 --heads-kv=4 --seq-q=512 --seq-k=512 --head-dim=64 --mask=none"
  "bwd_check_h_plain_d128|--batch=2 --heads-q=4 --heads-kv=4 --seq-q=512 --seq-k=512 --head-dim=128 --mask=none"
  "bwd_check_h_causal_d64|--batch=1 --heads-q=4 --heads-kv=4 --seq-q=1000 --seq-k=1000 --head-dim=64 --mask=causal"
  "bwd_check_h_tail_causal_br_gqa|--batch=2 --heads-q=4 --heads-kv=2 --seq-q=200 --seq-k=333 --head-dim=64 --mask=causal"
  "bwd_check_h_tail_causal_tl_d128|--batch=1 --heads-q=4 --heads-kv=4 --seq-q=333 --seq-k=200 --head-dim=128 --mask=causal-top-left"
  "bwd_check_h_br_lq_gt_lk|--batch=1 --heads-q=2 --heads-kv=2 --seq-q=300 --seq-k=100 --head-dim=64 --mask=causal"
  "bwd_check_h_f16_causal_d128|--batch=1 --heads-q=4 --heads-kv=4 --seq-q=1000 --seq-k=1000 --head-dim=128 --mask=causal --dtype=f16"
  "bwd_check_h_mqa_tail_none_d128|--batch=1 --heads-q=8 --heads-kv=1 --seq-q=777 --seq-k=1000 --head-dim=128 --mask=none"
  "bwd_check_h_lq336_gqa_d64|--batch=2 --heads-q=4 --heads-kv=2 --seq-q=336 --seq-k=336 --head-dim=64 --mask=none"
  "bwd_check_h_atom_tail_causal_d128|--batch=1 --heads-q=4 --heads-kv=2 --seq-q=300 --seq-k=457 --head-dim=128 --mask=causal --dq-reduction=atom"
  "bwd_check_h_v2_tail_f16_d64|--batch=1 --heads-q=4 --heads-kv=4 --seq-q=333 --seq-k=200 --head-dim=64 --mask=none --dtype=f16 --dq-reduction=red-v2"
  "bwd_check_h_bshd_tail_causal_gqa_d128|--bshd --batch=2 --heads-q=4 --heads-kv=2 --seq-q=300 --seq-k=457 --head-dim=128 --mask=causal"
  "bwd_check_h_bshd_lq336_f16_mqa|--bshd --batch=2 --heads-q=4 --heads-kv=1 --seq-q=336 --seq-k=400 --head-dim=64 --mask=none --dtype=f16"
)
# The hopper main kernel with the score modifiers and operands it shares
# with the mma.sync frame (softcap, ALiBi, window, constant bias, bool
# mask, key_lengths, sinks): ATTN_BWD_SET=hoppermods, with the flags of
# ATTN_BWD_SET=hopper; two timed shapes for an A/B against mma.sync.
hopper_mod_checks=(
  "bwd_check_hm_softcap_f16|--batch=2 --heads-q=4 --heads-kv=4 --seq-q=256 --seq-k=256 --head-dim=64 --mask=none --dtype=f16 --softcap=30"
  "bwd_check_hm_alibi_gqa_causal|--batch=2 --heads-q=8 --heads-kv=2 --seq-q=512 --seq-k=512 --head-dim=128 --mask=causal --alibi"
  "bwd_check_hm_window_mqa|--batch=1 --heads-q=8 --heads-kv=1 --seq-q=777 --seq-k=1000 --head-dim=128 --mask=sliding-window --window-left=100 --window-right=20"
  "bwd_check_hm_softcap_alibi_window_tail|--batch=1 --heads-q=4 --heads-kv=2 --seq-q=300 --seq-k=457 --head-dim=64 --mask=sliding-window --window-left=64 --window-right=8 --softcap=20 --alibi"
  "bwd_check_hm_bshd_window_alibi_softcap_d128|--bshd --batch=1 --heads-q=8 --heads-kv=2 --seq-q=777 --seq-k=1000 --head-dim=128 --mask=sliding-window --window-left=100 --window-right=20 --alibi --softcap=20"
  "bwd_check_hm_bias_tail_causal_br_gqa|--batch=2 --heads-q=4 --heads-kv=2 --seq-q=200 --seq-k=333 --head-dim=64 --mask=causal --bias --bias-grad=false"
  "bwd_check_hm_mask_tail_d128_f16|--batch=2 --heads-q=4 --heads-kv=4 --seq-q=300 --seq-k=457 --head-dim=128 --mask=none --bool-mask --dtype=f16"
  "bwd_check_hm_klen_causal_br_gqa|--batch=3 --heads-q=4 --heads-kv=2 --seq-q=200 --seq-k=333 --head-dim=64 --mask=causal --key-lengths"
  "bwd_check_hm_klen_mask_none_d128|--batch=3 --heads-q=4 --heads-kv=1 --seq-q=128 --seq-k=512 --head-dim=128 --mask=none --key-lengths --bool-mask"
  "bwd_check_hm_sinks_causal_gqa|--batch=2 --heads-q=4 --heads-kv=2 --seq-q=200 --seq-k=333 --head-dim=64 --mask=causal --sinks=random"
  "bwd_check_hm_sinks_window_bias_softcap|--batch=1 --heads-q=8 --heads-kv=2 --seq-q=256 --seq-k=400 --head-dim=64 --mask=sliding-window --window-left=100 --window-right=20 --sinks=random --bias --bias-grad=false --softcap=20"
  # d_bias: full shape (stored once per element) and broadcast (f32
  # atomics into dbias_accum, then rounded).
  "bwd_check_hm_dbias_tail_causal_br_gqa|--batch=2 --heads-q=4 --heads-kv=2 --seq-q=200 --seq-k=333 --head-dim=64 --mask=causal --bias"
  "bwd_check_hm_dbias_softcap_f16_d128|--batch=1 --heads-q=4 --heads-kv=2 --seq-q=300 --seq-k=257 --head-dim=128 --mask=none --softcap=20 --bias --dtype=f16"
  "bwd_check_hm_dbias_bcast_batch_causal|--batch=3 --heads-q=4 --heads-kv=4 --seq-q=256 --seq-k=300 --head-dim=64 --mask=causal --bias --bias-broadcast=batch"
  "bwd_check_hm_dbias_bcast_heads_query_klen_window|--batch=2 --heads-q=8 --heads-kv=2 --seq-q=128 --seq-k=400 --head-dim=64 --mask=sliding-window --window-left=100 --window-right=20 --key-lengths --bias --bias-broadcast=heads,query"
  "bwd_check_hm_dbias_bcast_batch_heads_sinks_d128|--batch=2 --heads-q=4 --heads-kv=2 --seq-q=200 --seq-k=333 --head-dim=128 --mask=causal --sinks=random --bias --bias-broadcast=batch,heads"
  # mask_mod (prefix-lm: kv_idx <= q_idx || kv_idx < 4) alone and with a
  # bias, ALiBi and key_lengths.
  "bwd_check_hm_maskmod_tail_gqa|--batch=2 --heads-q=8 --heads-kv=2 --seq-q=300 --seq-k=333 --head-dim=64 --mask=none --mask-mod=prefix-lm"
  "bwd_check_hm_maskmod_bias_alibi_klen_d128|--batch=3 --heads-q=4 --heads-kv=4 --seq-q=256 --seq-k=300 --head-dim=128 --mask=none --mask-mod=prefix-lm --bias --alibi --key-lengths"
)
hopper_mod_benches=(
  "bwd_bench_hm_alibi_softcap_causal_d128_l4096|--batch=4 --heads-q=16 --heads-kv=16 --seq-q=4096 --seq-k=4096 --head-dim=128 --mask=causal --alibi --softcap=30 --deterministic=false"
  "bwd_bench_hm_window_d128_l4096|--batch=4 --heads-q=16 --heads-kv=16 --seq-q=4096 --seq-k=4096 --head-dim=128 --mask=sliding-window --window-left=1024 --window-right=0 --deterministic=false"
)
if [ "${ATTN_BWD_SET:-}" = hoppermods ]; then
  variants=("${hopper_mod_checks[@]}")
  [ -z "${ATTN_CHECKS_ONLY:-}" ] && variants+=("${hopper_mod_benches[@]}")
  ATTN_CHECKS_ONLY=1
elif [ "${ATTN_BWD_SET:-}" = hopper ]; then
  variants=("${hopper_checks[@]}")
  if [ -z "${ATTN_CHECKS_ONLY:-}" ]; then
    for d in 64 128; do
      h=$((2048 / d))
      for l in 1024 4096 16384; do
        b=$((16384 / l))
        for mask in none causal; do
          variants+=("bwd_bench_d${d}_l${l}_${mask}|--batch=$b --heads-q=$h --heads-kv=$h --seq-q=$l --seq-k=$l --head-dim=$d --mask=$mask --deterministic=false")
        done
      done
    done
    for mask in none causal; do
      variants+=("bwd_bench_gqa_l4096_${mask}|--batch=4 --heads-q=32 --heads-kv=8 --seq-q=4096 --seq-k=4096 --head-dim=128 --mask=$mask --deterministic=false")
    done
  fi
  ATTN_CHECKS_ONLY=1
elif [ "${ATTN_BWD_SET:-}" = headdims ]; then
  variants=("${headdim_checks[@]}")
  [ -z "${ATTN_CHECKS_ONLY:-}" ] && variants+=("${headdim_benches[@]}")
  ATTN_CHECKS_ONLY=1
else
  variants+=("${headdim_checks[@]}")
fi
if [ "${ATTN_BWD_SET:-}" = tiles ]; then
  # Every tile configuration pinned on tails (the checks above take the
  # tile model's: 64 x 128 at D = 128, 128 x 128 at D = 64, dQ 128 rows).
  variants+=(
    "bwd_check_t64x64_tail_causal_br_gqa|--batch=2 --heads-q=4 --heads-kv=2 --seq-q=200 --seq-k=333 --head-dim=64 --mask=causal --bwd-block-m=64 --bwd-block-n=64"
    "bwd_check_t64x128_tail_causal_br_gqa|--batch=2 --heads-q=4 --heads-kv=2 --seq-q=200 --seq-k=333 --head-dim=64 --mask=causal --bwd-block-m=64 --bwd-block-n=128"
    "bwd_check_t64x128_window_alibi_d128|--batch=1 --heads-q=8 --heads-kv=2 --seq-q=777 --seq-k=1000 --head-dim=128 --mask=sliding-window --window-left=100 --window-right=20 --alibi --bwd-block-m=64 --bwd-block-n=128"
    "bwd_check_t128x128_tail_causal_tl|--batch=1 --heads-q=4 --heads-kv=4 --seq-q=333 --seq-k=200 --head-dim=64 --mask=causal-top-left --bwd-block-m=128 --bwd-block-n=128"
    "bwd_check_t128_v4_tail_causal_br_d128|--batch=1 --heads-q=8 --heads-kv=2 --seq-q=500 --seq-k=333 --head-dim=128 --mask=causal --bwd-block-n=128 --dq-reduction=red-v4"
    "bwd_check_t128_atom_softcap_f16|--batch=2 --heads-q=4 --heads-kv=4 --seq-q=256 --seq-k=300 --head-dim=64 --mask=none --dtype=f16 --softcap=30 --bwd-block-n=128 --dq-reduction=atom"
    "bwd_check_det_t64_dq64_tail_causal_br_gqa|--batch=2 --heads-q=4 --heads-kv=2 --seq-q=200 --seq-k=333 --head-dim=64 --mask=causal --deterministic --bwd-block-m=64 --bwd-block-n=64 --dq-block-m=64"
    "bwd_check_det_t128_dq128_tail_d128|--batch=1 --heads-q=4 --heads-kv=2 --seq-q=300 --seq-k=457 --head-dim=128 --mask=causal --deterministic --bwd-block-n=128 --dq-block-m=128"
    # Square warp tiles (the 128-key default) with 16-row dQ tiles, the
    # 16-keys-per-warp layout at 128 keys, and 32-row dQ tiles on 4 warps.
    "bwd_check_sq_dq16_tail_causal_br_gqa|--batch=2 --heads-q=4 --heads-kv=2 --seq-q=200 --seq-k=333 --head-dim=64 --mask=causal --bwd-block-n=128 --bwd-dq-warp-rows=16"
    "bwd_check_rows128_window_alibi_d128|--batch=1 --heads-q=8 --heads-kv=2 --seq-q=777 --seq-k=1000 --head-dim=128 --mask=sliding-window --window-left=100 --window-right=20 --alibi --bwd-block-n=128 --bwd-square-warp-tiles=false"
    "bwd_check_t64_dq32_tail_causal_tl_d128|--batch=1 --heads-q=4 --heads-kv=4 --seq-q=333 --seq-k=200 --head-dim=128 --mask=causal-top-left --bwd-block-m=64 --bwd-block-n=64 --bwd-dq-warp-rows=32"
  )
fi
if [ -z "${ATTN_CHECKS_ONLY:-}" ]; then
  variants+=("${headdim_benches[@]}")
  # Prefill benchmark shapes (BENCHMARKS.md): bf16, B*L = 16k, Hq*D = 2048.
  for d in 64 128; do
    h=$((2048 / d))
    for l in 1024 4096 16384; do
      b=$((16384 / l))
      for mask in none causal; do
        variants+=("bwd_bench_d${d}_l${l}_${mask}|--batch=$b --heads-q=$h --heads-kv=$h --seq-q=$l --seq-k=$l --head-dim=$d --mask=$mask --deterministic=false")
        variants+=("bwd_bench_det_d${d}_l${l}_${mask}|--batch=$b --heads-q=$h --heads-kv=$h --seq-q=$l --seq-k=$l --head-dim=$d --mask=$mask --deterministic")
      done
    done
  done
  # A constant bias and a bool mask (the torch op's attn_mask) at d128 L4k,
  # timed against the SDPA backends that take an attn_mask and FlexAttention.
  variants+=("bwd_bench_bias_d128_l4096_none|--batch=4 --heads-q=16 --heads-kv=16 --seq-q=4096 --seq-k=4096 --head-dim=128 --mask=none --bias --bias-grad=false --deterministic=false")
  variants+=("bwd_bench_mask_d128_l4096_none|--batch=4 --heads-q=16 --heads-kv=16 --seq-q=4096 --seq-k=4096 --head-dim=128 --mask=none --bool-mask --deterministic=false")
  for mask in none causal; do
    variants+=("bwd_bench_gqa_l4096_${mask}|--batch=4 --heads-q=32 --heads-kv=8 --seq-q=4096 --seq-k=4096 --head-dim=128 --mask=$mask --deterministic=false")
    variants+=("bwd_bench_det_gqa_l4096_${mask}|--batch=4 --heads-q=32 --heads-kv=8 --seq-q=4096 --seq-k=4096 --head-dim=128 --mask=$mask --deterministic")
    # BSHD operands on a GQA shape (the layout HF transformers hands the
    # torch op): the cost of strided rows beside the BHSD row above.
    variants+=("bwd_bench_bshd_gqa_l4096_${mask}|--bshd --batch=4 --heads-q=32 --heads-kv=8 --seq-q=4096 --seq-k=4096 --head-dim=128 --mask=$mask --deterministic=false")
    # D = 64 with 64-row Q blocks (the model picks 128 there).
    [ "${ATTN_BWD_SET:-}" = tiles ] &&
      variants+=("bwd_bench_m64_d64_l4096_${mask}|--batch=4 --heads-q=32 --heads-kv=32 --seq-q=4096 --seq-k=4096 --head-dim=64 --mask=$mask --deterministic=false --bwd-block-m=64")
    if [ "${ATTN_BWD_SET:-}" = tiles ]; then
      # 32-row dQ warp tiles at block m 64 (dQ 2 x 4 warps: 32 x 32 each)
      # and red-v2 on the tiled dq_accum, beside the defaults.
      variants+=("bwd_bench_rows32_d128_l4096_${mask}|--batch=4 --heads-q=16 --heads-kv=16 --seq-q=4096 --seq-k=4096 --head-dim=128 --mask=$mask --deterministic=false --bwd-dq-warp-rows=32")
      variants+=("bwd_bench_rows32_gqa_l4096_${mask}|--batch=4 --heads-q=32 --heads-kv=8 --seq-q=4096 --seq-k=4096 --head-dim=128 --mask=$mask --deterministic=false --bwd-dq-warp-rows=32")
      variants+=("bwd_bench_v2_d128_l4096_${mask}|--batch=4 --heads-q=16 --heads-kv=16 --seq-q=4096 --seq-k=4096 --head-dim=128 --mask=$mask --deterministic=false --dq-reduction=red-v2")
      continue
    fi
    # The atomic path's other modes side by side on one shape (the
    # defaults: dq-reduction=auto, rotate-q-blocks).
    for r in atom red-v4; do
      variants+=("bwd_bench_${r}_d128_l4096_${mask}|--batch=4 --heads-q=16 --heads-kv=16 --seq-q=4096 --seq-k=4096 --head-dim=128 --mask=$mask --dq-reduction=$r")
    done
    variants+=("bwd_bench_norot_d128_l4096_${mask}|--batch=4 --heads-q=16 --heads-kv=16 --seq-q=4096 --seq-k=4096 --head-dim=128 --mask=$mask --rotate-q-blocks=false")
  done
fi
log="$dest/compile_times.txt"
: > "$log"
failed=()
for v in "${variants[@]}"; do
  name="${v%%|*}"
  flags="${v#*|}"
  # shellcheck disable=SC2086
  if ! out=$("$compile" --target=ptx --backward --cubin-arch="$cubin" --report=none $target $flags ${ATTN_BWD_FLAGS:-} -o "$dest/kernels/$name" 2>&1); then
    echo "COMPILE FAILED $name ($flags):" >&2
    echo "$out" | tail -5 >&2
    echo "$name: COMPILE FAILED" >> "$log"
    failed+=("$name")
    rm -f "$dest/kernels/$name".*
    continue
  fi
  echo "$name: $(echo "$out" | grep -E 'spec -> PTX|ptxas|^kernel' | tr -s ' ' | tr '\n' ' ')" >> "$log"
  echo "$flags" > "$dest/kernels/$name.flags"
done
find "$dest/kernels" -name "*.ptx" -delete
if [ -n "${ATTN_KERNELS_ONLY:-}" ]; then
  echo "staged $(ls "$dest/kernels" | wc -l) kernel files in $dest"
  exit 0
fi
mkdir -p "$dest/src"
cp -r "$root/CMakeLists.txt" "$root/cmake" "$root/lib" "$root/include" "$root/test" "$dest/src/"
cp -r /usr/src/googletest "$dest/googletest"
cp "$root"/bench/backward_bench.py "$root"/bench/backward_operands.py "$root"/bench/backward_run.sh \
  "$root"/bench/backward_profile.py "$root"/bench/ncu_summary.py "$dest/"
echo "staged $(ls "$dest/kernels" | wc -l) files in $dest ($(du -sh "$dest" | cut -f1))"
if [ ${#failed[@]} -gt 0 ]; then
  echo "${#failed[@]} kernels failed to compile: ${failed[*]}" >&2
  exit 1
fi
