// lora-insert from a PEFT adapter directory: test/unit/Inputs/peft_llama was
// saved by PEFT (test/unit/make_adapter_fixtures.py) for a Llama with hidden
// size 16: q_proj 16 x 16 with r = 4, alpha = 8; v_proj 16 x 8 with
// rank_pattern r = 2 and alpha_pattern alpha = 6.
// RUN: split-file %s %t
// RUN: lora-opt %t/fits.mlir --lora-insert="adapter=%S/../unit/Inputs/peft_llama" --lora-fuse | FileCheck %t/fits.mlir
// RUN: lora-opt %t/wrapped.mlir --lora-insert="adapter=%S/../unit/Inputs/peft_llama" | FileCheck %t/wrapped.mlir
// RUN: lora-opt %t/misfit.mlir -verify-diagnostics --lora-insert="adapter=%S/../unit/Inputs/peft_llama"
// RUN: lora-opt %t/combined.mlir -verify-diagnostics --lora-insert="adapter=%S/../unit/Inputs/peft_llama targets=q_proj"

//--- fits.mlir
// The module names and shapes fit: A and B come from the adapter,
// transposed to [K, r] and [r, N], with the adapter's rank and scale.
// CHECK-LABEL: func.func @layers
// CHECK-SAME: tensor<16x4xf32> {lora.init = dense<{{.*}}> : tensor<16x4xf32>, lora.param = "base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight"}
// CHECK-SAME: tensor<4x16xf32> {lora.init = dense<{{.*}}> : tensor<4x16xf32>, lora.param = "base_model.model.model.layers.0.self_attn.q_proj.lora_B.weight"}
// CHECK-SAME: tensor<16x2xf32> {lora.init = dense<{{.*}}> : tensor<16x2xf32>, lora.param = "base_model.model.model.layers.0.self_attn.v_proj.lora_A.weight"}
// CHECK-SAME: tensor<2x8xf32> {lora.init = dense<{{.*}}> : tensor<2x8xf32>, lora.param = "base_model.model.model.layers.0.self_attn.v_proj.lora_B.weight"}
// CHECK: lora.linear {{.*}} {rank = 4 : i64, scale = 2.000000e+00 : f64}
// CHECK: lora.linear {{.*}} {rank = 2 : i64, scale = 3.000000e+00 : f64}
// CHECK-NOT: lora.linear
func.func @layers(%x: tensor<1x3x16xf32>) -> (tensor<1x3x16xf32>, tensor<1x3x8xf32>, tensor<1x3x16xf32>) {
  %zp = "tosa.const"() <{values = dense<0.0> : tensor<1xf32>}> : () -> tensor<1xf32>
  %wq = "tosa.const"() <{values = dense<0.5> : tensor<1x16x16xf32>}> : () -> tensor<1x16x16xf32>
  %q = tosa.matmul %x, %wq, %zp, %zp : (tensor<1x3x16xf32>, tensor<1x16x16xf32>, tensor<1xf32>, tensor<1xf32>) -> tensor<1x3x16xf32> loc("/model/layers.0/self_attn/q_proj/MatMul")
  %wv = "tosa.const"() <{values = dense<0.5> : tensor<1x16x8xf32>}> : () -> tensor<1x16x8xf32>
  %v = tosa.matmul %x, %wv, %zp, %zp : (tensor<1x3x16xf32>, tensor<1x16x8xf32>, tensor<1xf32>, tensor<1xf32>) -> tensor<1x3x8xf32> loc("/model/layers.0/self_attn/v_proj/MatMul")
  %wk = "tosa.const"() <{values = dense<0.5> : tensor<1x16x16xf32>}> : () -> tensor<1x16x16xf32>
  %k = tosa.matmul %x, %wk, %zp, %zp : (tensor<1x3x16xf32>, tensor<1x16x16xf32>, tensor<1xf32>, tensor<1xf32>) -> tensor<1x3x16xf32> loc("/model/layers.0/self_attn/k_proj/MatMul")
  return %q, %v, %k : tensor<1x3x16xf32>, tensor<1x3x8xf32>, tensor<1x3x16xf32>
}

