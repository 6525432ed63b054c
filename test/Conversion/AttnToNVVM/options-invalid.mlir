// Every convert-attn-to-nvvm option is checked against its range before any
// kernel is planned (checkGpuLoweringOptions); the diagnostic names the
// option, the range and the value (issue #20: block-m=0 divided by zero in
// the prefill emitter, a negative block-m aborted in SmallVector).
// RUN: not attn-opt %s --attn-gpu-kernels="block-m=0" 2>&1 | FileCheck %s --check-prefix=BM0
// RUN: not attn-opt %s --attn-gpu-kernels="block-m=-64" 2>&1 | FileCheck %s --check-prefix=BMNEG
// RUN: not attn-opt %s --attn-gpu-kernels="block-n=1048576" 2>&1 | FileCheck %s --check-prefix=BN
// RUN: not attn-opt %s --attn-gpu-kernels="num-warps=0" 2>&1 | FileCheck %s --check-prefix=WARPS
// RUN: not attn-opt %s --attn-gpu-kernels="num-splits=2147483648" 2>&1 | FileCheck %s --check-prefix=SPLITS
// RUN: not attn-opt %s --attn-gpu-kernels="num-sms=9223372036854775807" 2>&1 | FileCheck %s --check-prefix=SMS
// RUN: not attn-opt %s --attn-gpu-kernels="decode-stages=0" 2>&1 | FileCheck %s --check-prefix=STAGES
// RUN: not attn-opt %s --attn-gpu-kernels="decode-keys-per-warp=-1" 2>&1 | FileCheck %s --check-prefix=KEYS

// BM0: error: expected block-m in [16, 256], got 0
// BMNEG: error: expected block-m in [16, 256], got -64
// BN: error: expected block-n in [16, 256], got 1048576
// WARPS: error: expected num-warps in [1, 32], got 0
// SPLITS: error: expected num-splits in [0, 1024], got 2147483648
// SMS: error: expected num-sms in [1, 1024], got 9223372036854775807
// STAGES: error: expected decode-stages in [1, 16], got 0
// KEYS: error: expected decode-keys-per-warp in [1, 256], got -1

func.func @attention(%q: memref<1x1x64x64xbf16>, %o: memref<1x1x64x64xbf16>) {
  %0 = bufferization.to_tensor %q restrict : memref<1x1x64x64xbf16> to tensor<1x1x64x64xbf16>
  %1 = attn.attention ins(%0, %0, %0 : tensor<1x1x64x64xbf16>, tensor<1x1x64x64xbf16>, tensor<1x1x64x64xbf16>) -> tensor<1x1x64x64xbf16>
  bufferization.materialize_in_destination %1 in restrict writable %o : (tensor<1x1x64x64xbf16>, memref<1x1x64x64xbf16>) -> ()
  return
}
