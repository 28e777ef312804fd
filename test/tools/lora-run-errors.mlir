// RUN: not lora-run %s --input x=%S/Inputs/ones_2x4_f32.npy 2>&1 | FileCheck %s --check-prefix=ELIDED
// RUN: not lora-run %s --input x=%t.none.npy 2>&1 | FileCheck %s --check-prefix=NPY
// RUN: not lora-run %s --input-shape=x:2 2>&1 | FileCheck %s --check-prefix=SHAPE
// RUN: not lora-run %s --input y 2>&1 | FileCheck %s --check-prefix=FORM

// ELIDED: lora-run: error: the initial value (lora.init) of 'base_model.model.fc.lora_A.weight' has no data: was the IR printed with elided resources? Give it with --input
// NPY: lora-run: error: {{.*}}none.npy
// SHAPE: lora-run: error: --input-shape applies to .onnx input only
// FORM: lora-run: error: --input 'y' is not NAME=FILE.npy

func.func @main(%x: tensor<2x4xf32> {onnx.name = "x"},
    %a: tensor<4x2xf32> {lora.param = "base_model.model.fc.lora_A.weight", lora.init = dense_resource<__elided__> : tensor<4x2xf32>},
    %b: tensor<2x4xf32> {lora.param = "base_model.model.fc.lora_B.weight", lora.init = dense<0.0> : tensor<2x4xf32>})
    -> (tensor<2x4xf32> {onnx.name = "y"}) {
  %w = arith.constant dense<1.0> : tensor<4x4xf32>
  %y = lora.linear %x, %w, %a, %b {rank = 2 : i64, scale = 1.0 : f64} : (tensor<2x4xf32>, tensor<4x4xf32>, tensor<4x2xf32>, tensor<2x4xf32>) -> tensor<2x4xf32>
  return %y : tensor<2x4xf32>
}
