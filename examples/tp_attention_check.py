#!/usr/bin/env python3
"""Tensor-parallel attention check: a Llama-architecture attention block
sharded by heads over N ranks (attn_mlir.parallel.TensorParallelAttention)
against the same block on one device (LlamaAttention), with and without
ALiBi.

CPU, two gloo processes spawned by this script (what ctest runs):

    python3 examples/tp_attention_check.py --nproc 2

Two GPUs under torchrun, NCCL (NVLink multicast off):

    NCCL_NVLS_ENABLE=0 TORCH_SYMM_MEM_DISABLE_MULTICAST=1 NVSHMEM_DISABLE_NVLS=1 \
      torchrun --standalone --nproc-per-node 2 examples/tp_attention_check.py --device cuda

(attention on the torch backend there unless attn_mlir's kernels are staged:
examples/tp_prepare.sh here, then `bash .device/tp/run.sh` on the GPU machine
runs the same check with the attn_mlir operator's kernels).

Every rank builds the dense block from one seed, takes its shard of the
weights and runs both. Checked, on every rank:
  * attention: the shards' attention outputs, gathered along the head axis,
    against the dense block's; with the same kernel per head they are equal
    bit for bit (reported), and must lie within `attn_tol` in any case;
  * block output: the all-reduced output against the dense block's, within
    an elementwise bound derived from the precision (below).
Exits 0 when every check passes, 1 otherwise, 77 when torch (or, with
--device cuda, a GPU per rank) is missing: ctest's skip code.
"""

import argparse
import math
import os
import socket
import sys

SKIP = 77

try:
    import torch
    import torch.distributed as dist
except ImportError as e:  # ctest reports the skip with this message
    print(f"SKIP: torch is not importable ({e}); scripts/bootstrap.sh installs "
          "Debian's python3-torch")
    sys.exit(SKIP)

# The package from the source tree unless PYTHONPATH provides one.
sys.path.append(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "python"))
from attn_mlir.parallel import (LlamaAttention, TensorParallelAttention,  # noqa: E402
                                last_backend)

_UNIT_ROUNDOFF = {torch.float32: 2.0 ** -24, torch.bfloat16: 2.0 ** -8,
                  torch.float16: 2.0 ** -11}


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    p.add_argument("--nproc", type=int, default=2,
                   help="ranks to spawn when not started by torchrun (CPU/gloo)")
    p.add_argument("--backend", choices=["auto", "torch", "attn_mlir"], default="auto",
                   help="attention backend (attn_mlir.parallel.attention)")
    p.add_argument("--dtype", choices=["f32", "bf16", "f16"], default=None,
                   help="default: f32 on the CPU, bf16 on GPUs")
    # Defaults: a small block on the CPU, Llama-3-8B's attention on GPUs.
    p.add_argument("--hidden", type=int, default=None)
    p.add_argument("--heads", type=int, default=None)
    p.add_argument("--kv-heads", type=int, default=None)
    p.add_argument("--seq", type=int, default=None)
    p.add_argument("--batch", type=int, default=None)
    p.add_argument("--alibi", choices=["both", "on", "off"], default="both")
    p.add_argument("--seed", type=int, default=1234)
    p.add_argument("--prepare", action="store_true",
                   help="compile (here, with the compiler) the attn_mlir GPU kernels "
                        "the --device cuda run needs into $ATTN_MLIR_CACHE_DIR, "
                        "for --nproc ranks; see examples/tp_prepare.sh")
    p.add_argument("--drop-head-offset", action="store_true",
                   help="negative control: shards attend with head offset 0 "
                        "(must FAIL with ALiBi)")
    args = p.parse_args()
    gpu = args.device == "cuda" or args.prepare
    defaults = dict(hidden=4096 if gpu else 256, heads=32 if gpu else 8,
                    kv_heads=8 if gpu else 2, seq=1024 if gpu else 48,
                    batch=2, dtype="bf16" if gpu else "f32")
    for name, value in defaults.items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    args.torch_dtype = {"f32": torch.float32, "bf16": torch.bfloat16,
                        "f16": torch.float16}[args.dtype]
    return args


def gamma(n, u):
    """n u / (1 - n u): the bound on an n-term sum's relative rounding error."""
    return n * u / (1.0 - n * u)


