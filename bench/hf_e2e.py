#!/usr/bin/env python3
"""End-to-end: a transformers Llama-architecture model on attn-mlir kernels
(attn_implementation="attn_mlir") against sdpa and a float32 reference
(issue #14, "End-to-end").

Two modes, following bench/prepare.sh + bench/device_run.sh:
  --prepare   (here, with LLVM/MLIR): compiles every kernel the run needs
              into $ATTN_MLIR_CACHE_DIR (bench/hf_e2e_prepare.sh calls it).
  (default)   (the GPU machine: torch, transformers, the runtime, no LLVM):
              loads those kernels from the cache and measures
    1. the torch op alone: prefill and decode shapes vs fp32 math and bf16
       sdpa (max error), its time vs sdpa, and torch.compile(fullgraph)
       tracing it;
    2. prefill logits (batch 2 x 1000 tokens): max/mean |error| of attn_mlir
       and sdpa against the float32 model;
    3. 64 decode steps teacher-forced through the KV cache (the same tokens
       for every backend), each step's logits compared the same way;
    4. tokens/s of prefill and of decode, median of >= 5 timed calls after
       warm-up, backends alternated in one process;
    5. how many kernels one generate(64 new tokens) call used (= compiled
       with a cold cache);
    6. the op captured in a CUDA graph replays to the eager result (prefill
       and decode), as serving engines replay decode steps.
Writes a JSON summary to <out>/hf_e2e.json and prints a table.
With --overhead it measures only where the op's time per call goes (host
layers peeled one at a time, a cProfile of the op, the kernels' own time from
torch.profiler) and writes <out>/op_overhead.json.
"""

import argparse
import copy
import json
import math
import os
import statistics
import sys
import time

# The model (issue #14): hidden 2048, 16 query heads, 8 KV heads, head dim
# 128, 4 layers, vocab 32k, random weights.
CONFIG = dict(vocab_size=32000, hidden_size=2048, intermediate_size=5632,
              num_hidden_layers=4, num_attention_heads=16, num_key_value_heads=8,
              head_dim=128, max_position_embeddings=4096)
BATCH, PROMPT, STEPS = 2, 1000, 64
HQ, HKV, D = 16, 8, 128
SCALE = D ** -0.5  # LlamaAttention.scaling


def attention_calls():
    """(query shape, key shape, is_causal) of every attention call the run
    makes: the prompt (causal, no mask: sdpa's mask builder skips it), then
    one query token over 1001..PROMPT+STEPS keys (no mask, not causal)."""
    calls = [((BATCH, HQ, PROMPT, D), (BATCH, HKV, PROMPT, D), True)]
    for lk in range(PROMPT + 1, PROMPT + STEPS + 2):
        calls.append(((BATCH, HQ, 1, D), (BATCH, HKV, lk, D), False))
    return calls


def prepare():
    import torch
    import attn_mlir
    import attn_mlir.torch as at
    keys = set()
    start = time.time()
    for q, k, causal in attention_calls():
        # The prompt's query, key and value are transposed projections
        # (BSHD views): that kernel too.
        if causal:
            keys.add(at.precompile(q, k, dtype=torch.bfloat16, is_causal=True, scale=SCALE,
                                   device="cuda", bshd=True).key)
        kernel = at.precompile(q, k, dtype=torch.bfloat16, is_causal=causal,
                               scale=SCALE, device="cuda")
        if at.gpu_chip() not in kernel.cubins:
            sys.exit(f"hf_e2e --prepare: no {at.gpu_chip()} cubin (is ptxas installed?)")
        keys.add(kernel.key)
    print(f"hf_e2e: {len(keys)} kernels for {len(attention_calls())} attention shapes "
          f"in {os.environ.get('ATTN_MLIR_CACHE_DIR')} ({time.time() - start:.1f} s, "
          f"{attn_mlir.cache_stats()})")


def cuda_time(fn, torch):
    torch.cuda.synchronize()
    start = time.perf_counter()
    result = fn()
    torch.cuda.synchronize()
    return time.perf_counter() - start, result


