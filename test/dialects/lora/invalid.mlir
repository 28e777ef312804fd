// RUN: lora-opt %s -split-input-file -verify-diagnostics

func.func @negative_scale(%x: tensor<4x8xf32>, %w: tensor<8x6xf32>, %a: tensor<8x2xf32>, %b: tensor<2x6xf32>) -> tensor<4x6xf32> {
  // expected-error @+1 {{'lora.linear' op requires a positive scale, got -1.000000e+00}}
  %y = lora.linear %x, %w, %a, %b {rank = 2 : i64, scale = -1.0 : f64} : (tensor<4x8xf32>, tensor<8x6xf32>, tensor<8x2xf32>, tensor<2x6xf32>) -> tensor<4x6xf32>
  return %y : tensor<4x6xf32>
}

// -----

func.func @negative_zero_rank(%x: tensor<4x8xf32>, %w: tensor<8x6xf32>, %a: tensor<8x2xf32>, %b: tensor<2x6xf32>) -> tensor<4x6xf32> {
  // expected-error @+1 {{'lora.linear' op attribute 'rank' failed to satisfy constraint: 64-bit signless integer attribute whose value is positive}}
  %y = lora.linear %x, %w, %a, %b {rank = 0 : i64, scale = 1.0 : f64} : (tensor<4x8xf32>, tensor<8x6xf32>, tensor<8x2xf32>, tensor<2x6xf32>) -> tensor<4x6xf32>
  return %y : tensor<4x6xf32>
}

// -----

func.func @negative_rank_mismatch(%x: tensor<4x8xf32>, %w: tensor<8x6xf32>, %a: tensor<8x2xf32>, %b: tensor<2x6xf32>) -> tensor<4x6xf32> {
  // expected-error @+1 {{'lora.linear' op lora_a must be [K, r] = [8, 4], got 'tensor<8x2xf32>'}}
  %y = lora.linear %x, %w, %a, %b {rank = 4 : i64, scale = 1.0 : f64} : (tensor<4x8xf32>, tensor<8x6xf32>, tensor<8x2xf32>, tensor<2x6xf32>) -> tensor<4x6xf32>
  return %y : tensor<4x6xf32>
}

// -----

func.func @negative_b_shape(%x: tensor<4x8xf32>, %w: tensor<8x6xf32>, %a: tensor<8x2xf32>, %b: tensor<2x5xf32>) -> tensor<4x6xf32> {
  // expected-error @+1 {{'lora.linear' op lora_b must be [r, N] = [2, 6], got 'tensor<2x5xf32>'}}
  %y = lora.linear %x, %w, %a, %b {rank = 2 : i64, scale = 1.0 : f64} : (tensor<4x8xf32>, tensor<8x6xf32>, tensor<8x2xf32>, tensor<2x5xf32>) -> tensor<4x6xf32>
  return %y : tensor<4x6xf32>
}

// -----

func.func @negative_k(%x: tensor<4x7xf32>, %w: tensor<8x6xf32>, %a: tensor<8x2xf32>, %b: tensor<2x6xf32>) -> tensor<4x6xf32> {
  // expected-error @+1 {{'lora.linear' op input 'tensor<4x7xf32>' does not match weight 'tensor<8x6xf32>' in K}}
  %y = lora.linear %x, %w, %a, %b {rank = 2 : i64, scale = 1.0 : f64} : (tensor<4x7xf32>, tensor<8x6xf32>, tensor<8x2xf32>, tensor<2x6xf32>) -> tensor<4x6xf32>
  return %y : tensor<4x6xf32>
}

// -----

func.func @negative_result(%x: tensor<4x8xf32>, %w: tensor<8x6xf32>, %a: tensor<8x2xf32>, %b: tensor<2x6xf32>) -> tensor<3x6xf32> {
  // expected-error @+1 {{'lora.linear' op result 'tensor<3x6xf32>' does not match input 'tensor<4x8xf32>' in dim 0}}
  %y = lora.linear %x, %w, %a, %b {rank = 2 : i64, scale = 1.0 : f64} : (tensor<4x8xf32>, tensor<8x6xf32>, tensor<8x2xf32>, tensor<2x6xf32>) -> tensor<3x6xf32>
  return %y : tensor<3x6xf32>
}

