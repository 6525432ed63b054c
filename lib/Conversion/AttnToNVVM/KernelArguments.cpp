//===- KernelArguments.cpp - the arguments every kernel family takes -----===//
//
// Part of attn-mlir. Collects a kernel's host memrefs from the
// destination-passing form around a tiled attention program: Q, K and V (or
// the storage of their KV cache views), key_lengths and the memrefs O[, LSE]
// are stored into, with the names and roles the manifest reports.
//
//===----------------------------------------------------------------------===//

#include "KernelFamily.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Bufferization/IR/Bufferization.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "llvm/Support/MathExtras.h"

using namespace mlir;
using namespace mlir::attn;
using namespace mlir::attn::detail;

KernelFamily::~KernelFamily() = default;

int64_t KernelArgumentList::add(Value memref, StringRef name,
                                ArgumentRole role, bool dedupe) {
  for (auto [i, v] : llvm::enumerate(values))
    if (dedupe && v == memref)
      return i;
  values.push_back(memref);
  names.push_back(name.str());
  roles.push_back(role);
  return values.size() - 1;
}

LaunchPlan mlir::attn::detail::queryBlockLaunch(StringRef family,
                                                const KernelProblem &problem,
                                                int64_t blockM, int64_t blockN,
                                                int64_t threads) {
  LaunchPlan plan;
  plan.grid = {static_cast<int64_t>(llvm::divideCeil(problem.seqQ, blockM)),
               problem.batch * problem.headsQ, 1};
  plan.threads = threads;
  plan.desc.family = family;
  plan.desc.gridFormula = "[ceil(Lq / block_m), B * Hq, 1]";
  plan.desc.blockM = blockM;
  plan.desc.blockN = blockN;
  plan.tileM = blockM;
  plan.tileN = blockN;
  if (problem.dynamicSeqQ) {
    plan.grid[0] = ShapedType::kDynamic;
    plan.runtimeGrid[0] = LaunchPlan::RuntimeExtent{"Lq", blockM, 1, {}, 0};
  }
  if (problem.dynamicBatch) {
    plan.grid[1] = ShapedType::kDynamic;
    plan.runtimeGrid[1] = LaunchPlan::RuntimeExtent{"B", 1, problem.headsQ, {}, 0};
  }
  return plan;
}

FailureOr<Value> mlir::attn::detail::getHostMemref(Operation *op, Value tensor,
                                                 StringRef what,
                                                 bool allowStrided) {
  auto toTensor = tensor.getDefiningOp<bufferization::ToTensorOp>();
  if (!toTensor)
    return op->emitOpError("expected ")
           << what
           << " to come from bufferization.to_tensor of memrefs on the GPU "
              "path (destination-passing form)";
  Value memref = toTensor.getBuffer();
  auto type = cast<MemRefType>(memref.getType());
  // Strided Q, K, V and O are addressed by their strides (OperandStrides).
  bool strided = allowStrided && isa<StridedLayoutAttr>(type.getLayout());
  if ((!type.getLayout().isIdentity() && !strided) || type.getMemorySpace())
    return op->emitOpError("expected identity-layout memrefs in the default "
                          "memory space, got ")
           << type;
  // Dynamic dims are the runtime lengths getKernelProblem accepted.
  return memref;
}

/// Adds the dense bf16 / f16 workspace that stands in for f32 argument
/// `wide` (of the shape and element type of `rounded`) and the conversion
/// between them; returns the workspace's index. Allocated before the
/// program, freed after its launches (replaceWithLaunch).
static int64_t addRoundedCopy(Operation *op, int64_t wide, ShapedType rounded,
                              bool widen, KernelArgumentList &list) {
  OpBuilder b(op);
  Type element = rounded.getElementType();
  Value copy = memref::AllocOp::create(
      b, op->getLoc(), MemRefType::get(rounded.getShape(), element));
  int64_t target = list.add(copy, getRoundedCopyName(list.names[wide], element),
                            ArgumentRole::Scratch, /*dedupe=*/false);
  list.roundings.push_back(widen ? RoundingCopy{target, wide, true}
                                 : RoundingCopy{wide, target, false});
  return target;
}

