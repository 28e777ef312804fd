// RUN: lora-opt %s -split-input-file --lora-merge | FileCheck %s --check-prefix=MERGE
// RUN: lora-opt %s -split-input-file --lora-merge --lora-unmerge | FileCheck %s --check-prefix=ROUND

// W' = W + 2·A·B, exactly representable: row 0 of A·B is
// [0.5·1 + 0.25·0.25, 0.5·0.5 + 0.25·1] = [0.5625, 0.5].
// MERGE-LABEL: func.func @init_args
// MERGE-SAME: (%[[X:.*]]: tensor<1x3x4xf32>) -> tensor<1x3x2xf32>
// MERGE-NOT: lora.linear
// MERGE: %[[W:.*]] = arith.constant dense<{{\[}}[2.125000e+00, 3.000000e+00], [5.000000e+00, 5.000000e+00], [6.000000e+00, 1.000000e+01], [8.250000e+00, 9.500000e+00]]> : tensor<4x2xf32>
// MERGE: %[[W3:.*]] = tosa.reshape %[[W]]
// MERGE: tosa.matmul %[[X]], %[[W3]], %{{.*}}, %{{.*}} {lora.merged = {lora_a = {{.*}}, module = "fc", param_a = "base_model.model.fc.lora_A.weight", param_b = "base_model.model.fc.lora_B.weight", rank = 2 : i64, scale = 2.000000e+00 : f64}}
// The round trip gives W back exactly and the parameters as arguments again.
// ROUND-LABEL: func.func @init_args
// ROUND-SAME: %{{.*}}: tensor<4x2xf32> {lora.init = dense<{{\[}}[5.000000e-01, 2.500000e-01], {{.*}} lora.param = "base_model.model.fc.lora_A.weight"}
// ROUND-SAME: %{{.*}}: tensor<2x2xf32> {lora.init = {{.*}}, lora.param = "base_model.model.fc.lora_B.weight"}
// ROUND: %[[W:.*]] = arith.constant dense<{{\[}}[1.000000e+00, 2.000000e+00], [3.000000e+00, 4.000000e+00], [5.000000e+00, 6.000000e+00], [7.000000e+00, 8.000000e+00]]> : tensor<4x2xf32>
// ROUND: lora.linear %{{.*}}, %[[W]], %{{.*}}, %{{.*}} {rank = 2 : i64, scale = 2.000000e+00 : f64}
// ROUND-NOT: tosa.matmul
func.func @init_args(%x: tensor<1x3x4xf32>,
    %a: tensor<4x2xf32> {lora.param = "base_model.model.fc.lora_A.weight", lora.init = dense<[[0.5, 0.25], [1.0, 0.0], [0.0, 2.0], [0.5, 0.5]]> : tensor<4x2xf32>},
    %b: tensor<2x2xf32> {lora.param = "base_model.model.fc.lora_B.weight", lora.init = dense<[[1.0, 0.5], [0.25, 1.0]]> : tensor<2x2xf32>}) -> tensor<1x3x2xf32> {
  %w = arith.constant dense<[[1.0, 2.0], [3.0, 4.0], [5.0, 6.0], [7.0, 8.0]]> : tensor<4x2xf32>
  %y = lora.linear %x, %w, %a, %b {rank = 2 : i64, scale = 2.0 : f64} : (tensor<1x3x4xf32>, tensor<4x2xf32>, tensor<4x2xf32>, tensor<2x2xf32>) -> tensor<1x3x2xf32>
  return %y : tensor<1x3x2xf32>
}

// -----

// Constant A and B (a PEFT export fused as is), a bias, and a transposed
// weight (Gemm transB): W = transpose([[1, 3], [2, 4]]) = [[1, 2], [3, 4]].
// MERGE-LABEL: func.func @constants_bias_transposed
// MERGE: %[[W:.*]] = arith.constant dense<{{\[}}[2.000000e+00, 2.000000e+00], [4.000000e+00, 4.000000e+00]]> : tensor<2x2xf32>
// MERGE: %[[MM:.*]] = tosa.matmul {{.*}} {lora.merged = {{.*}}module = "model.proj"
// MERGE: tosa.add %[[MM]]
// ROUND-LABEL: func.func @constants_bias_transposed
// ROUND: lora.linear {{.*}} {rank = 1 : i64, scale = 1.000000e+00 : f64}
func.func @constants_bias_transposed(%x: tensor<3x2xf32>, %bias: tensor<2xf32>) -> tensor<3x2xf32> {
  %wt = arith.constant dense<[[1.0, 3.0], [2.0, 4.0]]> : tensor<2x2xf32>
  %w = tosa.transpose %wt {perms = array<i32: 1, 0>} : (tensor<2x2xf32>) -> tensor<2x2xf32>
  %a = arith.constant dense<[[1.0], [1.0]]> : tensor<2x1xf32>
  %b = arith.constant dense<[[1.0, 0.0]]> : tensor<1x2xf32>
  %y = lora.linear %x, %w, %a, %b bias(%bias) {rank = 1 : i64, scale = 1.0 : f64} : (tensor<3x2xf32>, tensor<2x2xf32>, tensor<2x1xf32>, tensor<1x2xf32>, tensor<2xf32>) -> tensor<3x2xf32> loc("/model/proj/Gemm")
  return %y : tensor<3x2xf32>
}

// -----

// MERGE-LABEL: func.func @no_lora
// MERGE: tosa.matmul
// MERGE-NOT: lora.merged
func.func @no_lora(%x: tensor<1x3x4xf32>) -> tensor<1x3x2xf32> {
  %w = "tosa.const"() <{values = dense<1.0> : tensor<1x4x2xf32>}> : () -> tensor<1x4x2xf32>
  %zp = "tosa.const"() <{values = dense<0.0> : tensor<1xf32>}> : () -> tensor<1xf32>
  %y = tosa.matmul %x, %w, %zp, %zp : (tensor<1x3x4xf32>, tensor<1x4x2xf32>, tensor<1xf32>, tensor<1xf32>) -> tensor<1x3x2xf32>
  return %y : tensor<1x3x2xf32>
}
