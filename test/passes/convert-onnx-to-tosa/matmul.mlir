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

// -----

// Equal batch dims flatten into tosa.matmul's single batch dim.
// CHECK-LABEL: func.func @matmul_batched
// CHECK-SAME: -> tensor<2x4x16x16xf32>
// CHECK: %[[A:.*]] = tosa.reshape %arg0, %{{.*}} -> tensor<8x16x8xf32>
// CHECK: %[[B:.*]] = tosa.reshape %arg1, %{{.*}} -> tensor<8x8x16xf32>
// CHECK: %[[M:.*]] = tosa.matmul %[[A]], %[[B]], %{{.*}}, %{{.*}} : {{.*}} -> tensor<8x16x16xf32>
// CHECK: tosa.reshape %[[M]], %{{.*}} -> tensor<2x4x16x16xf32>
func.func @matmul_batched(%a: tensor<2x4x16x8xf32>, %b: tensor<2x4x8x16xf32>) -> !onnx.unknown {
  %0 = onnx.node "MatMul"(%a, %b) opset 13 : (tensor<2x4x16x8xf32>, tensor<2x4x8x16xf32>) -> !onnx.unknown
  return %0 : !onnx.unknown
}

// -----

// Batch dims broadcast both ways ([2,1] x [3] -> [2,3]): each side is tiled.
// CHECK-LABEL: func.func @matmul_broadcast_both
// CHECK-SAME: -> tensor<2x3x5x4xf32>
// CHECK: %[[TA:.*]] = tosa.tile %arg0, %{{.*}} : {{.*}} -> tensor<2x3x5x8xf32>
// CHECK: %[[A:.*]] = tosa.reshape %[[TA]], %{{.*}} -> tensor<6x5x8xf32>
// CHECK: %[[B4:.*]] = tosa.reshape %arg1, %{{.*}} -> tensor<1x3x8x4xf32>
// CHECK: %[[TB:.*]] = tosa.tile %[[B4]], %{{.*}} : {{.*}} -> tensor<2x3x8x4xf32>
// CHECK: %[[B:.*]] = tosa.reshape %[[TB]], %{{.*}} -> tensor<6x8x4xf32>
// CHECK: tosa.matmul %[[A]], %[[B]], %{{.*}}, %{{.*}} : {{.*}} -> tensor<6x5x4xf32>
func.func @matmul_broadcast_both(%a: tensor<2x1x5x8xf32>, %b: tensor<3x8x4xf32>) -> !onnx.unknown {
  %0 = onnx.node "MatMul"(%a, %b) opset 13 : (tensor<2x1x5x8xf32>, tensor<3x8x4xf32>) -> !onnx.unknown
  return %0 : !onnx.unknown
}

// -----

// 1-D operands are a row (left) and a column (right); their dims are dropped
// from the result, so a dot product is a scalar.
// CHECK-LABEL: func.func @matmul_dot
// CHECK-SAME: -> tensor<f32>
// CHECK: %[[A:.*]] = tosa.reshape %arg0, %{{.*}} -> tensor<1x1x8xf32>
// CHECK: %[[B:.*]] = tosa.reshape %arg1, %{{.*}} -> tensor<1x8x1xf32>
// CHECK: %[[M:.*]] = tosa.matmul %[[A]], %[[B]], %{{.*}}, %{{.*}} : {{.*}} -> tensor<1x1x1xf32>
// CHECK: tosa.reshape %[[M]], %{{.*}} -> tensor<f32>
func.func @matmul_dot(%a: tensor<8xf32>, %b: tensor<8xf32>) -> !onnx.unknown {
  %0 = onnx.node "MatMul"(%a, %b) opset 13 : (tensor<8xf32>, tensor<8xf32>) -> !onnx.unknown
  return %0 : !onnx.unknown
}

// -----

