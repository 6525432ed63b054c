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
  // i8, i32, i64 (key lengths, block tables, counters) print as themselves;
  // the runtime knows their sizes.
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
  ArrayAttr described; // the lowering's {name, role} per operand, if any
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
    described = info.getAs<ArrayAttr>("arguments");
  }
  // Names and roles: from the lowering's `arguments` list when it wrote one,
  // else the positional q, k, v, o, lse of the original kernel.
  auto operands = launch.getKernelOperands();
  if (described && described.size() != operands.size())
    return launch.emitError("expected one 'arguments' entry per kernel "
                            "operand (")
           << operands.size() << "), found " << described.size();
  static const char *names[] = {"q", "k", "v", "o", "lse"};
  for (auto [i, operand] : llvm::enumerate(operands)) {
    auto type = dyn_cast<MemRefType>(operand.getType());
    if (!type)
      return launch.emitError("expected memref kernel arguments");
    KernelArgument arg;
    if (described) {
      auto entry = dyn_cast<DictionaryAttr>(described[i]);
      auto name = entry ? entry.getAs<StringAttr>("name") : StringAttr();
      auto role = entry ? entry.getAs<StringAttr>("role") : StringAttr();
      if (!name || !role)
        return launch.emitError("expected 'arguments' entry ")
               << i << " to be a dictionary with string 'name' and 'role'";
      StringRef r = role.getValue();
      if (r != "input" && r != "output" && r != "inout" && r != "workspace")
        return launch.emitError("expected the role of argument '")
               << name.getValue()
               << "' to be input, output, inout or workspace, got '"
               << role.getValue() << "'";
      arg.name = name.str();
      arg.role = role.str();
    } else {
      arg.name = i < 5 ? names[i] : "arg" + std::to_string(i);
      arg.role = i >= 3 ? "output" : "input";
    }
    arg.isOutput = arg.role == "output" || arg.role == "inout";
    // The runtime allocates workspaces from the manifest shape.
    if (arg.isWorkspace() && !type.hasStaticShape())
      return launch.emitError("expected a static shape for workspace '")
             << arg.name << "', got " << type;
    arg.dtype = dtypeName(type.getElementType());
    arg.shape.assign(type.getShape().begin(), type.getShape().end());
    m.arguments.push_back(arg);
  }
  return m;
}

std::string KernelManifest::toJson() const {
  namespace json = llvm::json;
  json::Array args;
  for (const KernelArgument &a : arguments) {
    json::Object arg{{"name", a.name},
                     {"dtype", a.dtype},
                     {"shape", json::Array(a.shape)},
                     {"role", a.role},
                     {"output", a.isOutput},
                     {"alignment", 16}};
    // The kernel expects its workspaces (counters) zeroed and leaves them so.
    if (a.isWorkspace())
      arg["zero_init"] = true;
    args.push_back(std::move(arg));
  }
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
