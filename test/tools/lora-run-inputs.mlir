// RUN: not lora-run %s 2>&1 | FileCheck %s --check-prefix=MISSING
// Inputs/ones_2x4_f32.npy is np.save(..., np.ones((2, 4), np.float32)).
// RUN: not lora-run %s --input x=%S/Inputs/ones_2x4_f32.npy --input z=%S/Inputs/ones_2x4_f32.npy 2>&1 | FileCheck %s --check-prefix=UNKNOWN
// RUN: lora-run %s --input x=%S/Inputs/ones_2x4_f32.npy | FileCheck %s --check-prefix=OK

// OK: y: f32[2x4] first values: 1.00000 1.00000 1.00000 1.00000

// MISSING: lora-run: error: no --input for 'x'
// UNKNOWN: lora-run: error: --input names 'z', which is not an input

func.func @main(%x: tensor<2x4xf32> {onnx.name = "x"}) -> (tensor<2x4xf32> {onnx.name = "y"}) {
  return %x : tensor<2x4xf32>
}
