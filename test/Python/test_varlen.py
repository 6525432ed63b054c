"""attn_mlir.varlen_attention (flash_attn_varlen_func's calling convention)
on the CPU target: packed [total, H, D] sequences against a float64
reference computed sequence by sequence, one kernel per (N, totals), and
the host-side checks of the offsets."""

import math
import unittest

import numpy as np

import attn_mlir
import reference

try:
    import torch
    import attn_mlir.torch as at
except ImportError:  # torch is installed by scripts/bootstrap.sh
    torch = None

RNG = np.random.default_rng(15)


def randn(*shape):
    return RNG.standard_normal(shape).astype(np.float32)


def per_sequence(q, k, v, cu_q, cu_k, causal):
    """The float64 reference: each sequence alone, [L, H, D] -> [1, H, L, D]."""
    out = np.zeros(q.shape[:2] + v.shape[2:])
    for n in range(cu_q.size - 1):
        qs, ks, vs = q[cu_q[n]:cu_q[n + 1]], k[cu_k[n]:cu_k[n + 1]], v[cu_k[n]:cu_k[n + 1]]
        lq, lk = qs.shape[0], ks.shape[0]
        if lq == 0 or lk == 0:
            continue  # no rows, or rows without keys: 0
        keep = reference.causal_keep(lq, lk, True) if causal else None
        with np.errstate(invalid="ignore"):  # rows without keys: NaN, then 0
            rows = reference.attention(*(np.swapaxes(x, 0, 1)[None] for x in (qs, ks, vs)),
                                       keep=keep)
        # Causal rows above the diagonal (lq > lk) see no key: 0, not NaN.
        out[cu_q[n]:cu_q[n + 1]] = np.nan_to_num(np.swapaxes(rows[0], 0, 1))
    return out


