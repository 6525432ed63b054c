#!/usr/bin/env python3
"""Device harness of the hopper (sm_90a, wgmma) kernels: correctness vs
float64 and timing vs torch SDPA flash / cuDNN, FlexAttention (unless
--skip-flex) and our mma.sync kernels.

Staged by bench/hopper_prepare.sh into .device-hopper/; run from the
repository root on an H100/H200: python3 .device-hopper/hopper_bench.py
[--lib libAttnRuntimeC.so] [--match REGEX] [--out DIR] [--repeats N]. With
--lib every kernel is loaded and launched through the runtime's C ABI (which
builds the TMA tensor maps a manifest asks for from each launch's
pointers); without it through the CUDA driver (ctypes): cuModuleLoad, the
manifest's grid/block/shared memory, one device pointer per argument, and
a manifest with tensor_map arguments is refused. Outputs are poisoned with NaN
before every checked launch; the error bound is device_bench.py's (2x torch
flash's error on the same inputs where comparable).
"""
import argparse
import ctypes
import glob
import json
import math
import os
import re
import sys
import datetime

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import device_bench as db  # noqa: E402

cuda = ctypes.CDLL("libcuda.so.1")


def ck(rc, what):
    if rc != 0:
        s = ctypes.c_char_p()
        cuda.cuGetErrorString(rc, ctypes.byref(s))
        raise RuntimeError(f"{what}: {rc} {s.value}")


RUNTIME = None  # db.Runtime over libAttnRuntimeC.so (--lib)


class Kernel:
    def __init__(self, kdir, name):
        self.m = json.load(open(os.path.join(kdir, name + ".json")))
        cubin = glob.glob(os.path.join(kdir, name + ".sm_90*.cubin"))[0]
        self.rt = RUNTIME
        if self.rt is not None:
            self.handle = self.rt.load(cubin, os.path.join(kdir, name + ".json"))
            return
        if any(a["role"] == "tensor_map" for a in self.m["arguments"]):
            raise RuntimeError(f"{name}: the manifest asks for tensor maps (TMA); this "
                               "ctypes launcher cannot build them: pass --lib "
                               "libAttnRuntimeC.so to launch through the runtime")
        self.mod = ctypes.c_void_p()
        ck(cuda.cuModuleLoad(ctypes.byref(self.mod), cubin.encode()), "cuModuleLoad " + name)
        self.fn = ctypes.c_void_p()
        ck(cuda.cuModuleGetFunction(ctypes.byref(self.fn), self.mod,
                                    self.m["kernel"].encode()), "cuModuleGetFunction")
        self.smem = self.m["shared_memory_bytes"]
        ck(cuda.cuFuncSetAttribute(self.fn, 8, ctypes.c_int(self.smem)), "max dynamic smem")

    def launcher(self, tensors):
        if self.rt is not None:
            return db.Launcher(self.rt, self.handle, tensors)
        assert len(tensors) == len(self.m["arguments"]), (len(tensors), self.m["arguments"])
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


