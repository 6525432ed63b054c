// RUN: attn-opt %s --split-input-file --attn-gpu-kernels="block-m=64" | FileCheck %s
// RUN: attn-opt %s --split-input-file --attn-gpu-kernels="block-m=64 num-splits=2" | FileCheck %s --check-prefix=SPLIT
// RUN: attn-opt %s --split-input-file --attn-gpu-kernels="block-m=64 num-splits=1" | FileCheck %s --check-prefix=ONE

// An additive bf16 bias [1, 1, Lq, Lk] broadcast over B and H on a causal
// GQA op: the scores are in natural units (scale applied), each score adds
// bias[0, 0, i, j] at byte 2 j + 600 i (no head or batch term: broadcast),
// with i clamped to Lq - 1 = 199 and j to Lk - 1 = 299 for the tails (in
// i32: the operand is under 2 GiB), and log2(e) alone multiplies the
// exponent.
// CHECK-LABEL: gpu.func @bias_heads_kernel
// CHECK-SAME: %[[BIAS:[a-z0-9]+]]: memref<1x1x200x300xbf16>
// CHECK-SAME: #attn.kernel_arg<"bias", input>
// CHECK: scf.for
// CHECK: nvvm.mma.sync
// CHECK: %[[NAT:.+]] = arith.mulf %{{.*}}, %{{.*}} : f32
// CHECK: %[[J:.+]] = arith.minui %{{.*}}, %{{.*}}299_i32{{.*}} : i32
// CHECK: arith.muli %[[J]], %c2_i32
// CHECK: arith.minui %{{.*}}, %{{.*}}199_i32{{.*}} : i32
// CHECK: arith.muli %{{.*}}, %c600_i32
// CHECK: arith.extui %{{.*}} : i32 to i64
// CHECK: %[[B:.+]] = llvm.load %{{.*}} {alignment = 2 : i64} : !llvm.ptr<1> -> bf16
// CHECK: %[[BF:.+]] = arith.extf %[[B]] : bf16 to f32
// CHECK: arith.addf %[[NAT]], %[[BF]] : f32
// CHECK-COUNT-31: llvm.load %{{.*}} {alignment = 2 : i64} : !llvm.ptr<1> -> bf16
// CHECK: arith.constant 1.44269502 : f32
// CHECK: llvm.inline_asm "ex2.approx.ftz.f32 $0, $1;"
// CHECK: gpu.return
func.func @bias_heads(%q: memref<1x4x200x64xbf16>, %k: memref<1x2x300x64xbf16>, %bias: memref<1x1x200x300xbf16>, %o: memref<1x4x200x64xbf16>) {
  %q0 = bufferization.to_tensor %q restrict : memref<1x4x200x64xbf16> to tensor<1x4x200x64xbf16>
  %k0 = bufferization.to_tensor %k restrict : memref<1x2x300x64xbf16> to tensor<1x2x300x64xbf16>
  %b0 = bufferization.to_tensor %bias restrict : memref<1x1x200x300xbf16> to tensor<1x1x200x300xbf16>
  %out = attn.attention ins(%q0, %k0, %k0 : tensor<1x4x200x64xbf16>, tensor<1x2x300x64xbf16>, tensor<1x2x300x64xbf16>) bias(%b0 : tensor<1x1x200x300xbf16>) {mask_kind = #attn.mask<causal_bottom_right>} -> tensor<1x4x200x64xbf16>
  bufferization.materialize_in_destination %out in restrict writable %o : (tensor<1x4x200x64xbf16>, memref<1x4x200x64xbf16>) -> ()
  return
}

// -----

// A document mask from a mask_mod region (i / 100 == j / 100) and
// attention sinks on a causal op with LSE. The sink of the CTA's head is
// loaded once, in base-2 units (sinks[h] * log2 e); the region is cloned
// per score and selects -inf; at finalize M = max(m * c, sink), l' = l *
// 2^(m c - M) + 2^(sink - M), O = acc * 2^(m c - M) / l' and LSE = (M +
// log2 l') ln 2.
// CHECK-LABEL: gpu.func @mask_mod_sinks_kernel
// CHECK-SAME: #attn.kernel_arg<"sinks", input>
// CHECK: %[[S:.+]] = llvm.load %{{.*}} {alignment = 4 : i64} : !llvm.ptr<1> -> f32
// CHECK: %[[SL:.+]] = arith.mulf %[[S]], %{{.*}} : f32
// CHECK: scf.for
// CHECK: %[[DI:.+]] = arith.divui %{{.*}}, %{{.*}} : index
// CHECK: %[[DJ:.+]] = arith.divui %{{.*}}, %{{.*}} : index
// CHECK: %[[KEEP:.+]] = arith.cmpi eq, %[[DI]], %[[DJ]] : index
// CHECK: arith.select %[[KEEP]], %{{.*}}, %{{.*}} : f32
// CHECK: scf.yield
// CHECK: %[[M:.+]] = llvm.intr.maxnum(%{{.*}}, %[[SL]]) : (f32, f32) -> f32
// CHECK: ex2.approx.ftz.f32
// CHECK: ex2.approx.ftz.f32
// CHECK: lg2.approx.ftz.f32
// CHECK: arith.divf
// CHECK: gpu.return
func.func @mask_mod_sinks(%q: memref<1x4x256x64xbf16>, %s: memref<4xf32>, %o: memref<1x4x256x64xbf16>, %lse: memref<1x4x256xf32>) {
  %q0 = bufferization.to_tensor %q restrict : memref<1x4x256x64xbf16> to tensor<1x4x256x64xbf16>
  %s0 = bufferization.to_tensor %s restrict : memref<4xf32> to tensor<4xf32>
  %out, %l = attn.attention ins(%q0, %q0, %q0 : tensor<1x4x256x64xbf16>, tensor<1x4x256x64xbf16>, tensor<1x4x256x64xbf16>) sinks(%s0 : tensor<4xf32>) {mask_kind = #attn.mask<causal_bottom_right>} -> tensor<1x4x256x64xbf16>, tensor<1x4x256xf32>
  mask_mod {
  ^bb0(%b: index, %h: index, %i: index, %j: index):
    %c100 = arith.constant 100 : index
    %di = arith.divui %i, %c100 : index
    %dj = arith.divui %j, %c100 : index
    %keep = arith.cmpi eq, %di, %dj : index
    attn.yield %keep : i1
  }
  bufferization.materialize_in_destination %out in restrict writable %o : (tensor<1x4x256x64xbf16>, memref<1x4x256x64xbf16>) -> ()
  bufferization.materialize_in_destination %l in restrict writable %lse : (tensor<1x4x256xf32>, memref<1x4x256xf32>) -> ()
  return
}

// -----

// A boolean mask [B, 1, 1, Lk] (per-sequence key padding): one byte per
// element at b * 128 + j, nonzero keeps; false scores become -inf on every
// block (no positional mask here, so there is no interior to skip it).
// CHECK-LABEL: gpu.func @bool_mask_kernel
// CHECK-SAME: #attn.kernel_arg<"mask", input>
// CHECK: scf.for
// CHECK: nvvm.mma.sync
// CHECK: arith.muli %{{.*}}, %c128_i32
// CHECK: %[[BYTE:.+]] = llvm.load %{{.*}} {alignment = 1 : i64} : !llvm.ptr<1> -> i8
// CHECK: %[[KEEP:.+]] = arith.cmpi ne, %[[BYTE]], %{{.*}} : i8
// CHECK: arith.select %[[KEEP]], %{{.*}}, %{{.*}} : f32
// CHECK: gpu.return
func.func @bool_mask(%q: memref<2x4x128x64xf16>, %m: memref<2x1x1x128xi1>, %o: memref<2x4x128x64xf16>) {
  %q0 = bufferization.to_tensor %q restrict : memref<2x4x128x64xf16> to tensor<2x4x128x64xf16>
  %m0 = bufferization.to_tensor %m restrict : memref<2x1x1x128xi1> to tensor<2x1x1x128xi1>
  %out = attn.attention ins(%q0, %q0, %q0 : tensor<2x4x128x64xf16>, tensor<2x4x128x64xf16>, tensor<2x4x128x64xf16>) mask(%m0 : tensor<2x1x1x128xi1>) -> tensor<2x4x128x64xf16>
  bufferization.materialize_in_destination %out in restrict writable %o : (tensor<2x4x128x64xf16>, memref<2x4x128x64xf16>) -> ()
  return
}

// -----

// Decode (4 query heads per KV head packed in one m16 tile) with an f32
// bias [B, Hq, 1, Lk] and sinks: each score adds bias[b, h(row), 0, j]
// (4-byte elements, rows 4000 bytes apart per head); the sink of each
// row's head joins the warps' merge (one split) or the splits' merge.
// CHECK-LABEL: gpu.func @decode_bias_sinks_kernel
// CHECK-SAME: family = "decode"
// CHECK-SAME: #attn.kernel_arg<"bias", input>, #attn.kernel_arg<"sinks", input>
// CHECK: scf.for
// CHECK: nvvm.mma.sync
// CHECK: arith.muli %{{.*}}, %c4000_i32
// CHECK: llvm.load %{{.*}} {alignment = 4 : i64} : !llvm.ptr<1> -> f32
// CHECK: scf.yield
// CHECK: llvm.load %{{.*}} {alignment = 4 : i64} : !llvm.ptr<1> -> f32
// CHECK: llvm.intr.maxnum
// CHECK: gpu.return
// One split: the warps' merge reads the 8 warps' (m, l) from shared
// memory, then the row's global sink, and folds it (max, then 2^ terms).
// ONE-LABEL: gpu.func @decode_bias_sinks_kernel
// ONE: scf.yield
// ONE-COUNT-8: llvm.load %{{.*}} {alignment = 4 : i64} : !llvm.ptr<3> -> f32
// ONE: llvm.load %{{.*}} {alignment = 4 : i64} : !llvm.ptr<1> -> f32
// ONE: llvm.intr.maxnum
// ONE: ex2.approx.ftz.f32
// ONE: gpu.return
// SPLIT-LABEL: gpu.func @decode_bias_sinks_kernel
// SPLIT: #attn.kernel_arg<"split_counters", workspace>
// SPLIT: atom.acq_rel.gpu.global.add.u32
// SPLIT: llvm.load %{{.*}} {alignment = 4 : i64} : !llvm.ptr<1> -> f32
// SPLIT: arith.constant 0.693147182 : f32
// SPLIT: llvm.intr.maxnum
// SPLIT: gpu.return
func.func @decode_bias_sinks(%q: memref<2x4x1x64xbf16>, %k: memref<2x1x1000x64xbf16>, %bias: memref<2x4x1x1000xf32>, %s: memref<4xf32>, %o: memref<2x4x1x64xbf16>, %lse: memref<2x4x1xf32>) {
  %q0 = bufferization.to_tensor %q restrict : memref<2x4x1x64xbf16> to tensor<2x4x1x64xbf16>
  %k0 = bufferization.to_tensor %k restrict : memref<2x1x1000x64xbf16> to tensor<2x1x1000x64xbf16>
  %b0 = bufferization.to_tensor %bias restrict : memref<2x4x1x1000xf32> to tensor<2x4x1x1000xf32>
  %s0 = bufferization.to_tensor %s restrict : memref<4xf32> to tensor<4xf32>
  %out, %l = attn.attention ins(%q0, %k0, %k0 : tensor<2x4x1x64xbf16>, tensor<2x1x1000x64xbf16>, tensor<2x1x1000x64xbf16>) bias(%b0 : tensor<2x4x1x1000xf32>) sinks(%s0 : tensor<4xf32>) -> tensor<2x4x1x64xbf16>, tensor<2x4x1xf32>
  bufferization.materialize_in_destination %out in restrict writable %o : (tensor<2x4x1x64xbf16>, memref<2x4x1x64xbf16>) -> ()
  bufferization.materialize_in_destination %l in restrict writable %lse : (tensor<2x4x1xf32>, memref<2x4x1xf32>) -> ()
  return
}
