"""Decode part of the device harness (imported by device_bench.py).

Kernels named decode_* (timed shapes) and check_decode_* (correctness
variants), staged by bench/prepare.sh. Each one is first checked against a
float64 reference (fresh random inputs, NaN-poisoned outputs, shuffled pages,
runtime key lengths); a kernel that fails is not timed. Then every decode
shape is timed for our contiguous and paged kernels, torch SDPA (flash and
cuDNN backends) and torch.compile(flex_attention), rotating among enough input
sets that the working set is >= 3x the L2 cache, and compared with the device
copy bandwidth measured in the same run (ceilings.py's method).

Kernel contract (manifest <name>.json): "arguments" with name, dtype, shape
and role (input / output / workspace; without "role", the older boolean
"output"). Only non-workspace arguments are passed, in manifest order, looked
up by name:
  q [B,Hq,Lq,D]; k, v [B,Hkv,Lk,D] (contiguous) or k_pages, v_pages
  [NP,P,Hkv,D] + block_table [B,Lk/P] i32 (row l of sequence b is
  pages[table[b, l // P], l % P, h, :]); key_lengths [B] i32; o [B,Hq,Lq,D];
  lse [B,Hq,Lq] f32 (optional).
Keys j >= key_lengths[b] are masked; masks align to each sequence's own
length (a_i = i + len_b - Lq): causal / causal-bottom-right j <= a_i;
causal-top-left j <= i; sliding-window a_i - wl <= j <= a_i + wr. Scores:
s = q.k / sqrt(D); softcap c: c tanh(s / c); ALiBi: s -= slope_h |a_i - j|;
score_mod relative-bias s + 0.01 (j - i), tanh-cap 20 tanh(s / 20) (the same
definitions as device_bench.py and lib/Reference). A query row with no visible
key gives O = 0, LSE = -inf.
"""
import datetime
import json
import math
import os
import re
import statistics
import time
import warnings

import torch
import torch.nn.functional as F
from torch.nn.attention import SDPBackend, sdpa_kernel

TORCH_DTYPE = {"bf16": torch.bfloat16, "f16": torch.float16,
               "f32": torch.float32, "i32": torch.int32, "si32": torch.int32,
               "int32": torch.int32, "i1": torch.bool}
DEVICE = "cuda"  # tests of the harness's own logic set "cpu"
SHAPE_RE = re.compile(r"^(decode_(gqa|mha)_b(\d+)_l(\d+))_(contig|paged)(_\w+)?$")


def is_decode(name):
    return name.startswith(("decode_", "check_decode_"))


def parse_flags(text):
    """The attn-compile flags prepare.sh wrote in <name>.flags."""
    s = dict(batch=1, hq=32, hkv=8, lq=1, lk=1024, d=128, dv=0, dtype="bf16",
             mask="causal", lse=True, key_lengths=False, page=0, splits=0, append=0,
             wl=256, wr=0, softcap=0.0, score_mod="none", alibi=False, shared_kv=False)
    keys = {"--batch": "batch", "--heads-q": "hq", "--heads-kv": "hkv",
            "--seq-q": "lq", "--seq-k": "lk", "--head-dim": "d",
            "--value-head-dim": "dv",
            "--dtype": "dtype", "--mask": "mask", "--lse": "lse",
            "--key-lengths": "key_lengths", "--page-size": "page",
            "--num-splits": "splits", "--append-tokens": "append", "--window-left": "wl",
            "--window-right": "wr", "--softcap": "softcap",
            "--score-mod": "score_mod", "--alibi": "alibi", "--shared-kv": "shared_kv"}
    # The decode kernel's split count travels as convert-attn-to-nvvm's
    # option (--convert-attn-to-nvvm=num-splits=N,...).
    tokens = []
    for tok in text.split():
        if tok.startswith("--convert-attn-to-nvvm="):
            tokens += ["--" + o for o in tok.partition("=")[2].split(",")]
        else:
            tokens.append(tok)
    for tok in tokens:
        k, _, v = tok.partition("=")
        key = keys.get(k)
        if key is None:
            continue
        if key in ("lse", "key_lengths", "alibi", "shared_kv"):
            s[key] = v.lower() not in ("false", "0")
        elif key in ("dtype", "mask", "score_mod"):
            s[key] = v
        elif key == "softcap":
            s[key] = float(v)
        else:
            s[key] = int(v)
    # Dv: the columns of V and O (0: D).
    s["dv"] = s["dv"] or s["d"]
    if s["mask"] not in ("none", "causal", "causal-bottom-right", "causal-top-left", "sliding-window"):
        raise ValueError("decode harness: mask " + s["mask"])
    if s["score_mod"] not in ("none", "relative-bias", "tanh-cap"):
        raise ValueError("decode harness: score_mod " + s["score_mod"])
    return s


def has_mods(spec):
    """Score modifiers: the kernel computes a function torch flash does not."""
    return bool(spec["softcap"]) or spec["alibi"] or spec["score_mod"] != "none"


def alibi_slopes(hq):
    """attn-compile --alibi: 2^(-8 (h + 1) / Hq) (as device_bench.py)."""
    return [2.0 ** (-8.0 * (h + 1) / hq) for h in range(hq)]


def load_manifest(kdir, name):
    with open(os.path.join(kdir, name + ".json")) as f:
        m = json.load(f)
    args = []
    for a in m["arguments"]:
        role = a.get("role") or ("output" if a.get("output") else "input")
        args.append(dict(name=a["name"], dtype=a["dtype"],
                         shape=[int(x) for x in a["shape"]], role=role))
    return args


