//===- KernelArtifacts.cpp - PTX and manifest out of a lowered module -----===//
//
// Part of attn-mlir.
//
//===----------------------------------------------------------------------===//

#include "attn/Target/KernelArtifacts.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/JSON.h"
#include "llvm/Support/raw_ostream.h"

using namespace mlir;
using namespace mlir::attn;

FailureOr<std::string> mlir::attn::extractPTX(ModuleOp module) {
  SmallVector<gpu::BinaryOp> binaries(module.getOps<gpu::BinaryOp>());
  if (binaries.size() != 1)
    return module.emitError("expected exactly one gpu.binary, found ")
           << binaries.size();
  for (Attribute attr : binaries.front().getObjectsAttr()) {
    auto object = dyn_cast<gpu::ObjectAttr>(attr);
    if (object && object.getFormat() == gpu::CompilationTarget::Assembly)
      return object.getObject().getValue().str();
  }
  return binaries.front().emitError(
      "expected an object in assembly (PTX) format; run gpu-module-to-binary "
      "with format=isa");
}

static std::optional<int64_t> constantIndex(Value v) {
  if (auto c = v.getDefiningOp<arith::ConstantIndexOp>())
    return c.value();
  if (auto c = v.getDefiningOp<arith::ConstantIntOp>())
    return c.value();
  return std::nullopt;
}

static std::string dtypeName(Type t) {
  if (t.isBF16())
    return "bf16";
  if (t.isF16())
    return "f16";
  if (t.isF32())
    return "f32";
  std::string s;
  llvm::raw_string_ostream os(s);
  os << t;
  return s;
}

FailureOr<KernelManifest> mlir::attn::extractManifest(ModuleOp module,
                                                      StringRef chip) {
  gpu::LaunchFuncOp launch;
  module.walk([&](gpu::LaunchFuncOp op) {
    if (!launch)
      launch = op;
  });
  if (!launch)
    return module.emitError("expected a gpu.launch_func (run "
                            "convert-attn-to-nvvm first)");
  KernelManifest m;
  m.symbol = launch.getKernelName().str();
  m.chip = chip.str();
  gpu::KernelDim3 grid = launch.getGridSizeOperandValues();
  gpu::KernelDim3 block = launch.getBlockSizeOperandValues();
  Value dims[6] = {grid.x, grid.y, grid.z, block.x, block.y, block.z};
  for (int i = 0; i < 6; ++i) {
    std::optional<int64_t> c = constantIndex(dims[i]);
    if (!c)
      return launch.emitError("expected constant launch dimensions");
    (i < 3 ? m.grid[i] : m.block[i - 3]) = *c;
  }
  if (Value smem = launch.getDynamicSharedMemorySize())
    m.sharedMemoryBytes = constantIndex(smem).value_or(0);
  if (auto info = launch->getAttrOfType<DictionaryAttr>("attn.launch")) {
    if (auto f = info.getAs<StringAttr>("grid_formula"))
      m.gridFormula = f.str();
    auto get = [&](StringRef key) -> int64_t {
      auto a = info.getAs<IntegerAttr>(key);
      return a ? a.getInt() : 0;
    };
    m.blockM = get("block_m");
    m.blockN = get("block_n");
    m.numWarps = get("num_warps");
  }
  static const char *names[] = {"q", "k", "v", "o", "lse"};
  for (auto [i, operand] : llvm::enumerate(launch.getKernelOperands())) {
    auto type = dyn_cast<MemRefType>(operand.getType());
    if (!type)
      return launch.emitError("expected memref kernel arguments");
    KernelArgument arg;
    arg.name = i < 5 ? names[i] : "arg" + std::to_string(i);
    arg.dtype = dtypeName(type.getElementType());
    arg.shape.assign(type.getShape().begin(), type.getShape().end());
    arg.isOutput = i >= 3;
    m.arguments.push_back(arg);
  }
  return m;
}

std::string KernelManifest::toJson() const {
  namespace json = llvm::json;
  json::Array args;
  for (const KernelArgument &a : arguments)
    args.push_back(json::Object{{"name", a.name},
                                {"dtype", a.dtype},
                                {"shape", json::Array(a.shape)},
                                {"output", a.isOutput},
                                {"alignment", 16}});
  json::Object root{
      {"kernel", symbol},
      {"chip", chip},
      {"grid", json::Array(grid)},
      {"grid_formula", gridFormula},
      {"block", json::Array(block)},
      {"shared_memory_bytes", sharedMemoryBytes},
      {"block_m", blockM},
      {"block_n", blockN},
      {"num_warps", numWarps},
      {"abi", "one pointer per argument, in order (bare-pointer memrefs)"},
      {"arguments", std::move(args)},
  };
  std::string s;
  llvm::raw_string_ostream os(s);
  os << llvm::formatv("{0:2}", json::Value(std::move(root)));
  return s;
}
