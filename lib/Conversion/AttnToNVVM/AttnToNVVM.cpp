//===- AttnToNVVM.cpp - attn.attention to a GPU kernel --------------------===//
//
// Part of attn-mlir. The convert-attn-to-nvvm pass: checks that an attention
// op is one the mma.sync kernel supports, creates its gpu.func (body from
// KernelBuilder.cpp) and replaces the host side by a gpu.launch_func whose
// grid, block and shared memory are the launch contract.
//
//===----------------------------------------------------------------------===//

#include "attn/Conversion/AttnToNVVM/AttnToNVVM.h"
#include "attn/Conversion/Passes.h"
#include "attn/Dialect/Attn/IR/AttnOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Bufferization/IR/Bufferization.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/LLVMIR/NVVMDialect.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/SymbolTable.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"
#include "mlir/Transforms/RegionUtils.h"
#include "llvm/ADT/SetVector.h"
#include "llvm/Support/MathExtras.h"

#define DEBUG_TYPE "convert-attn-to-nvvm"

namespace mlir::attn {
#define GEN_PASS_DEF_CONVERTATTNTONVVM
#include "attn/Conversion/Passes.h.inc"
} // namespace mlir::attn

using namespace mlir;
using namespace mlir::attn;

/// The kernel clones the score_mod body once per score it holds in
/// registers, between ops that the GPU lowering turns into NVVM; only ops
/// that convert-gpu-to-nvvm lowers, and that cannot touch memory, qualify.
static LogicalResult checkScoreMod(AttentionOp op) {
  if (op.getScoreMod().empty())
    return success();
  for (Operation &nested : op.getScoreMod().front().without_terminator()) {
    bool lowerable =
        isa<arith::ArithDialect, math::MathDialect>(nested.getDialect());
    if (!lowerable || nested.getNumRegions() != 0 ||
        !isMemoryEffectFree(&nested))
      return op.emitOpError("expected score_mod ops from the arith or math "
                            "dialects on the GPU path, got ")
             << nested.getName();
  }
  // The kernel is isolated from the host: it can only clone what the region
  // computes from its own arguments.
  SetVector<Value> captured;
  getUsedValuesDefinedAbove(op.getScoreMod(), captured);
  if (!captured.empty())
    return op.emitOpError("expected score_mod to use no value defined above "
                          "it on the GPU path");
  return success();
}

/// Checks of the prefill kernel's tile options.
static LogicalResult checkPrefillOptions(AttentionOp op,
                                         const KernelProblem &p,
                                         const ConvertAttnToNVVMOptions &o) {
  auto fail = [&](const Twine &msg) { return op.emitOpError(msg); };
  for (Operation *view : {p.keyView, p.valueView})
    if (view && cast<KVCacheViewInterface>(view).getNumRowStorages() > 1)
      return op.emitOpError("expected K/V views whose rows come from one "
                            "buffer on the prefill kernel, got ")
             << view->getName()
             << " (the decode kernel, Hq / Hkv * Lq <= 16, reads it)";
  if (o.blockN != 32 && o.blockN != 64 && o.blockN != 128)
    return fail("expected block-n of 32, 64 or 128, got " + Twine(o.blockN));
  if (o.blockM % (16 * o.numWarps) != 0 || o.blockM > 32 * o.numWarps)
    return fail("expected block-m to be 16 or 32 rows per warp, got " +
                Twine(o.blockM) + " for " + Twine(o.numWarps) + " warps");
  int64_t threads = 32 * o.numWarps, chunksPerRow = p.headDim / 8;
  if ((threads / chunksPerRow) % 8 != 0 ||
      o.blockN % (threads / chunksPerRow) != 0)
    return fail("expected block-n to be a multiple of the rows one pass of "
                "16-byte copies covers");
  return success();
}

