// RUN: lora-opt %s -split-input-file -verify-diagnostics

func.func @negative_empty_op_type(%x: tensor<2xf32>) {
  // expected-error @+1 {{'onnx.node' op has an empty op_type}}
  %0 = onnx.node ""(%x) opset 18 : (tensor<2xf32>) -> !onnx.unknown
  return
}

// -----

func.func @negative_opset(%x: tensor<2xf32>) {
  // expected-error @+1 {{'onnx.node' op opset must be positive, got 0}}
  %0 = onnx.node "Relu"(%x) opset 0 : (tensor<2xf32>) -> !onnx.unknown
  return
}
