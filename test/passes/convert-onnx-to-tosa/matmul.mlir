// RUN: lora-opt %s -split-input-file --convert-onnx-to-tosa | FileCheck %s

// A weight without batch dims folds the activation's batch into M.
// CHECK-LABEL: func.func @matmul_linear
// CHECK-SAME: -> tensor<2x16x32xf32>
// CHECK: %[[A:.*]] = tosa.reshape %arg0, %{{.*}} : (tensor<2x16x64xf32>, !tosa.shape<3>) -> tensor<1x32x64xf32>
// CHECK: %[[B:.*]] = tosa.reshape %arg1, %{{.*}} -> tensor<1x64x32xf32>
// CHECK: %[[M:.*]] = tosa.matmul %[[A]], %[[B]], %{{.*}}, %{{.*}} : {{.*}} -> tensor<1x32x32xf32>
// CHECK: tosa.reshape %[[M]], %{{.*}} -> tensor<2x16x32xf32>
func.func @matmul_linear(%x: tensor<2x16x64xf32>, %w: tensor<64x32xf32>) -> !onnx.unknown {
  %0 = onnx.node "MatMul"(%x, %w) opset 18 : (tensor<2x16x64xf32>, tensor<64x32xf32>) -> !onnx.unknown
  return %0 : !onnx.unknown
}