/// Adds a plain Q, K or V as `name`. A rounded one (arith.truncf of a host
/// tensor: attn-round-f32-inputs) is the caller's f32 memref, and the
/// argument the kernel reads is its dense bf16 / f16 copy, the workspace
/// `name`_bf16 a conversion launch fills first (one per f32 argument).
static FailureOr<int64_t> addInputArgument(Operation *op, Value tensor,
                                           StringRef name,
                                           KernelArgumentList &list,
                                           bool dedupe) {
  auto truncate = tensor.getDefiningOp<arith::TruncFOp>();
  FailureOr<Value> memref =
      getHostMemref(op, truncate ? truncate.getIn() : tensor, "Q, K and V",
                    /*allowStrided=*/!truncate);
  if (failed(memref))
    return failure();
  int64_t source = list.add(*memref, name, ArgumentRole::Input, dedupe);
  if (!truncate)
    return source;
  for (const RoundingCopy &r : list.roundings)
    if (!r.widen && r.source == source)
      return r.target;
  return addRoundedCopy(op, source, cast<ShapedType>(tensor.getType()),
                        /*widen=*/false, list);
}

/// Adds K or V: the memref itself, or the storage of its view (a block
/// table shared by K and V is passed once). `dedupe` applies to the memref
/// of a plain K or V.
static FailureOr<SmallVector<int64_t>>
addKVArguments(Operation *op, Value kv, Operation *view, StringRef prefix,
               KernelArgumentList &list, bool dedupe = true) {
  SmallVector<int64_t> indices;
  if (!view) {
    FailureOr<int64_t> index = addInputArgument(op, kv, prefix, list, dedupe);
    if (failed(index))
      return failure();
    indices.push_back(*index);
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
    indices.push_back(list.add(*memref, name, ArgumentRole::Input));
  }
  return indices;
}

/// Adds O[, LSE]: the memrefs the program's results are stored into.
/// Returns the argument the kernel stores O into: O's memref, or for an O
/// widened to f32 (arith.extf: attn-round-f32-inputs) the bf16 / f16
/// workspace a conversion launch widens into O after the kernel.
static FailureOr<int64_t> addResultArguments(const TiledProgram &program,
                                             KernelArgumentList &list) {
  Operation *op = program.forall;
  int64_t firstOutput = list.values.size();
  arith::ExtFOp widened;
  for (auto [i, produced] : llvm::enumerate(program.results)) {
    Value result = produced;
    if (i == 0 && result.hasOneUse())
      if ((widened = dyn_cast<arith::ExtFOp>(*result.getUsers().begin())))
        result = widened.getOut();
    bufferization::MaterializeInDestinationOp store;
    for (Operation *user : result.getUsers())
      if (auto m = dyn_cast<bufferization::MaterializeInDestinationOp>(user))
        if (isa<BaseMemRefType>(m.getDest().getType()))
          store = m;
    if (!store || !result.hasOneUse())
      return op->emitOpError("expected every result to be stored once with "
                             "bufferization.materialize_in_destination into "
                             "a memref on the GPU path");
    auto type = cast<MemRefType>(store.getDest().getType());
    // O may be strided (OperandStrides); LSE is dense.
    bool strided = i == 0 && isa<StridedLayoutAttr>(type.getLayout());
    if ((!type.getLayout().isIdentity() && !strided) || type.getMemorySpace())
      return op->emitOpError("expected identity-layout memrefs in the default "
                             "memory space, got ")
             << type;
    list.add(store.getDest(), i == 0 ? "o" : "lse", ArgumentRole::Output,
             /*dedupe=*/false);
    list.stores.push_back(store);
  }
  if (!widened)
    return firstOutput;
  // Erased after its store.
  list.stores.push_back(widened);
  return addRoundedCopy(op, firstOutput,
                        cast<ShapedType>(widened.getIn().getType()),
                        /*widen=*/true, list);
}

