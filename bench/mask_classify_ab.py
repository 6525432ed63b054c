#!/usr/bin/env python3
"""A/B of attn_mlir.torch's attn_mask classification on the device: the
classifier of an older torch.py (its _causal and _classify_mask functions,
read out of the file) against the current module's, on the masks torch users
and transformers pass, same tensors, one run. Both must give the same kind;
then the median time per call of each.

  python3 bench/mask_classify_ab.py OLD_TORCH_PY [--out DIR]
(PYTHONPATH must reach the current attn_mlir package.)
"""
import argparse
import ast
import json
import os

import torch

import attn_mlir.torch as at
from timing import time_ms


def old_classifier(path):
    tree = ast.parse(open(path).read())
    keep = [n for n in tree.body if isinstance(n, ast.FunctionDef)
            and n.name in ("_causal", "_classify_mask")]
    ns = {"torch": torch, "Unsupported": at.Unsupported}
    exec(compile(ast.Module(body=keep, type_ignores=[]), path, "exec"), ns)
    return ns["_classify_mask"]


def masks(b, h, l):
    dev, low = "cuda", torch.finfo(torch.bfloat16).min
    causal = torch.ones(l, l, dtype=torch.bool, device=dev).tril()
    pad = causal.expand(b, 1, l, l).clone()
    pad[0, :, :, : l // 8] = False  # left padding of one sequence
    pad[0, :, : l // 8, 0] = True
    return {
        "hf causal [B,1,L,L] bf16 min": torch.zeros(b, 1, l, l, dtype=torch.bfloat16,
                                                    device=dev).masked_fill(~causal, low),
        "hf padded [B,1,L,L] bf16 min": torch.zeros(b, 1, l, l, dtype=torch.bfloat16,
                                                    device=dev).masked_fill(~pad, low),
        "bool causal [B,1,L,L]": causal.expand(b, 1, l, l).clone(),
        "bias [B,H,L,L] bf16": torch.randn(b, h, l, l, dtype=torch.bfloat16, device=dev),
    }


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("old")
    ap.add_argument("--out", default=os.environ.get("OUT", "."))
    args = ap.parse_args()
    old = old_classifier(args.old)
    b, h, l = 4, 32, 2048
    rows, ok = [], True
    print(f"device: {torch.cuda.get_device_name()}  B={b} Hq={h} L={l}")
    for name, m in masks(b, h, l).items():
        ko, kn = old(m, (b, h), l, l)[0], at._classify_mask(m, (b, h), l, l)[0]
        same = ko == kn
        ok &= same
        # The new classifier's first call (no memo) and its memo hit.
        at._mask_kinds.clear()
        t_first = time_ms(lambda: (at._mask_kinds.clear(),
                                   at._classify_mask(m, (b, h), l, l)), 20)
        t_memo = time_ms(lambda: at._classify_mask(m, (b, h), l, l), 20)
        t_old = time_ms(lambda: old(m, (b, h), l, l), 20)
        row = {"mask": name, "kind_old": ko, "kind_new": kn, "same": same,
               "old_ms": t_old, "new_ms": t_first, "new_memo_ms": t_memo}
        rows.append(row)
        print(f"{name:32s} {ko:20s} {kn:20s} old {t_old:8.3f} ms  new {t_first:8.3f} ms"
              f"  memo {t_memo:8.4f} ms  {'same' if same else 'DIFFERENT'}")
    with open(os.path.join(args.out, "mask_classify_ab.json"), "w") as f:
        json.dump({"device": torch.cuda.get_device_name(), "rows": rows}, f, indent=1)
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