class Varlen(unittest.TestCase):
    # Sequence lengths (q, k): an empty one, one without keys, one token,
    # a longer causal one whose per-sequence alignment differs from the
    # packed rows', and lq > lk (rows above the causal diagonal see nothing).
    LENGTHS = [(5, 7), (0, 3), (3, 0), (1, 1), (19, 26), (6, 2)]

    def packed(self, hq=4, hkv=2, d=16):
        cu_q = np.cumsum([0] + [q for q, _ in self.LENGTHS]).astype(np.int32)
        cu_k = np.cumsum([0] + [k for _, k in self.LENGTHS]).astype(np.int32)
        return (randn(cu_q[-1], hq, d), randn(cu_k[-1], hkv, d), randn(cu_k[-1], hkv, d),
                cu_q, cu_k)

    def test_causal_and_dense_f32(self):
        q, k, v, cu_q, cu_k = self.packed()
        for causal in (False, True):
            out, lse = attn_mlir.varlen_attention(q, k, v, cu_q, cu_k, 26, 26,
                                                  causal=causal, return_lse=True)
            self.assertEqual(out.shape, q.shape)
            self.assertEqual(lse.shape, (4, q.shape[0]))
            want = per_sequence(q, k, v, cu_q, cu_k, causal)
            self.assertLess(np.abs(out - want).max(), reference.tolerance(v, "f32"))
            # The key-less sequence's rows: LSE -inf.
            self.assertTrue(np.isneginf(lse[:, cu_q[2]:cu_q[3]]).all())

    def test_one_kernel_for_every_batch(self):
        # Other offsets, another N and other totals: the same compiled
        # kernel (N, Tq and Tk are runtime lengths).
        q, k, v, cu_q, cu_k = self.packed()
        attn_mlir.varlen_attention(q, k, v, cu_q, cu_k)
        before = attn_mlir.cache_stats()["compiles"]
        cu_q2 = np.array([0, 10, 10, 20, 30, 31, 34], np.int32)
        cu_k2 = np.array([0, 1, 30, 31, 32, 33, 39], np.int32)
        out = attn_mlir.varlen_attention(q, k, v, cu_q2, cu_k2)
        want = per_sequence(q, k, v, cu_q2, cu_k2, False)
        self.assertLess(np.abs(out - want).max(), reference.tolerance(v, "f32"))
        q3, k3, v3 = q[:7], k[:30], v[:30]
        cu_q3, cu_k3 = np.array([0, 7], np.int32), np.array([0, 30], np.int32)
        out = attn_mlir.varlen_attention(q3, k3, v3, cu_q3, cu_k3, causal=False)
        want = per_sequence(q3, k3, v3, cu_q3, cu_k3, False)
        self.assertLess(np.abs(out - want).max(), reference.tolerance(v, "f32"))
        self.assertEqual(attn_mlir.cache_stats()["compiles"], before)

    def test_kernel_clamps_offsets_it_is_called_with(self):
        # The compiled kernel called directly, past varlen_attention's
        # checks: offsets beyond the packed rows are clamped (attn.attention's
        # contract), so the first sequence gets every query row and the
        # second, whose keys end before they begin, none: 0, never a read
        # outside the operands.
        kernel = attn_mlir.compile(target="cpu", varlen=2, dynamic=True, heads_q=2,
                                   heads_kv=2, head_dim=16, dtype="f32", mask="none")
        q, k, v = randn(1, 6, 2, 16), randn(1, 9, 2, 16), randn(1, 9, 2, 16)
        out = np.full((1, 6, 2, 16), np.nan, np.float32)
        lse = np.full((1, 2, 6), np.nan, np.float32)
        kernel(q, k, v, np.array([0, 1000, 7], np.int32), np.array([0, 9, 2], np.int32),
               out, lse)
        want = per_sequence(q[0], k[0], v[0], np.array([0, 6], np.int32),
                            np.array([0, 9], np.int32), False)
        self.assertLess(np.abs(out[0] - want).max(), reference.tolerance(v, "f32"))

    def test_offsets_checked_on_the_host(self):
        q, k, v, cu_q, cu_k = self.packed()
        bad = cu_q.copy()
        bad[2], bad[3] = bad[3], bad[2]  # decreasing
        for args, message in (
                ((bad, cu_k), "cu_seqlens_q to rise from 0"),
                ((cu_q, cu_k[:-1]), r"of one size N\+1"),
                ((cu_q.astype(np.int64), cu_k), "1-D int32"),
                ((cu_q, cu_k + 1), "cu_seqlens_k to rise from 0")):
            with self.assertRaisesRegex(ValueError, message):
                attn_mlir.varlen_attention(q, k, v, *args)
        with self.assertRaisesRegex(ValueError, "within the max_seqlen"):
            attn_mlir.varlen_attention(q, k, v, cu_q, cu_k, max_seqlen_q=4)



@unittest.skipIf(torch is None, "needs torch (python3-torch)")
class TorchVarlen(unittest.TestCase):
    """attn_mlir.torch.varlen_attention: flash_attn_varlen_func's signature
    on torch tensors (CPU tensors here; CUDA ones compile the GPU kernel
    planned below, launched by bench/varlen_bench.py's device run)."""

    def packed(self, d=16):
        q, k, v, cu_q, cu_k = Varlen.packed(Varlen(), d=d)
        return (*(torch.from_numpy(x) for x in (q, k, v)), torch.from_numpy(cu_q),
                torch.from_numpy(cu_k))

    def test_cpu_tensors_match_the_reference(self):
        q, k, v, cu_q, cu_k = self.packed()
        for causal in (False, True):
            out, lse = at.varlen_attention(q, k, v, cu_q, cu_k, causal=causal,
                                           return_lse=True)
            self.assertEqual(tuple(out.shape), tuple(q.shape))
            self.assertEqual(tuple(lse.shape), (q.shape[1], q.shape[0]))
            want = per_sequence(*(x.numpy() for x in (q, k, v, cu_q, cu_k)), causal)
            self.assertLess(np.abs(out.double().numpy() - want).max(),
                            reference.tolerance(v.numpy(), "f32"))

    def test_one_gpu_kernel_for_every_batch(self):
        # The GPU kernel's key does not depend on N or the totals (runtime
        # lengths): two batches of other sizes plan the same kernel, the
        # prefill family's varlen kernel with the offsets as inputs.
        q, k, v, cu_q, cu_k = (t.to(torch.bfloat16) if t.is_floating_point() else t
                               for t in self.packed(d=32))
        first = at._varlen_gpu_kernel(q, k, v, True, None, (-1, -1), True)
        again = at._varlen_gpu_kernel(q[:3], k[:5], v[:5], True, None, (-1, -1), True)
        self.assertIs(first, again)
        self.assertEqual(first.manifest["family"], "prefill")
        self.assertEqual([a["name"] for a in first.inputs],
                         ["q", "k", "v", "cu_seqlens_q", "cu_seqlens_k"])
        self.assertEqual([a["name"] for a in first.outputs], ["o", "lse"])
        # Another mask is another kernel.
        window = at._varlen_gpu_kernel(q, k, v, True, None, (64, -1), True)
        self.assertIsNot(window, first)

    def test_refusals(self):
        q, k, v, cu_q, cu_k = self.packed()
        with self.assertRaisesRegex(ValueError, "1-D int32 tensor"):
            at.varlen_attention(q, k, v, cu_q.long(), cu_k)
        with self.assertRaisesRegex(ValueError, "of one size"):
            at.varlen_attention(q, k, v, cu_q, cu_k[:-1])
        with self.assertRaisesRegex(ValueError, "Hq a multiple of Hkv"):
            at.varlen_attention(q[:, :3], k, v, cu_q, cu_k)
        with self.assertRaisesRegex(ValueError, "bf16 or f16"):
            at._varlen_gpu_kernel(q, k, v, False, None, (-1, -1), False)