LogicalResult mlir::attn::detail::addAttentionArguments(
    const TiledProgram &program, const KernelProblem &problem, bool dedupe,
    KernelArgumentList &list, AttentionArguments &args) {
  Operation *op = program.forall;
  FailureOr<int64_t> q = addInputArgument(op, program.query, "q", list, dedupe);
  if (failed(q))
    return failure();
  args.query = *q;
  FailureOr<SmallVector<int64_t>> k =
      addKVArguments(op, program.key, problem.keyView, "k", list, dedupe);
  if (failed(k))
    return failure();
  FailureOr<SmallVector<int64_t>> v =
      addKVArguments(op, program.value, problem.valueView, "v", list, dedupe);
  if (failed(v))
    return failure();
  args.keyStorage = *k;
  args.valueStorage = *v;
  // The entry function's operand order: q, k, v, [bias], [mask],
  // [key_lengths], [sinks].
  auto addOptional = [&](Value tensor, StringRef name,
                         std::optional<int64_t> &index) -> LogicalResult {
    if (!tensor)
      return success();
    FailureOr<Value> memref = getHostMemref(op, tensor, name);
    if (failed(memref))
      return failure();
    index = list.add(*memref, name, ArgumentRole::Input);
    return success();
  };
  if (failed(addOptional(program.bias, "bias", args.bias)) ||
      failed(addOptional(program.mask, "mask", args.mask)) ||
      failed(addOptional(program.keyLengths, "key_lengths", args.keyLengths)) ||
      failed(addOptional(program.cuSeqlensQ, "cu_seqlens_q",
                         args.cuSeqlensQ)) ||
      failed(addOptional(program.cuSeqlensK, "cu_seqlens_k",
                         args.cuSeqlensK)) ||
      failed(addOptional(program.sinks, "sinks", args.sinks)))
    return failure();
  size_t firstOutput = list.values.size();
  FailureOr<int64_t> output = addResultArguments(program, list);
  if (failed(output))
    return failure();
  args.output = *output;
  if (problem.withLse)
    args.lse = firstOutput + 1;
  addLengthArguments(program, problem, list, args);
  if (problem.varlen)
    addVarlenLengthArguments(program, problem, list, args);
  return success();
}

/// The symbol of dim `axis` of a host memref: B, or the sequence length
/// (`seq`: Lq or Lk) of dim 2 (the rows of LSE are Lq too).
static StringRef lengthSymbol(int64_t axis, StringRef seq) {
  return axis == 0 ? "B" : seq;
}

void mlir::attn::detail::addLengthArguments(const TiledProgram &program,
                                            const KernelProblem &problem,
                                            KernelArgumentList &list,
                                            AttentionArguments &args) {
  if (!problem.hasDynamicLengths())
    return;
  // Read on the host before the program; the launch follows it.
  scf::ForallOp forall = program.forall;
  OpBuilder b(forall);
  Location loc = forall.getLoc();
  auto hostLength = [&](int64_t memrefArg, int64_t axis) -> Value {
    Value dim = memref::DimOp::create(b, loc, list.values[memrefArg], axis);
    return arith::IndexCastOp::create(b, loc, b.getI32Type(), dim);
  };
  if (problem.dynamicBatch)
    args.batchLength = list.add(hostLength(args.query, 0), "B",
                                ArgumentRole::Length, /*dedupe=*/false);
  // The sequence dim: 2 in bhsd, 1 in bshd (a varlen batch's packed rows).
  int64_t seqAxis = problem.layout == Layout::BSHD ? 1 : 2;
  if (problem.dynamicSeqQ)
    args.seqQLength = list.add(hostLength(args.query, seqAxis), "Lq",
                               ArgumentRole::Length, /*dedupe=*/false);
  if (problem.dynamicSeqK)
    args.seqKLength =
        list.add(hostLength(args.keyStorage.front(), seqAxis), "Lk",
                 ArgumentRole::Length, /*dedupe=*/false);
  // Which length each dynamic dim of a memref argument is.
  auto record = [&](int64_t i, StringRef seq) {
    auto type = cast<MemRefType>(list.values[i].getType());
    SmallVector<std::string> symbols;
    for (int64_t axis = 0; axis < type.getRank(); ++axis)
      symbols.push_back(type.isDynamicDim(axis)
                            ? lengthSymbol(axis, seq).str()
                            : std::string());
    if (!type.hasStaticShape())
      list.dimSymbols[i] = symbols;
  };
  record(args.query, "Lq");
  for (int64_t i : args.keyStorage)
    record(i, "Lk");
  for (int64_t i : args.valueStorage)
    record(i, "Lk");
  if (args.keyLengths)
    record(*args.keyLengths, "B");
  record(args.output, "Lq");
  if (args.lse)
    record(*args.lse, "Lq");
}

