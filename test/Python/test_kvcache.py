"""attn_mlir.torch.kvcache_attention (flash_attn_with_kvcache with
cu_seqlens_q and a page table) on the CPU target: N sequences' packed query
rows over their own paged or contiguous caches against a float64 reference
computed sequence by sequence; the GPU kernel it plans (the decode family,
one per N and T); the host checks and the refusals."""

import unittest

import numpy as np

import reference

try:
    import torch
    import attn_mlir.torch as at
except ImportError:  # torch is installed by scripts/bootstrap.sh
    torch = None

# (query rows, cache fill) per sequence: a decode step, a sequence without
# queries, a full cache, an empty cache (output 0), a single key and a
# speculative step of 4 tokens.
LENGTHS = [(1, 33), (0, 5), (3, 40), (2, 0), (1, 1), (4, 17)]
PAGE, CAPACITY, HQ, HKV, D = 8, 40, 4, 2, 16


def per_sequence(q, dense_k, dense_v, cu_q, lengths, causal):
    """float64 O [T, Hq, Dv]: sequence n is the dense op on its rows and the
    first lengths[n] rows of cache n ([N, Lk, Hkv, D])."""
    out = np.zeros(q.shape[:2] + dense_v.shape[3:])
    for n, length in enumerate(lengths):
        rows = q[cu_q[n]:cu_q[n + 1]]
        if rows.shape[0] == 0 or length == 0:
            continue
        keep = reference.causal_keep(rows.shape[0], length, True) if causal else None
        got = reference.attention(*(np.swapaxes(x, 0, 1)[None] for x in
                                    (rows, dense_k[n, :length], dense_v[n, :length])),
                                  keep=keep)
        out[cu_q[n]:cu_q[n + 1]] = np.swapaxes(got[0], 0, 1)
    return out


