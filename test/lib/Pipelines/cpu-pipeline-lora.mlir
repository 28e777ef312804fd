// RUN: lora-opt %s --lora-cpu-pipeline | FileCheck %s

// lora.linear lowers through the CPU pipeline like TOSA does: nothing of the
// lora, linalg or tensor dialects is left, and the function gets its packed
// entry point.
// CHECK-NOT: lora.linear
// CHECK-NOT: linalg.
// CHECK-LABEL: llvm.func @_mlir_ciface_linear(
// CHECK-LABEL: llvm.func @lora_entry_linear(
// CHECK: llvm.call @_mlir_ciface_linear
// The runtime checks an artifact's manifest against this signature.
// CHECK: llvm.mlir.global external constant @lora_signature_linear("f16[2x5x16],f16[16x12],f16[16x4],f16[4x12],f16[12]->f16[2x5x12]\00")
func.func @linear(%x: tensor<2x5x16xf16>, %w: tensor<16x12xf16>, %a: tensor<16x4xf16>, %b: tensor<4x12xf16>, %bias: tensor<12xf16>) -> tensor<2x5x12xf16> {
  %y = lora.linear %x, %w, %a, %b bias(%bias) {rank = 4 : i64, scale = 2.0 : f64} : (tensor<2x5x16xf16>, tensor<16x12xf16>, tensor<16x4xf16>, tensor<4x12xf16>, tensor<12xf16>) -> tensor<2x5x12xf16>
  return %y : tensor<2x5x12xf16>
}
