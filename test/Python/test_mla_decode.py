"""attn_mlir.torch.mla_decode_attention (DeepSeek MLA's absorbed decode over
one shared latent cache: K is the row, V its first value_head_dim columns)
on the CPU target against a float64 reference that reads V from K; the GPU
kernel it plans (the decode family's latent kernel, one cache buffer); the
refusals."""

import unittest

import numpy as np

import reference

try:
    import torch
    import attn_mlir.torch as at
    import attn_mlir._kvcache as kvcache
except ImportError:  # torch is installed by scripts/bootstrap.sh
    torch = None

# Small latent rows on the CPU (D = 24 = 16 "latent" + 8 "rotary", Dv = 16):
# a full cache, an empty one (output 0), a single key, a partial page.
LENGTHS, PAGE, CAPACITY, HQ, D, DV = [24, 0, 1, 13], 8, 24, 4, 24, 16


@unittest.skipIf(torch is None, "torch is not installed")
class MlaDecodeAttention(unittest.TestCase):
    def setUp(self):
        gen = torch.Generator().manual_seed(5)
        b = len(LENGTHS)
        self.lengths = torch.tensor(LENGTHS, dtype=torch.int32)
        self.kv = torch.randn(b, CAPACITY, 1, D, generator=gen)
        per = CAPACITY // PAGE
        self.pool_pages = b * per + 3
        order = torch.randperm(self.pool_pages, generator=gen)[:b * per]
        self.table = order.view(b, per).to(torch.int32)
        self.pool = torch.randn(self.pool_pages, PAGE, 1, D, generator=gen)
        self.pool[order] = self.kv.reshape(b * per, PAGE, 1, D)

    def want(self, q, causal):
        out = np.zeros(tuple(q.shape[:3]) + (DV,))
        for n, length in enumerate(LENGTHS):
            if length == 0:
                continue
            k = self.kv[n:n + 1, :length].double().numpy().swapaxes(1, 2)
            keep = reference.causal_keep(q.shape[2], length, True) if causal else None
            got = reference.attention(q[n:n + 1].double().numpy(), k, k[..., :DV],
                                      keep=keep)[0]
            # A query row that sees no key (causal, a speculative row past a
            # one-key cache) is 0, as the op defines it.
            if keep is not None:
                got[:, ~keep.any(axis=-1)] = 0.0
            out[n] = got
        return out

    def test_paged_and_contiguous_match_the_reference(self):
        tol = reference.tolerance(self.kv[..., :DV].numpy(), "f32")
        for lq, causal in ((1, False), (2, True)):
            q = torch.randn(len(LENGTHS), HQ, lq, D, generator=torch.Generator().manual_seed(lq))
            want = self.want(q, causal)
            paged, lse = at.mla_decode_attention(q, self.pool, self.lengths, self.table,
                                                 value_head_dim=DV, causal=causal,
                                                 return_lse=True)
            self.assertEqual(tuple(paged.shape), (len(LENGTHS), HQ, lq, DV))
            self.assertEqual(tuple(lse.shape), (len(LENGTHS), HQ, lq))
            self.assertLess(np.abs(paged.double().numpy() - want).max(), tol)
            contiguous = at.mla_decode_attention(q, self.kv, self.lengths, value_head_dim=DV,
                                                 causal=causal)
            self.assertLess(np.abs(contiguous.double().numpy() - want).max(), tol)
            # The empty cache: output 0, LSE -inf.
            self.assertEqual(float(paged[1].abs().max()), 0.0)
            self.assertTrue(torch.isinf(lse[1]).all())

    def test_gpu_kernel_is_the_latent_kernel(self):
        # Meta tensors plan the CUDA call's kernel: 576/512 rows, 16 heads,
        # one pool buffer and its table (no V operand).
        q = torch.empty(2, 16, 1, 576, dtype=torch.bfloat16, device="meta")
        pool = torch.empty(8, 64, 1, 576, dtype=torch.bfloat16, device="meta")
        table = torch.zeros(2, 4, dtype=torch.int32, device="meta")
        lengths = torch.zeros(2, dtype=torch.int32, device="meta")
        kernel, _ = kvcache._plan_mla(q, pool, lengths, table, 512, False, None)
        self.assertEqual(kernel.manifest["family"], "decode")
        self.assertEqual(kernel.manifest["tuning"]["block_m"], 16)
        shapes = {a["name"]: a["shape"] for a in kernel.inputs}
        self.assertEqual(sorted(shapes), ["block_table", "k_pages", "key_lengths", "q"])
        self.assertEqual(shapes["k_pages"], [8, 64, 1, 576])
        self.assertEqual([a["name"] for a in kernel.outputs], ["o", "lse"])

    def test_refusals(self):
        q = torch.randn(len(LENGTHS), HQ, 1, D)
        with self.assertRaisesRegex(at.Unsupported, "value_head_dim <= D"):
            at.mla_decode_attention(q, self.pool, self.lengths, self.table, value_head_dim=32)
        with self.assertRaisesRegex(at.Unsupported, "contiguous kv_cache"):
            at.mla_decode_attention(q, self.pool, self.lengths, value_head_dim=DV)
        with self.assertRaisesRegex(at.Unsupported, "cache_seqlens in"):
            at.mla_decode_attention(q, self.pool, self.lengths + 100, self.table,
                                    value_head_dim=DV)


if __name__ == "__main__":
    unittest.main()
