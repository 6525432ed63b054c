#!/usr/bin/env python3
"""Device sweep of the tile model (issue #17): is the configuration the cost
model chooses within 3% of the best one in a sweep, on every benchmark shape?

Staged by bench/tile_sweep_prepare.sh into DEST (with bench/tile_sweep_run.sh,
which builds the runtime and calls this); by hand, from the repository root
on an H100/H200: python3 DEST/tile_sweep.py [--lib libAttnRuntimeC.so]
[--match REGEX] [--out DIR] [--tolerance 0.03] [--repeats R] [--rep-ms MS]
[--min-reps N].

Launching: kernels whose manifest has tensor_map arguments (the hopper
kernels' TMA loads, the shipped default) go through the runtime
(attn_mlir._runtime.RuntimeKernel with a kept Layout: a launch plan that
encodes the tensor maps from each launch's pointers, as the torch op
launches them); the others through the CUDA driver (ctypes: cuModuleLoad,
the manifest's grid / block / shared memory, one pointer per argument,
workspaces zeroed once: the decode kernel leaves its counters zeroed).

Per shape: every candidate gets the same inputs (key lengths the full Lk,
block tables mapping every sequence to its own pages). Configurations whose
cubin and launch geometry are byte-identical (the "model" and "default"
variants are usually one of the candidates) are loaded and timed once and
share the time. Each distinct kernel is first checked against float64
(device_bench.reference on the (b, h) pairs device_bench.check uses; bound
2x torch flash's error on the same inputs, at least 1e-3); a kernel that
fails is no candidate. Timing (BENCHMARKS.md: CUDA events, median of >= 100
reps after warm-up): R round-robin repeats over the shape's kernels (each
repeat starts at another kernel, so drift of clocks does not favour one
position), each a warm-up then max(--min-reps, --rep-ms worth) launches,
the L2 flushed before each as triton's do_bench does; a kernel's time is
the median of all its reps (per-repeat medians recorded as the spread).

Writes DIR/tile_sweep.json after every shape (a cut-short run keeps what it
finished) and DIR/tile_sweep.md (shape, chosen, best, ratio); exits 1 when
some shape's choice is more than the tolerance slower than its best
candidate. bench/tile_sweep_replay.py replays the JSON against a later model.
"""
import argparse
import ctypes
import datetime
import glob
import hashlib
import json
import math
import os
import re
import statistics
import sys
import time

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import device_bench as db  # noqa: E402  (float64 reference, flash yardstick)

DTYPES = {"bf16": torch.bfloat16, "f16": torch.float16, "f32": torch.float32,
          "i32": torch.int32, "i64": torch.int64}
# The roles a caller passes through the runtime (workspaces, lengths and
# tensor maps are the runtime's).
CALLER_ROLES = ("input", "output", "inout")
_cuda = None


def cuda():
    global _cuda
    if _cuda is None:
        _cuda = ctypes.CDLL("libcuda.so.1")
    return _cuda


def ck(rc, what):
    if rc != 0:
        s = ctypes.c_char_p()
        cuda().cuGetErrorString(rc, ctypes.byref(s))
        raise RuntimeError(f"{what}: {rc} {s.value}")


