// RUN: lora-opt %s -split-input-file --convert-onnx-to-tosa -verify-diagnostics

func.func @negative_reduce_no_input() -> !onnx.unknown {
  // expected-error @unknown {{node 'r' (ReduceSum, opset 13): expects 1 input(s), input 0 is missing}}
  %0 = onnx.node "ReduceSum"() opset 13 : () -> !onnx.unknown loc("r")
  return %0 : !onnx.unknown
}

// -----

func.func @negative_reduce_two_outputs(%x: tensor<2x3xf32>) -> !onnx.unknown {
  // expected-error @+1 {{expects at most 1 output(s), got 2}}
  %0:2 = onnx.node "ReduceMax"(%x) opset 13 : (tensor<2x3xf32>) -> (!onnx.unknown, !onnx.unknown)
  return %0#0 : !onnx.unknown
}

// -----

func.func @negative_reduce_mean_int(%x: tensor<2x3xi32>) -> !onnx.unknown {
  // expected-error @+1 {{input of type 'tensor<2x3xi32>' is not supported; expected a floating-point tensor}}
  %0 = onnx.node "ReduceMean"(%x) opset 13 : (tensor<2x3xi32>) -> !onnx.unknown
  return %0 : !onnx.unknown
}

// -----

func.func @negative_reduce_sum_bool(%x: tensor<2x3xi1>) -> !onnx.unknown {
  // expected-error @+1 {{input of type 'tensor<2x3xi1>' is not supported; expected a floating-point or signless integer tensor}}
  %0 = onnx.node "ReduceSum"(%x) opset 11 : (tensor<2x3xi1>) -> !onnx.unknown
  return %0 : !onnx.unknown
}

// -----

func.func @negative_reduce_axes_not_constant(%x: tensor<2x3xf32>, %axes: tensor<1xi64>) -> !onnx.unknown {
  // expected-error @+1 {{axes input must be a constant}}
  %0 = onnx.node "ReduceMean"(%x, %axes) opset 18 : (tensor<2x3xf32>, tensor<1xi64>) -> !onnx.unknown
  return %0 : !onnx.unknown
}

// -----

func.func @negative_reduce_axes_attribute_at_opset18(%x: tensor<2x3xf32>) -> !onnx.unknown {
  // expected-error @+1 {{axes must be an input from this opset on, not an attribute}}
  %0 = onnx.node "ReduceMean"(%x) attrs {axes = array<i64: 1>} opset 18 : (tensor<2x3xf32>) -> !onnx.unknown
  return %0 : !onnx.unknown
}

// -----

func.func @negative_reduce_axis_out_of_range(%x: tensor<2x3xf32>) -> !onnx.unknown {
  // expected-error @+1 {{axis 2 is out of range for rank 2}}
  %0 = onnx.node "ReduceSum"(%x) attrs {axes = array<i64: 2>} opset 11 : (tensor<2x3xf32>) -> !onnx.unknown
  return %0 : !onnx.unknown
}

// -----

func.func @negative_reduce_scalar_axis(%x: tensor<f32>) -> !onnx.unknown {
  // expected-error @+1 {{axes are out of range for a scalar input}}
  %0 = onnx.node "ReduceSum"(%x) attrs {axes = array<i64: 1>} opset 11 : (tensor<f32>) -> !onnx.unknown
  return %0 : !onnx.unknown
}

// -----

func.func @negative_argmax_scalar(%x: tensor<f32>) -> !onnx.unknown {
  // expected-error @+1 {{input of type 'tensor<f32>' must have rank >= 1}}
  %0 = onnx.node "ArgMax"(%x) opset 13 : (tensor<f32>) -> !onnx.unknown
  return %0 : !onnx.unknown
}

// -----

func.func @negative_argmin_unsigned(%x: tensor<2x3xui8>) -> !onnx.unknown {
  // expected-error @+1 {{input of type 'tensor<2x3xui8>' is not supported; expected a floating-point or signless integer tensor}}
  %0 = onnx.node "ArgMin"(%x) opset 13 : (tensor<2x3xui8>) -> !onnx.unknown
  return %0 : !onnx.unknown
}

// -----

func.func @negative_argmax_axis(%x: tensor<2x3xf32>) -> !onnx.unknown {
  // expected-error @+1 {{axis -3 is out of range for rank 2}}
  %0 = onnx.node "ArgMax"(%x) attrs {axis = -3 : i64} opset 13 : (tensor<2x3xf32>) -> !onnx.unknown
  return %0 : !onnx.unknown
}

// -----

func.func @negative_softmax_int(%x: tensor<2x3xi32>) -> !onnx.unknown {
  // expected-error @+1 {{input of type 'tensor<2x3xi32>' is not supported; expected a floating-point tensor}}
  %0 = onnx.node "Softmax"(%x) opset 13 : (tensor<2x3xi32>) -> !onnx.unknown
  return %0 : !onnx.unknown
}

// -----

func.func @negative_log_softmax_scalar(%x: tensor<f32>) -> !onnx.unknown {
  // expected-error @+1 {{input of type 'tensor<f32>' must have rank >= 1}}
  %0 = onnx.node "LogSoftmax"(%x) opset 13 : (tensor<f32>) -> !onnx.unknown
  return %0 : !onnx.unknown
}

// -----

func.func @negative_softmax_axis(%x: tensor<2x3xf32>) -> !onnx.unknown {
  // expected-error @+1 {{axis 2 is out of range for rank 2}}
  %0 = onnx.node "Softmax"(%x) attrs {axis = 2 : i64} opset 11 : (tensor<2x3xf32>) -> !onnx.unknown
  return %0 : !onnx.unknown
}

