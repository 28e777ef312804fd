// lora-merge and lora-unmerge with weights from a PEFT adapter directory
// (test/unit/Inputs/peft_llama: q_proj 16 x 16 with r = 4, alpha = 8).
// RUN: lora-opt %s -split-input-file -verify-diagnostics --lora-merge="adapter=%S/../unit/Inputs/peft_llama" | FileCheck %s
// RUN: lora-opt %s -split-input-file -verify-diagnostics --lora-merge="adapter=%S/../unit/Inputs/peft_llama" --lora-unmerge="adapter=%S/../unit/Inputs/peft_llama" | FileCheck %s --check-prefix=ROUND

// The adapter's scale (8 / 4) wins over the op's; the parameters go away.
// CHECK-LABEL: func.func @q_proj
// CHECK-SAME: (%{{.*}}: tensor<1x3x16xf32>) -> tensor<1x3x16xf32>
// CHECK: tosa.matmul {{.*}} {lora.merged = {{{.*}}module = "model.layers.0.self_attn.q_proj", {{.*}}rank = 4 : i64, scale = 2.000000e+00 : f64}}
// ROUND-LABEL: func.func @q_proj
// ROUND: lora.linear {{.*}} {rank = 4 : i64, scale = 2.000000e+00 : f64}
func.func @q_proj(%x: tensor<1x3x16xf32>,
    %a: tensor<16x4xf32> {lora.param = "base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight"},
    %b: tensor<4x16xf32> {lora.param = "base_model.model.model.layers.0.self_attn.q_proj.lora_B.weight"}) -> tensor<1x3x16xf32> {
  %w = arith.constant dense<0.5> : tensor<16x16xf32>
  %y = lora.linear %x, %w, %a, %b {rank = 4 : i64, scale = 1.0 : f64} : (tensor<1x3x16xf32>, tensor<16x16xf32>, tensor<16x4xf32>, tensor<4x16xf32>) -> tensor<1x3x16xf32>
  return %y : tensor<1x3x16xf32>
}

// -----

func.func @negative_not_in_adapter(%x: tensor<1x3x16xf32>,
    %a: tensor<16x4xf32> {lora.param = "base_model.model.model.layers.0.self_attn.k_proj.lora_A.weight"},
    %b: tensor<4x16xf32> {lora.param = "base_model.model.model.layers.0.self_attn.k_proj.lora_B.weight"}) -> tensor<1x3x16xf32> {
  %w = arith.constant dense<0.5> : tensor<16x16xf32>
  // expected-error @+1 {{has no weights for module 'model.layers.0.self_attn.k_proj'}}
  %y = lora.linear %x, %w, %a, %b {rank = 4 : i64, scale = 1.0 : f64} : (tensor<1x3x16xf32>, tensor<16x16xf32>, tensor<16x4xf32>, tensor<4x16xf32>) -> tensor<1x3x16xf32>
  return %y : tensor<1x3x16xf32>
}

// -----

func.func @negative_other_shape(%x: tensor<1x3x16xf32>,
    %a: tensor<16x2xf32> {lora.param = "base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight"},
    %b: tensor<2x8xf32> {lora.param = "base_model.model.model.layers.0.self_attn.q_proj.lora_B.weight"}) -> tensor<1x3x8xf32> {
  %w = arith.constant dense<0.5> : tensor<16x8xf32>
  // expected-error @+1 {{adapter module 'model.layers.0.self_attn.q_proj' has K x N = 16 x 16 and rank 4, the layer 16 x 8 and rank 2}}
  %y = lora.linear %x, %w, %a, %b {rank = 2 : i64, scale = 1.0 : f64} : (tensor<1x3x16xf32>, tensor<16x8xf32>, tensor<16x2xf32>, tensor<2x8xf32>) -> tensor<1x3x8xf32>
  return %y : tensor<1x3x8xf32>
}
