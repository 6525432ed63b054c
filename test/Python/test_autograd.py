"""Gradients of attn_mlir.torch on the CPU target: torch.autograd.gradcheck
of our backward against finite differences of our forward, and our
gradients against torch's own float64 autograd of the attention formula on
the same inputs, for GQA / MQA, both causal alignments, sliding windows,
softcap, ALiBi, a scale, mask operands and the LSE.

Why gradcheck runs in float32: the CPU target takes f16, bf16 and f32 (the
op verifier and the kernels' boundary); gradcheck's float64 default (eps
1e-6) would divide f32 rounding by 1e-6. Its tolerances here are derived
for f32 (see GRADCHECK below); the float64 autograd comparison is the
precise check."""

import atexit
import math
import os
import shutil
import tempfile
import unittest

os.environ.setdefault("ATTN_MLIR_CACHE_DIR", tempfile.mkdtemp(prefix="attn-py-grad-"))
atexit.register(shutil.rmtree, os.environ["ATTN_MLIR_CACHE_DIR"], True)

try:
    import torch
    import attn_mlir.torch as at
except ImportError:  # torch is installed by scripts/bootstrap.sh
    torch = None

# Central differences of an f32 forward: every output is a convex
# combination of V's rows computed in f32 with error d <= c * u * max|v|
# (u = 2^-24, c ~ 16 for these few-term sums: 1e-6 for |v| <= 1); the
# difference quotient's rounding error is d / eps and its truncation error
# eps^2 / 6 * |f'''|, with |f'''| <= ~(scale * |k| * sqrt(D))^3 ~ 10 for
# randn inputs of D = 8 and the default scale. eps = 1e-2 balances them at
# ~1e-4 and 2e-4: atol 2e-3 and rtol 1e-2 leave a margin of ~5, while a
# wrong mask, scale, head mapping or missing chain-rule factor moves a
# Jacobian entry by >= 1e-2 (its size is ~0.1-1).
GRADCHECK = dict(eps=1e-2, atol=2e-3, rtol=1e-2)


def formula(q, k, v, mask="none", window=(0, 0), scale=None, softcap=None, alibi=None,
            keep=None, bias=None):
    """(out, lse) of attn.attention's definition (dialects/Attn/AttnOps.td)
    in torch ops, for torch's autograd to differentiate."""
    b, hq, lq, d = q.shape
    lk = k.shape[2]
    g = hq // k.shape[1]
    k, v = k.repeat_interleave(g, 1), v.repeat_interleave(g, 1)
    s = (q @ k.transpose(-1, -2)) * (scale if scale is not None else 1 / math.sqrt(d))
    if softcap:
        s = softcap * torch.tanh(s / softcap)
    i = torch.arange(lq).view(lq, 1)
    j = torch.arange(lk).view(1, lk)
    diag = i + lk - lq  # the bottom-right diagonal
    if alibi is not None:
        s = s - torch.tensor(alibi, dtype=s.dtype).view(1, hq, 1, 1) * (diag - j).abs()
    if bias is not None:
        s = s + bias
    visible = {"none": torch.ones(lq, lk, dtype=torch.bool),
               "causal-top-left": j <= i,
               "causal-bottom-right": j <= diag,
               "sliding-window": (j >= diag - window[0]) & (j <= diag + window[1])}[mask]
    if keep is not None:
        visible = visible & keep
    s = s.masked_fill(~visible, float("-inf"))
    lse = torch.logsumexp(s, dim=-1)
    return torch.exp(s - lse.unsqueeze(-1)) @ v, lse


def inputs(b, hq, hkv, lq, lk, d, seed):
    gen = torch.Generator().manual_seed(seed)
    return [torch.randn(shape, generator=gen, dtype=torch.float32)
            for shape in ((b, hq, lq, d), (b, hkv, lk, d), (b, hkv, lk, d))]


