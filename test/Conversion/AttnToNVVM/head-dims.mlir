// RUN: attn-opt %s --split-input-file --attn-gpu-kernels="tile-model=" | FileCheck %s
// tile-model= (off): these checks are of the options' fixed default tiles.

// Head dims other than 64 and 128 on the mma.sync kernels (issue #15); the
// PTX of these shapes passes ptxas in test/Target/attn-compile-head-dims.mlir.

// D = 96, GQA 8/2, causal: 12 chunks of 16 bytes per row, no power of two,
// so tile copies split each item by division (a Q tile is 128 x 12 items
// over 128 threads: 12 passes). Rows are padded to 256 bytes in shared
// memory: (128 + 2 * 2 * 64) * 256 = 98304 bytes. Two m16 tiles per warp
// (block-m 128 / 4 warps) of 6 k16 steps: Q (2 x 6 x 4 registers) is
// re-read from shared memory, so each KV block does 6 x (2 Q + 4 K) = 36
// ldmatrix for S and (64 / 16) x (96 / 16) = 24 transposed ones for P V; the
// loop carries O (2 x 12 x 4), m (4) and l (4).
// CHECK-LABEL: gpu.func @prefill_d96_kernel
// CHECK-SAME: shared_memory_bytes = 98304, block_m = 128, block_n = 64, num_warps = 4
// CHECK: arith.divui %{{.*}}, %c12_i32
// CHECK: arith.remui %{{.*}}, %c12_i32
// CHECK: nvvm.cp.async.shared.global
// CHECK: %{{.*}}:104 = scf.for
// CHECK-COUNT-36: nvvm.ldmatrix {{.*}}layout = #nvvm.mma_layout<row>
// CHECK-NOT: nvvm.ldmatrix
// CHECK-COUNT-24: nvvm.ldmatrix {{.*}}layout = #nvvm.mma_layout<col>
// CHECK-NOT: nvvm.ldmatrix
// CHECK: scf.yield
func.func @prefill_d96(%q: memref<1x8x300x96xbf16>, %k: memref<1x2x300x96xbf16>, %o: memref<1x8x300x96xbf16>) {
  %0 = bufferization.to_tensor %q restrict : memref<1x8x300x96xbf16> to tensor<1x8x300x96xbf16>
  %1 = bufferization.to_tensor %k restrict : memref<1x2x300x96xbf16> to tensor<1x2x300x96xbf16>
  %2 = attn.attention ins(%0, %1, %1 : tensor<1x8x300x96xbf16>, tensor<1x2x300x96xbf16>, tensor<1x2x300x96xbf16>) {mask_kind = #attn.mask<causal_bottom_right>} -> tensor<1x8x300x96xbf16>
  bufferization.materialize_in_destination %2 in restrict writable %o : (tensor<1x8x300x96xbf16>, memref<1x8x300x96xbf16>) -> ()
  return
}

// -----

// MLA prefill: D = 192 for S = Q K^T, Dv = 128 for V and O. Past D = 128 a
// warp takes 16 rows (block-m 64 whatever block-m asks: 32 rows would
// spill). Shared memory: the Q tile, where O is staged, with rows of
// max(384, 256) bytes, two stages of K (384-byte rows) and of V (256):
// 64 * 384 + 2 * 64 * 384 + 2 * 64 * 256 = 106496 bytes. Per KV block:
// 12 k16 steps x (1 Q + 4 K) = 60 ldmatrix for S, 4 x (128 / 16) = 32
// transposed for P V; the loop carries O (16 x 4 for 128 columns), m and l
// (2 each). O is written 128 columns wide.
// CHECK-LABEL: gpu.func @mla_kernel(%{{.*}}: memref<1x4x200x192xbf16>, %{{.*}}: memref<1x2x300x192xbf16>, %{{.*}}: memref<1x2x300x128xbf16>, %{{.*}}: memref<1x4x200x128xbf16>, %{{.*}}: memref<1x4x200xf32>)
// CHECK-SAME: shared_memory_bytes = 106496, block_m = 64, block_n = 64, num_warps = 4
// CHECK-SAME: head_dim = 192, value_head_dim = 128
// CHECK: %{{.*}}:68 = scf.for
// CHECK-COUNT-60: nvvm.ldmatrix {{.*}}layout = #nvvm.mma_layout<row>
// CHECK-NOT: nvvm.ldmatrix
// CHECK-COUNT-32: nvvm.ldmatrix {{.*}}layout = #nvvm.mma_layout<col>
// CHECK-NOT: nvvm.ldmatrix
// CHECK: scf.yield
// CHECK-LABEL: func.func @mla
// CHECK: gpu.launch_func @attn_kernels::@mla_kernel blocks in (%c4, %c4{{.*}}) threads in (%c128,
func.func @mla(%q: memref<1x4x200x192xbf16>, %k: memref<1x2x300x192xbf16>,
               %v: memref<1x2x300x128xbf16>, %o: memref<1x4x200x128xbf16>,
               %lse: memref<1x4x200xf32>) {
  %0 = bufferization.to_tensor %q restrict : memref<1x4x200x192xbf16> to tensor<1x4x200x192xbf16>
  %1 = bufferization.to_tensor %k restrict : memref<1x2x300x192xbf16> to tensor<1x2x300x192xbf16>
  %2 = bufferization.to_tensor %v restrict : memref<1x2x300x128xbf16> to tensor<1x2x300x128xbf16>
  %out, %l = attn.attention ins(%0, %1, %2 : tensor<1x4x200x192xbf16>,
      tensor<1x2x300x192xbf16>, tensor<1x2x300x128xbf16>)
      {mask_kind = #attn.mask<causal_bottom_right>}
      -> tensor<1x4x200x128xbf16>, tensor<1x4x200xf32>
  bufferization.materialize_in_destination %out in restrict writable %o
      : (tensor<1x4x200x128xbf16>, memref<1x4x200x128xbf16>) -> ()
  bufferization.materialize_in_destination %l in restrict writable %lse
      : (tensor<1x4x200xf32>, memref<1x4x200xf32>) -> ()
  return
}

// -----

// Decode at D = 256 (GQA 8/2, one query row: 4 rows per group): 8 warps'
// rings (8 x 2 stages x (K + V) x 16 keys x 512 bytes = 256 KiB) exceed
// 227 KiB, so the kernel streams with 4 warps: 16 * 512 + 131072 = 139264
// bytes. Q stays in registers (16 k16 steps); each 16-key subtile costs 16
// ldmatrix for S (one x4 read covers both n8 tiles) and 16 transposed for
// P V; the loop carries O (32 x 4), m and l (2 each).
// CHECK-LABEL: gpu.func @decode_d256_kernel
// CHECK-SAME: family = "decode"
// CHECK-SAME: shared_memory_bytes = 139264
// CHECK-SAME: num_warps = 4
// CHECK: %{{.*}}:132 = scf.for
// CHECK-COUNT-16: nvvm.ldmatrix {{.*}}layout = #nvvm.mma_layout<row>
// CHECK-NOT: nvvm.ldmatrix
// CHECK-COUNT-16: nvvm.ldmatrix {{.*}}layout = #nvvm.mma_layout<col>
// CHECK-NOT: nvvm.ldmatrix
// CHECK: scf.yield
func.func @decode_d256(%q: memref<1x8x1x256xbf16>, %k: memref<1x2x1000x256xbf16>, %o: memref<1x8x1x256xbf16>) {
  %0 = bufferization.to_tensor %q restrict : memref<1x8x1x256xbf16> to tensor<1x8x1x256xbf16>
  %1 = bufferization.to_tensor %k restrict : memref<1x2x1000x256xbf16> to tensor<1x2x1000x256xbf16>
  %2 = attn.attention ins(%0, %1, %1 : tensor<1x8x1x256xbf16>, tensor<1x2x1000x256xbf16>, tensor<1x2x1000x256xbf16>) -> tensor<1x8x1x256xbf16>
  bufferization.materialize_in_destination %2 in restrict writable %o : (tensor<1x8x1x256xbf16>, memref<1x8x1x256xbf16>) -> ()
  return
}

// -----

// MLA-shaped decode, D = 192 and Dv = 128: K and V take ring slots of the
// wider padded row (384 bytes): 16 * 384 + 8 * 2 * 2 * 16 * 384 = 202752
// bytes; K rows (24 chunks) and V rows (16) are copied in separate passes;
// the split workspace holds Dv = 128 columns of partial O per row.
// CHECK-LABEL: gpu.func @decode_mla_kernel
// CHECK-SAME: family = "decode"
// CHECK-SAME: shared_memory_bytes = 202752
// CHECK-SAME: head_dim = 192, value_head_dim = 128
// CHECK-LABEL: func.func @decode_mla
// CHECK: memref.alloc() : memref<2x{{[0-9]+}}x4x128xf32>
func.func @decode_mla(%q: memref<1x8x1x192xbf16>, %k: memref<1x2x1000x192xbf16>, %v: memref<1x2x1000x128xbf16>, %o: memref<1x8x1x128xbf16>) {
  %0 = bufferization.to_tensor %q restrict : memref<1x8x1x192xbf16> to tensor<1x8x1x192xbf16>
  %1 = bufferization.to_tensor %k restrict : memref<1x2x1000x192xbf16> to tensor<1x2x1000x192xbf16>
  %2 = bufferization.to_tensor %v restrict : memref<1x2x1000x128xbf16> to tensor<1x2x1000x128xbf16>
  %3 = attn.attention ins(%0, %1, %2 : tensor<1x8x1x192xbf16>, tensor<1x2x1000x192xbf16>, tensor<1x2x1000x128xbf16>) -> tensor<1x8x1x128xbf16>
  bufferization.materialize_in_destination %3 in restrict writable %o : (tensor<1x8x1x128xbf16>, memref<1x8x1x128xbf16>) -> ()
  return
}
