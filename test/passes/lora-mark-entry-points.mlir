// RUN: lora-opt %s --lora-mark-entry-points | FileCheck %s

// CHECK-LABEL: func.func @main
// CHECK-SAME: attributes {llvm.emit_c_interface}
func.func @main(%arg0: tensor<2xf32>) -> tensor<2xf32> {
  return %arg0 : tensor<2xf32>
}

// CHECK-LABEL: func.func private @no_private
// CHECK-NOT: llvm.emit_c_interface
func.func private @no_private(%arg0: tensor<2xf32>) -> tensor<2xf32> {
  return %arg0 : tensor<2xf32>
}
