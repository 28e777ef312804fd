// Inputs that once crashed or misled the LoRA passes (review findings).
// RUN: split-file %s %t
// RUN: lora-opt %t/int8.mlir --lora-list-targets | FileCheck %t/int8.mlir
// RUN: lora-opt %t/k0.mlir --canonicalize | FileCheck %t/k0.mlir
// RUN: lora-opt %t/unmerge-sizes.mlir -verify-diagnostics --lora-unmerge
// RUN: lora-opt %t/called.mlir --lora-merge | FileCheck %t/called.mlir
// RUN: lora-opt %t/kept-param.mlir --lora-merge --lora-unmerge | FileCheck %t/kept-param.mlir
// RUN: lora-opt %t/heads.mlir --lora-list-targets=all-linear | FileCheck %t/heads.mlir
// RUN: lora-opt %t/anonymous.mlir --lora-list-targets=all-linear | FileCheck %t/anonymous.mlir

//--- int8.mlir
// A quantized matmul is no LoRA target.
// CHECK: linear layers: 0
func.func @q(%x: tensor<1x3x8xi8>) -> tensor<1x3x4xi32> {
  %w = "tosa.const"() <{values = dense<1> : tensor<1x8x4xi8>}> : () -> tensor<1x8x4xi8> loc("fc.weight")
  %zp = "tosa.const"() <{values = dense<0> : tensor<1xi8>}> : () -> tensor<1xi8>
  %m = tosa.matmul %x, %w, %zp, %zp : (tensor<1x3x8xi8>, tensor<1x8x4xi8>, tensor<1xi8>, tensor<1xi8>) -> tensor<1x3x4xi32>
  return %m : tensor<1x3x4xi32>
}

//--- k0.mlir
// K = 0: the zero-branch canonicalization leaves the op alone.
// CHECK-LABEL: func.func @k0
// CHECK: lora.linear
func.func @k0(%x: tensor<2x0xf32>, %w: tensor<0x4xf32>, %a: tensor<0x1xf32>) -> tensor<2x4xf32> {
  %b = arith.constant dense<0.0> : tensor<1x4xf32>
  %y = lora.linear %x, %w, %a, %b {rank = 1 : i64, scale = 1.0} : (tensor<2x0xf32>, tensor<0x4xf32>, tensor<0x1xf32>, tensor<1x4xf32>) -> tensor<2x4xf32>
  return %y : tensor<2x4xf32>
}

//--- unmerge-sizes.mlir
func.func @sizes(%x: tensor<1x3x4xf32>) -> tensor<1x3x2xf32> {
  %w = "tosa.const"() <{values = dense<1.0> : tensor<1x4x2xf32>}> : () -> tensor<1x4x2xf32>
  %zp = "tosa.const"() <{values = dense<0.0> : tensor<1xf32>}> : () -> tensor<1xf32>
  // expected-error @+1 {{malformed 'lora.merged' attribute: lora_a must be [4, r], lora_b [r, 2] with r = rank > 0}}
  %y = tosa.matmul %x, %w, %zp, %zp {lora.merged = {lora_a = dense<1.0> : tensor<1x1xf32>, lora_b = dense<1.0> : tensor<1x1xf32>, module = "fc", param_a = "a", param_b = "b", rank = 2 : i64, scale = 1.0 : f64}} : (tensor<1x3x4xf32>, tensor<1x4x2xf32>, tensor<1xf32>, tensor<1xf32>) -> tensor<1x3x2xf32>
  return %y : tensor<1x3x2xf32>
}

//--- called.mlir
// A called function keeps its signature: its callers pass A and B.
// CHECK-LABEL: func.func @layer
// CHECK-SAME: lora.param = "base_model.model.fc.lora_A.weight"
// CHECK-NOT: lora.linear
// CHECK-LABEL: func.func @main
// CHECK: call @layer
func.func @layer(%x: tensor<1x3x4xf32>,
    %a: tensor<4x1xf32> {lora.param = "base_model.model.fc.lora_A.weight", lora.init = dense<1.0> : tensor<4x1xf32>},
    %b: tensor<1x2xf32> {lora.param = "base_model.model.fc.lora_B.weight", lora.init = dense<1.0> : tensor<1x2xf32>}) -> tensor<1x3x2xf32> {
  %w = arith.constant dense<1.0> : tensor<4x2xf32>
  %y = lora.linear %x, %w, %a, %b {rank = 1 : i64, scale = 1.0 : f64} : (tensor<1x3x4xf32>, tensor<4x2xf32>, tensor<4x1xf32>, tensor<1x2xf32>) -> tensor<1x3x2xf32>
  return %y : tensor<1x3x2xf32>
}
func.func @main(%x: tensor<1x3x4xf32>, %a: tensor<4x1xf32>, %b: tensor<1x2xf32>) -> tensor<1x3x2xf32> {
  %y = call @layer(%x, %a, %b) : (tensor<1x3x4xf32>, tensor<4x1xf32>, tensor<1x2xf32>) -> tensor<1x3x2xf32>
  return %y : tensor<1x3x2xf32>
}

