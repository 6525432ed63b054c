// Tiled backward programs with what the GPU backward does not compute yet
// are refused by convert-attn-backward-to-nvvm (attn-plan-gpu-backward
// refuses them first; these carry a schedule written by hand): a
// score_mod.
// RUN: attn-opt %s --split-input-file --verify-diagnostics --attn-tile-backward --attn-lower-precision --convert-attn-backward-to-nvvm

func.func @score_mod(%q: memref<1x2x64x64xbf16>, %k: memref<1x1x64x64xbf16>, %v: memref<1x1x64x64xbf16>, %o: memref<1x2x64x64xbf16>, %do: memref<1x2x64x64xbf16>, %lse: memref<1x2x64xf32>, %dq: memref<1x2x64x64xbf16>, %dk: memref<1x1x64x64xbf16>, %dv: memref<1x1x64x64xbf16>) {
  %0 = bufferization.to_tensor %q restrict : memref<1x2x64x64xbf16> to tensor<1x2x64x64xbf16>
  %1 = bufferization.to_tensor %k restrict : memref<1x1x64x64xbf16> to tensor<1x1x64x64xbf16>
  %2 = bufferization.to_tensor %v restrict : memref<1x1x64x64xbf16> to tensor<1x1x64x64xbf16>
  %3 = bufferization.to_tensor %o restrict : memref<1x2x64x64xbf16> to tensor<1x2x64x64xbf16>
  %4 = bufferization.to_tensor %do restrict : memref<1x2x64x64xbf16> to tensor<1x2x64x64xbf16>
  %5 = bufferization.to_tensor %lse restrict : memref<1x2x64xf32> to tensor<1x2x64xf32>
  // expected-error @+1 {{expected no score_mod on the GPU backward (its derivative is not emitted yet)}}
  %gq, %gk, %gv = attn.attention_backward ins(%0, %1, %2, %3, %4, %5 : tensor<1x2x64x64xbf16>, tensor<1x1x64x64xbf16>, tensor<1x1x64x64xbf16>, tensor<1x2x64x64xbf16>, tensor<1x2x64x64xbf16>, tensor<1x2x64xf32>) {attn.backward_schedule = #attn.backward_schedule<block_m = 64, block_n = 64, deterministic = false, dq_block_m = 64, dq_reduction = "atom", rotate_q_blocks = true, square_warp_tiles = false, dq_warp_rows = 16>, attn.kernel_info = #attn.kernel_info<family = "backward", grid_formula = "[ceil(Lk / block_n), B * Hkv, 1]", shared_memory_bytes = 0, arguments = [], mask = none, scale = 1.250000e-01 : f64, layout = bhsd, query_type = bf16, key_type = bf16, value_type = bf16, output_type = bf16, batch = 1, heads_q = 2, heads_kv = 1, seq_q = 64, seq_k = 64, head_dim = 64, value_head_dim = 64, lse = true, key_lengths = false, alibi = false, score_mod = false, kv_view = "tensor">} -> tensor<1x2x64x64xbf16>, tensor<1x1x64x64xbf16>, tensor<1x1x64x64xbf16> score_mod {
  ^bb0(%s: f32, %b: index, %h: index, %i: index, %j: index):
    %c = arith.constant 2.0 : f32
    %m = arith.mulf %s, %c : f32
    attn.yield %m : f32
  }
  bufferization.materialize_in_destination %gq in restrict writable %dq : (tensor<1x2x64x64xbf16>, memref<1x2x64x64xbf16>) -> ()
  bufferization.materialize_in_destination %gk in restrict writable %dk : (tensor<1x1x64x64xbf16>, memref<1x1x64x64xbf16>) -> ()
  bufferization.materialize_in_destination %gv in restrict writable %dv : (tensor<1x1x64x64xbf16>, memref<1x1x64x64xbf16>) -> ()
  return
}
