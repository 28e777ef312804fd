// RUN: lora-translate --export-onnx %s -o %t.inputs.onnx
// RUN: lora-translate --import-onnx %t.inputs.onnx | FileCheck %s --check-prefix=INPUTS
// RUN: lora-translate --export-onnx --lora-params=initializers %s -o %t.init.onnx
// RUN: lora-translate --import-onnx %t.init.onnx --mlir-use-nameloc-as-prefix | FileCheck %s --check-prefix=INIT

// LoRA parameters (arguments with `lora.param`) are graph inputs by default;
// with --lora-params=initializers they are initializers holding `lora.init`
// (dense or dense_resource), under the same names.

// INPUTS-LABEL: func.func @main(
// INPUTS-SAME: {onnx.name = "x"}
// INPUTS-SAME: %[[A:.*]]: tensor<4x2xf32> {onnx.name = "base_model.model.fc.lora_A.weight"}
// INPUTS-SAME: %[[B:.*]]: tensor<2x4xf32> {onnx.name = "base_model.model.fc.lora_B.weight"}
// INPUTS: onnx.node "MatMul"(%{{.*}}, %{{.*}})

// INIT-LABEL: func.func @main(
// INIT-SAME: %{{.*}}: tensor<2x4xf32> {onnx.name = "x"}) ->
// INIT-DAG: %base_model.model.fc.lora_A.weight = arith.constant dense<{{\[}}[1.000000e+00, 2.000000e+00], [3.000000e+00, 4.000000e+00], [5.000000e+00, 6.000000e+00], [7.000000e+00, 8.000000e+00]]> : tensor<4x2xf32>
// INIT-DAG: %base_model.model.fc.lora_B.weight = arith.constant dense<0.000000e+00> : tensor<2x4xf32>
func.func @main(%x: tensor<2x4xf32> {onnx.name = "x"},
                %a: tensor<4x2xf32> {lora.param = "base_model.model.fc.lora_A.weight",
                                     lora.init = dense_resource<lora_a_init> : tensor<4x2xf32>},
                %b: tensor<2x4xf32> {lora.param = "base_model.model.fc.lora_B.weight",
                                     lora.init = dense<0.0> : tensor<2x4xf32>})
    -> (tensor<2x4xf32> {onnx.name = "y"}) {
  %x3 = tosa.const_shape {values = dense<[1, 2, 4]> : tensor<3xindex>} : () -> !tosa.shape<3>
  %a3 = tosa.const_shape {values = dense<[1, 4, 2]> : tensor<3xindex>} : () -> !tosa.shape<3>
  %b3 = tosa.const_shape {values = dense<[1, 2, 4]> : tensor<3xindex>} : () -> !tosa.shape<3>
  %y2 = tosa.const_shape {values = dense<[2, 4]> : tensor<2xindex>} : () -> !tosa.shape<2>
  %zp = "tosa.const"() <{values = dense<0.0> : tensor<1xf32>}> : () -> tensor<1xf32>
  %0 = tosa.reshape %x, %x3 : (tensor<2x4xf32>, !tosa.shape<3>) -> tensor<1x2x4xf32>
  %1 = tosa.reshape %a, %a3 : (tensor<4x2xf32>, !tosa.shape<3>) -> tensor<1x4x2xf32>
  %2 = tosa.reshape %b, %b3 : (tensor<2x4xf32>, !tosa.shape<3>) -> tensor<1x2x4xf32>
  %3 = tosa.matmul %0, %1, %zp, %zp : (tensor<1x2x4xf32>, tensor<1x4x2xf32>, tensor<1xf32>, tensor<1xf32>) -> tensor<1x2x2xf32>
  %4 = tosa.matmul %3, %2, %zp, %zp : (tensor<1x2x2xf32>, tensor<1x2x4xf32>, tensor<1xf32>, tensor<1xf32>) -> tensor<1x2x4xf32>
  %5 = tosa.add %0, %4 : (tensor<1x2x4xf32>, tensor<1x2x4xf32>) -> tensor<1x2x4xf32>
  %6 = tosa.reshape %5, %y2 : (tensor<1x2x4xf32>, !tosa.shape<2>) -> tensor<2x4xf32>
  return %6 : tensor<2x4xf32>
}

{-#
  dialect_resources: {
    builtin: {
      lora_a_init: "0x040000000000803F0000004000004040000080400000A0400000C0400000E04000000041"
    }
  }
#-}
