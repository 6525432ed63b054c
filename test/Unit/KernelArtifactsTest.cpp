//===- KernelArtifactsTest.cpp - lib/Target: the kernel manifest ----------===//
//
// Part of attn-mlir. extractManifest on hand-written launches: the JSON that
// lib/Runtime parses is an ABI, so these compare it exactly. Launches without
// an `arguments` list keep the positional q, k, v, o, lse naming; with one,
// names and roles (input, output, workspace) come from it.
//
//===----------------------------------------------------------------------===//

#include "attn/Target/KernelArtifacts.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/Parser/Parser.h"

#include <gtest/gtest.h>

#include <string>

using namespace mlir;
using namespace mlir::attn;

namespace {

class KernelManifestTest : public ::testing::Test {
protected:
  KernelManifestTest() {
    ctx.loadDialect<arith::ArithDialect, func::FuncDialect,
                    gpu::GPUDialect>();
  }

  /// A module with one kernel taking `types` and one launch of it carrying
  /// `launchAttr` (the attn.launch dictionary, "" for none).
  OwningOpRef<ModuleOp> parse(const std::vector<std::string> &types,
                              const std::string &launchAttr) {
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
        "    %c128 = arith.constant 128 : index\n"
        "    %smem = arith.constant 1024 : i32\n"
        "    gpu.launch_func @kernels::@attention_kernel blocks in (%c4, %c1, "
        "%c1) threads in (%c128, %c1, %c1) dynamic_shared_memory_size %smem "
        "args(" + args + ")" +
        (launchAttr.empty() ? "" : " {attn.launch = " + launchAttr + "}") +
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

const char *kLaunchInfo = "{block_m = 64 : i64, block_n = 32 : i64, "
                          "num_warps = 4 : i64, shared_memory_bytes = 1024 : "
                          "i64, grid_formula = \"[ceil(Lq / block_m), B * Hq, "
                          "1]\"";

} // namespace

// Without `arguments`: the manifest of before (positional names, `output` by
// position) plus each argument's role.
TEST_F(KernelManifestTest, PositionalArgumentsKeepTheirFormat) {
  auto module = parse({"memref<1x2x256x64xbf16>", "memref<1x1x256x64xbf16>",
                       "memref<1x1x256x64xbf16>", "memref<1x2x256x64xbf16>",
                       "memref<1x2x256xf32>"},
                      std::string(kLaunchInfo) + "}");
  ASSERT_TRUE(module);
  std::string arg = R"(
    {
      "alignment": 16,
      "dtype": "{0}",
      "name": "{1}",
      "output": {2},
      "role": "{3}",
      "shape": [
        1,
        {4},
        256{5}
      ]
    })";
  auto fmt = [&](std::string dtype, std::string name, bool output,
                 std::string heads, bool withD) {
    std::string s = arg;
    auto sub = [&](std::string key, std::string value) {
      s.replace(s.find(key), key.size(), value);
    };
    sub("{0}", dtype);
    sub("{1}", name);
    sub("{2}", output ? "true" : "false");
    sub("{3}", output ? "output" : "input");
    sub("{4}", heads);
    sub("{5}", withD ? ",\n        64" : "");
    return s;
  };
  std::string expected = R"json({
  "abi": "one pointer per argument, in order (bare-pointer memrefs)",
  "arguments": [)json" + fmt("bf16", "q", false, "2", true) + "," +
                         fmt("bf16", "k", false, "1", true) + "," +
                         fmt("bf16", "v", false, "1", true) + "," +
                         fmt("bf16", "o", true, "2", true) + "," +
                         fmt("f32", "lse", true, "2", false) + R"(
  ],
  "block": [
    128,
    1,
    1
  ],
  "block_m": 64,
  "block_n": 32,
  "chip": "sm_80",
  "grid": [
    4,
    1,
    1
  ],
  "grid_formula": "[ceil(Lq / block_m), B * Hq, 1]",
  "kernel": "attention_kernel",
  "num_warps": 4,
  "shared_memory_bytes": 1024
})";
  EXPECT_EQ(manifestJson(*module), expected);
}

