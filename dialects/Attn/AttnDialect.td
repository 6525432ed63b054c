//===- AttnDialect.td - attn dialect definition ------------*- tablegen -*-===//
//
// Part of attn-mlir. The attn dialect describes attention the way a front-end
// compiler sees it; every GPU kernel the project emits is lowered from it.
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_DIALECT_TD
#define ATTN_DIALECT_TD

include "mlir/IR/OpBase.td"

def Attn_Dialect : Dialect {
  let name = "attn";
  let cppNamespace = "::mlir::attn";
  let summary = "Attention as a first-class compiler operation";
  let description = [{
    The `attn` dialect models scaled dot-product attention as one operation,
    `attn.attention`, with the variants that models use expressed as
    attributes, operands and regions rather than as separate ops:

    * MHA, GQA and MQA are the same op, told apart by the head counts of the
      query and key/value operands (`Hq % Hkv == 0`).
    * Masks (causal with top-left or bottom-right alignment, sliding window),
      logit soft-capping and ALiBi are attributes.
    * User score and mask modifiers are regions compiled into the kernel.

    Passes lower the op step by step (tiling, online-softmax fusion,
    precision lowering, GPU mapping); each step can be run and printed alone.
  }];
  let useDefaultAttributePrinterParser = 1;
  let dependentDialects = ["::mlir::arith::ArithDialect"];
}

class Attn_Op<string mnemonic, list<Trait> traits = []>
    : Op<Attn_Dialect, mnemonic, traits>;

#endif // ATTN_DIALECT_TD