/// The KV cache view behind K or V, or null for a plain tensor; fails for a
/// view without the GPU address hook.
static FailureOr<Operation *> getKVView(AttentionOp op, Value kv) {
  auto view = kv.getDefiningOp<KVCacheViewInterface>();
  if (!view)
    return static_cast<Operation *>(nullptr);
  if (view.getStorage().empty())
    return op.emitOpError("expected K and V views with a GPU address hook "
                          "(KVCacheViewInterface::getStorage), got ")
           << view->getName();
  return view.getOperation();
}

FailureOr<KernelProblem>
mlir::attn::getKernelProblem(AttentionOp op, const ConvertAttnToNVVMOptions &o) {
  auto fail = [&](const Twine &msg) { return op.emitOpError(msg); };
  if (o.numWarps < 4 || o.numWarps > 8 || !llvm::isPowerOf2_64(o.numWarps))
    return fail("expected num-warps of 4 or 8, got " + Twine(o.numWarps));
  if (op.getLayout() != Layout::BHSD)
    return fail("expected the bhsd layout on the GPU path");
  if (op.getBias() || op.getMask() || !op.getMaskMod().empty())
    return fail("expected no bias or mask operand or mask_mod on the GPU "
                "path (not supported yet)");
  if (failed(checkScoreMod(op)))
    return failure();
  Type elt = op.getQueryType().getElementType();
  if (!elt.isBF16() && !elt.isF16())
    return fail("expected bf16 or f16 inputs on the GPU path, got ") << elt,
           failure();
  if (op.getOutputType().getElementType() != elt)
    return fail("expected the output element type to match the inputs'");
  for (RankedTensorType type : {op.getQueryType(), op.getKeyType(),
                                op.getValueType(), op.getOutputType()})
    if (!type.hasStaticShape())
      return fail("expected static shapes on the GPU path, got ") << type,
             failure();
  int64_t headDim = op.getHeadDim();
  if (headDim != 64 && headDim != 128)
    return fail("expected head dim 64 or 128 on the GPU path, got " +
                Twine(headDim));
  if (op.getValueHeadDim() != headDim)
    return fail("expected the value head dim to equal the key head dim");

  KernelProblem p;
  p.batch = op.getQueryType().getDimSize(0);
  p.headsQ = op.getNumQueryHeads();
  p.headsKV = op.getNumKVHeads();
  p.seqQ = op.getQueryLength();
  p.seqK = op.getKeyLength();
  p.headDim = headDim;
  p.isBF16 = elt.isBF16();
  p.withLse = static_cast<bool>(op.getLse());
  p.withKeyLengths = static_cast<bool>(op.getKeyLengths());
  FailureOr<Operation *> keyView = getKVView(op, op.getKey());
  FailureOr<Operation *> valueView = getKVView(op, op.getValue());
  if (failed(keyView) || failed(valueView))
    return failure();
  if (static_cast<bool>(*keyView) != static_cast<bool>(*valueView))
    return fail("expected K and V to be both views or both tensors");
  p.keyView = *keyView;
  p.valueView = *valueView;
  p.scale = op.getEffectiveScale();
  p.softcap = op.getSoftcapValue();
  if (std::optional<ArrayRef<double>> slopes = op.getAlibiSlopes()) {
    if (static_cast<int64_t>(slopes->size()) != p.headsQ)
      return fail("expected one alibi slope per query head");
    p.alibiSlopes.assign(slopes->begin(), slopes->end());
  }
  if (!op.getScoreMod().empty())
    p.scoreMod = &op.getScoreMod();
  if (p.seqQ < 1 || p.seqK < 1)
    return fail("expected non-empty query and key sequences");
  if (p.batch * p.headsQ * p.seqQ * headDim * 2 >= (int64_t(1) << 40) ||
      p.batch * p.headsKV * p.seqK * headDim * 2 >= (int64_t(1) << 40))
    return fail("expected tensors under 1 TiB");
  switch (op.getMaskKind()) {
  case MaskKind::None:
    break;
  case MaskKind::CausalTopLeft:
    p.right = 0;
    break;
  case MaskKind::CausalBottomRight:
    p.diagOffset = p.seqK - p.seqQ;
    p.bottomRight = true;
    p.right = 0;
    break;
  case MaskKind::SlidingWindow: {
    ArrayRef<int64_t> window = *op.getWindow();
    p.diagOffset = p.seqK - p.seqQ;
    p.bottomRight = true;
    // A negative extent means "unbounded" (FlashAttention's -1).
    if (window[0] >= 0)
      p.left = window[0];
    if (window[1] >= 0)
      p.right = window[1];
    break;
  }
  }
  return p;
}

