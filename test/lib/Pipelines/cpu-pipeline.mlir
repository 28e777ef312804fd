// RUN: lora-opt %s --lora-cpu-pipeline | FileCheck %s

// The CPU pipeline takes TOSA on tensors to the LLVM dialect: results become
// out parameters and the runtime gets one packed entry point.
// CHECK-NOT: tosa.
// CHECK-NOT: linalg.
// CHECK-LABEL: llvm.func @main(
// CHECK-LABEL: llvm.func @_mlir_ciface_main(
// CHECK-SAME: %{{.*}}: !llvm.ptr, %{{.*}}: !llvm.ptr, %{{.*}}: !llvm.ptr)
// CHECK-LABEL: llvm.func @lora_entry_main(
// CHECK: llvm.call @_mlir_ciface_main
func.func @main(%x: tensor<2x3xf32>, %y: tensor<2x3xf32>) -> tensor<2x3xf32> {
  %0 = tosa.add %x, %y : (tensor<2x3xf32>, tensor<2x3xf32>) -> tensor<2x3xf32>
  %1 = tosa.tanh %0 : (tensor<2x3xf32>) -> tensor<2x3xf32>
  return %1 : tensor<2x3xf32>
}
