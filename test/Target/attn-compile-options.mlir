// The GPU and tiling options are the passes' own (Passes.td), taken in the
// passes' syntax by attn-compile (commas or spaces) and by the attn-to-ptx
// pipeline beside its target options; the passes' parsers and checks
// report bad values.

// RUN: attn-compile --target=ptx --batch=1 --heads-q=2 --heads-kv=2 --seq-q=64 --seq-k=64 --head-dim=64 --convert-attn-to-nvvm=block-m=64,num-warps=4 --convert-attn-to-nvvm="block-n=32" --cubin-arch=none --print-ptx | FileCheck %s --check-prefix=TILES
// block-m = 64 over Lq = 64: grid [1, B * Hq = 2, 1], 4 warps = 128 threads;
// shared memory (64 + 4 * 32) * 64 * 2 = 24576 bytes.
// TILES: kernel attention_kernel: grid [1, 2, 1] block [128, 1, 1] smem 24576 bytes

// RUN: not attn-compile --target=ptx --seq-q=64 --seq-k=64 --heads-q=2 --heads-kv=2 --head-dim=64 --convert-attn-to-nvvm=bogus=1 --cubin-arch=none 2>&1 | FileCheck %s --check-prefix=UNKNOWN
// UNKNOWN: error: <Pass-Options-Parser>: no such option bogus

// RUN: not attn-compile --target=ptx --seq-q=64 --seq-k=64 --heads-q=2 --heads-kv=2 --head-dim=64 --convert-attn-to-nvvm=num-warps=3 --cubin-arch=none 2>&1 | FileCheck %s --check-prefix=WARPS
// WARPS: 'attn.attention' op expected num-warps of 4 or 8, got 3

// RUN: attn-compile --seq-q=64 --seq-k=64 --heads-q=2 --heads-kv=2 --head-dim=64 --attn-tile=block-m=16,block-n=16,num-splits=2 --run-cpu | FileCheck %s --check-prefix=CPU
// CPU: cpu run vs float64 reference: PASS

// RUN: attn-opt %s --attn-to-ptx="chip=sm_90 block-m=64 kernel=prefill emit-binary=false" | FileCheck %s --check-prefix=PIPE
// The pipeline hands block-m and kernel to convert-attn-to-nvvm.
// PIPE: family = "prefill"
// PIPE-SAME: block_m = 64

// RUN: not attn-opt %s --attn-to-ptx="chip=sm_90 bogus=2" 2>&1 | FileCheck %s --check-prefix=PIPEBAD
// PIPEBAD: no such option bogus

func.func @attention(%q: memref<1x2x64x64xbf16>, %k: memref<1x2x64x64xbf16>, %v: memref<1x2x64x64xbf16>, %o: memref<1x2x64x64xbf16>) {
  %0 = bufferization.to_tensor %q restrict : memref<1x2x64x64xbf16> to tensor<1x2x64x64xbf16>
  %1 = bufferization.to_tensor %k restrict : memref<1x2x64x64xbf16> to tensor<1x2x64x64xbf16>
  %2 = bufferization.to_tensor %v restrict : memref<1x2x64x64xbf16> to tensor<1x2x64x64xbf16>
  %r = attn.attention ins(%0, %1, %2 : tensor<1x2x64x64xbf16>, tensor<1x2x64x64xbf16>, tensor<1x2x64x64xbf16>) -> tensor<1x2x64x64xbf16>
  bufferization.materialize_in_destination %r in restrict writable %o : (tensor<1x2x64x64xbf16>, memref<1x2x64x64xbf16>) -> ()
  return
}