// CHECK-LABEL: func.func @matmul_matrix_vector
// CHECK-SAME: -> tensor<3x2xf32>
// CHECK: tosa.matmul %{{.*}} : (tensor<1x6x8xf32>, tensor<1x8x1xf32>, {{.*}}) -> tensor<1x6x1xf32>
func.func @matmul_matrix_vector(%a: tensor<3x2x8xf32>, %b: tensor<8xf32>) -> !onnx.unknown {
  %0 = onnx.node "MatMul"(%a, %b) opset 13 : (tensor<3x2x8xf32>, tensor<8xf32>) -> !onnx.unknown
  return %0 : !onnx.unknown
}

// -----

// CHECK-LABEL: func.func @matmul_vector_matrix
// CHECK-SAME: -> tensor<4xf32>
// CHECK: tosa.matmul %{{.*}} : (tensor<1x1x8xf32>, tensor<1x8x4xf32>, {{.*}}) -> tensor<1x1x4xf32>
func.func @matmul_vector_matrix(%a: tensor<8xf32>, %b: tensor<8x4xf32>) -> !onnx.unknown {
  %0 = onnx.node "MatMul"(%a, %b) opset 13 : (tensor<8xf32>, tensor<8x4xf32>) -> !onnx.unknown
  return %0 : !onnx.unknown
}

// -----

// f16 products accumulate in f32 and are rounded once.
// CHECK-LABEL: func.func @matmul_f16
// CHECK-SAME: -> tensor<4x2xf16>
// CHECK: %[[M:.*]] = tosa.matmul %{{.*}} : (tensor<1x4x8xf16>, tensor<1x8x2xf16>, tensor<1xf16>, tensor<1xf16>) -> tensor<1x4x2xf32>
// CHECK: %[[R:.*]] = tosa.reshape %[[M]], %{{.*}} -> tensor<4x2xf32>
// CHECK: tosa.cast %[[R]] : (tensor<4x2xf32>) -> tensor<4x2xf16>
func.func @matmul_f16(%a: tensor<4x8xf16>, %b: tensor<8x2xf16>) -> !onnx.unknown {
  %0 = onnx.node "MatMul"(%a, %b) opset 13 : (tensor<4x8xf16>, tensor<8x2xf16>) -> !onnx.unknown
  return %0 : !onnx.unknown
}

// -----

// Integer matmuls accumulate in their own type.
// CHECK-LABEL: func.func @matmul_i64
// CHECK-SAME: -> tensor<4x2xi64>
// CHECK: %[[ZP:.*]] = "tosa.const"() <{values = dense<0> : tensor<1xi64>}>
// CHECK: tosa.matmul %{{.*}}, %{{.*}}, %[[ZP]], %[[ZP]] : {{.*}} -> tensor<1x4x2xi64>
func.func @matmul_i64(%a: tensor<4x8xi64>, %b: tensor<8x2xi64>) -> !onnx.unknown {
  %0 = onnx.node "MatMul"(%a, %b) opset 13 : (tensor<4x8xi64>, tensor<8x2xi64>) -> !onnx.unknown
  return %0 : !onnx.unknown
}

// -----

// GPT-2's Conv1D: Gemm with 1-D bias C broadcast over rows.
// CHECK-LABEL: func.func @gemm_gpt2
// CHECK-SAME: -> tensor<32x192xf32>
// CHECK: %[[M:.*]] = tosa.matmul %{{.*}} -> tensor<1x32x192xf32>
// CHECK: %[[Y:.*]] = tosa.reshape %[[M]], %{{.*}} -> tensor<32x192xf32>
// CHECK: %[[C:.*]] = tosa.reshape %arg2, %{{.*}} -> tensor<1x192xf32>
// CHECK: tosa.add %[[Y]], %[[C]] : (tensor<32x192xf32>, tensor<1x192xf32>) -> tensor<32x192xf32>
func.func @gemm_gpt2(%a: tensor<32x64xf32>, %w: tensor<64x192xf32>, %c: tensor<192xf32>) -> !onnx.unknown {
  %0 = onnx.node "Gemm"(%a, %w, %c) attrs {alpha = 1.0 : f32, beta = 1.0 : f32, transA = 0 : i64, transB = 0 : i64} opset 18 : (tensor<32x64xf32>, tensor<64x192xf32>, tensor<192xf32>) -> !onnx.unknown
  return %0 : !onnx.unknown
}