// -----

func.func @negative_result_n(%x: tensor<4x8xf32>, %w: tensor<8x6xf32>, %a: tensor<8x2xf32>, %b: tensor<2x6xf32>) -> tensor<4x5xf32> {
  // expected-error @+1 {{'lora.linear' op result must be the input's shape with N = 6 as last dim, got 'tensor<4x5xf32>'}}
  %y = lora.linear %x, %w, %a, %b {rank = 2 : i64, scale = 1.0 : f64} : (tensor<4x8xf32>, tensor<8x6xf32>, tensor<8x2xf32>, tensor<2x6xf32>) -> tensor<4x5xf32>
  return %y : tensor<4x5xf32>
}

// -----

func.func @negative_bias(%x: tensor<4x8xf32>, %w: tensor<8x6xf32>, %a: tensor<8x2xf32>, %b: tensor<2x6xf32>, %bias: tensor<8xf32>) -> tensor<4x6xf32> {
  // expected-error @+1 {{'lora.linear' op bias must be [N] = [6] of 'f32', got 'tensor<8xf32>'}}
  %y = lora.linear %x, %w, %a, %b bias(%bias) {rank = 2 : i64, scale = 1.0 : f64} : (tensor<4x8xf32>, tensor<8x6xf32>, tensor<8x2xf32>, tensor<2x6xf32>, tensor<8xf32>) -> tensor<4x6xf32>
  return %y : tensor<4x6xf32>
}

// -----

func.func @negative_element_type(%x: tensor<4x8xf32>, %w: tensor<8x6xf16>, %a: tensor<8x2xf32>, %b: tensor<2x6xf32>) -> tensor<4x6xf32> {
  // expected-error @+1 {{'lora.linear' op requires all operands and the result to have element type 'f32', got 'tensor<8x6xf16>'}}
  %y = lora.linear %x, %w, %a, %b {rank = 2 : i64, scale = 1.0 : f64} : (tensor<4x8xf32>, tensor<8x6xf16>, tensor<8x2xf32>, tensor<2x6xf32>) -> tensor<4x6xf32>
  return %y : tensor<4x6xf32>
}

// -----

func.func @negative_integer(%x: tensor<4x8xi32>, %w: tensor<8x6xi32>, %a: tensor<8x2xi32>, %b: tensor<2x6xi32>) -> tensor<4x6xi32> {
  // expected-error @+1 {{'lora.linear' op requires a floating-point element type, got 'i32'}}
  %y = lora.linear %x, %w, %a, %b {rank = 2 : i64, scale = 1.0 : f64} : (tensor<4x8xi32>, tensor<8x6xi32>, tensor<8x2xi32>, tensor<2x6xi32>) -> tensor<4x6xi32>
  return %y : tensor<4x6xi32>
}

// -----

func.func @negative_weight_rank(%x: tensor<4x8xf32>, %w: tensor<1x8x6xf32>, %a: tensor<8x2xf32>, %b: tensor<2x6xf32>) -> tensor<4x6xf32> {
  // expected-error @+1 {{'lora.linear' op requires a 2-D weight, lora_a and lora_b, got 'tensor<1x8x6xf32>', 'tensor<8x2xf32>' and 'tensor<2x6xf32>'}}
  %y = lora.linear %x, %w, %a, %b {rank = 2 : i64, scale = 1.0 : f64} : (tensor<4x8xf32>, tensor<1x8x6xf32>, tensor<8x2xf32>, tensor<2x6xf32>) -> tensor<4x6xf32>
  return %y : tensor<4x6xf32>
}

// -----

// expected-error @+1 {{'lora.param' of argument #0 must be a non-empty string}}
func.func @negative_param_attr(%a: tensor<4x2xf32> {lora.param = 3 : i64}) {
  return
}

// -----

