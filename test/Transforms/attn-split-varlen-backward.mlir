// RUN: attn-opt %s --attn-split-varlen --split-input-file | FileCheck %s
// RUN: attn-opt %s --attn-split-varlen --convert-attn-to-linalg --split-input-file | FileCheck %s --check-prefix=LINALG

// A varlen backward is the dense backward on each packed sequence's slices:
// for n in [0, N), Q / O / dO rows [cu_q[n], cu_q[n+1]), K / V rows
// [cu_k[n], cu_k[n+1]) and LSE [0, :, cu_q[n] : cu_q[n+1]] go through a
// dense attn.attention_backward with the op's attributes (causal alignment
// per sequence); its dQ rows land at cu_q[n] and its dK / dV rows at
// cu_k[n] of zero-filled gradients (keys of no sequence keep 0), and
// grad_sinks is the sum over the sequences from 0.
// CHECK-LABEL: func.func @gqa_causal_sinks
// CHECK-SAME: %[[Q:[^:]+]]: tensor<1x10x4x16xf32>, %[[K:[^:]+]]: tensor<1x12x2x16xf32>, %[[V:[^:]+]]: tensor<1x12x2x16xf32>, %[[O:[^:]+]]: tensor<1x10x4x16xf32>, %[[DO:[^:]+]]: tensor<1x10x4x16xf32>, %[[LSE:[^:]+]]: tensor<1x4x10xf32>, %[[S:[^:]+]]: tensor<4xf32>, %[[CQ:[^:]+]]: tensor<4xi32>, %[[CK:[^:]+]]: tensor<4xi32>
// CHECK: %[[ZQ:.+]] = linalg.fill ins(%{{.+}} : f32) outs(%{{.+}} : tensor<1x10x4x16xf32>)
// CHECK: %[[ZK:.+]] = linalg.fill ins(%{{.+}} : f32) outs(%{{.+}} : tensor<1x12x2x16xf32>)
// CHECK: %[[ZV:.+]] = linalg.fill ins(%{{.+}} : f32) outs(%{{.+}} : tensor<1x12x2x16xf32>)
// CHECK: %[[ZS:.+]] = linalg.fill ins(%{{.+}} : f32) outs(%{{.+}} : tensor<4xf32>)
// CHECK: %[[LOOP:.+]]:4 = scf.for %{{.+}} = %{{.+}} to %{{.+}} step %{{.+}} iter_args(%[[GQ:.+]] = %[[ZQ]], %[[GK:.+]] = %[[ZK]], %[[GV:.+]] = %[[ZV]], %[[GS:.+]] = %[[ZS]])
// CHECK: %[[LQ:.+]] = arith.subi %{{.+}}, %[[QB:[^ ]+]] : index
// CHECK: %[[LK:.+]] = arith.subi %{{.+}}, %[[KB:[^ ]+]] : index
// CHECK: %[[QS:.+]] = tensor.extract_slice %[[Q]][0, %[[QB]], 0, 0] [1, %[[LQ]], 4, 16]
// CHECK: %[[KS:.+]] = tensor.extract_slice %[[K]][0, %[[KB]], 0, 0] [1, %[[LK]], 2, 16]
// CHECK: %[[VS:.+]] = tensor.extract_slice %[[V]][0, %[[KB]], 0, 0] [1, %[[LK]], 2, 16]
// CHECK: %[[OS:.+]] = tensor.extract_slice %[[O]][0, %[[QB]], 0, 0] [1, %[[LQ]], 4, 16]
// CHECK: %[[DOS:.+]] = tensor.extract_slice %[[DO]][0, %[[QB]], 0, 0] [1, %[[LQ]], 4, 16]
// CHECK: %[[LS:.+]] = tensor.extract_slice %[[LSE]][0, 0, %[[QB]]] [1, 4, %[[LQ]]] [1, 1, 1] : tensor<1x4x10xf32> to tensor<1x4x?xf32>
// CHECK: %[[DQ:.+]], %[[DK:.+]], %[[DV:.+]], %[[DS:.+]] = attn.attention_backward ins(%[[QS]], %[[KS]], %[[VS]], %[[OS]], %[[DOS]], %[[LS]] : tensor<1x?x4x16xf32>, tensor<1x?x2x16xf32>, tensor<1x?x2x16xf32>, tensor<1x?x4x16xf32>, tensor<1x?x4x16xf32>, tensor<1x4x?xf32>)
// CHECK-SAME: sinks(%[[S]] : tensor<4xf32>)
// CHECK-NOT: cu_seqlens
// CHECK-SAME: layout = #attn.layout<bshd>
// CHECK-SAME: mask_kind = #attn.mask<causal_bottom_right>
// CHECK: %[[GQ2:.+]] = tensor.insert_slice %[[DQ]] into %[[GQ]][0, %[[QB]], 0, 0] [1, %[[LQ]], 4, 16]
// CHECK: %[[GK2:.+]] = tensor.insert_slice %[[DK]] into %[[GK]][0, %[[KB]], 0, 0] [1, %[[LK]], 2, 16]
// CHECK: %[[GV2:.+]] = tensor.insert_slice %[[DV]] into %[[GV]][0, %[[KB]], 0, 0] [1, %[[LK]], 2, 16]
// CHECK: %[[GS2:.+]] = linalg.add ins(%[[GS]], %[[DS]] : tensor<4xf32>, tensor<4xf32>) outs(%[[GS]] : tensor<4xf32>)
// CHECK: scf.yield %[[GQ2]], %[[GK2]], %[[GV2]], %[[GS2]]
// CHECK: return %[[LOOP]]#0, %[[LOOP]]#1, %[[LOOP]]#2, %[[LOOP]]#3

// convert-attn-to-linalg lowers the dense backward inside the loop: no attn
// op is left.
// LINALG-LABEL: func.func @gqa_causal_sinks
// LINALG: scf.for
// LINALG: linalg.generic
// LINALG-NOT: attn.
// LINALG: return
func.func @gqa_causal_sinks(%q: tensor<1x10x4x16xf32>, %k: tensor<1x12x2x16xf32>, %v: tensor<1x12x2x16xf32>, %o: tensor<1x10x4x16xf32>, %do: tensor<1x10x4x16xf32>, %lse: tensor<1x4x10xf32>, %s: tensor<4xf32>, %cq: tensor<4xi32>, %ck: tensor<4xi32>) -> (tensor<1x10x4x16xf32>, tensor<1x12x2x16xf32>, tensor<1x12x2x16xf32>, tensor<4xf32>) {
  %dq, %dk, %dv, %ds = attn.attention_backward ins(%q, %k, %v, %o, %do, %lse : tensor<1x10x4x16xf32>, tensor<1x12x2x16xf32>, tensor<1x12x2x16xf32>, tensor<1x10x4x16xf32>, tensor<1x10x4x16xf32>, tensor<1x4x10xf32>) sinks(%s : tensor<4xf32>) cu_seqlens_q(%cq : tensor<4xi32>) cu_seqlens_k(%ck : tensor<4xi32>) {layout = #attn.layout<bshd>, mask_kind = #attn.mask<causal_bottom_right>} -> tensor<1x10x4x16xf32>, tensor<1x12x2x16xf32>, tensor<1x12x2x16xf32> grad_sinks(tensor<4xf32>)
  return %dq, %dk, %dv, %ds : tensor<1x10x4x16xf32>, tensor<1x12x2x16xf32>, tensor<1x12x2x16xf32>, tensor<4xf32>
}
