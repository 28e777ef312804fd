// RUN: lora-opt %s -split-input-file --convert-onnx-to-tosa -verify-diagnostics

func.func @negative_add_type_mismatch(%a: tensor<3xf32>, %b: tensor<3xf16>) -> !onnx.unknown {
  // The node's name and type prefix every message.
  // expected-error @unknown {{node 'add' (Add, opset 14): inputs #0 and #1 have different element types: 'tensor<3xf32>' vs 'tensor<3xf16>'}}
  %0 = onnx.node "Add"(%a, %b) opset 14 : (tensor<3xf32>, tensor<3xf16>) -> !onnx.unknown loc("add")
  return %0 : !onnx.unknown
}

// -----

func.func @negative_add_no_broadcast(%a: tensor<2x3xf32>, %b: tensor<2xf32>) -> !onnx.unknown {
  // expected-error @+1 {{operands 'tensor<2x3xf32>' and 'tensor<2xf32>' do not broadcast}}
  %0 = onnx.node "Add"(%a, %b) opset 14 : (tensor<2x3xf32>, tensor<2xf32>) -> !onnx.unknown
  return %0 : !onnx.unknown
}

// -----

func.func @negative_add_bool(%a: tensor<3xi1>, %b: tensor<3xi1>) -> !onnx.unknown {
  // expected-error @+1 {{input #0 has type 'tensor<3xi1>'; expected a floating-point or signed integer element type}}
  %0 = onnx.node "Add"(%a, %b) opset 14 : (tensor<3xi1>, tensor<3xi1>) -> !onnx.unknown
  return %0 : !onnx.unknown
}

// -----

func.func @negative_add_unsigned(%a: tensor<3xui8>, %b: tensor<3xui8>) -> !onnx.unknown {
  // expected-error @+1 {{input #0 has type 'tensor<3xui8>'; expected a floating-point or signed integer element type}}
  %0 = onnx.node "Add"(%a, %b) opset 14 : (tensor<3xui8>, tensor<3xui8>) -> !onnx.unknown
  return %0 : !onnx.unknown
}

// -----

func.func @negative_add_one_input(%a: tensor<3xf32>) -> !onnx.unknown {
  // expected-error @+1 {{expects 2 inputs, got 1}}
  %0 = onnx.node "Add"(%a) opset 14 : (tensor<3xf32>) -> !onnx.unknown
  return %0 : !onnx.unknown
}

// -----

func.func @negative_mul_missing_input(%a: tensor<3xf32>) -> !onnx.unknown {
  %none = onnx.none
  // expected-error @+1 {{input #1 is missing}}
  %0 = onnx.node "Mul"(%a, %none) opset 14 : (tensor<3xf32>, none) -> !onnx.unknown
  return %0 : !onnx.unknown
}

// -----

func.func @negative_sub_two_outputs(%a: tensor<3xf32>) -> (!onnx.unknown, !onnx.unknown) {
  // expected-error @+1 {{expects 1 output, got 2}}
  %0:2 = onnx.node "Sub"(%a, %a) opset 14 : (tensor<3xf32>, tensor<3xf32>) -> (!onnx.unknown, !onnx.unknown)
  return %0#0, %0#1 : !onnx.unknown, !onnx.unknown
}

// -----

func.func @negative_legacy_broadcast_axis(%a: tensor<2x3xf32>, %b: tensor<3xf32>) -> !onnx.unknown {
  // expected-error @+1 {{legacy broadcast of 'tensor<3xf32>' at axis 2 does not fit in 'tensor<2x3xf32>'}}
  %0 = onnx.node "Add"(%a, %b) attrs {broadcast = 1 : i64, axis = 2 : i64} opset 6 : (tensor<2x3xf32>, tensor<3xf32>) -> !onnx.unknown
  return %0 : !onnx.unknown
}

// -----

func.func @negative_sqrt_int(%a: tensor<3xi32>) -> !onnx.unknown {
  // expected-error @+1 {{input #0 has type 'tensor<3xi32>'; expected a floating-point element type}}
  %0 = onnx.node "Sqrt"(%a) opset 13 : (tensor<3xi32>) -> !onnx.unknown
  return %0 : !onnx.unknown
}

