// RUN: lora-opt %s -canonicalize -split-input-file | FileCheck %s

// A zero B (or A) makes the branch vanish: a plain matmul is left.
// CHECK-LABEL: func.func @zero_b
// CHECK-SAME: (%[[X:.*]]: tensor<2x4x8xf32>, %[[W:.*]]: tensor<8x6xf32>, %{{.*}}: tensor<8x2xf32>)
// CHECK-NOT: lora.linear
// CHECK-DAG: %[[X3:.*]] = tosa.reshape %[[X]], %{{.*}} : (tensor<2x4x8xf32>, !tosa.shape<3>) -> tensor<1x8x8xf32>
// CHECK-DAG: %[[W3:.*]] = tosa.reshape %[[W]], %{{.*}} : (tensor<8x6xf32>, !tosa.shape<3>) -> tensor<1x8x6xf32>
// CHECK: %[[MM:.*]] = tosa.matmul %[[X3]], %[[W3]], %{{.*}}, %{{.*}} : {{.*}} -> tensor<1x8x6xf32>
// CHECK: %[[Y:.*]] = tosa.reshape %[[MM]], %{{.*}} -> tensor<2x4x6xf32>
// CHECK: return %[[Y]]
func.func @zero_b(%x: tensor<2x4x8xf32>, %w: tensor<8x6xf32>, %a: tensor<8x2xf32>) -> tensor<2x4x6xf32> {
  %b = arith.constant dense<0.0> : tensor<2x6xf32>
  %y = lora.linear %x, %w, %a, %b {rank = 2 : i64, scale = 1.0 : f64} : (tensor<2x4x8xf32>, tensor<8x6xf32>, tensor<8x2xf32>, tensor<2x6xf32>) -> tensor<2x4x6xf32>
  return %y : tensor<2x4x6xf32>
}

// -----

// f16 accumulates in f32, the bias is added there, and the sum is rounded once.
// CHECK-LABEL: func.func @zero_a_bias_f16
// CHECK-NOT: lora.linear
// CHECK: %[[MM:.*]] = tosa.matmul {{.*}} -> tensor<1x4x6xf32>
// CHECK: %[[BIAS:.*]] = tosa.cast %{{.*}} : (tensor<6xf16>) -> tensor<6xf32>
// CHECK: %[[BIAS3:.*]] = tosa.reshape %[[BIAS]]
// CHECK: %[[SUM:.*]] = tosa.add %[[MM]], %[[BIAS3]]
// CHECK: tosa.cast %[[SUM]] : (tensor<1x4x6xf32>) -> tensor<1x4x6xf16>
func.func @zero_a_bias_f16(%x: tensor<4x8xf16>, %w: tensor<8x6xf16>, %b: tensor<2x6xf16>, %bias: tensor<6xf16>) -> tensor<4x6xf16> {
  %a = arith.constant dense<0.0> : tensor<8x2xf16>
  %y = lora.linear %x, %w, %a, %b bias(%bias) {rank = 2 : i64, scale = 1.0 : f64} : (tensor<4x8xf16>, tensor<8x6xf16>, tensor<8x2xf16>, tensor<2x6xf16>, tensor<6xf16>) -> tensor<4x6xf16>
  return %y : tensor<4x6xf16>
}

// -----

// CHECK-LABEL: func.func @no_fold_nonzero_b
// CHECK: lora.linear
func.func @no_fold_nonzero_b(%x: tensor<4x8xf32>, %w: tensor<8x6xf32>, %a: tensor<8x2xf32>) -> tensor<4x6xf32> {
  %b = arith.constant dense<1.0e-3> : tensor<2x6xf32>
  %y = lora.linear %x, %w, %a, %b {rank = 2 : i64, scale = 1.0 : f64} : (tensor<4x8xf32>, tensor<8x6xf32>, tensor<8x2xf32>, tensor<2x6xf32>) -> tensor<4x6xf32>
  return %y : tensor<4x6xf32>
}

// -----

// CHECK-LABEL: func.func @no_fold_dynamic
// CHECK: lora.linear
func.func @no_fold_dynamic(%x: tensor<?x8xf32>, %w: tensor<8x6xf32>, %a: tensor<8x2xf32>) -> tensor<?x6xf32> {
  %b = arith.constant dense<0.0> : tensor<2x6xf32>
  %y = lora.linear %x, %w, %a, %b {rank = 2 : i64, scale = 1.0 : f64} : (tensor<?x8xf32>, tensor<8x6xf32>, tensor<8x2xf32>, tensor<2x6xf32>) -> tensor<?x6xf32>
  return %y : tensor<?x6xf32>
}

// -----

// Dropout at rate 0 is the identity; any other rate stays.
// CHECK-LABEL: func.func @dropout_rate_zero
// CHECK-SAME: (%[[X:[^:]*]]: tensor<4xf32>, %[[SEED:[^:]*]]: tensor<i64>)
// CHECK: %[[KEPT:.*]] = lora.dropout %[[X]], %[[SEED]] {rate = 5.000000e-01 : f64, stream = 0 : i64}
// CHECK: return %[[X]], %[[KEPT]]
func.func @dropout_rate_zero(%x: tensor<4xf32>, %seed: tensor<i64>) -> (tensor<4xf32>, tensor<4xf32>) {
  %y = lora.dropout %x, %seed {rate = 0.0, stream = 0 : i64} : (tensor<4xf32>, tensor<i64>) -> tensor<4xf32>
  %z = lora.dropout %x, %seed {rate = 0.5, stream = 0 : i64} : (tensor<4xf32>, tensor<i64>) -> tensor<4xf32>
  return %y, %z : tensor<4xf32>, tensor<4xf32>
}
