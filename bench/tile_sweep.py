#!/usr/bin/env python3
"""Device sweep of the tile model (issue #17): is the configuration the cost
model chooses within 3% of the best one in a sweep, on every benchmark shape?

Staged by bench/tile_sweep_prepare.sh into .device-sweep/; run from the
repository root on an H100/H200: python3 .device-sweep/tile_sweep.py
[--match REGEX] [--out DIR] [--tolerance 0.03]. Kernels are loaded through
the CUDA driver (ctypes, no runtime build) from their cubins and manifests
(grid, block, shared memory, one pointer per argument). Every candidate of
a shape gets the same inputs; workspaces are zeroed before each launch
(the decode kernel leaves its counters zeroed, so once suffices), key
lengths are the full Lk, block tables map every sequence to its own pages.
Timing: triton.testing.do_bench (median, warm-up included), the protocol of
BENCHMARKS.md. Writes DIR/tile_sweep.json (every time) and
DIR/tile_sweep.md (shape, chosen, best, ratio); exits 1 when some shape's
choice is more than the tolerance slower than its best.
"""
import argparse
import ctypes
import datetime
import glob
import json
import os
import re
import sys

import torch

cuda = ctypes.CDLL("libcuda.so.1")

DTYPES = {"bf16": torch.bfloat16, "f16": torch.float16, "f32": torch.float32,
          "i32": torch.int32, "i64": torch.int64}


def ck(rc, what):
    if rc != 0:
        s = ctypes.c_char_p()
        cuda.cuGetErrorString(rc, ctypes.byref(s))
        raise RuntimeError(f"{what}: {rc} {s.value}")


class Kernel:
    def __init__(self, kdir, name):
        self.name = name
        self.m = json.load(open(os.path.join(kdir, name + ".json")))
        # This launcher passes one pointer per argument: it cannot build the
        # TMA descriptors a tensor_map argument asks for (the runtime does).
        if any(a["role"] == "tensor_map" for a in self.m["arguments"]):
            raise RuntimeError(f"{name}: the manifest asks for tensor maps (TMA), "
                               "which this ctypes launcher cannot build; stage it with "
                               "hopper-loads=cp-async or launch it through the runtime")
        cubin = glob.glob(os.path.join(kdir, name + ".sm_90*.cubin"))[0]
        self.mod = ctypes.c_void_p()
        ck(cuda.cuModuleLoad(ctypes.byref(self.mod), cubin.encode()), "cuModuleLoad " + name)
        self.fn = ctypes.c_void_p()
        ck(cuda.cuModuleGetFunction(ctypes.byref(self.fn), self.mod,
                                    self.m["kernel"].encode()), "cuModuleGetFunction")
        self.smem = self.m["shared_memory_bytes"]
        # CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES
        ck(cuda.cuFuncSetAttribute(self.fn, 8, ctypes.c_int(self.smem)), "max dynamic smem")

    def launcher(self, tensors):
        holders = [ctypes.c_uint64(t.data_ptr()) for t in tensors]
        params = (ctypes.c_void_p * len(holders))(
            *[ctypes.cast(ctypes.pointer(h), ctypes.c_void_p) for h in holders])
        g, blk = self.m["grid"], self.m["block"]
        stream = ctypes.c_void_p(torch.cuda.current_stream().cuda_stream)

        def launch():
            ck(cuda.cuLaunchKernel(self.fn, g[0], g[1], g[2], blk[0], blk[1], blk[2],
                                   self.smem, stream, params, None), "cuLaunchKernel")
        launch.keep = (holders, params)
        return launch


def make_argument(arg, seq_k, cache):
    """A tensor for one manifest argument; inputs of one shape are shared
    by every candidate of the shape (`cache`), outputs and workspaces not."""
    shape, dt = arg["shape"], DTYPES[arg["dtype"]]
    if arg["role"] == "workspace":
        return torch.zeros(shape, device="cuda", dtype=dt)
    if arg["role"] == "output":
        return torch.empty(shape, device="cuda", dtype=dt)
    key = (arg["name"], tuple(shape), arg["dtype"])
    if key not in cache:
        if dt == torch.int32 and len(shape) == 1:  # key lengths: full
            t = torch.full(shape, seq_k, device="cuda", dtype=dt)
        elif dt == torch.int32:  # a block table: sequence b owns its pages
            t = torch.arange(int(torch.tensor(shape).prod()), device="cuda",
                             dtype=dt).reshape(shape)
        else:
            t = torch.randn(shape, device="cuda", dtype=dt)
        cache[key] = t
    return cache[key]


