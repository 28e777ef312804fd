// Compiled code never writes into its arguments: the caller's inputs, the
// weights mapped from weights.bin and the LoRA parameters stay as they are,
// so every run gives the same result. Each function below would update an
// argument in place if bufferization were allowed to (a weight that gains x
// each run; the input itself).
// RUN: rm -rf %t && lora-compile --quiet %s -o %t --min-weight-bytes=16 --opt-level=0
// RUN: lora-run %t --input x=%S/Inputs/ones_64_f32.npy --repeat=3 | FileCheck %s --check-prefix=WEIGHT
// RUN: rm -rf %t.input && lora-compile --quiet %s -o %t.input --function=into_input --opt-level=0
// RUN: lora-run %t.input --input x=%S/Inputs/ones_64_f32.npy --repeat=3 | FileCheck %s --check-prefix=INPUT
// RUN: lora-opt %s --lora-mark-entry-points | FileCheck %s --check-prefix=ATTR

// WEIGHT: y: f32[64] first values: 1.00000 2.00000 3.00000 4.00000
// INPUT: y: f32[64] first values: 2.00000 2.00000 2.00000 2.00000
// ATTR: func.func @main(%arg0: tensor<64xf32> {bufferization.writable = false, onnx.name = "x"})

#id = affine_map<(d0) -> (d0)>
func.func @main(%x: tensor<64xf32> {onnx.name = "x"}) -> (tensor<64xf32> {onnx.name = "y"}) {
  %w = arith.constant dense<[0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0, 11.0, 12.0, 13.0, 14.0, 15.0, 16.0, 17.0, 18.0, 19.0, 20.0, 21.0, 22.0, 23.0, 24.0, 25.0, 26.0, 27.0, 28.0, 29.0, 30.0, 31.0, 32.0, 33.0, 34.0, 35.0, 36.0, 37.0, 38.0, 39.0, 40.0, 41.0, 42.0, 43.0, 44.0, 45.0, 46.0, 47.0, 48.0, 49.0, 50.0, 51.0, 52.0, 53.0, 54.0, 55.0, 56.0, 57.0, 58.0, 59.0, 60.0, 61.0, 62.0, 63.0]> : tensor<64xf32>
  %y = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel"]} ins(%x : tensor<64xf32>) outs(%w : tensor<64xf32>) {
  ^bb0(%a: f32, %b: f32):
    %s = arith.addf %a, %b : f32
    linalg.yield %s : f32
  } -> tensor<64xf32>
  return %y : tensor<64xf32>
}

func.func @into_input(%x: tensor<64xf32> {onnx.name = "x"}) -> (tensor<64xf32> {onnx.name = "y"}) {
  %y = linalg.generic {indexing_maps = [#id], iterator_types = ["parallel"]} outs(%x : tensor<64xf32>) {
  ^bb0(%b: f32):
    %s = arith.addf %b, %b : f32
    linalg.yield %s : f32
  } -> tensor<64xf32>
  return %y : tensor<64xf32>
}
