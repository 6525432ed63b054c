// RUN: attn-opt %s --split-input-file --verify-diagnostics | FileCheck %s

// The kernel-info attribute round-trips; tile parameters a family does not
// have (0) are omitted, and so are an absent softcap and window.
// CHECK-LABEL: func.func @prefill_info
// CHECK-SAME: attn.kernel_info = #attn.kernel_info<family = "prefill", grid_formula = "[ceil(Lq / block_m), B * Hq, 1]", shared_memory_bytes = 40960, block_m = 64, block_n = 64, num_warps = 4, arguments = [#attn.kernel_arg<"q", input>, #attn.kernel_arg<"o", output>], mask = causal_bottom_right, scale = 1.250000e-01 : f64, layout = bhsd, query_type = bf16, key_type = bf16, value_type = bf16, output_type = bf16, batch = 1, heads_q = 4, heads_kv = 2, seq_q = 200, seq_k = 300, head_dim = 64, value_head_dim = 64, lse = false, key_lengths = false, alibi = false, score_mod = false, kv_view = "tensor">
func.func @prefill_info() attributes {attn.kernel_info = #attn.kernel_info<family = "prefill", grid_formula = "[ceil(Lq / block_m), B * Hq, 1]", shared_memory_bytes = 40960, block_m = 64, block_n = 64, num_warps = 4, num_splits = 0, arguments = [#attn.kernel_arg<"q", input>, #attn.kernel_arg<"o", output>], mask = causal_bottom_right, scale = 0.125 : f64, layout = bhsd, query_type = bf16, key_type = bf16, value_type = bf16, output_type = bf16, batch = 1, heads_q = 4, heads_kv = 2, seq_q = 200, seq_k = 300, head_dim = 64, value_head_dim = 64, lse = false, key_lengths = false, alibi = false, score_mod = false, kv_view = "tensor">} {
  return
}

// -----

// A decode kernel's workspaces and an in/out cache; the window of a
// sliding-window mask and a softcap.
// CHECK-LABEL: func.func @decode_info
// CHECK-SAME: num_splits = 4, keys_per_warp = 16, stages = 2
// CHECK-SAME: #attn.kernel_arg<"k_cache", inout>, #attn.kernel_arg<"split_counters", workspace>
// CHECK-SAME: mask = sliding_window, scale = 1.250000e-01 : f64, softcap = 3.000000e+01 : f64, window = [100, 0]
func.func @decode_info() attributes {attn.kernel_info = #attn.kernel_info<family = "decode", grid_formula = "[num_splits, B * Hkv, 1]", shared_memory_bytes = 1024, num_warps = 8, num_splits = 4, keys_per_warp = 16, stages = 2, arguments = [#attn.kernel_arg<"k_cache", inout>, #attn.kernel_arg<"split_counters", workspace>], mask = sliding_window, scale = 0.125 : f64, softcap = 30.0 : f64, window = [100, 0], layout = bhsd, query_type = bf16, key_type = bf16, value_type = bf16, output_type = bf16, batch = 1, heads_q = 4, heads_kv = 2, seq_q = 1, seq_k = 300, head_dim = 64, value_head_dim = 64, lse = true, key_lengths = true, alibi = false, score_mod = false, kv_view = "attn.kv_append">} {
  return
}

// -----

// expected-error @+1 {{expected family prefill, decode, hopper, backward, hopper-backward or convert, got 'wmma'}}
func.func @bad_family() attributes {attn.kernel_info = #attn.kernel_info<family = "wmma", grid_formula = "", shared_memory_bytes = 0, arguments = [], mask = none, scale = 0.125 : f64, layout = bhsd, query_type = bf16, key_type = bf16, value_type = bf16, output_type = bf16, batch = 1, heads_q = 4, heads_kv = 2, seq_q = 1, seq_k = 1, head_dim = 64, value_head_dim = 64, lse = false, key_lengths = false, alibi = false, score_mod = false, kv_view = "tensor">} {
  return
}

// -----

// expected-error @+1 {{expected a window of two extents exactly with the sliding_window mask}}
func.func @window_without_mask() attributes {attn.kernel_info = #attn.kernel_info<family = "prefill", grid_formula = "", shared_memory_bytes = 0, arguments = [], mask = none, scale = 0.125 : f64, window = [1, 0], layout = bhsd, query_type = bf16, key_type = bf16, value_type = bf16, output_type = bf16, batch = 1, heads_q = 4, heads_kv = 2, seq_q = 1, seq_k = 1, head_dim = 64, value_head_dim = 64, lse = false, key_lengths = false, alibi = false, score_mod = false, kv_view = "tensor">} {
  return
}

// -----

// expected-error @+1 {{expected #attn.kernel_arg arguments, got "q"}}
func.func @untyped_argument() attributes {attn.kernel_info = #attn.kernel_info<family = "prefill", grid_formula = "", shared_memory_bytes = 0, arguments = ["q"], mask = none, scale = 0.125 : f64, layout = bhsd, query_type = bf16, key_type = bf16, value_type = bf16, output_type = bf16, batch = 1, heads_q = 4, heads_kv = 2, seq_q = 1, seq_k = 1, head_dim = 64, value_head_dim = 64, lse = false, key_lengths = false, alibi = false, score_mod = false, kv_view = "tensor">} {
  return
}

// -----

// expected-error @+1 {{expected a non-empty kernel argument name}}
func.func @empty_name() attributes {a = #attn.kernel_arg<"", input>} {
  return
}

// -----

// The backward schedule round-trips.
// CHECK-LABEL: func.func @backward_schedule
// CHECK-SAME: attn.backward_schedule = #attn.backward_schedule<block_m = 64, block_n = 128, deterministic = false, dq_block_m = 64, dq_reduction = "red-v2", rotate_q_blocks = true, square_warp_tiles = true, dq_warp_rows = 16>
func.func @backward_schedule() attributes {attn.backward_schedule = #attn.backward_schedule<block_m = 64, block_n = 128, deterministic = false, dq_block_m = 64, dq_reduction = "red-v2", rotate_q_blocks = true, square_warp_tiles = true, dq_warp_rows = 16>} {
  return
}

// -----

// expected-error @+1 {{expected dq_reduction atom, red-v2 or red-v4, got 'auto'}}
func.func @unresolved_reduction() attributes {attn.backward_schedule = #attn.backward_schedule<block_m = 64, block_n = 64, deterministic = false, dq_block_m = 64, dq_reduction = "auto", rotate_q_blocks = true, square_warp_tiles = false, dq_warp_rows = 16>} {
  return
}

// -----

// expected-error @+1 {{expected dq_warp_rows 16 or 32, got 8}}
func.func @bad_warp_rows() attributes {attn.backward_schedule = #attn.backward_schedule<block_m = 64, block_n = 64, deterministic = false, dq_block_m = 64, dq_reduction = "atom", rotate_q_blocks = true, square_warp_tiles = false, dq_warp_rows = 8>} {
  return
}