// With `arguments`: names and roles from the lowering; workspaces are marked
// zero_init; i32 operands get dtype "i32".
TEST_F(KernelManifestTest, ArgumentsListGivesNamesRolesAndWorkspaces) {
  auto module = parse(
      {"memref<1x2x1x64xbf16>", "memref<8x16x1x64xbf16>",
       "memref<8x16x1x64xbf16>", "memref<1x4xi32>", "memref<1xi32>",
       "memref<1x2x1x64xbf16>", "memref<4x1x2x1x64xf32>",
       "memref<4x1x2x1xf32>", "memref<2xi32>"},
      std::string(kLaunchInfo) +
          R"(, arguments = [
            {name = "q", role = "input"}, {name = "k_pages", role = "input"},
            {name = "v_pages", role = "input"},
            {name = "block_table", role = "input"},
            {name = "key_lengths", role = "input"},
            {name = "o", role = "output"},
            {name = "partial_o", role = "workspace"},
            {name = "partial_lse", role = "workspace"},
            {name = "counters", role = "workspace"}]})");
  ASSERT_TRUE(module);
  std::string json = manifestJson(*module);
  for (const char *name : {"q", "k_pages", "v_pages", "block_table",
                           "key_lengths", "o", "partial_o", "partial_lse",
                           "counters"})
    EXPECT_NE(json.find("\"name\": \"" + std::string(name) + "\""),
              std::string::npos)
        << name << " in " << json;
  // The exact entry of one workspace and one i32 input.
  EXPECT_NE(json.find(R"({
      "alignment": 16,
      "dtype": "i32",
      "name": "counters",
      "output": false,
      "role": "workspace",
      "shape": [
        2
      ],
      "zero_init": true
    })"),
            std::string::npos)
      << json;
  EXPECT_NE(json.find(R"({
      "alignment": 16,
      "dtype": "i32",
      "name": "key_lengths",
      "output": false,
      "role": "input",
      "shape": [
        1
      ]
    })"),
            std::string::npos)
      << json;
  EXPECT_NE(json.find(R"("name": "o",
      "output": true,
      "role": "output",)"),
            std::string::npos)
      << json;
  // zero_init only on the three workspaces.
  size_t count = 0;
  for (size_t at = json.find("zero_init"); at != std::string::npos;
       at = json.find("zero_init", at + 1))
    ++count;
  EXPECT_EQ(count, 3u) << json;
}

TEST_F(KernelManifestTest, RejectsMalformedArgumentsLists) {
  std::string info(kLaunchInfo);
  auto module = parse({"memref<4xf32>", "memref<4xf32>"},
                      info + R"(, arguments = [{name = "q", role = "input"}]})");
  ASSERT_TRUE(module);
  EXPECT_EQ(manifestJson(*module),
            "error: expected one 'arguments' entry per kernel operand (2), "
            "found 1");

  module = parse({"memref<4xf32>"},
                 info + R"(, arguments = [{name = "q", role = "scratch"}]})");
  ASSERT_TRUE(module);
  EXPECT_EQ(manifestJson(*module),
            "error: expected the role of argument 'q' to be input, output, "
            "inout or workspace, got 'scratch'");

  module = parse({"memref<4xf32>"}, info + R"(, arguments = [{name = "q"}]})");
  ASSERT_TRUE(module);
  EXPECT_EQ(manifestJson(*module),
            "error: expected 'arguments' entry 0 to be a dictionary with "
            "string 'name' and 'role'");

  module = parse({"memref<?xi32>"},
                 info + R"(, arguments = [{name = "c", role = "workspace"}]})");
  ASSERT_TRUE(module);
  EXPECT_EQ(manifestJson(*module),
            "error: expected a static shape for workspace 'c', got "
            "'memref<?xi32>'");
}