class ArgLauncher:
    """Launches with the manifest's non-workspace arguments, looked up by
    name in `pool`, after checking dtype and shape; ctypes packing is done
    once so timing sees only the launch."""

    def __init__(self, rt, handle, margs, pool, sync=False):
        import ctypes
        self.ctypes = ctypes
        self.rt, self.handle, self.sync = rt, handle, sync
        tensors, dts = [], []
        for a in margs:
            if a["role"] == "workspace":
                continue
            t = pool.get(a["name"])
            if t is None:
                raise RuntimeError(f"manifest argument '{a['name']}' ({a['role']}) is not one the "
                                   f"harness provides ({sorted(pool)})")
            if TORCH_DTYPE.get(a["dtype"]) != t.dtype:
                raise RuntimeError(f"argument '{a['name']}': manifest dtype {a['dtype']}, harness {t.dtype}")
            if list(t.shape) != a["shape"]:
                raise RuntimeError(f"argument '{a['name']}': manifest shape {a['shape']}, harness {list(t.shape)}")
            if not t.is_contiguous():
                raise RuntimeError(f"argument '{a['name']}' is not contiguous")
            tensors.append(t)
            dts.append(a["dtype"].encode())
        n = len(tensors)
        self.n = n
        self.keep = tensors
        self.ptrs = (ctypes.c_uint64 * n)(*[t.data_ptr() for t in tensors])
        self.dtypes = (ctypes.c_char_p * n)(*dts)
        self.ranks = (ctypes.c_int32 * n)(*[t.dim() for t in tensors])
        dims = [d for t in tensors for d in t.shape]
        self.shapes = (ctypes.c_int64 * max(1, len(dims)))(*dims)
        self.stream = ctypes.c_void_p(torch.cuda.current_stream().cuda_stream)

    def __call__(self):
        if self.rt.lib.attnKernelLaunch(self.handle, self.n, self.ptrs,
                                        self.dtypes, self.ranks, self.shapes,
                                        self.stream, int(self.sync)):
            raise RuntimeError(self.rt.error())


def margs_by_name(margs):
    return {a["name"]: a for a in margs}


# ---------------------------------------------------------------- inputs

def choose_lengths(name, spec, ragged):
    """Key lengths drawn at run time. Bench kernels: all Lk, then a ragged
    pass. Checks: one full, one of length 1, the rest random; "zero" in the
    name adds an empty sequence; order shuffled."""
    b, lk = spec["batch"], spec["lk"]
    if not ragged:
        return [lk] * b
    if name.startswith("decode_"):
        return torch.randint(1, lk + 1, (b,)).tolist()
    lens = [lk]
    if b >= 3:
        lens.append(1)
    while len(lens) < b:
        lens.append(int(torch.randint(2, lk, (1,))))
    if "zero" in name:
        lens[-1] = 0
    return [lens[i] for i in torch.randperm(b).tolist()]


def visible_ranges(spec, lens):
    """[B][Lq] of (lo, hi): the keys visible to each query row are exactly
    [lo, hi) (every supported mask gives a contiguous range; hi <= lo: none).
    Same rule as device_bench.visible / lib/Reference keyVisible, with Lk
    replaced by the sequence's own length len_b."""
    lq, m = spec["lq"], spec["mask"]
    out = []
    for ln in lens:
        row = []
        for i in range(lq):
            a = i + ln - lq                      # bottom-right aligned diagonal
            lo, hi = 0, ln
            if m in ("causal", "causal-bottom-right"):
                hi = a + 1
            elif m == "causal-top-left":
                hi = i + 1
            elif m == "sliding-window":
                lo, hi = a - spec["wl"], a + spec["wr"] + 1
            elif m != "none":
                raise ValueError("decode harness: mask " + m)
            lo, hi = max(0, lo), min(hi, ln)
            row.append((lo, hi) if hi > lo else (0, 0))
        out.append(row)
    return out


def n_visible(spec, lens):
    """[B][Lq]: number of visible keys per query row."""
    return [[hi - lo for lo, hi in row] for row in visible_ranges(spec, lens)]