LogicalResult mlir::attn::detail::matchAppendWriteBack(
    const TiledProgram &program, Operation *view, bool &writeBack,
    KernelArgumentList &list) {
  auto append = dyn_cast_or_null<KVAppendOp>(view);
  if (!append)
    return success();
  Operation *op = program.forall;
  FailureOr<Value> cache =
      getHostMemref(op, append.getCache(), "the storage of K and V views");
  if (failed(cache))
    return failure();
  for (Operation *user : append->getUsers()) {
    if (program.contains(user))
      continue;
    auto store = dyn_cast<bufferization::MaterializeInDestinationOp>(user);
    if (!store || store.getDest() != *cache)
      return op->emitOpError("expected the result of ")
             << append->getName()
             << " to be used only by the attention and a store back into "
                "its own cache on the GPU path";
    writeBack = true;
    if (!llvm::is_contained(list.stores, store.getOperation()))
      list.stores.push_back(store);
    for (auto [value, role] : llvm::zip(list.values, list.roles))
      if (value == *cache)
        role = ArgumentRole::InOut;
  }
  return success();
}

FailureOr<KernelProblem> mlir::attn::detail::getProgramProblem(
    const TiledProgram &program) {
  KernelInfoAttr info = program.info;
  KernelProblem p;
  p.batch = info.getBatch();
  p.headsQ = info.getHeadsQ();
  p.headsKV = info.getHeadsKv();
  p.seqQ = info.getSeqQ();
  p.seqK = info.getSeqK();
  p.headDim = info.getHeadDim();
  p.valueHeadDim = info.getValueHeadDim();
  p.isBF16 = info.getQueryType().isBF16();
  p.withLse = info.getLse().getValue();
  p.withKeyLengths = info.getKeyLengths().getValue();
  p.keyView = program.keyView;
  p.valueView = program.valueView;
  p.scale = info.getScale().getValueAsDouble();
  if (FloatAttr softcap = info.getSoftcap())
    p.softcap = softcap.getValueAsDouble();
  p.headOffset = info.getHeadOffset();
  // The step names heads globally; the kernel indexes this shard's slopes
  // by local head.
  OnlineStepOp step = program.step;
  if (std::optional<ArrayRef<double>> slopes = step.getAlibiSlopes())
    llvm::append_range(p.alibiSlopes, slopes->slice(p.headOffset, p.headsQ));
  if (!step.getScoreMod().empty())
    p.scoreMod = &step.getScoreMod();
  if (!step.getMaskMod().empty())
    p.maskMod = &step.getMaskMod();
  auto shapeOf = [](Value v) {
    return llvm::to_vector(cast<RankedTensorType>(v.getType()).getShape());
  };
  if (program.bias) {
    Type elt = cast<RankedTensorType>(program.bias.getType()).getElementType();
    p.biasShape = shapeOf(program.bias);
    p.biasBytes = elt.getIntOrFloatBitWidth() / 8;
    p.biasIsBF16 = elt.isBF16();
  }
  if (program.mask)
    p.maskShape = shapeOf(program.mask);
  p.withSinks = static_cast<bool>(program.sinks);
  std::optional<ArrayRef<int64_t>> window;
  if (DenseI64ArrayAttr extents = info.getWindow())
    window = extents.asArrayRef();
  p.visibility = KeyVisibility::get(info.getMask(), window);
  // Runtime lengths: the kernel's parameters, nothing static to offset by.
  auto runtime = [](int64_t &extent, bool &dynamic) {
    dynamic = extent == kRuntimeLength;
    if (dynamic)
      extent = ShapedType::kDynamic;
  };
  runtime(p.batch, p.dynamicBatch);
  runtime(p.seqQ, p.dynamicSeqQ);
  runtime(p.seqK, p.dynamicSeqK);
  if (info.getVarlen()) {
    int64_t offsets =
        cast<ShapedType>(program.cuSeqlensQ.getType()).getDimSize(0);
    p.varlen = true;
    p.varlenCache = !program.cuSeqlensK;
    p.numSequences =
        ShapedType::isDynamic(offsets) ? ShapedType::kDynamic : offsets - 1;
    if (failed(getVarlenStrides(program.forall, program.query, program.key,
                                program.value, program.results.front(), p)))
      return failure();
    return p;
  }
  if (p.hasDynamicLengths()) {
    if (failed(getRuntimeLengthStrides(
            program.forall, info.getLayout(), program.query, program.key,
            program.value, program.results.front(), p)))
      return failure();
    return p;
  }
  ConstArith constants;
  p.diagOffset = p.visibility.diagonal(constants, p.seqQ, p.seqK);
  if (failed(getProblemStrides(program.forall, info.getLayout(), program.query,
                               program.key, program.value,
                               program.results.front(), p)))
    return failure();
  return p;
}
