//===- OperandStrides.cpp - where the rows of a kernel operand lie --------===//
//
// Part of attn-mlir. The one place that turns an operand's layout (BHSD or
// BSHD) and its memref's strides into the element strides the kernels
// address it with (OperandStrides): every family forms row addresses from
// these, so a torch tensor of `.transpose(1, 2)` (a BSHD buffer seen as
// BHSD, or a strided memref) runs without a copy.
//
//===----------------------------------------------------------------------===//

#include "attn/Conversion/AttnToNVVM/AttnToNVVM.h"

#include "mlir/Dialect/Bufferization/IR/Bufferization.h"
#include "mlir/Dialect/Utils/IndexingUtils.h"
#include "mlir/IR/BuiltinTypes.h"

using namespace mlir;
using namespace mlir::attn;

/// The memref `tensor` is read from or stored into, or null.
static MemRefType getBackingMemRefType(Value tensor) {
  if (auto toTensor = tensor.getDefiningOp<bufferization::ToTensorOp>())
    return dyn_cast<MemRefType>(toTensor.getBuffer().getType());
  for (Operation *user : tensor.getUsers())
    if (auto store = dyn_cast<bufferization::MaterializeInDestinationOp>(user))
      if (auto type = dyn_cast<MemRefType>(store.getDest().getType()))
        return type;
  return {};
}

static std::string stridesString(ArrayRef<int64_t> strides) {
  std::string s = "[";
  for (auto [i, stride] : llvm::enumerate(strides))
    s += (i ? ", " : "") + (ShapedType::isDynamic(stride)
                                ? std::string("?")
                                : std::to_string(stride));
  return s + "]";
}

FailureOr<OperandStrides> mlir::attn::getOperandStrides(Operation *anchor,
                                                        Value tensor,
                                                        Layout layout,
                                                        StringRef what) {
  auto type = cast<ShapedType>(tensor.getType());
  if (type.getRank() != 4 || !type.hasStaticShape())
    return anchor->emitOpError("expected a static 4-D ") << what;
  SmallVector<int64_t> strides;
  if (MemRefType memref = getBackingMemRefType(tensor)) {
    int64_t offset = 0;
    if (failed(memref.getStridesAndOffset(strides, offset)) ||
        llvm::any_of(strides, ShapedType::isDynamic) ||
        ShapedType::isDynamic(offset))
      return anchor->emitOpError("expected static strides for ")
             << what << " on the GPU path, got " << memref;
    if (offset != 0)
      return anchor->emitOpError("expected a zero offset in the memref of ")
             << what << " on the GPU path (pass the pointer to its first "
             << "element), got " << memref;
  } else {
    strides = computeStrides(type.getShape());
  }
  if (strides[3] != 1)
    return anchor->emitOpError("expected a unit stride along the head dim "
                               "(innermost) of ")
           << what << " on the GPU path (the kernels copy 16-byte pieces "
           << "of a row), got strides " << stridesString(strides);
  // Rows are copied in 16-byte chunks of 2-byte elements.
  if (llvm::any_of(ArrayRef(strides).drop_back(),
                   [](int64_t s) { return s % 8 != 0; }))
    return anchor->emitOpError("expected the strides of ")
           << what << " to be multiples of 8 elements on the GPU path "
           << "(16-byte aligned rows), got " << stridesString(strides);
  bool bhsd = layout == Layout::BHSD;
  OperandStrides s;
  s.batch = strides[0];
  s.head = strides[bhsd ? 1 : 2];
  s.seq = strides[bhsd ? 2 : 1];
  // Row offsets within one (batch, head) are 32-bit in the kernels.
  int64_t rows = type.getDimSize(bhsd ? 2 : 1);
  if ((rows * s.seq + type.getDimSize(3)) * 2 >= (int64_t(1) << 31))
    return anchor->emitOpError("expected the rows of one head of ")
           << what << " to span under 2 GiB on the GPU path, got "
           << rows << " rows " << s.seq << " elements apart";
  return s;
}
