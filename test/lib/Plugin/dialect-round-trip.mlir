// Upstream mlir-opt parses and prints lora.linear with only the dialect half
// of LoraPlugin loaded, and reads back what it printed.
// RUN: mlir-opt %s --load-dialect-plugin=%lora_plugin | mlir-opt --load-dialect-plugin=%lora_plugin | FileCheck %s

// CHECK-LABEL: func.func @linear(
// CHECK-SAME: %[[X:[^:]*]]: tensor<2x4x8xf32>, %[[W:[^:]*]]: tensor<8x6xf32>, %[[A:[^:]*]]: tensor<8x2xf32>, %[[B:[^:]*]]: tensor<2x6xf32>)
// CHECK: %[[Y:.*]] = lora.linear %[[X]], %[[W]], %[[A]], %[[B]] {rank = 2 : i64, scale = 5.000000e-01 : f64} : (tensor<2x4x8xf32>, tensor<8x6xf32>, tensor<8x2xf32>, tensor<2x6xf32>) -> tensor<2x4x6xf32>
// CHECK: return %[[Y]]
func.func @linear(%x: tensor<2x4x8xf32>, %w: tensor<8x6xf32>, %a: tensor<8x2xf32>, %b: tensor<2x6xf32>) -> tensor<2x4x6xf32> {
  %y = lora.linear %x, %w, %a, %b {rank = 2 : i64, scale = 0.5 : f64} : (tensor<2x4x8xf32>, tensor<8x6xf32>, tensor<8x2xf32>, tensor<2x6xf32>) -> tensor<2x4x6xf32>
  return %y : tensor<2x4x6xf32>
}
