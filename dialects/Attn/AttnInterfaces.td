//===- AttnInterfaces.td - attn dialect interfaces ---------*- tablegen -*-===//
//
// Part of attn-mlir.
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_INTERFACES_TD
#define ATTN_INTERFACES_TD

include "mlir/IR/OpBase.td"

def Attn_KVCacheViewInterface : OpInterface<"KVCacheViewInterface"> {
  let cppNamespace = "::mlir::attn";
  let description = [{
    The KV cache hook. An op with this interface produces the logical dense
    key or value tensor `[B, Hkv, L, D]` of an attention from whatever
    storage a serving system keeps its cache in (pages and a block table,
    a ring buffer, ...). Code generators never read the storage themselves:
    they ask the view for the tile they need, so a host compiler plugs in
    its own cache layout by implementing this interface on its own op, with
    no change to the attention kernels.
  }];
  let methods = [
    InterfaceMethod<[{
        Builds the `[size, D]` tile holding rows `start .. start + size - 1`
        of (`batch`, `kvHead`) of the view. Rows at or past the view's
        length read its last row (the caller masks them).
      }],
      "::mlir::Value", "buildTile",
      (ins "::mlir::OpBuilder &":$builder, "::mlir::Location":$loc,
           "::mlir::Value":$batch, "::mlir::Value":$kvHead,
           "::mlir::Value":$start, "int64_t":$size)>,
    InterfaceMethod<[{
        The order of the view's dims: `bhsd` (`[B, Hkv, L, D]`, the default)
        or `bshd` (`[B, L, Hkv, D]`, for an attention in the bshd layout).
        The tile and address hooks take (batch, head, row) either way.
      }],
      "::mlir::attn::Layout", "getViewLayout", (ins), [{}],
      [{ return ::mlir::attn::Layout::BHSD; }]>,
    InterfaceMethod<[{
        Materialises the whole `[B, Hkv, L, D]` view (the reference path;
        `[B, L, Hkv, D]` for a bshd view).
      }],
      "::mlir::Value", "buildDense",
      (ins "::mlir::OpBuilder &":$builder, "::mlir::Location":$loc)>,
    InterfaceMethod<[{
        The address hook of GPU code generators, part 1: the tensors the
        view reads its rows from (they become kernel arguments). Rows are
        read from the first one; the others hold indirection (block tables,
        offsets). Empty: the view has no address-level form, and GPU
        lowerings reject it with a diagnostic.
      }],
      "::llvm::SmallVector<::mlir::Value>", "getStorage", (ins), [{}],
      [{ return {}; }]>,
    InterfaceMethod<[{
        The address hook: how many of the leading storage buffers rows are
        read from (1 for most layouts; 2 when, e.g., new tokens and the old
        cache rows live in different buffers).
      }],
      "int64_t", "getNumRowStorages", (ins), [{}], [{ return 1; }]>,
    InterfaceMethod<[{
        The address hook, when getNumRowStorages() > 1: builds, inside a
        kernel, the index (index type, < getNumRowStorages()) of the storage
        buffer row `row` of (`batch`, `kvHead`) is read from. Null (the
        default): buffer 0.
      }],
      "::mlir::Value", "buildRowStorageIndex",
      (ins "::mlir::OpBuilder &":$builder, "::mlir::Location":$loc,
           "::mlir::ValueRange":$storage, "::mlir::Value":$batch,
           "::mlir::Value":$kvHead, "::mlir::Value":$row), [{}],
      [{ return {}; }]>,
    InterfaceMethod<[{
        The address hook, part 2: builds, inside a kernel, the element offset
        (index) of element 0 of row `row` of (`batch`, `kvHead`) in the
        storage buffer it is read from (the first one unless
        buildRowStorageIndex says otherwise), whose `D` elements from there
        are the row. The
        offset may depend on the row storages only through their types (K
        and V views of one kind over the same indirection share one address
        computation).
        `storage` holds the kernel-side memrefs of getStorage(), in order; the
        hook may read the others with memref.load. `row` is in
        `[0, L)` (callers clamp). Generators call it once per row they copy,
        so it should be a handful of integer ops and loads.
      }],
      "::mlir::Value", "buildRowOffset",
      (ins "::mlir::OpBuilder &":$builder, "::mlir::Location":$loc,
           "::mlir::ValueRange":$storage, "::mlir::Value":$batch,
           "::mlir::Value":$kvHead, "::mlir::Value":$row), [{}],
      [{ return {}; }]>,
  ];
}

#endif // ATTN_INTERFACES_TD
