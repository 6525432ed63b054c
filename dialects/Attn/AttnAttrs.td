//===- AttnAttrs.td - attn dialect attributes --------------*- tablegen -*-===//
//
// Part of attn-mlir.
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_ATTRS_TD
#define ATTN_ATTRS_TD

include "Attn/AttnDialect.td"
include "mlir/IR/AttrTypeBase.td"
include "mlir/IR/EnumAttr.td"

def Attn_MaskKind : I32EnumAttr<"MaskKind", "structural attention mask", [
    I32EnumAttrCase<"None", 0, "none">,
    I32EnumAttrCase<"CausalTopLeft", 1, "causal_top_left">,
    I32EnumAttrCase<"CausalBottomRight", 2, "causal_bottom_right">,
    I32EnumAttrCase<"SlidingWindow", 3, "sliding_window">]> {
  let genSpecializedAttr = 0;
  let cppNamespace = "::mlir::attn";
}

def Attn_MaskKindAttr : EnumAttr<Attn_Dialect, Attn_MaskKind, "mask"> {
  let summary = "structural mask: none, causal (top-left or bottom-right "
                "aligned) or sliding window";
  let assemblyFormat = "`<` $value `>`";
}

def Attn_Layout : I32EnumAttr<"Layout", "memory layout of Q/K/V/O", [
    I32EnumAttrCase<"BHSD", 0, "bhsd">,
    I32EnumAttrCase<"BSHD", 1, "bshd">]> {
  let genSpecializedAttr = 0;
  let cppNamespace = "::mlir::attn";
}

def Attn_LayoutAttr : EnumAttr<Attn_Dialect, Attn_Layout, "layout"> {
  let summary = "dimension order of the query, key, value and output tensors";
  let assemblyFormat = "`<` $value `>`";
}

#endif // ATTN_ATTRS_TD
