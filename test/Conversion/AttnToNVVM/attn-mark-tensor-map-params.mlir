// RUN: attn-opt %s --split-input-file --pass-pipeline="builtin.module(gpu.module(attn-mark-tensor-map-params))" --verify-diagnostics | FileCheck %s

// The tensor_map parameter of a lowered kernel (argument 1 per its
// kernel_info) becomes a 128-byte, 64-byte aligned byval __grid_constant__
// parameter (the CUtensorMap the runtime passes by value); the pointer
// parameter before it is left alone.
// CHECK-LABEL: gpu.module @attn_kernels
// CHECK: llvm.func @attention_kernel(%{{.*}}: !llvm.ptr, %{{.*}}: !llvm.ptr {llvm.align = 64 : i64, llvm.byval = !llvm.array<128 x i8>, nvvm.grid_constant})
gpu.module @attn_kernels {
  llvm.func @attention_kernel(%k: !llvm.ptr, %map: !llvm.ptr) attributes {nvvm.kernel, attn.kernel_info = #attn.kernel_info<family = "hopper", grid_formula = "[ceil(Lq / block_m), B * Hq, 1]", shared_memory_bytes = 66632, block_m = 128, block_n = 128, num_warps = 12, stages = 2, arguments = [#attn.kernel_arg<"k", input>, #attn.kernel_arg<"k_tensor_map", tensor_map, <"k", box = [1, 1, 128, 64], swizzle = 128>>], mask = none, scale = 1.250000e-01 : f64, layout = bhsd, query_type = bf16, key_type = bf16, value_type = bf16, output_type = bf16, batch = 1, heads_q = 4, heads_kv = 2, seq_q = 200, seq_k = 300, head_dim = 64, value_head_dim = 64, lse = false, key_lengths = false, alibi = false, score_mod = false, kv_view = "tensor">} {
    llvm.return
  }
}

// -----

// Kernels without tensor maps (and functions without kernel info) keep
// their parameters.
// CHECK-LABEL: gpu.module @plain
// CHECK: llvm.func @prefill_kernel(%{{.*}}: !llvm.ptr)
// CHECK-NOT: llvm.byval
gpu.module @plain {
  llvm.func @prefill_kernel(%q: !llvm.ptr) attributes {nvvm.kernel, attn.kernel_info = #attn.kernel_info<family = "prefill", grid_formula = "[ceil(Lq / block_m), B * Hq, 1]", shared_memory_bytes = 40960, block_m = 64, block_n = 64, num_warps = 4, arguments = [#attn.kernel_arg<"q", input>], mask = none, scale = 1.250000e-01 : f64, layout = bhsd, query_type = bf16, key_type = bf16, value_type = bf16, output_type = bf16, batch = 1, heads_q = 2, heads_kv = 2, seq_q = 64, seq_k = 64, head_dim = 64, value_head_dim = 64, lse = false, key_lengths = false, alibi = false, score_mod = false, kv_view = "tensor">} {
    llvm.return
  }
  llvm.func @helper(%x: !llvm.ptr) {
    llvm.return
  }
}

// -----

gpu.module @not_a_pointer {
  // expected-error @+1 {{expected tensor map parameter 'k_tensor_map' to be a pointer, got 'i64'}}
  llvm.func @attention_kernel(%k: !llvm.ptr, %map: i64) attributes {nvvm.kernel, attn.kernel_info = #attn.kernel_info<family = "hopper", grid_formula = "[ceil(Lq / block_m), B * Hq, 1]", shared_memory_bytes = 66632, block_m = 128, block_n = 128, num_warps = 12, stages = 2, arguments = [#attn.kernel_arg<"k", input>, #attn.kernel_arg<"k_tensor_map", tensor_map, <"k", box = [1, 1, 128, 64], swizzle = 128>>], mask = none, scale = 1.250000e-01 : f64, layout = bhsd, query_type = bf16, key_type = bf16, value_type = bf16, output_type = bf16, batch = 1, heads_q = 4, heads_kv = 2, seq_q = 200, seq_k = 300, head_dim = 64, value_head_dim = 64, lse = false, key_lengths = false, alibi = false, score_mod = false, kv_view = "tensor">} {
    llvm.return
  }
}

// -----

gpu.module @arity {
  // expected-error @+1 {{expected one kernel_info argument per parameter (1), found 2}}
  llvm.func @attention_kernel(%k: !llvm.ptr) attributes {nvvm.kernel, attn.kernel_info = #attn.kernel_info<family = "hopper", grid_formula = "[ceil(Lq / block_m), B * Hq, 1]", shared_memory_bytes = 66632, block_m = 128, block_n = 128, num_warps = 12, stages = 2, arguments = [#attn.kernel_arg<"k", input>, #attn.kernel_arg<"k_tensor_map", tensor_map, <"k", box = [1, 1, 128, 64], swizzle = 128>>], mask = none, scale = 1.250000e-01 : f64, layout = bhsd, query_type = bf16, key_type = bf16, value_type = bf16, output_type = bf16, batch = 1, heads_q = 4, heads_kv = 2, seq_q = 200, seq_k = 300, head_dim = 64, value_head_dim = 64, lse = false, key_lengths = false, alibi = false, score_mod = false, kv_view = "tensor">} {
    llvm.return
  }
}