//--- wrapped.mlir
// An export of a wrapped model ("m." in front) still matches by suffix; the
// parameters keep PEFT's names.
// CHECK-LABEL: func.func @wrapped
// CHECK-SAME: lora.param = "base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight"
func.func @wrapped(%x: tensor<1x3x16xf32>) -> (tensor<1x3x16xf32>, tensor<1x3x8xf32>) {
  %zp = "tosa.const"() <{values = dense<0.0> : tensor<1xf32>}> : () -> tensor<1xf32>
  %wq = "tosa.const"() <{values = dense<0.5> : tensor<1x16x16xf32>}> : () -> tensor<1x16x16xf32>
  %q = tosa.matmul %x, %wq, %zp, %zp : (tensor<1x3x16xf32>, tensor<1x16x16xf32>, tensor<1xf32>, tensor<1xf32>) -> tensor<1x3x16xf32> loc("node_linear"("m.model.layers.0.self_attn.q_proj"))
  %wv = "tosa.const"() <{values = dense<0.5> : tensor<1x16x8xf32>}> : () -> tensor<1x16x8xf32>
  %v = tosa.matmul %x, %wv, %zp, %zp : (tensor<1x3x16xf32>, tensor<1x16x8xf32>, tensor<1xf32>, tensor<1xf32>) -> tensor<1x3x8xf32> loc("node_linear_1"("m.model.layers.0.self_attn.v_proj"))
  return %q, %v : tensor<1x3x16xf32>, tensor<1x3x8xf32>
}

//--- misfit.mlir
// Another model: v_proj has the wrong shape and q_proj is missing. Every
// problem is listed.
// expected-error @+3 {{adapter does not fit the model: 2 problem(s)}}
// expected-note @+2 {{module 'model.layers.0.self_attn.q_proj' (K x N = 16x16) matches no linear layer; closest: [model.layers.0.self_attn.v_proj, model.layers.0.self_attn.k_proj]}}
// expected-note @+1 {{module 'model.layers.0.self_attn.v_proj' has K x N = 16x8 but the layer 'model.layers.0.self_attn.v_proj' (node '/model/layers.0/self_attn/v_proj/MatMul') is 16x16}}
module {
  func.func @other(%x: tensor<1x3x16xf32>) -> (tensor<1x3x16xf32>, tensor<1x3x16xf32>) {
    %zp = "tosa.const"() <{values = dense<0.0> : tensor<1xf32>}> : () -> tensor<1xf32>
    %wv = "tosa.const"() <{values = dense<0.5> : tensor<1x16x16xf32>}> : () -> tensor<1x16x16xf32>
    %v = tosa.matmul %x, %wv, %zp, %zp : (tensor<1x3x16xf32>, tensor<1x16x16xf32>, tensor<1xf32>, tensor<1xf32>) -> tensor<1x3x16xf32> loc("/model/layers.0/self_attn/v_proj/MatMul")
    %wk = "tosa.const"() <{values = dense<0.5> : tensor<1x16x16xf32>}> : () -> tensor<1x16x16xf32>
    %k = tosa.matmul %x, %wk, %zp, %zp : (tensor<1x3x16xf32>, tensor<1x16x16xf32>, tensor<1xf32>, tensor<1xf32>) -> tensor<1x3x16xf32> loc("/model/layers.0/self_attn/k_proj/MatMul")
    return %v, %k : tensor<1x3x16xf32>, tensor<1x3x16xf32>
  }
}

//--- combined.mlir
// expected-error @+1 {{adapter gives the targets, ranks and alphas itself; do not combine it with targets, exclude, all-linear, patterns or rslora}}
module {
  func.func @f(%x: tensor<1x3x16xf32>) -> tensor<1x3x16xf32> {
    return %x : tensor<1x3x16xf32>
  }
}
