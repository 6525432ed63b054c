"""The float64 attention the Python tests compare against (numpy only), and
tolerances derived from the input precision (docs/Numerics.md)."""

import math

import numpy as np


def attention(q, k, v, keep=None, bias=None, scale=None):
    """softmax(scale * Q K^T + bias, masked by keep) V in float64;
    q [B, Hq, Lq, D], k/v [B, Hkv, Lk, D(v)], keep/bias broadcast to
    [B, Hq, Lq, Lk]. GQA: query head h reads KV head h // (Hq / Hkv)."""
    q, k, v = (np.asarray(x, dtype=np.float64) for x in (q, k, v))
    g = q.shape[1] // k.shape[1]
    k = np.repeat(k, g, axis=1)
    v = np.repeat(v, g, axis=1)
    s = (q @ np.swapaxes(k, -1, -2)) * (scale if scale is not None else 1 / math.sqrt(q.shape[-1]))
    if bias is not None:
        s = s + np.asarray(bias, dtype=np.float64)
    if keep is not None:
        s = np.where(keep, s, -np.inf)
    s = s - s.max(axis=-1, keepdims=True)
    p = np.exp(s)
    return (p / p.sum(axis=-1, keepdims=True)) @ v


def causal_keep(lq, lk, bottom_right):
    return np.tril(np.ones((lq, lk), dtype=bool), k=lk - lq if bottom_right else 0)


def tolerance(v, dtype):
    """Max |error| allowed on an output whose rows are convex combinations
    of v's rows. f32: the kernels accumulate in f32 over at most a few
    hundred terms, so 64 units of f32 roundoff of max|v| is generous and
    still catches any wrong mask, scale or head mapping. bf16/f16: P is
    rounded to the input type before P V (attn-lower-precision) and the
    output is rounded once: two units of roundoff of max|v|."""
    u = {"f32": 2.0 ** -24, "f16": 2.0 ** -11, "bf16": 2.0 ** -8}[dtype]
    scale = float(np.abs(np.asarray(v, dtype=np.float64)).max())
    return (64 if dtype == "f32" else 2) * u * scale
