// RUN: attn-opt %s --attn-cost-report -split-input-file -verify-diagnostics -o /dev/null
// RUN: not attn-opt %s --attn-cost-report="block-m=16 block-n=16 num-splits=2 gpu=b200" -split-input-file -o /dev/null 2>&1 | FileCheck %s --check-prefix=B200
// RUN: not attn-opt %s --attn-cost-report=gpu=v100 -split-input-file -o /dev/null 2>&1 | FileCheck %s --check-prefix=BADGPU
// RUN: not attn-opt %s --attn-cost-report="deterministic=true" -split-input-file -o /dev/null 2>&1 | FileCheck %s --check-prefix=DET

// The cost model's figures at each attention (docs/CostModel.md), on the
// default h100-sxm with attn-tile's default 64x64 tiles. Every number is
// worked out in the comment above it. The B200 and BADGPU runs exit
// non-zero because of the last case (dynamic shapes) / the unknown GPU.

// BADGPU: error: expected a GPU name (a100-sxm, h100-sxm, h200, b200), got 'v100'

// GQA 8/2, L = 4096, D = 128, bf16, causal, with LSE.
// Tiles: 64 query blocks; block r visits KV blocks 0..r (1 + ... + 64 =
// 2080), r of them interior (2016); the 4 query heads of a KV head are one
// tile, so x 2 head groups: 4160 of 2 x 64 x 64 = 8192, 4032 interior.
// GEMMs, 2 (D + Dv) = 512 FLOP per score: executed 4160 tiles x 4 heads x
// 64 x 64 x 512 = 34896609280; visible 512 x 8 x 4096 x 4097 / 2 =
// 34368126976; dense 512 x 8 x 4096^2 = 68719476736.
// exp: 4160 x 4 x 4096 scores + 4160 x 4 x 64 rescales + 8 x 4096 logs =
// 68157440 + 1064960 + 32768 = 69255168.
// Softmax: 4 x 68157440 + 1064960 x 129 + 32768 x 128 = 414203904.
// Bytes: Q = O = 8 x 4096 x 128 x 2 = 8388608, K = V = 2 x 4096 x 128 x 2
// = 2097152, LSE = 8 x 4096 x 4 = 131072: 12582912 read, 8519680 written;
// intensity 34896609280 / 21102592 = 1653.7.
// Roofline: 34896609280 / 989.4e12 = 35.270 us compute, 21102592 / 3.35e12
// = 6.299 us memory, 69255168 / 3.9e12 = 17.758 us exp: compute-bound;
// ridge 989.4 / 3.35 = 295.3. On b200 (16x16 tiles, 2 splits): 2250 TFLOP/s
// and 7.7 TB/s.
// B200: remark: attn-cost: b200: bound {{.*}} (compute-bound; {{.*}}), ridge 292.2 FLOP/B
func.func @gqa_causal(%q: tensor<1x8x4096x128xbf16>, %k: tensor<1x2x4096x128xbf16>, %v: tensor<1x2x4096x128xbf16>) -> (tensor<1x8x4096x128xbf16>, tensor<1x8x4096xf32>) {
  // expected-remark @+4 {{attn-cost: 4160 of 8192 KV tiles visited (4032 interior); gemm 34896609280 FLOP executed (34368126976 visible, 68719476736 dense), exp 69255168, softmax 414203904 FLOP, bytes 21102592 (12582912 read, 8519680 written), intensity 1653.7 FLOP/B}}
  // expected-remark @+3 {{attn-cost: bytes 12582912 read (Q 8388608, K 2097152, V 2097152, other 0), 8519680 written (O 8388608, LSE 131072, other 0)}}
  // expected-remark @+2 {{attn-cost: h100-sxm: bound 35.270 us (compute-bound; compute 35.270 us, memory 6.299 us, exp 17.758 us), ridge 295.3 FLOP/B, attainable 989.4 TFLOP/s}}
  // expected-remark @+1 {{attn-cost: tiles: prefill on h100-sxm: 128x64 tiles, 4 warps: 98304 B shared memory and ~232 registers/thread give 2 CTA(s)/SM (264 slots) for 256 CTAs}}
  %o, %lse = attn.attention ins(%q, %k, %v : tensor<1x8x4096x128xbf16>, tensor<1x2x4096x128xbf16>, tensor<1x2x4096x128xbf16>) {mask_kind = #attn.mask<causal_bottom_right>} -> tensor<1x8x4096x128xbf16>, tensor<1x8x4096xf32>
  return %o, %lse : tensor<1x8x4096x128xbf16>, tensor<1x8x4096xf32>
}

// -----

// Paged decode: B = 2, GQA 8/2, Lq = 1, Lk = 256 in pages of 16, causal,
// key lengths. One query block of 64 (1 valid row) per (batch, KV head):
// 4 programs x 4 KV blocks, all interior (row 0 sees keys 0..255):
// executed 16 x 4 x 64 x 64 x 512 = 134217728, against a visible and dense
// 512 x 16 x 256 = 2097152: the padding of a 64-row tile for one row.
// exp: 16 x 4 x 64 x 64 + 16 x 4 x 64 = 266240.
// Softmax: 4 x 262144 + 4096 x 129 + 16 x 128 = 1579008.
// Bytes read: Q 2 x 8 x 128 x 2 = 4096, K = V = 2 x 2 x 256 x 128 x 2 =
// 262144 (from the pages), block table 2 x 16 x 4 = 128 and key lengths 8
// (other 136): 528520; O 4096 written. Memory-bound: 532616 / 3.35e12 =
// 0.159 us. The decode kernel (Hq / Hkv x Lq = 4 <= 16): 256 keys are
// 256 / (2 x 8 warps x 16) = 1 split at most.
// B200: remark: attn-cost: b200: bound {{.*}} (memory-bound;
func.func @paged_decode(%q: tensor<2x8x1x128xbf16>, %kp: tensor<32x16x2x128xbf16>, %vp: tensor<32x16x2x128xbf16>, %table: tensor<2x16xi32>, %len: tensor<2xi32>) -> tensor<2x8x1x128xbf16> {
  %k = attn.paged_view %kp[%table] : tensor<32x16x2x128xbf16>, tensor<2x16xi32> -> tensor<2x2x256x128xbf16>
  %v = attn.paged_view %vp[%table] : tensor<32x16x2x128xbf16>, tensor<2x16xi32> -> tensor<2x2x256x128xbf16>
  // expected-remark @+4 {{attn-cost: 16 of 16 KV tiles visited (16 interior); gemm 134217728 FLOP executed (2097152 visible, 2097152 dense), exp 266240, softmax 1579008 FLOP, bytes 532616 (528520 read, 4096 written)}}
  // expected-remark @+3 {{attn-cost: bytes 528520 read (Q 4096, K 262144, V 262144, other 136), 4096 written (O 4096, LSE 0, other 0)}}
  // expected-remark @+2 {{attn-cost: h100-sxm: bound 0.159 us (memory-bound;}}
  // expected-remark @+1 {{attn-cost: tiles: decode on h100-sxm: 4 group(s) (B x Hkv) of 256 visible keys; 1 CTA(s)/SM (135168 B shared memory) give 132 slots; 1 split(s) -> 4 CTAs}}
  %o = attn.attention ins(%q, %k, %v : tensor<2x8x1x128xbf16>, tensor<2x2x256x128xbf16>, tensor<2x2x256x128xbf16>) key_lengths(%len : tensor<2xi32>) {mask_kind = #attn.mask<causal_bottom_right>} -> tensor<2x8x1x128xbf16>
  return %o : tensor<2x8x1x128xbf16>
}

// -----

// The same 16x16 causal square as attn-count-kv-tiles.mlir: its 10 of 16
// tiles (6 interior), here without tiling. With 2 splits (the B200 run),
// the partial O and LSE, 2 x 64 rows x (16 + 1) x 4 = 8704 bytes, are
// written once and read once.
// B200: remark: attn-cost: 10 of 16 KV tiles visited (6 interior)
// B200: remark: attn-cost: bytes 20992 read (Q 4096, K 4096, V 4096, other 8704), 12800 written (O 4096, LSE 0, other 8704)
func.func @causal_square(%q: tensor<1x1x64x16xf32>, %k: tensor<1x1x64x16xf32>, %v: tensor<1x1x64x16xf32>) -> tensor<1x1x64x16xf32> {
  // Under the default 64x64 tiles: one tile, a boundary one.
  // expected-remark @+4 {{attn-cost: 1 of 1 KV tiles visited (0 interior)}}
  // expected-remark @+3 {{attn-cost: bytes 12288 read}}
  // expected-remark @+2 {{attn-cost: h100-sxm:}}
  // expected-remark @+1 {{attn-cost: tiles: prefill}}
  %o = attn.attention ins(%q, %k, %v : tensor<1x1x64x16xf32>, tensor<1x1x64x16xf32>, tensor<1x1x64x16xf32>) {mask_kind = #attn.mask<causal_bottom_right>} -> tensor<1x1x64x16xf32>
  return %o : tensor<1x1x64x16xf32>
}

// -----

// The backward of GQA 4/2, B = 1, L = 256, D = 64, bf16, causal, on the GPU
// backward kernels' 64 x 64 tiles (every query head its own rows): 4 Q
// blocks, block r sees KV blocks 0..r: 10 tiles per head, x 4 heads = 40 of
// 64; 40 x 64 x 64 = 163840 (row, key) pairs executed.
// GEMMs per pair: S = Q K^T, dP = dO V^T, dV += P^T dO, dK += dS^T Q,
// dQ += dS K: 2 (3 x 64 + 2 x 64) = 640 FLOP (the forward's 256 x 2.5):
// executed 163840 x 640 = 104857600; visible 4 x 256 x 257 / 2 = 131584
// pairs x 640 = 84213760; dense 4 x 256^2 = 262144 pairs x 640 =
// 167772160, 2.50x the forward's 262144 x 256 = 67108864.
// exp: one per executed pair, 163840. Elementwise: 4 per pair (scale,
// - LSE, dP - Delta, x P) = 655360, plus the preprocess' Delta (2 x 64) and
// lse_log2 (1) per row: 1024 rows x 129 = 132096: 787456. dq_accum
// reductions: 40 tiles x 64 rows x 64 = 163840.
// Tensors: Q = O = dO = dQ = 4 x 256 x 64 x 2 = 131072; K = V = dK = dV =
// 2 x 256 x 64 x 2 = 65536; LSE = Delta = lse_log2 = 1024 x 4 = 4096;
// dq_accum = 1024 x 64 x 4 = 262144.
// preprocess: reads O, dO, LSE = 266240, writes Delta, lse_log2, dq_accum
// (zeroed) = 270336. main: reads Q, K, V, dO, lse_log2, Delta = 401408,
// writes dK, dV and dq_accum once = 393216; intensity 104857600 / 794624 =
// 132.0; bound max(104857600 / 989.4e12 = 0.106 us, 794624 / 3.35e12 =
// 0.237 us): memory. convert: reads dq_accum 262144, writes dQ 131072.
// Program: 929792 read + 794624 written = 1724416 bytes, intensity 60.8;
// 1724416 / 3.35e12 = 0.515 us > compute 0.106 us > exp 163840 / 3.9e12 =
// 0.042 us: memory-bound.
// The deterministic program (DET): no dq_accum; main runs S, dP, dV, dK
// (2 (2 x 64 + 2 x 64) = 512 per pair: 83886080), the dq kernel S, dP, dQ
// again (2 (2 x 64 + 64) = 384: 62914560): 146800640 executed, 327680
// exps; preprocess writes 8192, main 131072, dq reads 401408 and writes
// dQ 131072: 1069056 read, 270336 written.
// DET: remark: attn-cost: backward: 40 of 64 tiles visited (deterministic dQ); gemm 146800640 FLOP executed (84213760 visible, 167772160 dense: 2.50x the forward's dense), exp 327680, elementwise {{[0-9]+}} FLOP, dq reductions 0, bytes 1339392 (1069056 read, 270336 written)
// DET: remark: attn-cost: backward: dq: gemm 62914560 FLOP, exp 163840, bytes 401408 read, 131072 written
func.func @backward_gqa_causal(%q: tensor<1x4x256x64xbf16>, %k: tensor<1x2x256x64xbf16>, %v: tensor<1x2x256x64xbf16>, %o: tensor<1x4x256x64xbf16>, %do: tensor<1x4x256x64xbf16>, %lse: tensor<1x4x256xf32>) -> (tensor<1x4x256x64xbf16>, tensor<1x2x256x64xbf16>, tensor<1x2x256x64xbf16>) {
  // expected-remark @+6 {{attn-cost: backward: 40 of 64 tiles visited (atomic dQ); gemm 104857600 FLOP executed (84213760 visible, 167772160 dense: 2.50x the forward's dense), exp 163840, elementwise 787456 FLOP, dq reductions 163840, bytes 1724416 (929792 read, 794624 written), intensity 60.8 FLOP/B}}
  // expected-remark @+5 {{attn-cost: backward: tensors Q 131072, K 65536, V 65536, O 131072, dO 131072, LSE 4096, dQ 131072, dK 65536, dV 65536; workspaces Delta 4096, lse_log2 4096, dq_accum 262144}}
  // expected-remark @+4 {{attn-cost: backward: preprocess: gemm 0 FLOP, exp 0, bytes 266240 read, 270336 written, intensity 0.0 FLOP/B}}
  // expected-remark @+3 {{attn-cost: backward: main: gemm 104857600 FLOP, exp 163840, bytes 401408 read, 393216 written, intensity 132.0 FLOP/B; bound 0.237 us (memory-bound)}}
  // expected-remark @+2 {{attn-cost: backward: convert: gemm 0 FLOP, exp 0, bytes 262144 read, 131072 written}}
  // expected-remark @+1 {{attn-cost: backward: h100-sxm: bound 0.515 us (memory-bound; compute 0.106 us, memory 0.515 us, exp 0.042 us)}}
  %dq, %dk, %dv = attn.attention_backward ins(%q, %k, %v, %o, %do, %lse : tensor<1x4x256x64xbf16>, tensor<1x2x256x64xbf16>, tensor<1x2x256x64xbf16>, tensor<1x4x256x64xbf16>, tensor<1x4x256x64xbf16>, tensor<1x4x256xf32>) {mask_kind = #attn.mask<causal_bottom_right>} -> tensor<1x4x256x64xbf16>, tensor<1x2x256x64xbf16>, tensor<1x2x256x64xbf16>
  return %dq, %dk, %dv : tensor<1x4x256x64xbf16>, tensor<1x2x256x64xbf16>, tensor<1x2x256x64xbf16>
}

// -----

func.func @dynamic(%q: tensor<?x8x64x64xbf16>, %k: tensor<?x8x64x64xbf16>, %v: tensor<?x8x64x64xbf16>) -> tensor<?x8x64x64xbf16> {
  // expected-error @+1 {{expected statically shaped operands of f32, f16, bf16, i1 or i32 for the cost model}}
  %o = attn.attention ins(%q, %k, %v : tensor<?x8x64x64xbf16>, tensor<?x8x64x64xbf16>, tensor<?x8x64x64xbf16>) -> tensor<?x8x64x64xbf16>
  return %o : tensor<?x8x64x64xbf16>
}