def errors(x, ref):
    d = (x.float() - ref.float()).abs()
    return {"max": d.max().item(), "mean": d.mean().item()}


def op_checks(torch, at, F):
    """The op alone on the run's shapes: error vs fp32 math, next to bf16
    sdpa's, and time vs sdpa (median of 20 after 3 warm-ups)."""
    results = []
    g = torch.Generator(device="cuda").manual_seed(0)
    for q_shape, k_shape, causal in (attention_calls()[0], attention_calls()[1],
                                     attention_calls()[-1]):
        q = torch.randn(q_shape, device="cuda", generator=g).to(torch.bfloat16)
        k = torch.randn(k_shape, device="cuda", generator=g).to(torch.bfloat16)
        v = torch.randn(k_shape, device="cuda", generator=g).to(torch.bfloat16)
        kw = dict(is_causal=causal, scale=SCALE, enable_gqa=True)
        ref = F.scaled_dot_product_attention(q.float(), k.float(), v.float(), **kw)
        ours = at.scaled_dot_product_attention(q, k, v, **kw)
        sdpa = F.scaled_dot_product_attention(q, k, v, **kw)
        timings = {"attn_mlir": [], "sdpa": []}
        for i in range(23):
            for name, fn in (("attn_mlir", lambda: at.scaled_dot_product_attention(q, k, v, **kw)),
                             ("sdpa", lambda: F.scaled_dot_product_attention(q, k, v, **kw))):
                t, _ = cuda_time(fn, torch)
                if i >= 3:
                    timings[name].append(t)
        results.append({
            "q": list(q_shape), "k": list(k_shape), "is_causal": causal,
            "error_attn_mlir": errors(ours, ref), "error_sdpa": errors(sdpa, ref),
            "us_attn_mlir": statistics.median(timings["attn_mlir"]) * 1e6,
            "us_sdpa": statistics.median(timings["sdpa"]) * 1e6,
            "ok": errors(ours, ref)["max"] <= max(2 * errors(sdpa, ref)["max"], 1e-2),
        })
    # torch.compile traces the custom op (fake kernel) and calls it.
    q_shape, k_shape, causal = attention_calls()[0]
    q = torch.randn(q_shape, device="cuda", generator=g).to(torch.bfloat16)
    k = torch.randn(k_shape, device="cuda", generator=g).to(torch.bfloat16)
    v = torch.randn(k_shape, device="cuda", generator=g).to(torch.bfloat16)
    eager = at.scaled_dot_product_attention(q, k, v, is_causal=True, scale=SCALE,
                                            enable_gqa=True)
    try:
        fn = torch.compile(lambda q, k, v: at.scaled_dot_product_attention(
            q, k, v, is_causal=True, scale=SCALE, enable_gqa=True), fullgraph=True)
        trace = {"torch_compile_fullgraph_equal": bool(torch.equal(fn(q, k, v), eager))}
    except Exception as e:  # recorded, so the model measurements still run
        trace = {"torch_compile_fullgraph_equal": False,
                 "torch_compile_error": f"{type(e).__name__}: {e}"[:2000]}
    trace.update(cuda_graph_check(torch, at, g))
    return results, trace


def cuda_graph_check(torch, at, g):
    """Serving engines replay decode steps as CUDA graphs: the op captured
    in torch.cuda.graph (after a warm-up call that plans and loads it) must
    replay to what an eager call gives on the inputs written in place, for
    the prefill and the decode kernel."""
    found = {}
    for name, (q_shape, k_shape, causal) in (("prefill", attention_calls()[0]),
                                             ("decode", attention_calls()[-1])):
        q, k, v = (torch.randn(s, device="cuda", generator=g).to(torch.bfloat16)
                   for s in (q_shape, k_shape, k_shape))
        kw = dict(is_causal=causal, scale=SCALE, enable_gqa=True)
        try:
            at.scaled_dot_product_attention(q, k, v, **kw)  # plan + load outside capture
            torch.cuda.synchronize()
            graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(graph):
                captured = at.scaled_dot_product_attention(q, k, v, **kw)
            for t in (q, k, v):
                t.copy_(torch.randn(t.shape, device="cuda", generator=g).to(t.dtype))
            graph.replay()
            torch.cuda.synchronize()
            eager = at.scaled_dot_product_attention(q, k, v, **kw)
            found[f"cuda_graph_{name}_equal"] = bool(torch.equal(captured, eager))
        except Exception as e:  # recorded, so the model measurements still run
            found[f"cuda_graph_{name}_equal"] = False
            found[f"cuda_graph_{name}_error"] = f"{type(e).__name__}: {e}"[:2000]
    return found


