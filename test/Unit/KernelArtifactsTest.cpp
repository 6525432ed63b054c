//===- KernelArtifactsTest.cpp - lib/Target: the kernel manifest ----------===//
//
// Part of attn-mlir. extractManifest on hand-written launches carrying a
// #attn.kernel_info: the JSON it writes is the runtime's ABI, so these
// compare entries exactly and read the result back with the runtime's own
// parser (the one struct both sides share). Malformed launches are errors
// at the launch, including manifests the runtime would refuse.
//
//===----------------------------------------------------------------------===//

#include "attn/Target/KernelArtifacts.h"

#include "attn/Dialect/Attn/IR/AttnDialect.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/Parser/Parser.h"

#include <gtest/gtest.h>

#include <string>

using namespace mlir;
using namespace mlir::attn;
namespace rt = ::attn::runtime;

namespace {

class KernelManifestTest : public ::testing::Test {
protected:
  KernelManifestTest() {
    ctx.loadDialect<arith::ArithDialect, func::FuncDialect, gpu::GPUDialect,
                    AttnDialect>();
  }

  /// A module with one kernel taking `types` and one launch of it over
  /// (4, gridY, 1) x 128 threads with 1024 bytes of shared memory, carrying
  /// #attn.kernel_info<`info`> ("" for none).
  OwningOpRef<ModuleOp> parse(const std::vector<std::string> &types,
                              const std::string &info, int64_t gridY = 1) {
    std::string params, args;
    for (size_t i = 0; i < types.size(); ++i) {
      std::string v = "%a" + std::to_string(i);
      params += (i ? ", " : "") + v + ": " + types[i];
      args += (i ? ", " : "") + v + " : " + types[i];
    }
    std::string text =
        "module attributes {gpu.container_module} {\n"
        "  gpu.module @kernels {\n"
        "    gpu.func @attention_kernel(" + params + ") kernel {\n"
        "      gpu.return\n"
        "    }\n"
        "  }\n"
        "  func.func @host(" + params + ") {\n"
        "    %c1 = arith.constant 1 : index\n"
        "    %c4 = arith.constant 4 : index\n"
        "    %cy = arith.constant " + std::to_string(gridY) + " : index\n"
        "    %c128 = arith.constant 128 : index\n"
        "    %smem = arith.constant 1024 : i32\n"
        "    gpu.launch_func @kernels::@attention_kernel blocks in (%c4, %cy, "
        "%c1) threads in (%c128, %c1, %c1) dynamic_shared_memory_size %smem "
        "args(" + args + ")" +
        (info.empty() ? ""
                      : " {attn.kernel_info = #attn.kernel_info<" + info + ">}") +
        "\n    return\n"
        "  }\n"
        "}\n";
    return parseSourceString<ModuleOp>(text, &ctx);
  }

  /// extractManifest's JSON, or "error: <first diagnostic>".
  std::string manifestJson(ModuleOp module) {
    std::string message;
    ScopedDiagnosticHandler handler(&ctx, [&](Diagnostic &diag) {
      if (message.empty())
        message = "error: " + diag.str();
      return success();
    });
    FailureOr<KernelManifest> m = extractManifest(module, "sm_80");
    return succeeded(m) ? m->toJson() : message;
  }

