// PTX and the manifest straight from the command line, stage by stage:
// attn-opt lowers (attn-to-ptx), attn-translate extracts.
// RUN: attn-opt %s --attn-to-ptx="chip=sm_90 block-m=64" | attn-translate --attn-to-ptx | FileCheck %s --check-prefix=PTX
// RUN: attn-opt %s --attn-to-ptx="chip=sm_90 block-m=64" | attn-translate --attn-to-manifest | FileCheck %s --check-prefix=MANIFEST
// RUN: attn-opt %s --attn-to-ptx="chip=sm_90 emit-binary=false" | not attn-translate --attn-to-ptx 2>&1 | FileCheck %s --check-prefix=NOBIN
// RUN: attn-opt %s --attn-to-ptx="chip=sm_90 emit-binary=false" | not attn-translate --attn-to-manifest 2>&1 | FileCheck %s --check-prefix=NOTARGET

// PTX: .target sm_90
// PTX: .visible .entry attention_kernel(

// block-m = 64 over Lq = 64 and B * Hq = 2 heads: grid [1, 2, 1], 128
// threads; shared memory (64 + 4 * 64) * 64 * 2 = 40960 bytes.
// MANIFEST: "schema_version": [1, 2]
// MANIFEST-NEXT: "kernel": "attention_kernel"
// MANIFEST-NEXT: "family": "prefill"
// MANIFEST-NEXT: "chip": "sm_90"
// MANIFEST-NEXT: "grid": [1, 2, 1]
// MANIFEST: "block": [128, 1, 1]
// MANIFEST-NEXT: "shared_memory_bytes": 40960
// MANIFEST-NEXT: "tuning": {"block_m": 64, "block_n": 64, "num_warps": 4}

// NOBIN: expected exactly one gpu.binary, found 0
// NOTARGET: expected a gpu.binary with an NVVM target (run attn-to-ptx first)

func.func @attention(%q: memref<1x2x64x64xbf16>, %k: memref<1x2x64x64xbf16>, %v: memref<1x2x64x64xbf16>, %o: memref<1x2x64x64xbf16>) {
  %0 = bufferization.to_tensor %q restrict : memref<1x2x64x64xbf16> to tensor<1x2x64x64xbf16>
  %1 = bufferization.to_tensor %k restrict : memref<1x2x64x64xbf16> to tensor<1x2x64x64xbf16>
  %2 = bufferization.to_tensor %v restrict : memref<1x2x64x64xbf16> to tensor<1x2x64x64xbf16>
  %r = attn.attention ins(%0, %1, %2 : tensor<1x2x64x64xbf16>, tensor<1x2x64x64xbf16>, tensor<1x2x64x64xbf16>) -> tensor<1x2x64x64xbf16>
  bufferization.materialize_in_destination %r in restrict writable %o : (tensor<1x2x64x64xbf16>, memref<1x2x64x64xbf16>) -> ()
  return
}
