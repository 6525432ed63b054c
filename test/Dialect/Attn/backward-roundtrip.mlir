// RUN: attn-opt %s | attn-opt | FileCheck %s
// RUN: attn-opt %s --mlir-print-op-generic | attn-opt | FileCheck %s

// The backward ops print and parse back to themselves, through the custom
// and the generic syntax.

// GQA 4/2: dQ has Q's shape, dK and dV the K/V shape [B, Hkv, Lk, D].
// CHECK-LABEL: func.func @gqa
// CHECK: attn.attention_backward ins(%{{.+}}, %{{.+}}, %{{.+}}, %{{.+}}, %{{.+}}, %{{.+}} : tensor<2x4x8x16xbf16>, tensor<2x2x8x16xbf16>, tensor<2x2x8x16xbf16>, tensor<2x4x8x16xbf16>, tensor<2x4x8x16xbf16>, tensor<2x4x8xf32>) {mask_kind = #attn.mask<causal_bottom_right>} -> tensor<2x4x8x16xf32>, tensor<2x2x8x16xf32>, tensor<2x2x8x16xf32>
func.func @gqa(%q: tensor<2x4x8x16xbf16>, %k: tensor<2x2x8x16xbf16>, %v: tensor<2x2x8x16xbf16>, %o: tensor<2x4x8x16xbf16>, %do: tensor<2x4x8x16xbf16>, %lse: tensor<2x4x8xf32>) -> (tensor<2x4x8x16xf32>, tensor<2x2x8x16xf32>, tensor<2x2x8x16xf32>) {
  %dq, %dk, %dv = attn.attention_backward ins(%q, %k, %v, %o, %do, %lse : tensor<2x4x8x16xbf16>, tensor<2x2x8x16xbf16>, tensor<2x2x8x16xbf16>, tensor<2x4x8x16xbf16>, tensor<2x4x8x16xbf16>, tensor<2x4x8xf32>) {mask_kind = #attn.mask<causal_bottom_right>} -> tensor<2x4x8x16xf32>, tensor<2x2x8x16xf32>, tensor<2x2x8x16xf32>
  return %dq, %dk, %dv : tensor<2x4x8x16xf32>, tensor<2x2x8x16xf32>, tensor<2x2x8x16xf32>
}

// A broadcast bias [1, Hq, Lq, Lk] gets a gradient of its own shape; the
// mask, key lengths, softcap, ALiBi, window and a differentiable score_mod
// (a tanh cap and a select on the score) all print.
// CHECK-LABEL: func.func @everything
// CHECK: attn.attention_backward ins({{.+}}) bias(%{{.+}} : tensor<1x4x8x8xf32>) mask(%{{.+}} : tensor<2x4x8x8xi1>) key_lengths(%{{.+}} : tensor<2xi32>) {alibi_slopes = array<f64: 5.000000e-01, 2.500000e-01, 1.250000e-01, 6.250000e-02>, mask_kind = #attn.mask<sliding_window>, softcap = 3.000000e+01 : f64, window = array<i64: 2, 0>} -> tensor<2x4x8x16xf32>, tensor<2x2x8x16xf32>, tensor<2x2x8x16xf32>, tensor<1x4x8x8xf32> score_mod {
// CHECK: math.tanh
// CHECK: arith.select
// CHECK: attn.yield
// CHECK: } mask_mod {
func.func @everything(%q: tensor<2x4x8x16xf32>, %k: tensor<2x2x8x16xf32>, %v: tensor<2x2x8x16xf32>, %o: tensor<2x4x8x16xf32>, %do: tensor<2x4x8x16xf32>, %lse: tensor<2x4x8xf32>, %bias: tensor<1x4x8x8xf32>, %mask: tensor<2x4x8x8xi1>, %len: tensor<2xi32>) -> tensor<1x4x8x8xf32> {
  %dq, %dk, %dv, %db = attn.attention_backward ins(%q, %k, %v, %o, %do, %lse : tensor<2x4x8x16xf32>, tensor<2x2x8x16xf32>, tensor<2x2x8x16xf32>, tensor<2x4x8x16xf32>, tensor<2x4x8x16xf32>, tensor<2x4x8xf32>) bias(%bias : tensor<1x4x8x8xf32>) mask(%mask : tensor<2x4x8x8xi1>) key_lengths(%len : tensor<2xi32>) {mask_kind = #attn.mask<sliding_window>, window = array<i64: 2, 0>, softcap = 30.0 : f64, alibi_slopes = array<f64: 0.5, 0.25, 0.125, 0.0625>} -> tensor<2x4x8x16xf32>, tensor<2x2x8x16xf32>, tensor<2x2x8x16xf32>, tensor<1x4x8x8xf32> score_mod {
  ^bb0(%s: f32, %b: index, %h: index, %i: index, %j: index):
    %c = arith.constant 20.0 : f32
    %x = arith.divf %s, %c : f32
    %t = math.tanh %x : f32
    %y = arith.mulf %c, %t : f32
    %zero = arith.constant 0.0 : f32
    %pos = arith.cmpf ogt, %s, %zero : f32
    %r = arith.select %pos, %y, %s : f32
    attn.yield %r : f32
  } mask_mod {
  ^bb0(%b: index, %h: index, %i: index, %j: index):
    %keep = arith.cmpi sle, %j, %i : index
    attn.yield %keep : i1
  }
  return %db : tensor<1x4x8x8xf32>
}

// One (query tile, KV tile) step: G = 2 heads of M = 4 rows against N = 8
// keys; the KV tile's f32 gradient accumulators go in and come out, the
// query tile's share of dQ comes out.
// CHECK-LABEL: func.func @step
// CHECK: attn.backward_step ins(%{{.+}}, %{{.+}}, %{{.+}} : tensor<2x4x16xbf16>, tensor<8x16xbf16>, tensor<8x16xbf16>) at(%{{.+}}, %{{.+}}, %{{.+}}, %{{.+}}) lengths(%{{.+}}, %{{.+}}) grads(%{{.+}}, %{{.+}}, %{{.+}} : tensor<2x4x16xbf16>, tensor<2x4xf32>, tensor<2x4xf32>) acc(%{{.+}}, %{{.+}} : tensor<8x16xf32>, tensor<8x16xf32>) {interior, p_type = bf16, scale = 2.500000e-01 : f64} -> tensor<8x16xf32>, tensor<8x16xf32>, tensor<2x4x16xf32>
// CHECK: attn.accumulate %{{.+}} {deterministic} : tensor<3x2x4x16xf32> -> tensor<2x4x16xf32>
func.func @step(%q: tensor<2x4x16xbf16>, %k: tensor<8x16xbf16>, %v: tensor<8x16xbf16>, %do: tensor<2x4x16xbf16>, %lse: tensor<2x4xf32>, %delta: tensor<2x4xf32>, %dk: tensor<8x16xf32>, %dv: tensor<8x16xf32>, %parts: tensor<3x2x4x16xf32>, %i: index) -> (tensor<8x16xf32>, tensor<8x16xf32>, tensor<2x4x16xf32>, tensor<2x4x16xf32>) {
  %a, %b, %c = attn.backward_step ins(%q, %k, %v : tensor<2x4x16xbf16>, tensor<8x16xbf16>, tensor<8x16xbf16>) at(%i, %i, %i, %i) lengths(%i, %i) grads(%do, %lse, %delta : tensor<2x4x16xbf16>, tensor<2x4xf32>, tensor<2x4xf32>) acc(%dk, %dv : tensor<8x16xf32>, tensor<8x16xf32>) {scale = 0.25 : f64, interior, p_type = bf16} -> tensor<8x16xf32>, tensor<8x16xf32>, tensor<2x4x16xf32>
  %sum = attn.accumulate %parts {deterministic} : tensor<3x2x4x16xf32> -> tensor<2x4x16xf32>
  return %a, %b, %c, %sum : tensor<8x16xf32>, tensor<8x16xf32>, tensor<2x4x16xf32>, tensor<2x4x16xf32>
}

// A bias without grad_bias is a constant of the loss: three gradients.
// CHECK-LABEL: func.func @constant_bias
// CHECK: attn.attention_backward ins({{.+}}) bias(%{{.+}} : tensor<2x4x8x8xbf16>) -> tensor<2x4x8x16xbf16>, tensor<2x2x8x16xbf16>, tensor<2x2x8x16xbf16>{{$}}
func.func @constant_bias(%q: tensor<2x4x8x16xbf16>, %k: tensor<2x2x8x16xbf16>, %o: tensor<2x4x8x16xbf16>, %lse: tensor<2x4x8xf32>, %bias: tensor<2x4x8x8xbf16>) -> tensor<2x4x8x16xbf16> {
  %dq, %dk, %dv = attn.attention_backward ins(%q, %k, %k, %o, %o, %lse : tensor<2x4x8x16xbf16>, tensor<2x2x8x16xbf16>, tensor<2x2x8x16xbf16>, tensor<2x4x8x16xbf16>, tensor<2x4x8x16xbf16>, tensor<2x4x8xf32>) bias(%bias : tensor<2x4x8x8xbf16>) -> tensor<2x4x8x16xbf16>, tensor<2x2x8x16xbf16>, tensor<2x2x8x16xbf16>
  return %dq : tensor<2x4x8x16xbf16>
}

// With a bias tile the step also gives the tile's bias gradient [G, M, N].
// CHECK-LABEL: func.func @step_bias
// CHECK: attn.backward_step {{.+}} bias(%{{.+}} : tensor<2x4x8xf32>) mask(%{{.+}} : tensor<2x4x8xi1>) at({{.+}} -> tensor<8x16xf32>, tensor<8x16xf32>, tensor<2x4x16xf32>, tensor<2x4x8xf32>
func.func @step_bias(%q: tensor<2x4x16xf32>, %k: tensor<8x16xf32>, %bias: tensor<2x4x8xf32>, %mask: tensor<2x4x8xi1>, %lse: tensor<2x4xf32>, %dk: tensor<8x16xf32>, %i: index) -> tensor<2x4x8xf32> {
  %a, %b, %c, %db = attn.backward_step ins(%q, %k, %k : tensor<2x4x16xf32>, tensor<8x16xf32>, tensor<8x16xf32>) bias(%bias : tensor<2x4x8xf32>) mask(%mask : tensor<2x4x8xi1>) at(%i, %i, %i, %i) lengths(%i, %i) grads(%q, %lse, %lse : tensor<2x4x16xf32>, tensor<2x4xf32>, tensor<2x4xf32>) acc(%dk, %dk : tensor<8x16xf32>, tensor<8x16xf32>) {scale = 0.25 : f64} -> tensor<8x16xf32>, tensor<8x16xf32>, tensor<2x4x16xf32>, tensor<2x4x8xf32>
  return %db : tensor<2x4x8xf32>
}

// f64 operands and gradients (the CPU's float64 gradient-check precision);
// the LSE is f64 too.
// CHECK-LABEL: func.func @f64
// CHECK: attn.attention_backward ins({{.+}} : tensor<1x2x8x16xf64>, tensor<1x1x8x16xf64>, tensor<1x1x8x16xf64>, tensor<1x2x8x16xf64>, tensor<1x2x8x16xf64>, tensor<1x2x8xf64>) -> tensor<1x2x8x16xf64>, tensor<1x1x8x16xf64>, tensor<1x1x8x16xf64>
func.func @f64(%q: tensor<1x2x8x16xf64>, %k: tensor<1x1x8x16xf64>, %v: tensor<1x1x8x16xf64>, %o: tensor<1x2x8x16xf64>, %lse: tensor<1x2x8xf64>) -> tensor<1x1x8x16xf64> {
  %dq, %dk, %dv = attn.attention_backward ins(%q, %k, %v, %o, %o, %lse : tensor<1x2x8x16xf64>, tensor<1x1x8x16xf64>, tensor<1x1x8x16xf64>, tensor<1x2x8x16xf64>, tensor<1x2x8x16xf64>, tensor<1x2x8xf64>) -> tensor<1x2x8x16xf64>, tensor<1x1x8x16xf64>, tensor<1x1x8x16xf64>
  return %dk : tensor<1x1x8x16xf64>
}

// With sinks the backward also gives their gradient, after d_bias.
// CHECK-LABEL: func.func @sinks
// CHECK: attn.attention_backward ins({{.+}}) bias(%{{.+}} : tensor<1x4x8x8xf32>) sinks(%{{.+}} : tensor<4xf32>) -> tensor<2x4x8x16xf32>, tensor<2x2x8x16xf32>, tensor<2x2x8x16xf32>, tensor<1x4x8x8xf32> grad_sinks(tensor<4xf32>)
func.func @sinks(%q: tensor<2x4x8x16xf32>, %k: tensor<2x2x8x16xf32>, %o: tensor<2x4x8x16xf32>, %lse: tensor<2x4x8xf32>, %bias: tensor<1x4x8x8xf32>, %s: tensor<4xf32>) -> tensor<4xf32> {
  %dq, %dk, %dv, %db, %ds = attn.attention_backward ins(%q, %k, %k, %o, %o, %lse : tensor<2x4x8x16xf32>, tensor<2x2x8x16xf32>, tensor<2x2x8x16xf32>, tensor<2x4x8x16xf32>, tensor<2x4x8x16xf32>, tensor<2x4x8xf32>) bias(%bias : tensor<1x4x8x8xf32>) sinks(%s : tensor<4xf32>) -> tensor<2x4x8x16xf32>, tensor<2x2x8x16xf32>, tensor<2x2x8x16xf32>, tensor<1x4x8x8xf32> grad_sinks(tensor<4xf32>)
  return %ds : tensor<4xf32>
}

// The LSE's gradient (grad_lse, of lse's type) prints after the offsets.
// CHECK-LABEL: func.func @lse_gradient
// CHECK: attn.attention_backward ins({{.+}}) grad_lse(%{{.+}} : tensor<2x4x8xf32>) {mask_kind = #attn.mask<causal_bottom_right>} -> tensor<2x4x8x16xf32>, tensor<2x2x8x16xf32>, tensor<2x2x8x16xf32>
func.func @lse_gradient(%q: tensor<2x4x8x16xbf16>, %k: tensor<2x2x8x16xbf16>, %v: tensor<2x2x8x16xbf16>, %o: tensor<2x4x8x16xbf16>, %do: tensor<2x4x8x16xbf16>, %lse: tensor<2x4x8xf32>, %glse: tensor<2x4x8xf32>) -> (tensor<2x4x8x16xf32>, tensor<2x2x8x16xf32>, tensor<2x2x8x16xf32>) {
  %dq, %dk, %dv = attn.attention_backward ins(%q, %k, %v, %o, %do, %lse : tensor<2x4x8x16xbf16>, tensor<2x2x8x16xbf16>, tensor<2x2x8x16xbf16>, tensor<2x4x8x16xbf16>, tensor<2x4x8x16xbf16>, tensor<2x4x8xf32>) grad_lse(%glse : tensor<2x4x8xf32>) {mask_kind = #attn.mask<causal_bottom_right>} -> tensor<2x4x8x16xf32>, tensor<2x2x8x16xf32>, tensor<2x2x8x16xf32>
  return %dq, %dk, %dv : tensor<2x4x8x16xf32>, tensor<2x2x8x16xf32>, tensor<2x2x8x16xf32>
}
