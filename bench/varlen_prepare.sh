#!/usr/bin/env bash
# Stages the varlen device session into DEST (default /work/main/.device-varlen):
# bench/varlen_anchors.py (torch alone: the packed varlen path, padded SDPA and
# a per-sequence SDPA loop, checked against float64) and, since the GPU path
# takes varlen (issue #15), attn-mlir's varlen prefill kernels (kernels/, one
# .flags file each: vl_check_* for bench/varlen_bench.py's float64 checks,
# vl_bench_* for its timing against torch's varlen flash and the padded SDPA)
# with the runtime sources the device builds them a loader from.
# Usage: bench/varlen_prepare.sh [build-dir] [dest]; then, on the device
# (carry DEST's folder): bash .device-varlen/run.sh
# ATTN_VARLEN_ANCHORS_ONLY=1 stages the anchors alone (no kernels, no build).
# ATTN_VARLEN_DECODE=1 stages the varlen decode kernels over paged caches
# instead of the prefill ones (vd_check_* for bench/varlen_decode_bench.py's
# float64 checks, vdb_<shape>__{varlen,dense_paged,dense_contig} for its
# timing against our dense decode kernel and SDPA on the padded batch).
# On the device: ATTN_VARLEN_SANITIZE=1 adds a compute-sanitizer memcheck of
# offsets in and out of contract; ATTN_VARLEN_ANCHORS=1 the torch anchors.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
build="${1:-$root/build}"
dest="${2:-/work/main/.device-varlen}"
compile="$build/bin/attn-compile"
rm -rf "$dest"
mkdir -p "$dest"
cp "$root/bench/varlen_anchors.py" "$root/bench/timing.py" "$dest/"
name="$(basename "$dest")"
kernels=0
if [ -z "${ATTN_VARLEN_ANCHORS_ONLY:-}" ]; then
  mkdir -p "$dest/kernels"
  # One kernel per variant, over every batch composition: the packed totals
  # and N are runtime lengths (--dynamic), --varlen only shapes the spec.
  dyn="--varlen=5:7,0:3,130:200 --dynamic=batch,seq-q,seq-k --cubin-arch=sm_90 --gpu=h200"
  variants=(
    "vl_check_gqa_d64_causal_br|--heads-q=8 --heads-kv=2 --head-dim=64 --dtype=bf16 --mask=causal --lse"
    "vl_check_mqa_d128_causal_tl_f16|--heads-q=8 --heads-kv=1 --head-dim=128 --dtype=f16 --mask=causal-top-left --lse"
    "vl_check_gqa_d128_none|--heads-q=8 --heads-kv=2 --head-dim=128 --dtype=bf16 --mask=none --lse"
    "vl_check_mha_d64_window_f16|--heads-q=4 --heads-kv=4 --head-dim=64 --dtype=f16 --mask=sliding-window --window-left=50 --window-right=10 --lse"
    "vl_check_gqa_d128_causal_m64|--heads-q=8 --heads-kv=2 --head-dim=128 --dtype=bf16 --mask=causal --lse --convert-attn-to-nvvm=block-m=64"
    "vl_bench_none|--heads-q=16 --heads-kv=16 --head-dim=128 --dtype=bf16 --mask=none --lse=false"
    "vl_bench_causal|--heads-q=16 --heads-kv=16 --head-dim=128 --dtype=bf16 --mask=causal --lse=false"
    "vl_bench_none_m64|--heads-q=16 --heads-kv=16 --head-dim=128 --dtype=bf16 --mask=none --lse=false --convert-attn-to-nvvm=block-m=64"
    "vl_bench_causal_m64|--heads-q=16 --heads-kv=16 --head-dim=128 --dtype=bf16 --mask=causal --lse=false --convert-attn-to-nvvm=block-m=64"
  )
  if [ -n "${ATTN_VARLEN_DECODE:-}" ]; then
    # Static N and T (a serving engine's captured batch sizes): each kernel
    # serves every composition of its N sequences (cu_seqlens_q, key_lengths,
    # block table at run time). --varlen's k entries only shape the spec.
    seqs() { local e=""; for _ in $(seq "$1"); do e="$e,$2"; done; echo "--varlen=${e#,}"; }
    dyn="--key-lengths --cubin-arch=sm_90 --gpu=h200"
    gqa="--heads-q=32 --heads-kv=8 --head-dim=128 --dtype=bf16 --lse=false --mask=causal"
    variants=(
      "vd_check_gqa_d128_paged16_causal|--heads-q=32 --heads-kv=8 --head-dim=128 --dtype=bf16 --mask=causal --lse --page-size=16 --seq-k=1024 $(seqs 16 1:1000)"
      "vd_check_gqa_d128_paged16_causal_split4|--heads-q=32 --heads-kv=8 --head-dim=128 --dtype=bf16 --mask=causal --lse --page-size=16 --seq-k=1024 $(seqs 16 1:1000) --convert-attn-to-nvvm=num-splits=4"
      "vd_check_gqa_d64_paged64_spec_f16|--heads-q=16 --heads-kv=2 --head-dim=64 --dtype=f16 --mask=causal --lse --page-size=64 --seq-k=2048 $(seqs 8 4:100)"
      "vd_check_mqa_d128_contig_none|--heads-q=8 --heads-kv=1 --head-dim=128 --dtype=bf16 --mask=none --lse --seq-k=700 $(seqs 12 2:500)"
      "vd_check_mha_d128_paged16_window|--heads-q=8 --heads-kv=8 --head-dim=128 --dtype=bf16 --mask=sliding-window --window-left=64 --window-right=0 --lse --page-size=16 --seq-k=512 $(seqs 4 10:300)"
      "vd_check_gqa_d256_paged32_causal|--heads-q=16 --heads-kv=4 --head-dim=256 --dtype=bf16 --mask=causal --lse --page-size=32 --seq-k=1024 $(seqs 8 1:900)"
      # ALiBi over each sequence's own distance (its key length and query count).
      "vd_check_gqa_d128_paged16_causal_alibi|--heads-q=32 --heads-kv=8 --head-dim=128 --dtype=bf16 --mask=causal --lse --alibi --page-size=16 --seq-k=1024 $(seqs 16 1:1000)"
      "vd_check_gqa_d64_contig_none_alibi_split2_f16|--heads-q=16 --heads-kv=2 --head-dim=64 --dtype=f16 --mask=none --lse --alibi --seq-k=700 $(seqs 8 4:100) --convert-attn-to-nvvm=num-splits=2"
    )
    # Timing: N sequences of t tokens over Lk-row caches, and our dense
    # decode kernel on the padded batch (B = N, Lq = t, key_lengths).
    for shape in "64 1 4096" "16 4 8192" "128 1 2048"; do
      read -r n t lk <<< "$shape"
      sname="vdb_n${n}_t${t}_l${lk}"
      variants+=(
        "${sname}__varlen|$gqa --page-size=16 --seq-k=$lk $(seqs "$n" "$t:$lk")"
        "${sname}__dense_paged|$gqa --page-size=16 --batch=$n --seq-q=$t --seq-k=$lk"
        "${sname}__dense_contig|$gqa --batch=$n --seq-q=$t --seq-k=$lk"
      )
    done
  fi
  for v in "${variants[@]}"; do
    kname="${v%%|*}"
    flags="${v#*|}"
    # shellcheck disable=SC2086
    if ! out=$("$compile" --target=ptx $dyn $flags -o "$dest/kernels/$kname" 2>&1); then
      echo "$out" | tail -5 >&2
      echo "error: $kname failed to compile" >&2
      exit 1
    fi
    echo "$out" | grep -E "ptxas -arch=sm_90|^kernel" | sed "s/^/$kname: /"
    echo "$flags" > "$dest/kernels/$kname.flags"
    kernels=$((kernels + 1))
  done
  rm -f "$dest/kernels/"*.ptx "$dest/kernels/"*.sm_80.cubin
  mkdir -p "$dest/src"
  cp -r "$root/CMakeLists.txt" "$root/cmake" "$root/lib" "$root/include" "$root/test" "$dest/src/"
  cp -r /usr/src/googletest "$dest/googletest"
  cp "$root"/bench/device_bench.py "$root"/bench/decode_bench.py "$root"/bench/operand_bench.py \
    "$root"/bench/varlen_bench.py "$root"/bench/varlen_decode_bench.py "$dest/"