def attention_tolerance(args, dense, x):
    """Bound on |attention(shard) - attention(dense)| per element if the two
    ran different (each correct) kernels with scores in f32, as every
    backend here keeps them: the reordered D-term dot products move a score
    by <= gamma_D * scale * sum|q_d k_d|, the f32 roundings of the scale,
    ALiBi and mask steps by a few u_f32 |s| (8 covers them and exp), which
    moves each softmax weight by a relative exp(2 delta) - 1; P.V and the
    row sum over Lk terms add gamma_Lk each; both outputs are rounded to the
    dtype once (2 u max|v|). One kernel run on the same head computes the
    same bits: the report says when the difference is exactly 0."""
    u = _UNIT_ROUNDOFF[args.torch_dtype]
    ua = _UNIT_ROUNDOFF[torch.float32]
    with torch.no_grad():
        q = dense.q_proj(x).abs().max().item()
        k = dense.k_proj(x).abs().max().item()
        v = dense.v_proj(x).abs().max().item()
    d = dense.head_dim
    # RoPE mixes pairs: each rotated component is at most sqrt(2) max|q|.
    dot = d * 2.0 * q * k / math.sqrt(d)
    smax = dot + (max(dense.alibi) * 2 * args.seq if dense.alibi else 0.0)
    delta = gamma(d, ua) * dot + 8 * ua * (1 + smax)
    lk = args.seq
    return v * (math.expm1(2 * delta) + 2 * gamma(lk + 2, ua) + 2 * u)