// -----

func.func @negative_and_float(%a: tensor<3xf32>, %b: tensor<3xf32>) -> !onnx.unknown {
  // expected-error @+1 {{input #0 has type 'tensor<3xf32>'; expected a bool element type}}
  %0 = onnx.node "And"(%a, %b) opset 7 : (tensor<3xf32>, tensor<3xf32>) -> !onnx.unknown
  return %0 : !onnx.unknown
}

// -----

func.func @negative_bitwise_float(%a: tensor<3xf32>) -> !onnx.unknown {
  // expected-error @+1 {{input #0 has type 'tensor<3xf32>'; expected a signed integer element type}}
  %0 = onnx.node "BitwiseNot"(%a) opset 18 : (tensor<3xf32>) -> !onnx.unknown
  return %0 : !onnx.unknown
}

// -----

func.func @negative_mod_fmod_value(%a: tensor<3xi32>, %b: tensor<3xi32>) -> !onnx.unknown {
  // expected-error @+1 {{fmod must be 0 or 1, got 2}}
  %0 = onnx.node "Mod"(%a, %b) attrs {fmod = 2 : i64} opset 13 : (tensor<3xi32>, tensor<3xi32>) -> !onnx.unknown
  return %0 : !onnx.unknown
}

// -----

func.func @negative_mod_float_fmod0(%a: tensor<3xf32>, %b: tensor<3xf32>) -> !onnx.unknown {
  // expected-error @+1 {{fmod must be 1 for floating-point inputs, got 0}}
  %0 = onnx.node "Mod"(%a, %b) opset 13 : (tensor<3xf32>, tensor<3xf32>) -> !onnx.unknown
  return %0 : !onnx.unknown
}

// -----

func.func @negative_max_no_inputs() -> !onnx.unknown {
  // expected-error @+1 {{expects at least one input}}
  %0 = onnx.node "Max"() opset 13 : () -> !onnx.unknown
  return %0 : !onnx.unknown
}

// -----

func.func @negative_sum_no_broadcast(%a: tensor<2x3xf32>, %b: tensor<3xf32>, %c: tensor<2xf32>) -> !onnx.unknown {
  // expected-error @+1 {{input #2 of type 'tensor<2xf32>' does not broadcast with the others (shape so far: 'tensor<2x3xf32>')}}
  %0 = onnx.node "Sum"(%a, %b, %c) opset 13 : (tensor<2x3xf32>, tensor<3xf32>, tensor<2xf32>) -> !onnx.unknown
  return %0 : !onnx.unknown
}

// -----

func.func @negative_min_type_mismatch(%a: tensor<3xf32>, %b: tensor<3xi32>) -> !onnx.unknown {
  // expected-error @+1 {{inputs #0 and #1 have different element types: 'tensor<3xf32>' vs 'tensor<3xi32>'}}
  %0 = onnx.node "Min"(%a, %b) opset 13 : (tensor<3xf32>, tensor<3xi32>) -> !onnx.unknown
  return %0 : !onnx.unknown
}

// -----

func.func @negative_gelu_approximate(%a: tensor<3xf32>) -> !onnx.unknown {
  // expected-error @+1 {{approximate must be 'none' or 'tanh', got 'fast'}}
  %0 = onnx.node "Gelu"(%a) attrs {approximate = "fast"} opset 20 : (tensor<3xf32>) -> !onnx.unknown
  return %0 : !onnx.unknown
}

// -----

func.func @negative_clip_bound_not_scalar(%a: tensor<3xf32>, %lo: tensor<3xf32>) -> !onnx.unknown {
  // expected-error @+1 {{min (input #1) must be a scalar, got 'tensor<3xf32>'}}
  %0 = onnx.node "Clip"(%a, %lo) opset 13 : (tensor<3xf32>, tensor<3xf32>) -> !onnx.unknown
  return %0 : !onnx.unknown
}

// -----

func.func @negative_clip_too_many_inputs(%a: tensor<3xf32>, %b: tensor<f32>) -> !onnx.unknown {
  // expected-error @+1 {{expects 1 to 3 inputs, got 4}}
  %0 = onnx.node "Clip"(%a, %b, %b, %b) opset 13 : (tensor<3xf32>, tensor<f32>, tensor<f32>, tensor<f32>) -> !onnx.unknown
  return %0 : !onnx.unknown
}

