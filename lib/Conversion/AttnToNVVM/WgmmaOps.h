//===- WgmmaOps.h - wgmma building blocks of the sm_90a kernels -*- C++ -*-===//
//
// Part of attn-mlir. What both sm_90a families emit around wgmma: the
// shared-memory descriptors of 128B-swizzled 64-column panels (HopperKernel.cpp
// has the layout), wgmma.mma_async with A from registers or from shared
// memory (either operand K-major or MN-major), and the empty asm ties that
// keep LLVM from reading asynchronous accumulators before their wait. The
// hopper forward's consumers (HopperConsumer.cpp) and the hopper backward
// (BackwardHopper.cpp) build on these.
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_LIB_CONVERSION_ATTNTONVVM_WGMMAOPS_H
#define ATTN_LIB_CONVERSION_ATTNTONVVM_WGMMAOPS_H

#include "mlir/IR/ImplicitLocOpBuilder.h"

namespace mlir::attn::detail {

class WgmmaOps {
public:
  WgmmaOps(ImplicitLocOpBuilder &b, bool isBF16) : b(b), isBF16(isBF16) {}

  /// A wgmma shared-memory descriptor of the 128B-swizzled tile starting at
  /// shared address `address` (i32): leading / stride byte offsets `lbo`,
  /// `sbo`.
  Value descriptor(Value address, int64_t lbo, int64_t sbo);
  /// acc = A * B + acc on one wgmma m64nNk16 (N = 2 * acc.size()), A from
  /// the four registers `a`, B through `desc` (MN-major when `transposeB`).
  void wgmma(MutableArrayRef<Value> acc, ArrayRef<Value> a, Value desc,
             bool transposeB);
  /// The same with A through the descriptor `descA` too; each operand
  /// K-major unless its transpose flag makes it MN-major. Without
  /// `accumulate` (scale-d 0) acc = A * B: `acc` may then be poison, so
  /// that no zeros are moved into accumulator registers (ptxas waits for
  /// every wgmma in flight before a register a wgmma defines is read).
  void wgmmaShared(MutableArrayRef<Value> acc, Value descA, Value descB,
                   bool transposeA = false, bool transposeB = false,
                   bool accumulate = true);
  /// `n` poison f32 values: the accumulators of a chain whose first wgmma
  /// does not accumulate.
  SmallVector<Value> freshAccumulators(int64_t n);
  /// Issues `asmString` with the f32 accumulators `acc` as outputs tied to
  /// inputs after `operands` (constraints `operandConstraints`), and takes
  /// the results back into `acc`: the frame of both wgmma forms.
  void issueOnAccumulators(MutableArrayRef<Value> acc, StringRef asmString,
                           StringRef operandConstraints,
                           ArrayRef<Value> operands);
  /// A side-effecting empty asm returning `values` (constraint letter
  /// `kind`, type `type`) unchanged.
  void tieThroughAsm(MutableArrayRef<Value> values, char kind, Type type);
  /// Ties the f32 `values` to a point after the preceding wgmma.wait_group:
  /// LLVM sees the accumulators defined at the (asynchronous) wgmma, so
  /// without this it could read them before the wait.
  void fenceOperands(MutableArrayRef<Value> values);
  /// Pins the i32 `values` (A fragments) before the next wgmma.fence, so
  /// that no conversion lands between two wgmmas of a chain (ptxas would
  /// then insert a warpgroup.arrive before each).
  void pinRegisters(MutableArrayRef<Value> values);

private:
  ImplicitLocOpBuilder &b;
  bool isBF16;
};

} // namespace mlir::attn::detail

#endif // ATTN_LIB_CONVERSION_ATTNTONVVM_WGMMAOPS_H