def config_of(m):
    """The configuration a manifest records, as the sweep names it."""
    t = m.get("tuning", {})
    if m["family"] == "prefill":
        return f"m{t.get('block_m')}w{t.get('num_warps')}n{t.get('block_n')}"
    if m["family"] == "hopper":
        return f"n{t.get('block_n')}s{t.get('stages')}"
    return f"s{t.get('num_splits')}"


def read_flags(kdir, name):
    """The attn-compile flags a kernel was staged with (its .flags file),
    which bench/tile_sweep_replay.py replays against a later model."""
    path = os.path.join(kdir, name + ".flags")
    return open(path).read().strip() if os.path.exists(path) else None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--kernels", default=os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "kernels"))
    ap.add_argument("--out", default=os.environ.get("OUT", "/tmp/out"))
    ap.add_argument("--match", default=None)
    ap.add_argument("--tolerance", type=float, default=0.03)
    args = ap.parse_args()
    from triton.testing import do_bench
    torch.manual_seed(0)
    torch.zeros(1, device="cuda")
    dev = torch.cuda.get_device_name()
    print("device:", dev, "torch", torch.__version__, flush=True)
    names = sorted(os.path.basename(p)[:-5] for p in glob.glob(os.path.join(args.kernels, "*.json"))
                   if not re.search(r"\.\d+\.json$", p))
    if args.match:
        names = [n for n in names if re.search(args.match, n)]
    shapes = {}
    for n in names:
        shape, _, config = n.partition("__")
        shapes.setdefault(shape, {})[config] = n
    results = dict(device=dev, date=datetime.datetime.now(datetime.timezone.utc).isoformat(),
                   tolerance=args.tolerance, shapes=[])
    failures = 0
    for shape, configs in sorted(shapes.items()):
        cache, times, manifests = {}, {}, {}
        for config, name in sorted(configs.items()):
            try:
                kern = Kernel(args.kernels, name)
                seq_k = kern.m["attention"]["seq_k"]
                tensors = [make_argument(a, seq_k, cache) for a in kern.m["arguments"]]
                launch = kern.launcher(tensors)
                launch()
                torch.cuda.synchronize()
                times[config] = do_bench(launch, warmup=25, rep=200)
                manifests[config] = kern.m
                print(f"{name:60s} {times[config] * 1e3:10.2f} us", flush=True)
            except Exception as e:  # a kernel that fails is no candidate
                print(f"{name:60s} ERROR {e}", flush=True)
        if "model" not in times:
            print(f"{shape}: no model kernel timed", flush=True)
            failures += 1
            continue
        candidates = {c: t for c, t in times.items() if c not in ("model", "default")}
        best = min(times, key=times.get)
        ratio = times["model"] / times[best]
        chosen = config_of(manifests["model"])
        row = dict(shape=shape, family=manifests["model"]["family"], chosen=chosen,
                   chosen_ms=times["model"], best=config_of(manifests[best]),
                   best_ms=times[best], ratio=ratio,
                   default=config_of(manifests["default"]) if "default" in manifests else None,
                   default_ms=times.get("default"), within=ratio <= 1 + args.tolerance,
                   cost=manifests["model"].get("cost"), times_ms=times,
                   candidates=len(candidates), flags=read_flags(args.kernels, configs["model"]))
        failures += not row["within"]
        results["shapes"].append(row)
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "tile_sweep.json"), "w") as f:
        json.dump(results, f, indent=1)
    lines = [f"# Tile-model sweep, {dev}, {results['date']}", "",
             f"Model's choice vs the best of the sweep (within {args.tolerance:.0%}?).", "",
             "| shape | family | chosen | chosen us | best | best us | ratio | default (us) | ok |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in results["shapes"]:
        d = f"{r['default']} ({r['default_ms'] * 1e3:.1f})" if r["default"] else "-"
        lines.append(f"| {r['shape']} | {r['family']} | {r['chosen']} | {r['chosen_ms'] * 1e3:.1f} "
                     f"| {r['best']} | {r['best_ms'] * 1e3:.1f} | {r['ratio']:.3f} | {d} "
                     f"| {'yes' if r['within'] else 'NO'} |")
    within = sum(r["within"] for r in results["shapes"])
    lines += ["", f"{within} of {len(results['shapes'])} shapes within {args.tolerance:.0%}."]
    with open(os.path.join(args.out, "tile_sweep.md"), "w") as f:
        f.write("\n".join(lines) + "\n")
    print("\n".join(lines), flush=True)
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
