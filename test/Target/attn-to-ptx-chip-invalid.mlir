// Chips the mma.sync kernels cannot target are refused while the pipeline is
// parsed, before the NVPTX backend runs (issue #20: sm_70 aborted in
// instruction selection on cp.async, sm_100 with +ptx80 failed with a raw
// PTX-version message, an empty chip crashed in NVVMTargetAttr::verifyTarget).
// RUN: not attn-opt %s --pass-pipeline="builtin.module(attn-to-ptx{chip=sm_70})" 2>&1 | FileCheck %s --check-prefix=SM70
// RUN: not attn-opt %s --pass-pipeline="builtin.module(attn-to-ptx{chip=})" 2>&1 | FileCheck %s --check-prefix=EMPTY
// RUN: not attn-opt %s --pass-pipeline="builtin.module(attn-to-ptx{chip=sm_100})" 2>&1 | FileCheck %s --check-prefix=SM100
// RUN: not attn-opt %s --pass-pipeline="builtin.module(attn-to-ptx{chip=sm_90 features=+ptx99})" 2>&1 | FileCheck %s --check-prefix=PTX99
// sm_100 with a PTX ISA that knows it lowers (the same mma.sync PTX).
// RUN: attn-opt %s --pass-pipeline="builtin.module(attn-to-ptx{chip=sm_100 features=+ptx86})" | FileCheck %s --check-prefix=OK

// SM70: error: attn-to-ptx: expected a chip the mma.sync kernels (sm_80 and newer: mma.sync m16n8k16, ldmatrix, cp.async) can target, one of sm_80, sm_86, sm_87, sm_89, sm_90, sm_90a, sm_100, {{.*}}; got 'sm_70'
// EMPTY: error: attn-to-ptx: expected a chip the mma.sync kernels {{.*}}; got ''
// SM100: error: attn-to-ptx: expected PTX features with +ptx86 or newer for chip sm_100, got '+ptx80'
// PTX99: error: attn-to-ptx: expected PTX features naming a PTX ISA version LLVM 22 knows (+ptx70 .. +ptx78, +ptx80 .. +ptx88, +ptx90), got '+ptx99'
// OK: gpu.binary @attn_kernels
// OK-SAME: chip = "sm_100", features = "+ptx86"
// OK-SAME: .target sm_100

func.func @attention(%q: memref<1x1x64x64xbf16>, %o: memref<1x1x64x64xbf16>) {
  %0 = bufferization.to_tensor %q restrict : memref<1x1x64x64xbf16> to tensor<1x1x64x64xbf16>
  %1 = attn.attention ins(%0, %0, %0 : tensor<1x1x64x64xbf16>, tensor<1x1x64x64xbf16>, tensor<1x1x64x64xbf16>) -> tensor<1x1x64x64xbf16>
  bufferization.materialize_in_destination %1 in restrict writable %o : (tensor<1x1x64x64xbf16>, memref<1x1x64x64xbf16>) -> ()
  return
}