def dense_per_sequence(q, k, v, cu_q, cu_k, causal, scale=None, alibi=None):
    """(out [Tq, Hq, Dv], lse [Hq, Tq]) of each sequence as its own dense
    attention in torch ops (bottom-right causal, GQA by repetition, ALiBi
    slopes per query head over the sequence's own distance i + Lk - Lq - j),
    for torch's autograd to differentiate: the yardstick of the varlen
    gradients."""
    outs, lses = [], []
    g = q.shape[1] // k.shape[1]
    for n in range(cu_q.numel() - 1):
        qs = q[cu_q[n]:cu_q[n + 1]].transpose(0, 1)
        ks = k[cu_k[n]:cu_k[n + 1]].transpose(0, 1).repeat_interleave(g, 0)
        vs = v[cu_k[n]:cu_k[n + 1]].transpose(0, 1).repeat_interleave(g, 0)
        lq, lk = qs.shape[1], ks.shape[1]
        s = (qs @ ks.transpose(-1, -2)) * (scale or 1 / math.sqrt(q.shape[2]))
        i, j = torch.arange(lq).view(lq, 1), torch.arange(lk).view(1, lk)
        if alibi is not None:
            slopes = torch.tensor(alibi, dtype=s.dtype).view(-1, 1, 1)
            s = s - slopes * (i + lk - lq - j).abs().to(s.dtype)
        visible = (j <= i + lk - lq) if causal else torch.ones(lq, lk, dtype=torch.bool)
        # Rows that see no key give 0 (and lse -inf): computed on a zero
        # row and multiplied away, so that autograd meets no NaN.
        sees = visible.any(-1, keepdim=True)
        s = torch.where(sees, s.masked_fill(~visible, float("-inf")), torch.zeros_like(s))
        lse = torch.logsumexp(s, dim=-1)
        out = (torch.exp(s - lse.unsqueeze(-1)) * sees) @ vs
        outs.append(out.transpose(0, 1))
        lses.append(lse.masked_fill(~sees[..., 0], float("-inf")))
    return torch.cat(outs), torch.cat(lses, dim=1)