class Kernel:
    def __init__(self, kdir, name):
        self.name = name
        self.manifest_path = os.path.join(kdir, name + ".json")
        self.m = json.load(open(self.manifest_path))
        self.cubin = glob.glob(os.path.join(kdir, name + ".sm_90*.cubin"))[0]
        self.uses_runtime = any(a["role"] == "tensor_map" for a in self.m["arguments"])
        blob = open(self.cubin, "rb").read()
        geometry = json.dumps([self.m["grid"], self.m["block"], self.m["shared_memory_bytes"],
                               self.m["kernel"]])
        # Same cubin, same launch: the same kernel (timing it twice measures noise).
        self.key = hashlib.sha256(blob + geometry.encode()).hexdigest()
        self.fn = None

    def load(self):
        if self.uses_runtime:
            from attn_mlir._runtime import RuntimeKernel
            self.rt = RuntimeKernel(self.cubin, self.manifest_path)
            return
        self.mod = ctypes.c_void_p()
        ck(cuda().cuModuleLoad(ctypes.byref(self.mod), self.cubin.encode()),
           "cuModuleLoad " + self.name)
        self.fn = ctypes.c_void_p()
        ck(cuda().cuModuleGetFunction(ctypes.byref(self.fn), self.mod,
                                      self.m["kernel"].encode()), "cuModuleGetFunction")
        self.smem = self.m["shared_memory_bytes"]
        # CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES
        ck(cuda().cuFuncSetAttribute(self.fn, 8, ctypes.c_int(self.smem)), "max dynamic smem")

    def arguments(self):
        """The manifest arguments this launcher passes tensors for."""
        if self.uses_runtime:
            return [a for a in self.m["arguments"] if a["role"] in CALLER_ROLES]
        return self.m["arguments"]

    def launcher(self, tensors):
        stream = torch.cuda.current_stream().cuda_stream
        if self.uses_runtime:
            from attn_mlir._runtime import Layout
            layout = Layout([(t.data_ptr(), a["dtype"], list(t.shape))
                             for a, t in zip(self.arguments(), tensors)], reusable=True)
            pointers = [t.data_ptr() for t in tensors]

            def launch():
                self.rt.launch_pointers(layout, pointers, stream)
            return launch
        holders = [ctypes.c_uint64(t.data_ptr()) for t in tensors]
        params = (ctypes.c_void_p * len(holders))(
            *[ctypes.cast(ctypes.pointer(h), ctypes.c_void_p) for h in holders])
        g, blk = self.m["grid"], self.m["block"]
        s = ctypes.c_void_p(stream)

        def launch():
            ck(cuda().cuLaunchKernel(self.fn, g[0], g[1], g[2], blk[0], blk[1], blk[2],
                                     self.smem, s, params, None), "cuLaunchKernel")
        launch.keep = (holders, params)
        return launch


def make_argument(arg, seq_k, cache):
    """A tensor for one manifest argument; inputs of one shape are shared
    by every candidate of the shape (`cache`), outputs and workspaces not."""
    shape, dt = arg["shape"], DTYPES[arg["dtype"]]
    if arg["role"] == "workspace":
        return torch.zeros(shape, device="cuda", dtype=dt)
    if arg["role"] == "output":
        return torch.full(shape, float("nan"), device="cuda", dtype=dt)
    key = (arg["name"], tuple(shape), arg["dtype"])
    if key not in cache:
        if dt == torch.int32 and len(shape) == 1:  # key lengths: full
            t = torch.full(shape, seq_k, device="cuda", dtype=dt)
        elif dt == torch.int32:  # a block table: sequence b owns its pages
            t = torch.arange(math.prod(shape), device="cuda", dtype=dt).reshape(shape)
        else:
            t = torch.randn(shape, device="cuda", dtype=dt)
        cache[key] = t
    return cache[key]


def spec_of(m):
    """device_bench's spec of the problem a manifest computes."""
    a = m["attention"]
    return dict(batch=a["batch"], hq=a["heads_q"], hkv=a["heads_kv"], lq=a["seq_q"],
                lk=a["seq_k"], d=a["head_dim"], dv=a["value_head_dim"], dtype="bf16",
                mask="none" if a["mask"] == "none" else "causal", softcap=0.0, lse=False,
                score_mod="none", alibi=False, bshd=False, wl=0, wr=0)