@unittest.skipIf(torch is None, "torch is not installed")
class KVCacheAttention(unittest.TestCase):
    def setUp(self):
        gen = torch.Generator().manual_seed(9)
        self.cu_q = torch.tensor(np.cumsum([0] + [q for q, _ in LENGTHS]), dtype=torch.int32)
        self.lengths = torch.tensor([k for _, k in LENGTHS], dtype=torch.int32)
        n, t = len(LENGTHS), int(self.cu_q[-1])
        self.q = torch.randn(t, HQ, D, generator=gen)
        self.k = torch.randn(n, CAPACITY, HKV, D, generator=gen)
        self.v = torch.randn(n, CAPACITY, HKV, D, generator=gen)
        # A shared pool larger than the caches need, pages in shuffled order.
        per = CAPACITY // PAGE
        self.pool_pages = n * per + 7
        order = torch.randperm(self.pool_pages, generator=gen)[:n * per]
        self.table = order.view(n, per).to(torch.int32)
        self.k_pool = torch.randn(self.pool_pages, PAGE, HKV, D, generator=gen)
        self.v_pool = torch.randn(self.pool_pages, PAGE, HKV, D, generator=gen)
        self.k_pool[order] = self.k.reshape(n * per, PAGE, HKV, D)
        self.v_pool[order] = self.v.reshape(n * per, PAGE, HKV, D)

    def want(self, causal):
        return per_sequence(self.q.double().numpy(), self.k.double().numpy(),
                            self.v.double().numpy(), self.cu_q.tolist(),
                            self.lengths.tolist(), causal)

    def test_paged_and_contiguous_match_the_reference(self):
        tol = reference.tolerance(self.v.numpy(), "f32")
        for causal in (False, True):
            want = self.want(causal)
            paged, lse = at.kvcache_attention(self.q, self.k_pool, self.v_pool, self.lengths,
                                              self.cu_q, self.table, causal=causal,
                                              return_lse=True)
            self.assertEqual(tuple(paged.shape), tuple(self.q.shape))
            self.assertEqual(tuple(lse.shape), (HQ, self.q.shape[0]))
            self.assertLess(np.abs(paged.double().numpy() - want).max(), tol)
            contiguous = at.kvcache_attention(self.q, self.k, self.v, self.lengths, self.cu_q,
                                              causal=causal)
            self.assertLess(np.abs(contiguous.double().numpy() - want).max(), tol)
        # The empty cache's rows: output 0, LSE -inf.
        rows = slice(int(self.cu_q[3]), int(self.cu_q[4]))
        self.assertTrue(torch.isinf(lse[:, rows]).all())
        self.assertEqual(float(paged[rows].abs().max()), 0.0)

    def test_one_kernel_per_n_and_t(self):
        # Another composition of the same N and T (rows moved between
        # sequences, other fill levels, another table) is the same kernel.
        first = at.kvcache_kernel(self.q, self.k_pool, self.v_pool, self.lengths, self.cu_q,
                                  self.table, causal=True)
        cu = torch.tensor([0, 2, 2, 5, 6, 7, 11], dtype=torch.int32)
        again = at.kvcache_kernel(self.q, self.k_pool, self.v_pool, self.lengths.flip(0), cu,
                                  self.table.flip(0), causal=True)
        self.assertIs(first, again)
        # Another T is another kernel.
        other = at.kvcache_kernel(self.q[:5], self.k_pool, self.v_pool, self.lengths,
                                  torch.tensor([0, 1, 1, 2, 3, 4, 5], dtype=torch.int32),
                                  self.table, causal=True)
        self.assertIsNot(first, other)

    def test_gpu_kernel_is_the_decode_family(self):
        # Meta tensors plan the CUDA call's kernel (how a machine without the
        # GPU prepares its cache): the pool's size and the table's width are
        # the manifest's shapes, the run-time values its inputs.
        d = 64  # the GPU path's head dims are multiples of 16 from 32
        meta = {name: torch.empty(getattr(self, name).shape[:-1] + (d,),
                                  dtype=torch.bfloat16, device="meta")
                for name in ("q", "k_pool", "v_pool")}
        kernel = at.kvcache_kernel(meta["q"], meta["k_pool"], meta["v_pool"],
                                   self.lengths.to("meta"), self.cu_q.to("meta"),
                                   self.table.to("meta"), causal=True, return_lse=True)
        self.assertEqual(kernel.manifest["family"], "decode")
        shapes = {a["name"]: a["shape"] for a in kernel.inputs}
        self.assertEqual(shapes["k_pages"], [self.pool_pages, PAGE, HKV, d])
        self.assertEqual(shapes["block_table"], [len(LENGTHS), CAPACITY // PAGE])
        self.assertEqual(sorted(shapes), sorted(["q", "k_pages", "v_pages", "block_table",
                                                 "key_lengths", "cu_seqlens_q"]))
        self.assertEqual([a["name"] for a in kernel.outputs], ["o", "lse"])

    def test_host_checks_and_refusals(self):
        args = (self.q, self.k_pool, self.v_pool)
        bad_table = self.table.clone()
        bad_table[0, 0] = self.pool_pages
        with self.assertRaisesRegex(ValueError, r"sequence 0's block_table entries in \[0, 37\)"):
            at.kvcache_attention(*args, self.lengths, self.cu_q, bad_table)
        long = self.lengths.clone()
        long[2] = CAPACITY + 1
        with self.assertRaisesRegex(ValueError, r"cache_seqlens in \[0, 40\]"):
            at.kvcache_attention(*args, long, self.cu_q, self.table)
        with self.assertRaisesRegex(ValueError, "cu_seqlens_q to rise from 0 to 11"):
            at.kvcache_attention(*args, self.lengths, self.cu_q.flip(0), self.table)
        with self.assertRaisesRegex(ValueError, r"cache_seqlens as an int32 tensor \[6\]"):
            at.kvcache_attention(*args, self.lengths[:5], self.cu_q, self.table)
        with self.assertRaisesRegex(ValueError, "block_table as an int32 tensor"):
            at.kvcache_attention(*args, self.lengths, self.cu_q, self.table.long())
        with self.assertRaisesRegex(ValueError, "contiguous caches"):
            at.kvcache_attention(*args, self.lengths, self.cu_q)
        with self.assertRaisesRegex(ValueError, "Hq a multiple of Hkv"):
            at.kvcache_attention(self.q[:, :3], self.k_pool, self.v_pool, self.lengths,
                                 self.cu_q, self.table)
        with self.assertRaisesRegex(ValueError, "no backward"):
            at.kvcache_attention(self.q.clone().requires_grad_(), self.k_pool, self.v_pool,
                                 self.lengths, self.cu_q, self.table)
        with self.assertRaisesRegex(ValueError, "bf16 or f16"):
            at.kvcache_kernel(*(t.to("meta") for t in args), self.lengths.to("meta"),
                              self.cu_q.to("meta"), self.table.to("meta"))


if __name__ == "__main__":
    unittest.main()