@unittest.skipIf(torch is None, "needs torch (python3-torch)")
class TorchVarlenGradients(unittest.TestCase):
    """varlen_attention's autograd on the CPU target: gradcheck in float64
    (our backward against finite differences of our forward) and the
    float64 / float32 gradients against torch's float64 autograd of
    per-sequence dense attention."""

    # Sequences (q, k): an empty one, one without keys, one token, lq < lk,
    # lq > lk (rows above the causal diagonal see nothing).
    LENGTHS = [(3, 4), (0, 2), (2, 0), (1, 1), (5, 3)]

    def packed(self, hq=4, hkv=2, d=8, dtype=torch.float64):
        gen = torch.Generator().manual_seed(16)
        tq = sum(q for q, _ in self.LENGTHS)
        tk = sum(k for _, k in self.LENGTHS)
        cu_q = torch.tensor([0] + [q for q, _ in self.LENGTHS], dtype=torch.int32).cumsum(
            0, dtype=torch.int32)
        cu_k = torch.tensor([0] + [k for _, k in self.LENGTHS], dtype=torch.int32).cumsum(
            0, dtype=torch.int32)
        return [torch.randn(shape, generator=gen, dtype=dtype)
                for shape in ((tq, hq, d), (tk, hkv, d), (tk, hkv, d))] + [cu_q, cu_k]

    def test_gradcheck_float64(self):
        q, k, v, cu_q, cu_k = self.packed()
        for causal in (False, True):
            def ours(q, k, v):
                return at.varlen_attention(q, k, v, cu_q, cu_k, causal=causal)
            self.assertTrue(torch.autograd.gradcheck(
                ours, [t.clone().requires_grad_() for t in (q, k, v)]))

    def test_lse_gradient(self):
        # d lse / d s = P rides through Delta, as in the dense backward.
        q, k, v, cu_q, cu_k = self.packed(hq=2, hkv=1, d=4)

        def ours(q, k, v):
            out, lse = at.varlen_attention(q, k, v, cu_q, cu_k, causal=True,
                                           return_lse=True)
            # Rows without keys have lse = -inf: no gradient reaches them.
            return out, torch.where(torch.isinf(lse), torch.zeros_like(lse), lse)
        self.assertTrue(torch.autograd.gradcheck(
            ours, [t.clone().requires_grad_() for t in (q, k, v)]))

    def test_gradients_match_per_sequence_dense_autograd(self):
        q, k, v, cu_q, cu_k = self.packed()
        for causal in (False, True):
            exact = [t.clone().requires_grad_() for t in (q, k, v)]
            want_out, _ = dense_per_sequence(*exact, cu_q, cu_k, causal)
            weight = torch.randn(want_out.shape, generator=torch.Generator().manual_seed(7),
                                 dtype=torch.float64)
            want = torch.autograd.grad((weight * want_out).sum(), exact)
            for dtype, u in ((torch.float64, 2.0 ** -53), (torch.float32, 2.0 ** -24)):
                leaves = [t.to(dtype).requires_grad_() for t in (q, k, v)]
                out = at.varlen_attention(*leaves, cu_q, cu_k, causal=causal)
                got = torch.autograd.grad((weight.to(dtype) * out).sum(), leaves)
                for name, x, y in zip("qkv", got, want):
                    self.assertEqual(x.dtype, dtype)
                    # As test_autograd: 256 units of roundoff of the largest
                    # entry (a wrong alignment or head mapping is >= 1e-2).
                    tol = 256 * u * max(1.0, y.abs().max().item())
                    err = (x.double() - y).abs().max().item()
                    self.assertLess(err, tol, f"{dtype} d{name} causal={causal}: {err:.3g}")
            # Keys of the sequence without queries still get 0 (no NaN).
            self.assertTrue(torch.isfinite(got[1]).all())

    def test_alibi_per_sequence(self):
        # ALiBi's distance counts from each sequence's first row with its own
        # Lk - Lq (a packed distance would differ by the offsets): out and the
        # gradients against the per-sequence dense attention, and gradcheck.
        q, k, v, cu_q, cu_k = self.packed()
        slopes = [0.5, 0.25, 0.125, 0.0625]
        for causal in (False, True):
            exact = [t.clone().requires_grad_() for t in (q, k, v)]
            want_out, want_lse = dense_per_sequence(*exact, cu_q, cu_k, causal,
                                                    alibi=slopes)
            weight = torch.randn(want_out.shape, generator=torch.Generator().manual_seed(8),
                                 dtype=torch.float64)
            want = torch.autograd.grad((weight * want_out).sum(), exact)
            leaves = [t.clone().requires_grad_() for t in (q, k, v)]
            out, lse = at.varlen_attention(*leaves, cu_q, cu_k, causal=causal,
                                           alibi_slopes=torch.tensor(slopes),
                                           return_lse=True)
            self.assertLess((out - want_out).abs().max().item(), 1e-12)
            finite = torch.isfinite(want_lse)
            self.assertTrue(torch.equal(finite, torch.isfinite(lse)))
            self.assertLess((lse - want_lse)[finite].abs().max().item(), 1e-12)
            got = torch.autograd.grad((weight * out).sum(), leaves)
            for name, x, y in zip("qkv", got, want):
                err = (x - y).abs().max().item()
                self.assertLess(err, 1e-12, f"d{name} causal={causal}: {err:.3g}")
            self.assertTrue(torch.autograd.gradcheck(
                lambda q, k, v: at.varlen_attention(q, k, v, cu_q, cu_k, causal=causal,
                                                    alibi_slopes=slopes),
                [t.clone().requires_grad_() for t in (q, k, v)]))
        with self.assertRaisesRegex(at.Unsupported, "one ALiBi slope per query head"):
            at.varlen_attention(q, k, v, cu_q, cu_k, alibi_slopes=[0.5])

    def test_bf16_gradients_have_the_inputs_dtype(self):
        q, k, v, cu_q, cu_k = self.packed(d=16, dtype=torch.float32)
        leaves = [t.to(torch.bfloat16).requires_grad_() for t in (q, k, v)]
        at.varlen_attention(*leaves, cu_q, cu_k, causal=True).float().sum().backward()
        for leaf in leaves:
            self.assertEqual(leaf.grad.dtype, torch.bfloat16)
            self.assertEqual(leaf.grad.shape, leaf.shape)
            self.assertTrue(torch.isfinite(leaf.grad.float()).all())
    def test_gpu_backward_kernel_per_batch_shape(self):
        # What a CUDA call with requires_grad asks before its forward runs
        # (shapes only, compiled here): the GPU varlen backward, whose grids
        # count the sequences and whose dims are static, compiled for N up
        # to a power of two and the totals up to one of 8 sizes per octave,
        # so that batches of other compositions share it; the offsets are
        # i32 inputs of every launch after the LSE.
        shape = at._autograd.varlen_backward_shape
        self.assertEqual(shape(5, 11, 10), (8, 128, 128))
        self.assertEqual(shape(1, 16384, 16384), (1, 16384, 16384))
        self.assertEqual(shape(9, 1000, 0), (16, 1024, 128))
        self.assertEqual(shape(8, 2049, 4097), (8, 2304, 4608))
        q, k, v, cu_q, cu_k = (t.to(torch.bfloat16) if t.is_floating_point() else t
                               for t in self.packed(d=64))
        n = len(self.LENGTHS)
        first = at._autograd.varlen_gpu_backward_kernel(q, k, v, True, None, (-1, -1), n)
        self.assertIs(first, at._autograd.varlen_gpu_backward_kernel(
            q[:7], k[:9], v[:9], True, None, (-1, -1), n + 1))
        self.assertIsNot(first, at._autograd.varlen_gpu_backward_kernel(
            q, k, v, True, None, (-1, -1), 9))
        self.assertEqual({m["family"] for m in first.launches}, {"backward"})
        names = [a["name"] for a in first.manifest["arguments"]]
        self.assertEqual(names[:11], ["q", "k", "v", "o", "do", "lse", "cu_seqlens_q",
                                      "cu_seqlens_k", "dq", "dk", "dv"])
        main = first.launches[1]
        self.assertEqual(main["grid_formula"], "[ceil(Lk / block_n) + 8, Hkv, 1]")
        # float32 has no GPU varlen backward: refused with the reason.
        with self.assertRaisesRegex(at.MissingGpuBackward, "bf16 or f16"):
            at._autograd.varlen_gpu_backward_kernel(q.float(), k.float(), v.float(), True,
                                                    None, (-1, -1), n)


if __name__ == "__main__":
    unittest.main()
