"""Gradients of attn_mlir.torch on the CPU target: torch.autograd.gradcheck
in float64 of our backward against finite differences of our forward, and
our gradients (float64, and float32 through the tiled flash passes) against
torch's own float64 autograd of the attention formula on the same inputs,
for GQA / MQA, both causal alignments, sliding windows, softcap, ALiBi, a
scale, mask operands and the LSE.

float64 runs on the CPU target lowered whole and computed in f64, the
saved LSE included, so gradcheck runs with torch's defaults (eps 1e-6,
atol 1e-5, rtol 1e-3) and the float64 gradients agree with torch's to a
few hundred units of 2^-53."""

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

U32, U64 = 2.0 ** -24, 2.0 ** -53


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
        (out, lse)) in float64, then its float64 and float32 gradients of a
        random linear loss against torch's float64 autograd of `reference`
        on the same inputs."""
        self.assertTrue(torch.autograd.gradcheck(
            ours, [t.double().requires_grad_() for t in tensors]))
        exact = [t.double().requires_grad_() for t in tensors]
        want_outs = reference(*exact)[:2 if with_lse else 1]
        gen = torch.Generator().manual_seed(99)
        weights = [torch.randn(o.shape, generator=gen, dtype=torch.float64)
                   for o in want_outs]
        want = torch.autograd.grad(sum((w * o).sum() for w, o in zip(weights, want_outs)),
                                   exact)
        for dtype in (torch.float64, torch.float32):
            leaves = [t.to(dtype).requires_grad_() for t in tensors]
            outs = ours(*leaves)
            outs = outs if isinstance(outs, tuple) else (outs,)
            for o, ref in zip(outs, want_outs):
                # 64 units of roundoff of the larger of max|v| and |lse|:
                # sums of <= Lk terms, each rounded once per operation.
                u = U64 if dtype == torch.float64 else U32
                self.assertEqual(o.dtype, dtype)
                self.assertLess((o.double() - ref).abs().max().item(),
                                64 * u * max(1.0, ref.abs().max().item()))
            loss = sum((w.to(o.dtype) * o).sum() for w, o in zip(weights, outs))
            for name, x, y in zip("qkv", torch.autograd.grad(loss, leaves), want):
                self.assertEqual(x.dtype, dtype)
                scale = max(1.0, y.abs().max().item())
                # Accumulation over <= Lq * Hq / Hkv terms of the size of
                # the largest entry: 256 units of roundoff of it (measured:
                # below 16). A wrong mask, scale, head mapping or chain-rule
                # factor is >= 1e-2.
                tol = 256 * (U64 if dtype == torch.float64 else U32) * scale
                err = (x.double() - y).abs().max().item()
                self.assertLess(err, tol, f"{dtype} d{name}: {err:.3g} >= {tol:.3g}")

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
        # d lse / d s = P: the LSE's gradient rides through Delta (gradcheck
    # differentiates the f64 LSE output too).
        t = inputs(1, 2, 2, 4, 6, 8, seed=4)
        self.check(t, lambda q, k, v: at.attention(
            q, k, v, mask="causal-bottom-right", return_lse=True),
            lambda q, k, v: formula(q, k, v, "causal-bottom-right"), with_lse=True)

    def test_gpu_backward_takes_the_lse_gradient(self):
        # A loss that reads the LSE compiles the GPU backward with the
        # grad_lse operand after the others (no widened value columns: Dv
        # stays the head dim); without it the kernel has none.
        q = torch.zeros(1, 4, 64, 64, dtype=torch.bfloat16)
        k = torch.zeros(1, 2, 64, 64, dtype=torch.bfloat16)
        with_grad = at._autograd.gpu_backward_kernel(q, k, k, mask="causal-bottom-right",
                                                     lse_grad=True)
        plain = at._autograd.gpu_backward_kernel(q, k, k, mask="causal-bottom-right")
        self.assertEqual([a["name"] for a in with_grad.inputs],
                         ["q", "k", "v", "o", "do", "lse", "grad_lse"])
        self.assertEqual([a["name"] for a in plain.inputs], ["q", "k", "v", "o", "do", "lse"])
        self.assertEqual(with_grad.inputs[-1]["shape"], [1, 4, 64])

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

    def test_attn_mask_gradient(self):
        # A float attn_mask that requires grad gets d_bias (the backward's
        # grad_bias), summed over the extents it broadcasts along: gradcheck
        # in float64 of (q, k, v, attn_mask), then against torch's autograd
        # of the formula, for a full-shape, a [1, Hq, Lq, Lk] and an
        # [Lq, Lk] mask, alone and with the causal mask.
        q, k, v = inputs(2, 2, 1, 5, 6, 8, seed=12)
        gen = torch.Generator().manual_seed(13)
        for shape, causal in (((2, 2, 5, 6), False), ((1, 2, 5, 6), True), ((5, 6), False)):
            bias = torch.randn(shape, generator=gen, dtype=torch.float64)
            leaves = [t.double().requires_grad_() for t in (q, k, v)] + \
                [bias.clone().requires_grad_()]

            def ours(q, k, v, b):
                return at.scaled_dot_product_attention(q, k, v, attn_mask=b,
                                                       is_causal=causal, enable_gqa=True)
            self.assertTrue(torch.autograd.gradcheck(ours, leaves), msg=str(shape))
            got = torch.autograd.grad(ours(*leaves).sum(), leaves[3])[0]
            exact = [t.detach().clone().requires_grad_() for t in leaves]
            want, _ = formula(*exact[:3], mask="causal-top-left" if causal else "none",
                              bias=exact[3])
            want = torch.autograd.grad(want.sum(), exact[3])[0]
            self.assertEqual(got.shape, bias.shape)
            self.assertLess((got - want).abs().max().item(), 1e-12, msg=str(shape))

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
        q.requires_grad_()
        cases = {
            "window=(left, right)": lambda: at.attention(q, k, v, mask="sliding-window"),
            "one ALiBi slope per query head": lambda: at.attention(q, k, v,
                                                                   alibi_slopes=[0.5]),
        }
        for needle, call in cases.items():
            with self.assertRaises(at.Unsupported, msg=needle) as ctx:
                call()
            self.assertIn(needle, str(ctx.exception))

    def test_gpu_backward_kernel_is_three_launches(self):
        # What a CUDA call with requires_grad asks before its forward runs:
        # the GPU backward kernel of its shape, a program of three launches
        # (preprocess, main, dQ) over the same arguments and one workspace.
        q, k, v = (x.bfloat16() for x in inputs(1, 8, 2, 64, 64, 64, seed=10))
        kernel = at._autograd.gpu_backward_kernel(q, k, v, None, "causal-bottom-right")
        self.assertEqual(len(kernel.launches), 3)
        self.assertEqual({m["family"] for m in kernel.launches}, {"backward"})
        names = [a["name"] for a in kernel.manifest["arguments"]]
        self.assertEqual(names[:9], ["q", "k", "v", "o", "do", "lse", "dq", "dk", "dv"])
        for m in kernel.launches[1:]:
            self.assertEqual([a["name"] for a in m["arguments"]], names)

    def test_gpu_backward_dq_mode_from_the_environment(self):
        # $ATTN_MLIR_BACKWARD_DQ picks the program: atomic ends with the
        # convert kernel and keeps the f32 dq_accum workspace, deterministic
        # with the dQ kernel and none; $ATTN_MLIR_DQ_REDUCTION reaches the
        # atomic path's reductions (red-v2 is its own kernel; auto on sm_90
        # is red-v4, one per C fragment of the tiled dq_accum). The 128-key
        # main kernel the cost model picks on sm_90 shows in the manifest.
        q, k, v = (x.bfloat16() for x in inputs(1, 8, 2, 256, 256, 64, seed=11))
        def program(**env):
            old = {n: os.environ.get(n) for n in env}
            os.environ.update(env)
            try:
                return at._autograd.gpu_backward_kernel(q, k, v, None, "causal-bottom-right")
            finally:
                for n, v_ in old.items():
                    if v_ is None:
                        os.environ.pop(n, None)
                    else:
                        os.environ[n] = v_
        atomic = program(ATTN_MLIR_BACKWARD_DQ="atomic")
        det = program(ATTN_MLIR_BACKWARD_DQ="deterministic")
        self.assertTrue(atomic.launches[2]["kernel"].endswith("_bwd_convert"))
        self.assertTrue(det.launches[2]["kernel"].endswith("_bwd_dq"))
        workspaces = lambda m: [a["name"] for a in m["arguments"] if a["role"] == "workspace"]
        self.assertEqual(workspaces(atomic.manifest), ["delta", "lse_log2", "dq_accum"])
        self.assertEqual(workspaces(det.manifest), ["delta", "lse_log2"])
        main = atomic.launches[1]
        self.assertEqual(main["tuning"]["block_n"], 128)
        self.assertEqual(main["tuning"]["num_warps"], 8)
        self.assertEqual(main["block"], [256, 1, 1])
        v2 = program(ATTN_MLIR_BACKWARD_DQ="atomic", ATTN_MLIR_DQ_REDUCTION="red-v2")
        self.assertIn("red.global.add.v2.f32", v2.ptx)
        self.assertNotIn("red.global.add.v4.f32", v2.ptx)
        self.assertIn("red.global.add.v4.f32", atomic.ptx)
        for env, needle in ((dict(ATTN_MLIR_BACKWARD_DQ="sometimes"), "ATTN_MLIR_BACKWARD_DQ"),
                            (dict(ATTN_MLIR_DQ_REDUCTION="red-v8"), "ATTN_MLIR_DQ_REDUCTION")):
            with self.assertRaises(at.Unsupported) as ctx:
                program(**env)
            self.assertIn(needle, str(ctx.exception))

    def test_gpu_backward_bshd_views_behind_the_environment(self):
        # [B, L, H, D] buffers seen through transpose(1, 2): the copy-free
        # path is off unless $ATTN_MLIR_BACKWARD_BSHD=1 (never run on a GPU
        # yet) and CUDA-only; its spec compiles the three BSHD launches.
        q, k, v = (x.bfloat16().transpose(1, 2).contiguous().transpose(1, 2)
                   for x in inputs(1, 8, 2, 64, 64, 64, seed=12))
        old = os.environ.pop("ATTN_MLIR_BACKWARD_BSHD", None)
        try:
            self.assertFalse(at._autograd._bshd(q, k, v, None))
            os.environ["ATTN_MLIR_BACKWARD_BSHD"] = "1"
            self.assertFalse(at._autograd._bshd(q, k, v, None))  # CPU tensors
        finally:
            os.environ.pop("ATTN_MLIR_BACKWARD_BSHD", None)
            if old is not None:
                os.environ["ATTN_MLIR_BACKWARD_BSHD"] = old
        kind, _ = at._autograd._mask_operand(q, k, None, "causal-bottom-right")
        target, spec, options = at._autograd._spec(
            q, k, v, kind, 0, 0, None, None, None, None, True, True, bshd=True)
        kernel = at._kernel(target, spec, options)
        self.assertEqual(len(kernel.launches), 3)
        self.assertEqual({m["attention"]["layout"] for m in kernel.launches}, {"bshd"})
        self.assertEqual([m["attention"]["heads_q"] for m in kernel.launches], [8] * 3)

    def test_gpu_backward_takes_mask_operands(self):
        # A padding mask (bool) and a float attn_mask (a constant of the
        # loss: the spec asks for no d_bias) route a CUDA call with
        # gradients to the GPU backward: the operand is an input after the
        # LSE in every launch, and the outputs are dQ, dK, dV only.
        q, k, v = (x.bfloat16() for x in inputs(2, 8, 2, 64, 96, 64, seed=13))
        keep = torch.ones(2, 1, 1, 96, dtype=torch.bool)
        keep[1, ..., 80:] = False
        bias = torch.randn(2, 8, 64, 96, generator=torch.Generator().manual_seed(14))
        for attn_mask, name, dtype in ((keep, "mask", "i1"), (bias, "bias", "bf16")):
            _, operand = at._autograd._mask_operand(q, k, attn_mask, "none")
            target, spec, _ = at._autograd._spec(q, k, v, "none", 0, 0, None, None, None,
                                                 operand, True, True)
            self.assertEqual(target, "ptx")
            self.assertEqual(spec.get("bias_grad", True), name == "mask")
            kernel = at._autograd.gpu_backward_kernel(q, k, v, attn_mask, "none")
            args = kernel.manifest["arguments"]
            self.assertEqual([a["name"] for a in args][:10],
                             ["q", "k", "v", "o", "do", "lse", name, "dq", "dk", "dv"])
            self.assertEqual((args[6]["dtype"], args[6]["shape"]), (dtype, [2, 8, 64, 96]))
            self.assertEqual([a["name"] for a in args if a["role"] == "output"],
                             ["dq", "dk", "dv"])
            for m in kernel.launches:
                self.assertEqual([a["name"] for a in m["arguments"]],
                                 [a["name"] for a in args])

    def test_gpu_gradients_outside_the_gpu_backward_are_refused(self):
        # Head dims past the GPU backward's register rule (D + Dv <= 350:
        # 192 / 192 is not): a MissingGpuBackward naming the piece, never
        # another implementation.
        q, k, v = (x.bfloat16() for x in inputs(1, 8, 2, 64, 64, 192, seed=10))
        with self.assertRaises(at.MissingGpuBackward) as ctx:
            at._autograd.gpu_backward_kernel(q, k, v, None, "causal-bottom-right")
        self.assertIn("GPU backward kernel", str(ctx.exception))
        self.assertIn("D + Dv small enough for the GPU backward's registers",
                      str(ctx.exception))

    def test_gpu_backward_takes_other_head_dims_and_mla(self):
        # D = 96 and DeepSeek MLA prefill (D = 192, Dv = 128) reach the GPU
        # backward kernels (three launches), as D = 64 and 128 do.
        for d, dv in ((96, 96), (192, 128)):
            with self.subTest(d=d, dv=dv):
                q, k, v = (x.bfloat16() for x in inputs(1, 4, 2, 64, 80, d, seed=11))
                v = torch.randn(1, 2, 80, dv).bfloat16()
                kernel = at._autograd.gpu_backward_kernel(q, k, v, None,
                                                          "causal-bottom-right")
                self.assertEqual(len(kernel.launches), 3)

if __name__ == "__main__":
    unittest.main()