def bhsd_inputs(m, by_name):
    """Q, K, V as [B, H, L, D] views of the kernel's inputs (paged K/V:
    sequence b's pages in block-table order, as make_argument maps them)."""
    q = by_name["q"]
    if "k_pages" not in by_name:
        return q, by_name["k"], by_name["v"]
    b, lk = m["attention"]["batch"], m["attention"]["seq_k"]

    def unpage(p):
        pages, page, hkv, d = p.shape
        return p.reshape(b, pages // b * page, hkv, d)[:, :lk].transpose(1, 2)
    return q, unpage(by_name["k_pages"]), unpage(by_name["v_pages"])


class Reference:
    """float64 O of a shape on device_bench.check's (b, h) pairs, and the
    bound: 2x torch flash's error there (at least 1e-3)."""

    def __init__(self, m, by_name):
        spec = spec_of(m)
        q, k, v = bhsd_inputs(m, by_name)
        total = spec["batch"] * spec["hq"]
        heads = None if total <= 64 else [
            (i * total // 8 // spec["hq"], (i * total // 8) % spec["hq"]) for i in range(8)]
        self.o, _, self.pairs = db.reference(spec, q, k, v, heads)
        flash = db.torch_flash(spec, q, k.contiguous(), v.contiguous())
        self.flash_err = self.error(flash)
        self.bound = max(2 * self.flash_err, 1e-3)

    def error(self, o):
        ours = torch.stack([o[b, h] for b, h in self.pairs]).double()
        if torch.isnan(ours).any():
            return float("inf")
        return (ours - self.o).abs().max().item()


def time_reps(launch, flush, n):
    """Per-launch milliseconds of n launches, the L2 flushed before each."""
    starts = [torch.cuda.Event(enable_timing=True) for _ in range(n)]
    ends = [torch.cuda.Event(enable_timing=True) for _ in range(n)]
    for s, e in zip(starts, ends):
        flush.zero_()
        s.record()
        launch()
        e.record()
    torch.cuda.synchronize()
    return [s.elapsed_time(e) for s, e in zip(starts, ends)]


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


def sweep_shape(args, configs, flush):
    """Checks and times one shape's configurations; its result row (None
    when the model's kernel did not run)."""
    # Candidates first, so that "model" and "default" name the candidate
    # they are identical to.
    order = sorted(configs, key=lambda c: (c in ("model", "default"), c))
    kernels = {c: Kernel(args.kernels, configs[c]) for c in order}
    distinct, checks, cache = {}, {}, {}
    for config, kern in kernels.items():
        if kern.key in distinct:
            continue
        try:
            kern.load()
            seq_k = kern.m["attention"]["seq_k"]
            tensors = [make_argument(a, seq_k, cache) for a in kern.arguments()]
            launch = kern.launcher(tensors)
            launch()
            torch.cuda.synchronize()
            by_name = {a["name"]: t for a, t in zip(kern.arguments(), tensors)}
            if "ref" not in checks:
                checks["ref"] = Reference(kern.m, by_name)
            err = checks["ref"].error(by_name["o"])
            ok = err <= checks["ref"].bound
            checks[config] = dict(max_abs_err=err, ok=ok)
            print(f"check {kern.name:58s} err={err:.2e} bound={checks['ref'].bound:.2e} "
                  f"{'OK' if ok else 'FAIL'}{' (runtime)' if kern.uses_runtime else ''}", flush=True)
            if not ok:
                continue
            est = statistics.median(time_reps(launch, flush, 3))
            distinct[kern.key] = dict(config=config, launch=launch, est=est, reps=[], medians=[])
        except Exception as e:  # a kernel that fails is no candidate
            print(f"{kern.name:60s} ERROR {e}", flush=True)
            checks[config] = dict(error=str(e)[:300], ok=False)
    order = list(distinct.values())
    for r in range(args.repeats):
        shift = r * len(order) // max(1, args.repeats)
        for d in order[shift:] + order[:shift]:
            n = max(args.min_reps, math.ceil(args.rep_ms / max(d["est"], 1e-3)))
            n = min(n, args.max_reps)
            for _ in range(max(2, math.ceil(args.warmup_ms / max(d["est"], 1e-3)))):
                d["launch"]()
            reps = time_reps(d["launch"], flush, n)
            d["reps"] += reps
            d["medians"].append(statistics.median(reps))
    times, spread, manifests = {}, {}, {}
    for config, kern in kernels.items():
        d = distinct.get(kern.key)
        if d is None:
            continue
        times[config] = statistics.median(d["reps"])
        spread[config] = d["medians"]
        manifests[config] = kern.m
        alias = f" (= {d['config']})" if d["config"] != config else ""
        print(f"{kern.name:60s} {times[config] * 1e3:10.2f} us  reps {len(d['reps'])}{alias}",
              flush=True)
    if "model" not in times:
        return None
    candidates = {c: t for c, t in times.items() if c not in ("model", "default")}
    if not candidates:
        return None
    best = min(candidates, key=candidates.get)
    ratio = times["model"] / candidates[best]
    aliases = {c: distinct[k.key]["config"] for c, k in kernels.items()
               if k.key in distinct and distinct[k.key]["config"] != c}
    ref = checks.get("ref")
    return dict(shape=None, family=manifests["model"]["family"],
                chosen=config_of(manifests["model"]), chosen_ms=times["model"],
                best=config_of(manifests[best]), best_ms=candidates[best], ratio=ratio,
                default=config_of(manifests["default"]) if "default" in manifests else None,
                default_ms=times.get("default"), within=ratio <= 1 + args.tolerance,
                cost=manifests["model"].get("cost"), times_ms=times, repeat_medians_ms=spread,
                aliases=aliases, candidates=len(candidates),
                launcher="runtime" if kernels["model"].uses_runtime else "driver",
                loads=("tma" if kernels["model"].uses_runtime else None),
                flash_err=ref.flash_err if ref else None, bound=ref.bound if ref else None,
                checks={c: v for c, v in checks.items() if c != "ref"},
                flags=read_flags(args.kernels, configs["model"]))


def write(results, out, tolerance):
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "tile_sweep.json"), "w") as f:
        json.dump(results, f, indent=1)
    lines = [f"# Tile-model sweep, {results['device']}, {results['date']}", "",
             f"Model's choice vs the best candidate of the sweep (within {tolerance:.0%}?); "
             f"{results['protocol']}.", "",
             "| shape | family | chosen | chosen us | best | best us | ratio | default (us) | ok |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in results["shapes"]:
        d = f"{r['default']} ({r['default_ms'] * 1e3:.1f})" if r["default"] else "-"
        lines.append(f"| {r['shape']} | {r['family']} | {r['chosen']} | {r['chosen_ms'] * 1e3:.1f} "
                     f"| {r['best']} | {r['best_ms'] * 1e3:.1f} | {r['ratio']:.3f} | {d} "
                     f"| {'yes' if r['within'] else 'NO'} |")
    within = sum(r["within"] for r in results["shapes"])
    lines += ["", f"{within} of {len(results['shapes'])} shapes within {tolerance:.0%}."]
    if results.get("missing"):
        lines += ["", "Not measured: " + ", ".join(results["missing"])]
    with open(os.path.join(out, "tile_sweep.md"), "w") as f:
        f.write("\n".join(lines) + "\n")
    return lines


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--kernels", default=os.path.join(HERE, "kernels"))
    ap.add_argument("--out", default=os.environ.get("OUT", "/tmp/out"))
    ap.add_argument("--lib", default=None, help="libAttnRuntimeC.so (TMA kernels)")
    ap.add_argument("--match", default=None)
    ap.add_argument("--tolerance", type=float, default=0.03)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--rep-ms", type=float, default=15.0, help="per kernel and repeat")
    ap.add_argument("--min-reps", type=int, default=34, help="per kernel and repeat")
    ap.add_argument("--max-reps", type=int, default=200)
    ap.add_argument("--warmup-ms", type=float, default=3.0)
    args = ap.parse_args()
    if args.lib:
        os.environ["ATTN_MLIR_RUNTIME_LIB"] = os.path.abspath(args.lib)
    sys.path.insert(0, os.path.join(HERE, "python"))
    torch.manual_seed(0)
    torch.zeros(1, device="cuda")
    flush = torch.empty(int(256e6 // 4), dtype=torch.int, device="cuda")
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
    protocol = (f"CUDA events, L2 flushed per launch, {args.repeats} round-robin repeats of "
                f"max({args.min_reps}, {args.rep_ms:g} ms) reps, median of all reps; "
                "identical cubins timed once")
    results = dict(device=dev, date=datetime.datetime.now(datetime.timezone.utc).isoformat(),
                   tolerance=args.tolerance, protocol=protocol, shapes=[],
                   missing=sorted(shapes))
    failures, start = 0, time.time()
    for shape, configs in sorted(shapes.items()):
        row = sweep_shape(args, configs, flush)
        torch.cuda.empty_cache()
        if row is None:
            print(f"{shape}: no model kernel timed", flush=True)
            failures += 1
            continue
        row["shape"] = shape
        failures += not row["within"]
        results["shapes"].append(row)
        results["missing"].remove(shape)
        results["elapsed_s"] = time.time() - start
        write(results, args.out, args.tolerance)
        print(f"== {shape}: {row['chosen']} {row['chosen_ms'] * 1e3:.1f} us vs best {row['best']} "
              f"{row['best_ms'] * 1e3:.1f} us: {row['ratio']:.3f} ({time.time() - start:.0f} s)",
              flush=True)
    failures += len(results["missing"])
    print("\n".join(write(results, args.out, args.tolerance)), flush=True)
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