def output_bound(args, partial_abs_sum, y, acc_abs, attn_diff_prop):
    """Elementwise bound on |all_reduce(sum_r p_r) - y| for N ranks: each
    rank's partial p_r is rounded to the dtype (u |p_r|) and the all-reduce
    adds N - 1 roundings of sums bounded by sum_r |p_r|, so (2N - 1) u
    sum_r |p_r|; the dense output's rounding is u |y|; the f32 accumulations
    of o_proj on both sides (n terms) add 2 gamma_n (|a| |W|^T); the
    difference of o_proj's inputs (the attention outputs, checked against
    their own bound) propagates linearly: |a_tp - a| |W|^T."""
    u = _UNIT_ROUNDOFF[args.torch_dtype]
    ua = _UNIT_ROUNDOFF[torch.float32]
    n = args.heads * (args.hidden // args.heads)
    world = dist.get_world_size()
    return (2 * world - 1) * u * partial_abs_sum + u * y.abs() \
        + 2 * gamma(n, ua) * acc_abs + (1 + 2 * gamma(n, ua)) * attn_diff_prop


def check(args, rank, world, device, alibi):
    # Weights and input drawn on the CPU from one seed: every rank holds the
    # same dense block, whatever its device.
    torch.manual_seed(args.seed)
    dense = LlamaAttention(args.hidden, args.heads, args.kv_heads, alibi=alibi,
                           backend=args.backend)
    with torch.no_grad():  # the default init is too small to exercise softmax
        for lin in (dense.q_proj, dense.k_proj, dense.v_proj, dense.o_proj):
            lin.weight.normal_(0.0, 1.0 / math.sqrt(lin.in_features))
    x = torch.randn(args.batch, args.seq, args.hidden)
    dense = dense.to(device=device, dtype=args.torch_dtype)
    x = x.to(device=device, dtype=args.torch_dtype)
    shard = TensorParallelAttention.from_dense(dense, rank, world)
    first = shard.head_offset
    if args.drop_head_offset:
        # The bug this feature fixes: local heads taken for global ones.
        shard.head_offset = 0
    with torch.no_grad():
        y_dense = dense(x)
        a_dense = dense.last_attention
        dense_backend = last_backend()
        partial = shard.partial(x)
        shard_backend = last_backend()
        a_shard = shard.last_attention
        partial_abs = partial.abs().float()
        y_tp = partial.clone()
        dist.all_reduce(y_tp)
        dist.all_reduce(partial_abs)

        # The shards' attention outputs along the head axis.
        gathered = [torch.empty_like(a_shard) for _ in range(world)]
        dist.all_gather(gathered, a_shard.contiguous())
        a_tp = torch.cat(gathered, dim=1)
        attn_diff = (a_tp.float() - a_dense.float()).abs().max().item()
        attn_tol = attention_tolerance(args, dense, x)

        w_abs = dense.o_proj.weight.abs().float().t()
        b, _, l, _ = a_dense.shape

        def rows(t):  # [B, H, L, D] -> o_proj's input [B, L, H * D]
            return t.float().transpose(1, 2).reshape(b, l, -1)

        acc_abs = rows(a_dense).abs() @ w_abs
        diff_prop = (rows(a_tp) - rows(a_dense)).abs() @ w_abs
        bound = output_bound(args, partial_abs, y_dense.float(), acc_abs, diff_prop)
        err = (y_tp.float() - y_dense.float()).abs()
        worst = (err / bound).max().item()
    ok = attn_diff <= attn_tol and worst <= 1.0 and bool(torch.isfinite(y_tp).all())
    name = "alibi" if alibi else "rope"
    print(f"[rank {rank}/{world}] {name}: heads [{first}, "
          f"{first + shard.local_heads}) of {args.heads}, kv heads "
          f"[{shard.kv_head0}, {shard.kv_head0 + shard.local_kv_heads}) of "
          f"{args.kv_heads}; attention max|diff| {attn_diff:.3e} "
          f"({'bit-exact' if attn_diff == 0 else 'tol %.3e' % attn_tol}); block "
          f"max|diff| {err.max().item():.3e}, max diff/bound {worst:.3f}; "
          f"backend dense: {dense_backend}, shard: {shard_backend}; "
          f"{'PASS' if ok else 'FAIL'}", flush=True)
    return ok


def run(rank, world, args):
    device = torch.device("cpu")
    if args.device == "cuda":
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", rank)))
        torch.cuda.set_device(device)
    dist.init_process_group("nccl" if args.device == "cuda" else "gloo",
                            rank=rank, world_size=world)
    cases = {"both": [False, True], "on": [True], "off": [False]}[args.alibi]
    ok = all([check(args, rank, world, device, alibi) for alibi in cases])
    # Every rank learns whether any failed, so all exit alike.
    flag = torch.tensor([0.0 if ok else 1.0], device=device)
    dist.all_reduce(flag)
    dist.destroy_process_group()
    return flag.item() == 0.0


def _spawned(rank, world, args, port):
    os.environ["MASTER_ADDR"] = "127.0.0.1"
    os.environ["MASTER_PORT"] = str(port)
    if not run(rank, world, args):
        sys.exit(1)


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def prepare(args):
    """Compiles the kernels the dense block and each shard call (the RoPE
    case: the ALiBi case runs on the torch backend until attn_mlir.torch
    takes slopes and a head offset) into the kernel cache."""
    from attn_mlir.torch import precompile  # noqa: PLC0415
    from attn_mlir.parallel import shard_heads  # noqa: PLC0415
    d = args.hidden // args.heads
    shapes = {(args.heads, args.kv_heads)}
    for rank in range(args.nproc):
        _, hq, _, hkv = shard_heads(args.heads, args.kv_heads, rank, args.nproc)
        shapes.add((hq, hkv))
    for hq, hkv in sorted(shapes):
        kernel = precompile((args.batch, hq, args.seq, d), (args.batch, hkv, args.seq, d),
                            dtype=args.torch_dtype, is_causal=True, device="cuda")
        print(f"prepared {hq}/{hkv} heads: {kernel.key}")
    return 0


def main():
    args = parse_args()
    if args.prepare:
        return prepare(args)
    if args.device == "cuda" and not torch.cuda.is_available():
        print("SKIP: --device cuda without a GPU")
        return SKIP
    if "RANK" in os.environ:  # torchrun
        world = int(os.environ["WORLD_SIZE"])
        if args.device == "cuda" and torch.cuda.device_count() < world:
            print(f"SKIP: {world} ranks need {world} GPUs, found {torch.cuda.device_count()}")
            return SKIP
        return 0 if run(int(os.environ["RANK"]), world, args) else 1
    if args.device == "cuda":
        print("error: start GPU runs with torchrun (see --help)")
        return 2
    if args.torch_dtype != torch.float32:
        # gloo's all-reduce takes no bf16/f16 (torch 1.13).
        print("error: the CPU (gloo) check runs in f32; --dtype bf16/f16 needs GPUs")
        return 2
    import torch.multiprocessing as mp  # noqa: PLC0415
    try:
        mp.spawn(_spawned, args=(args.nproc, args, _free_port()), nprocs=args.nproc)
    except mp.ProcessRaisedException as e:
        print(e)
        return 1
    except mp.ProcessExitedException:
        return 1
    print(f"tp_attention_check: {args.nproc} gloo ranks agree with the single-device "
          "block")
    return 0


if __name__ == "__main__":
    sys.exit(main())
