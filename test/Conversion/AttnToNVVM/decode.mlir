// RUN: attn-opt %s --split-input-file --attn-gpu-kernels | FileCheck %s
// RUN: attn-opt %s --split-input-file --attn-gpu-kernels="num-splits=1" | FileCheck %s --check-prefix=ONE

// Decode from a paged cache (pages of 16, one block table for K and V) with
// per-sequence lengths. GQA 8/2: the 4 query heads of a KV group are the 4
// packed rows of one m16 tile. B * Hkv = 4 groups do not fill 132 SMs, so
// the keys are split (2 splits: at most keys / (2 * 4 warps * 32) of them)
// and the last CTA of a group merges the partials in the same launch.
// Defaults: 8 warps of 16-key subtiles in 2-stage rings (8 x 2 x 2 x 16
// rows x 256 bytes + the 4 KiB Q tile = 135168 bytes).
// CHECK-LABEL: gpu.func @paged_kernel
// CHECK-SAME: (%[[Q:.+]]: memref<2x8x1x128xbf16>, %[[KP:.+]]: memref<64x16x2x128xbf16>, %[[TABLE:.+]]: memref<2x32xi32>, %[[VP:.+]]: memref<64x16x2x128xbf16>, %[[LENS:.+]]: memref<2xi32>, %[[O:.+]]: memref<2x8x1x128xbf16>, %{{.+}}: memref<4x2x4x128xf32>, %{{.+}}: memref<4x2x4xf32>, %[[COUNTERS:.+]]: memref<4xi32>)
// CHECK-SAME: attn.kernel_info = #attn.kernel_info<family = "decode", grid_formula = "[num_splits, B * Hkv, 1]", shared_memory_bytes = 135168, num_warps = 8, num_splits = 2, keys_per_warp = 16, stages = 2,
// The sequence's length, clamped to [0, 512] (the program's index
// arithmetic).
// CHECK: %[[LEN:.+]] = memref.load %[[LENS]]
// CHECK: %[[LENI:.+]] = arith.index_cast %[[LEN]] : i32 to index
// CHECK: arith.minsi %[[LENI]], %c512 : index
// Rows come through the view's address hook: the block table is read in
// the kernel, once per row for both K and V.
// CHECK: memref.load %[[TABLE]]
// CHECK-NOT: memref.load
// CHECK: nvvm.cp.async.shared.global
// CHECK-NOT: memref.load
// CHECK: nvvm.cp.async.shared.global
// CHECK: scf.for
// Warp-private rings: a warp barrier, not a CTA barrier, in the loop.
// CHECK: nvvm.bar.warp.sync
// CHECK: nvvm.cp.async.wait.group 1
// CHECK: nvvm.bar.warp.sync
// CHECK: nvvm.mma.sync
// CHECK: scf.yield
// The split merge: count arrivals (release/acquire), the last CTA re-arms
// its counter and reads the partials from L2.
// CHECK: gpu.barrier
// CHECK: atom.acq_rel.gpu.global.add.u32
// CHECK: st.relaxed.gpu.global.u32
// CHECK: ld.global.cg.v4.f32
// CHECK-LABEL: func.func @paged
// CHECK-NOT: attn.
// CHECK: %[[PO:.+]] = memref.alloc() : memref<4x2x4x128xf32>
// CHECK: gpu.launch_func @attn_kernels::@paged_kernel blocks in (%c2, %c4, %c1)
// CHECK-SAME: attn.kernel_info = #attn.kernel_info<family = "decode", grid_formula = "[num_splits, B * Hkv, 1]", {{.*}}arguments = [#attn.kernel_arg<"q", input>, #attn.kernel_arg<"k_pages", input>, #attn.kernel_arg<"block_table", input>, #attn.kernel_arg<"v_pages", input>, #attn.kernel_arg<"key_lengths", input>, #attn.kernel_arg<"o", output>, #attn.kernel_arg<"partial_o", workspace>, #attn.kernel_arg<"partial_lse", workspace>, #attn.kernel_arg<"split_counters", workspace>]
// CHECK-SAME: key_lengths = true, {{.*}}kv_view = "attn.paged_view">
// CHECK: memref.dealloc %[[PO]]

