//===- OptionChecks.cpp - up-front checks of the GPU lowering -------------===//
//
// Part of attn-mlir. What convert-attn-to-nvvm and the attn-to-ptx pipeline
// check before any kernel is planned or any LLVM backend runs: every option
// in its range, every problem small enough that the kernels' int64 index and
// byte arithmetic cannot overflow, every kernel symbol one PTX can name, and
// a chip the mma.sync kernels can target. The kernel emitters rely on these
// checks and do not repeat them.
//
//===----------------------------------------------------------------------===//

#include "attn/Conversion/AttnToNVVM/AttnToNVVM.h"
#include "attn/Dialect/Attn/IR/AttnOps.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/Interfaces/FunctionInterfaces.h"
#include "llvm/ADT/StringExtras.h"
#include "llvm/ADT/StringSwitch.h"
#include "llvm/Support/Error.h"
#include "llvm/Support/CheckedArithmetic.h"
#include "llvm/Support/MathExtras.h"

using namespace mlir;
using namespace mlir::attn;

namespace {
/// An integer option and the range the kernels are written for.
struct IntRange {
  StringRef name;
  int64_t value, min, max;
};
} // namespace

LogicalResult
mlir::attn::checkGpuLoweringOptions(const ConvertAttnToNVVMOptions &o,
                                    Operation *diagnosticAnchor) {
  // Bounds generous enough for any real GPU, tight enough that products of
  // two options and a tensor extent stay far from INT64_MAX. The kernels
  // check the exact values they support (e.g. block-n of 32, 64 or 128).
  const IntRange ranges[] = {
      {"block-m", o.blockM, 16, 256},
      {"block-n", o.blockN, 16, 256},
      {"num-warps", o.numWarps, 1, 32},
      // 0 chooses; the decode kernel clamps it to the key blocks.
      {"num-splits", o.numSplits, 0, 1024},
      {"num-sms", o.numSMs, 1, 1024},
      {"decode-num-warps", o.decodeNumWarps, 1, 32},
      {"decode-keys-per-warp", o.decodeKeysPerWarp, 1, 256},
      {"decode-stages", o.decodeStages, 1, 16},
  };
  for (const IntRange &r : ranges)
    if (r.value < r.min || r.value > r.max)
      return diagnosticAnchor->emitError()
             << "expected " << r.name << " in ["
             << r.min << ", " << r.max << "], got " << r.value;
  if (!llvm::is_contained({"refuse", "bf16", "f16"}, o.f32Compute))
    return diagnosticAnchor->emitError()
           << "expected f32-compute of refuse, bf16 or f16, got '"
           << o.f32Compute << "'";
  // The kernel name is checked where the family is chosen
  // (selectKernelFamily), the one list of families.
  return success();
}

/// Largest tensor the GPU path takes, in bytes. Below it, element offsets
/// times element sizes, tile counts times block sizes and workspace sizes
/// (bounded by the options' ranges) all fit int64.
static constexpr int64_t kMaxTensorBytes = int64_t(1) << 40;

/// Bytes of a statically shaped value, or nullopt when they overflow int64
/// (dynamic extents are left to the kernels' own checks).
static std::optional<int64_t> getStaticByteSize(ShapedType type) {
  // index has no bit width of its own (asking it for one crashes); the
  // kernels hold it as i64.
  Type element = type.getElementType();
  int64_t bytes =
      element.isIndex()
          ? 8
          : std::max<int64_t>(
                1, llvm::divideCeil(element.getIntOrFloatBitWidth(), 8));
  for (int64_t extent : type.getShape()) {
    if (ShapedType::isDynamic(extent))
      continue;
    if (extent < 0)
      return std::nullopt;
    std::optional<int64_t> product = llvm::checkedMul(bytes, extent);
    if (!product)
      return std::nullopt;
    bytes = *product;
  }
  return bytes;
}

/// Checks one value the kernel reads or writes; `role` names it.
static LogicalResult checkOperandSize(AttentionOp op, Value value,
                                      StringRef role) {
  auto type = dyn_cast<ShapedType>(value.getType());
  if (!type || !type.hasRank() || !type.getElementType().isIntOrIndexOrFloat())
    return success();
  // Runtime lengths (dynamic dims) count as 1 here: the runtime checks the
  // whole size against the same limit at launch.
  ShapedType sized = type.clone(llvm::map_to_vector(
      type.getShape(),
      [](int64_t d) { return ShapedType::isDynamic(d) ? int64_t(1) : d; }));
  std::optional<int64_t> bytes = getStaticByteSize(sized);
  if (bytes && *bytes < kMaxTensorBytes)
    return success();
  return op.emitOpError() << "expected every GPU operand under 1 TiB (2^40 "
                             "bytes) so that kernel index math cannot "
                             "overflow, got "
                          << role << " of type " << type;
}

