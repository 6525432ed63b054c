// RUN: attn-opt %s --split-input-file --attn-gpu-kernels="chip=sm_90a" | FileCheck %s --check-prefix=AUTO
// RUN: attn-opt %s --split-input-file --attn-gpu-kernels="chip=sm_90a hopper-poly-exp2=2" | FileCheck %s --check-prefix=TWO
// RUN: attn-opt %s --split-input-file --attn-gpu-kernels="chip=sm_90a hopper-poly-exp2=8" | FileCheck %s --check-prefix=ALL
// RUN: not attn-opt %s --split-input-file --attn-gpu-kernels="chip=sm_90a kernel=hopper hopper-poly-exp2=9" 2>&1 | FileCheck %s --check-prefix=RANGE

// hopper-poly-exp2=N: the softmax exponentiates S's n8 tiles nt with
// nt % 8 < N by the FMA polynomial (add.rm.f32 extracts floor(x)) and the
// rest by ex2.approx. D = 64, block-n 128: a consumer thread holds 2 rows x
// 16 n8 tiles x 2 columns = 64 exponentials of P per block, plus one alpha
// per row; the overlapped loop has two softmax steps (the peeled first
// block and the loop body), so 128 of P and 4 alphas in the kernel.
// N = 2: tiles 0, 1, 8 and 9 of 16 by the polynomial, 2 x 16 = 32; ex2 on
// 96 + 4. N = 8: all 128 of P by the polynomial, ex2 on the 4 alphas only.
// AUTO-LABEL: gpu.func @plain_kernel
// AUTO-NOT: add.rm.f32
// AUTO: gpu.return
// TWO-LABEL: gpu.func @plain_kernel
// TWO-COUNT-32: add.rm.f32
// TWO-NOT: add.rm.f32
// TWO: gpu.return
// ALL-LABEL: gpu.func @plain_kernel
// ALL-COUNT-128: add.rm.f32
// ALL-NOT: add.rm.f32
// ALL: gpu.return
// RANGE: error: 'attn.attention' op expected hopper-poly-exp2 of -1 (auto) or 0 to 8 (n8 tiles of every 8), got 9
func.func @plain(%q: memref<1x2x512x64xbf16>, %o: memref<1x2x512x64xbf16>) {
  %0 = bufferization.to_tensor %q restrict : memref<1x2x512x64xbf16> to tensor<1x2x512x64xbf16>
  %1 = attn.attention ins(%0, %0, %0 : tensor<1x2x512x64xbf16>, tensor<1x2x512x64xbf16>, tensor<1x2x512x64xbf16>) -> tensor<1x2x512x64xbf16>
  bufferization.materialize_in_destination %1 in restrict writable %o : (tensor<1x2x512x64xbf16>, memref<1x2x512x64xbf16>) -> ()
  return
}