def _per_call_us(fn, torch, calls=200):
    """Host-bound time per call: `calls` back to back, one sync at the end
    (the way a model issues them), median of 5 such runs."""
    runs = []
    for _ in range(6):
        torch.cuda.synchronize()
        start = time.perf_counter()
        for _ in range(calls):
            fn()
        torch.cuda.synchronize()
        runs.append((time.perf_counter() - start) / calls * 1e6)
    return statistics.median(runs[1:])


def _kernel_us(fn, torch, calls=50):
    """The GPU time of fn's kernels per call, from torch.profiler."""
    from torch.profiler import profile, ProfilerActivity
    fn()
    torch.cuda.synchronize()
    with profile(activities=[ProfilerActivity.CUDA]) as prof:
        for _ in range(calls):
            fn()
        torch.cuda.synchronize()
    total = sum(e.device_time_total for e in prof.key_averages())
    return total / calls


def op_overhead(torch, at, F, out_dir):
    """Where a call of the op spends its time, layer by layer: torch's sdpa,
    our public function, the custom op, the Python body, the kernel object
    and the runtime launch alone, on the run's prefill and decode shapes."""
    import cProfile
    import io
    import pstats
    g = torch.Generator(device="cuda").manual_seed(0)
    report = []
    for q_shape, k_shape, causal in (attention_calls()[0], attention_calls()[-1]):
        q = torch.randn(q_shape, device="cuda", generator=g).to(torch.bfloat16)
        k = torch.randn(k_shape, device="cuda", generator=g).to(torch.bfloat16)
        v = torch.randn(k_shape, device="cuda", generator=g).to(torch.bfloat16)
        kw = dict(is_causal=causal, scale=SCALE, enable_gqa=True)
        at.reset_kernels_used()
        at.scaled_dot_product_attention(q, k, v, **kw)
        kernel = [kn for kn in at._kernels.values() if kn.key in at.kernels_used()][0]
        out = torch.empty(q_shape[:3] + (v.shape[3],), dtype=q.dtype, device="cuda")
        stream = torch.cuda.current_stream().cuda_stream
        runtime = kernel._loaded(0)
        args = [(t.data_ptr(), "bf16", list(t.shape), list(t.stride()))
                for t in (q, k, v, out)]
        layers = {
            "torch_sdpa": lambda: F.scaled_dot_product_attention(q, k, v, **kw),
            "attn_mlir_public": lambda: at.scaled_dot_product_attention(q, k, v, **kw),
            "custom_op": lambda: torch.ops.attn_mlir.sdpa(q, k, v, None, causal, SCALE, True),
            "python_body": lambda: at._sdpa(q, k, v, None, causal, SCALE, True),
            "kernel_object": lambda: kernel(q, k, v, out),
        }
        if len(runtime) == 1:
            layers["runtime_launch"] = lambda: runtime[0].launch(args, stream)
        row = {"q": list(q_shape), "k": list(k_shape), "is_causal": causal,
               "launches_per_call": len(runtime),
               "host_us_per_call": {n: _per_call_us(fn, torch) for n, fn in layers.items()},
               "kernel_us_per_call": {n: _kernel_us(layers[n], torch)
                                      for n in ("torch_sdpa", "attn_mlir_public")}}
        prof = cProfile.Profile()
        prof.enable()
        for _ in range(200):
            at.scaled_dot_product_attention(q, k, v, **kw)
        prof.disable()
        torch.cuda.synchronize()
        text = io.StringIO()
        pstats.Stats(prof, stream=text).sort_stats("tottime").print_stats(25)
        row["cprofile_top"] = text.getvalue()
        report.append(row)
        print(json.dumps({k: v for k, v in row.items() if k != "cprofile_top"}, indent=1))
        print(row["cprofile_top"])
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, "op_overhead.json"), "w") as f:
        json.dump(report, f, indent=1)
    return 0