// With one split there is nothing to merge and no workspace.
// ONE-LABEL: gpu.func @paged_kernel
// ONE-SAME: (%{{.+}}: memref<2x8x1x128xbf16>, %{{.+}}: memref<64x16x2x128xbf16>, %{{.+}}: memref<2x32xi32>, %{{.+}}: memref<64x16x2x128xbf16>, %{{.+}}: memref<2xi32>, %{{.+}}: memref<2x8x1x128xbf16>)
// ONE-NOT: atom.
// ONE: gpu.return
func.func @paged(%q: memref<2x8x1x128xbf16>, %kp: memref<64x16x2x128xbf16>, %vp: memref<64x16x2x128xbf16>, %table: memref<2x32xi32>, %lens: memref<2xi32>, %o: memref<2x8x1x128xbf16>) {
  %q0 = bufferization.to_tensor %q restrict : memref<2x8x1x128xbf16> to tensor<2x8x1x128xbf16>
  %kp0 = bufferization.to_tensor %kp restrict : memref<64x16x2x128xbf16> to tensor<64x16x2x128xbf16>
  %vp0 = bufferization.to_tensor %vp restrict : memref<64x16x2x128xbf16> to tensor<64x16x2x128xbf16>
  %t0 = bufferization.to_tensor %table restrict : memref<2x32xi32> to tensor<2x32xi32>
  %l0 = bufferization.to_tensor %lens restrict : memref<2xi32> to tensor<2xi32>
  %k = attn.paged_view %kp0[%t0] : tensor<64x16x2x128xbf16>, tensor<2x32xi32> -> tensor<2x2x512x128xbf16>
  %v = attn.paged_view %vp0[%t0] : tensor<64x16x2x128xbf16>, tensor<2x32xi32> -> tensor<2x2x512x128xbf16>
  %out = attn.attention ins(%q0, %k, %v : tensor<2x8x1x128xbf16>, tensor<2x2x512x128xbf16>, tensor<2x2x512x128xbf16>) key_lengths(%l0 : tensor<2xi32>) -> tensor<2x8x1x128xbf16>
  bufferization.materialize_in_destination %out in restrict writable %o : (tensor<2x8x1x128xbf16>, memref<2x8x1x128xbf16>) -> ()
  return
}

// -----

