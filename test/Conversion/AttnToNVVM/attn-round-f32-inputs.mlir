// RUN: attn-opt %s --split-input-file --attn-round-f32-inputs | FileCheck %s
// RUN: attn-opt %s --split-input-file --attn-round-f32-inputs=to=f16 | FileCheck %s --check-prefix=F16

// Q, K and V rounded to bf16, the attention in bf16, O widened back to f32
// before its store; LSE stays f32.
// CHECK-LABEL: func.func @gqa
// CHECK: %[[Q:.*]] = bufferization.to_tensor %arg0
// CHECK: %[[K:.*]] = bufferization.to_tensor %arg1
// CHECK: %[[V:.*]] = bufferization.to_tensor %arg2
// CHECK: %[[QR:.*]] = arith.truncf %[[Q]] : tensor<1x8x128x64xf32> to tensor<1x8x128x64xbf16>
// CHECK: %[[KR:.*]] = arith.truncf %[[K]] : tensor<1x2x256x64xf32> to tensor<1x2x256x64xbf16>
// CHECK: %[[VR:.*]] = arith.truncf %[[V]] : tensor<1x2x256x64xf32> to tensor<1x2x256x64xbf16>
// CHECK: %[[O:.*]], %[[LSE:.*]] = attn.attention ins(%[[QR]], %[[KR]], %[[VR]] : tensor<1x8x128x64xbf16>, tensor<1x2x256x64xbf16>, tensor<1x2x256x64xbf16>) {mask_kind = #attn.mask<causal_bottom_right>} -> tensor<1x8x128x64xbf16>, tensor<1x8x128xf32>
// CHECK: %[[W:.*]] = arith.extf %[[O]] : tensor<1x8x128x64xbf16> to tensor<1x8x128x64xf32>
// CHECK: bufferization.materialize_in_destination %[[W]] in restrict writable %arg3
// CHECK: bufferization.materialize_in_destination %[[LSE]] in restrict writable %arg4
// F16-LABEL: func.func @gqa
// F16: arith.truncf {{.*}} to tensor<1x8x128x64xf16>
// F16: arith.extf {{.*}} : tensor<1x8x128x64xf16> to tensor<1x8x128x64xf32>
func.func @gqa(%q: memref<1x8x128x64xf32>, %k: memref<1x2x256x64xf32>, %v: memref<1x2x256x64xf32>, %o: memref<1x8x128x64xf32>, %lse: memref<1x8x128xf32>) {
  %0 = bufferization.to_tensor %q restrict : memref<1x8x128x64xf32> to tensor<1x8x128x64xf32>
  %1 = bufferization.to_tensor %k restrict : memref<1x2x256x64xf32> to tensor<1x2x256x64xf32>
  %2 = bufferization.to_tensor %v restrict : memref<1x2x256x64xf32> to tensor<1x2x256x64xf32>
  %3:2 = attn.attention ins(%0, %1, %2 : tensor<1x8x128x64xf32>, tensor<1x2x256x64xf32>, tensor<1x2x256x64xf32>) {mask_kind = #attn.mask<causal_bottom_right>} -> tensor<1x8x128x64xf32>, tensor<1x8x128xf32>
  bufferization.materialize_in_destination %3#0 in restrict writable %o : (tensor<1x8x128x64xf32>, memref<1x8x128x64xf32>) -> ()
  bufferization.materialize_in_destination %3#1 in restrict writable %lse : (tensor<1x8x128xf32>, memref<1x8x128xf32>) -> ()
  return
}

// -----

// One tensor read as Q, K and V: one rounded copy. bf16 attentions and the
// f32 bias are left alone.
// CHECK-LABEL: func.func @shared
// CHECK: %[[X:.*]] = arith.truncf
// CHECK-NOT: arith.truncf
// CHECK: attn.attention ins(%[[X]], %[[X]], %[[X]] : tensor<1x1x64x64xbf16>, tensor<1x1x64x64xbf16>, tensor<1x1x64x64xbf16>) bias(%{{.*}} : tensor<1x1x64x64xf32>)
// CHECK-LABEL: func.func @bf16
// CHECK-NOT: arith.truncf
// CHECK-NOT: arith.extf
func.func @shared(%q: memref<1x1x64x64xf32>, %bias: memref<1x1x64x64xf32>, %o: memref<1x1x64x64xf32>) {
  %0 = bufferization.to_tensor %q restrict : memref<1x1x64x64xf32> to tensor<1x1x64x64xf32>
  %b = bufferization.to_tensor %bias restrict : memref<1x1x64x64xf32> to tensor<1x1x64x64xf32>
  %1 = attn.attention ins(%0, %0, %0 : tensor<1x1x64x64xf32>, tensor<1x1x64x64xf32>, tensor<1x1x64x64xf32>) bias(%b : tensor<1x1x64x64xf32>) -> tensor<1x1x64x64xf32>
  bufferization.materialize_in_destination %1 in restrict writable %o : (tensor<1x1x64x64xf32>, memref<1x1x64x64xf32>) -> ()
  return
}
func.func @bf16(%q: memref<1x1x64x64xbf16>, %o: memref<1x1x64x64xbf16>) {
  %0 = bufferization.to_tensor %q restrict : memref<1x1x64x64xbf16> to tensor<1x1x64x64xbf16>
  %1 = attn.attention ins(%0, %0, %0 : tensor<1x1x64x64xbf16>, tensor<1x1x64x64xbf16>, tensor<1x1x64x64xbf16>) -> tensor<1x1x64x64xbf16>
  bufferization.materialize_in_destination %1 in restrict writable %o : (tensor<1x1x64x64xbf16>, memref<1x1x64x64xbf16>) -> ()
  return
}

// -----

// The backward: Q, K, V, O and dO rounded, dQ, dK and dV widened; LSE stays
// f32.
// CHECK-LABEL: func.func @backward
// CHECK-COUNT-5: arith.truncf {{.*}} to tensor<1x2x64x64xbf16>
// CHECK: %[[GQ:.*]], %[[GK:.*]], %[[GV:.*]] = attn.attention_backward ins({{.*}} : tensor<1x2x64x64xbf16>, tensor<1x2x64x64xbf16>, tensor<1x2x64x64xbf16>, tensor<1x2x64x64xbf16>, tensor<1x2x64x64xbf16>, tensor<1x2x64xf32>) {{.*}}-> tensor<1x2x64x64xbf16>, tensor<1x2x64x64xbf16>, tensor<1x2x64x64xbf16>
// CHECK: %[[DQ:.*]] = arith.extf %[[GQ]] : tensor<1x2x64x64xbf16> to tensor<1x2x64x64xf32>
// CHECK: %[[DK:.*]] = arith.extf %[[GK]]
// CHECK: %[[DV:.*]] = arith.extf %[[GV]]
// CHECK: bufferization.materialize_in_destination %[[DQ]] in restrict writable %arg6
// CHECK: bufferization.materialize_in_destination %[[DK]] in restrict writable %arg7
// CHECK: bufferization.materialize_in_destination %[[DV]] in restrict writable %arg8
func.func @backward(%q: memref<1x2x64x64xf32>, %k: memref<1x2x64x64xf32>, %v: memref<1x2x64x64xf32>, %o: memref<1x2x64x64xf32>, %do: memref<1x2x64x64xf32>, %lse: memref<1x2x64xf32>, %dq: memref<1x2x64x64xf32>, %dk: memref<1x2x64x64xf32>, %dv: memref<1x2x64x64xf32>) {
  %0 = bufferization.to_tensor %q restrict : memref<1x2x64x64xf32> to tensor<1x2x64x64xf32>
  %1 = bufferization.to_tensor %k restrict : memref<1x2x64x64xf32> to tensor<1x2x64x64xf32>
  %2 = bufferization.to_tensor %v restrict : memref<1x2x64x64xf32> to tensor<1x2x64x64xf32>
  %3 = bufferization.to_tensor %o restrict : memref<1x2x64x64xf32> to tensor<1x2x64x64xf32>
  %4 = bufferization.to_tensor %do restrict : memref<1x2x64x64xf32> to tensor<1x2x64x64xf32>
  %5 = bufferization.to_tensor %lse restrict : memref<1x2x64xf32> to tensor<1x2x64xf32>
  %g:3 = attn.attention_backward ins(%0, %1, %2, %3, %4, %5 : tensor<1x2x64x64xf32>, tensor<1x2x64x64xf32>, tensor<1x2x64x64xf32>, tensor<1x2x64x64xf32>, tensor<1x2x64x64xf32>, tensor<1x2x64xf32>) {mask_kind = #attn.mask<causal_bottom_right>} -> tensor<1x2x64x64xf32>, tensor<1x2x64x64xf32>, tensor<1x2x64x64xf32>
  bufferization.materialize_in_destination %g#0 in restrict writable %dq : (tensor<1x2x64x64xf32>, memref<1x2x64x64xf32>) -> ()
  bufferization.materialize_in_destination %g#1 in restrict writable %dk : (tensor<1x2x64x64xf32>, memref<1x2x64x64xf32>) -> ()
  bufferization.materialize_in_destination %g#2 in restrict writable %dv : (tensor<1x2x64x64xf32>, memref<1x2x64x64xf32>) -> ()
  return
}
