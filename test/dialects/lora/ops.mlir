// RUN: lora-opt %s | lora-opt | FileCheck %s
// RUN: lora-opt %s --mlir-print-op-generic | lora-opt | FileCheck %s

// CHECK-LABEL: func.func @linear
// CHECK-SAME: (%[[X:.*]]: tensor<2x16x64xf32>, %[[W:.*]]: tensor<64x32xf32>, %[[A:.*]]: tensor<64x8xf32> {lora.param = "base_model.model.q_proj.lora_A.weight"}, %[[B:.*]]: tensor<8x32xf32> {lora.param = "base_model.model.q_proj.lora_B.weight"})
// CHECK: lora.linear %[[X]], %[[W]], %[[A]], %[[B]] {rank = 8 : i64, scale = 2.000000e+00 : f64}
func.func @linear(%x: tensor<2x16x64xf32>, %w: tensor<64x32xf32>,
    %a: tensor<64x8xf32> {lora.param = "base_model.model.q_proj.lora_A.weight"},
    %b: tensor<8x32xf32> {lora.param = "base_model.model.q_proj.lora_B.weight"})
    -> tensor<2x16x32xf32> {
  %y = lora.linear %x, %w, %a, %b {rank = 8 : i64, scale = 2.0 : f64}
      : (tensor<2x16x64xf32>, tensor<64x32xf32>, tensor<64x8xf32>, tensor<8x32xf32>) -> tensor<2x16x32xf32>
  return %y : tensor<2x16x32xf32>
}

// CHECK-LABEL: func.func @bias_f16_vector
// CHECK: lora.linear %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}} bias(%{{.*}}) {rank = 2 : i64, scale = 5.000000e-01 : f64} : (tensor<64xf16>, tensor<64x32xf16>, tensor<64x2xf16>, tensor<2x32xf16>, tensor<32xf16>) -> tensor<32xf16>
func.func @bias_f16_vector(%x: tensor<64xf16>, %w: tensor<64x32xf16>,
    %a: tensor<64x2xf16>, %b: tensor<2x32xf16>, %bias: tensor<32xf16>) -> tensor<32xf16> {
  %y = lora.linear %x, %w, %a, %b bias(%bias) {rank = 2 : i64, scale = 0.5 : f64}
      : (tensor<64xf16>, tensor<64x32xf16>, tensor<64x2xf16>, tensor<2x32xf16>, tensor<32xf16>) -> tensor<32xf16>
  return %y : tensor<32xf16>
}

// CHECK-LABEL: func.func @init
// CHECK-SAME: lora.init = dense<1.000000e+00> : tensor<4x2xf32>
func.func @init(%a: tensor<4x2xf32> {lora.param = "base_model.model.fc.lora_A.weight", lora.init = dense<1.0> : tensor<4x2xf32>}) -> tensor<4x2xf32> {
  return %a : tensor<4x2xf32>
}

// CHECK-LABEL: func.func @linear_grad
// CHECK: %{{.*}}, %{{.*}}, %{{.*}} = lora.linear_grad %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}} {rank = 8 : i64, scale = 2.000000e+00 : f64} : (tensor<2x16x64xf32>, tensor<64x32xf32>, tensor<64x8xf32>, tensor<8x32xf32>, tensor<2x16x32xf32>) -> (tensor<2x16x64xf32>, tensor<64x8xf32>, tensor<8x32xf32>)
func.func @linear_grad(%x: tensor<2x16x64xf32>, %w: tensor<64x32xf32>, %a: tensor<64x8xf32>,
    %b: tensor<8x32xf32>, %g: tensor<2x16x32xf32>)
    -> (tensor<2x16x64xf32>, tensor<64x8xf32>, tensor<8x32xf32>) {
  %dx, %da, %db = lora.linear_grad %x, %w, %a, %b, %g {rank = 8 : i64, scale = 2.0 : f64}
      : (tensor<2x16x64xf32>, tensor<64x32xf32>, tensor<64x8xf32>, tensor<8x32xf32>, tensor<2x16x32xf32>)
      -> (tensor<2x16x64xf32>, tensor<64x8xf32>, tensor<8x32xf32>)
  return %dx, %da, %db : tensor<2x16x64xf32>, tensor<64x8xf32>, tensor<8x32xf32>
}

