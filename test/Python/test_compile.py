"""attn_mlir.compile on the CPU target (and PTX generation, which needs no
GPU): numerics against a float64 reference, MLIR text input, the kernel
cache in memory and on disk, and errors as MLIR diagnostics."""

import atexit
import os
import shutil
import tempfile
import unittest

import numpy as np

# A disk cache of this run's own, removed at exit.
os.environ["ATTN_MLIR_CACHE_DIR"] = tempfile.mkdtemp(prefix="attn-py-cache-")
atexit.register(shutil.rmtree, os.environ["ATTN_MLIR_CACHE_DIR"], True)

import attn_mlir  # noqa: E402
import reference  # noqa: E402

RNG = np.random.default_rng(0)


def randn(*shape):
    return RNG.standard_normal(shape).astype(np.float32)


class CpuNumerics(unittest.TestCase):
    def test_gqa_causal_f32(self):
        # GQA 4/2, Lq < Lk, causal aligned bottom-right (attn-compile's
        # "causal"): query i sees keys j <= i + Lk - Lq.
        kernel = attn_mlir.compile(batch=2, heads_q=4, heads_kv=2, seq_q=12, seq_k=20,
                                   head_dim=16, dtype="f32", mask="causal", lse=False,
                                   target="cpu", options={"tile_m": 8, "tile_n": 8})
        self.assertEqual(kernel.signature[3], ("f32", (2, 4, 12, 16)))
        q, k, v = randn(2, 4, 12, 16), randn(2, 2, 20, 16), randn(2, 2, 20, 16)
        out = kernel(q, k, v)
        want = reference.attention(q, k, v, keep=reference.causal_keep(12, 20, True))
        self.assertLess(np.abs(out - want).max(), reference.tolerance(v, "f32"))

    def test_destination_passing_and_lse(self):
        # With lse the entry writes o and lse; passing every buffer writes
        # them in place. LSE = log sum_j exp(s_ij) (natural log).
        kernel = attn_mlir.compile(heads_q=2, heads_kv=2, seq_q=8, seq_k=8, head_dim=8,
                                   dtype="f32", mask="none", lse=True, target="cpu")
        q, k, v = randn(1, 2, 8, 8), randn(1, 2, 8, 8), randn(1, 2, 8, 8)
        o, lse = np.zeros((1, 2, 8, 8), np.float32), np.zeros((1, 2, 8), np.float32)
        self.assertIsNone(kernel(q, k, v, o, lse))
        s = (q.astype(np.float64) @ np.swapaxes(k, -1, -2)) / np.sqrt(8)
        want_lse = np.log(np.exp(s).sum(-1))
        self.assertLess(np.abs(lse - want_lse).max(), 1e-5)
        self.assertLess(np.abs(o - reference.attention(q, k, v)).max(),
                        reference.tolerance(v, "f32"))

    def test_bf16_bits(self):
        kernel = attn_mlir.compile(heads_q=4, heads_kv=1, seq_q=16, seq_k=16, head_dim=32,
                                   dtype="bf16", mask="causal", lse=False, target="cpu")
        q, k, v = (attn_mlir.float32_to_bf16(randn(1, h, 16, 32)) for h in (4, 1, 1))
        out = attn_mlir.bf16_to_float32(kernel(q, k, v))
        qf, kf, vf = (attn_mlir.bf16_to_float32(x) for x in (q, k, v))
        want = reference.attention(qf, kf, vf, keep=reference.causal_keep(16, 16, True))
        self.assertLess(np.abs(out - want).max(), reference.tolerance(vf, "bf16"))

    def test_mlir_text_on_tensors(self):
        # An importer's function on tensors: the operands come first, the
        # result is allocated and returned.
        text = """
        func.func @mqa(%q: tensor<1x4x8x16xf32>, %k: tensor<1x1x8x16xf32>,
                       %v: tensor<1x1x8x16xf32>) -> tensor<1x4x8x16xf32> {
          %o = attn.attention ins(%q, %k, %v : tensor<1x4x8x16xf32>,
              tensor<1x1x8x16xf32>, tensor<1x1x8x16xf32>)
              {scale = 0.5 : f64} -> tensor<1x4x8x16xf32>
          return %o : tensor<1x4x8x16xf32>
        }"""
        kernel = attn_mlir.compile(text, target="cpu", entry="mqa")
        self.assertEqual(kernel.entry, "mqa")
        q, k, v = randn(1, 4, 8, 16), randn(1, 1, 8, 16), randn(1, 1, 8, 16)
        out = kernel(q, k, v)
        self.assertLess(np.abs(out - reference.attention(q, k, v, scale=0.5)).max(),
                        reference.tolerance(v, "f32"))

    def test_refuses_wrong_buffers(self):
        kernel = attn_mlir.compile(heads_q=2, heads_kv=2, seq_q=8, seq_k=8, head_dim=8,
                                   dtype="f32", mask="none", lse=False, target="cpu")
        q = randn(1, 2, 8, 8)
        with self.assertRaises(attn_mlir.CompileError) as ctx:
            kernel(q, randn(1, 2, 9, 8), q)
        self.assertIn("expected shape", str(ctx.exception))
        # A kind the boundary has, but not this entry's: the signature check.
        with self.assertRaises(attn_mlir.CompileError) as ctx:
            kernel(q.astype(np.float64), q, q)
        self.assertIn("expected element type f32, got f64", str(ctx.exception))
        with self.assertRaises(TypeError):  # no kind at all
            kernel(q.astype(np.int64), q, q)