/// PTX identifiers: a letter, `_` or `$`, then letters, digits, `_` or `$`
/// (the NVPTX backend aborts on anything else).
static bool isPtxIdentifier(StringRef name) {
  auto isPtxChar = [](char c) {
    return llvm::isAlnum(c) || c == '_' || c == '$';
  };
  return !name.empty() && !llvm::isDigit(name.front()) &&
         llvm::all_of(name, isPtxChar);
}

static LogicalResult checkProblem(AttentionOp op) {
  auto parent = op->getParentOfType<FunctionOpInterface>();
  // The kernel is named after its function (see createKernel).
  if (parent && !isPtxIdentifier(parent.getName()))
    return op.emitOpError()
           << "expected the enclosing function's name to be a PTX "
              "identifier ([A-Za-z_$][A-Za-z0-9_$]*) since the kernel is "
              "named after it, got '"
           << parent.getName() << "'";
  for (auto [index, operand] : llvm::enumerate(op->getOperands())) {
    if (failed(checkOperandSize(op, operand,
                                "operand #" + std::to_string(index))))
      return failure();
    // A KV cache view's storage (pages, block tables) is what the kernel
    // addresses.
    if (auto view = operand.getDefiningOp<KVCacheViewInterface>())
      for (Value storage : view->getOperands())
        if (failed(checkOperandSize(op, storage,
                                    "storage of operand #" +
                                        std::to_string(index))))
          return failure();
  }
  for (auto [index, result] : llvm::enumerate(op->getResults()))
    if (failed(checkOperandSize(op, result,
                                "result #" + std::to_string(index))))
      return failure();
  return success();
}

LogicalResult
mlir::attn::checkGpuLowering(ModuleOp module,
                             const ConvertAttnToNVVMOptions &options) {
  if (failed(checkGpuLoweringOptions(options, module)))
    return failure();
  WalkResult result = module.walk([](AttentionOp op) {
    return failed(checkProblem(op)) ? WalkResult::interrupt()
                                    : WalkResult::advance();
  });
  return failure(result.wasInterrupted());
}

namespace {
/// A chip the kernels can target and the oldest PTX ISA that knows it.
struct ChipInfo {
  StringRef chip;
  int ptxVersion; // 10 * major + minor
};
} // namespace

/// mma.sync m16n8k16 with bf16/f16 inputs, ldmatrix and cp.async need sm_80
/// (Ampere); newer chips run the same PTX. Each entry is the chip and the
/// first PTX ISA version that accepts it (PTX ISA "Release notes" table);
/// the NVPTX backend errors out, or aborts, on any other pair.
static constexpr ChipInfo kChips[] = {
    {"sm_80", 70},  {"sm_86", 71},  {"sm_87", 74},  {"sm_89", 78},
    {"sm_90", 78},  {"sm_90a", 80}, {"sm_100", 86}, {"sm_100a", 86},
    {"sm_103", 88}, {"sm_103a", 88}, {"sm_110", 90}, {"sm_110a", 90},
    {"sm_120", 87}, {"sm_120a", 87}, {"sm_121", 88}, {"sm_121a", 88},
};

/// PTX ISA versions LLVM 22's NVPTX backend knows (it ignores others with a
/// warning and falls back to a default that may not know the chip).
static bool isKnownPtxVersion(int v) {
  return (v >= 70 && v <= 78) || (v >= 80 && v <= 88) || v == 90;
}

int mlir::attn::getPtxFeatureVersion(StringRef features) {
  SmallVector<StringRef> parts;
  features.split(parts, ',', -1, /*KeepEmpty=*/false);
  int version = 0;
  for (StringRef part : parts) {
    part = part.trim();
    int v = 0;
    if (part.consume_front("+ptx") && !part.getAsInteger(10, v))
      version = v;
  }
  return version;
}

llvm::Error mlir::attn::checkGpuChip(StringRef chip, StringRef features) {
  const ChipInfo *info = llvm::find_if(
      kChips, [&](const ChipInfo &c) { return c.chip == chip; });
  if (info == std::end(kChips)) {
    std::string accepted;
    for (const ChipInfo &c : kChips)
      accepted += (accepted.empty() ? "" : ", ") + c.chip.str();
    return llvm::createStringError(
        "expected a chip the mma.sync kernels (sm_80 and newer: mma.sync "
        "m16n8k16, ldmatrix, cp.async) can target, one of " +
        accepted + "; got '" + chip.str() + "'");
  }
  int ptx = getPtxFeatureVersion(features);
  if (!isKnownPtxVersion(ptx))
    return llvm::createStringError(
        "expected PTX features naming a PTX ISA version LLVM 22 knows "
        "(+ptx70 .. +ptx78, +ptx80 .. +ptx88, +ptx90), got '" +
        features.str() + "'");
  if (ptx < info->ptxVersion)
    return llvm::createStringError(
        "expected PTX features with +ptx" + std::to_string(info->ptxVersion) +
        " or newer for chip " + chip.str() + ", got '" + features.str() + "'");
  return llvm::Error::success();
}