//--- kept-param.mlir
// A parameter with another use survives the merge; unmerge reuses it instead
// of adding a second argument with the same name.
// CHECK-LABEL: func.func @kept
// CHECK-SAME: (%{{.*}}: tensor<1x3x4xf32>, %[[A:.*]]: tensor<4x1xf32> {{.*}}, %[[B:.*]]: tensor<1x2xf32> {{{.*}}lora.param = "base_model.model.fc.lora_B.weight"}) -> (tensor<1x3x2xf32>, tensor<4x1xf32>)
// CHECK: lora.linear %{{.*}}, %{{.*}}, %[[A]], %[[B]]
func.func @kept(%x: tensor<1x3x4xf32>,
    %a: tensor<4x1xf32> {lora.param = "base_model.model.fc.lora_A.weight", lora.init = dense<1.0> : tensor<4x1xf32>},
    %b: tensor<1x2xf32> {lora.param = "base_model.model.fc.lora_B.weight", lora.init = dense<1.0> : tensor<1x2xf32>}) -> (tensor<1x3x2xf32>, tensor<4x1xf32>) {
  %w = arith.constant dense<1.0> : tensor<4x2xf32>
  %y = lora.linear %x, %w, %a, %b {rank = 1 : i64, scale = 1.0 : f64} : (tensor<1x3x4xf32>, tensor<4x2xf32>, tensor<4x1xf32>, tensor<1x2xf32>) -> tensor<1x3x2xf32>
  return %y, %a : tensor<1x3x2xf32>, tensor<4x1xf32>
}

//--- heads.mlir
// Output heads scaled by a constant (logit_scale), or named lm_head behind a
// nonlinearity, are left out by all-linear.
// CHECK: scaled.weight {{.*}} - [output head]
// CHECK: model.lm_head {{.*}} - [output head]
func.func @scaled(%x: tensor<1x3x8xf32>) -> tensor<1x3x4xf32> {
  %w = "tosa.const"() <{values = dense<0.5> : tensor<1x8x4xf32>}> : () -> tensor<1x8x4xf32> loc("scaled.weight.weight")
  %zp = "tosa.const"() <{values = dense<0.0> : tensor<1xf32>}> : () -> tensor<1xf32>
  %s = "tosa.const"() <{values = dense<0.0625> : tensor<1x1x1xf32>}> : () -> tensor<1x1x1xf32>
  %shift = "tosa.const"() <{values = dense<0> : tensor<1xi8>}> : () -> tensor<1xi8>
  %m = tosa.matmul %x, %w, %zp, %zp : (tensor<1x3x8xf32>, tensor<1x8x4xf32>, tensor<1xf32>, tensor<1xf32>) -> tensor<1x3x4xf32>
  %y = tosa.mul %m, %s, %shift : (tensor<1x3x4xf32>, tensor<1x1x1xf32>, tensor<1xi8>) -> tensor<1x3x4xf32>
  return %y : tensor<1x3x4xf32>
}
func.func @softcap(%x: tensor<1x3x8xf32>) -> tensor<1x3x4xf32> {
  %w = "tosa.const"() <{values = dense<0.5> : tensor<1x8x4xf32>}> : () -> tensor<1x8x4xf32> loc("model.lm_head.weight")
  %zp = "tosa.const"() <{values = dense<0.0> : tensor<1xf32>}> : () -> tensor<1xf32>
  %m = tosa.matmul %x, %w, %zp, %zp : (tensor<1x3x8xf32>, tensor<1x8x4xf32>, tensor<1xf32>, tensor<1xf32>) -> tensor<1x3x4xf32>
  %y = tosa.tanh %m : (tensor<1x3x4xf32>) -> tensor<1x3x4xf32>
  return %y : tensor<1x3x4xf32>
}

//--- anonymous.mlir
// Layers without any name get their position; listing never fails.
// CHECK: linear_0 {{.*}} r=8
// CHECK: linear_1 {{.*}} r=8
func.func @anonymous(%x: tensor<1x3x8xf32>) -> tensor<1x3x8xf32> {
  %w = "tosa.const"() <{values = dense<0.5> : tensor<1x8x8xf32>}> : () -> tensor<1x8x8xf32>
  %zp = "tosa.const"() <{values = dense<0.0> : tensor<1xf32>}> : () -> tensor<1xf32>
  %m = tosa.matmul %x, %w, %zp, %zp : (tensor<1x3x8xf32>, tensor<1x8x8xf32>, tensor<1xf32>, tensor<1xf32>) -> tensor<1x3x8xf32>
  %t = tosa.tanh %m : (tensor<1x3x8xf32>) -> tensor<1x3x8xf32>
  %m2 = tosa.matmul %t, %w, %zp, %zp : (tensor<1x3x8xf32>, tensor<1x8x8xf32>, tensor<1xf32>, tensor<1xf32>) -> tensor<1x3x8xf32>
  %t2 = tosa.tanh %m2 : (tensor<1x3x8xf32>) -> tensor<1x3x8xf32>
  return %t2 : tensor<1x3x8xf32>
}
