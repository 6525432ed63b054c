// The GPU pipeline runs the tiling passes: the family and its tiles first,
// then tiling, online-softmax fusion and precision lowering, then the
// kernels of the tiled programs; the backward the same way after it (its
// schedule, attn-tile-backward, its precision lowering, its kernels).
// RUN: attn-opt %s --attn-to-ptx="emit-binary=false" --dump-pass-pipeline -o /dev/null 2>&1 | FileCheck %s
// RUN: attn-opt %s --attn-memref-entry --attn-gpu-kernels --dump-pass-pipeline -o /dev/null 2>&1 | FileCheck %s --check-prefix=KERNELS
// CHECK: attn-memref-entry
// CHECK-NEXT: attn-plan-gpu-kernels{
// CHECK-NEXT: attn-tile{
// CHECK-SAME: skip-masked-blocks=true
// CHECK-NEXT: attn-fuse-online-softmax
// CHECK-NEXT: attn-lower-precision{
// CHECK-NEXT: convert-attn-to-nvvm{
// CHECK-NEXT: attn-plan-gpu-backward{
// CHECK-SAME: chip=sm_80
// CHECK-NEXT: attn-tile-backward{
// CHECK-SAME: skip-masked-blocks=true
// CHECK-NEXT: attn-lower-precision{
// CHECK-NEXT: convert-attn-backward-to-nvvm{kernel-module=attn_kernels}
// CHECK: convert-gpu-to-nvvm
// KERNELS: attn-plan-gpu-kernels{
// KERNELS-NEXT: attn-tile{
// KERNELS-NEXT: attn-fuse-online-softmax
// KERNELS-NEXT: attn-lower-precision{
// KERNELS-NEXT: convert-attn-to-nvvm{
// KERNELS-NOT: convert-gpu-to-nvvm
func.func @attention(%q: tensor<1x4x256x64xbf16>, %k: tensor<1x2x256x64xbf16>, %v: tensor<1x2x256x64xbf16>) -> tensor<1x4x256x64xbf16> {
  %o = attn.attention ins(%q, %k, %v : tensor<1x4x256x64xbf16>, tensor<1x2x256x64xbf16>, tensor<1x2x256x64xbf16>) {mask_kind = #attn.mask<causal_bottom_right>} -> tensor<1x4x256x64xbf16>
  return %o : tensor<1x4x256x64xbf16>
}
