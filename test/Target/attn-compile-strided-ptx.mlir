// RUN: attn-compile --target=ptx --cubin-arch=none --print-ptx %s | FileCheck %s
// RUN: attn-compile --target=ptx --cubin-arch=none --print-ptx --bshd --batch=1 --heads-q=4 --heads-kv=2 --seq-q=200 --seq-k=300 --head-dim=64 --mask=causal | FileCheck %s --check-prefix=BSHD

// Q, K, V and O as torch's x.transpose(1, 2) of [B, L, H, D] buffers: BHSD
// dims with BSHD strides. The kernel reads them where they are, and the
// manifest records each argument's strides (dense ones are implicit), which
// the runtime checks at launch: Q [1, 4, 200, 64] over a [1, 200, 4, 64]
// buffer has strides (200 * 4 * 64, 64, 4 * 64, 1).
// CHECK: .entry transposed_kernel
// CHECK: "schema_version": [1, 2]
// CHECK: {"name": "q", "role": "input", "dtype": "bf16", "shape": [1, 4, 200, 64], "strides": [51200, 64, 256, 1], "alignment": 16
// CHECK: {"name": "k", "role": "input", "dtype": "bf16", "shape": [1, 2, 300, 64], "strides": [38400, 64, 128, 1], "alignment": 16
// CHECK: {"name": "v", "role": "input", "dtype": "bf16", "shape": [1, 2, 300, 64], "strides": [38400, 64, 128, 1], "alignment": 16
// CHECK: {"name": "o", "role": "output", "dtype": "bf16", "shape": [1, 4, 200, 64], "strides": [51200, 64, 256, 1], "alignment": 16
// CHECK: "layout": "bhsd"

// The same attention from the spec with --bshd: dense [B, L, H, D]
// buffers (no strides key) and the layout in the attention record.
// BSHD: spec: GQA 4/2 B=1 Lq=200 Lk=300 D=64 bf16 bshd causal_bottom_right +lse
// BSHD: {"name": "q", "role": "input", "dtype": "bf16", "shape": [1, 200, 4, 64], "alignment": 16
// BSHD: {"name": "o", "role": "output", "dtype": "bf16", "shape": [1, 200, 4, 64], "alignment": 16
// BSHD: "layout": "bshd"
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
