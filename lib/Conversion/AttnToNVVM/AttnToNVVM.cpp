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

FailureOr<KernelProblem>
mlir::attn::getKernelProblem(AttentionOp op, const AttnToNVVMOptions &o) {
  auto fail = [&](const Twine &msg) { return op.emitOpError(msg); };
  if (o.numWarps < 4 || o.numWarps > 8 || !llvm::isPowerOf2_64(o.numWarps))
    return fail("expected num-warps of 4 or 8, got " + Twine(o.numWarps));
  if (o.blockN != 32 && o.blockN != 64 && o.blockN != 128)
    return fail("expected block-n of 32, 64 or 128, got " + Twine(o.blockN));
  if (o.blockM % (16 * o.numWarps) != 0 || o.blockM > 32 * o.numWarps)
    return fail("expected block-m to be 16 or 32 rows per warp, got " +
                Twine(o.blockM) + " for " + Twine(o.numWarps) + " warps");
  if (op.getLayout() != Layout::BHSD)
    return fail("expected the bhsd layout on the GPU path");
  if (op.getBias() || op.getMask() || op.getKeyLengths() ||
      !op.getMaskMod().empty())
    return fail("expected no bias, mask or key_lengths operand or mask_mod "
                "on the GPU path (not supported yet)");
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
  int64_t threads = 32 * o.numWarps, chunksPerRow = headDim / 8;
  if ((threads / chunksPerRow) % 8 != 0 ||
      o.blockN % (threads / chunksPerRow) != 0)
    return fail("expected block-n to be a multiple of the rows one pass of "
                "16-byte copies covers");

  KernelProblem p;
  p.batch = op.getQueryType().getDimSize(0);
  p.headsQ = op.getNumQueryHeads();
  p.headsKV = op.getNumKVHeads();
  p.seqQ = op.getQueryLength();
  p.seqK = op.getKeyLength();
  p.headDim = headDim;
  p.isBF16 = elt.isBF16();
  p.withLse = static_cast<bool>(op.getLse());
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
  if (p.batch * p.headsQ * p.seqQ * headDim * 2 >= (int64_t(1) << 40))
    return fail("expected tensors under 1 TiB");
  switch (op.getMaskKind()) {
  case MaskKind::None:
    break;
  case MaskKind::CausalTopLeft:
    p.right = 0;
    break;
  case MaskKind::CausalBottomRight:
    p.diagOffset = p.seqK - p.seqQ;
    p.right = 0;
    break;
  case MaskKind::SlidingWindow: {
    ArrayRef<int64_t> window = *op.getWindow();
    p.diagOffset = p.seqK - p.seqQ;
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

namespace {

/// The memrefs an attention op in destination-passing form reads and writes.
struct HostOperands {
  SmallVector<Value> inputs;  // Q, K, V memrefs
  SmallVector<Value> outputs; // O[, LSE] memrefs
  SmallVector<Operation *> stores;
};

static FailureOr<HostOperands> matchHostOperands(AttentionOp op) {
  HostOperands host;
  for (Value operand : {op.getQuery(), op.getKey(), op.getValue()}) {
    auto toTensor = operand.getDefiningOp<bufferization::ToTensorOp>();
    if (!toTensor)
      return op.emitOpError("expected Q, K and V to come from "
                            "bufferization.to_tensor of memrefs on the GPU "
                            "path (destination-passing form)");
    host.inputs.push_back(toTensor.getBuffer());
  }
  for (Value result : op->getResults()) {
    bufferization::MaterializeInDestinationOp store;
    for (Operation *user : result.getUsers())
      if (auto m = dyn_cast<bufferization::MaterializeInDestinationOp>(user))
        if (isa<BaseMemRefType>(m.getDest().getType()))
          store = m;
    if (!store || !result.hasOneUse())
      return op.emitOpError("expected every result to be stored once with "
                            "bufferization.materialize_in_destination into a "
                            "memref on the GPU path");
    host.outputs.push_back(store.getDest());
    host.stores.push_back(store);
  }
  for (Value memref : llvm::concat<Value>(host.inputs, host.outputs)) {
    auto type = cast<MemRefType>(memref.getType());
    if (!type.getLayout().isIdentity() || type.getMemorySpace())
      return op.emitOpError("expected identity-layout memrefs in the default "
                            "memory space, got ")
             << type;
  }
  return host;
}

struct ConvertAttnToNVVMPass
    : public mlir::attn::impl::ConvertAttnToNVVMBase<ConvertAttnToNVVMPass> {
  using Base::Base;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    AttnToNVVMOptions options{blockM, blockN, numWarps};
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
      FailureOr<HostOperands> host = matchHostOperands(op);
      if (failed(host))
        return signalPassFailure();
      if (!kernels) {
        builder.setInsertionPointToStart(module.getBody());
        kernels = gpu::GPUModuleOp::create(builder, module.getLoc(),
                                           kernelModuleName);
        module->setAttr(gpu::GPUDialect::getContainerModuleAttrName(),
                        builder.getUnitAttr());
      }
      if (failed(lowerOne(op, *problem, *host, kernels, options)))
        return signalPassFailure();
    }
  }

  LogicalResult lowerOne(AttentionOp op, const KernelProblem &problem,
                         const HostOperands &host, gpu::GPUModuleOp kernels,
                         const AttnToNVVMOptions &options) {
    Location loc = op.getLoc();
    OpBuilder b(op.getContext());
    SmallVector<Value> args(host.inputs);
    args.append(host.outputs);
    SmallVector<Type> argTypes = llvm::map_to_vector(
        args, [](Value v) { return v.getType(); });

    // The kernel.
    auto parent = op->getParentOfType<FunctionOpInterface>();
    std::string name =
        (parent ? parent.getName().str() : std::string("attention")) +
        "_kernel";
    b.setInsertionPointToEnd(kernels.getBody());
    auto func = gpu::GPUFuncOp::create(b, loc, name,
                                       b.getFunctionType(argTypes, {}));
    func->setAttr(gpu::GPUDialect::getKernelFuncAttrName(), b.getUnitAttr());
    SymbolTable(kernels).insert(func);
    int64_t threads = 32 * options.numWarps;
    func.setKnownBlockSizeAttr(
        b.getDenseI32ArrayAttr({static_cast<int32_t>(threads), 1, 1}));
    int64_t smemBytes = getKernelSharedMemoryBytes(problem, options);
    int64_t gridX = llvm::divideCeil(problem.seqQ, options.blockM);
    int64_t gridY = problem.batch * problem.headsQ;
    SmallVector<NamedAttribute> info = {
        b.getNamedAttr("block_m", b.getI64IntegerAttr(options.blockM)),
        b.getNamedAttr("block_n", b.getI64IntegerAttr(options.blockN)),
        b.getNamedAttr("num_warps", b.getI64IntegerAttr(options.numWarps)),
        b.getNamedAttr("shared_memory_bytes", b.getI64IntegerAttr(smemBytes))};
    func->setAttr("attn.kernel", b.getDictionaryAttr(info));
    buildAttentionKernelBody(func, problem, options);

    // The host side: one launch over (Q blocks, batch * query heads).
    b.setInsertionPoint(op);
    auto idx = [&](int64_t v) -> Value {
      return arith::ConstantIndexOp::create(b, loc, v);
    };
    auto smem = arith::ConstantIntOp::create(b, loc, b.getI32Type(), smemBytes);
    auto launch = gpu::LaunchFuncOp::create(
        b, loc, func, gpu::KernelDim3{idx(gridX), idx(gridY), idx(1)},
        gpu::KernelDim3{idx(threads), idx(1), idx(1)}, smem, args);
    // The kernel's own attributes do not survive gpu-module-to-binary; the
    // launch keeps a copy for the manifest.
    info.push_back(b.getNamedAttr(
        "grid_formula", b.getStringAttr("[ceil(Lq / block_m), B * Hq, 1]")));
    launch->setAttr("attn.launch", b.getDictionaryAttr(info));
    SmallVector<Operation *> reads;
    for (Value operand : op->getOperands())
      reads.push_back(operand.getDefiningOp());
    for (Operation *store : host.stores)
      store->erase();
    op->erase();
    for (Operation *read : reads)
      if (read && read->use_empty())
        read->erase();
    return success();
  }
};

} // namespace