def check(kdir, name, spec, q=None, k=None, v=None):
    if q is None:
        q, k, v = db.make_inputs(spec)
    dt = q.dtype
    o = torch.full((spec["batch"], spec["hq"], spec["lq"], spec["d"]), float("nan"),
                   device="cuda", dtype=dt)
    # --bshd kernels take [B, L, H, D] buffers; o is then O's BHSD view.
    tensors, o = db.kernel_tensors(spec, q, k, v, o)
    lse = None
    if spec["lse"]:
        lse = torch.full((spec["batch"], spec["hq"], spec["lq"]), float("nan"),
                         device="cuda", dtype=torch.float32)
        tensors.append(lse)
    kern = Kernel(kdir, name)
    kern.launcher(tensors)()
    torch.cuda.synchronize()
    total = spec["batch"] * spec["hq"]
    heads = None if total <= 64 else [
        (i * total // 8 // spec["hq"], (i * total // 8) % spec["hq"]) for i in range(8)]
    ro, rl, pairs = db.reference(spec, q, k, v, heads)
    ours = torch.stack([o[b, h] for b, h in pairs]).double()
    unwritten = int(torch.isnan(ours).sum())
    err = (ours - ro).abs().max().item()
    flash_err = None
    same_mask = spec["mask"] == "none" or (spec["mask"] in ("causal", "causal-top-left")
                                           and spec["lq"] == spec["lk"])
    if same_mask and not spec["softcap"] and dt == torch.bfloat16:
        fo = db.torch_flash(spec, q, k, v)
        rp = ro if not db.has_mods(spec) else db.reference(
            dict(spec, score_mod="none", alibi=False), q, k, v, pairs)[0]
        flash_err = (torch.stack([fo[b, h] for b, h in pairs]).double() - rp).abs().max().item()
    bound = 2 * flash_err if flash_err else (2e-2 if dt == torch.bfloat16 else 4e-3)
    bound = max(bound, 1e-3)
    lse_err = None
    if lse is not None:
        ol = torch.stack([lse[b, h] for b, h in pairs]).double()
        finite = torch.isfinite(rl)
        lse_err = (ol[finite] - rl[finite]).abs().max().item() if finite.any() else 0.0
        if not torch.equal(torch.isinf(ol), torch.isinf(rl)):
            lse_err = float("inf")
    ok = unwritten == 0 and err <= bound and (lse_err is None or lse_err < 1e-2)
    print(f"check {name:44s} err={err:.2e} flash={flash_err} bound={bound:.1e} "
          f"lse={lse_err} unwritten={unwritten} {'OK' if ok else 'FAIL'}", flush=True)
    return kern, ok, dict(name=name, err=err, flash_err=flash_err, bound=bound,
                          lse_err=lse_err, unwritten=unwritten, ok=ok)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--kernels", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "kernels"))
    ap.add_argument("--out", default=os.environ.get("OUT", "/tmp/out"))
    ap.add_argument("--match", default=None)
    ap.add_argument("--lib", default=None, help="libAttnRuntimeC.so: launch through the runtime")
    ap.add_argument("--skip-flex", action="store_true")
    ap.add_argument("--repeats", type=int, default=int(os.environ.get("HOPPER_REPEATS", "1")))
    args = ap.parse_args()
    global RUNTIME
    if args.lib:
        RUNTIME = db.Runtime(args.lib)
    from triton.testing import do_bench
    from torch.nn.attention import SDPBackend, sdpa_kernel
    import torch.nn.functional as F
    torch.manual_seed(0)
    torch.zeros(1, device="cuda")
    dev = torch.cuda.get_device_name()
    print("device:", dev, "torch", torch.__version__, flush=True)
    names = sorted(os.path.basename(p)[:-5] for p in glob.glob(os.path.join(args.kernels, "*.json")))
    if args.match:
        names = [n for n in names if re.search(args.match, n)]
    specs = {n: db.parse_flags(open(os.path.join(args.kernels, n + ".flags")).read()) for n in names}
    results = dict(device=dev, date=datetime.datetime.now(datetime.timezone.utc).isoformat(),
                   checks=[], rows=[])
    for n in names:
        if n.startswith("check_"):
            try:
                results["checks"].append(check(args.kernels, n, specs[n])[2])
            except Exception as e:
                print(f"check {n} ERROR {e}", flush=True)
                results["checks"].append(dict(name=n, ok=False, error=str(e)))
    shapes = {}
    for n in names:
        if n.startswith("bench_"):
            shapes.setdefault(n.rsplit("_", 1)[0], []).append(n)
    bench = lambda fn: do_bench(fn, warmup=25, rep=100, return_mode="median")
    flex = None if args.skip_flex else db.make_flex()
    for shape, variants in shapes.items():
        spec = specs[variants[0]]
        q, k, v = db.make_inputs(spec)
        causal = spec["mask"] != "none"
        flops = 4 * spec["batch"] * spec["hq"] * spec["lq"] * spec["lk"] * spec["d"] * (0.5 if causal else 1)
        row = dict(shape=shape)
        # Every variant checked first; then (--repeats) all of them, the
        # anchors included, timed round-robin, keeping each one's minimum
        # median (the spread of one kernel within a call is ~3-8%).
        timed = {}
        for n in variants:
            try:
                kern, ok, res = check(args.kernels, n, spec, q, k, v)
                results["checks"].append(res)
                if not ok:
                    continue
                o = torch.empty_like(q)
                timed[n.rsplit("_", 1)[1]] = (kern.launcher([q, k, v, o]), o, kern)
            except Exception as e:
                print(f"bench {n} ERROR {e}", flush=True)
        gqa = spec["hq"] != spec["hkv"]
        kx = k.repeat_interleave(spec["hq"] // spec["hkv"], 1) if gqa else k
        vx = v.repeat_interleave(spec["hq"] // spec["hkv"], 1) if gqa else v
        for backend, key in ((SDPBackend.FLASH_ATTENTION, "flash"), (SDPBackend.CUDNN_ATTENTION, "cudnn")):
            try:
                def fn(backend=backend):
                    with sdpa_kernel(backend):
                        return F.scaled_dot_product_attention(q, kx, vx, is_causal=causal)
                fn()
                timed[key] = (fn,)
            except Exception as e:
                row[key + "_error"] = str(e)[:200]
        for rep in range(args.repeats):
            for key, entry in timed.items():
                try:
                    row.setdefault("all_" + key, []).append(round(bench(entry[0]), 5))
                except Exception as e:
                    print(f"bench {shape} {key} ERROR {e}", flush=True)
        for key in list(row):
            if key.startswith("all_"):
                row["ms_" + key[4:]] = min(row[key])
        del timed
        if flex is not None:
            db.time_flex(flex, spec, q, k, v, row, bench)
        for key in list(row):
            if key.startswith("ms_"):
                row["tflops_" + key[3:]] = round(flops / row[key] / 1e9, 1)
        ours = {key: ms for key, ms in row.items() if key.startswith("ms_h")}
        if ours:
            best = min(ours, key=ours.get)
            row["hopper_best"] = best[3:]
            for key in ("flash", "cudnn", "flex", "mma128x4x64"):
                if "ms_" + key in row:
                    row["hopper_vs_" + key] = round(row["ms_" + key] / ours[best], 3)
                    # The kernel a user gets (the defaults), not the best variant.
                    if "ms_hopper" in row:
                        row["default_vs_" + key] = round(row["ms_" + key] / row["ms_hopper"], 3)
        print(json.dumps(row), flush=True)
        results["rows"].append(row)
        del q, k, v, kx, vx
        torch.cuda.empty_cache()
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "hopper_results.json"), "w") as f:
        json.dump(results, f, indent=1)
    bad = [c["name"] for c in results["checks"] if not c["ok"]]
    print("FAILED CHECKS:", bad if bad else "none")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
