"""attn_mlir.torch on CPU tensors (the CPU target): torch's sdpa semantics
against a float64 reference, the operator's fake kernel, decode bucketing,
refusals, and the transformers attention function's calling convention."""

import atexit
import os
import shutil
import tempfile
import unittest

# A disk cache of this run's own, removed at exit.
os.environ["ATTN_MLIR_CACHE_DIR"] = tempfile.mkdtemp(prefix="attn-py-cache-")
atexit.register(shutil.rmtree, os.environ["ATTN_MLIR_CACHE_DIR"], True)
# Small buckets keep the CPU kernels small.
os.environ["ATTN_MLIR_KV_BUCKET"] = "32"

import numpy as np  # noqa: E402

try:
    import torch
    import attn_mlir.torch as at
except ImportError:  # torch is installed by scripts/bootstrap.sh
    torch = None

import reference  # noqa: E402


def ref(q, k, v, keep=None, bias=None, scale=None):
    return reference.attention(q.double().numpy(), k.double().numpy(), v.double().numpy(),
                               keep=None if keep is None else keep.numpy(),
                               bias=None if bias is None else bias.double().numpy(),
                               scale=scale)


@unittest.skipIf(torch is None, "needs torch (python3-torch)")
class Sdpa(unittest.TestCase):
    def setUp(self):
        torch.manual_seed(0)

    def check(self, out, want, v, dtype="f32"):
        err = np.abs(out.float().double().numpy() - want).max()
        self.assertLess(err, reference.tolerance(v.float().numpy(), dtype))

    def test_is_causal_is_top_left(self):
        # torch's is_causal: query i sees keys j <= i, also when Lq < Lk.
        q, k, v = torch.randn(2, 4, 8, 16), torch.randn(2, 2, 24, 16), torch.randn(2, 2, 24, 16)
        out = at.scaled_dot_product_attention(q, k, v, is_causal=True, enable_gqa=True)
        self.assertEqual(out.shape, (2, 4, 8, 16))
        keep = torch.from_numpy(reference.causal_keep(8, 24, bottom_right=False))
        self.check(out, ref(q, k, v, keep), v)

    def test_masks(self):
        q, k, v = torch.randn(1, 2, 8, 16), torch.randn(1, 2, 16, 16), torch.randn(1, 2, 16, 16)
        # A bottom-right causal mask (transformers' prompt after a cache) is
        # recognised as such; an arbitrary one is an operand; so is a bias.
        br = torch.from_numpy(reference.causal_keep(8, 16, bottom_right=True))
        self.check(at.scaled_dot_product_attention(q, k, v, attn_mask=br), ref(q, k, v, br), v)
        ragged = torch.rand(1, 1, 8, 16) > 0.3
        ragged[..., 0] = True
        self.check(at.scaled_dot_product_attention(q, k, v, attn_mask=ragged),
                   ref(q, k, v, ragged), v)
        bias = torch.randn(1, 2, 8, 16)
        self.check(at.scaled_dot_product_attention(q, k, v, attn_mask=bias, scale=0.3),
                   ref(q, k, v, bias=bias, scale=0.3), v)
        # An additive -inf mask is a mask, not a bias.
        additive = torch.zeros(8, 16).masked_fill(~br, float("-inf"))
        self.check(at.scaled_dot_product_attention(q, k, v, attn_mask=additive),
                   ref(q, k, v, br), v)

    def test_mask_classification(self):
        # The kind is read off the mask as given ([B, 1, Lq, Lk] as
        # transformers passes it), remembered per tensor, and forgotten when
        # the tensor is modified in place.
        tl = torch.from_numpy(reference.causal_keep(8, 16, bottom_right=False))
        mask = torch.zeros(2, 1, 8, 16).masked_fill(~tl, torch.finfo(torch.float32).min)
        self.assertEqual(at._classify_mask(mask, (2, 4), 8, 16), ("causal-top-left", None))
        self.assertEqual(at._classify_mask(mask, (2, 4), 8, 16), ("causal-top-left", None))
        mask[1, 0, 0, 5] = 0.0  # one more visible key in one batch: an operand
        kind, keep = at._classify_mask(mask, (2, 4), 8, 16)
        self.assertEqual(kind, "operand")
        self.assertEqual(tuple(keep.shape), (2, 1, 8, 16))
        self.assertTrue(bool(keep[1, 0, 0, 5]) and not bool(keep[0, 0, 0, 5]))
        mask.fill_(0.0)
        self.assertEqual(at._classify_mask(mask, (2, 4), 8, 16), ("none", None))
        mask[0, 0, 3, 3] = 0.5  # neither kept nor dropped: a bias
        self.assertEqual(at._classify_mask(mask, (2, 4), 8, 16), ("operand", None))
        # A row broadcast over the queries is never causal for Lq > 1.
        row = torch.ones(1, 1, 1, 16, dtype=torch.bool)
        row[..., 9:] = False
        kind, keep = at._classify_mask(row, (2, 4), 8, 16)
        self.assertEqual(kind, "operand")
        self.assertIs(keep, row)
        # Larger than the scores in some extent: refused, as expand would.
        with self.assertRaises(at.Unsupported):
            at._classify_mask(torch.zeros(3, 1, 8, 16), (2, 4), 8, 16)
        # Inference-mode tensors keep no version counter: classified anyway.
        with torch.inference_mode():
            frozen = torch.zeros(8, 16).masked_fill(~tl, float("-inf"))
        self.assertEqual(at._classify_mask(frozen, (2, 4), 8, 16), ("causal-top-left", None))

    def test_bf16(self):
        q, k, v = (torch.randn(1, h, 16, 32).to(torch.bfloat16) for h in (4, 2, 2))
        out = at.scaled_dot_product_attention(q, k, v, is_causal=True, enable_gqa=True)
        self.assertEqual(out.dtype, torch.bfloat16)
        keep = torch.from_numpy(reference.causal_keep(16, 16, bottom_right=False))
        self.check(out, ref(q.float(), k.float(), v.float(), keep), v, "bf16")

    def test_decode_reuses_a_bucket(self):
        # One query token over a growing cache: key lengths 17..32 share
        # the 32-key kernel (the real length travels as key_lengths).
        at.reset_kernels_used()
        for lk in (17, 25, 32):
            q, k, v = torch.randn(2, 4, 1, 16), torch.randn(2, 2, lk, 16), torch.randn(2, 2, lk, 16)
            self.check(at.scaled_dot_product_attention(q, k, v, enable_gqa=True),
                       ref(q, k, v), v)
        self.assertEqual(len(at.kernels_used()), 1)

    def test_precompile_is_the_kernel_a_call_uses(self):
        # What a prepare step compiles for a shape is what the call finds.
        kernel = at.precompile((1, 4, 1, 16), (1, 2, 20, 16), dtype=torch.float32,
                               scale=0.125, device="cpu")
        at.reset_kernels_used()
        q, k, v = torch.randn(1, 4, 1, 16), torch.randn(1, 2, 20, 16), torch.randn(1, 2, 20, 16)
        at.scaled_dot_product_attention(q, k, v, scale=0.125, enable_gqa=True)
        self.assertEqual(at.kernels_used(), {kernel.key})

    def test_gpu_kernels_target_the_device_chip(self):
        # A machine without the GPU prepares sm_90a (wgmma family) kernels
        # for an H200 through ATTN_MLIR_GPU_CHIP; the device computes the
        # same chip from its capability, so the cache keys agree.
        saved = os.environ.get("ATTN_MLIR_GPU_CHIP")
        os.environ["ATTN_MLIR_GPU_CHIP"] = "sm_90a"
        at._gpu_chip = None
        try:
            self.assertEqual(at.gpu_options(), {"chip": "sm_90a", "cubin_archs": ["sm_90a"],
                                                "features": "+ptx81"})
            kernel = at.precompile((1, 4, 256, 128), (1, 2, 256, 128), is_causal=True,
                                   device="cuda")
            self.assertIn(".target sm_90a", kernel.ptx)
            self.assertEqual(kernel.manifest["family"], "hopper")
            self.assertIn(set(kernel.cubins), ({"sm_90a"}, set()))  # set(): no ptxas
        finally:
            if saved is None:
                del os.environ["ATTN_MLIR_GPU_CHIP"]
            else:
                os.environ["ATTN_MLIR_GPU_CHIP"] = saved
            at._gpu_chip = None

    def test_gpu_names_the_cost_models_gpu(self):
        # $ATTN_MLIR_GPU (an H200, which sm_90 alone models as an H100)
        # joins the options, so the kernel's key, its tiles and its cost.
        saved = os.environ.get("ATTN_MLIR_GPU")
        os.environ["ATTN_MLIR_GPU"] = "h200"
        try:
            self.assertEqual(at.gpu_options()["gpu"], "h200")
            kernel = at.precompile((1, 4, 256, 128), (1, 2, 256, 128), is_causal=True,
                                   device="cuda")
            self.assertEqual(kernel.cost["gpu"], "h200")
        finally:
            if saved is None:
                del os.environ["ATTN_MLIR_GPU"]
            else:
                os.environ["ATTN_MLIR_GPU"] = saved
        self.assertNotIn("gpu", at.gpu_options())

    def test_gpu_decode_is_one_runtime_length_kernel(self):
        # A decode-like CUDA call plans the decode kernel over a runtime Lk:
        # every cache length gets the same kernel, no bucket padding.
        kernels = {at.precompile((2, 16, 1, 128), (2, 8, lk, 128), device="cuda")
                   for lk in (1001, 1064)}
        self.assertEqual(len(kernels), 1)
        kernel = kernels.pop()
        self.assertEqual(kernel.manifest["family"], "decode")
        self.assertEqual(kernel.inputs[1]["dim_symbols"], ["", "", "Lk", ""])
        self.assertEqual([a["name"] for a in kernel.inputs], ["q", "k", "v"])

    def test_graph_capture_launches_with_a_torch_workspace(self):
        # A split-KV decode kernel has a workspace. Eager launches use the
        # runtime's own (per stream, zeroed once); inside a CUDA graph
        # capture the runtime's synchronous zero-fill would invalidate the
        # capture, so the call passes a torch workspace instead, its
        # zero_init slices zero-filled on the call's stream.
        kernel = at.precompile((2, 16, 1, 128), (2, 8, 1001, 128), device="cuda")
        self.assertTrue(kernel.has_workspace)

        class Recorder:
            def __init__(self):
                self.workspaces = []
                self.inits = []

            def workspace_bytes(self):
                return 4096

            def init_workspace(self, pointer, size, stream):
                self.inits.append((pointer, size, stream))

            def launch_pointers(self, layout, pointers, stream, synchronize, workspace=None):
                self.workspaces.append(workspace)

        class OnCuda:  # a CPU tensor the call takes for a CUDA one
            is_cuda = True

            def __init__(self, t):
                self.t, self.shape, self.dtype, self.device = t, t.shape, t.dtype, t.device

            def stride(self):
                return self.t.stride()

            def data_ptr(self):
                return self.t.data_ptr()

        recorder = Recorder()
        kernel._runtime[0] = [recorder]
        q, k, v = (OnCuda(torch.zeros(s, dtype=torch.bfloat16))
                   for s in ((2, 16, 1, 128), (2, 8, 1001, 128), (2, 8, 1001, 128)))
        saved = torch.cuda.is_current_stream_capturing
        try:
            for capturing in (False, True):
                torch.cuda.is_current_stream_capturing = lambda c=capturing: c
                kernel(q, k, v, stream=5)
        finally:
            torch.cuda.is_current_stream_capturing = saved
            del kernel._runtime[0]
        self.assertIsNone(recorder.workspaces[0])
        pointer, size = recorder.workspaces[1]
        self.assertNotEqual(pointer, 0)
        self.assertEqual(size, 4096)
        self.assertEqual(recorder.inits, [(pointer, size, 5)])

    def test_f32_on_the_gpu_is_opt_in(self):
        # float32 CUDA tensors run only with $ATTN_MLIR_F32_COMPUTE (the
        # compiler's f32-compute): rounded copies of q, k and v, the kernel
        # in bf16, O widened; the caller's tensors stay float32.
        saved = os.environ.pop("ATTN_MLIR_F32_COMPUTE", None)
        try:
            with self.assertRaises(at.Unsupported) as ctx:
                at.f32_compute()
            self.assertIn("ATTN_MLIR_F32_COMPUTE=bf16", str(ctx.exception))
            os.environ["ATTN_MLIR_F32_COMPUTE"] = "tf32"
            with self.assertRaises(at.Unsupported) as ctx:
                at.f32_compute()
            self.assertIn("got ATTN_MLIR_F32_COMPUTE='tf32'", str(ctx.exception))
            os.environ["ATTN_MLIR_F32_COMPUTE"] = "bf16"
            kernel = at.precompile((1, 8, 128, 64), (1, 2, 128, 64), dtype=torch.float32,
                                   is_causal=True, device="cuda")
            self.assertEqual([(a["name"], a["dtype"]) for a in kernel.inputs],
                             [("q", "f32"), ("k", "f32"), ("v", "f32")])
            self.assertEqual([a["dtype"] for a in kernel.outputs], ["f32"])
            self.assertEqual([m["family"] for m in kernel.launches],
                             ["convert", "convert", "convert", "prefill", "convert"])
            # Decode shapes take the static bucketed kernel (rounded copies
            # are static), not the runtime-length one.
            kernel = at.precompile((2, 16, 1, 128), (2, 8, 1001, 128), dtype=torch.float32,
                                   device="cuda")
            self.assertEqual(kernel.launches[3]["family"], "decode")
            self.assertNotIn("dim_symbols", kernel.inputs[1])
            # The backward: Q, K, V, O and dO rounded, the three backward
            # kernels, dQ, dK and dV widened; the gradients are float32.
            from attn_mlir import _autograd
            q, kv = torch.zeros(1, 8, 128, 64), torch.zeros(1, 2, 128, 64)
            kernel = _autograd.gpu_backward_kernel(q, kv, kv, mask="causal-top-left")
            self.assertEqual([m["family"] for m in kernel.launches],
                             ["convert"] * 5 + ["backward"] * 3 + ["convert"] * 3)
            self.assertEqual([a["dtype"] for a in kernel.outputs], ["f32"] * 3)
        finally:
            if saved is None:
                os.environ.pop("ATTN_MLIR_F32_COMPUTE", None)
            else:
                os.environ["ATTN_MLIR_F32_COMPUTE"] = saved

    def test_gpu_kernel_takes_the_attn_mask(self):
        # The CUDA path compiles a bool attn_mask to a one-byte "mask" input
        # and an additive one to a "bias" input of the inputs' dtype, after
        # q, k, v: the order the call passes them (compiled here, run on a
        # GPU by bench/device_bench.py).
        for kind, name, dtype in (("bool", "mask", "i1"), ("bias", "bias", "bf16")):
            kernel = at.precompile((1, 4, 64, 64), (1, 4, 64, 64), attn_mask=kind)
            self.assertEqual([(a["name"], a["dtype"]) for a in kernel.inputs],
                             [("q", "bf16"), ("k", "bf16"), ("v", "bf16"), (name, dtype)])
            self.assertEqual(kernel.inputs[3]["shape"], [1, 4, 64, 64])

    def test_bshd_views_pick_a_bshd_kernel(self):
        # transformers' layers pass x.view(B, L, H, D).transpose(1, 2): such
        # views run a kernel compiled for the BSHD layout (a cache key of
        # its own), without a copy, and return their output the same way.
        b, hq, hkv, l, d = 2, 4, 2, 24, 16
        q, k, v = (torch.randn(b, l, h, d).transpose(1, 2) for h in (hq, hkv, hkv))
        self.assertFalse(q.is_contiguous())
        at.reset_kernels_used()
        out = at.scaled_dot_product_attention(q, k, v, is_causal=True, enable_gqa=True)
        bshd = at.kernels_used()
        self.assertEqual(out.shape, (b, hq, l, d))
        self.assertTrue(out.transpose(1, 2).is_contiguous())
        keep = torch.from_numpy(reference.causal_keep(l, l, bottom_right=False))
        self.check(out, ref(q, k, v, keep), v)
        # The same values as dense BHSD tensors: the BHSD kernel, another key.
        at.reset_kernels_used()
        dense = at.scaled_dot_product_attention(q.contiguous(), k.contiguous(),
                                                v.contiguous(), is_causal=True,
                                                enable_gqa=True)
        self.assertEqual(len(bshd), 1)
        self.assertEqual(len(at.kernels_used()), 1)
        self.assertNotEqual(at.kernels_used(), bshd)
        self.check(out, dense.double().numpy(), v)
        # Mixed layouts (one dense operand) fall back to dense copies.
        at.reset_kernels_used()
        at.scaled_dot_product_attention(q, k.contiguous(), v, is_causal=True,
                                        enable_gqa=True)
        self.assertEqual(len(at.kernels_used()), 1)
        self.assertNotEqual(at.kernels_used(), bshd)
        # The fake kernel returns the strides the real one does.
        meta = [t.to("meta") for t in (q, k, v)]
        fake = torch.ops.attn_mlir.sdpa(*meta, None, True, None, True)
        self.assertEqual(fake.stride(), out.stride())

    def test_traced_calls_go_through_the_custom_op(self):
        # Eager calls run the op's body directly (the dispatcher's cost);
        # under a dispatch mode (make_fx, FakeTensor, ...) the call must stay
        # the custom op, or the trace would miss the kernel.
        from torch.utils._python_dispatch import TorchDispatchMode
        seen = []

        class Record(TorchDispatchMode):
            def __torch_dispatch__(self, func, types, args=(), kwargs=None):
                seen.append(str(func))
                return func(*args, **(kwargs or {}))

        q, k, v = (torch.randn(1, 2, 4, 16) for _ in range(3))
        self.assertTrue(at._runs_eagerly(q))
        eager = at.scaled_dot_product_attention(q, k, v)
        with Record():
            self.assertFalse(at._runs_eagerly(q))
            traced = at.scaled_dot_product_attention(q, k, v)
        self.assertIn("attn_mlir.sdpa.default", seen)
        self.assertTrue(torch.equal(eager, traced))

    def test_fake_kernel(self):
        meta = [torch.empty(2, 8, 5, 64, device="meta"), torch.empty(2, 2, 9, 64, device="meta"),
                torch.empty(2, 2, 9, 32, device="meta")]
        out = torch.ops.attn_mlir.sdpa(*meta, None, False, None, True)
        self.assertEqual((out.device.type, tuple(out.shape)), ("meta", (2, 8, 5, 32)))
        with self.assertRaises(at.Unsupported):
            torch.ops.attn_mlir.sdpa(*meta, None, False, None, False)

    def test_refusals(self):
        q = torch.randn(1, 4, 8, 16)
        kv = torch.randn(1, 2, 8, 16)
        cases = {
            "dropout_p": lambda: at.scaled_dot_product_attention(q, q, q, dropout_p=0.1),
            "enable_gqa": lambda: at.scaled_dot_product_attention(q, kv, kv),
            "4-D": lambda: at.scaled_dot_product_attention(q[0], q[0], q[0]),
            "not both": lambda: at.scaled_dot_product_attention(
                q, q, q, attn_mask=torch.ones(8, 8, dtype=torch.bool), is_causal=True),
            "float32, float16, bfloat16 or (on the CPU) float64":
                lambda: at.scaled_dot_product_attention(q.int(), q.int(), q.int()),
        }
        for needle, call in cases.items():
            with self.assertRaises(at.Unsupported, msg=needle) as ctx:
                call()
            self.assertIn(needle, str(ctx.exception))


