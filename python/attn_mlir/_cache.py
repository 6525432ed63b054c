"""The compiled-kernel cache: in memory per process, on disk across them.

A kernel is keyed by what it was compiled from (the spec's fields or the
MLIR text and entry), the target, the target's options and the package
version, so a shape seen before is never compiled again. GPU kernels are
stored on disk (the PTX, the manifest and the cubins: what the runtime
loads), which is also how a machine without the compiler gets its kernels:
a prepare step fills a cache directory, the device reads it. CPU kernels
are JIT code in this process and are cached in memory only.

The directory is $ATTN_MLIR_CACHE_DIR, else ~/.cache/attn_mlir.
"""

import hashlib
import json
import os
import tempfile
import threading


def cache_dir():
    return os.environ.get("ATTN_MLIR_CACHE_DIR") or os.path.join(
        os.path.expanduser("~"), ".cache", "attn_mlir")


def make_key(description):
    """A stable key for a JSON-serializable description."""
    text = json.dumps(description, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


class Stats:
    """What the cache did: compiles, memory hits, disk hits."""

    def __init__(self):
        self.compiles = 0
        self.memory_hits = 0
        self.disk_hits = 0

    def as_dict(self):
        return {"compiles": self.compiles, "memory_hits": self.memory_hits,
                "disk_hits": self.disk_hits}


class KernelCache:
    def __init__(self):
        self.memory = {}
        self.lock = threading.RLock()
        self.stats = Stats()

    def entry_dir(self, key, root=None):
        return os.path.join(root or cache_dir(), key[:2], key)

    def load_ptx(self, key, root=None):
        """(ptx, manifest, cubins, description) from disk, or None."""
        d = self.entry_dir(key, root)
        try:
            with open(os.path.join(d, "kernel.ptx")) as f:
                ptx = f.read()
            with open(os.path.join(d, "manifest.json")) as f:
                manifest = f.read()
            # Later launches of a multi-kernel program: manifest.1.json, ...
            more = []
            while os.path.exists(os.path.join(d, f"manifest.{len(more) + 1}.json")):
                with open(os.path.join(d, f"manifest.{len(more) + 1}.json")) as f:
                    more.append(f.read())
            if more:
                manifest = [manifest] + more
            with open(os.path.join(d, "description.json")) as f:
                description = json.load(f)
        except OSError:
            return None
        cubins = {}
        for name in os.listdir(d):
            if name.endswith(".cubin"):
                with open(os.path.join(d, name), "rb") as f:
                    cubins[name[:-len(".cubin")]] = f.read()
        return ptx, manifest, cubins, description

    def store_ptx(self, key, ptx, manifest, cubins, description, root=None):
        """Writes the entry to a temporary directory and renames it into
        place, so a concurrent reader sees all of it or none."""
        final = self.entry_dir(key, root)
        if os.path.isdir(final):
            return final
        parent = os.path.dirname(final)
        os.makedirs(parent, exist_ok=True)
        tmp = tempfile.mkdtemp(dir=parent, prefix=".tmp-")
        with open(os.path.join(tmp, "kernel.ptx"), "w") as f:
            f.write(ptx)
        manifests = manifest if isinstance(manifest, list) else [manifest]
        for i, text in enumerate(manifests):
            name = "manifest.json" if i == 0 else f"manifest.{i}.json"
            with open(os.path.join(tmp, name), "w") as f:
                f.write(text)
        for arch, data in cubins.items():
            with open(os.path.join(tmp, f"{arch}.cubin"), "wb") as f:
                f.write(data)
        with open(os.path.join(tmp, "description.json"), "w") as f:
            json.dump(description, f, indent=1, sort_keys=True)
        try:
            os.rename(tmp, final)
        except OSError:  # another process stored it first
            for name in os.listdir(tmp):
                os.remove(os.path.join(tmp, name))
            os.rmdir(tmp)
        return final


CACHE = KernelCache()