  MLIRContext ctx;
};

/// Kernel info of a split-KV decode over a paged cache, with `arguments`.
std::string decodeInfo(const std::string &arguments) {
  return "family = \"decode\", grid_formula = \"[num_splits, B * Hkv, 1]\", "
         "shared_memory_bytes = 1024, num_warps = 4, num_splits = 4, "
         "keys_per_warp = 16, stages = 2, arguments = [" + arguments + "], "
         "mask = sliding_window, scale = 1.250000e-01 : f64, "
         "softcap = 3.000000e+01 : f64, window = [100, 0], "
         "layout = bhsd, query_type = bf16, key_type = bf16, "
         "value_type = bf16, output_type = bf16, batch = 1, heads_q = 2, "
         "heads_kv = 1, seq_q = 1, seq_k = 128, head_dim = 64, "
         "value_head_dim = 64, lse = false, key_lengths = true, alibi = false, "
         "score_mod = false, kv_view = \"attn.paged_view\"";
}

const char *kDecodeArguments =
    "#attn.kernel_arg<\"q\", input>, #attn.kernel_arg<\"k_pages\", input>, "
    "#attn.kernel_arg<\"v_pages\", input>, "
    "#attn.kernel_arg<\"block_table\", input>, "
    "#attn.kernel_arg<\"key_lengths\", input>, #attn.kernel_arg<\"o\", output>, "
    "#attn.kernel_arg<\"partial_o\", workspace>, "
    "#attn.kernel_arg<\"partial_lse\", workspace>, "
    "#attn.kernel_arg<\"counters\", workspace>";

const std::vector<std::string> kDecodeTypes = {
    "memref<1x2x1x64xbf16>", "memref<8x16x1x64xbf16>",
    "memref<8x16x1x64xbf16>", "memref<1x8xi32>",
    "memref<1xi32>",         "memref<1x2x1x64xbf16>",
    "memref<4x1x2x1x64xf32>", "memref<4x1x2x1xf32>",
    "memref<2xi32>"};

} // namespace

// Names, roles and shapes per operand; workspaces are zero_init; i32
// operands get dtype "i32"; the launch geometry and tile parameters.
TEST_F(KernelManifestTest, ArgumentsRolesAndWorkspaces) {
  auto module = parse(kDecodeTypes, decodeInfo(kDecodeArguments));
  ASSERT_TRUE(module);
  std::string json = manifestJson(*module);
  for (const char *entry :
       {R"("schema_version": [1, 2])", R"("kernel": "attention_kernel")",
        R"("family": "decode")", R"("chip": "sm_80")", R"("grid": [4, 1, 1])",
        R"("block": [128, 1, 1])", R"("shared_memory_bytes": 1024)",
        R"("tuning": {"num_warps": 4, "num_splits": 4, "keys_per_warp": 16, "stages": 2})",
        R"({"name": "counters", "role": "workspace", "dtype": "i32", "shape": [2], "alignment": 16, "output": false, "zero_init": true})",
        R"({"name": "key_lengths", "role": "input", "dtype": "i32", "shape": [1], "alignment": 16, "output": false})",
        R"({"name": "o", "role": "output", "dtype": "bf16", "shape": [1, 2, 1, 64], "alignment": 16, "output": true})"})
    EXPECT_NE(json.find(entry), std::string::npos) << entry << "\nin " << json;
  size_t count = 0;
  for (size_t at = json.find("zero_init"); at != std::string::npos;
       at = json.find("zero_init", at + 1))
    ++count;
  EXPECT_EQ(count, 3u) << json;

  // The runtime reads back exactly what the compiler meant.
  rt::Manifest m;
  rt::Status s = rt::parseManifest(json, m);
  ASSERT_TRUE(s.ok) << s.message;
  ASSERT_EQ(m.arguments.size(), 9u);
  EXPECT_EQ(m.arguments[6].role, rt::ArgumentRole::Workspace);
  EXPECT_EQ(m.arguments[5].role, rt::ArgumentRole::Output);
  EXPECT_EQ(m.tuning.keysPerWarp, 16);
}

