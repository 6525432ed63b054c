# -*- Python -*-
# lit configuration of the attn-mlir IR tests.

import os

import lit.formats
from lit.llvm import llvm_config
from lit.llvm.subst import ToolSubst

config.name = "ATTN"
config.test_format = lit.formats.ShTest(not llvm_config.use_lit_shell)
config.suffixes = [".mlir"]
config.test_source_root = os.path.dirname(__file__)
config.test_exec_root = os.path.join(config.attn_obj_root, "test")
config.excludes = ["CMakeLists.txt", "lit.cfg.py", "lit.site.cfg.py", "Unit",
                   "lib"]

config.substitutions.append(("%PATH%", config.environment["PATH"]))
llvm_config.with_system_environment(["HOME", "INCLUDE", "LIB", "TMP", "TEMP"])
llvm_config.use_default_substitutions()

tool_dirs = [config.attn_tools_dir, config.llvm_tools_dir]
tools = ["attn-opt", "attn-compile", "attn-translate", "attn-run", "not", "count"]
llvm_config.add_tool_substitutions(
    [ToolSubst(t, unresolved="ignore") for t in tools], tool_dirs)

# The test_kv dialect plugin (test/lib/Dialect/TestKV): a host compiler's
# cache layout loaded into attn-opt with --load-dialect-plugin.
config.substitutions.append(
    ("%test_kv_plugin",
     os.path.join(config.attn_obj_root, "lib", "TestKVPlugin.so")))

# Test-only passes printing analysis results (test/lib/Analysis), loaded
# into attn-opt with --load-pass-plugin.
config.substitutions.append(
    ("%test_analysis_plugin",
     os.path.join(config.attn_obj_root, "lib", "TestAnalysisPlugin.so")))

# ptxas (CUDA toolkit) assembles generated PTX where it is installed; tests
# that need it say `REQUIRES: ptxas` and are reported unsupported elsewhere.
for cuda_home in (os.environ.get("CUDA_HOME", ""), "/usr/local/cuda"):
    ptxas = os.path.join(cuda_home, "bin", "ptxas")
    if cuda_home and os.access(ptxas, os.X_OK):
        config.available_features.add("ptxas")
        config.substitutions.append(("%ptxas", ptxas))
        # The NVVM target links libdevice from CUDA_HOME.
        config.substitutions.append(("%cuda_home", cuda_home))
        break
