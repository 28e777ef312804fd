// RUN: lora-translate --export-onnx --export-func=second %s -o %t.onnx
// RUN: lora-translate --import-onnx %t.onnx | FileCheck %s
// RUN: lora-translate --export-onnx --export-func=missing %s -verify-diagnostics -o /dev/null

// --export-func picks one of several public functions.

// expected-error @+1 {{no function 'missing' with a body to export}}
module {
  func.func @first(%x: tensor<4xf32>) -> tensor<4xf32> {
    return %x : tensor<4xf32>
  }
  // CHECK-LABEL: func.func @main(
  // CHECK: onnx.node "Tanh"
  func.func @second(%x: tensor<4xf32>) -> tensor<4xf32> {
    %0 = tosa.tanh %x : (tensor<4xf32>) -> tensor<4xf32>
    return %0 : tensor<4xf32>
  }
}
