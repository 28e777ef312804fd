// RUN: lora-opt %s -split-input-file -verify-diagnostics --lora-merge

func.func @negative_no_values(%x: tensor<1x3x4xf32>, %a: tensor<4x2xf32>, %b: tensor<2x2xf32>) -> tensor<1x3x2xf32> {
  %w = arith.constant dense<1.0> : tensor<4x2xf32>
  // expected-error @unknown {{no values to merge for module 'fc': give adapter=DIR, or A and B as arguments with lora.init or as constants}}
  %y = lora.linear %x, %w, %a, %b {rank = 2 : i64, scale = 2.0 : f64} : (tensor<1x3x4xf32>, tensor<4x2xf32>, tensor<4x2xf32>, tensor<2x2xf32>) -> tensor<1x3x2xf32> loc("/fc/MatMul")
  return %y : tensor<1x3x2xf32>
}

// -----

func.func @negative_weight_argument(%x: tensor<1x3x4xf32>, %w: tensor<4x2xf32>) -> tensor<1x3x2xf32> {
  %a = arith.constant dense<1.0> : tensor<4x2xf32>
  %b = arith.constant dense<1.0> : tensor<2x2xf32>
  // expected-error @+1 {{lora-merge needs a constant weight}}
  %y = lora.linear %x, %w, %a, %b {rank = 2 : i64, scale = 2.0 : f64} : (tensor<1x3x4xf32>, tensor<4x2xf32>, tensor<4x2xf32>, tensor<2x2xf32>) -> tensor<1x3x2xf32>
  return %y : tensor<1x3x2xf32>
}

// -----

func.func @negative_branch_input(%x: tensor<1x3x4xf32>, %xl: tensor<1x3x4xf32>) -> tensor<1x3x2xf32> {
  %w = arith.constant dense<1.0> : tensor<4x2xf32>
  %a = arith.constant dense<1.0> : tensor<4x2xf32>
  %b = arith.constant dense<1.0> : tensor<2x2xf32>
  // expected-error @+1 {{lora-merge cannot merge a branch that reads its own input (lora_input, e.g. LoRA dropout) into W}}
  %y = lora.linear %x, %w, %a, %b lora_input(%xl) {rank = 2 : i64, scale = 2.0 : f64} : (tensor<1x3x4xf32>, tensor<4x2xf32>, tensor<4x2xf32>, tensor<2x2xf32>, tensor<1x3x4xf32>) -> tensor<1x3x2xf32>
  return %y : tensor<1x3x2xf32>
}
