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

//===----------------------------------------------------------------------===//
// Kernel info: the launch contract convert-attn-to-nvvm records on a kernel
// and its launch, from which lib/Target writes the manifest (the runtime's
// attn::runtime::Manifest, docs/Runtime.md).
//===----------------------------------------------------------------------===//

def Attn_ArgumentRole : I32EnumAttr<"ArgumentRole", "what a kernel argument is for", [
    I32EnumAttrCase<"Input", 0, "input">,
    I32EnumAttrCase<"Output", 1, "output">,
    I32EnumAttrCase<"InOut", 2, "inout">,
    I32EnumAttrCase<"Workspace", 3, "workspace">,
    // An i32 runtime length (B, Lq or Lk of dynamic dims) the runtime reads
    // from the tensors' shapes and passes by value.
    I32EnumAttrCase<"Length", 4, "length">,
    // A CUDA tensor map (TMA descriptor) of another argument, built by the
    // runtime at launch from that argument's pointer, shape and strides and
    // passed by value (a 128-byte __grid_constant__ parameter).
    I32EnumAttrCase<"TensorMap", 5, "tensor_map">,
    // A workspace the program writes before any launch reads it (the
    // rounded copies of f32-compute): provided as a workspace, never
    // zero-filled (the manifest's zero_init is false).
    I32EnumAttrCase<"Scratch", 6, "scratch">]> {
  let genSpecializedAttr = 0;
  let cppNamespace = "::mlir::attn";
}

def Attn_TensorMapAttr : AttrDef<Attn_Dialect, "TensorMap"> {
  let mnemonic = "tensor_map";
  let summary = "the TMA tensor map a kernel argument is built as";
  let description = [{
    What the runtime encodes (cuTensorMapEncodeTiled) for a `tensor_map`
    kernel argument: the tensor of the kernel argument named `source`, with
    its shape and strides as the launch passes them; `box` is the extent of
    one copy per dim of that tensor (outermost first, as its shape), and
    `swizzle` the shared-memory swizzle span in bytes (0, 32, 64 or 128).
    Elements outside the tensor read as zeros.

    ```mlir
    #attn.tensor_map<"k", box = [1, 1, 128, 64], swizzle = 128>
    ```
  }];
  let parameters = (ins StringRefParameter<"source argument name">:$source,
                        ArrayRefParameter<"int64_t", "box extents">:$box,
                        "int64_t":$swizzle);
  let assemblyFormat =
      "`<` $source `,` `box` `=` `[` $box `]` `,` `swizzle` `=` $swizzle `>`";
  let genVerifyDecl = 1;
}

def Attn_KernelArgumentAttr : AttrDef<Attn_Dialect, "KernelArgument"> {
  let mnemonic = "kernel_arg";
  let summary = "name and role of one kernel argument";
  let description = [{
    One parameter of a generated kernel: `input`, `output`, `inout`
    (read and updated in place, e.g. a KV cache a fused append writes),
    `workspace` (scratch the runtime or the caller's allocator provides,
    never a caller tensor, zero-filled before first use), `scratch` (a
    workspace the program writes before it reads it: not zero-filled),
    `length` (an i32 runtime length) or
    `tensor_map` (a TMA descriptor of another argument, which the
    `#attn.tensor_map` says how to build).

    ```mlir
    #attn.kernel_arg<"partial_o", workspace>
    #attn.kernel_arg<"k_tensor_map", tensor_map, #attn.tensor_map<"k", box = [1, 1, 128, 64], swizzle = 128>>
    ```
  }];
  let parameters = (ins StringRefParameter<"argument name">:$name,
                        AttrParameter<"::mlir::attn::ArgumentRole",
                                      "input, output, inout, workspace, "
                                      "length, tensor_map or scratch">:$role,
                        OptionalParameter<"::mlir::attn::TensorMapAttr">:$tensor_map);
  let assemblyFormat = "`<` $name `,` $role (`,` $tensor_map^)? `>`";
  let genVerifyDecl = 1;
}