// CHECK-LABEL: func.func @optimizers
// CHECK: lora.adamw %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}} {weight_decay = 0.000000e+00 : f64} : (tensor<4x2xf32>, tensor<4x2xf32>, tensor<4x2xf32>, tensor<4x2xf32>, tensor<f64>, tensor<i64>) -> (tensor<4x2xf32>, tensor<4x2xf32>, tensor<4x2xf32>)
// CHECK: lora.sgd %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}} {momentum = 9.000000e-01 : f64, nesterov} : (tensor<4x2xf32>, tensor<4x2xf32>, tensor<4x2xf32>, tensor<f64>) -> (tensor<4x2xf32>, tensor<4x2xf32>)
func.func @optimizers(%p: tensor<4x2xf32>, %g: tensor<4x2xf32>, %m: tensor<4x2xf32>,
    %v: tensor<4x2xf32>, %lr: tensor<f64>, %step: tensor<i64>)
    -> (tensor<4x2xf32>, tensor<4x2xf32>) {
  %p2, %m2, %v2 = lora.adamw %p, %g, %m, %v, %lr, %step {weight_decay = 0.0}
      : (tensor<4x2xf32>, tensor<4x2xf32>, tensor<4x2xf32>, tensor<4x2xf32>, tensor<f64>, tensor<i64>)
      -> (tensor<4x2xf32>, tensor<4x2xf32>, tensor<4x2xf32>)
  %p3, %buf = lora.sgd %p2, %g, %m2, %lr {momentum = 0.9, nesterov}
      : (tensor<4x2xf32>, tensor<4x2xf32>, tensor<4x2xf32>, tensor<f64>) -> (tensor<4x2xf32>, tensor<4x2xf32>)
  return %p3, %buf : tensor<4x2xf32>, tensor<4x2xf32>
}

// LoRA dropout: the branch reads its own input; linear_grad then returns
// that input's gradient apart.
// CHECK-LABEL: func.func @dropout_branch
// CHECK-SAME: (%[[X:[^:]*]]: tensor<2x16x64xf32>, %[[W:[^:]*]]: tensor<64x32xf32>, %[[A:[^:]*]]: tensor<64x8xf32>, %[[B:[^:]*]]: tensor<8x32xf32>, %[[BIAS:[^:]*]]: tensor<32xf32>, %[[G:[^:]*]]: tensor<2x16x32xf32>, %[[SEED:[^:]*]]: tensor<i64>)
// CHECK: %[[XD:.*]] = lora.dropout %[[X]], %[[SEED]] {rate = 1.000000e-01 : f64, stream = 3 : i64} : (tensor<2x16x64xf32>, tensor<i64>) -> tensor<2x16x64xf32>
// CHECK: lora.linear %[[X]], %[[W]], %[[A]], %[[B]] lora_input(%[[XD]]) bias(%[[BIAS]]) {rank = 8 : i64, scale = 2.000000e+00 : f64} : (tensor<2x16x64xf32>, tensor<64x32xf32>, tensor<64x8xf32>, tensor<8x32xf32>, tensor<2x16x64xf32>, tensor<32xf32>) -> tensor<2x16x32xf32>
// CHECK: lora.linear_grad %[[X]], %[[W]], %[[A]], %[[B]], %[[G]] lora_input(%[[XD]]) {rank = 8 : i64, scale = 2.000000e+00 : f64} : (tensor<2x16x64xf32>, tensor<64x32xf32>, tensor<64x8xf32>, tensor<8x32xf32>, tensor<2x16x32xf32>, tensor<2x16x64xf32>) -> (tensor<2x16x64xf32>, tensor<64x8xf32>, tensor<8x32xf32>, tensor<2x16x64xf32>)
func.func @dropout_branch(%x: tensor<2x16x64xf32>, %w: tensor<64x32xf32>,
    %a: tensor<64x8xf32>, %b: tensor<8x32xf32>, %bias: tensor<32xf32>,
    %g: tensor<2x16x32xf32>, %seed: tensor<i64>)
    -> (tensor<2x16x32xf32>, tensor<2x16x64xf32>) {
  %xd = lora.dropout %x, %seed {rate = 0.1, stream = 3 : i64}
      : (tensor<2x16x64xf32>, tensor<i64>) -> tensor<2x16x64xf32>
  %y = lora.linear %x, %w, %a, %b lora_input(%xd) bias(%bias) {rank = 8 : i64, scale = 2.0 : f64}
      : (tensor<2x16x64xf32>, tensor<64x32xf32>, tensor<64x8xf32>, tensor<8x32xf32>, tensor<2x16x64xf32>, tensor<32xf32>) -> tensor<2x16x32xf32>
  %dx, %da, %db, %dxd = lora.linear_grad %x, %w, %a, %b, %g lora_input(%xd) {rank = 8 : i64, scale = 2.0 : f64}
      : (tensor<2x16x64xf32>, tensor<64x32xf32>, tensor<64x8xf32>, tensor<8x32xf32>, tensor<2x16x32xf32>, tensor<2x16x64xf32>)
      -> (tensor<2x16x64xf32>, tensor<64x8xf32>, tensor<8x32xf32>, tensor<2x16x64xf32>)
  return %y, %dxd : tensor<2x16x32xf32>, tensor<2x16x64xf32>
}