/// The kernel `options.kernel` asks for, "auto" resolved.
static FailureOr<KernelKind> selectKernel(AttentionOp op,
                                          const KernelProblem &p,
                                          const ConvertAttnToNVVMOptions &o) {
  if (o.kernel == "prefill")
    return KernelKind::Prefill;
  if (o.kernel == "decode")
    return KernelKind::Decode;
  if (o.kernel != "auto")
    return op.emitOpError("expected kernel of auto, prefill or decode, got '")
           << o.kernel << "'";
  return p.headsQ / p.headsKV * p.seqQ <= 16 ? KernelKind::Decode
                                              : KernelKind::Prefill;
}

namespace {

/// The host memrefs a kernel receives, in order, with the names and roles
/// the manifest reports (a memref used twice, e.g. one block table for K and
/// V, is passed once).
struct KernelArgumentList {
  SmallVector<Value> values;
  SmallVector<std::string> names;
  SmallVector<StringRef> roles;
  /// Stores of the results into their destination memrefs.
  SmallVector<Operation *> stores;

  int64_t add(Value memref, StringRef name, StringRef role,
              bool dedupe = true) {
    for (auto [i, v] : llvm::enumerate(values))
      if (dedupe && v == memref)
        return i;
    values.push_back(memref);
    names.push_back(name.str());
    roles.push_back(role);
    return values.size() - 1;
  }
};

/// The memref a kernel input tensor is read from.
static FailureOr<Value> getHostMemref(AttentionOp op, Value tensor,
                                      StringRef what) {
  auto toTensor = tensor.getDefiningOp<bufferization::ToTensorOp>();
  if (!toTensor)
    return op.emitOpError("expected ")
           << what
           << " to come from bufferization.to_tensor of memrefs on the GPU "
              "path (destination-passing form)";
  Value memref = toTensor.getBuffer();
  auto type = cast<MemRefType>(memref.getType());
  if (!type.getLayout().isIdentity() || type.getMemorySpace())
    return op.emitOpError("expected identity-layout memrefs in the default "
                          "memory space, got ")
           << type;
  if (!type.hasStaticShape())
    return op.emitOpError("expected static shapes on the GPU path, got ")
           << type;
  return memref;
}

/// Adds K or V: the memref itself, or the storage of its view (a block
/// table shared by K and V is passed once). `dedupe` applies to the memref
/// of a plain K or V.
static FailureOr<SmallVector<int64_t>>
addKVArguments(AttentionOp op, Value kv, Operation *view, StringRef prefix,
               KernelArgumentList &list, bool dedupe = true) {
  SmallVector<int64_t> indices;
  if (!view) {
    FailureOr<Value> memref = getHostMemref(op, kv, "Q, K and V");
    if (failed(memref))
      return failure();
    indices.push_back(list.add(*memref, prefix, "input", dedupe));
    return indices;
  }
  // Names the manifest gives the storage of the built-in views (a shared
  // indirection buffer, e.g. one block table, keeps the plain name).
  SmallVector<std::string> names;
  if (isa<PagedViewOp>(view))
    names = {prefix.str() + "_pages", "block_table"};
  else if (isa<KVAppendOp>(view))
    names = {prefix.str() + "_cache", prefix.str() + "_new", "positions"};
  for (auto [i, storage] :
       llvm::enumerate(cast<KVCacheViewInterface>(view).getStorage())) {
    FailureOr<Value> memref =
        getHostMemref(op, storage, "the storage of K and V views");
    if (failed(memref))
      return failure();
    std::string name = i < names.size()
                           ? names[i]
                           : prefix.str() + "_storage" + std::to_string(i);
    if (llvm::is_contained(list.names, name) &&
        !llvm::is_contained(list.values, *memref))
      name = prefix.str() + "_" + name;
    indices.push_back(list.add(*memref, name, "input"));
  }
  return indices;
}

/// Adds O[, LSE]: the memrefs the results are stored into.
static LogicalResult addResultArguments(AttentionOp op,
                                        KernelArgumentList &list) {
  for (auto [i, result] : llvm::enumerate(op->getResults())) {
    bufferization::MaterializeInDestinationOp store;
    for (Operation *user : result.getUsers())
      if (auto m = dyn_cast<bufferization::MaterializeInDestinationOp>(user))
        if (isa<BaseMemRefType>(m.getDest().getType()))
          store = m;
    if (!store || !result.hasOneUse())
      return op.emitOpError("expected every result to be stored once with "
                            "bufferization.materialize_in_destination into a "
                            "memref on the GPU path");
    auto type = cast<MemRefType>(store.getDest().getType());
    if (!type.getLayout().isIdentity() || type.getMemorySpace())
      return op.emitOpError("expected identity-layout memrefs in the default "
                            "memory space, got ")
             << type;
    list.add(store.getDest(), i == 0 ? "o" : "lse", "output",
             /*dedupe=*/false);
    list.stores.push_back(store);
  }
  return success();
}

/// Erases `roots` and then every op that fed them and has no other use.
static void eraseWithDeadProducers(ArrayRef<Operation *> roots) {
  // A set: one producer often feeds several erased ops.
  SetVector<Operation *> worklist;
  for (Operation *op : roots) {
    worklist.remove(op);
    for (Value operand : op->getOperands())
      if (Operation *def = operand.getDefiningOp())
        worklist.insert(def);
    op->erase();
  }
  while (!worklist.empty()) {
    Operation *op = worklist.pop_back_val();
    // Reads (bufferization.to_tensor) of no further use go too.
    if (!isOpTriviallyDead(op))
      continue;
    for (Value operand : op->getOperands())
      if (Operation *def = operand.getDefiningOp())
        worklist.insert(def);
    op->erase();
  }
}

/// Adds Q, K and V (or their views' storage), key_lengths and O[, LSE] to
/// `list` and records their positions. `dedupe` passes a memref used for
/// several operands once (views sharing a block table); without it every
/// operand keeps its own argument, as the prefill kernel's fixed layout
/// expects even when a test passes one memref as Q, K and V.
static LogicalResult addAttentionArguments(AttentionOp op,
                                           const KernelProblem &problem,
                                           bool dedupe,
                                           KernelArgumentList &list,
                                           AttentionArguments &args) {
  FailureOr<Value> q = getHostMemref(op, op.getQuery(), "Q, K and V");
  if (failed(q))
    return failure();
  args.query = list.add(*q, "q", "input", dedupe);
  FailureOr<SmallVector<int64_t>> k =
      addKVArguments(op, op.getKey(), problem.keyView, "k", list, dedupe);
  if (failed(k))
    return failure();
  FailureOr<SmallVector<int64_t>> v =
      addKVArguments(op, op.getValue(), problem.valueView, "v", list, dedupe);
  if (failed(v))
    return failure();
  args.keyStorage = *k;
  args.valueStorage = *v;
  if (Value lengths = op.getKeyLengths()) {
    FailureOr<Value> memref = getHostMemref(op, lengths, "key_lengths");
    if (failed(memref))
      return failure();
    args.keyLengths = list.add(*memref, "key_lengths", "input");
  }
  size_t firstOutput = list.values.size();
  if (failed(addResultArguments(op, list)))
    return failure();
  args.output = firstOutput;
  if (problem.withLse)
    args.lse = firstOutput + 1;
  return success();
}

struct ConvertAttnToNVVMPass
    : public mlir::attn::impl::ConvertAttnToNVVMBase<ConvertAttnToNVVMPass> {
  using Base::Base;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    ConvertAttnToNVVMOptions options;
    options.blockM = blockM;
    options.blockN = blockN;
    options.numWarps = numWarps;
    options.kernel = kernel;
    options.numSplits = numSplits;
    options.numSMs = numSMs;
    options.decodeNumWarps = decodeNumWarps;
    options.decodeKeysPerWarp = decodeKeysPerWarp;
    options.decodeStages = decodeStages;
    if (failed(checkGpuLowering(module, options)))
      return signalPassFailure();
    SmallVector<AttentionOp> ops;
    module.walk([&](AttentionOp op) { ops.push_back(op); });
    if (ops.empty())
      return;

    OpBuilder builder(module.getContext());
    gpu::GPUModuleOp kernels;
    for (AttentionOp op : ops) {
      FailureOr<KernelProblem> problem = getKernelProblem(op, options);
      if (failed(problem))
        return signalPassFailure();
      FailureOr<KernelKind> kind = selectKernel(op, *problem, options);
      if (failed(kind))
        return signalPassFailure();
      if (*kind == KernelKind::Prefill &&
          failed(checkPrefillOptions(op, *problem, options)))
        return signalPassFailure();
      std::optional<DecodePlan> plan;
      if (*kind == KernelKind::Decode) {
        FailureOr<DecodePlan> planned =
            planDecodeKernel(op, *problem, options);
        if (failed(planned))
          return signalPassFailure();
        plan = *planned;
      }
      if (!kernels) {
        builder.setInsertionPointToStart(module.getBody());
        kernels = gpu::GPUModuleOp::create(builder, module.getLoc(),
                                           kernelModuleName);
        module->setAttr(gpu::GPUDialect::getContainerModuleAttrName(),
                        builder.getUnitAttr());
      }
      LogicalResult lowered =
          plan ? lowerDecode(op, *problem, *plan, kernels)
               : lowerPrefill(op, *problem, kernels, options);
      if (failed(lowered))
        return signalPassFailure();
    }
  }

