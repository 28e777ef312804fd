// RUN: lora-opt %s -split-input-file --convert-onnx-to-tosa -verify-diagnostics

// Every unsupported node is reported, not just the first.
func.func @negative_unsupported_ops(%x: tensor<2x3xf32>) -> !onnx.unknown {
  // expected-error @unknown {{node 'first': ONNX operator 'NoSuchOp' (opset 18) is not supported}}
  %0 = onnx.node "NoSuchOp"(%x) opset 18 : (tensor<2x3xf32>) -> !onnx.unknown loc("first")
  // expected-error @unknown {{node 'second': ONNX operator 'com.example::Custom' (opset 1) is not supported}}
  %1 = onnx.node "Custom"(%0) opset 1 domain "com.example" : (!onnx.unknown) -> !onnx.unknown loc("second")
  return %1 : !onnx.unknown
}

// -----

// expected-error @+1 {{input 'input_ids' has type 'tensor<?x16xi64>' with dynamic dimensions; give it a static shape with --input-shape=input_ids:DxDx...}}
func.func @negative_dynamic_input(%x: tensor<?x16xi64> {onnx.name = "input_ids"}) -> !onnx.unknown {
  %0 = onnx.node "Identity"(%x) opset 18 : (tensor<?x16xi64>) -> !onnx.unknown
  return %0 : !onnx.unknown
}

// -----

// A function without onnx ops is left alone, even with dynamic inputs.
func.func @no_onnx_ops(%x: tensor<?xf32>) -> tensor<?xf32> {
  return %x : tensor<?xf32>
}
