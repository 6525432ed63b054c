// RUN: attn-opt %s --split-input-file --attn-gpu-kernels="block-m=64" | FileCheck %s
// RUN: attn-opt %s --split-input-file --attn-gpu-kernels="chip=sm_90a hopper-epilogue=registers" | FileCheck %s --check-prefix=HOPPER

// Every family addresses Q, K, V and O through their element strides
// (OperandStrides): batch, head and sequence strides, the head dim dense.

// BSHD prefill, GQA 4/2, Lq = 200, Lk = 300, D = 64. Q [1, 200, 4, 64]:
// strides (b, h, s) = (200 * 4 * 64, 64, 4 * 64) = (51200, 64, 256)
// elements; batch and head do not merge into one index (51200 != 4 * 64),
// so a head's row 0 is at b * 102400 + h * 128 bytes, and rows are 512
// bytes apart. K [1, 300, 2, 64]: (38400, 64, 128): b * 76800 + h * 128,
// rows 256 bytes apart.
// CHECK-LABEL: gpu.func @bshd_prefill_kernel(%{{.*}}: memref<1x200x4x64xbf16>, %{{.*}}: memref<1x300x2x64xbf16>, %{{.*}}: memref<1x300x2x64xbf16>, %{{.*}}: memref<1x200x4x64xbf16>, %{{.*}}: memref<1x4x200xf32>) kernel
// CHECK-SAME: layout = bshd
// CHECK: %[[QB:.+]] = arith.constant 102400 : i64
// CHECK: arith.muli %{{.*}}, %[[QB]] : i64
// CHECK: %[[QH:.+]] = arith.constant 128 : i64
// CHECK: arith.muli %{{.*}}, %[[QH]] : i64
// CHECK: %[[KB:.+]] = arith.constant 76800 : i64
// CHECK: arith.muli %{{.*}}, %[[KB]] : i64
// The Q tile's rows (cp.async), then the K tile's.
// CHECK: %[[QROW:.+]] = arith.constant 512 : i32
// CHECK: arith.muli %{{.*}}, %[[QROW]] : i32
// CHECK: nvvm.cp.async.shared.global
// CHECK: %[[KROW:.+]] = arith.constant 256 : i32
// CHECK: arith.muli %{{.*}}, %[[KROW]] : i32
// CHECK: nvvm.cp.async.shared.global
func.func @bshd_prefill(%q: memref<1x200x4x64xbf16>, %k: memref<1x300x2x64xbf16>,
                        %v: memref<1x300x2x64xbf16>, %o: memref<1x200x4x64xbf16>,
                        %lse: memref<1x4x200xf32>) {
  %0 = bufferization.to_tensor %q restrict : memref<1x200x4x64xbf16> to tensor<1x200x4x64xbf16>
  %1 = bufferization.to_tensor %k restrict : memref<1x300x2x64xbf16> to tensor<1x300x2x64xbf16>
  %2 = bufferization.to_tensor %v restrict : memref<1x300x2x64xbf16> to tensor<1x300x2x64xbf16>
  %out, %l = attn.attention ins(%0, %1, %2 : tensor<1x200x4x64xbf16>,
      tensor<1x300x2x64xbf16>, tensor<1x300x2x64xbf16>)
      {mask_kind = #attn.mask<causal_bottom_right>, layout = #attn.layout<bshd>}
      -> tensor<1x200x4x64xbf16>, tensor<1x4x200xf32>
  bufferization.materialize_in_destination %out in restrict writable %o
      : (tensor<1x200x4x64xbf16>, memref<1x200x4x64xbf16>) -> ()
  bufferization.materialize_in_destination %l in restrict writable %lse
      : (tensor<1x4x200xf32>, memref<1x4x200xf32>) -> ()
  return
}

// -----

// The same buffers seen as torch's x.transpose(1, 2): BHSD dims with BSHD
// strides (a strided memref). The kernel takes the strided memrefs as they
// are and addresses them with the same strides as the BSHD kernel above.
// CHECK-LABEL: gpu.func @transposed_kernel(%{{.*}}: memref<1x4x200x64xbf16, strided<[51200, 64, 256, 1]>>, %{{.*}}: memref<1x2x300x64xbf16, strided<[38400, 64, 128, 1]>>, %{{.*}}: memref<1x2x300x64xbf16, strided<[38400, 64, 128, 1]>>, %{{.*}}: memref<1x4x200x64xbf16, strided<[51200, 64, 256, 1]>>) kernel
// CHECK-SAME: layout = bhsd
// CHECK: arith.constant 102400 : i64
// CHECK: arith.constant 76800 : i64
// CHECK: arith.constant 512 : i32
// CHECK: nvvm.cp.async.shared.global
// CHECK: gpu.launch_func @attn_kernels::@transposed_kernel
func.func @transposed(%q: memref<1x4x200x64xbf16, strided<[51200, 64, 256, 1]>>,
                      %k: memref<1x2x300x64xbf16, strided<[38400, 64, 128, 1]>>,
                      %v: memref<1x2x300x64xbf16, strided<[38400, 64, 128, 1]>>,
                      %o: memref<1x4x200x64xbf16, strided<[51200, 64, 256, 1]>>) {
  %0 = bufferization.to_tensor %q restrict : memref<1x4x200x64xbf16, strided<[51200, 64, 256, 1]>> to tensor<1x4x200x64xbf16>
  %1 = bufferization.to_tensor %k restrict : memref<1x2x300x64xbf16, strided<[38400, 64, 128, 1]>> to tensor<1x2x300x64xbf16>
  %2 = bufferization.to_tensor %v restrict : memref<1x2x300x64xbf16, strided<[38400, 64, 128, 1]>> to tensor<1x2x300x64xbf16>
  %out = attn.attention ins(%0, %1, %2 : tensor<1x4x200x64xbf16>,
      tensor<1x2x300x64xbf16>, tensor<1x2x300x64xbf16>)
      {mask_kind = #attn.mask<causal_bottom_right>} -> tensor<1x4x200x64xbf16>
  bufferization.materialize_in_destination %out in restrict writable %o
      : (tensor<1x4x200x64xbf16>, memref<1x4x200x64xbf16, strided<[51200, 64, 256, 1]>>) -> ()
  return
}

// -----

// BSHD decode, GQA 16/2, Lq = 2: a program packs the 8 heads x 2 queries
// of a KV group into 16 rows; packed row r is query r % 2 of head r / 2.
// Q [2, 2, 16, 64]: strides (2048, 64, 1024), so the group's first head is
// at b * 4096 + (8 kvh) * 128 bytes and row r at (r / 2) * 128 + (r % 2) *
// 2048 bytes (heads are adjacent within a sequence position, not runs of
// rows). K [2, 1000, 2, 64]: b * 256000 + kvh * 128, rows 256 bytes apart.
// CHECK-LABEL: gpu.func @bshd_decode_kernel
// CHECK-SAME: family = "decode"
// CHECK-SAME: layout = bshd
// CHECK: arith.constant 256000 : i64
// CHECK: arith.constant 4096 : i64
// CHECK: %[[TWO:.+]] = arith.constant 2 : i32
// CHECK: arith.divui %{{.*}}, %[[TWO]] : i32
// CHECK: arith.constant 128 : i64
// CHECK: arith.remui %{{.*}}, %{{.*}} : i32
// CHECK: %[[QROW:.+]] = arith.constant 2048 : i32
// CHECK: arith.muli %{{.*}}, %[[QROW]] : i32
// CHECK: nvvm.cp.async.shared.global
// CHECK: %[[KROW:.+]] = arith.constant 256 : i32
// CHECK: arith.muli %{{.*}}, %[[KROW]] : i32
func.func @bshd_decode(%q: memref<2x2x16x64xbf16>, %k: memref<2x1000x2x64xbf16>,
                       %v: memref<2x1000x2x64xbf16>, %o: memref<2x2x16x64xbf16>) {
  %0 = bufferization.to_tensor %q restrict : memref<2x2x16x64xbf16> to tensor<2x2x16x64xbf16>
  %1 = bufferization.to_tensor %k restrict : memref<2x1000x2x64xbf16> to tensor<2x1000x2x64xbf16>
  %2 = bufferization.to_tensor %v restrict : memref<2x1000x2x64xbf16> to tensor<2x1000x2x64xbf16>
  %out = attn.attention ins(%0, %1, %2 : tensor<2x2x16x64xbf16>,
      tensor<2x1000x2x64xbf16>, tensor<2x1000x2x64xbf16>)
      {layout = #attn.layout<bshd>} -> tensor<2x2x16x64xbf16>
  bufferization.materialize_in_destination %out in restrict writable %o
      : (tensor<2x2x16x64xbf16>, memref<2x2x16x64xbf16>) -> ()
  return
}

// -----

// BSHD on the hopper family (sm_90a), D = 128, 2 heads, L = 256: Q, K, V
// and O [1, 256, 2, 128] have strides (65536, 128, 256): a head's row 0 at
// b * 131072 + h * 256 bytes, rows 512 bytes apart (the consumers' O
// stores); the producer's TMA copies address (column, head, row, batch)
// through tensor maps the runtime builds from those strides.
// (hopper-epilogue=registers; the TMA epilogue's BSHD store:
// hopper-epilogue.mlir.)
// HOPPER-LABEL: gpu.func @bshd_hopper_kernel
// HOPPER-SAME: family = "hopper"
// HOPPER-SAME: layout = bshd
// HOPPER: arith.constant 131072 : i64
// HOPPER: arith.constant 256 : i64
// HOPPER: nvvm.cp.async.bulk.tensor.shared.cluster.global
// HOPPER: %[[ROW:.+]] = arith.constant 512 : i32
// HOPPER: arith.muli %{{.*}}, %[[ROW]] : i32
func.func @bshd_hopper(%q: memref<1x256x2x128xbf16>, %k: memref<1x256x2x128xbf16>,
                       %v: memref<1x256x2x128xbf16>, %o: memref<1x256x2x128xbf16>) {
  %0 = bufferization.to_tensor %q restrict : memref<1x256x2x128xbf16> to tensor<1x256x2x128xbf16>
  %1 = bufferization.to_tensor %k restrict : memref<1x256x2x128xbf16> to tensor<1x256x2x128xbf16>
  %2 = bufferization.to_tensor %v restrict : memref<1x256x2x128xbf16> to tensor<1x256x2x128xbf16>
  %out = attn.attention ins(%0, %1, %2 : tensor<1x256x2x128xbf16>,
      tensor<1x256x2x128xbf16>, tensor<1x256x2x128xbf16>)
      {mask_kind = #attn.mask<causal_bottom_right>, layout = #attn.layout<bshd>}
      -> tensor<1x256x2x128xbf16>
  bufferization.materialize_in_destination %out in restrict writable %o
      : (tensor<1x256x2x128xbf16>, memref<1x256x2x128xbf16>) -> ()
  return
}