  /// Creates the kernel function for `list` next to the other kernels.
  gpu::GPUFuncOp createKernel(AttentionOp op, const KernelArgumentList &list,
                              gpu::GPUModuleOp kernels, int64_t threads) {
    OpBuilder b(op.getContext());
    SmallVector<Type> argTypes = llvm::map_to_vector(
        list.values, [](Value v) { return v.getType(); });
    auto parent = op->getParentOfType<FunctionOpInterface>();
    std::string name =
        (parent ? parent.getName().str() : std::string("attention")) +
        "_kernel";
    b.setInsertionPointToEnd(kernels.getBody());
    auto func = gpu::GPUFuncOp::create(b, op.getLoc(), name,
                                       b.getFunctionType(argTypes, {}));
    func->setAttr(gpu::GPUDialect::getKernelFuncAttrName(), b.getUnitAttr());
    SymbolTable(kernels).insert(func);
    func.setKnownBlockSizeAttr(
        b.getDenseI32ArrayAttr({static_cast<int32_t>(threads), 1, 1}));
    return func;
  }

  /// Replaces `op` by a launch of `func` over `grid`; `info` (plus the
  /// argument names and roles) is kept on the kernel and the launch, where
  /// the manifest reads it.
  void replaceWithLaunch(AttentionOp op, gpu::GPUFuncOp func,
                         const KernelArgumentList &list,
                         std::array<int64_t, 3> grid, int64_t threads,
                         int64_t smemBytes,
                         SmallVector<NamedAttribute> info,
                         StringRef gridFormula) {
    Location loc = op.getLoc();
    OpBuilder b(op);
    func->setAttr("attn.kernel", b.getDictionaryAttr(info));
    auto idx = [&](int64_t v) -> Value {
      return arith::ConstantIndexOp::create(b, loc, v);
    };
    auto smem = arith::ConstantIntOp::create(b, loc, b.getI32Type(), smemBytes);
    auto launch = gpu::LaunchFuncOp::create(
        b, loc, func, gpu::KernelDim3{idx(grid[0]), idx(grid[1]), idx(grid[2])},
        gpu::KernelDim3{idx(threads), idx(1), idx(1)}, smem, list.values);
    // Workspaces live for the launch only.
    for (auto [value, role] : llvm::zip(list.values, list.roles))
      if (role == "workspace")
        memref::DeallocOp::create(b, loc, value);
    // The kernel's own attributes do not survive gpu-module-to-binary; the
    // launch keeps a copy for the manifest.
    info.push_back(b.getNamedAttr("grid_formula", b.getStringAttr(gridFormula)));
    SmallVector<Attribute> arguments;
    for (auto [name, role] : llvm::zip(list.names, list.roles))
      arguments.push_back(b.getDictionaryAttr(
          {b.getNamedAttr("name", b.getStringAttr(name)),
           b.getNamedAttr("role", b.getStringAttr(role))}));
    info.push_back(b.getNamedAttr("arguments", b.getArrayAttr(arguments)));
    launch->setAttr("attn.launch", b.getDictionaryAttr(info));
    SmallVector<Operation *> dead(list.stores);
    dead.push_back(op);
    eraseWithDeadProducers(dead);
  }