def build_models(torch, transformers):
    cfg = transformers.LlamaConfig(**CONFIG)
    torch.manual_seed(0)
    # The config is deep-copied per model: transformers writes the attention
    # implementation into it.
    ref = transformers.LlamaForCausalLM._from_config(copy.deepcopy(cfg),
                                                     attn_implementation="eager")
    ref = ref.to("cuda", torch.float32).eval()
    models = {"fp32": ref}
    for impl in ("sdpa", "attn_mlir"):
        m = transformers.LlamaForCausalLM._from_config(copy.deepcopy(cfg),
                                                       attn_implementation=impl)
        m.load_state_dict(ref.state_dict())
        models[impl] = m.to("cuda", torch.bfloat16).eval()
    return models


def decode(torch, model, prompt, tokens):
    """Teacher-forced decode: prefill `prompt`, then feed tokens[:, t] one
    at a time through the cache; returns [B, STEPS, vocab] logits."""
    out = model(input_ids=prompt, use_cache=True)
    cache, steps = out.past_key_values, []
    for t in range(tokens.shape[1]):
        out = model(input_ids=tokens[:, t:t + 1], past_key_values=cache, use_cache=True)
        cache = out.past_key_values
        steps.append(out.logits[:, -1].float())
    return torch.stack(steps, dim=1)