def Attn_TileSizesAttr : AttrDef<Attn_Dialect, "TileSizes"> {
  let mnemonic = "tile_sizes";
  let summary = "the tiles attn-tile cuts one attention op into";
  let description = [{
    Put on an `attn.attention` (as `attn.tile_sizes`) by a pass that decides
    its schedule, e.g. `attn-plan-gpu-kernels` for the kernel family it
    chose; `attn-tile` then uses these instead of its own options, so the
    tiled programs are the kernel's CTAs: `block_m` query rows of
    `pack_gqa ? Hq / Hkv : 1` heads per program, KV blocks of `block_n`
    keys, `num_splits` programs over the keys of each.

    ```mlir
    #attn.tile_sizes<block_m = 128, block_n = 64, pack_gqa = false, num_splits = 1>
    ```
  }];
  let parameters = (ins "int64_t":$block_m, "int64_t":$block_n,
                        "bool":$pack_gqa, "int64_t":$num_splits);
  let assemblyFormat = "`<` struct(params) `>`";
  let genVerifyDecl = 1;
  let extraClassDeclaration = [{
    static constexpr ::llvm::StringLiteral getAttributeName() {
      return ::llvm::StringLiteral("attn.tile_sizes");
    }
  }];
}

def Attn_BackwardScheduleAttr : AttrDef<Attn_Dialect, "BackwardSchedule"> {
  let mnemonic = "backward_schedule";
  let summary = "the schedule of one attention backward: its tiling and the "
                "GPU kernels' choices";
  let description = [{
    Put on an `attn.attention_backward` (as `attn.backward_schedule`) by
    `attn-plan-gpu-backward`. `attn-tile-backward` cuts the op with its
    `block_m` (query rows per step of the inner loop), `block_n` (keys per
    program) and `deterministic` (the dQ accumulation in KV-block order)
    instead of its own options, and leaves the attribute on the program's
    `scf.forall`, so the tiled IR is the kernels' schedule: the forall's KV
    blocks are the main kernel's CTAs, its query loop their loop.
    `convert-attn-backward-to-nvvm` reads the tiles and the dQ strategy from
    that IR and the kernels' other choices, which the IR does not show,
    from here: the deterministic dQ kernel's `dq_block_m` query rows per
    CTA, how the atomic program adds dQ (`dq_reduction`: `atom`, `red-v2`
    or `red-v4`), `rotate_q_blocks`, `square_warp_tiles` and
    `dq_warp_rows` (16 or 32), all resolved (no `auto`), and `hopper`:
    the main kernel is the sm_90a wgmma one (convert-attn-backward-to-nvvm
    documents it; printed only when set).

    ```mlir
    #attn.backward_schedule<block_m = 64, block_n = 128, deterministic = false,
      dq_block_m = 64, dq_reduction = "red-v2", rotate_q_blocks = true,
      square_warp_tiles = true, dq_warp_rows = 16>
    ```
  }];
  let parameters = (ins "int64_t":$block_m, "int64_t":$block_n,
                        "bool":$deterministic, "int64_t":$dq_block_m,
                        StringRefParameter<"atom, red-v2 or red-v4">:$dq_reduction,
                        "bool":$rotate_q_blocks, "bool":$square_warp_tiles,
                        "int64_t":$dq_warp_rows,
                        DefaultValuedParameter<"bool", "false">:$hopper);
  let assemblyFormat = "`<` struct(params) `>`";
  let genVerifyDecl = 1;
  let extraClassDeclaration = [{
    static constexpr ::llvm::StringLiteral getAttributeName() {
      return ::llvm::StringLiteral("attn.backward_schedule");
    }
  }];
}

