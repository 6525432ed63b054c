// RUN: attn-opt %s --load-dialect-plugin=%test_kv_plugin -split-input-file -verify-diagnostics

func.func @ring_rank(%r: tensor<2x40x16xf32>, %start: tensor<2xi32>) -> tensor<2x2x40x16xf32> {
  // expected-error @+1 {{expected a ring [B, Hkv, Cap, D] and start [B]}}
  %v = test_kv.ring_view %r[%start] : tensor<2x40x16xf32>, tensor<2xi32> -> tensor<2x2x40x16xf32>
  return %v : tensor<2x2x40x16xf32>
}

// -----

func.func @dynamic_capacity(%r: tensor<2x2x?x16xf32>, %start: tensor<2xi32>) -> tensor<2x2x?x16xf32> {
  // expected-error @+1 {{expected a static head count, head dimension and positive capacity}}
  %v = test_kv.ring_view %r[%start] : tensor<2x2x?x16xf32>, tensor<2xi32> -> tensor<2x2x?x16xf32>
  return %v : tensor<2x2x?x16xf32>
}

// -----

func.func @zero_capacity(%r: tensor<2x2x0x16xf32>, %start: tensor<2xi32>) -> tensor<2x2x0x16xf32> {
  // expected-error @+1 {{expected a static head count, head dimension and positive capacity}}
  %v = test_kv.ring_view %r[%start] : tensor<2x2x0x16xf32>, tensor<2xi32> -> tensor<2x2x0x16xf32>
  return %v : tensor<2x2x0x16xf32>
}

// -----

func.func @start_per_sequence(%r: tensor<2x2x40x16xf32>, %start: tensor<3xi32>) -> tensor<2x2x40x16xf32> {
  // expected-error @+1 {{expected one start per sequence (2), got 3}}
  %v = test_kv.ring_view %r[%start] : tensor<2x2x40x16xf32>, tensor<3xi32> -> tensor<2x2x40x16xf32>
  return %v : tensor<2x2x40x16xf32>
}

// -----

func.func @view_length(%r: tensor<2x2x40x16xf32>, %start: tensor<2xi32>) -> tensor<2x2x32x16xf32> {
  // expected-error @+1 {{expected the view to be [B, Hkv, Cap, D] = 'tensor<2x2x40x16xf32>', got 'tensor<2x2x32x16xf32>'}}
  %v = test_kv.ring_view %r[%start] : tensor<2x2x40x16xf32>, tensor<2xi32> -> tensor<2x2x32x16xf32>
  return %v : tensor<2x2x32x16xf32>
}

// -----

func.func @view_element_type(%r: tensor<2x2x40x16xf32>, %start: tensor<2xi32>) -> tensor<2x2x40x16xf16> {
  // expected-error @+1 {{expected the view to be [B, Hkv, Cap, D] = 'tensor<2x2x40x16xf32>', got 'tensor<2x2x40x16xf16>'}}
  %v = test_kv.ring_view %r[%start] : tensor<2x2x40x16xf32>, tensor<2xi32> -> tensor<2x2x40x16xf16>
  return %v : tensor<2x2x40x16xf16>
}

// -----

func.func @start_type(%r: tensor<2x2x40x16xf32>, %start: tensor<2xi64>) -> tensor<2x2x40x16xf32> {
  // expected-error @+1 {{operand #1 must be ranked tensor of 32-bit signless integer values}}
  %v = test_kv.ring_view %r[%start] : tensor<2x2x40x16xf32>, tensor<2xi64> -> tensor<2x2x40x16xf32>
  return %v : tensor<2x2x40x16xf32>
}