class Cache(unittest.TestCase):
    SPEC = dict(heads_q=8, heads_kv=2, seq_q=128, seq_k=128, head_dim=64, lse=False,
                mask="causal")

    def test_ptx_in_memory_and_on_disk(self):
        stats = attn_mlir.cache_stats()
        first = attn_mlir.compile(target="ptx", **self.SPEC)
        self.assertIn(".entry", first.ptx)
        self.assertEqual([a["role"] for a in first.manifest["arguments"]],
                         ["input", "input", "input", "output"])
        self.assertTrue(os.path.exists(os.path.join(first.path, "manifest.json")))
        # The same spec again: the same object, no compile.
        self.assertIs(attn_mlir.compile(target="ptx", **self.SPEC), first)
        # A new process (simulated: the memory cache dropped) reads the disk.
        attn_mlir.clear_memory_cache()
        again = attn_mlir.compile(target="ptx", **self.SPEC)
        self.assertEqual(again.ptx, first.ptx)
        now = attn_mlir.cache_stats()
        self.assertEqual(now["compiles"] - stats["compiles"], 1)
        self.assertEqual(now["memory_hits"] - stats["memory_hits"], 1)
        self.assertEqual(now["disk_hits"] - stats["disk_hits"], 1)
        # Another option is another kernel.
        other = attn_mlir.compile(target="ptx", options={"block_n": 32}, **self.SPEC)
        self.assertNotEqual(other.key, first.key)
        self.assertEqual(other.manifest["tuning"]["block_n"], 32)

    def test_gpu_option_is_what_the_model_tiles_for(self):
        # MHA decode B = 1, 32 heads, 8192 keys: 32 (B x Hkv) groups. On an
        # H200 (4.8 TB/s, 132 SMs) one CTA per group streams too little
        # (87 GB/s each) and the model splits the keys in 2; on an A100
        # (2.0 TB/s) 32 CTAs already meet the bandwidth: 1 split. The
        # manifest's cost is for the GPU named.
        spec = dict(batch=1, heads_q=32, heads_kv=32, seq_q=1, seq_k=8192,
                    head_dim=128, mask="none", lse=False, key_lengths=True)
        splits = {}
        for gpu in ("h200", "a100-sxm"):
            kernel = attn_mlir.compile(target="ptx", options={
                "chip": "sm_90", "gpu": gpu, "cubin_archs": []}, **spec)
            self.assertEqual(kernel.cost["gpu"], gpu)
            splits[gpu] = kernel.manifest["tuning"]["num_splits"]
        self.assertEqual(splits, {"h200": 2, "a100-sxm": 1})
        with self.assertRaises(attn_mlir.CompileError) as ctx:
            attn_mlir.compile(target="ptx", options={"gpu": "v100", "cubin_archs": []},
                              **spec)
        self.assertIn("v100", str(ctx.exception))

    def test_cost_figures_of_the_manifest(self):
        # SPEC (B = 1, Hq = 8, Hkv = 2, L = 128, D = Dv = 64, causal, bf16) for
        # chip sm_80, whose GPU is the A100 SXM, on the tiles the model
        # chooses there (tile-model=auto, the default): 64 x 128 on 4 warps
        # (16 CTAs for 108 SMs), one query head per CTA: each of the 2 query
        # blocks visits 1 KV tile of 128 keys (row 127 sees all 128);
        # executed GEMM = 16 x 64 x 128 x 2 (64 + 64) = 33554432 FLOPs
        # (= dense 4 x 8 x 128 x 128 x 64); visible = 256 x 8 x 128 x 129 / 2
        # = 16908288; exp = 16 x 64 x 128 + 16 x 64 = 132096;
        # read Q 8 x 128 x 64 x 2 + K, V 2 x 2 x 128 x 64 x 2 = 196608,
        # written O 131072; intensity 33554432 / 327680 = 102.4;
        # memory 327680 B / 2.039 TB/s = 0.16071 us > compute 33554432 /
        # 312 TFLOP/s = 0.10755 us > exp 132096 / 2.436 T/s = 0.05423 us.
        # (num_sms only steers decode splits: a key of its own, so the other
        # tests' cache counts stay theirs.)
        kernel = attn_mlir.compile(target="ptx", options={"num_sms": 100}, **self.SPEC)
        cost = kernel.cost
        self.assertEqual(cost["gpu"], "a100-sxm")
        self.assertEqual(cost["gemm_flops"], 33554432)
        self.assertEqual(cost["dense_gemm_flops"], 33554432)
        self.assertEqual(cost["visible_gemm_flops"], 16908288)
        self.assertEqual(cost["exponentials"], 132096)
        self.assertEqual((kernel.manifest["tuning"]["block_m"],
                          kernel.manifest["tuning"]["block_n"]), (64, 128))
        self.assertEqual(cost["bytes_read"], 196608)
        self.assertEqual(cost["bytes_written"], 131072)
        self.assertAlmostEqual(cost["arithmetic_intensity"], 102.4)
        self.assertEqual(cost["limiter"], "memory")
        self.assertAlmostEqual(cost["bound_us"], 327680 / 2.039e6, places=9)
        self.assertAlmostEqual(cost["compute_us"], 33554432 / 312e6, places=9)
        self.assertAlmostEqual(cost["exp_us"], 132096 / 2.436e6, places=9)

    def test_hopper_tensor_maps_are_the_runtimes(self):
        # On sm_90a the hopper kernel loads K and V by TMA: the manifest
        # lists their tensor maps after the tensors, and the caller passes
        # neither (the runtime builds them at launch).
        kernel = attn_mlir.compile(target="ptx", options={"chip": "sm_90a", "cubin_archs": []},
                                   **self.SPEC)
        self.assertEqual(kernel.manifest["family"], "hopper")
        maps = [a for a in kernel.manifest["arguments"] if a["role"] == "tensor_map"]
        self.assertEqual([(a["name"], a["tensor_map"]["source"]) for a in maps],
                         [("k_tensor_map", "k"), ("v_tensor_map", "v")])
        self.assertEqual(maps[0]["tensor_map"]["box"], [1, 1, 128, 64])
        self.assertEqual([a["name"] for a in kernel.arguments], ["q", "k", "v", "o"])

    def test_dynamic_lengths_share_one_kernel(self):
        # dynamic=True: B, Lq and Lk are runtime lengths, so the cache key
        # leaves them out and every length gets the same kernel.
        spec = dict(self.SPEC, dynamic=True)
        first = attn_mlir.compile(target="ptx", batch=3, **dict(spec, seq_q=100, seq_k=300))
        self.assertIs(attn_mlir.compile(target="ptx", batch=1, **dict(spec, seq_q=7, seq_k=9)),
                      first)
        args = first.manifest["arguments"]
        self.assertEqual([(a["name"], a["role"]) for a in args if a["role"] == "length"],
                         [("B", "length"), ("Lq", "length"), ("Lk", "length")])
        self.assertEqual(args[0]["shape"], [-1, 8, -1, 64])
        self.assertEqual(args[0]["dim_symbols"], ["B", "", "Lq", ""])
        self.assertEqual(args[1]["dim_symbols"], ["B", "", "Lk", ""])
        self.assertEqual(first.manifest["grid"], [0, 0, 1])
        self.assertEqual(first.manifest["attention"]["seq_k"], -1)
        # The kernel takes the arguments the caller passes, not the lengths.
        self.assertEqual([a["name"] for a in first.arguments], ["q", "k", "v", "o"])
        # Only Lk dynamic is another kernel, as is the static one.
        lk_only = attn_mlir.compile(target="ptx", **dict(spec, dynamic=["seq-k"]))
        self.assertNotEqual(lk_only.key, first.key)
        static = attn_mlir.compile(target="ptx", batch=3, **dict(self.SPEC, seq_q=100, seq_k=300))
        self.assertNotEqual(static.key, first.key)
        self.assertEqual(static.manifest["arguments"][0]["shape"], [3, 8, 100, 64])
        with self.assertRaisesRegex(ValueError, "expected dynamic dims among"):
            attn_mlir.compile(target="ptx", **dict(spec, dynamic=["heads"]))

    @unittest.skipUnless(os.path.exists("/usr/local/cuda/bin/ptxas"),
                         "no ptxas here: cubins are not assembled")
    def test_cubin_bytes_cross_the_c_api_intact(self):
        # A NUL-terminated read once corrupted every cubin byte after the ELF
        # header's first zero; a whole ELF file has its section headers where
        # its header says, and they are EM_CUDA's.
        import struct
        kernel = attn_mlir.compile(target="ptx", options={"block_m": 64}, **self.SPEC)
        cubin = kernel.cubins["sm_90"]
        self.assertEqual(cubin[:4], b"\x7fELF")
        machine, = struct.unpack_from("<H", cubin, 0x12)
        shoff, = struct.unpack_from("<Q", cubin, 0x28)
        shentsize, shnum = struct.unpack_from("<HH", cubin, 0x3A)
        self.assertEqual(machine, 190)  # EM_CUDA
        self.assertGreater(shnum, 0)
        self.assertGreater(shoff, 0)
        self.assertLessEqual(shoff + shnum * shentsize, len(cubin))

    def test_ptx_from_mlir_text(self):
        # An importer's graph on tensors to a GPU kernel: the manifest lists
        # the entry's operands, then its result.
        text = """
        func.func @prefill(%q: tensor<1x4x128x64xbf16>, %k: tensor<1x4x128x64xbf16>,
                           %v: tensor<1x4x128x64xbf16>) -> tensor<1x4x128x64xbf16> {
          %o = attn.attention ins(%q, %k, %v : tensor<1x4x128x64xbf16>,
              tensor<1x4x128x64xbf16>, tensor<1x4x128x64xbf16>)
              {mask_kind = #attn.mask<causal_top_left>} -> tensor<1x4x128x64xbf16>
          return %o : tensor<1x4x128x64xbf16>
        }"""
        kernel = attn_mlir.compile(text, target="ptx", options={"cubin_archs": []})
        self.assertEqual([(a["role"], a["shape"]) for a in kernel.manifest["arguments"]],
                         [("input", [1, 4, 128, 64])] * 3 + [("output", [1, 4, 128, 64])])
        self.assertEqual(kernel.cubins, {})
        self.assertTrue(kernel.image_path("sm_90").endswith("kernel.ptx"))

    def test_ptx_bshd_is_its_own_kernel(self):
        # The layout is part of the spec, so of the key; the BSHD kernel's
        # arguments are dense [B, L, H, D] (no strides in the manifest).
        bhsd = attn_mlir.compile(target="ptx", options={"cubin_archs": []}, **self.SPEC)
        bshd = attn_mlir.compile(target="ptx", options={"cubin_archs": []}, bshd=True,
                                 **self.SPEC)
        self.assertNotEqual(bshd.key, bhsd.key)
        self.assertEqual(bshd.manifest["attention"]["layout"], "bshd")
        self.assertEqual([a["shape"] for a in bshd.manifest["arguments"]],
                         [[1, 128, 8, 64], [1, 128, 2, 64], [1, 128, 2, 64],
                          [1, 128, 8, 64]])
        self.assertFalse(any("strides" in a for a in bshd.manifest["arguments"]))

    def test_cpu_in_memory(self):
        spec = dict(heads_q=2, heads_kv=2, seq_q=8, seq_k=8, head_dim=8, dtype="f32",
                    lse=False, target="cpu")
        self.assertIs(attn_mlir.compile(**spec), attn_mlir.compile(**spec))