// expected-error @+1 {{'lora.init' of argument #0 has type 'tensor<2x4xf32>' but the argument is 'tensor<4x2xf32>'}}
func.func @negative_init_type(%a: tensor<4x2xf32> {lora.init = dense<0.0> : tensor<2x4xf32>}) {
  return
}

// -----

// expected-error @+1 {{unknown LoRA argument attribute 'lora.rank'}}
func.func @negative_unknown_attr(%a: tensor<4x2xf32> {lora.rank = 2 : i64}) {
  return
}

// -----

func.func @negative_grad_shape(%x: tensor<4x8xf32>, %w: tensor<8x6xf32>, %a: tensor<8x2xf32>, %b: tensor<2x6xf32>, %g: tensor<3x6xf32>) {
  // expected-error @+1 {{'lora.linear_grad' op result_grad 'tensor<3x6xf32>' does not match input 'tensor<4x8xf32>' in dim 0}}
  %dx, %da, %db = lora.linear_grad %x, %w, %a, %b, %g {rank = 2 : i64, scale = 1.0 : f64} : (tensor<4x8xf32>, tensor<8x6xf32>, tensor<8x2xf32>, tensor<2x6xf32>, tensor<3x6xf32>) -> (tensor<4x8xf32>, tensor<8x2xf32>, tensor<2x6xf32>)
  return
}

// -----

func.func @negative_grad_result(%x: tensor<4x8xf32>, %w: tensor<8x6xf32>, %a: tensor<8x2xf32>, %b: tensor<2x6xf32>, %g: tensor<4x6xf32>) {
  // expected-error @+1 {{'lora.linear_grad' op lora_b_grad must be [r, N] = [2, 6], got 'tensor<6x2xf32>'}}
  %dx, %da, %db = lora.linear_grad %x, %w, %a, %b, %g {rank = 2 : i64, scale = 1.0 : f64} : (tensor<4x8xf32>, tensor<8x6xf32>, tensor<8x2xf32>, tensor<2x6xf32>, tensor<4x6xf32>) -> (tensor<4x8xf32>, tensor<8x2xf32>, tensor<6x2xf32>)
  return
}

// -----

func.func @negative_adamw_beta(%p: tensor<4xf32>, %lr: tensor<f64>, %step: tensor<i64>) {
  // expected-error @+1 {{'lora.adamw' op requires betas in [0, 1), got 1.000000e+00 and 9.990000e-01}}
  %p2, %m2, %v2 = lora.adamw %p, %p, %p, %p, %lr, %step {beta1 = 1.0} : (tensor<4xf32>, tensor<4xf32>, tensor<4xf32>, tensor<4xf32>, tensor<f64>, tensor<i64>) -> (tensor<4xf32>, tensor<4xf32>, tensor<4xf32>)
  return
}

// -----

func.func @negative_sgd_nesterov(%p: tensor<4xf32>, %lr: tensor<f64>) {
  // expected-error @+1 {{'lora.sgd' op nesterov needs a momentum}}
  %p2, %b2 = lora.sgd %p, %p, %p, %lr {nesterov} : (tensor<4xf32>, tensor<4xf32>, tensor<4xf32>, tensor<f64>) -> (tensor<4xf32>, tensor<4xf32>)
  return
}

// -----

func.func @negative_adamw_state_type(%p: tensor<4xf32>, %m: tensor<4xf16>, %lr: tensor<f64>, %step: tensor<i64>) {
  // expected-error @+1 {{'lora.adamw' op failed to verify that all of {param, grad, exp_avg, exp_avg_sq, new_param, new_exp_avg, new_exp_avg_sq} have same type}}
  %p2, %m2, %v2 = lora.adamw %p, %p, %m, %p, %lr, %step : (tensor<4xf32>, tensor<4xf32>, tensor<4xf16>, tensor<4xf32>, tensor<f64>, tensor<i64>) -> (tensor<4xf32>, tensor<4xf32>, tensor<4xf32>)
  return
}

// -----