// -----

func.func @negative_layer_norm_no_scale(%x: tensor<2x8xf32>) -> !onnx.unknown {
  // expected-error @+1 {{expects 2 input(s), input 1 is missing}}
  %0 = onnx.node "LayerNormalization"(%x) opset 17 : (tensor<2x8xf32>) -> !onnx.unknown
  return %0 : !onnx.unknown
}

// -----

func.func @negative_layer_norm_four_outputs(%x: tensor<2x8xf32>, %s: tensor<8xf32>) -> !onnx.unknown {
  // expected-error @+1 {{expects at most 3 output(s), got 4}}
  %0:4 = onnx.node "LayerNormalization"(%x, %s) opset 17 : (tensor<2x8xf32>, tensor<8xf32>) -> (!onnx.unknown, !onnx.unknown, !onnx.unknown, !onnx.unknown)
  return %0#0 : !onnx.unknown
}

// -----

func.func @negative_layer_norm_scale_shape(%x: tensor<2x8xf32>, %s: tensor<4xf32>) -> !onnx.unknown {
  // expected-error @+1 {{Scale of type 'tensor<4xf32>' does not broadcast to the input type 'tensor<2x8xf32>'}}
  %0 = onnx.node "LayerNormalization"(%x, %s) opset 17 : (tensor<2x8xf32>, tensor<4xf32>) -> !onnx.unknown
  return %0 : !onnx.unknown
}

// -----

func.func @negative_layer_norm_bias_shape(%x: tensor<2x8xf32>, %s: tensor<8xf32>, %b: tensor<3x8xf32>) -> !onnx.unknown {
  // expected-error @+1 {{B of type 'tensor<3x8xf32>' does not broadcast to the input type 'tensor<2x8xf32>'}}
  %0 = onnx.node "LayerNormalization"(%x, %s, %b) opset 17 : (tensor<2x8xf32>, tensor<8xf32>, tensor<3x8xf32>) -> !onnx.unknown
  return %0 : !onnx.unknown
}

// -----

func.func @negative_layer_norm_stash_type(%x: tensor<2x8xf32>, %s: tensor<8xf32>) -> !onnx.unknown {
  // expected-error @+1 {{stash_type 7 is not supported; expected 1 (float) or 16 (bfloat16)}}
  %0 = onnx.node "LayerNormalization"(%x, %s) attrs {stash_type = 7 : i64} opset 17 : (tensor<2x8xf32>, tensor<8xf32>) -> !onnx.unknown
  return %0 : !onnx.unknown
}

// -----

func.func @negative_layer_norm_int(%x: tensor<2x8xi32>, %s: tensor<8xi32>) -> !onnx.unknown {
  // expected-error @+1 {{input of type 'tensor<2x8xi32>' is not supported; expected a floating-point tensor}}
  %0 = onnx.node "LayerNormalization"(%x, %s) opset 17 : (tensor<2x8xi32>, tensor<8xi32>) -> !onnx.unknown
  return %0 : !onnx.unknown
}

// -----

func.func @negative_rms_norm_scale_shape(%x: tensor<2x8xf32>, %s: tensor<2x1x8xf32>) -> !onnx.unknown {
  // expected-error @+1 {{scale of type 'tensor<2x1x8xf32>' does not broadcast to the input type 'tensor<2x8xf32>'}}
  %0 = onnx.node "RMSNormalization"(%x, %s) opset 23 : (tensor<2x8xf32>, tensor<2x1x8xf32>) -> !onnx.unknown
  return %0 : !onnx.unknown
}

// -----

func.func @negative_cumsum_axis_not_constant(%x: tensor<2x3xf32>, %axis: tensor<i64>) -> !onnx.unknown {
  // expected-error @+1 {{axis input must be a constant with one element}}
  %0 = onnx.node "CumSum"(%x, %axis) opset 14 : (tensor<2x3xf32>, tensor<i64>) -> !onnx.unknown
  return %0 : !onnx.unknown
}

// -----

func.func @negative_cumsum_two_axes(%x: tensor<2x3xf32>) -> !onnx.unknown {
  %axis = arith.constant dense<[0, 1]> : tensor<2xi64>
  // expected-error @+1 {{axis input must be a constant with one element}}
  %0 = onnx.node "CumSum"(%x, %axis) opset 14 : (tensor<2x3xf32>, tensor<2xi64>) -> !onnx.unknown
  return %0 : !onnx.unknown
}

// -----

func.func @negative_cumsum_bool(%x: tensor<2x3xi1>) -> !onnx.unknown {
  %axis = arith.constant dense<0> : tensor<i64>
  // expected-error @+1 {{input of type 'tensor<2x3xi1>' is not supported; expected a floating-point or signless integer tensor}}
  %0 = onnx.node "CumSum"(%x, %axis) opset 14 : (tensor<2x3xi1>, tensor<i64>) -> !onnx.unknown
  return %0 : !onnx.unknown
}

// -----

func.func @negative_cumsum_scalar(%x: tensor<f32>) -> !onnx.unknown {
  %axis = arith.constant dense<0> : tensor<i64>
  // expected-error @+1 {{input of type 'tensor<f32>' must have rank >= 1}}
  %0 = onnx.node "CumSum"(%x, %axis) opset 14 : (tensor<f32>, tensor<i64>) -> !onnx.unknown
  return %0 : !onnx.unknown
}
