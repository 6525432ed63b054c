set -u
cd /work/main
dest=.device-e2e
shape="--batch=2 --heads-q=16 --heads-kv=8 --seq-q=1000 --seq-k=1000 --head-dim=128 --mask=causal --lse=false"
mma="--chip=sm_90 --cubin-arch=sm_90 --convert-attn-to-nvvm=kernel=prefill"
hop="--chip=sm_90a --cubin-arch=sm_90a --convert-attn-to-nvvm=kernel=hopper"
for lay in bhsd bshd; do
  lf=""; [ $lay = bshd ] && lf="--bshd"
  for mw in 128,4 64,4 128,8 64,2; do IFS=, read -r bm w <<< "$mw"
    for bn in 32 64 128; do
      n=sweep_mma_e2e${lay}__m${bm}w${w}n${bn}
      build/bin/attn-compile --target=ptx --report=none $mma $shape $lf --convert-attn-to-nvvm=block-m=$bm,num-warps=$w,block-n=$bn -o $dest/kernels/$n >/dev/null 2>&1 || { echo "$n refused"; rm -f $dest/kernels/$n.*; }
    done; done
  build/bin/attn-compile --target=ptx --report=none $mma $shape $lf -o $dest/kernels/sweep_mma_e2e${lay}__model >/dev/null 2>&1 || echo model refused
  for bn in 64 128; do for st in 2 3; do
    n=sweep_hopper_e2e${lay}__n${bn}s${st}
    build/bin/attn-compile --target=ptx --report=none $hop $shape $lf --convert-attn-to-nvvm=hopper-block-n=$bn,hopper-stages=$st -o $dest/kernels/$n >/dev/null 2>&1 || { echo "$n refused"; rm -f $dest/kernels/$n.*; }
  done; done
  build/bin/attn-compile --target=ptx --report=none $hop $shape $lf -o $dest/kernels/sweep_hopper_e2e${lay}__model >/dev/null 2>&1 || echo hmodel refused
done
find $dest/kernels -name "*.ptx" -delete
cp bench/tile_sweep.py $dest/
ls $dest/kernels | wc -l