class Version(unittest.TestCase):
    def test_package_and_library_agree(self):
        # __version__ is written by hand beside the CMake project version.
        from attn_mlir import _capi
        self.assertEqual(attn_mlir.__version__, _capi.compiler().version)


class Errors(unittest.TestCase):
    def test_invalid_spec_is_a_diagnostic(self):
        with self.assertRaises(attn_mlir.CompileError) as ctx:
            attn_mlir.compile(heads_q=3, heads_kv=2, seq_q=8, seq_k=8, head_dim=8,
                              dtype="f32", target="cpu")
        errors = [d for d in ctx.exception.diagnostics if d.severity == "error"]
        self.assertTrue(errors)
        # The spec is checked before any op is built (verifyAttentionSpec).
        self.assertEqual(errors[0].message,
                         "expected the query heads (3) to be a multiple of the "
                         "key/value heads (2)")

    def test_gpu_refusal_is_located(self):
        with self.assertRaises(attn_mlir.CompileError) as ctx:
            attn_mlir.compile(heads_q=8, heads_kv=2, seq_q=64, seq_k=64, head_dim=24,
                              target="ptx")
        d = ctx.exception.diagnostics[0]
        self.assertEqual(d.severity, "error")
        self.assertIn("expected head dims D and Dv that are multiples of 16 in [32, 256] "
                      "on the GPU path, got D = 24, Dv = 24", d.message)
        self.assertIn("attention spec: GQA 8/2", d.location)

    def test_parse_error_is_located(self):
        with self.assertRaises(attn_mlir.CompileError) as ctx:
            attn_mlir.compile("func.func @f( {", target="cpu")
        self.assertIn("1:", ctx.exception.diagnostics[0].location)

    def test_backward_options(self):
        # The backward's options through the C API (MlirAttnPtxOptions):
        # deterministic None / False / True (the pass's default, dq_accum
        # reductions, the dQ kernel), dq_reduction, and the tiles given
        # (block-n 64: the 4-warp main kernel) over the cost model's.
        spec = dict(Cache.SPEC, lse=True, backward=True, dtype="bf16")
        opts = {"chip": "sm_90", "features": "+ptx81", "cubin_archs": []}
        atomic = attn_mlir.compile(target="ptx", options=dict(opts, deterministic=False), **spec)
        det = attn_mlir.compile(target="ptx", options=dict(opts, deterministic=True), **spec)
        self.assertTrue(atomic.launches[2]["kernel"].endswith("_bwd_convert"))
        self.assertTrue(det.launches[2]["kernel"].endswith("_bwd_dq"))
        atom = attn_mlir.compile(target="ptx", options=dict(opts, deterministic=False,
                                                            dq_reduction="atom"), **spec)
        self.assertIn("atom.global.add.f32", atom.ptx)
        self.assertNotIn("atom.global.add.f32", atomic.ptx)
        fixed = attn_mlir.compile(target="ptx", options=dict(opts, bwd_block_m=64, bwd_block_n=64,
                                                             dq_block_m=64, deterministic=True),
                                  **spec)
        self.assertEqual(fixed.launches[1]["tuning"], {"block_m": 64, "block_n": 64, "num_warps": 4})
        self.assertEqual(fixed.launches[2]["block"], [128, 1, 1])
        with self.assertRaises(TypeError):
            attn_mlir.compile(target="ptx", options={"deterministic": "yes"}, **spec)
        with self.assertRaises(ValueError):
            attn_mlir.compile(target="ptx", options={"dq_reduction": "red-v8"}, **spec)
        with self.assertRaises(attn_mlir.CompileError) as ctx:
            attn_mlir.compile(target="ptx", options=dict(opts, bwd_block_n=96), **spec)
        self.assertIn("expected block-n 0", str(ctx.exception))

    def test_unknown_field_and_option(self):
        with self.assertRaises(TypeError):
            attn_mlir.compile(heads=4)
        with self.assertRaises(TypeError):
            attn_mlir.compile(target="cpu", options={"chip": "sm_90"})
        with self.assertRaises(ValueError):
            attn_mlir.compile(target="cuda")


if __name__ == "__main__":
    unittest.main()
