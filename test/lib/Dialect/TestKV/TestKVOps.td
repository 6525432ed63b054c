//===- TestKVOps.td - a foreign KV cache layout for tests --*- tablegen -*-===//
//
// Part of attn-mlir's tests. The test_kv dialect stands for a host compiler's
// own dialect: it lives outside the attn dialect, is loaded into attn-opt as
// a dialect plugin, and plugs its cache layout into the attention kernels
// only through KVCacheViewInterface.
//
//===----------------------------------------------------------------------===//

#ifndef TEST_KV_OPS_TD
#define TEST_KV_OPS_TD

include "mlir/IR/OpBase.td"
include "mlir/Interfaces/SideEffectInterfaces.td"
include "Attn/AttnInterfaces.td"

def TestKV_Dialect : Dialect {
  let name = "test_kv";
  let cppNamespace = "::test_kv";
  let summary = "A host compiler's KV cache layouts (test only)";
  let description = [{
    Not part of attn-mlir. Tests load it as a dialect plugin to show that a
    cache layout the attn dialect knows nothing about feeds `attn.attention`
    through `KVCacheViewInterface` alone.
  }];
  // The interface methods build these when passes call them.
  let dependentDialects = [
    "::mlir::arith::ArithDialect",
    "::mlir::linalg::LinalgDialect",
    "::mlir::memref::MemRefDialect",
    "::mlir::tensor::TensorDialect",
  ];
}

class TestKV_Op<string mnemonic, list<Trait> traits = []>
    : Op<TestKV_Dialect, mnemonic, traits>;

def TestKV_RingViewOp : TestKV_Op<"ring_view", [Pure,
    DeclareOpInterfaceMethods<Attn_KVCacheViewInterface,
                              ["getStorage", "buildRowOffset"]>]> {
  let summary = "the dense [B, Hkv, Cap, D] view of a ring-buffer KV cache";
  let description = [{
    A ring buffer of the last `Cap` tokens of each sequence: `ring` is
    `[B, Hkv, Cap, D]` and `start` (i32 `[B]`, each in `[0, Cap)`) the slot
    of each sequence's oldest token. The view lists the tokens oldest first:

    ```
    view[b, h, l, d] = ring[b, h, (start[b] + l) mod Cap, d]
    ```

    with `L = Cap`.

    ```mlir
    %k = test_kv.ring_view %k_ring[%start] : tensor<2x2x40x16xf32>,
        tensor<2xi32> -> tensor<2x2x40x16xf32>
    ```
  }];
  let arguments = (ins RankedTensorOf<[F16, BF16, F32]>:$ring,
                       RankedTensorOf<[I32]>:$start);
  let results = (outs RankedTensorOf<[F16, BF16, F32]>:$view);
  let assemblyFormat = [{
    $ring `[` $start `]` attr-dict `:` type($ring) `,` type($start)
      `->` type($view)
  }];
  let hasVerifier = 1;
  let extraClassDeclaration = [{
    /// Cap, the number of slots per (sequence, head); static (verified).
    int64_t getCapacity() {
      return ::llvm::cast<::mlir::RankedTensorType>(getRing().getType())
          .getDimSize(2);
    }
  }];
}

#endif // TEST_KV_OPS_TD