def Attn_KernelInfoAttr : AttrDef<Attn_Dialect, "KernelInfo"> {
  let mnemonic = "kernel_info";
  let summary = "the launch contract and the attention of a generated kernel";
  let description = [{
    What the runtime needs beyond the kernel's signature and launch
    dimensions, as convert-attn-to-nvvm decided it: the kernel family, the
    grid formula, dynamic shared memory, the family's tile parameters (0
    where a family has none), one `#attn.kernel_arg` per kernel operand, and
    the attention the kernel computes (from the `attn.attention` op it
    replaced), which the manifest records so that a host can check a kernel
    against its request. `batch`, `seq_q` and `seq_k` are -1 for dynamic
    dims: lengths the runtime reads from the tensors and passes to the kernel
    (its `length` arguments) at launch. `varlen` marks a kernel over a
    packed batch (`cu_seqlens_q` / `cu_seqlens_k` arguments; `seq_q` and
    `seq_k` are then the packed totals T).

    ```mlir
    #attn.kernel_info<family = "prefill", grid_formula = "[ceil(Lq / block_m), B * Hq, 1]",
      shared_memory_bytes = 40960, block_m = 64, block_n = 64, num_warps = 4,
      arguments = [#attn.kernel_arg<"q", input>, ..., #attn.kernel_arg<"o", output>],
      mask = causal_bottom_right, scale = 0.125 : f64, layout = bhsd,
      query_type = bf16, key_type = bf16, value_type = bf16, output_type = bf16,
      batch = 1, heads_q = 2, heads_kv = 2, seq_q = 64, seq_k = 64, head_dim = 64,
      value_head_dim = 64, lse = false, key_lengths = false, alibi = false,
      score_mod = false, kv_view = "tensor">
    ```
  }];
  let parameters = (ins
    StringRefParameter<"kernel family: prefill or decode">:$family,
    StringRefParameter<"the grid as a formula of the problem">:$grid_formula,
    "int64_t":$shared_memory_bytes,
    DefaultValuedParameter<"int64_t", "0">:$block_m,
    DefaultValuedParameter<"int64_t", "0">:$block_n,
    DefaultValuedParameter<"int64_t", "0">:$num_warps,
    DefaultValuedParameter<"int64_t", "0">:$num_splits,
    DefaultValuedParameter<"int64_t", "0">:$keys_per_warp,
    DefaultValuedParameter<"int64_t", "0">:$stages,
    AttrParameter<"::mlir::ArrayAttr",
                       "one #attn.kernel_arg per kernel operand">:$arguments,
    AttrParameter<"::mlir::attn::MaskKind", "structural mask">:$mask,
    AttrParameter<"::mlir::FloatAttr", "effective scale">:$scale,
    OptionalParameter<"::mlir::FloatAttr", "soft-capping value">:$softcap,
    OptionalParameter<"::mlir::DenseI64ArrayAttr",
                      "sliding window (left, right)">:$window,
    AttrParameter<"::mlir::attn::Layout", "tensor layout">:$layout,
    "::mlir::Type":$query_type,
    "::mlir::Type":$key_type,
    "::mlir::Type":$value_type,
    "::mlir::Type":$output_type,
    "int64_t":$batch,
    "int64_t":$heads_q,
    "int64_t":$heads_kv,
    "int64_t":$seq_q,
    "int64_t":$seq_k,
    "int64_t":$head_dim,
    "int64_t":$value_head_dim,
    AttrParameter<"::mlir::BoolAttr", "has an LSE result">:$lse,
    AttrParameter<"::mlir::BoolAttr", "has key_lengths">:$key_lengths,
    AttrParameter<"::mlir::BoolAttr", "has ALiBi slopes">:$alibi,
    AttrParameter<"::mlir::BoolAttr", "has a score_mod">:$score_mod,
    StringRefParameter<"how K/V are read: tensor or the view op">:$kv_view,
    DefaultValuedParameter<"int64_t", "0",
                           "global head of local query head 0">:$head_offset,
    DefaultValuedParameter<"bool", "false",
                           "a varlen batch: packed [1, T, H, D] operands "
                           "with cu_seqlens_q / cu_seqlens_k">:$varlen
  );
  let assemblyFormat = "`<` struct(params) `>`";
  let genVerifyDecl = 1;
  let extraClassDeclaration = [{
    /// The discardable attribute name under which convert-attn-to-nvvm puts
    /// this on the gpu.func and on its gpu.launch_func.
    static constexpr ::llvm::StringLiteral getAttributeName() {
      return ::llvm::StringLiteral("attn.kernel_info");
    }
  }];
}

#endif // ATTN_ATTRS_TD