@unittest.skipIf(torch is None, "needs torch (python3-torch)")
class Gradients(unittest.TestCase):
    def check(self, tensors, ours, reference, with_lse=False):
        """gradcheck of `ours` (a function of q, k, v returning out, or
        (out, lse)), then its gradients of a random linear loss against
        torch's float64 autograd of `reference` on the same inputs."""
        leaves = [t.clone().requires_grad_() for t in tensors]
        self.assertTrue(torch.autograd.gradcheck(ours, leaves, **GRADCHECK))

        outs = ours(*leaves)
        outs = outs if isinstance(outs, tuple) else (outs,)
        gen = torch.Generator().manual_seed(99)
        weights = [torch.randn(o.shape, generator=gen) for o in outs]
        loss = sum((w * o).sum() for w, o in zip(weights, outs))
        got = torch.autograd.grad(loss, leaves)

        exact = [t.double().requires_grad_() for t in tensors]
        want_outs = reference(*exact)
        want_outs = want_outs if with_lse else want_outs[:1]
        for w, o, ref in zip(weights, outs, want_outs):
            # The forward itself: f32 output within 64 u of max|v|.
            self.assertLess((o.double() - ref).abs().max().item(),
                            64 * 2.0 ** -24 * max(1.0, ref.abs().max().item()))
        loss = sum((w.double() * o).sum() for w, o in zip(weights, want_outs))
        want = torch.autograd.grad(loss, exact)
        for name, x, y in zip("qkv", got, want):
            # f32 accumulation over <= Lq * Hq / Hkv terms of the size of
            # |y|'s largest entry: 256 u of it bounds the error (the
            # measured errors are below 16 u).
            tol = 256 * 2.0 ** -24 * max(1.0, y.abs().max().item())
            err = (x.double() - y).abs().max().item()
            self.assertLess(err, tol, f"d{name}: {err:.3g} >= {tol:.3g}")
        return got

    def test_sdpa_causal_gqa(self):
        # torch's sdpa semantics (is_causal top-left, Lq < Lk), GQA 4/2.
        t = inputs(1, 4, 2, 5, 7, 8, seed=1)
        self.check(t, lambda q, k, v: at.scaled_dot_product_attention(
            q, k, v, is_causal=True, enable_gqa=True),
            lambda q, k, v: formula(q, k, v, "causal-top-left"))

    def test_mqa_bottom_right_scale(self):
        t = inputs(2, 3, 1, 5, 7, 8, seed=2)
        self.check(t, lambda q, k, v: at.attention(
            q, k, v, mask="causal-bottom-right", scale=0.4, enable_gqa=True),
            lambda q, k, v: formula(q, k, v, "causal-bottom-right", scale=0.4))

    def test_window_softcap_alibi(self):
        t = inputs(1, 4, 2, 6, 9, 8, seed=3)
        slopes = [0.5, 0.25, 0.125, 0.0625]
        self.check(t, lambda q, k, v: at.attention(
            q, k, v, mask="sliding-window", window=(3, 1), softcap=2.0,
            alibi_slopes=slopes, enable_gqa=True),
            lambda q, k, v: formula(q, k, v, "sliding-window", window=(3, 1), softcap=2.0,
                                    alibi=slopes))

    def test_lse_is_differentiable(self):
        # d lse / d s = P: the LSE's gradient rides through Delta.
        t = inputs(1, 2, 2, 4, 6, 8, seed=4)
        self.check(t, lambda q, k, v: at.attention(
            q, k, v, mask="causal-bottom-right", return_lse=True),
            lambda q, k, v: formula(q, k, v, "causal-bottom-right"), with_lse=True)

    def test_mask_operands(self):
        # A ragged bool mask and a float bias are operands of both passes.
        t = inputs(1, 2, 2, 5, 6, 8, seed=5)
        gen = torch.Generator().manual_seed(6)
        keep = torch.rand(5, 6, generator=gen) > 0.3
        keep[:, 0] = True
        bias = torch.randn(1, 2, 5, 6, generator=gen)
        self.check(t, lambda q, k, v: at.scaled_dot_product_attention(q, k, v, attn_mask=keep),
                   lambda q, k, v: formula(q, k, v, keep=keep))
        self.check(t, lambda q, k, v: at.scaled_dot_product_attention(q, k, v, attn_mask=bias),
                   lambda q, k, v: formula(q, k, v, bias=bias.double()))

    def test_bf16_gradients_have_the_inputs_dtype(self):
        q, k, v = (x.bfloat16().requires_grad_() for x in inputs(1, 4, 2, 8, 8, 16, seed=7))
        out = at.scaled_dot_product_attention(q, k, v, is_causal=True, enable_gqa=True)
        out.float().sum().backward()
        self.assertEqual({q.grad.dtype, k.grad.dtype, v.grad.dtype}, {torch.bfloat16})
        exact = [x.detach().double().requires_grad_() for x in (q, k, v)]
        formula(*exact, mask="causal-top-left")[0].sum().backward()
        # bf16 inputs: P and dS are rounded to bf16 before the products
        # (attn-lower-precision) and the gradients once more: a few units
        # of bf16 roundoff (2^-8) of each gradient's largest entry.
        for x, y in zip((q, k, v), exact):
            self.assertLess((x.grad.double() - y.grad).abs().max().item(),
                            8 * 2.0 ** -8 * y.grad.abs().max().item())

    def test_no_grad_uses_the_forward_op(self):
        # Without gradients, sdpa stays the forward-only operator (decode
        # bucketing, no LSE): one output, nothing saved.
        q, k, v = (x.requires_grad_() for x in inputs(1, 2, 2, 4, 4, 8, seed=8))
        with torch.no_grad():
            out = at.scaled_dot_product_attention(q, k, v)
        self.assertFalse(out.requires_grad)

    def test_refusals(self):
        q, k, v = inputs(1, 2, 2, 4, 4, 8, seed=9)
        mask = torch.zeros(4, 4, requires_grad=True)
        q.requires_grad_()
        cases = {
            "attn_mask": lambda: at.scaled_dot_product_attention(q, k, v, attn_mask=mask),
            "window=(left, right)": lambda: at.attention(q, k, v, mask="sliding-window"),
            "one ALiBi slope per query head": lambda: at.attention(q, k, v,
                                                                   alibi_slopes=[0.5]),
        }
        for needle, call in cases.items():
            with self.assertRaises(at.Unsupported, msg=needle) as ctx:
                call()
            self.assertIn(needle, str(ctx.exception))

    def test_gpu_gradients_need_the_gpu_backward_kernel(self):
        # What a CUDA call with requires_grad asks before its forward runs:
        # the GPU backward kernel of its shape. The PTX compiler has no
        # attn.attention_backward lowering yet, so the answer is a
        # MissingGpuBackward naming it (when the GPU backward lands, this
        # compiles instead and the test is to be turned around).
        q, k, v = (x.bfloat16() for x in inputs(1, 8, 2, 64, 64, 64, seed=10))
        with self.assertRaises(at.MissingGpuBackward) as ctx:
            at._autograd.gpu_backward_kernel(q, k, v, None, "causal-bottom-right")
        self.assertIn("GPU backward kernel", str(ctx.exception))
        self.assertIn("attn.attention_backward", str(ctx.exception))


if __name__ == "__main__":
    unittest.main()