// Chunked prefill against a contiguous cache: 3 new tokens of MQA 4/1 are
// 12 packed rows, causal aligned to each sequence's own length
// (diag = len - 3), every subtile masked per row; LSE out.
// CHECK-LABEL: gpu.func @chunked_kernel
// CHECK-SAME: (%{{.+}}: memref<2x4x3x64xf16>, %{{.+}}: memref<2x1x300x64xf16>, %{{.+}}: memref<2x1x300x64xf16>, %{{.+}}: memref<2xi32>, %{{.+}}: memref<2x4x3x64xf16>, %{{.+}}: memref<2x4x3xf32>
// CHECK: %[[CLIP:.+]] = arith.minsi %{{.+}}, %c300 : index
// CHECK: %[[LENI:.+]] = arith.maxsi %[[CLIP]], %{{.+}} : index
// CHECK: %[[LEN:.+]] = arith.index_cast %[[LENI]] : index to i32
// CHECK: scf.for
// CHECK: %[[DIAG:.+]] = arith.subi %[[LEN]], %c3_i32
// CHECK: arith.cmpi sle
// CHECK: scf.yield
// CHECK-LABEL: func.func @chunked
// CHECK: gpu.launch_func @attn_kernels::@chunked_kernel
// CHECK-SAME: #attn.kernel_arg<"q", input>, #attn.kernel_arg<"k", input>, #attn.kernel_arg<"v", input>, #attn.kernel_arg<"key_lengths", input>, #attn.kernel_arg<"o", output>, #attn.kernel_arg<"lse", output>
func.func @chunked(%q: memref<2x4x3x64xf16>, %k: memref<2x1x300x64xf16>, %v: memref<2x1x300x64xf16>, %lens: memref<2xi32>, %o: memref<2x4x3x64xf16>, %lse: memref<2x4x3xf32>) {
  %q0 = bufferization.to_tensor %q restrict : memref<2x4x3x64xf16> to tensor<2x4x3x64xf16>
  %k0 = bufferization.to_tensor %k restrict : memref<2x1x300x64xf16> to tensor<2x1x300x64xf16>
  %v0 = bufferization.to_tensor %v restrict : memref<2x1x300x64xf16> to tensor<2x1x300x64xf16>
  %l0 = bufferization.to_tensor %lens restrict : memref<2xi32> to tensor<2xi32>
  %out, %lse0 = attn.attention ins(%q0, %k0, %v0 : tensor<2x4x3x64xf16>, tensor<2x1x300x64xf16>, tensor<2x1x300x64xf16>) key_lengths(%l0 : tensor<2xi32>) {mask_kind = #attn.mask<causal_bottom_right>} -> tensor<2x4x3x64xf16>, tensor<2x4x3xf32>
  bufferization.materialize_in_destination %out in restrict writable %o : (tensor<2x4x3x64xf16>, memref<2x4x3x64xf16>) -> ()
  bufferization.materialize_in_destination %lse0 in restrict writable %lse : (tensor<2x4x3xf32>, memref<2x4x3xf32>) -> ()
  return
}

// -----

// Decode fused with the append of this step's token: attn.kv_append's rows
// come from two buffers (its address hook names which), so each copied row
// reads the new token or the cache row, selected per row in the kernel; the
// cache is not written (the IR does not store the appended cache back).
// CHECK-LABEL: gpu.func @append_kernel
// CHECK-SAME: (%{{[^:]+}}: memref<2x4x1x64xbf16>, %[[KC:[^:]+]]: memref<2x2x128x64xbf16>, %[[KN:[^:]+]]: memref<2x2x1x64xbf16>, %[[POS:[^:]+]]: memref<2xi32>, %[[VC:[^:]+]]: memref<2x2x128x64xbf16>, %[[VN:[^:]+]]: memref<2x2x1x64xbf16>, %{{[^:]+}}: memref<2xi32>, %{{[^:]+}}: memref<2x4x1x64xbf16>)
// CHECK: memref.load %[[POS]]
// CHECK: arith.cmpi ult
// CHECK: %[[K:.+]] = llvm.select %{{.+}}, %{{.+}}, %{{.+}} : i1, !llvm.ptr<1>
// CHECK: nvvm.cp.async.shared.global %{{.+}}, %{{.+}}, 16, cache = cg
// CHECK: %[[V:.+]] = llvm.select %{{.+}}, %{{.+}}, %{{.+}} : i1, !llvm.ptr<1>
// CHECK: nvvm.cp.async.shared.global
// CHECK-LABEL: func.func @append
// CHECK-NOT: attn.kv_append
// CHECK: gpu.launch_func @attn_kernels::@append_kernel
// CHECK-SAME: #attn.kernel_arg<"k_cache", input>, #attn.kernel_arg<"k_new", input>, #attn.kernel_arg<"positions", input>, #attn.kernel_arg<"v_cache", input>, #attn.kernel_arg<"v_new", input>, #attn.kernel_arg<"key_lengths", input>
func.func @append(%q: memref<2x4x1x64xbf16>, %knew: memref<2x2x1x64xbf16>, %vnew: memref<2x2x1x64xbf16>, %kc: memref<2x2x128x64xbf16>, %vc: memref<2x2x128x64xbf16>, %pos: memref<2xi32>, %lens: memref<2xi32>, %o: memref<2x4x1x64xbf16>) {
  %q0 = bufferization.to_tensor %q restrict : memref<2x4x1x64xbf16> to tensor<2x4x1x64xbf16>
  %kn = bufferization.to_tensor %knew restrict : memref<2x2x1x64xbf16> to tensor<2x2x1x64xbf16>
  %vn = bufferization.to_tensor %vnew restrict : memref<2x2x1x64xbf16> to tensor<2x2x1x64xbf16>
  %kc0 = bufferization.to_tensor %kc restrict : memref<2x2x128x64xbf16> to tensor<2x2x128x64xbf16>
  %vc0 = bufferization.to_tensor %vc restrict : memref<2x2x128x64xbf16> to tensor<2x2x128x64xbf16>
  %p0 = bufferization.to_tensor %pos restrict : memref<2xi32> to tensor<2xi32>
  %l0 = bufferization.to_tensor %lens restrict : memref<2xi32> to tensor<2xi32>
  %k = attn.kv_append %kn into %kc0 at %p0 : tensor<2x2x1x64xbf16> into tensor<2x2x128x64xbf16> at tensor<2xi32> -> tensor<2x2x128x64xbf16>
  %v = attn.kv_append %vn into %vc0 at %p0 : tensor<2x2x1x64xbf16> into tensor<2x2x128x64xbf16> at tensor<2xi32> -> tensor<2x2x128x64xbf16>
  %out = attn.attention ins(%q0, %k, %v : tensor<2x4x1x64xbf16>, tensor<2x2x128x64xbf16>, tensor<2x2x128x64xbf16>) key_lengths(%l0 : tensor<2xi32>) -> tensor<2x4x1x64xbf16>
  bufferization.materialize_in_destination %out in restrict writable %o : (tensor<2x4x1x64xbf16>, memref<2x4x1x64xbf16>) -> ()
  return
}

// -----

// The appended cache is stored back into its own memref (a serving step's
// append): split 0 of each group writes the token rows into the cache from
// inside the kernel (16-byte loads and stores), and the host-side store is
// gone. The other CTAs read those rows from the token buffer, never from
// the cache, so nothing reads what is written.
// CHECK-LABEL: gpu.func @append_persist_kernel
// CHECK: %[[SPLIT:.+]] = arith.index_castui %block_id_x
// CHECK: %[[FIRST:.+]] = arith.cmpi eq, %[[SPLIT]], %c0_i32
// CHECK: scf.if %[[FIRST]]
// CHECK: memref.load
// CHECK: %[[ROW:.+]] = llvm.load %{{.+}} {alignment = 16 : i64} : !llvm.ptr<1> -> vector<4xi32>
// CHECK: llvm.store %[[ROW]], %{{.+}} {alignment = 16 : i64} : vector<4xi32>, !llvm.ptr<1>
// CHECK-LABEL: func.func @append_persist
// CHECK-NOT: materialize_in_destination
// CHECK: gpu.launch_func @attn_kernels::@append_persist_kernel
// CHECK-SAME: #attn.kernel_arg<"k_cache", inout>
// CHECK-NOT: materialize_in_destination
// CHECK: return
func.func @append_persist(%q: memref<1x4x1x64xbf16>, %knew: memref<1x1x1x64xbf16>, %kc: memref<1x1x128x64xbf16>, %pos: memref<1xi32>, %lens: memref<1xi32>, %o: memref<1x4x1x64xbf16>) {
  %q0 = bufferization.to_tensor %q restrict : memref<1x4x1x64xbf16> to tensor<1x4x1x64xbf16>
  %kn = bufferization.to_tensor %knew restrict : memref<1x1x1x64xbf16> to tensor<1x1x1x64xbf16>
  %kc0 = bufferization.to_tensor %kc restrict : memref<1x1x128x64xbf16> to tensor<1x1x128x64xbf16>
  %p0 = bufferization.to_tensor %pos restrict : memref<1xi32> to tensor<1xi32>
  %l0 = bufferization.to_tensor %lens restrict : memref<1xi32> to tensor<1xi32>
  %k = attn.kv_append %kn into %kc0 at %p0 : tensor<1x1x1x64xbf16> into tensor<1x1x128x64xbf16> at tensor<1xi32> -> tensor<1x1x128x64xbf16>
  %out = attn.attention ins(%q0, %k, %k : tensor<1x4x1x64xbf16>, tensor<1x1x128x64xbf16>, tensor<1x1x128x64xbf16>) key_lengths(%l0 : tensor<1xi32>) -> tensor<1x4x1x64xbf16>
  bufferization.materialize_in_destination %out in restrict writable %o : (tensor<1x4x1x64xbf16>, memref<1x4x1x64xbf16>) -> ()
  bufferization.materialize_in_destination %k in restrict writable %kc : (tensor<1x1x128x64xbf16>, memref<1x1x128x64xbf16>) -> ()
  return
}
