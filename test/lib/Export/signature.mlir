// RUN: lora-translate --export-onnx %s -o %t.onnx
// RUN: lora-translate --import-onnx %t.onnx --mlir-use-nameloc-as-prefix | FileCheck %s

// Graph inputs and outputs keep their names: `onnx.name`, or `lora.param`
// for LoRA parameters (graph inputs by default), or a positional name. Nodes
// are named after their op's NameLoc, made unique. Outputs that no node of
// their own defines (an argument, a constant, a value returned twice) come
// out of an Identity node.

// CHECK-LABEL: func.func @main(
// CHECK-SAME: %{{.*}}: tensor<2x4xf32> {onnx.name = "x"}
// CHECK-SAME: %{{.*}}: tensor<4x2xf32> {onnx.name = "base_model.model.fc.lora_A.weight"}
// CHECK-SAME: %{{.*}}: tensor<4xf32> {onnx.name = "input_2"}
// CHECK-SAME: -> (tensor<2x4xf32> {onnx.name = "y"}, tensor<2x4xf32> {onnx.name = "y_again"}, tensor<2x4xf32> {onnx.name = "x_out"}, tensor<4xf32> {onnx.name = "output_3"})
// CHECK: %[[BIAS:.*]] = arith.constant dense<[1.000000e+00, 2.000000e+00, 3.000000e+00, 4.000000e+00]> : tensor<4xf32>
// CHECK: %layer.Tanh = onnx.node "Tanh"(%arg0)
// CHECK: %layer.Tanh_1 = onnx.node "Sigmoid"(%layer.Tanh)
// CHECK: %y_again = onnx.node "Identity"(%layer.Tanh_1)
// CHECK: %x_out = onnx.node "Identity"(%arg0)
// CHECK: %output_3 = onnx.node "Identity"(%[[BIAS]])
// CHECK: return %layer.Tanh_1, %y_again, %x_out, %output_3
func.func @main(%x: tensor<2x4xf32> {onnx.name = "x"},
                %a: tensor<4x2xf32> {lora.param = "base_model.model.fc.lora_A.weight", onnx.name = "ignored"},
                %z: tensor<4xf32>)
    -> (tensor<2x4xf32> {onnx.name = "y"}, tensor<2x4xf32> {onnx.name = "y_again"},
        tensor<2x4xf32> {onnx.name = "x_out"}, tensor<4xf32>) {
  %0 = tosa.tanh %x : (tensor<2x4xf32>) -> tensor<2x4xf32> loc("layer.Tanh")
  %1 = tosa.sigmoid %0 : (tensor<2x4xf32>) -> tensor<2x4xf32> loc("layer.Tanh")
  %c = arith.constant dense<[1.0, 2.0, 3.0, 4.0]> : tensor<4xf32> loc("bias")
  return %1, %1, %x, %c : tensor<2x4xf32>, tensor<2x4xf32>, tensor<2x4xf32>, tensor<4xf32>
}