func.func @negative_dropout_rate(%x: tensor<4xf32>, %seed: tensor<i64>) {
  // expected-error @+1 {{'lora.dropout' op requires a rate in [0, 1), got 1.000000e+00}}
  %y = lora.dropout %x, %seed {rate = 1.0, stream = 0 : i64} : (tensor<4xf32>, tensor<i64>) -> tensor<4xf32>
  return
}

// -----

func.func @negative_dropout_stream(%x: tensor<4xf32>, %seed: tensor<i64>) {
  // expected-error @+1 {{'lora.dropout' op requires a non-negative stream, got -1}}
  %y = lora.dropout %x, %seed {rate = 0.5, stream = -1 : i64} : (tensor<4xf32>, tensor<i64>) -> tensor<4xf32>
  return
}

// -----

func.func @negative_dropout_integer(%x: tensor<4xi32>, %seed: tensor<i64>) {
  // expected-error @+1 {{'lora.dropout' op requires a floating-point input, got 'tensor<4xi32>'}}
  %y = lora.dropout %x, %seed {rate = 0.5, stream = 0 : i64} : (tensor<4xi32>, tensor<i64>) -> tensor<4xi32>
  return
}

// -----

func.func @negative_dropout_seed(%x: tensor<4xf32>, %seed: tensor<i32>) {
  // expected-error @+1 {{'lora.dropout' op operand #1 must be 0D tensor of 64-bit signless integer values}}
  %y = lora.dropout %x, %seed {rate = 0.5, stream = 0 : i64} : (tensor<4xf32>, tensor<i32>) -> tensor<4xf32>
  return
}

// -----

func.func @negative_lora_input_type(%x: tensor<4x8xf32>, %w: tensor<8x6xf32>, %a: tensor<8x2xf32>, %b: tensor<2x6xf32>, %xl: tensor<4x8xf16>) {
  // expected-error @+1 {{'lora.linear' op lora_input must have the input's type 'tensor<4x8xf32>', got 'tensor<4x8xf16>'}}
  %y = lora.linear %x, %w, %a, %b lora_input(%xl) {rank = 2 : i64, scale = 1.0 : f64} : (tensor<4x8xf32>, tensor<8x6xf32>, tensor<8x2xf32>, tensor<2x6xf32>, tensor<4x8xf16>) -> tensor<4x6xf32>
  return
}

// -----

func.func @negative_grad_lora_input_result(%x: tensor<4x8xf32>, %w: tensor<8x6xf32>, %a: tensor<8x2xf32>, %b: tensor<2x6xf32>, %g: tensor<4x6xf32>) {
  // expected-error @+1 {{'lora.linear_grad' op has a lora_input_grad result exactly when it has a lora_input operand}}
  %dx, %da, %db, %dxl = lora.linear_grad %x, %w, %a, %b, %g {rank = 2 : i64, scale = 1.0 : f64} : (tensor<4x8xf32>, tensor<8x6xf32>, tensor<8x2xf32>, tensor<2x6xf32>, tensor<4x6xf32>) -> (tensor<4x8xf32>, tensor<8x2xf32>, tensor<2x6xf32>, tensor<4x8xf32>)
  return
}

// -----

func.func @negative_grad_lora_input_grad_type(%x: tensor<4x8xf32>, %w: tensor<8x6xf32>, %a: tensor<8x2xf32>, %b: tensor<2x6xf32>, %g: tensor<4x6xf32>) {
  // expected-error @+1 {{'lora.linear_grad' op lora_input_grad must have input_grad's type 'tensor<4x8xf32>', got 'tensor<8x4xf32>'}}
  %dx, %da, %db, %dxl = lora.linear_grad %x, %w, %a, %b, %g lora_input(%x) {rank = 2 : i64, scale = 1.0 : f64} : (tensor<4x8xf32>, tensor<8x6xf32>, tensor<8x2xf32>, tensor<2x6xf32>, tensor<4x6xf32>, tensor<4x8xf32>) -> (tensor<4x8xf32>, tensor<8x2xf32>, tensor<2x6xf32>, tensor<8x4xf32>)
  return
}