class _Module:
    """What transformers' attention layers look like to the function."""
    is_causal = True
    num_key_value_groups = 2


@unittest.skipIf(torch is None, "needs torch (python3-torch)")
class TransformersBackend(unittest.TestCase):
    def test_prefill_and_decode_shapes(self):
        torch.manual_seed(1)
        # Prefill: no mask (sdpa_mask skips it), is_causal from the module.
        q, k, v = torch.randn(2, 4, 6, 16), torch.randn(2, 2, 6, 16), torch.randn(2, 2, 6, 16)
        out, weights = at.attention_forward(_Module(), q, k, v, None, scaling=0.25)
        self.assertIsNone(weights)
        self.assertEqual(out.shape, (2, 6, 4, 16))  # [B, L, Hq, D]
        keep = torch.from_numpy(reference.causal_keep(6, 6, bottom_right=False))
        want = np.swapaxes(ref(q, k, v, keep, scale=0.25), 1, 2)
        self.assertLess(np.abs(out.double().numpy() - want).max(),
                        reference.tolerance(v.numpy(), "f32"))
        # A decode step: one query, no mask, not causal.
        out, _ = at.attention_forward(_Module(), q[:, :, -1:], k, v, None, scaling=0.25)
        want = np.swapaxes(ref(q[:, :, -1:], k, v, scale=0.25), 1, 2)
        self.assertLess(np.abs(out.double().numpy() - want).max(),
                        reference.tolerance(v.numpy(), "f32"))
        # A 4-D mask longer than the keys is cut to them, as sdpa does.
        mask = torch.ones(2, 1, 6, 10, dtype=torch.bool).tril()
        out, _ = at.attention_forward(_Module(), q, k, v, mask)
        want = np.swapaxes(ref(q, k, v, keep), 1, 2)
        self.assertLess(np.abs(out.double().numpy() - want).max(),
                        reference.tolerance(v.numpy(), "f32"))


if __name__ == "__main__":
    unittest.main()