def to_pages(x, perm, num_pages, page):
    """Dense [B,H,L,D] -> pages [num_pages, P, H, D]; logical page g (=
    b * L/P + l // P) stored at physical page perm[g]; unused pages random."""
    b, h, L, d = x.shape
    logical = x.view(b, h, L // page, page, d).permute(0, 2, 3, 1, 4).reshape(-1, page, h, d)
    pages = torch.randn(num_pages, page, h, d, device=x.device, dtype=x.dtype)
    pages[perm] = logical
    return pages


def gather_pages(pages, table, page):
    """pages [NP,P,H,D], table [B,NPB] -> dense [B,H,NPB*P,D] (the contract's
    view: row l of sequence b = pages[table[b, l // P], l % P])."""
    L = table.shape[1] * page
    l = torch.arange(L, device=pages.device)
    phys = table.long()[:, l // page]                       # [B, L]
    return pages[phys, (l % page)[None, :].expand_as(phys)].permute(0, 2, 1, 3).contiguous()


def make_set(spec, margs, lens, dense=True):
    """One input set: dict name -> tensor (outputs NaN-poisoned), plus the
    dense logical K/V [B,Hkv,L,D] gathered back from what the kernel reads
    (None when dense=False)."""
    dt = TORCH_DTYPE[spec["dtype"]]
    b, hq, hkv, lq, lk, d, dv = (spec[k] for k in ("batch", "hq", "hkv", "lq", "lk", "d", "dv"))
    P = spec["page"]
    dev = DEVICE
    t = {"q": torch.randn(b, hq, lq, d, device=dev, dtype=dt),
         "key_lengths": torch.tensor(lens, device=dev, dtype=torch.int32),
         "o": torch.full((b, hq, lq, dv), float("nan"), device=dev, dtype=dt),
         "lse": torch.full((b, hq, lq), float("nan"), device=dev, dtype=torch.float32)}
    kd = vd = None
    if P:
        by = margs_by_name(margs)
        if "k_pages" not in by or "block_table" not in by:
            raise RuntimeError("paged kernel: manifest lacks k_pages/block_table (has %s)" % sorted(by))
        num_pages, page = by["k_pages"]["shape"][0], by["k_pages"]["shape"][1]
        npb = by["block_table"]["shape"][1]
        if page != P:
            raise RuntimeError(f"manifest page size {page} != --page-size {P}")
        if npb * P < lk or num_pages < b * npb:
            raise RuntimeError(f"manifest pages {num_pages}x{page}, table [{b},{npb}] cannot hold Lk={lk}")
        L = npb * P
        perm = torch.randperm(num_pages, device=dev)[:b * npb]
        t["block_table"] = perm.view(b, npb).to(torch.int32).contiguous()
        if dense and spec["shared_kv"]:
            # One shared K/V cache (--shared-kv): no v_pages, V is the first
            # Dv columns of K's rows.
            k = torch.randn(b, hkv, L, d, device=dev, dtype=dt)
            t["k_pages"] = to_pages(k, perm, num_pages, P)
            kd = gather_pages(t["k_pages"], t["block_table"], P)
            vd = kd[..., :dv]
            v = k[..., :dv]
            if not (torch.equal(kd, k) and torch.equal(vd, v)):
                raise RuntimeError("harness bug: paged layout does not round-trip")
            del k, v
        elif dense:
            k = torch.randn(b, hkv, L, d, device=dev, dtype=dt)
            v = torch.randn(b, hkv, L, dv, device=dev, dtype=dt)
            t["k_pages"] = to_pages(k, perm, num_pages, P)
            t["v_pages"] = to_pages(v, perm, num_pages, P)
            kd = gather_pages(t["k_pages"], t["block_table"], P)
            vd = gather_pages(t["v_pages"], t["block_table"], P)
            # The harness's own layout code, checked against the contract's view.
            if not (torch.equal(kd, k) and torch.equal(vd, v)):
                raise RuntimeError("harness bug: paged layout does not round-trip")
            del k, v
        else:
            t["k_pages"] = torch.randn(num_pages, P, hkv, d, device=dev, dtype=dt)
            if not spec["shared_kv"]:
                t["v_pages"] = torch.randn(num_pages, P, hkv, dv, device=dev, dtype=dt)
    elif spec["append"]:
        # attn.kv_append fused into the kernel: the last T keys of sequence b
        # (positions[b] = len_b - T ..) come from k_new/v_new, the rest from
        # the cache, whose rows there hold stale values (a missed append
        # fails the check).
        T = spec["append"]
        pos = [ln - T for ln in lens]
        t["positions"] = torch.tensor(pos, device=dev, dtype=torch.int32)
        for x, w in (("k", d), ("v", dv)):
            t[x + "_cache"] = torch.randn(b, hkv, lk, w, device=dev, dtype=dt)
            t[x + "_new"] = torch.randn(b, hkv, T, w, device=dev, dtype=dt)
        if dense:
            kd, vd = t["k_cache"].clone(), t["v_cache"].clone()
            for i in range(b):
                for j in range(T):
                    r = pos[i] + j
                    if 0 <= r < lk:
                        kd[i, :, r] = t["k_new"][i, :, j]
                        vd[i, :, r] = t["v_new"][i, :, j]
    else:
        t["k"] = torch.randn(b, hkv, lk, d, device=dev, dtype=dt)
        t["v"] = torch.randn(b, hkv, lk, dv, device=dev, dtype=dt)
        kd, vd = t["k"], t["v"]
    return t, kd, vd


# ------------------------------------------------------------- reference

def check_pairs(spec):
    b, hq = spec["batch"], spec["hq"]
    if b * hq <= 256:
        return [(i, h) for i in range(b) for h in range(hq)]
    # Two heads per sequence, spread over the query (and so KV) heads.
    return [(i, (5 * i + r * (hq // 2 + 1)) % hq) for i in range(b) for r in range(2)]


def reference(spec, q, kd, vd, ranges, lens, pairs):
    """float64 O [P,Lq,D] and LSE [P,Lq] over (b, h) pairs; ranges =
    visible_ranges(spec, lens). Order as lib/Reference: scale, softcap,
    ALiBi, score_mod, then the mask."""
    g = spec["hq"] // spec["hkv"]
    scale = 1.0 / math.sqrt(spec["d"])
    slopes = alibi_slopes(spec["hq"])
    lq = spec["lq"]
    outs, lses = [], []
    for b, h in pairs:
        lo = torch.tensor([r[0] for r in ranges[b]], device=q.device)[:, None]
        hi = torch.tensor([r[1] for r in ranges[b]], device=q.device)[:, None]
        nmax = max(1, int(hi.max()))
        kk = kd[b, h // g, :nmax].double()
        vv = vd[b, h // g, :nmax].double()
        s = (q[b, h].double() @ kk.T) * scale                      # [Lq, nmax]
        i = torch.arange(lq, device=q.device, dtype=torch.float64)[:, None]
        j = torch.arange(nmax, device=q.device, dtype=torch.float64)[None, :]
        if spec["softcap"]:
            s = spec["softcap"] * torch.tanh(s / spec["softcap"])
        if spec["alibi"]:
            s = s - slopes[h] * (i + lens[b] - lq - j).abs()
        if spec["score_mod"] == "relative-bias":
            s = s + 0.01 * (j - i)
        elif spec["score_mod"] == "tanh-cap":
            s = 20.0 * torch.tanh(s / 20.0)
        s = s.masked_fill((j < lo) | (j >= hi), float("-inf"))
        m = s.amax(-1, keepdim=True)
        m = torch.where(torch.isinf(m), torch.zeros_like(m), m)
        p = torch.exp(s - m)
        l = p.sum(-1, keepdim=True)
        o = torch.where(l > 0, (p @ vv) / l.clamp_min(1e-300), torch.zeros(1, device=q.device, dtype=torch.float64))
        lse = torch.where(l[:, 0] > 0, m[:, 0] + torch.log(l[:, 0].clamp_min(1e-300)),
                          torch.full_like(l[:, 0], float("-inf")))
        outs.append(o)
        lses.append(lse)
    return torch.stack(outs), torch.stack(lses)


def flash_yardstick(spec, q, kd, vd, ranges):
    """Torch flash SDPA on the same bf16/f16 inputs, computing the same
    function (only for kernels without score modifiers): every visible set
    is a range [lo, hi), so each sequence (or, where rows differ, each query
    row) is one SDPA call on K/V sliced to its visible keys (heads expanded,
    so no enable_gqa dependence). Rows with no visible key are 0."""
    g = spec["hq"] // spec["hkv"]
    out = torch.zeros_like(q)
    with sdpa_kernel(SDPBackend.FLASH_ATTENTION):
        for b in range(spec["batch"]):
            rows = ranges[b]
            groups = [(0, spec["lq"], rows[0])] if len(set(rows)) == 1 else \
                [(i, i + 1, rows[i]) for i in range(spec["lq"])]
            for i0, i1, (lo, hi) in groups:
                if hi <= lo:
                    continue
                kx = kd[b:b + 1, :, lo:hi].repeat_interleave(g, 1)
                vx = vd[b:b + 1, :, lo:hi].repeat_interleave(g, 1)
                out[b:b + 1, :, i0:i1] = F.scaled_dot_product_attention(q[b:b + 1, :, i0:i1], kx, vx)
    return out


def check_one(rt, name, kdir, spec, handle, margs, ragged):
    lens = choose_lengths(name, spec, ragged)
    t, kd, vd = make_set(spec, margs, lens)
    names = {a["name"] for a in margs if a["role"] != "workspace"}
    want_lse = spec["lse"]
    if want_lse and "lse" not in names:
        raise RuntimeError("spec asks for LSE but the manifest has no 'lse' argument")
    before = {x: t[x + "_cache"].clone() for x in ("k", "v") if x + "_cache" in t}
    ArgLauncher(rt, handle, margs, t, sync=True)()
    torch.cuda.synchronize()
    o, q = t["o"], t["q"]
    # Appends persist: the caches now hold this step's tokens at positions
    # (rows outside [0, Lk) dropped) and are unchanged elsewhere, bit for bit.
    cache_bad = 0
    for x, old in before.items():
        want = old.clone()
        for i, p in enumerate(t["positions"].tolist()):
            for j in range(spec["append"]):
                if 0 <= p + j < spec["lk"]:
                    want[i, :, p + j] = t[x + "_new"][i, :, j]
        cache_bad += int((t[x + "_cache"].view(torch.int16) != want.view(torch.int16)).sum())
    ranges = visible_ranges(spec, lens)
    nvis = n_visible(spec, lens)
    pairs = check_pairs(spec)
    ro, rl = reference(spec, q, kd, vd, ranges, lens, pairs)
    unwritten = int(torch.isnan(o).sum())
    ours = torch.stack([o[b, h] for b, h in pairs]).double()
    diff = ours - ro
    err = diff.abs().max().item()
    rel = (diff.norm() / ro.norm().clamp_min(1e-30)).item()
    # Rows with no visible key must be exactly 0 (LSE exactly -inf, below).
    empty = torch.tensor([[nvis[b][i] == 0 for i in range(spec["lq"])] for b, _ in pairs],
                         device=o.device)
    empty_bad = int((ours[empty] != 0).any(-1).sum()) if empty.any() else 0
    flash_err, flash_note = None, None
    if has_mods(spec):
        # Flash computes another function: fixed bound (bf16/f16 rounding of
        # P and O) plus rel L2 < 1e-2; no flash yardstick.
        flash_note = "skipped (score modifiers)"
        bound = 2e-2 if spec["dtype"] == "bf16" else 5e-3
    else:
        try:
            fo = flash_yardstick(spec, q, kd, vd, ranges)
            flash_err = (torch.stack([fo[b, h] for b, h in pairs]).double() - ro).abs().max().item()
            del fo
        except Exception as e:  # flash refusing: fixed bound, say why
            flash_note = f"{type(e).__name__}: {str(e)[:150]}"
        if flash_err is not None:
            bound = max(2 * flash_err, 1e-3)
        else:
            bound = 2e-2 if spec["dtype"] == "bf16" else 4e-3
    lse_err, lse_unwritten = None, 0
    if want_lse:
        lse_all = t["lse"]
        lse_unwritten = int(torch.isnan(lse_all).sum())
        ol = torch.stack([lse_all[b, h] for b, h in pairs]).double()
        fin = torch.isfinite(rl)
        lse_err = (ol[fin] - rl[fin]).abs().max().item() if fin.any() else 0.0
        if not torch.equal(ol[~fin], rl[~fin]) or not torch.isfinite(ol[fin]).all():
            lse_err = float("inf")
    ok = (unwritten == 0 and lse_unwritten == 0 and err <= bound and rel < 1e-2 and cache_bad == 0
          and empty_bad == 0 and (lse_err is None or lse_err < 1e-2))
    res = dict(name=name, ragged=ragged, lengths=lens if len(lens) <= 16 else lens[:16] + ["..."],
               max_abs_err=err, rel_l2=rel, flash_err=flash_err, bound=bound,
               flash_note=flash_note, lse_err=lse_err, unwritten=unwritten + lse_unwritten,
               empty_rows_nonzero=empty_bad, cache_elements_wrong=cache_bad,
               pairs_checked=len(pairs), ok=ok)
    fe = ("skipped: modifiers, fixed bound" if has_mods(spec) else "-") if flash_err is None \
        else f"{flash_err:.2e}"
    le = "-" if lse_err is None else f"{lse_err:.1e}"
    ls = lens if len(lens) <= 6 else lens[:6] + ["..."]
    print(f"{'PASS' if ok else 'FAIL'} {name:42s} {'ragged' if ragged else 'full  '} "
          f"err={err:.2e} bound={bound:.1e} (flash {fe}) rel={rel:.1e} lse={le} "
          f"nan={unwritten + lse_unwritten} empty!=0:{empty_bad}"
          + (f" cache!=append:{cache_bad}" if before else "") + f" lens={ls}", flush=True)
    del t, kd, vd
    return res


# ---------------------------------------------------------------- timing

def time_rotated(fns, rounds=3, target_ms=40.0):
    """Median per-call time (ms, CUDA events around each call) while cycling
    through fns[i % n] (one per input set). A GPU sleep queued ahead of each
    round lets the host enqueue every call before the GPU reaches them, so
    host overhead (Python, SDPA dispatch, ctypes) is not timed."""
    n = len(fns)
    for _ in range(2):
        for f in fns:
            f()
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    for i in range(2 * n):
        fns[i % n]()
    host = (time.perf_counter() - t0) / (2 * n)
    torch.cuda.synchronize()
    a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    a.record()
    for i in range(n):
        fns[i]()
    b.record()
    torch.cuda.synchronize()
    est = max(a.elapsed_time(b) / n, 1e-3)
    reps = int(min(200, max(3 * n, 34, target_ms / est)))
    times, gaps, starved = [], [], False
    for _ in range(rounds):
        st = [torch.cuda.Event(enable_timing=True) for _ in range(reps)]
        en = [torch.cuda.Event(enable_timing=True) for _ in range(reps)]
        sleep_ms = min(1000.0, host * 1e3 * reps * 1.5 + 2.0)
        a.record()
        torch.cuda._sleep(int(sleep_ms * 2.0e6))  # cycles at ~2 GHz
        b.record()
        t0 = time.perf_counter()
        for i in range(reps):
            st[i].record()
            fns[i % n]()
            en[i].record()
        enq = (time.perf_counter() - t0) * 1e3
        torch.cuda.synchronize()
        if enq > a.elapsed_time(b):
            starved = True
        ts = [s.elapsed_time(e) for s, e in zip(st, en)]
        times += ts
        gaps.append((st[0].elapsed_time(en[-1]) - sum(ts)) / max(1, reps - 1))
    times.sort()
    return dict(ms=statistics.median(times), p10_ms=times[len(times) // 10],
                p90_ms=times[(9 * len(times)) // 10], samples=len(times), sets=n,
                gap_us=statistics.median(gaps) * 1e3, host_us=host * 1e6, starved=starved)


def copy_bandwidth(do_bench):
    """ceilings.py's method: 2 GiB bf16 device copy, do_bench median, bytes
    read + written."""
    x = torch.randn(1 << 30, device="cuda", dtype=torch.bfloat16)
    y = torch.empty_like(x)
    ms = do_bench(lambda: y.copy_(x), warmup=25, rep=100, return_mode="median")
    tbps = 4 * x.numel() / ms / 1e9
    del x, y
    torch.cuda.empty_cache()
    return tbps


def why(e, caught):
    msg = f"{type(e).__name__}: {str(e).strip().splitlines()[0][:200] if str(e).strip() else ''}"
    reasons = [str(w.message).strip().replace("\n", " ")[:200] for w in caught]
    return msg + ("" if not reasons else " | warnings: " + " / ".join(reasons[:4]))


# ------------------------------------------------------------------ main

def run(rt, args, names, kdir, do_bench):
    """Returns (checks, rows, copy_tbps); writes <out>/<date>-<dev>-decode.{json,md}."""
    dec = [n for n in names if is_decode(n)]
    if args.match:
        dec = [n for n in dec if re.search(args.match, n)]
    specs = {n: parse_flags(open(os.path.join(kdir, n + ".flags")).read()) for n in dec}
    dev = torch.cuda.get_device_name()
    props = torch.cuda.get_device_properties(0)
    l2 = getattr(props, "L2_cache_size", 0) or 60 * 2**20
    print(f"== decode: {len(dec)} kernels, L2 {l2 / 2**20:.0f} MiB, {props.multi_processor_count} SMs", flush=True)

    # 1. Correctness of every decode kernel (bench kernels: full and ragged lengths).
    checks, handles, passed = [], {}, set()
    for n in dec:
        spec = specs[n]
        ok_all = True
        try:
            margs = load_manifest(kdir, n)
            handle = rt.load(os.path.join(kdir, n + ".sm_90.cubin"), os.path.join(kdir, n + ".json"))
            handles[n] = (handle, margs)
            for ragged in ((False, True) if n.startswith("decode_") else (True,)):
                r = check_one(rt, n, kdir, spec, handle, margs, ragged)
                checks.append(r)
                ok_all &= r["ok"]
        except Exception as e:  # report, never hide
            ok_all = False
            checks.append(dict(name=n, ok=False, error=f"{type(e).__name__}: {e}"))
            print(f"FAIL {n:42s} ERROR {type(e).__name__}: {e}", flush=True)
        if ok_all:
            passed.add(n)
        torch.cuda.empty_cache()

    # 2. Timing, per shape.
    copy_tbps = copy_bandwidth(do_bench)
    print(f"copy bandwidth {copy_tbps:.3f} TB/s (2 GiB bf16 copy, read + write, do_bench median)", flush=True)
    flex = None
    if not args.skip_flex:
        try:
            from torch import _dynamo
            _dynamo.config.cache_size_limit = 256
            _dynamo.config.accumulated_cache_size_limit = 4096
            from torch.nn.attention.flex_attention import flex_attention
            flex = torch.compile(flex_attention, dynamic=False)
        except Exception as e:
            print("flex unavailable:", e, flush=True)
    groups = {}
    for n in dec:
        m = SHAPE_RE.match(n)
        if m:
            groups.setdefault(m.group(1), []).append(n)
    rows = []
    for shape, variants in groups.items():
        try:
            rows.append(time_shape(rt, shape, variants, specs, handles, passed, l2,
                                   copy_tbps, flex, do_bench, args))
        except Exception as e:
            print(f"shape {shape} ERROR {type(e).__name__}: {e}", flush=True)
            rows.append(dict(shape=shape, error=f"{type(e).__name__}: {e}"))
        torch.cuda.empty_cache()

    write(args.out, dev, l2, copy_tbps, checks, rows)
    return checks, rows, copy_tbps


def time_shape(rt, shape, variants, specs, handles, passed, l2, copy_tbps, flex, do_bench, args):
    spec = dict(specs[variants[0]], page=0)
    b, hq, hkv, lk, d = (spec[k] for k in ("batch", "hq", "hkv", "lk", "d"))
    esize = torch.empty(0, dtype=TORCH_DTYPE[spec["dtype"]]).element_size()
    kv_bytes = 2 * b * hkv * lk * d * esize
    n_sets = min(64, max(2, math.ceil(3 * l2 / kv_bytes)))
    gqa = hq != hkv
    row = dict(shape=shape, batch=b, hq=hq, hkv=hkv, lk=lk, d=d, dtype=spec["dtype"],
               kv_bytes=kv_bytes, sets=n_sets, t={}, dobench_ms={}, notes={})
    print(f"-- {shape}: K+V {kv_bytes / 1e6:.1f} MB, rotating {n_sets} input sets "
          f"({n_sets * kv_bytes / 1e6:.0f} MB vs L2 {l2 / 1e6:.0f} MB)", flush=True)
    full = [lk] * b

    def record(label, fns, ctx=None, once=None):
        caught = []
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                if ctx is not None:
                    with ctx():
                        row["t"][label] = time_rotated(fns)
                        row["dobench_ms"][label] = do_bench(fns[0], warmup=25, rep=100, return_mode="median")
                else:
                    row["t"][label] = time_rotated(fns)
                    row["dobench_ms"][label] = do_bench(fns[0], warmup=25, rep=100, return_mode="median")
            r = row["t"][label]
            print(f"   {label:18s} {r['ms'] * 1e3:9.2f} us  {kv_bytes / r['ms'] / 1e9:6.3f} TB/s  "
                  f"(p10 {r['p10_ms'] * 1e3:.2f} p90 {r['p90_ms'] * 1e3:.2f}, gap {r['gap_us']:.1f} us"
                  f"{', HOST-BOUND' if r['starved'] else ''}; do_bench {row['dobench_ms'][label] * 1e3:.2f} us)",
                  flush=True)
        except Exception as e:
            row["notes"][label] = "failed: " + why(e, caught)
            print(f"   {label:18s} FAILED {row['notes'][label]}", flush=True)

    # Contiguous sets: our contiguous kernels and every torch backend.
    sets = [make_set(spec, [], full)[0] for _ in range(n_sets)]
    for n in variants:
        if "_contig" not in n:
            continue
        label = "ours_" + n[len(shape) + 1:]
        if n not in passed:
            row["notes"][label] = "not timed: failed its correctness check"
            print(f"   {label:18s} not timed (check failed)", flush=True)
            continue
        handle, margs = handles[n]
        record(label, [ArgLauncher(rt, handle, margs, s) for s in sets])

    for be, label in ((SDPBackend.FLASH_ATTENTION, "flash"), (SDPBackend.CUDNN_ATTENTION, "cudnn")):
        def sdpa(s, kk, vv, g):
            return lambda: F.scaled_dot_product_attention(s["q"], kk, vv, enable_gqa=g)
        native_err = None
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                with sdpa_kernel(be):
                    sdpa(sets[0], sets[0]["k"], sets[0]["v"], gqa)()
                torch.cuda.synchronize()
            fns = [sdpa(s, s["k"], s["v"], gqa) for s in sets]
            row["notes"][label + "_gqa"] = "enable_gqa=True accepted (Hkv heads passed)" if gqa else "MHA"
        except Exception as e:
            native_err = why(e, caught)
            fns = None
        if fns is None and gqa:
            # Backend refuses GQA: expanded K/V heads (4x the bytes it reads).
            print(f"   {label}: enable_gqa refused ({native_err}); timing with K/V heads expanded", flush=True)
            row["notes"][label + "_gqa"] = "K/V heads expanded (enable_gqa refused: " + native_err + ")"
            for s in sets:
                s["kx_" + label] = s["k"].repeat_interleave(hq // hkv, 1)
                s["vx_" + label] = s["v"].repeat_interleave(hq // hkv, 1)
            fns = [sdpa(s, s["kx_" + label], s["vx_" + label], False) for s in sets]
        if fns is None:
            row["notes"][label] = "failed: " + native_err
            print(f"   {label:18s} FAILED {native_err}", flush=True)
            continue
        record(label, fns, ctx=lambda be=be: sdpa_kernel(be))
        for s in sets:
            s.pop("kx_" + label, None)
            s.pop("vx_" + label, None)

    if flex is not None:
        try:
            t0 = time.time()
            flex(sets[0]["q"], sets[0]["k"], sets[0]["v"], enable_gqa=gqa)
            torch.cuda.synchronize()
            row["notes"]["flex_compile_s"] = round(time.time() - t0, 2)
            record("flex", [(lambda s=s: flex(s["q"], s["k"], s["v"], enable_gqa=gqa)) for s in sets])
        except Exception as e:
            row["notes"]["flex"] = "failed: " + why(e, [])
            print(f"   flex FAILED {row['notes']['flex']}", flush=True)
    del sets
    torch.cuda.empty_cache()

    # Paged sets: random pages, a shuffled block table per set.
    paged = [n for n in variants if "_paged" in n]
    if paged:
        for n in paged:
            label = "ours_" + n[len(shape) + 1:]
            if n not in passed:
                row["notes"][label] = "not timed: failed its correctness check"
                print(f"   {label:18s} not timed (check failed)", flush=True)
                continue
            handle, margs = handles[n]
            try:
                sets = [make_set(specs[n], margs, full, dense=False)[0] for _ in range(n_sets)]
            except Exception as e:
                row["notes"][label] = "failed: " + why(e, [])
                continue
            record(label, [ArgLauncher(rt, handle, margs, s) for s in sets])
            del sets
            torch.cuda.empty_cache()

    summarize(row, copy_tbps)
    return row


def summarize(row, copy_tbps):
    t = {k: v["ms"] for k, v in row["t"].items()}
    best = lambda layout: min(((v, k) for k, v in t.items() if k.startswith("ours_" + layout)), default=None)
    c, p = best("contig"), best("paged")
    kb = row["kv_bytes"]
    for lab, val in (("contig", c), ("paged", p)):
        if val:
            row[f"us_{lab}"] = val[0] * 1e3
            row[f"best_{lab}"] = val[1]
            row[f"tbps_{lab}"] = kb / val[0] / 1e9
            row[f"pct_copy_{lab}"] = 100 * row[f"tbps_{lab}"] / copy_tbps
    for a in ("flash", "cudnn", "flex"):
        if a in t:
            row[f"us_{a}"] = t[a] * 1e3
            row[f"tbps_{a}"] = kb / t[a] / 1e9
            if c:
                row[f"x_{a}"] = t[a] / c[0]          # > 1: ours (contiguous) is faster
            if p:
                row[f"x_{a}_paged"] = t[a] / p[0]
    if c and p:
        row["paged_over_contig"] = p[0] / c[0]
    # BENCHMARKS.md targets.
    tg = {}
    if c and kb >= 128 * 2**20:
        tg["contig>=85%copy"] = row["pct_copy_contig"] >= 85
    if p and kb >= 128 * 2**20:
        tg["paged>=85%copy"] = row["pct_copy_paged"] >= 85
    if c and row["batch"] == 1 and row["lk"] == 8192 and row["hq"] != row["hkv"] and "x_cudnn" in row:
        tg["B1 8k >=2x cuDNN"] = row["x_cudnn"] >= 2
    if "paged_over_contig" in row:
        tg["paged<=1.05x contig"] = row["paged_over_contig"] <= 1.05
    row["targets"] = tg


def f(x, fmt):
    return "-" if x is None else format(x, fmt)


def write(out, dev, l2, copy_tbps, checks, rows):
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d")
    tag = "h200" if "H200" in dev else ("h100" if "H100" in dev else dev.replace(" ", "_"))
    os.makedirs(out, exist_ok=True)
    base = os.path.join(out, f"{stamp}-{tag}-decode")
    method = ("bf16 decode, Lq=1, D=128; time = median over >=102 per-call CUDA-event timings, "
              "calls cycling over enough input sets (>=2, >=3x L2 bytes of K/V) that K/V come from HBM; "
              "a GPU sleep queued ahead hides host launch cost; same rotation for every backend. "
              "TB/s = 2*B*Hkv*Lk*D*2 bytes / time. copy = 2 GiB bf16 device copy (read+write), do_bench median "
              "(ceilings.py). do_bench_ms = triton do_bench median on one input set (anchors_torch.py's method, "
              "L2 flushed by do_bench).")
    with open(base + ".json", "w") as fh:
        json.dump(dict(device=dev, torch=torch.__version__, date=stamp, l2_bytes=l2,
                       copy_tbps=copy_tbps, method=method, checks=checks, rows=rows), fh, indent=1)
    lines = [f"# attn-mlir decode benchmark, {dev}, {stamp}", "", method, "",
             f"Copy bandwidth: {copy_tbps:.3f} TB/s. x A = A's time / our contiguous time (> 1: we are faster); "
             "paged/contig = time ratio (target <= 1.05).", "",
             "| shape | Hq/Hkv | B | Lk | K+V MB | ours us | TB/s | % copy | paged us | % copy | paged/contig "
             "| flash us | x flash | cuDNN us | x cuDNN | flex us | x flex | targets |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        if "error" in r:
            lines.append(f"| {r['shape']} | error: {r['error'][:120]} |" + " |" * 16)
            continue
        tg = ", ".join(f"{k} {'ok' if v else 'MISS'}" for k, v in r.get("targets", {}).items()) or "-"
        lines.append("| {shape} | {hq}/{hkv} | {batch} | {lk} | {mb:.1f} | {uc} | {tc} | {pc} | {up} | {pp} | {poc} "
                     "| {ufl} | {xfl} | {ucu} | {xcu} | {ufx} | {xfx} | {tg} |".format(
                         mb=r["kv_bytes"] / 1e6, uc=f(r.get("us_contig"), ".2f"), tc=f(r.get("tbps_contig"), ".3f"),
                         pc=f(r.get("pct_copy_contig"), ".1f"), up=f(r.get("us_paged"), ".2f"),
                         pp=f(r.get("pct_copy_paged"), ".1f"), poc=f(r.get("paged_over_contig"), ".3f"),
                         ufl=f(r.get("us_flash"), ".2f"), xfl=f(r.get("x_flash"), ".2f"),
                         ucu=f(r.get("us_cudnn"), ".2f"), xcu=f(r.get("x_cudnn"), ".2f"),
                         ufx=f(r.get("us_flex"), ".2f"), xfx=f(r.get("x_flex"), ".2f"), tg=tg, **r))
    lines += ["", "## Every timed kernel / backend (rotated median; do_bench median for comparison with the anchors)", "",
              "| shape | impl | us | TB/s | % copy | p10-p90 us | sets | samples | gap us | host-bound | do_bench us | do_bench TB/s |",
              "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        for lab, v in r.get("t", {}).items():
            db = r["dobench_ms"].get(lab)
            lines.append(f"| {r['shape']} | {lab} | {v['ms'] * 1e3:.2f} | {r['kv_bytes'] / v['ms'] / 1e9:.3f} | "
                         f"{100 * r['kv_bytes'] / v['ms'] / 1e9 / copy_tbps:.1f} | "
                         f"{v['p10_ms'] * 1e3:.2f}-{v['p90_ms'] * 1e3:.2f} | {v['sets']} | {v['samples']} | "
                         f"{v['gap_us']:.1f} | {v['starved']} | {f(db and db * 1e3, '.2f')} | "
                         f"{f(db and r['kv_bytes'] / db / 1e9, '.3f')} |")
        for lab, note in r.get("notes", {}).items():
            lines.append(f"| {r['shape']} | {lab} | note: {str(note)[:300]} | | | | | | | | | |")
    lines += ["", "## Correctness (vs float64; bound = max(2x torch flash's error on the same inputs, 1e-3); "
              "rel L2 < 1e-2; kernels with softcap / ALiBi / score_mod: no flash yardstick, "
              "fixed bound 2e-2 bf16, 5e-3 f16; NaN / nonzero empty rows fail)", "",
              "| kernel | lengths | max abs err | flash err | bound | rel L2 | LSE err | ok |",
              "|---|---|---|---|---|---|---|---|"]
    for c in checks:
        if "max_abs_err" in c:
            lines.append(f"| {c['name']} | {c['lengths'] if c['ragged'] else 'full'} | {c['max_abs_err']:.2e} | "
                         f"{f(c['flash_err'], '.2e')} | {c['bound']:.1e} | {c['rel_l2']:.1e} | "
                         f"{f(c['lse_err'], '.1e')} | {'PASS' if c['ok'] else 'FAIL'} |")
        else:
            lines.append(f"| {c['name']} | error: {c.get('error', '')[:200]} | | | | | | FAIL |")
    with open(base + ".md", "w") as fh:
        fh.write("\n".join(lines) + "\n")
    # Short table last (the device reply carries the end of the output).
    print("\n== decode summary (" + dev + f", copy {copy_tbps:.3f} TB/s)")
    print(f"{'shape':26s} {'ours us':>8s} {'%copy':>6s} {'paged us':>8s} {'p/c':>6s} "
          f"{'xflash':>7s} {'xcuDNN':>7s} {'xflex':>7s}  targets")
    for r in rows:
        if "error" in r:
            print(f"{r['shape']:26s} ERROR {r['error'][:80]}")
            continue
        tg = " ".join(f"{k}:{'ok' if v else 'MISS'}" for k, v in r.get("targets", {}).items())
        print(f"{r['shape']:26s} {f(r.get('us_contig'), '8.2f'):>8s} {f(r.get('pct_copy_contig'), '6.1f'):>6s} "
              f"{f(r.get('us_paged'), '8.2f'):>8s} {f(r.get('paged_over_contig'), '6.3f'):>6s} "
              f"{f(r.get('x_flash'), '7.2f'):>7s} {f(r.get('x_cudnn'), '7.2f'):>7s} {f(r.get('x_flex'), '7.2f'):>7s}  {tg}")
    bad = sorted({c["name"] for c in checks if not c["ok"]})
    print(f"decode checks: {sum(c['ok'] for c in checks)}/{len(checks)} passed;"
          f" FAILED: {bad if bad else 'none'}")
    print("wrote", base + ".json", base + ".md", flush=True)
