"""Where the package finds its shared libraries.

Searched in order: $ATTN_MLIR_LIB_DIR; the installed layout
(<prefix>/lib/python/attn_mlir -> <prefix>/lib); the build tree
(build/python/attn_mlir -> build/lib).
"""

import os

_HERE = os.path.dirname(os.path.abspath(__file__))


def library_dirs():
    dirs = []
    if os.environ.get("ATTN_MLIR_LIB_DIR"):
        dirs.append(os.environ["ATTN_MLIR_LIB_DIR"])
    dirs.append(os.path.normpath(os.path.join(_HERE, "..", "..")))
    dirs.append(os.path.normpath(os.path.join(_HERE, "..", "..", "lib")))
    return dirs


def find_library(name):
    """Path of lib<name>.so; raises with every place looked at if absent."""
    tried = []
    for d in library_dirs():
        path = os.path.join(d, f"lib{name}.so")
        if os.path.exists(path):
            return path
        tried.append(path)
    raise OSError(f"attn_mlir: lib{name}.so not found (looked at "
                  f"{', '.join(tried)}; set ATTN_MLIR_LIB_DIR)")
