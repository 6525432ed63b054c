// RUN: attn-opt %s --attn-lower-precision --split-input-file | FileCheck %s
// RUN: attn-opt %s --attn-lower-precision="exp2=false" --split-input-file | FileCheck %s --check-prefix=NOEXP2
// RUN: attn-opt %s --attn-lower-precision="round-p=false" --split-input-file | FileCheck %s --check-prefix=NOROUND

// bf16 inputs: P is rounded to bf16 before P.V (p_type), and the running
// max is kept in log2 units (exp2): every step and the finalize that reads
// their state switch together.
// CHECK-LABEL: func.func @bf16_step
// CHECK: %[[A:.+]], %[[M:.+]], %[[L:.+]] = attn.online_step {{.+}} {log2_domain, p_type = bf16, scale = 1.250000e-01 : f64}
// CHECK: attn.finalize %[[A]], %[[M]], %[[L]] {log2_domain}
// NOEXP2-LABEL: func.func @bf16_step
// NOEXP2: attn.online_step {{.+}} {p_type = bf16, scale = 1.250000e-01 : f64}
// NOEXP2: attn.finalize %{{.+}}, %{{.+}}, %{{.+}} :
// NOROUND-LABEL: func.func @bf16_step
// NOROUND: attn.online_step {{.+}} {log2_domain, scale = 1.250000e-01 : f64}
func.func @bf16_step(%q: tensor<1x4x8xbf16>, %k: tensor<4x8xbf16>, %v: tensor<4x8xbf16>, %acc: tensor<1x4x8xf32>, %m: tensor<1x4xf32>, %l: tensor<1x4xf32>) -> tensor<1x4x8xbf16> {
  %c0 = arith.constant 0 : index
  %c4 = arith.constant 4 : index
  %a2, %m2, %l2 = attn.online_step ins(%q, %k, %v : tensor<1x4x8xbf16>, tensor<4x8xbf16>, tensor<4x8xbf16>) at(%c0, %c0, %c0, %c0) lengths(%c4, %c4) state(%acc, %m, %l : tensor<1x4x8xf32>, tensor<1x4xf32>, tensor<1x4xf32>) {scale = 0.125 : f64} -> tensor<1x4x8xf32>, tensor<1x4xf32>, tensor<1x4xf32>
  %o, %lse = attn.finalize %a2, %m2, %l2 : tensor<1x4x8xf32>, tensor<1x4xf32>, tensor<1x4xf32> -> tensor<1x4x8xbf16>, tensor<1x4xf32>
  return %o : tensor<1x4x8xbf16>
}

// -----

// f32 inputs: there is nothing narrower to round P to; exp2 still applies.
// CHECK-LABEL: func.func @f32_step
// CHECK: attn.online_step {{.+}} {log2_domain, scale = 1.250000e-01 : f64}
// CHECK-NOT: p_type
func.func @f32_step(%q: tensor<1x4x8xf32>, %k: tensor<4x8xf32>, %v: tensor<4x8xf32>, %acc: tensor<1x4x8xf32>, %m: tensor<1x4xf32>, %l: tensor<1x4xf32>) -> tensor<1x4x8xf32> {
  %c0 = arith.constant 0 : index
  %c4 = arith.constant 4 : index
  %a2, %m2, %l2 = attn.online_step ins(%q, %k, %v : tensor<1x4x8xf32>, tensor<4x8xf32>, tensor<4x8xf32>) at(%c0, %c0, %c0, %c0) lengths(%c4, %c4) state(%acc, %m, %l : tensor<1x4x8xf32>, tensor<1x4xf32>, tensor<1x4xf32>) {scale = 0.125 : f64} -> tensor<1x4x8xf32>, tensor<1x4xf32>, tensor<1x4xf32>
  return %a2 : tensor<1x4x8xf32>
}

// -----

// Attention sinks: the state is in units of log2 between the steps and the
// finalize, but finalize's LSE is natural again (ln 2 (m + log2 l)), and so
// is the sink partial (0, sink) merged after it: the combine is left alone.
// CHECK-LABEL: func.func @sink_combine_stays_natural
// CHECK: attn.online_step {{.+}}log2_domain
// CHECK: attn.finalize {{.+}} {log2_domain}
// CHECK: attn.combine
// CHECK-NOT: log2_domain
// NOEXP2-LABEL: func.func @sink_combine_stays_natural
// NOEXP2-NOT: log2_domain
func.func @sink_combine_stays_natural(%q: tensor<1x4x8xbf16>, %k: tensor<4x8xbf16>, %v: tensor<4x8xbf16>, %acc: tensor<1x4x8xf32>, %m: tensor<1x4xf32>, %l: tensor<1x4xf32>, %zero: tensor<1x4x8xf32>, %sink: tensor<1x4xf32>) -> (tensor<1x4x8xf32>, tensor<1x4xf32>) {
  %c0 = arith.constant 0 : index
  %c4 = arith.constant 4 : index
  %a2, %m2, %l2 = attn.online_step ins(%q, %k, %v : tensor<1x4x8xbf16>, tensor<4x8xbf16>, tensor<4x8xbf16>) at(%c0, %c0, %c0, %c0) lengths(%c4, %c4) state(%acc, %m, %l : tensor<1x4x8xf32>, tensor<1x4xf32>, tensor<1x4xf32>) {scale = 0.125 : f64} -> tensor<1x4x8xf32>, tensor<1x4xf32>, tensor<1x4xf32>
  %o, %lse = attn.finalize %a2, %m2, %l2 : tensor<1x4x8xf32>, tensor<1x4xf32>, tensor<1x4xf32> -> tensor<1x4x8xf32>, tensor<1x4xf32>
  %co, %cl = attn.combine outputs(%o, %zero : tensor<1x4x8xf32>, tensor<1x4x8xf32>) lses(%lse, %sink : tensor<1x4xf32>, tensor<1x4xf32>) -> tensor<1x4x8xf32>, tensor<1x4xf32>
  return %co, %cl : tensor<1x4x8xf32>, tensor<1x4xf32>
}
