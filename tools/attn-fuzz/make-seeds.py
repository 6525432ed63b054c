#!/usr/bin/env python3
"""Writes attn-fuzz's seed corpus: every test/**/*.mlir split at `// -----`,
plus the past findings in tools/attn-fuzz/regressions/.

Each piece is written as is (attn-fuzz then runs its default pipelines) and,
for every attn-opt RUN line of its file that names attn passes, once more
behind a `// pipeline: builtin.module(...)` line with that RUN line's passes
and options, so the fuzzer mutates pass options too.

usage: make-seeds.py <repo root> <output directory>
"""
import hashlib
import pathlib
import re
import shlex
import sys

OWN = re.compile(r"^(attn-[a-z0-9-]+|convert-attn-to-[a-z0-9-]+|canonicalize)$")


def pipelines(text):
    """attn pass pipelines of a file's attn-opt RUN lines."""
    result = []
    for line in text.splitlines():
        m = re.match(r"\s*// RUN:(.*)", line)
        if not m or "attn-opt" not in m.group(1):
            continue
        command = m.group(1).split("|")[0]
        try:
            words = shlex.split(command)
        except ValueError:
            continue
        passes = []
        for word in words:
            m = re.match(r"-{1,2}([a-z0-9-]+)(?:=(.*))?$", word)
            if not m or not OWN.match(m.group(1)):
                continue
            name, options = m.group(1), m.group(2)
            passes.append(f"{name}{{{options}}}" if options else name)
        if passes:
            result.append("builtin.module(" + ",".join(passes) + ")")
    return sorted(set(result))


def main():
    root, out = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
    out.mkdir(parents=True, exist_ok=True)
    count = 0
    for path in sorted((root / "test").rglob("*.mlir")):
        text = path.read_text()
        heads = [""] + [f"// pipeline: {p}\n" for p in pipelines(text)]
        for piece in re.split(r"^// -----\s*$", text, flags=re.M):
            # RUN/CHECK lines are comments to the parser; keep the IR only.
            body = "\n".join(l for l in piece.splitlines()
                             if not re.match(r"\s*// (RUN|CHECK|[A-Z0-9]+(-[A-Z]+)?):", l))
            if "func.func" not in body and "module" not in body:
                continue
            for head in heads:
                data = (head + body.strip() + "\n").encode()
                name = hashlib.sha1(data).hexdigest()
                (out / name).write_bytes(data)
                count += 1
    # Inputs that once crashed the harness or a tool stay in the corpus.
    for path in sorted((root / "tools" / "attn-fuzz" / "regressions").glob("*")):
        (out / ("regression-" + path.name)).write_bytes(path.read_bytes())
        count += 1
    print(f"{count} seeds in {out}")


if __name__ == "__main__":
    main()