fi
bench_py=varlen_bench.py
if [ -n "${ATTN_VARLEN_DECODE:-}" ]; then bench_py=varlen_decode_bench.py; fi
cat > "$dest/run.sh" <<RUN
#!/usr/bin/env bash
set -uo pipefail
mkdir -p "\$OUT"
nvidia-smi --query-gpu=name,driver_version --format=csv | tee "\$OUT/gpu.txt"
status=0
if [ -d $name/kernels ]; then
  cmake -S $name/src -B /tmp/rt -DATTN_RUNTIME_ONLY=ON -DATTN_GTEST_SOURCE_DIR=\$PWD/$name/googletest \\
    -DCMAKE_BUILD_TYPE=Release > /tmp/rt-cmake.log 2>&1 || { cat /tmp/rt-cmake.log; exit 1; }
  cmake --build /tmp/rt --target AttnRuntimeC -j 16 > /tmp/rt-build.log 2>&1 || { tail -50 /tmp/rt-build.log; exit 1; }
  echo "== runtime built"
  PYTHONUNBUFFERED=1 python3 $name/$bench_py --lib /tmp/rt/lib/libAttnRuntimeC.so \\
    --kernels $name/kernels --out "\$OUT" "\$@" 2>&1 | tee "\$OUT/${bench_py%.py}.log"
  status=\${PIPESTATUS[0]}
  if [ -n "\${ATTN_VARLEN_SANITIZE:-}" ]; then
    echo "== compute-sanitizer memcheck: offsets in and out of contract"
    timeout \${ATTN_VARLEN_SANITIZE_TIMEOUT:-170} compute-sanitizer --tool memcheck --print-limit 20 python3 $name/$bench_py \\
      --lib /tmp/rt/lib/libAttnRuntimeC.so --kernels $name/kernels --out "\$OUT" --sanitize \\
      2>&1 | tail -25 | tee "\$OUT/varlen_memcheck.log"
    grep -q "ERROR SUMMARY: 0 errors" "\$OUT/varlen_memcheck.log" || status=1
  fi
fi
if [ -n "\${ATTN_VARLEN_ANCHORS:-}" ]; then
  PYTHONUNBUFFERED=1 python3 $name/varlen_anchors.py --out "\$OUT" 2>&1 | tee "\$OUT/varlen_anchors.log"
fi
exit "\$status"
RUN
echo "staged $dest ($kernels kernels, $(du -sh "$dest" | cut -f1)); on the device: bash $name/run.sh"