  LogicalResult lowerPrefill(AttentionOp op, const KernelProblem &problem,
                             gpu::GPUModuleOp kernels,
                             const ConvertAttnToNVVMOptions &options) {
    // The prefill kernel's arguments are Q, K storage, V storage,
    // [key_lengths], O[, LSE]. A plain Q, K or V is passed once each even
    // where a test passes one memref as all three; views pass their storage
    // (a block table shared by K and V once).
    KernelArgumentList list;
    PrefillArguments args;
    if (failed(addAttentionArguments(op, problem, /*dedupe=*/false, list,
                                     args)))
      return failure();
    int64_t threads = 32 * options.numWarps;
    gpu::GPUFuncOp func = createKernel(op, list, kernels, threads);
    int64_t smemBytes = getKernelSharedMemoryBytes(problem, options);
    buildAttentionKernelBody(func, problem, options, args);
    Builder b(op.getContext());
    SmallVector<NamedAttribute> info = {
        b.getNamedAttr("kernel", b.getStringAttr("prefill")),
        b.getNamedAttr("block_m", b.getI64IntegerAttr(options.blockM)),
        b.getNamedAttr("block_n", b.getI64IntegerAttr(options.blockN)),
        b.getNamedAttr("num_warps", b.getI64IntegerAttr(options.numWarps)),
        b.getNamedAttr("shared_memory_bytes", b.getI64IntegerAttr(smemBytes))};
    replaceWithLaunch(op, func, list,
                      {static_cast<int64_t>(llvm::divideCeil(problem.seqQ, options.blockM)),
                       problem.batch * problem.headsQ, 1},
                      threads, smemBytes, info,
                      "[ceil(Lq / block_m), B * Hq, 1]");
    return success();
  }

