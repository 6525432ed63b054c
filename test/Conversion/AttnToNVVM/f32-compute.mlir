// RUN: attn-opt %s --attn-gpu-kernels="f32-compute=bf16 tile-model=" | FileCheck %s
// RUN: attn-opt %s --attn-gpu-kernels="f32-compute=f16 tile-model=" | FileCheck %s --check-prefix=F16
// RUN: attn-opt %s --attn-gpu-kernels="f32-compute=bf16 chip=sm_90a tile-model=" | FileCheck %s --check-prefix=SM90A
// RUN: not attn-opt %s --attn-gpu-kernels="f32-compute=tf32 tile-model=" 2>&1 | FileCheck %s --check-prefix=OPTION

// f32 Q, K, V and O with f32-compute=bf16: one program of five launches over
// one argument list (the caller's f32 memrefs, each followed by the bf16
// workspace the family's kernel reads in its place): Q, K and V rounded,
// the prefill kernel on the copies, O widened into the caller's f32 O. The
// workspaces live for the program's launches.
// CHECK-LABEL: gpu.module @attn_kernels
// CHECK: gpu.func @gqa_kernel(%{{.*}}: memref<1x8x128x64xf32>, %{{.*}}: memref<1x8x128x64xbf16>, %{{.*}}: memref<1x2x256x64xf32>, %{{.*}}: memref<1x2x256x64xbf16>, %{{.*}}: memref<1x2x256x64xf32>, %{{.*}}: memref<1x2x256x64xbf16>, %{{.*}}: memref<1x8x128x64xf32>, %{{.*}}: memref<1x8x128xf32>, %{{.*}}: memref<1x8x128x64xbf16>)
// CHECK-SAME: family = "prefill"
// CHECK-SAME: #attn.kernel_arg<"q", input>, #attn.kernel_arg<"q_bf16", scratch>, #attn.kernel_arg<"k", input>, #attn.kernel_arg<"k_bf16", scratch>, #attn.kernel_arg<"v", input>, #attn.kernel_arg<"v_bf16", scratch>, #attn.kernel_arg<"o", output>, #attn.kernel_arg<"lse", output>, #attn.kernel_arg<"o_bf16", scratch>
// One thread per 8 elements: two 16-byte f32 loads, one 16-byte bf16 store.
// CHECK: gpu.func @gqa_kernel_round_q
// CHECK-SAME: family = "convert", grid_formula = "[32, 1, 1]"
// CHECK: llvm.load %{{.*}} {alignment = 16 : i64} : !llvm.ptr<1> -> vector<8xf32>
// CHECK: llvm.fptrunc %{{.*}} : vector<8xf32> to vector<8xbf16>
// CHECK: llvm.store %{{.*}} {alignment = 16 : i64} : vector<8xbf16>, !llvm.ptr<1>
// CHECK: gpu.func @gqa_kernel_round_k
// CHECK: gpu.func @gqa_kernel_round_v
// CHECK: gpu.func @gqa_kernel_widen_o
// CHECK: llvm.load %{{.*}} {alignment = 16 : i64} : !llvm.ptr<1> -> vector<8xbf16>
// CHECK: llvm.fpext %{{.*}} : vector<8xbf16> to vector<8xf32>
// CHECK: llvm.store %{{.*}} {alignment = 16 : i64} : vector<8xf32>, !llvm.ptr<1>
// CHECK-LABEL: func.func @gqa
// CHECK: %[[Q:.*]] = memref.alloc() : memref<1x8x128x64xbf16>
// CHECK: %[[K:.*]] = memref.alloc() : memref<1x2x256x64xbf16>
// CHECK: %[[V:.*]] = memref.alloc() : memref<1x2x256x64xbf16>
// CHECK: %[[O:.*]] = memref.alloc() : memref<1x8x128x64xbf16>
// CHECK-NOT: arith.truncf
// CHECK-NOT: bufferization
// CHECK: gpu.launch_func @attn_kernels::@gqa_kernel_round_q blocks in (%{{.*}}) threads in (%c256, {{.*}} args(%arg0 : memref<1x8x128x64xf32>, %[[Q]] : memref<1x8x128x64xbf16>, %arg1 : memref<1x2x256x64xf32>, %[[K]] : memref<1x2x256x64xbf16>, %arg2 : memref<1x2x256x64xf32>, %[[V]] : memref<1x2x256x64xbf16>, %arg3 : memref<1x8x128x64xf32>, %arg4 : memref<1x8x128xf32>, %[[O]] : memref<1x8x128x64xbf16>)
// CHECK: gpu.launch_func @attn_kernels::@gqa_kernel_round_k
// CHECK: gpu.launch_func @attn_kernels::@gqa_kernel_round_v
// CHECK: gpu.launch_func @attn_kernels::@gqa_kernel blocks
// CHECK: gpu.launch_func @attn_kernels::@gqa_kernel_widen_o
// CHECK: memref.dealloc %[[Q]]
// CHECK: memref.dealloc %[[K]]
// CHECK: memref.dealloc %[[V]]
// CHECK: memref.dealloc %[[O]]
// CHECK-NOT: arith.extf
// CHECK-NOT: bufferization

// F16-LABEL: gpu.module @attn_kernels
// F16: #attn.kernel_arg<"q_f16", scratch>
// F16: llvm.fptrunc %{{.*}} : vector<8xf32> to vector<8xf16>

// On sm_90a the hopper family reads the copies through tensor maps of the
// scratch slices (the runtime encodes them over the workspace at launch).
// SM90A: gpu.func @gqa_kernel(
// SM90A-SAME: family = "hopper"
// SM90A-SAME: #attn.kernel_arg<"k_bf16", scratch>
// SM90A-SAME: #attn.kernel_arg<"k_bf16_tensor_map", tensor_map, <"k_bf16", box = [1, 1, 128, 64], swizzle = 128>>
// OPTION: error: expected f32-compute of refuse, bf16 or f16, got 'tf32'
func.func @gqa(%q: memref<1x8x128x64xf32>, %k: memref<1x2x256x64xf32>, %v: memref<1x2x256x64xf32>, %o: memref<1x8x128x64xf32>, %lse: memref<1x8x128xf32>) {
  %0 = bufferization.to_tensor %q restrict : memref<1x8x128x64xf32> to tensor<1x8x128x64xf32>
  %1 = bufferization.to_tensor %k restrict : memref<1x2x256x64xf32> to tensor<1x2x256x64xf32>
  %2 = bufferization.to_tensor %v restrict : memref<1x2x256x64xf32> to tensor<1x2x256x64xf32>
  %3:2 = attn.attention ins(%0, %1, %2 : tensor<1x8x128x64xf32>, tensor<1x2x256x64xf32>, tensor<1x2x256x64xf32>) {mask_kind = #attn.mask<causal_bottom_right>} -> tensor<1x8x128x64xf32>, tensor<1x8x128xf32>
  bufferization.materialize_in_destination %3#0 in restrict writable %o : (tensor<1x8x128x64xf32>, memref<1x8x128x64xf32>) -> ()
  bufferization.materialize_in_destination %3#1 in restrict writable %lse : (tensor<1x8x128xf32>, memref<1x8x128xf32>) -> ()
  return
}
