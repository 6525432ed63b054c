// RUN: attn-opt %s --split-input-file --attn-gpu-kernels="block-m=64" | FileCheck %s

// A score_mod (relative bias s + (kv_idx - q_idx)) on a causal GQA op. The
// scores reach the region in natural units (scale applied), the region is
// cloned once per score a thread holds (one m16 tile x 8 n8 tiles x 4 = 32
// per KV block), log2(e) multiplies its result, and the mask comes after it.

// CHECK-LABEL: gpu.func @score_mod_kernel
// The CTA's batch and query head become the region's b and h.
// CHECK: %[[BH:.+]] = arith.index_castui %{{.*}} : i32 to index
// CHECK: scf.for
// CHECK: nvvm.mma.sync
// Scale (1/sqrt(64)) applied before the region.
// CHECK: %[[NAT:.+]] = arith.mulf %{{.*}}, %[[SCALE:.+]] : f32
// CHECK: %[[ROW:.+]] = arith.index_castui %{{.*}} : i32 to index
// CHECK: %[[COL:.+]] = arith.index_castui %{{.*}} : i32 to index
// The first score is at the lane's own row and column: no offset added.
// CHECK: %[[D:.+]] = arith.subi %[[COL]], %[[ROW]] : index
// CHECK: %[[DI:.+]] = arith.index_cast %[[D]] : index to i64
// CHECK: %[[DF:.+]] = arith.sitofp %[[DI]] : i64 to f32
// CHECK: arith.addf %[[NAT]], %[[DF]] : f32
// CHECK-COUNT-31: arith.subi %{{.*}}, %{{.*}} : index
// Masks (causal and the Lk tail) select -inf after the region.
// CHECK: scf.if %{{.*}} -> (f32,
// CHECK: arith.select %{{.*}}, %{{.*}}, %{{.*}} : f32
// The exponent's factor is log2(e) alone.
// CHECK: %[[LOG2E:.+]] = arith.constant 1.44269502 : f32
// CHECK: llvm.inline_asm "ex2.approx.ftz.f32 $0, $1;"
// CHECK: gpu.return
func.func @score_mod(%q: memref<1x4x200x64xbf16>, %k: memref<1x2x300x64xbf16>,
                     %v: memref<1x2x300x64xbf16>, %o: memref<1x4x200x64xbf16>) {
  %0 = bufferization.to_tensor %q restrict : memref<1x4x200x64xbf16> to tensor<1x4x200x64xbf16>
  %1 = bufferization.to_tensor %k restrict : memref<1x2x300x64xbf16> to tensor<1x2x300x64xbf16>
  %2 = bufferization.to_tensor %v restrict : memref<1x2x300x64xbf16> to tensor<1x2x300x64xbf16>
  %out = attn.attention ins(%0, %1, %2 : tensor<1x4x200x64xbf16>,
      tensor<1x2x300x64xbf16>, tensor<1x2x300x64xbf16>)
      {mask_kind = #attn.mask<causal_bottom_right>} -> tensor<1x4x200x64xbf16>
  score_mod {
  ^bb0(%s: f32, %b: index, %h: index, %i: index, %j: index):
    %d = arith.subi %j, %i : index
    %di = arith.index_cast %d : index to i64
    %df = arith.sitofp %di : i64 to f32
    %r = arith.addf %s, %df : f32
    attn.yield %r : f32
  }
  bufferization.materialize_in_destination %out in restrict writable %o
      : (tensor<1x4x200x64xbf16>, memref<1x4x200x64xbf16>) -> ()
  return
}

// -----

// Softcap then a math-dialect score_mod: the region sees
// softcap * tanh(scale * dot / softcap).

// CHECK-LABEL: gpu.func @softcap_tanh_kernel
// CHECK: scf.for
// CHECK: llvm.inline_asm "tanh.approx.f32 $0, $1;"
// CHECK: %[[CAPPED:.+]] = arith.mulf %{{.*}}, %{{.*}} : f32
// CHECK: math.tanh
// CHECK: gpu.return
func.func @softcap_tanh(%q: memref<1x2x128x128xf16>, %o: memref<1x2x128x128xf16>) {
  %0 = bufferization.to_tensor %q restrict : memref<1x2x128x128xf16> to tensor<1x2x128x128xf16>
  %out = attn.attention ins(%0, %0, %0 : tensor<1x2x128x128xf16>,
      tensor<1x2x128x128xf16>, tensor<1x2x128x128xf16>)
      {softcap = 30.0 : f64} -> tensor<1x2x128x128xf16>
  score_mod {
  ^bb0(%s: f32, %b: index, %h: index, %i: index, %j: index):
    %c = arith.constant 20.0 : f32
    %x = arith.divf %s, %c : f32
    %t = math.tanh %x : f32
    %r = arith.mulf %c, %t : f32
    attn.yield %r : f32
  }
  bufferization.materialize_in_destination %out in restrict writable %o
      : (tensor<1x2x128x128xf16>, memref<1x2x128x128xf16>) -> ()
  return
}

// -----

// ALiBi: one slope per query head, chosen once per CTA with selects; each
// score gets fma(-slope, |i + Lk - Lq - j|, s).

// CHECK-LABEL: gpu.func @alibi_kernel
// CHECK: %[[NEG0:.+]] = arith.constant -2.500000e-01 : f32
// CHECK: %[[NEG1:.+]] = arith.constant -6.250000e-02 : f32
// CHECK: %[[SLOPE:.+]] = arith.select %{{.*}}, %[[NEG1]], %[[NEG0]] : f32
// CHECK: scf.for
// CHECK: arith.maxsi
// CHECK: %[[DIST:.+]] = arith.sitofp %{{.*}} : i32 to f32
// CHECK: llvm.intr.fma(%[[SLOPE]], %[[DIST]], %{{.*}})
// CHECK: gpu.return
func.func @alibi(%q: memref<1x2x128x64xbf16>, %o: memref<1x2x128x64xbf16>) {
  %0 = bufferization.to_tensor %q restrict : memref<1x2x128x64xbf16> to tensor<1x2x128x64xbf16>
  %out = attn.attention ins(%0, %0, %0 : tensor<1x2x128x64xbf16>,
      tensor<1x2x128x64xbf16>, tensor<1x2x128x64xbf16>)
      {alibi_slopes = array<f64: 0.25, 0.0625>,
       mask_kind = #attn.mask<causal_top_left>} -> tensor<1x2x128x64xbf16>
  bufferization.materialize_in_destination %out in restrict writable %o
      : (tensor<1x2x128x64xbf16>, memref<1x2x128x64xbf16>) -> ()
  return
}
