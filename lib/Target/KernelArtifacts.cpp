//===- KernelArtifacts.cpp - PTX and manifest out of a lowered module -----===//
//
// Part of attn-mlir.
//
//===----------------------------------------------------------------------===//

#include "attn/Target/KernelArtifacts.h"

#include "attn/Dialect/Attn/IR/AttnOps.h"
#include "attn/Dialect/Attn/IR/KernelInfo.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "llvm/Support/raw_ostream.h"

using namespace mlir;
using namespace mlir::attn;
namespace rt = ::attn::runtime;

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

/// The manifest dtype of `t`, or "" for a type the runtime cannot size.
static std::string dtypeName(Type t) {
  std::string s;
  if (t.isBF16())
    s = "bf16";
  else if (t.isF16())
    s = "f16";
  else if (t.isF32())
    s = "f32";
  else if (t.isF64())
    s = "f64";
  else if (t.isSignlessInteger())
    s = "i" + std::to_string(t.getIntOrFloatBitWidth());
  return rt::dtypeSize(s) > 0 ? s : std::string();
}

static rt::ArgumentRole toRuntime(ArgumentRole role) {
  switch (role) {
  case ArgumentRole::Input:
    return rt::ArgumentRole::Input;
  case ArgumentRole::Output:
    return rt::ArgumentRole::Output;
  case ArgumentRole::InOut:
    return rt::ArgumentRole::InOut;
  case ArgumentRole::Workspace:
  case ArgumentRole::Scratch: // a workspace that is not zero-filled
    return rt::ArgumentRole::Workspace;
  case ArgumentRole::Length:
    return rt::ArgumentRole::Length;
  case ArgumentRole::TensorMap:
    return rt::ArgumentRole::TensorMap;
  }
  llvm_unreachable("unknown argument role");
}

/// The attention fields of the manifest, from the kernel info.
static FailureOr<rt::AttentionInfo> attentionInfo(gpu::LaunchFuncOp launch,
                                                  KernelInfoAttr info) {
  rt::AttentionInfo a;
  a.mask = stringifyMaskKind(info.getMask()).str();
  a.scale = info.getScale().getValueAsDouble();
  if (FloatAttr softcap = info.getSoftcap())
    a.softcap = softcap.getValueAsDouble();
  if (DenseI64ArrayAttr window = info.getWindow())
    a.window = std::array<int64_t, 2>{window[0], window[1]};
  a.layout = stringifyLayout(info.getLayout()).str();
  std::string *dtypes[] = {&a.queryDtype, &a.keyDtype, &a.valueDtype,
                           &a.outputDtype};
  Type types[] = {info.getQueryType(), info.getKeyType(), info.getValueType(),
                  info.getOutputType()};
  for (int i = 0; i < 4; ++i) {
    *dtypes[i] = dtypeName(types[i]);
    if (dtypes[i]->empty())
      return launch.emitError("expected attention element types the "
                              "manifest can name, got ")
             << types[i];
  }
  a.batch = info.getBatch();
  a.headsQ = info.getHeadsQ();
  a.headsKV = info.getHeadsKv();
  a.seqQ = info.getSeqQ();
  a.seqK = info.getSeqK();
  a.headDim = info.getHeadDim();
  a.valueHeadDim = info.getValueHeadDim();
  a.lse = info.getLse().getValue();
  a.keyLengths = info.getKeyLengths().getValue();
  a.alibi = info.getAlibi().getValue();
  a.scoreMod = info.getScoreMod().getValue();
  a.kvView = info.getKvView().str();
  return a;
}