  /// An attn.kv_append view whose result is also stored back into its own
  /// cache memref: the kernel performs that store (`writeBack`), and the
  /// host-side store goes with the op. Any other use is refused.
  LogicalResult matchAppendWriteBack(AttentionOp op, Operation *view,
                                     bool &writeBack,
                                     KernelArgumentList &list) {
    auto append = dyn_cast_or_null<KVAppendOp>(view);
    if (!append)
      return success();
    FailureOr<Value> cache =
        getHostMemref(op, append.getCache(), "the storage of K and V views");
    if (failed(cache))
      return failure();
    for (Operation *user : append->getUsers()) {
      if (user == op.getOperation())
        continue;
      auto store = dyn_cast<bufferization::MaterializeInDestinationOp>(user);
      if (!store || store.getDest() != *cache)
        return op.emitOpError("expected the result of ")
               << append->getName()
               << " to be used only by the attention and a store back into "
                  "its own cache on the GPU path";
      writeBack = true;
      if (!llvm::is_contained(list.stores, store.getOperation()))
        list.stores.push_back(store);
      for (auto [value, role] : llvm::zip(list.values, list.roles))
        if (value == *cache)
          role = "inout";
    }
    return success();
  }

  LogicalResult lowerDecode(AttentionOp op, const KernelProblem &problem,
                            const DecodePlan &plan, gpu::GPUModuleOp kernels) {
    KernelArgumentList list;
    DecodeArguments args;
    if (failed(addAttentionArguments(op, problem, /*dedupe=*/true, list,
                                     args)))
      return failure();
    if (failed(matchAppendWriteBack(op, problem.keyView, args.writeBackKey,
                                    list)) ||
        failed(matchAppendWriteBack(op, problem.valueView,
                                    args.writeBackValue, list)))
      return failure();
    // Partials of other CTAs and the split merge read inputs after some
    // outputs are written: no aliasing.
    ArrayRef<Value> inputs = ArrayRef(list.values).take_front(args.output);
    for (size_t i = args.output; i < list.values.size(); ++i)
      if (llvm::is_contained(inputs, list.values[i]))
        return op.emitOpError("expected outputs distinct from the inputs on "
                              "the decode kernel");

    MLIRContext *ctx = op.getContext();
    Type f32 = Float32Type::get(ctx), i32 = IntegerType::get(ctx, 32);
    if (plan.numSplits > 1) {
      // The manifest tells a runtime to allocate these (the counters zeroed
      // once: the kernel re-arms them).
      OpBuilder b(op);
      auto placeholder = [&](ArrayRef<int64_t> shape, Type elt,
                             StringRef name) {
        Value v = memref::AllocOp::create(b, op.getLoc(),
                                          MemRefType::get(shape, elt));
        return list.add(v, name, "workspace");
      };
      args.partialO = placeholder(
          {plan.groups, plan.numSplits, plan.rows, problem.headDim}, f32,
          "partial_o");
      args.partialLse = placeholder({plan.groups, plan.numSplits, plan.rows},
                                    f32, "partial_lse");
      args.counters = placeholder({plan.groups}, i32, "split_counters");
    }
    int64_t threads = 32 * plan.warps;
    gpu::GPUFuncOp func = createKernel(op, list, kernels, threads);
    buildDecodeKernelBody(func, problem, plan, args);
    Builder b(ctx);
    SmallVector<NamedAttribute> info = {
        b.getNamedAttr("kernel", b.getStringAttr("decode")),
        b.getNamedAttr("num_splits", b.getI64IntegerAttr(plan.numSplits)),
        b.getNamedAttr("keys_per_warp", b.getI64IntegerAttr(plan.keysPerWarp)),
        b.getNamedAttr("stages", b.getI64IntegerAttr(plan.stages)),
        b.getNamedAttr("num_warps", b.getI64IntegerAttr(plan.warps)),
        b.getNamedAttr("shared_memory_bytes",
                       b.getI64IntegerAttr(plan.sharedMemoryBytes))};
    replaceWithLaunch(op, func, list, {plan.numSplits, plan.groups, 1},
                      threads, plan.sharedMemoryBytes, info,
                      "[num_splits, B * Hkv, 1]");
    return success();
  }
};

} // namespace
