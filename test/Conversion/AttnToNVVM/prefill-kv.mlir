// RUN: attn-opt %s --split-input-file --attn-gpu-kernels="tile-model=" | FileCheck %s
// tile-model= (off): these checks are of the options' fixed default tiles.

// Chunked prefill on the prefill kernel: 64 new tokens of GQA 8/2 (256
// packed rows per KV group, too many for the decode kernel) against a paged
// cache (pages of 16, one block table for K and V) with per-sequence lengths,
// causal aligned to each sequence's own length. Arguments: Q, the view
// storage of K and V (the shared block table once), key_lengths, O.
// CHECK-LABEL: gpu.func @chunked_paged_kernel
// CHECK-SAME: (%[[Q:.+]]: memref<3x8x64x128xbf16>, %[[KP:.+]]: memref<192x16x2x128xbf16>, %[[TABLE:.+]]: memref<3x64xi32>, %[[VP:.+]]: memref<192x16x2x128xbf16>, %[[LENS:.+]]: memref<3xi32>, %[[O:.+]]: memref<3x8x64x128xbf16>)
// CHECK-SAME: family = "prefill"
// The program's coordinates, cloned from the tiled IR: len_b =
// clamp(key_lengths[b], 0, Lk = 1024) (index), the diagonal len_b - Lq.
// CHECK: %[[RAW:.+]] = memref.load %[[LENS]]
// CHECK: %[[RAWI:.+]] = arith.index_cast %[[RAW]] : i32 to index
// CHECK: %[[CLIP:.+]] = arith.minsi %[[RAWI]], %c1024 : index
// CHECK: %[[LENI:.+]] = arith.maxsi %[[CLIP]], %{{.+}} : index
// KV blocks: the program's loops end at the keys some row sees
// (KeyVisibility::visibleKeys), min(len_b, last row + len_b - Lq + 1), so
// no block at or past len_b is visited.
// CHECK: %[[OFF:.+]] = arith.subi %[[LENI]], %c64 : index
// CHECK: arith.minsi %[[LENI]], %{{.+}} : index
// CHECK: %[[LEN:.+]] = arith.index_cast %[[LENI]] : index to i32
// CHECK: %[[DIAG:.+]] = arith.subi %[[LEN]], %c64_i32
// CHECK: %[[NEND:.+]] = arith.ceildivsi %{{.+}}, %c64_i32
// Prologue: a K row at or past len_b is zero-filled (source size 0) and
// addressed as row 0; rows come through the view's hook, which reads the
// block table in the kernel; V reuses K's row addresses.
// CHECK: scf.if
// CHECK: %[[VALID:.+]] = arith.cmpi slt, %{{.+}}, %[[LEN]] : i32
// CHECK: %[[ROW:.+]] = arith.select %[[VALID]], %{{.+}}, %c0_i32
// CHECK: %[[SIZE:.+]] = arith.select %[[VALID]], %c16_i32{{.*}}, %c0_i32
// CHECK: %[[ROWIDX:.+]] = arith.index_castui %[[ROW]] : i32 to index
// CHECK: %[[SLOT:.+]] = arith.divui %[[ROWIDX]], %c16
// CHECK: %[[PAGE:.+]] = memref.load %[[TABLE]][%{{.+}}, %[[SLOT]]]
// CHECK: %[[PAGEIDX:.+]] = arith.index_cast %[[PAGE]] : i32 to index
// CHECK: arith.muli %[[PAGEIDX]], %c16
// CHECK: nvvm.cp.async.shared.global %{{.+}}, %{{.+}}, 16, cache =  cg, %[[SIZE]]
// CHECK: nvvm.cp.async.commit.group
// CHECK-NOT: memref.load
// CHECK: nvvm.cp.async.shared.global %{{.+}}, %{{.+}}, 16, cache =  cg, %[[SIZE]]
// CHECK: nvvm.cp.async.commit.group
// The KV loop; the prefetch of K[j + 1] reads the block table again.
// CHECK: scf.for %{{.+}} = %{{.+}} to %[[NEND]]
// CHECK: memref.load %[[TABLE]]
// CHECK: nvvm.cp.async.shared.global
// The mask runs on blocks outside the program's interior (its KV loop that
// attn-tile marked interior ends at the keys every row of the Q block sees,
// min(len_b, m0 + diag + 1), KeyVisibility::keysSeenByAll): key j of row i
// is kept iff j - i <= diag and j < len_b.
// Causal has no left bound, so the interior starts at the first block and
// only "past the interior's end" is tested.
// CHECK: %[[NEEDS:.+]] = arith.cmpi sge, %{{.+}}, %{{.+}} : i32
// CHECK-NEXT: scf.if %[[NEEDS]]
// CHECK: arith.cmpi sle, %{{.+}}, %[[DIAG]] : i32
// CHECK: arith.cmpi slt, %{{.+}}, %[[LEN]] : i32
// CHECK: arith.select
// CHECK: scf.yield
// CHECK-LABEL: func.func @chunked_paged
// Grid (ceil(64 / 128), B * Hq) = (1, 24).
// CHECK: gpu.launch_func @attn_kernels::@chunked_paged_kernel blocks in (%c1, %c24,
// CHECK-SAME: family = "prefill"
// CHECK-SAME: arguments = [#attn.kernel_arg<"q", input>, #attn.kernel_arg<"k_pages", input>, #attn.kernel_arg<"block_table", input>, #attn.kernel_arg<"v_pages", input>, #attn.kernel_arg<"key_lengths", input>, #attn.kernel_arg<"o", output>]
func.func @chunked_paged(%q: memref<3x8x64x128xbf16>, %kp: memref<192x16x2x128xbf16>, %vp: memref<192x16x2x128xbf16>, %table: memref<3x64xi32>, %lens: memref<3xi32>, %o: memref<3x8x64x128xbf16>) {
  %q0 = bufferization.to_tensor %q restrict : memref<3x8x64x128xbf16> to tensor<3x8x64x128xbf16>
  %kp0 = bufferization.to_tensor %kp restrict : memref<192x16x2x128xbf16> to tensor<192x16x2x128xbf16>
  %vp0 = bufferization.to_tensor %vp restrict : memref<192x16x2x128xbf16> to tensor<192x16x2x128xbf16>
  %t0 = bufferization.to_tensor %table restrict : memref<3x64xi32> to tensor<3x64xi32>
  %l0 = bufferization.to_tensor %lens restrict : memref<3xi32> to tensor<3xi32>
  %k = attn.paged_view %kp0[%t0] : tensor<192x16x2x128xbf16>, tensor<3x64xi32> -> tensor<3x2x1024x128xbf16>
  %v = attn.paged_view %vp0[%t0] : tensor<192x16x2x128xbf16>, tensor<3x64xi32> -> tensor<3x2x1024x128xbf16>
  %out = attn.attention ins(%q0, %k, %v : tensor<3x8x64x128xbf16>, tensor<3x2x1024x128xbf16>, tensor<3x2x1024x128xbf16>) key_lengths(%l0 : tensor<3xi32>) {mask_kind = #attn.mask<causal_bottom_right>} -> tensor<3x8x64x128xbf16>
  bufferization.materialize_in_destination %out in restrict writable %o : (tensor<3x8x64x128xbf16>, memref<3x8x64x128xbf16>) -> ()
  return
}

// -----

// Chunked prefill against a contiguous cache [B, Hkv, Lmax, D] with LSE:
// K and V stay plain arguments (row r of a KV head at byte r * 128), rows at
// or past len_b are zero-filled without any table read, and the Lq tail
// (100 of 128 rows) is guarded as without key_lengths.
// CHECK-LABEL: gpu.func @chunked_contig_kernel
// CHECK-SAME: (%{{.+}}: memref<2x8x100x64xf16>, %[[K:.+]]: memref<2x2x300x64xf16>, %[[V:.+]]: memref<2x2x300x64xf16>, %[[LENS:.+]]: memref<2xi32>, %{{.+}}: memref<2x8x100x64xf16>, %[[LSE:.+]]: memref<2x8x100xf32>)
// CHECK: %[[RAW:.+]] = memref.load %[[LENS]]
// CHECK: %[[RAWI:.+]] = arith.index_cast %[[RAW]] : i32 to index
// CHECK: %[[CLIP:.+]] = arith.minsi %[[RAWI]], %c300 : index
// CHECK: %[[LENI:.+]] = arith.maxsi %[[CLIP]], %{{.+}} : index
// CHECK: %[[LEN:.+]] = arith.index_cast %[[LENI]] : index to i32
// CHECK: %[[DIAG:.+]] = arith.subi %[[LEN]], %c100_i32
// CHECK: scf.if
// CHECK: %[[VALID:.+]] = arith.cmpi slt, %{{.+}}, %[[LEN]] : i32
// CHECK: %[[SIZE:.+]] = arith.select %[[VALID]], %c16_i32{{.*}}, %c0_i32
// CHECK-NOT: memref.load
// CHECK: nvvm.cp.async.shared.global %{{.+}}, %{{.+}}, 16, cache =  cg, %[[SIZE]]
// The loop carries O (2 m16 x 8 d8 tiles x 4), m (4 rows) and l (4 rows).
// CHECK: %[[LOOP:.+]]:72 = scf.for
// Mask: j - i <= len_b - Lq and j < len_b.
// CHECK: arith.cmpi sle, %{{.+}}, %[[DIAG]] : i32
// CHECK: arith.cmpi slt, %{{.+}}, %[[LEN]] : i32
// A row that saw no key (l == 0, e.g. i < Lq - len_b, or every row when
// len_b = 0 and the loop is empty) stores O = 0 and LSE = -inf.
// CHECK: nvvm.shfl.sync bfly %{{.+}}, %[[LOOP]]#68,
// CHECK: %[[EMPTY:.+]] = arith.cmpf oeq
// CHECK: arith.select %[[EMPTY]], %cst{{.*}}, %{{.+}} : f32
// CHECK: scf.if
// CHECK: arith.select %[[EMPTY]], %cst{{.*}}, %{{.+}} : f32
// CHECK: llvm.store
// CHECK-LABEL: func.func @chunked_contig
// CHECK: gpu.launch_func @attn_kernels::@chunked_contig_kernel
// CHECK-SAME: arguments = [#attn.kernel_arg<"q", input>, #attn.kernel_arg<"k", input>, #attn.kernel_arg<"v", input>, #attn.kernel_arg<"key_lengths", input>, #attn.kernel_arg<"o", output>, #attn.kernel_arg<"lse", output>]
func.func @chunked_contig(%q: memref<2x8x100x64xf16>, %k: memref<2x2x300x64xf16>, %v: memref<2x2x300x64xf16>, %lens: memref<2xi32>, %o: memref<2x8x100x64xf16>, %lse: memref<2x8x100xf32>) {
  %q0 = bufferization.to_tensor %q restrict : memref<2x8x100x64xf16> to tensor<2x8x100x64xf16>
  %k0 = bufferization.to_tensor %k restrict : memref<2x2x300x64xf16> to tensor<2x2x300x64xf16>
  %v0 = bufferization.to_tensor %v restrict : memref<2x2x300x64xf16> to tensor<2x2x300x64xf16>
  %l0 = bufferization.to_tensor %lens restrict : memref<2xi32> to tensor<2xi32>
  %out, %lse0 = attn.attention ins(%q0, %k0, %v0 : tensor<2x8x100x64xf16>, tensor<2x2x300x64xf16>, tensor<2x2x300x64xf16>) key_lengths(%l0 : tensor<2xi32>) {mask_kind = #attn.mask<causal_bottom_right>} -> tensor<2x8x100x64xf16>, tensor<2x8x100xf32>
  bufferization.materialize_in_destination %out in restrict writable %o : (tensor<2x8x100x64xf16>, memref<2x8x100x64xf16>) -> ()
  bufferization.materialize_in_destination %lse0 in restrict writable %lse : (tensor<2x8x100xf32>, memref<2x8x100xf32>) -> ()
  return
}

// -----

// A sliding window (100 keys back) over a paged cache (pages of 64): the
// program's first block also moves with len_b, begin = alignDown(max(q0 +
// diag - 100, 0), 64), and the mask keeps j - i >= diag - 100.
// CHECK-LABEL: gpu.func @window_paged_kernel
// CHECK: %[[RAW:.+]] = memref.load
// CHECK: %[[RAWI:.+]] = arith.index_cast %[[RAW]] : i32 to index
// CHECK: %[[CLIP:.+]] = arith.minsi %[[RAWI]], %c512 : index
// CHECK: %[[LENI:.+]] = arith.maxsi %[[CLIP]], %{{.+}} : index
// CHECK: %[[OFF:.+]] = arith.subi %[[LENI]], %c64 : index
// CHECK: %[[FIRST0:.+]] = arith.addi %{{.+}}, %[[OFF]] : index
// CHECK: %[[FIRST1:.+]] = arith.addi %[[FIRST0]], %c-100 : index
// CHECK: %[[FIRST:.+]] = arith.maxsi %[[FIRST1]], %{{.+}} : index
// CHECK: %[[BEGIN:.+]] = arith.floordivsi %[[FIRST]], %c64 : index
// CHECK: %[[LEN:.+]] = arith.index_cast %[[LENI]] : index to i32
// CHECK: %[[DIAG:.+]] = arith.subi %[[LEN]], %c64_i32
// CHECK: %[[NBEGIN:.+]] = arith.floordivsi %{{.+}}, %c64_i32
// CHECK: scf.for %{{.+}} = %[[NBEGIN]] to
// CHECK: scf.if
// CHECK: %[[LO:.+]] = arith.addi %[[DIAG]], %c-100_i32
// CHECK: arith.cmpi sge, %{{.+}}, %[[LO]] : i32
// CHECK: arith.cmpi sle, %{{.+}}, %[[DIAG]] : i32
// CHECK: arith.cmpi slt, %{{.+}}, %[[LEN]] : i32
// CHECK-LABEL: func.func @window_paged
func.func @window_paged(%q: memref<2x8x64x128xbf16>, %kp: memref<16x64x2x128xbf16>, %vp: memref<16x64x2x128xbf16>, %table: memref<2x8xi32>, %lens: memref<2xi32>, %o: memref<2x8x64x128xbf16>, %lse: memref<2x8x64xf32>) {
  %q0 = bufferization.to_tensor %q restrict : memref<2x8x64x128xbf16> to tensor<2x8x64x128xbf16>
  %kp0 = bufferization.to_tensor %kp restrict : memref<16x64x2x128xbf16> to tensor<16x64x2x128xbf16>
  %vp0 = bufferization.to_tensor %vp restrict : memref<16x64x2x128xbf16> to tensor<16x64x2x128xbf16>
  %t0 = bufferization.to_tensor %table restrict : memref<2x8xi32> to tensor<2x8xi32>
  %l0 = bufferization.to_tensor %lens restrict : memref<2xi32> to tensor<2xi32>
  %k = attn.paged_view %kp0[%t0] : tensor<16x64x2x128xbf16>, tensor<2x8xi32> -> tensor<2x2x512x128xbf16>
  %v = attn.paged_view %vp0[%t0] : tensor<16x64x2x128xbf16>, tensor<2x8xi32> -> tensor<2x2x512x128xbf16>
  %out, %lse0 = attn.attention ins(%q0, %k, %v : tensor<2x8x64x128xbf16>, tensor<2x2x512x128xbf16>, tensor<2x2x512x128xbf16>) key_lengths(%l0 : tensor<2xi32>) {mask_kind = #attn.mask<sliding_window>, window = array<i64: 100, 0>} -> tensor<2x8x64x128xbf16>, tensor<2x8x64xf32>
  bufferization.materialize_in_destination %out in restrict writable %o : (tensor<2x8x64x128xbf16>, memref<2x8x64x128xbf16>) -> ()
  bufferization.materialize_in_destination %lse0 in restrict writable %lse : (tensor<2x8x64xf32>, memref<2x8x64xf32>) -> ()
  return
}