def run(out_dir, timed_calls, overhead=False):
    import torch
    import torch.nn.functional as F
    import transformers
    import attn_mlir
    import attn_mlir.torch as at
    at.register_transformers()
    summary = {"torch": torch.__version__, "transformers": transformers.__version__,
               "gpu": torch.cuda.get_device_name(), "config": CONFIG,
               "batch": BATCH, "prompt": PROMPT, "steps": STEPS}

    if overhead:
        return op_overhead(torch, at, F, out_dir)
    summary["op"], summary["op_trace"] = op_checks(torch, at, F)

    with torch.inference_mode():
        models = build_models(torch, transformers)
        g = torch.Generator(device="cuda").manual_seed(1)
        prompt = torch.randint(0, CONFIG["vocab_size"], (BATCH, PROMPT), device="cuda",
                               generator=g)
        tokens = torch.randint(0, CONFIG["vocab_size"], (BATCH, STEPS), device="cuda",
                               generator=g)

        # 2. Prefill logits vs the float32 model.
        at.reset_kernels_used()
        logits = {name: m(input_ids=prompt, use_cache=False).logits.float()
                  for name, m in models.items()}
        # The attn_mlir model really ran on attn_mlir kernels (and only it).
        summary["prefill_kernels_attn_mlir"] = len(at.kernels_used())
        summary["attn_implementation"] = {
            name: getattr(m.config, "_attn_implementation", None)
            for name, m in models.items()}
        summary["prefill_error"] = {name: errors(logits[name], logits["fp32"])
                                    for name in ("sdpa", "attn_mlir")}
        del logits

        # 3. Teacher-forced decode, every step compared.
        steps = {name: decode(torch, m, prompt, tokens) for name, m in models.items()}
        summary["decode_error"] = {name: errors(steps[name], steps["fp32"])
                                   for name in ("sdpa", "attn_mlir")}
        summary["decode_greedy_agreement_with_fp32"] = {
            name: (steps[name].argmax(-1) == steps["fp32"].argmax(-1)).float().mean().item()
            for name in ("sdpa", "attn_mlir")}
        del steps

        # 4. Throughput, backends alternated, median after warm-up.
        times = {(phase, name): [] for phase in ("prefill", "decode")
                 for name in ("sdpa", "attn_mlir")}
        for i in range(2 + timed_calls):
            for name in ("sdpa", "attn_mlir"):
                m = models[name]
                t, _ = cuda_time(lambda: m(input_ids=prompt, use_cache=False), torch)
                out = m(input_ids=prompt, use_cache=True)

                def steps_only(cache=out.past_key_values):
                    for s in range(STEPS):
                        cache = m(input_ids=tokens[:, s:s + 1], past_key_values=cache,
                                  use_cache=True).past_key_values
                td, _ = cuda_time(steps_only, torch)
                if i >= 2:
                    times[("prefill", name)].append(t)
                    times[("decode", name)].append(td)
        summary["tokens_per_s"] = {
            f"{phase}_{name}": BATCH * (PROMPT if phase == "prefill" else STEPS)
            / statistics.median(ts) for (phase, name), ts in times.items()}
        summary["timed_calls"] = timed_calls

        # 5. Kernels one generate call uses.
        at.reset_kernels_used()
        before = attn_mlir.cache_stats()
        generated = models["attn_mlir"].generate(
            input_ids=prompt, attention_mask=torch.ones_like(prompt), max_new_tokens=STEPS,
            min_new_tokens=STEPS, do_sample=False, pad_token_id=0)
        after = attn_mlir.cache_stats()
        summary["generate"] = {
            "new_tokens": generated.shape[1] - PROMPT,
            "distinct_kernels": len(at.kernels_used()),
            "compiled_here": after["compiles"] - before["compiles"],
        }

    p, d = summary["prefill_error"], summary["decode_error"]
    summary["verdict"] = {
        "model_used_attn_mlir": summary["prefill_kernels_attn_mlir"] > 0,
        "op_ok": all(r["ok"] for r in summary["op"]),
        "op_traced_by_torch_compile": summary["op_trace"]["torch_compile_fullgraph_equal"],
        "op_replays_in_cuda_graphs": summary["op_trace"].get("cuda_graph_prefill_equal", False)
        and summary["op_trace"].get("cuda_graph_decode_equal", False),
        "prefill_no_worse_than_sdpa": p["attn_mlir"]["max"] <= p["sdpa"]["max"]
        and p["attn_mlir"]["mean"] <= p["sdpa"]["mean"],
        "decode_no_worse_than_sdpa": d["attn_mlir"]["max"] <= d["sdpa"]["max"]
        and d["attn_mlir"]["mean"] <= d["sdpa"]["mean"],
    }
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, "hf_e2e.json"), "w") as f:
        json.dump(summary, f, indent=1)
    print(json.dumps(summary, indent=1))
    tps = summary["tokens_per_s"]
    print(f"\nprefill error vs fp32: attn_mlir max {p['attn_mlir']['max']:.4f} mean "
          f"{p['attn_mlir']['mean']:.5f} | sdpa max {p['sdpa']['max']:.4f} mean "
          f"{p['sdpa']['mean']:.5f}")
    print(f"decode  error vs fp32: attn_mlir max {d['attn_mlir']['max']:.4f} mean "
          f"{d['attn_mlir']['mean']:.5f} | sdpa max {d['sdpa']['max']:.4f} mean "
          f"{d['sdpa']['mean']:.5f}")
    print(f"prefill tokens/s: attn_mlir {tps['prefill_attn_mlir']:.0f} sdpa "
          f"{tps['prefill_sdpa']:.0f}; decode tokens/s: attn_mlir "
          f"{tps['decode_attn_mlir']:.1f} sdpa {tps['decode_sdpa']:.1f} "
          f"(median of {timed_calls})")
    print(f"generate({STEPS}): {summary['generate']['distinct_kernels']} distinct kernels, "
          f"{summary['generate']['compiled_here']} compiled in this process")
    print("verdict:", summary["verdict"])
    return 0 if all(summary["verdict"].values()) else 1


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--prepare", action="store_true",
                    help="compile the kernels into $ATTN_MLIR_CACHE_DIR and exit")
    ap.add_argument("--out", default=os.environ.get("OUT", "/tmp/out"))
    ap.add_argument("--timed-calls", type=int, default=7)
    ap.add_argument("--overhead", action="store_true",
                    help="only measure where the op's time per call goes")
    args = ap.parse_args()
    if args.prepare:
        prepare()
        return 0
    return run(args.out, max(5, args.timed_calls), args.overhead)


if __name__ == "__main__":
    sys.exit(main())
