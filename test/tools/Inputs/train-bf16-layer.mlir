// A bf16 LoRA layer for lora-compile-train-cuda.mlir: its forward and its
// lora.linear_grad qualify for the generated tensor-core kernels.
func.func @main(%x: tensor<2x8x64xbf16> {onnx.name = "x"},
                %a: tensor<64x8xbf16> {lora.param = "base_model.model.l.lora_A.weight", lora.init = dense<0.5> : tensor<64x8xbf16>},
                %b: tensor<8x64xbf16> {lora.param = "base_model.model.l.lora_B.weight", lora.init = dense<0.25> : tensor<8x64xbf16>})
    -> (tensor<2x8x64xbf16> {onnx.name = "y"}) {
  %w = arith.constant dense<0.1> : tensor<64x64xbf16>
  %y = lora.linear %x, %w, %a, %b {rank = 8 : i64, scale = 2.0 : f64}
      : (tensor<2x8x64xbf16>, tensor<64x64xbf16>, tensor<64x8xbf16>, tensor<8x64xbf16>)
      -> tensor<2x8x64xbf16>
  return %y : tensor<2x8x64xbf16>
}
