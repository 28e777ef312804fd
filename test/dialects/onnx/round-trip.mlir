// RUN: lora-opt %s | lora-opt | FileCheck %s
// RUN: lora-opt %s --mlir-print-op-generic | lora-opt | FileCheck %s

// CHECK-LABEL: func.func @node_forms
// CHECK: %[[NONE:.*]] = onnx.none
// CHECK: %[[A:.*]] = onnx.node "Softmax"(%arg0) attrs {axis = -1 : i64} opset 18 : (tensor<2x8xf32>) -> tensor<2x8xf32>
// CHECK: %[[B:.*]]:2 = onnx.node "Split"(%[[A]]) opset 18 : (tensor<2x8xf32>) -> (!onnx.unknown, !onnx.unknown)
// CHECK: onnx.node "Clip"(%[[B]]#0, %[[NONE]], %[[NONE]]) opset 13 domain "custom.domain" : (!onnx.unknown, none, none) -> !onnx.unknown
// CHECK: onnx.node "Foo"() attrs {f = 5.000000e-01 : f32, i = array<i64: 1, 2>, s = "x", t = dense<1> : tensor<2xi64>} opset 1 : () -> tensor<*xf32>
func.func @node_forms(%x: tensor<2x8xf32>) -> !onnx.unknown {
  %none = onnx.none
  %0 = onnx.node "Softmax"(%x) attrs {axis = -1 : i64} opset 18 : (tensor<2x8xf32>) -> tensor<2x8xf32>
  %1:2 = onnx.node "Split"(%0) opset 18 : (tensor<2x8xf32>) -> (!onnx.unknown, !onnx.unknown)
  %2 = onnx.node "Clip"(%1#0, %none, %none) opset 13 domain "custom.domain" : (!onnx.unknown, none, none) -> !onnx.unknown
  %3 = onnx.node "Foo"() attrs {f = 0.5 : f32, i = array<i64: 1, 2>, s = "x", t = dense<1> : tensor<2xi64>} opset 1 : () -> tensor<*xf32>
  return %2 : !onnx.unknown
}