// The attention the kernel computes, for a host to check against its call.
TEST_F(KernelManifestTest, RecordsTheAttention) {
  auto module = parse(kDecodeTypes, decodeInfo(kDecodeArguments));
  ASSERT_TRUE(module);
  FailureOr<KernelManifest> m = extractManifest(*module, "sm_90");
  ASSERT_TRUE(succeeded(m));
  ASSERT_TRUE(m->attention.has_value());
  const rt::AttentionInfo &a = *m->attention;
  EXPECT_EQ(a.mask, "sliding_window");
  EXPECT_EQ(a.scale, 0.125);
  EXPECT_EQ(a.softcap, 30.0);
  ASSERT_TRUE(a.window.has_value());
  EXPECT_EQ((*a.window)[0], 100);
  EXPECT_EQ(a.layout, "bhsd");
  EXPECT_EQ(a.queryDtype, "bf16");
  EXPECT_EQ(a.headsQ, 2);
  EXPECT_EQ(a.headsKV, 1);
  EXPECT_EQ(a.seqK, 128);
  EXPECT_TRUE(a.keyLengths);
  EXPECT_FALSE(a.lse);
  EXPECT_EQ(a.kvView, "attn.paged_view");
  std::string json = m->toJson();
  EXPECT_NE(json.find(R"("dtypes": {"query": "bf16", "key": "bf16", "value": "bf16", "output": "bf16"})"),
            std::string::npos)
      << json;
  EXPECT_NE(json.find(R"("window": [100, 0])"), std::string::npos) << json;
}

TEST_F(KernelManifestTest, RejectsMalformedLaunches) {
  auto module = parse({"memref<4xf32>"}, "");
  ASSERT_TRUE(module);
  EXPECT_EQ(manifestJson(*module),
            "error: expected an attn.kernel_info attribute on the launch "
            "(convert-attn-to-nvvm writes it)");

  module = parse({"memref<4xf32>", "memref<4xf32>"},
                 decodeInfo("#attn.kernel_arg<\"q\", input>"));
  ASSERT_TRUE(module);
  EXPECT_EQ(manifestJson(*module),
            "error: expected one kernel_info argument per kernel operand (2), "
            "found 1");

  module = parse({"memref<?xi32>"},
                 decodeInfo("#attn.kernel_arg<\"c\", workspace>"));
  ASSERT_TRUE(module);
  EXPECT_EQ(manifestJson(*module),
            "error: expected a statically shaped memref for kernel argument "
            "'c', got 'memref<?xi32>'");

  // i1 (a boolean mask, one byte per element) is sized; i4 is not.
  module = parse({"memref<4xi4>"}, decodeInfo("#attn.kernel_arg<\"m\", input>"));
  ASSERT_TRUE(module);
  EXPECT_EQ(manifestJson(*module),
            "error: expected an element type the runtime can size for kernel "
            "argument 'm', got 'i4'");

  // CUDA allows at most 65535 in grid.y: refused here, not at launch.
  module = parse({"memref<4xf32>"}, decodeInfo("#attn.kernel_arg<\"x\", input>"),
                 /*gridY=*/70000);
  ASSERT_TRUE(module);
  std::string error = manifestJson(*module);
  EXPECT_NE(error.find("expected a manifest the runtime accepts: manifest: "
                       "top level: expected 'grid'[1] in [0, 65535], got "
                       "70000"),
            std::string::npos)
      << error;
}

// The attribute's own verifier and parser refuse nonsense contracts.
TEST_F(KernelManifestTest, KernelInfoIsVerified) {
  std::string message;
  ScopedDiagnosticHandler handler(&ctx, [&](Diagnostic &diag) {
    if (message.empty())
      message = diag.str();
    return success();
  });
  std::string info = decodeInfo(kDecodeArguments);
  std::string bad = info;
  bad.replace(bad.find("heads_kv = 1"), 12, "heads_kv = 3");
  EXPECT_FALSE(parse(kDecodeTypes, bad));
  EXPECT_EQ(message, "expected heads_q (2) to be a multiple of heads_kv (3)");
  message.clear();
  bad = info;
  bad.replace(bad.find("family = \"decode\""), 17, "family = \"other\"");
  EXPECT_FALSE(parse(kDecodeTypes, bad));
  EXPECT_EQ(message, "expected family prefill, decode, hopper, backward, "
                     "hopper-backward or convert, got 'other'");
  message.clear();
  EXPECT_FALSE(parse({"memref<4xf32>"},
                     decodeInfo("#attn.kernel_arg<\"q\", temporary>")));
  EXPECT_NE(message.find("temporary"), std::string::npos) << message;
}
