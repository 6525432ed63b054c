//===- WgmmaOps.cpp - wgmma building blocks of the sm_90a kernels ---------===//
//
// Part of attn-mlir. See WgmmaOps.h.
//
//===----------------------------------------------------------------------===//

#include "WgmmaOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "llvm/Support/raw_ostream.h"

using namespace mlir;
using namespace mlir::attn::detail;

Value WgmmaOps::descriptor(Value address, int64_t lbo, int64_t sbo) {
  // Bits 0-13: address >> 4; 16-29: LBO >> 4; 32-45: SBO >> 4; 62-63: 1
  // (128B swizzle). Base offset 0: atoms are 1024-byte aligned.
  Type i32 = b.getI32Type(), i64 = b.getI64Type();
  int64_t fixed = ((lbo >> 4) << 16) | ((sbo >> 4) << 32) | (int64_t(1) << 62);
  Value shifted = arith::ShRUIOp::create(
      b, address, arith::ConstantIntOp::create(b, i32, 4));
  Value masked = arith::AndIOp::create(
      b, shifted, arith::ConstantIntOp::create(b, i32, 0x3FFF));
  Value lo = arith::ExtUIOp::create(b, i64, masked);
  return arith::OrIOp::create(b, lo, arith::ConstantIntOp::create(b, i64, fixed));
}

void WgmmaOps::wgmma(MutableArrayRef<Value> acc, ArrayRef<Value> a,
                     Value desc, bool transposeB) {
  int64_t n = acc.size();
  std::string asmString;
  llvm::raw_string_ostream os(asmString);
  // Operands: $0..$n-1 the accumulators (outputs, tied to the last n
  // inputs), $n..$n+3 the A registers, $n+4 the B descriptor, $n+5 the
  // scale-d flag (1: accumulate).
  os << "{\n.reg .pred p;\nsetp.ne.b32 p, $" << n + 5 << ", 0;\n"
     << "wgmma.mma_async.sync.aligned.m64n" << 2 * n << "k16.f32."
     << (isBF16 ? "bf16.bf16" : "f16.f16") << " {";
  for (int64_t i = 0; i < n; ++i)
    os << (i ? ", " : "") << "$" << i;
  os << "}, {$" << n << ", $" << n + 1 << ", $" << n + 2 << ", $" << n + 3
     << "}, $" << n + 4 << ", p, 1, 1, " << (transposeB ? 1 : 0) << ";\n}";
  SmallVector<Value> operands(a);
  operands.push_back(desc);
  operands.push_back(arith::ConstantIntOp::create(b, b.getI32Type(), 1));
  issueOnAccumulators(acc, asmString, "r,r,r,r,l,r", operands);
}

void WgmmaOps::wgmmaShared(MutableArrayRef<Value> acc, Value descA, Value descB,
                           bool transposeA, bool transposeB, bool accumulate) {
  int64_t n = acc.size();
  std::string asmString;
  llvm::raw_string_ostream os(asmString);
  // $0..$n-1 the accumulators, $n / $n+1 the A / B descriptors, $n+2 the
  // scale-d flag; the transpose immediates make an operand MN-major.
  os << "{\n.reg .pred p;\nsetp.ne.b32 p, $" << n + 2 << ", 0;\n"
     << "wgmma.mma_async.sync.aligned.m64n" << 2 * n << "k16.f32."
     << (isBF16 ? "bf16.bf16" : "f16.f16") << " {";
  for (int64_t i = 0; i < n; ++i)
    os << (i ? ", " : "") << "$" << i;
  os << "}, $" << n << ", $" << n + 1 << ", p, 1, 1, " << (transposeA ? 1 : 0)
     << ", " << (transposeB ? 1 : 0) << ";\n}";
  issueOnAccumulators(
      acc, asmString, "l,l,r",
      {descA, descB,
       arith::ConstantIntOp::create(b, b.getI32Type(), accumulate ? 1 : 0)});
}

SmallVector<Value> WgmmaOps::freshAccumulators(int64_t n) {
  return SmallVector<Value>(n, LLVM::PoisonOp::create(b, b.getF32Type()));
}

void WgmmaOps::issueOnAccumulators(MutableArrayRef<Value> acc,
                                   StringRef asmString,
                                   StringRef operandConstraints,
                                   ArrayRef<Value> operands) {
  int64_t n = acc.size();
  std::string constraints;
  llvm::raw_string_ostream cs(constraints);
  for (int64_t i = 0; i < n; ++i)
    cs << "=f,";
  cs << operandConstraints;
  for (int64_t i = 0; i < n; ++i)
    cs << "," << i;
  SmallVector<Value> all(operands);
  all.append(acc.begin(), acc.end());
  auto structType = LLVM::LLVMStructType::getLiteral(
      b.getContext(), SmallVector<Type>(n, b.getF32Type()));
  Value res = LLVM::InlineAsmOp::create(
                  b, structType, all, asmString, cs.str(),
                  /*has_side_effects=*/true, /*is_align_stack=*/false,
                  LLVM::TailCallKind::None, LLVM::AsmDialectAttr(),
                  ArrayAttr())
                  .getResult(0);
  for (int64_t i = 0; i < n; ++i)
    acc[i] = LLVM::ExtractValueOp::create(b, res, i);
}

void WgmmaOps::tieThroughAsm(MutableArrayRef<Value> values, char kind,
                             Type type) {
  int64_t n = values.size();
  std::string constraints;
  llvm::raw_string_ostream cs(constraints);
  for (int64_t i = 0; i < n; ++i)
    cs << "=" << kind << ",";
  for (int64_t i = 0; i < n; ++i)
    cs << (i ? "," : "") << i;
  auto structType = LLVM::LLVMStructType::getLiteral(
      b.getContext(), SmallVector<Type>(n, type));
  Value res = LLVM::InlineAsmOp::create(
                  b, structType, ValueRange(values), "", constraints,
                  /*has_side_effects=*/true, /*is_align_stack=*/false,
                  LLVM::TailCallKind::None, LLVM::AsmDialectAttr(),
                  ArrayAttr())
                  .getResult(0);
  for (int64_t i = 0; i < n; ++i)
    values[i] = LLVM::ExtractValueOp::create(b, res, i);
}

void WgmmaOps::fenceOperands(MutableArrayRef<Value> values) {
  tieThroughAsm(values, 'f', b.getF32Type());
}

void WgmmaOps::pinRegisters(MutableArrayRef<Value> values) {
  tieThroughAsm(values, 'r', b.getI32Type());
}