/// The manifest of one launch.
static FailureOr<KernelManifest> manifestOf(gpu::LaunchFuncOp launch,
                                            StringRef chip) {
  auto info =
      launch->getAttrOfType<KernelInfoAttr>(KernelInfoAttr::getAttributeName());
  if (!info)
    return launch.emitError("expected an ")
           << KernelInfoAttr::getAttributeName()
           << " attribute on the launch (convert-attn-to-nvvm writes it)";
  KernelManifest m;
  m.symbol = launch.getKernelName().str();
  m.chip = chip.str();
  m.family = info.getFamily().str();
  m.gridFormula = info.getGridFormula().str();
  gpu::KernelDim3 grid = launch.getGridSizeOperandValues();
  gpu::KernelDim3 block = launch.getBlockSizeOperandValues();
  Value dims[6] = {grid.x, grid.y, grid.z, block.x, block.y, block.z};
  // A kernel over runtime lengths computes its grid at launch (grid 0:
  // from the formula).
  auto dimSymbols = launch->getAttrOfType<ArrayAttr>(kDimSymbolsAttrName);
  for (int i = 0; i < 6; ++i) {
    std::optional<int64_t> c = constantIndex(dims[i]);
    if (!c && !(i < 3 && dimSymbols))
      return launch.emitError("expected constant launch dimensions");
    (i < 3 ? m.grid[i] : m.block[i - 3]) = c.value_or(0);
  }
  m.sharedMemoryBytes = info.getSharedMemoryBytes();
  if (Value smem = launch.getDynamicSharedMemorySize())
    if (constantIndex(smem) != m.sharedMemoryBytes)
      return launch.emitError("expected the launch's dynamic shared memory "
                              "to be the kernel info's ")
             << m.sharedMemoryBytes << " bytes";
  m.tuning = {info.getBlockM(),    info.getBlockN(),      info.getNumWarps(),
              info.getNumSplits(), info.getKeysPerWarp(), info.getStages()};

  auto operands = launch.getKernelOperands();
  ArrayAttr described = info.getArguments();
  if (described.size() != operands.size())
    return launch.emitError("expected one kernel_info argument per kernel "
                            "operand (")
           << operands.size() << "), found " << described.size();
  if (dimSymbols && dimSymbols.size() != operands.size())
    return launch.emitError("expected one ")
           << kDimSymbolsAttrName << " entry per kernel operand";
  for (auto [i, operand, attr] : llvm::enumerate(operands, described)) {
    auto entry = cast<KernelArgumentAttr>(attr);
    if (entry.getRole() == ArgumentRole::Length) {
      KernelArgument arg;
      arg.name = entry.getName().str();
      arg.role = rt::ArgumentRole::Length;
      arg.dtype = "i32";
      arg.alignment = 4;
      if (!operand.getType().isInteger(32))
        return launch.emitError("expected an i32 for length argument '")
               << arg.name << "', got " << operand.getType();
      m.arguments.push_back(std::move(arg));
      continue;
    }
    // A dynamic memref is passed as a static stand-in reinterpreted from
    // it: the manifest states the dynamic shape.
    if (auto standIn = operand.getDefiningOp<memref::ReinterpretCastOp>();
        standIn && dimSymbols)
      operand = standIn.getSource();
    auto type = dyn_cast<MemRefType>(operand.getType());
    if (!type || (!type.hasStaticShape() && !dimSymbols))
      return launch.emitError("expected a statically shaped memref for "
                              "kernel argument '")
             << entry.getName() << "', got " << operand.getType();
    KernelArgument arg;
    arg.name = entry.getName().str();
    arg.role = toRuntime(entry.getRole());
    // The kernel expects its workspaces (counters) zeroed and leaves them
    // so; scratch is written before it is read.
    arg.zeroInit = entry.getRole() == ArgumentRole::Workspace;
    arg.alignment = 16;
    arg.dtype = dtypeName(type.getElementType());
    if (arg.dtype.empty())
      return launch.emitError("expected an element type the runtime can "
                              "size for kernel argument '")
             << arg.name << "', got " << type.getElementType();
    for (int64_t extent : type.getShape())
      arg.shape.push_back(ShapedType::isDynamic(extent) ? -1 : extent);
    if (!type.hasStaticShape())
      for (Attribute symbol : cast<ArrayAttr>(dimSymbols[i]))
        arg.dimSymbols.push_back(cast<StringAttr>(symbol).str());
    // A strided memref (Q, K, V or O read as torch's x.transpose(1, 2)):
    // the runtime checks a launch's tensors against these strides.
    if (!type.getLayout().isIdentity()) {
      SmallVector<int64_t> strides;
      int64_t offset = 0;
      if (failed(type.getStridesAndOffset(strides, offset)) || offset != 0 ||
          llvm::any_of(strides, ShapedType::isDynamic))
        return launch.emitError("expected static strides and a zero offset "
                                "for kernel argument '")
               << arg.name << "', got " << type;
      arg.strides.assign(strides.begin(), strides.end());
    }
    // A tensor map is passed by value (a 64-byte aligned 128-byte param):
    // the runtime builds it from its source's tensor.
    if (TensorMapAttr map = entry.getTensorMap()) {
      arg.alignment = 64;
      arg.tensorMap = rt::TensorMapSpec{
          map.getSource().str(),
          std::vector<int64_t>(map.getBox().begin(), map.getBox().end()),
          map.getSwizzle()};
    }
    m.arguments.push_back(std::move(arg));
  }
  FailureOr<rt::AttentionInfo> attention = attentionInfo(launch, info);
  if (failed(attention))
    return failure();
  m.attention = *attention;

  // What we write, the runtime must read back: one schema, checked here
  // rather than at a user's first launch.
  rt::Manifest reread;
  if (rt::Status s = rt::parseManifest(m.toJson(), reread); !s)
    return launch.emitError("expected a manifest the runtime accepts: ")
           << s.message;
  return m;
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
  return manifestOf(launch, chip);
}

FailureOr<std::vector<KernelManifest>>
mlir::attn::extractManifests(ModuleOp module, StringRef chip) {
  std::vector<KernelManifest> manifests;
  bool ok = true;
  module.walk([&](gpu::LaunchFuncOp launch) {
    FailureOr<KernelManifest> m = manifestOf(launch, chip);
    if (failed(m))
      ok = false;
    else
      manifests.push_back(std::move(*m));
  });
  if (!ok)
    return failure();
  if (manifests.empty())
    return module.emitError("expected a gpu.launch_func (run "
                            "convert-attn-to-nvvm first)");
  return manifests;
}