// -----

func.func @negative_where_condition_type(%c: tensor<3xi32>, %x: tensor<3xf32>) -> !onnx.unknown {
  // expected-error @+1 {{input #0 has type 'tensor<3xi32>'; expected a bool element type}}
  %0 = onnx.node "Where"(%c, %x, %x) opset 16 : (tensor<3xi32>, tensor<3xf32>, tensor<3xf32>) -> !onnx.unknown
  return %0 : !onnx.unknown
}

// -----

func.func @negative_where_no_broadcast(%c: tensor<2xi1>, %x: tensor<3xf32>) -> !onnx.unknown {
  // expected-error @+1 {{condition 'tensor<2xi1>' and values 'tensor<3xf32>', 'tensor<3xf32>' do not broadcast}}
  %0 = onnx.node "Where"(%c, %x, %x) opset 16 : (tensor<2xi1>, tensor<3xf32>, tensor<3xf32>) -> !onnx.unknown
  return %0 : !onnx.unknown
}

// -----

func.func @negative_cast_unsupported_type(%a: tensor<3xf32>) -> !onnx.unknown {
  // expected-error @+1 {{casting to ONNX data type 2 is not supported}}
  %0 = onnx.node "Cast"(%a) attrs {to = 2 : i64} opset 13 : (tensor<3xf32>) -> !onnx.unknown
  return %0 : !onnx.unknown
}

// -----

func.func @negative_cast_v1_string(%a: tensor<3xf32>) -> !onnx.unknown {
  // expected-error @+1 {{casting to 'STRING' is not supported}}
  %0 = onnx.node "Cast"(%a) attrs {to = "STRING"} opset 1 : (tensor<3xf32>) -> !onnx.unknown
  return %0 : !onnx.unknown
}

// -----

func.func @negative_cast_like_unsigned(%a: tensor<3xf32>, %b: tensor<1xui8>) -> !onnx.unknown {
  // expected-error @+1 {{input #1 has type 'tensor<1xui8>'; expected a floating-point, signed integer or bool element type}}
  %0 = onnx.node "CastLike"(%a, %b) opset 15 : (tensor<3xf32>, tensor<1xui8>) -> !onnx.unknown
  return %0 : !onnx.unknown
}

// -----

func.func @negative_cast_no_to(%a: tensor<3xf32>) -> !onnx.unknown {
  // expected-error @+1 {{the 'to' attribute is missing}}
  %0 = onnx.node "Cast"(%a) opset 13 : (tensor<3xf32>) -> !onnx.unknown
  return %0 : !onnx.unknown
}

// -----

func.func @negative_dropout_training(%a: tensor<3xf32>) -> !onnx.unknown {
  %training = arith.constant dense<true> : tensor<i1>
  %none = onnx.none
  // expected-error @+1 {{training mode with a nonzero ratio is not supported}}
  %0 = onnx.node "Dropout"(%a, %none, %training) opset 13 : (tensor<3xf32>, none, tensor<i1>) -> !onnx.unknown
  return %0 : !onnx.unknown
}

// -----

func.func @negative_dropout_computed_training(%a: tensor<3xf32>, %t: tensor<i1>) -> !onnx.unknown {
  %none = onnx.none
  // expected-error @+1 {{training_mode (input #2) must be a constant scalar, got 'tensor<i1>'}}
  %0 = onnx.node "Dropout"(%a, %none, %t) opset 13 : (tensor<3xf32>, none, tensor<i1>) -> !onnx.unknown
  return %0 : !onnx.unknown
}

// -----

func.func @negative_dropout_three_outputs(%a: tensor<3xf32>) -> !onnx.unknown {
  // expected-error @+1 {{expects 1 or 2 outputs, got 3}}
  %0:3 = onnx.node "Dropout"(%a) opset 13 : (tensor<3xf32>) -> (!onnx.unknown, !onnx.unknown, !onnx.unknown)
  return %0#0 : !onnx.unknown
}
