// RUN: lora-translate --export-onnx --lora-params=initializers %s -split-input-file -verify-diagnostics -o /dev/null

// Initializers take their value from lora.init, which this parameter lacks.
// expected-error @+1 {{LoRA parameter 'base_model.model.fc.lora_A.weight' (argument #1) has no 'lora.init' attribute to initialize it from (needed with lora-params=initializers)}}
func.func @negative_missing_lora_init(
    %x: tensor<2x4xf32> {onnx.name = "x"},
    %a: tensor<4x2xf32> {lora.param = "base_model.model.fc.lora_A.weight"})
    -> (tensor<2x2xf32> {onnx.name = "y"}) {
  %x3 = tosa.const_shape {values = dense<[1, 2, 4]> : tensor<3xindex>} : () -> !tosa.shape<3>
  %a3 = tosa.const_shape {values = dense<[1, 4, 2]> : tensor<3xindex>} : () -> !tosa.shape<3>
  %y2 = tosa.const_shape {values = dense<[2, 2]> : tensor<2xindex>} : () -> !tosa.shape<2>
  %zp = "tosa.const"() <{values = dense<0.0> : tensor<1xf32>}> : () -> tensor<1xf32>
  %0 = tosa.reshape %x, %x3 : (tensor<2x4xf32>, !tosa.shape<3>) -> tensor<1x2x4xf32>
  %1 = tosa.reshape %a, %a3 : (tensor<4x2xf32>, !tosa.shape<3>) -> tensor<1x4x2xf32>
  %2 = tosa.matmul %0, %1, %zp, %zp : (tensor<1x2x4xf32>, tensor<1x4x2xf32>, tensor<1xf32>, tensor<1xf32>) -> tensor<1x2x2xf32>
  %3 = tosa.reshape %2, %y2 : (tensor<1x2x2xf32>, !tosa.shape<2>) -> tensor<2x2xf32>
  return %3 : tensor<2x2xf32>
}
