//===- RoundingKernel.cpp - f32 <-> bf16 / f16 conversion kernels ---------===//
//
// Part of attn-mlir. The launches f32-compute adds around a family's kernel
// (KernelArgumentList::Rounding): an f32 Q, K or V narrowed into the dense
// workspace the kernel reads, and the kernel's bf16 / f16 O widened into the
// caller's f32 O. Both memrefs are dense with one shape, so a thread
// converts 8 consecutive elements: two 16-byte f32 accesses and one 16-byte
// bf16 / f16 access, a warp's accesses contiguous.
//
//===----------------------------------------------------------------------===//

#include "RoundingKernel.h"

#include "mlir/IR/ImplicitLocOpBuilder.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "llvm/Support/MathExtras.h"

using namespace mlir;
using namespace mlir::attn;
using namespace mlir::attn::detail;

std::string mlir::attn::detail::getRoundedCopyName(StringRef original,
                                                   Type element) {
  return (original + (element.isBF16() ? "_bf16" : "_f16")).str();
}

FailureOr<RoundingLaunch> mlir::attn::detail::planRoundingLaunch(
    Operation *anchor, ArrayRef<Value> arguments, ArrayRef<std::string> names,
    const RoundingCopy &copy) {
  // The caller's f32 memref names the launch.
  const std::string &name = names[copy.widen ? copy.target : copy.source];
  int64_t elements =
      cast<MemRefType>(arguments[copy.source].getType()).getNumElements();
  if (elements % kRoundingElements != 0)
    return anchor->emitOpError("expected the f32-compute operand '")
           << name << "' to hold a multiple of " << kRoundingElements
           << " elements";
  RoundingLaunch launch;
  launch.blocks =
      llvm::divideCeil(elements / kRoundingElements, kRoundingThreads);
  launch.suffix = (copy.widen ? "_widen_" : "_round_") + name;
  launch.gridFormula = "[" + std::to_string(launch.blocks) + ", 1, 1]";
  return launch;
}

void mlir::attn::detail::emitRoundingKernel(gpu::GPUFuncOp func,
                                            ArrayRef<Value> arguments,
                                            const RoundingCopy &rounding) {
  const int64_t threads = kRoundingThreads;
  Block &body = func.getBody().front();
  auto b = ImplicitLocOpBuilder::atBlockBegin(func.getLoc(), &body);
  auto sourceType = cast<MemRefType>(arguments[rounding.source].getType());
  auto targetType = cast<MemRefType>(arguments[rounding.target].getType());
  int64_t chunks = sourceType.getNumElements() / kRoundingElements;
  Type i64 = b.getI64Type();
  auto ptrGlobal = LLVM::LLVMPointerType::get(b.getContext(), 1);
  auto pointer = [&](int64_t argument) -> Value {
    Value index = memref::ExtractAlignedPointerAsIndexOp::create(
        b, body.getArgument(argument));
    Value address = arith::IndexCastUIOp::create(b, i64, index);
    return LLVM::IntToPtrOp::create(b, ptrGlobal, address);
  };
  auto toI64 = [&](Value index) -> Value {
    return arith::IndexCastUIOp::create(b, i64, index);
  };
  auto c64 = [&](int64_t v) -> Value {
    return arith::ConstantIntOp::create(b, i64, v);
  };
  // 64-bit: an f32 tensor of the GPU path's 2^40-byte limit has 2^35
  // chunks.
  Value chunk = arith::AddIOp::create(
      b,
      arith::MulIOp::create(
          b, toI64(gpu::BlockIdOp::create(b, gpu::Dimension::x)), c64(threads)),
      toI64(gpu::ThreadIdOp::create(b, gpu::Dimension::x)));
  Value inside =
      arith::CmpIOp::create(b, arith::CmpIPredicate::ult, chunk, c64(chunks));
  auto guard = scf::IfOp::create(b, inside, /*withElseRegion=*/false);
  b.setInsertionPointToStart(guard.thenBlock());
  auto vectorOf = [&](MemRefType type) {
    return VectorType::get({kRoundingElements}, type.getElementType());
  };
  auto address = [&](int64_t argument, MemRefType type) -> Value {
    int64_t bytes =
        kRoundingElements * type.getElementType().getIntOrFloatBitWidth() / 8;
    return LLVM::GEPOp::create(
        b, ptrGlobal, b.getI8Type(), pointer(argument),
        ValueRange{arith::MulIOp::create(b, chunk, c64(bytes))});
  };
  Value loaded = LLVM::LoadOp::create(b, vectorOf(sourceType),
                                      address(rounding.source, sourceType),
                                      /*alignment=*/16);
  Value converted =
      rounding.widen
          ? LLVM::FPExtOp::create(b, vectorOf(targetType), loaded).getResult()
          : LLVM::FPTruncOp::create(b, vectorOf(targetType), loaded)
                .getResult();
  LLVM::StoreOp::create(b, converted, address(rounding.target, targetType),
                        /*alignment=*/16);
  b.setInsertionPointToEnd(&body);
  gpu::ReturnOp::create(b);
}
