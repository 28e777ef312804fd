// An --input whose name is no input is an error even when the number of
// inputs happens to match (a LoRA parameter has a default, lora.init).
// RUN: not lora-run %s --input x=%S/Inputs/ones_2x4_f32.npy --input base_model.model.fc.lora_A.weigth=%S/Inputs/ones_2x4_f32.npy 2>&1 | FileCheck %s

// CHECK: lora-run: error: --input names 'base_model.model.fc.lora_A.weigth', which is not an input

func.func @main(%x: tensor<2x4xf32> {onnx.name = "x"},
    %a: tensor<2x4xf32> {lora.param = "base_model.model.fc.lora_A.weight", lora.init = dense<1.0> : tensor<2x4xf32>})
    -> (tensor<2x4xf32> {onnx.name = "y"}) {
  %y = tosa.add %x, %a : (tensor<2x4xf32>, tensor<2x4xf32>) -> tensor<2x4xf32>
  return %y : tensor<2x4xf32>
}