// -----

// transA/transB, alpha and beta with a scalar C.
// CHECK-LABEL: func.func @gemm_transposed_scaled
// CHECK-SAME: -> tensor<3x5xf32>
// CHECK: %[[AT:.*]] = tosa.transpose %arg0 {perms = array<i32: 1, 0>} : (tensor<4x3xf32>) -> tensor<3x4xf32>
// CHECK: %[[BT:.*]] = tosa.transpose %arg1 {perms = array<i32: 1, 0>} : (tensor<5x4xf32>) -> tensor<4x5xf32>
// CHECK: %[[M:.*]] = tosa.matmul
// CHECK: %[[Y:.*]] = tosa.reshape %[[M]]
// CHECK: %[[ALPHA:.*]] = "tosa.const"() <{values = dense<2.000000e+00> : tensor<1x1xf32>}>
// CHECK: %[[AY:.*]] = tosa.mul %[[Y]], %[[ALPHA]]
// CHECK: %[[BETA:.*]] = "tosa.const"() <{values = dense<5.000000e-01> : tensor<f32>}>
// CHECK: %[[BC:.*]] = tosa.mul %arg2, %[[BETA]]
// CHECK: %[[C:.*]] = tosa.reshape %[[BC]], %{{.*}} -> tensor<1x1xf32>
// CHECK: tosa.add %[[AY]], %[[C]] : (tensor<3x5xf32>, tensor<1x1xf32>) -> tensor<3x5xf32>
func.func @gemm_transposed_scaled(%a: tensor<4x3xf32>, %b: tensor<5x4xf32>, %c: tensor<f32>) -> !onnx.unknown {
  %0 = onnx.node "Gemm"(%a, %b, %c) attrs {transA = 1 : i64, transB = 1 : i64, alpha = 2.0 : f32, beta = 0.5 : f32} opset 13 : (tensor<4x3xf32>, tensor<5x4xf32>, tensor<f32>) -> !onnx.unknown
  return %0 : !onnx.unknown
}

// -----

// Opset 11 makes C optional; bf16 accumulates in f32.
// CHECK-LABEL: func.func @gemm_no_c_bf16
// CHECK-SAME: -> tensor<3x5xbf16>
// CHECK: %[[M:.*]] = tosa.matmul %{{.*}} -> tensor<1x3x5xf32>
// CHECK-NOT: tosa.add
// CHECK: tosa.cast %{{.*}} : (tensor<3x5xf32>) -> tensor<3x5xbf16>
func.func @gemm_no_c_bf16(%a: tensor<3x4xbf16>, %b: tensor<4x5xbf16>) -> !onnx.unknown {
  %none = onnx.none
  %0 = onnx.node "Gemm"(%a, %b, %none) opset 13 : (tensor<3x4xbf16>, tensor<4x5xbf16>, none) -> !onnx.unknown
  return %0 : !onnx.unknown
}

// -----

// beta = 0 leaves C unread, as ONNX Runtime does.
// CHECK-LABEL: func.func @no_gemm_c_when_beta_zero
// CHECK: tosa.matmul
// CHECK-NOT: tosa.add
// CHECK: return
func.func @no_gemm_c_when_beta_zero(%a: tensor<3x4xf32>, %b: tensor<4x5xf32>, %c: tensor<3x5xf32>) -> !onnx.unknown {
  %0 = onnx.node "Gemm"(%a, %b, %c) attrs {beta = 0.0 : f32} opset 9 : (tensor<3x4xf32>, tensor<4x5xf32>, tensor<3x5xf32>) -> !onnx.unknown
  return %0 : !onnx.unknown
}
