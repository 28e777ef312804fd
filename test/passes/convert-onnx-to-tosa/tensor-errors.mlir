// RUN: lora-opt %s -split-input-file --convert-onnx-to-tosa -verify-diagnostics
func.func @negative_missing_input(%x: tensor<2x3xf32>) -> !onnx.unknown {
  %n = onnx.none
  // expected-error @+1 {{input #1 is required}}
  %0 = onnx.node "Reshape"(%x, %n) opset 14 : (tensor<2x3xf32>, none) -> !onnx.unknown
  return %0 : !onnx.unknown
}

// -----

func.func @negative_shape_not_constant(%x: tensor<2x3xf32>, %s: tensor<2xi64>) -> !onnx.unknown {
  // expected-error @+1 {{input 'shape' must be a constant: static shapes depend on it}}
  %0 = onnx.node "Reshape"(%x, %s) opset 14 : (tensor<2x3xf32>, tensor<2xi64>) -> !onnx.unknown
  return %0 : !onnx.unknown
}

// -----

func.func @negative_shape_not_integer(%x: tensor<2x3xf32>) -> !onnx.unknown {
  %s = arith.constant dense<[3.0, 2.0]> : tensor<2xf32>
  // expected-error @+1 {{input 'shape' must hold integers, got 'tensor<2xf32>'}}
  %0 = onnx.node "Reshape"(%x, %s) opset 14 : (tensor<2x3xf32>, tensor<2xf32>) -> !onnx.unknown
  return %0 : !onnx.unknown
}

// -----

func.func @negative_reshape_two_inferred(%x: tensor<2x3xf32>) -> !onnx.unknown {
  %s = arith.constant dense<[-1, -1]> : tensor<2xi64>
  // expected-error @+1 {{shape [-1, -1] has more than one -1}}
  %0 = onnx.node "Reshape"(%x, %s) opset 14 : (tensor<2x3xf32>, tensor<2xi64>) -> !onnx.unknown
  return %0 : !onnx.unknown
}

// -----

func.func @negative_reshape_copy_missing_dim(%x: tensor<2x3xf32>) -> !onnx.unknown {
  %s = arith.constant dense<[6, 1, 0]> : tensor<3xi64>
  // expected-error @+1 {{shape [6, 1, 0] copies dim 2 with 0, but the input 'tensor<2x3xf32>' has rank 2}}
  %0 = onnx.node "Reshape"(%x, %s) opset 14 : (tensor<2x3xf32>, tensor<3xi64>) -> !onnx.unknown
  return %0 : !onnx.unknown
}

// -----

func.func @negative_reshape_invalid_dim(%x: tensor<2x3xf32>) -> !onnx.unknown {
  %s = arith.constant dense<[-2, 3]> : tensor<2xi64>
  // expected-error @+1 {{shape [-2, 3] has an invalid dim -2}}
  %0 = onnx.node "Reshape"(%x, %s) opset 14 : (tensor<2x3xf32>, tensor<2xi64>) -> !onnx.unknown
  return %0 : !onnx.unknown
}

// -----

func.func @negative_reshape_cannot_infer(%x: tensor<2x3xf32>) -> !onnx.unknown {
  %s = arith.constant dense<[4, -1]> : tensor<2xi64>
  // expected-error @+1 {{cannot infer the -1 in shape [4, -1] for 6 elements}}
  %0 = onnx.node "Reshape"(%x, %s) opset 14 : (tensor<2x3xf32>, tensor<2xi64>) -> !onnx.unknown
  return %0 : !onnx.unknown
}

// -----

func.func @negative_reshape_count_mismatch(%x: tensor<2x3xf32>) -> !onnx.unknown {
  %s = arith.constant dense<[4, 2]> : tensor<2xi64>
  // expected-error @+1 {{shape [4, 2] has 8 elements, but the input 'tensor<2x3xf32>' has 6}}
  %0 = onnx.node "Reshape"(%x, %s) opset 14 : (tensor<2x3xf32>, tensor<2xi64>) -> !onnx.unknown
  return %0 : !onnx.unknown
}

// -----

func.func @negative_reshape_allowzero_count(%x: tensor<2x3xf32>) -> !onnx.unknown {
  %s = arith.constant dense<[0, 6]> : tensor<2xi64>
  // expected-error @+1 {{shape [0, 6] has 0 elements}}
  %0 = onnx.node "Reshape"(%x, %s) attrs {allowzero = 1 : i64} opset 14 : (tensor<2x3xf32>, tensor<2xi64>) -> !onnx.unknown
  return %0 : !onnx.unknown
}

// -----

func.func @negative_reshape_opset1_no_shape(%x: tensor<2x3xf32>) -> !onnx.unknown {
  // expected-error @+1 {{requires the 'shape' attribute}}
  %0 = onnx.node "Reshape"(%x) opset 1 : (tensor<2x3xf32>) -> !onnx.unknown
  return %0 : !onnx.unknown
}

// -----

func.func @negative_constant_string() -> !onnx.unknown {
  // expected-error @+1 {{string constants are not supported}}
  %0 = onnx.node "Constant"() attrs {value_string = "a"} opset 13 : () -> !onnx.unknown
  return %0 : !onnx.unknown
}

// -----

func.func @negative_constant_sparse() -> !onnx.unknown {
  // expected-error @+1 {{sparse constants are not supported}}
  %0 = onnx.node "Constant"() attrs {sparse_value = 1 : i64} opset 13 : () -> !onnx.unknown
  return %0 : !onnx.unknown
}

// -----

func.func @negative_constant_no_value() -> !onnx.unknown {
  // expected-error @+1 {{expects one of the attributes 'value', 'value_float', 'value_floats', 'value_int' or 'value_ints'}}
  %0 = onnx.node "Constant"() opset 13 : () -> !onnx.unknown
  return %0 : !onnx.unknown
}

// -----

func.func @negative_constant_of_shape_negative() -> !onnx.unknown {
  %s = arith.constant dense<[2, -1]> : tensor<2xi64>
  // expected-error @+1 {{the shape must be a 1-D tensor of non-negative dims}}
  %0 = onnx.node "ConstantOfShape"(%s) opset 9 : (tensor<2xi64>) -> !onnx.unknown
  return %0 : !onnx.unknown
}

// -----

func.func @negative_constant_of_shape_value() -> !onnx.unknown {
  %s = arith.constant dense<[2]> : tensor<1xi64>
  // expected-error @+1 {{attribute 'value' must hold one element, got 'tensor<2xf32>'}}
  %0 = onnx.node "ConstantOfShape"(%s) attrs {value = dense<[1.0, 2.0]> : tensor<2xf32>} opset 9 : (tensor<1xi64>) -> !onnx.unknown
  return %0 : !onnx.unknown
}

// -----

func.func @negative_constant_of_shape_runtime(%s: tensor<1xi64>) -> !onnx.unknown {
  // expected-error @+1 {{input 'input' must be a constant}}
  %0 = onnx.node "ConstantOfShape"(%s) opset 9 : (tensor<1xi64>) -> !onnx.unknown
  return %0 : !onnx.unknown
}

// -----

func.func @negative_range_types() -> !onnx.unknown {
  %a = arith.constant dense<0> : tensor<i64>
  %b = arith.constant dense<4> : tensor<i32>
  // expected-error @+1 {{start, limit and delta must be scalars of one type}}
  %0 = onnx.node "Range"(%a, %b, %a) opset 11 : (tensor<i64>, tensor<i32>, tensor<i64>) -> !onnx.unknown
  return %0 : !onnx.unknown
}

// -----

func.func @negative_range_element_type() -> !onnx.unknown {
  %a = arith.constant dense<1> : tensor<i8>
  // expected-error @+1 {{element type 'i8' is not supported (f32, f64, i16, i32, i64)}}
  %0 = onnx.node "Range"(%a, %a, %a) opset 11 : (tensor<i8>, tensor<i8>, tensor<i8>) -> !onnx.unknown
  return %0 : !onnx.unknown
}

// -----

func.func @negative_range_runtime(%l: tensor<i64>) -> !onnx.unknown {
  %a = arith.constant dense<1> : tensor<i64>
  // expected-error @+1 {{start, limit and delta must be constants: the result size depends on them}}
  %0 = onnx.node "Range"(%a, %l, %a) opset 11 : (tensor<i64>, tensor<i64>, tensor<i64>) -> !onnx.unknown
  return %0 : !onnx.unknown
}

// -----

func.func @negative_range_zero_delta() -> !onnx.unknown {
  %a = arith.constant dense<1> : tensor<i64>
  %b = arith.constant dense<5> : tensor<i64>
  %z = arith.constant dense<0> : tensor<i64>
  // expected-error @+1 {{delta must not be zero}}
  %0 = onnx.node "Range"(%a, %b, %z) opset 11 : (tensor<i64>, tensor<i64>, tensor<i64>) -> !onnx.unknown
  return %0 : !onnx.unknown
}

// -----

func.func @negative_range_too_large() -> !onnx.unknown {
  %a = arith.constant dense<0> : tensor<i64>
  %b = arith.constant dense<1000000000000000000> : tensor<i64>
  %d = arith.constant dense<1> : tensor<i64>
  // expected-error @+1 {{the result would have more than 67108864 elements}}
  %0 = onnx.node "Range"(%a, %b, %d) opset 11 : (tensor<i64>, tensor<i64>, tensor<i64>) -> !onnx.unknown
  return %0 : !onnx.unknown
}

// -----

func.func @negative_squeeze_not_one(%x: tensor<1x3xf32>) -> !onnx.unknown {
  // expected-error @+1 {{cannot squeeze dim 1 of size 3 in 'tensor<1x3xf32>'}}
  %0 = onnx.node "Squeeze"(%x) attrs {axes = array<i64: 1>} opset 11 : (tensor<1x3xf32>) -> !onnx.unknown
  return %0 : !onnx.unknown
}

// -----

func.func @negative_squeeze_axis_range(%x: tensor<1x3xf32>) -> !onnx.unknown {
  %a = arith.constant dense<2> : tensor<1xi64>
  // expected-error @+1 {{axis 2 is out of range for rank 2}}
  %0 = onnx.node "Squeeze"(%x, %a) opset 13 : (tensor<1x3xf32>, tensor<1xi64>) -> !onnx.unknown
  return %0 : !onnx.unknown
}

// -----

func.func @negative_unsqueeze_repeat(%x: tensor<2x3xf32>) -> !onnx.unknown {
  %a = arith.constant dense<[0, -4]> : tensor<2xi64>
  // expected-error @+1 {{axes [0, -4] repeat a dim}}
  %0 = onnx.node "Unsqueeze"(%x, %a) opset 13 : (tensor<2x3xf32>, tensor<2xi64>) -> !onnx.unknown
  return %0 : !onnx.unknown
}

// -----

func.func @negative_unsqueeze_no_axes(%x: tensor<2x3xf32>) -> !onnx.unknown {
  // expected-error @+1 {{requires the 'axes' attribute}}
  %0 = onnx.node "Unsqueeze"(%x) opset 11 : (tensor<2x3xf32>) -> !onnx.unknown
  return %0 : !onnx.unknown
}

// -----

func.func @negative_flatten_axis(%x: tensor<2x3xf32>) -> !onnx.unknown {
  // expected-error @+1 {{axis 3 is out of range [-2, 2]}}
  %0 = onnx.node "Flatten"(%x) attrs {axis = 3 : i64} opset 13 : (tensor<2x3xf32>) -> !onnx.unknown
  return %0 : !onnx.unknown
}

// -----

func.func @negative_transpose_perm(%x: tensor<2x3xf32>) -> !onnx.unknown {
  // expected-error @+1 {{perm [0, 0] is not a permutation of the 2 dims of 'tensor<2x3xf32>'}}
  %0 = onnx.node "Transpose"(%x) attrs {perm = array<i64: 0, 0>} opset 13 : (tensor<2x3xf32>) -> !onnx.unknown
  return %0 : !onnx.unknown
}

// -----

func.func @negative_concat_no_inputs() -> !onnx.unknown {
  // expected-error @+1 {{expects at least one input}}
  %0 = onnx.node "Concat"() attrs {axis = 0 : i64} opset 13 : () -> !onnx.unknown
  return %0 : !onnx.unknown
}

// -----

func.func @negative_concat_no_axis(%x: tensor<2x3xf32>) -> !onnx.unknown {
  // expected-error @+1 {{requires the 'axis' attribute}}
  %0 = onnx.node "Concat"(%x, %x) opset 13 : (tensor<2x3xf32>, tensor<2x3xf32>) -> !onnx.unknown
  return %0 : !onnx.unknown
}

// -----

func.func @negative_concat_scalar(%x: tensor<f32>) -> !onnx.unknown {
  // expected-error @+1 {{inputs must have rank >= 1, got 'tensor<f32>'}}
  %0 = onnx.node "Concat"(%x, %x) attrs {axis = 0 : i64} opset 13 : (tensor<f32>, tensor<f32>) -> !onnx.unknown
  return %0 : !onnx.unknown
}

// -----

func.func @negative_concat_mismatch(%x: tensor<2x3xf32>, %y: tensor<3x3xf32>) -> !onnx.unknown {
  // expected-error @+1 {{input #1 of type 'tensor<3x3xf32>' does not match 'tensor<2x3xf32>' outside axis 1}}
  %0 = onnx.node "Concat"(%x, %y) attrs {axis = 1 : i64} opset 13 : (tensor<2x3xf32>, tensor<3x3xf32>) -> !onnx.unknown
  return %0 : !onnx.unknown
}

// -----

func.func @negative_concat_element_types(%x: tensor<2x3xf32>, %y: tensor<2x3xf16>) -> !onnx.unknown {
  // expected-error @+1 {{input #1 of type 'tensor<2x3xf16>' does not match}}
  %0 = onnx.node "Concat"(%x, %y) attrs {axis = 0 : i64} opset 13 : (tensor<2x3xf32>, tensor<2x3xf16>) -> !onnx.unknown
  return %0 : !onnx.unknown
}

// -----

func.func @negative_slice_lengths(%x: tensor<2x3xf32>) -> !onnx.unknown {
  %s = arith.constant dense<[0]> : tensor<1xi64>
  %e = arith.constant dense<[1, 1]> : tensor<2xi64>
  // expected-error @+1 {{starts, ends, axes and steps must have one entry per sliced axis, got 1, 2, 1, 0}}
  %0 = onnx.node "Slice"(%x, %s, %e) opset 13 : (tensor<2x3xf32>, tensor<1xi64>, tensor<2xi64>) -> !onnx.unknown
  return %0 : !onnx.unknown
}

// -----

func.func @negative_slice_scalar(%x: tensor<f32>) -> !onnx.unknown {
  %s = arith.constant dense<> : tensor<0xi64>
  // expected-error @+1 {{cannot slice the scalar 'tensor<f32>'}}
  %0 = onnx.node "Slice"(%x, %s, %s) opset 13 : (tensor<f32>, tensor<0xi64>, tensor<0xi64>) -> !onnx.unknown
  return %0 : !onnx.unknown
}

// -----

func.func @negative_slice_twice(%x: tensor<2x3xf32>) -> !onnx.unknown {
  %s = arith.constant dense<[0, 1]> : tensor<2xi64>
  %a = arith.constant dense<[1, -1]> : tensor<2xi64>
  // expected-error @+1 {{axis -1 is sliced twice}}
  %0 = onnx.node "Slice"(%x, %s, %s, %a) opset 13 : (tensor<2x3xf32>, tensor<2xi64>, tensor<2xi64>, tensor<2xi64>) -> !onnx.unknown
  return %0 : !onnx.unknown
}

// -----

func.func @negative_slice_zero_step(%x: tensor<2x3xf32>) -> !onnx.unknown {
  %s = arith.constant dense<[0]> : tensor<1xi64>
  %t = arith.constant dense<[0]> : tensor<1xi64>
  // expected-error @+1 {{steps must not be zero}}
  %0 = onnx.node "Slice"(%x, %s, %s, %s, %t) opset 13 : (tensor<2x3xf32>, tensor<1xi64>, tensor<1xi64>, tensor<1xi64>, tensor<1xi64>) -> !onnx.unknown
  return %0 : !onnx.unknown
}

// -----

func.func @negative_slice_runtime_starts(%x: tensor<2x3xf32>, %s: tensor<1xi64>) -> !onnx.unknown {
  // expected-error @+1 {{input 'starts' must be a constant}}
  %0 = onnx.node "Slice"(%x, %s, %s) opset 13 : (tensor<2x3xf32>, tensor<1xi64>, tensor<1xi64>) -> !onnx.unknown
  return %0 : !onnx.unknown
}

// -----

func.func @negative_slice_opset1_attrs(%x: tensor<2x3xf32>) -> !onnx.unknown {
  // expected-error @+1 {{requires the 'starts' and 'ends' attributes}}
  %0 = onnx.node "Slice"(%x) attrs {starts = array<i64: 0>} opset 1 : (tensor<2x3xf32>) -> !onnx.unknown
  return %0 : !onnx.unknown
}

// -----

func.func @negative_split_sizes(%x: tensor<2x12xf32>) -> !onnx.unknown {
  %s = arith.constant dense<[4, 4]> : tensor<2xi64>
  // expected-error @+1 {{split sizes [4, 4] must be 2 non-negative numbers adding up to dim 1 of 'tensor<2x12xf32>'}}
  %0:2 = onnx.node "Split"(%x, %s) attrs {axis = 1 : i64} opset 13 : (tensor<2x12xf32>, tensor<2xi64>) -> (!onnx.unknown, !onnx.unknown)
  return %0#0 : !onnx.unknown
}

// -----

func.func @negative_split_scalar(%x: tensor<f32>) -> !onnx.unknown {
  // expected-error @+1 {{cannot split the scalar 'tensor<f32>'}}
  %0:2 = onnx.node "Split"(%x) opset 13 : (tensor<f32>) -> (!onnx.unknown, !onnx.unknown)
  return %0#0 : !onnx.unknown
}

// -----

func.func @negative_split_uneven(%x: tensor<2x11xf32>) -> !onnx.unknown {
  // expected-error @+1 {{cannot split dim 1 of 'tensor<2x11xf32>' into 3 equal parts}}
  %0:3 = onnx.node "Split"(%x) attrs {axis = 1 : i64} opset 13 : (tensor<2x11xf32>) -> (!onnx.unknown, !onnx.unknown, !onnx.unknown)
  return %0#0 : !onnx.unknown
}

// -----

func.func @negative_split_too_many_parts(%x: tensor<2x5xf32>) -> !onnx.unknown {
  // expected-error @+1 {{cannot split dim 1 of 'tensor<2x5xf32>' into 4 parts}}
  %0:4 = onnx.node "Split"(%x) attrs {axis = 1 : i64, num_outputs = 4 : i64} opset 18 : (tensor<2x5xf32>) -> (!onnx.unknown, !onnx.unknown, !onnx.unknown, !onnx.unknown)
  return %0#0 : !onnx.unknown
}

// -----

func.func @negative_split_both_forms(%x: tensor<2x12xf32>) -> !onnx.unknown {
  %s = arith.constant dense<[4, 8]> : tensor<2xi64>
  // expected-error @+1 {{takes either the 'split' input or the 'num_outputs' attribute, not both}}
  %0:2 = onnx.node "Split"(%x, %s) attrs {axis = 1 : i64, num_outputs = 2 : i64} opset 18 : (tensor<2x12xf32>, tensor<2xi64>) -> (!onnx.unknown, !onnx.unknown)
  return %0#0 : !onnx.unknown
}

// -----

func.func @negative_split_num_outputs_mismatch(%x: tensor<2x12xf32>) -> !onnx.unknown {
  // expected-error @+1 {{num_outputs = 3 but the node has 2 outputs}}
  %0:2 = onnx.node "Split"(%x) attrs {axis = 1 : i64, num_outputs = 3 : i64} opset 18 : (tensor<2x12xf32>) -> (!onnx.unknown, !onnx.unknown)
  return %0#0 : !onnx.unknown
}

// -----

func.func @negative_gather_index_type(%x: tensor<2x3xf32>, %i: tensor<2xf32>) -> !onnx.unknown {
  // expected-error @+1 {{indices must be i32 or i64, got 'tensor<2xf32>'}}
  %0 = onnx.node "Gather"(%x, %i) opset 13 : (tensor<2x3xf32>, tensor<2xf32>) -> !onnx.unknown
  return %0 : !onnx.unknown
}

// -----

func.func @negative_gather_out_of_range(%x: tensor<2x3xf32>) -> !onnx.unknown {
  %i = arith.constant dense<[0, 3]> : tensor<2xi64>
  // expected-error @+1 {{index 3 is out of range for a dim of size 3}}
  %0 = onnx.node "Gather"(%x, %i) attrs {axis = 1 : i64} opset 13 : (tensor<2x3xf32>, tensor<2xi64>) -> !onnx.unknown
  return %0 : !onnx.unknown
}

// -----

func.func @negative_gather_scalar(%x: tensor<f32>, %i: tensor<i64>) -> !onnx.unknown {
  // expected-error @+1 {{cannot gather from the scalar 'tensor<f32>'}}
  %0 = onnx.node "Gather"(%x, %i) opset 13 : (tensor<f32>, tensor<i64>) -> !onnx.unknown
  return %0 : !onnx.unknown
}

// -----

func.func @negative_gather_empty(%x: tensor<0x3xf32>, %i: tensor<2xi64>) -> !onnx.unknown {
  // expected-error @+1 {{cannot gather from the empty 'tensor<0x3xf32>'}}
  %0 = onnx.node "Gather"(%x, %i) opset 13 : (tensor<0x3xf32>, tensor<2xi64>) -> !onnx.unknown
  return %0 : !onnx.unknown
}

// -----

func.func @negative_gather_nd_batch_dims(%x: tensor<2x3xf32>, %i: tensor<2x1xi64>) -> !onnx.unknown {
  // expected-error @+1 {{batch_dims = 2 must be below the ranks of data 'tensor<2x3xf32>' and indices 'tensor<2x1xi64>'}}
  %0 = onnx.node "GatherND"(%x, %i) attrs {batch_dims = 2 : i64} opset 13 : (tensor<2x3xf32>, tensor<2x1xi64>) -> !onnx.unknown
  return %0 : !onnx.unknown
}

// -----

func.func @negative_gather_nd_tuple(%x: tensor<2x3xf32>, %i: tensor<2x3xi64>) -> !onnx.unknown {
  // expected-error @+1 {{indices 'tensor<2x3xi64>' do not fit data 'tensor<2x3xf32>' with batch_dims = 0}}
  %0 = onnx.node "GatherND"(%x, %i) opset 13 : (tensor<2x3xf32>, tensor<2x3xi64>) -> !onnx.unknown
  return %0 : !onnx.unknown
}

// -----

func.func @negative_gather_elements_rank(%x: tensor<2x3xf32>, %i: tensor<2xi64>) -> !onnx.unknown {
  // expected-error @+1 {{data 'tensor<2x3xf32>' and indices 'tensor<2xi64>' must have the same rank >= 1}}
  %0 = onnx.node "GatherElements"(%x, %i) opset 13 : (tensor<2x3xf32>, tensor<2xi64>) -> !onnx.unknown
  return %0 : !onnx.unknown
}

// -----

func.func @negative_gather_elements_exceed(%x: tensor<2x3xf32>, %i: tensor<2x4xi64>) -> !onnx.unknown {
  // expected-error @+1 {{indices 'tensor<2x4xi64>' exceed data 'tensor<2x3xf32>' in dim 1}}
  %0 = onnx.node "GatherElements"(%x, %i) opset 13 : (tensor<2x3xf32>, tensor<2x4xi64>) -> !onnx.unknown
  return %0 : !onnx.unknown
}

// -----

func.func @negative_gather_elements_too_large(%x: tensor<65536x32768xi8>, %i: tensor<1x1xi64>) -> !onnx.unknown {
  // expected-error @+1 {{has too many elements for i32 positions}}
  %0 = onnx.node "GatherElements"(%x, %i) opset 13 : (tensor<65536x32768xi8>, tensor<1x1xi64>) -> !onnx.unknown
  return %0 : !onnx.unknown
}

// -----

func.func @negative_expand_shape(%x: tensor<2x3xf32>) -> !onnx.unknown {
  %s = arith.constant dense<[[2, 3]]> : tensor<1x2xi64>
  // expected-error @+1 {{the shape must be a 1-D tensor of non-negative dims, got 'tensor<1x2xi64>'}}
  %0 = onnx.node "Expand"(%x, %s) opset 13 : (tensor<2x3xf32>, tensor<1x2xi64>) -> !onnx.unknown
  return %0 : !onnx.unknown
}

// -----

func.func @negative_expand_broadcast(%x: tensor<2x3xf32>) -> !onnx.unknown {
  %s = arith.constant dense<[4, 3]> : tensor<2xi64>
  // expected-error @+1 {{cannot broadcast 'tensor<2x3xf32>' to [4, 3]}}
  %0 = onnx.node "Expand"(%x, %s) opset 13 : (tensor<2x3xf32>, tensor<2xi64>) -> !onnx.unknown
  return %0 : !onnx.unknown
}

// -----

func.func @negative_tile_repeats(%x: tensor<2x3xf32>) -> !onnx.unknown {
  %r = arith.constant dense<[2]> : tensor<1xi64>
  // expected-error @+1 {{repeats [2] must be 2 non-negative counts for 'tensor<2x3xf32>'}}
  %0 = onnx.node "Tile"(%x, %r) opset 13 : (tensor<2x3xf32>, tensor<1xi64>) -> !onnx.unknown
  return %0 : !onnx.unknown
}

// -----

func.func @negative_tile_opset1(%x: tensor<2x3xf32>) -> !onnx.unknown {
  %t = arith.constant dense<[2, 2]> : tensor<2xi64>
  %a = arith.constant dense<0> : tensor<i64>
  // expected-error @+1 {{tiles and axis must be single values, tiles >= 0}}
  %0 = onnx.node "Tile"(%x, %t, %a) opset 1 : (tensor<2x3xf32>, tensor<2xi64>, tensor<i64>) -> !onnx.unknown
  return %0 : !onnx.unknown
}

// -----

func.func @negative_trilu_rank(%x: tensor<3xf32>) -> !onnx.unknown {
  // expected-error @+1 {{input must have rank >= 2, got 'tensor<3xf32>'}}
  %0 = onnx.node "Trilu"(%x) opset 14 : (tensor<3xf32>) -> !onnx.unknown
  return %0 : !onnx.unknown
}

// -----

func.func @negative_trilu_k(%x: tensor<2x3xf32>) -> !onnx.unknown {
  %k = arith.constant dense<[1, 2]> : tensor<2xi64>
  // expected-error @+1 {{k must be a single value, got 'tensor<2xi64>'}}
  %0 = onnx.node "Trilu"(%x, %k) opset 14 : (tensor<2x3xf32>, tensor<2xi64>) -> !onnx.unknown
  return %0 : !onnx.unknown
}

// -----

func.func @negative_trilu_runtime_k(%x: tensor<2x3xf32>, %k: tensor<i64>) -> !onnx.unknown {
  // expected-error @+1 {{input 'k' must be a constant}}
  %0 = onnx.node "Trilu"(%x, %k) opset 14 : (tensor<2x3xf32>, tensor<i64>) -> !onnx.unknown
  return %0 : !onnx.unknown
}

// -----

func.func @negative_pad_count(%x: tensor<2x3xf32>) -> !onnx.unknown {
  %p = arith.constant dense<[1, 1]> : tensor<2xi64>
  // expected-error @+1 {{pads [1, 1] must have 2 x 2 entries}}
  %0 = onnx.node "Pad"(%x, %p) opset 13 : (tensor<2x3xf32>, tensor<2xi64>) -> !onnx.unknown
  return %0 : !onnx.unknown
}

// -----

func.func @negative_pad_mode(%x: tensor<2x3xf32>) -> !onnx.unknown {
  %p = arith.constant dense<[1, 1, 1, 1]> : tensor<4xi64>
  // expected-error @+1 {{mode 'mirror' is not one of constant, edge, reflect, wrap}}
  %0 = onnx.node "Pad"(%x, %p) attrs {mode = "mirror"} opset 13 : (tensor<2x3xf32>, tensor<4xi64>) -> !onnx.unknown
  return %0 : !onnx.unknown
}

// -----

func.func @negative_pad_axes_twice(%x: tensor<2x3xf32>) -> !onnx.unknown {
  %p = arith.constant dense<[1, 1, 1, 1]> : tensor<4xi64>
  %n = onnx.none
  %a = arith.constant dense<[1, -1]> : tensor<2xi64>
  // expected-error @+1 {{axis -1 is padded twice}}
  %0 = onnx.node "Pad"(%x, %p, %n, %a) opset 18 : (tensor<2x3xf32>, tensor<4xi64>, none, tensor<2xi64>) -> !onnx.unknown
  return %0 : !onnx.unknown
}

// -----

func.func @negative_pad_crop(%x: tensor<2x3xf32>) -> !onnx.unknown {
  %p = arith.constant dense<[0, -2, 0, -2]> : tensor<4xi64>
  // expected-error @+1 {{pads [0, -2, 0, -2] crop more than dim 1 of 'tensor<2x3xf32>' holds}}
  %0 = onnx.node "Pad"(%x, %p) opset 13 : (tensor<2x3xf32>, tensor<4xi64>) -> !onnx.unknown
  return %0 : !onnx.unknown
}

// -----

func.func @negative_pad_reflect_empty(%x: tensor<0x3xf32>) -> !onnx.unknown {
  %p = arith.constant dense<[1, 0, 1, 0]> : tensor<4xi64>
  // expected-error @+1 {{mode 'reflect' cannot pad the empty 'tensor<0x3xf32>'}}
  %0 = onnx.node "Pad"(%x, %p) attrs {mode = "reflect"} opset 13 : (tensor<0x3xf32>, tensor<4xi64>) -> !onnx.unknown
  return %0 : !onnx.unknown
}

// -----

func.func @negative_pad_reflect_too_far(%x: tensor<2x3xf32>) -> !onnx.unknown {
  %p = arith.constant dense<[0, 3, 0, 0]> : tensor<4xi64>
  // expected-error @+1 {{mode 'reflect' pads dim 1 of 'tensor<2x3xf32>' by more than 2}}
  %0 = onnx.node "Pad"(%x, %p) attrs {mode = "reflect"} opset 13 : (tensor<2x3xf32>, tensor<4xi64>) -> !onnx.unknown
  return %0 : !onnx.unknown
}

// -----

func.func @negative_pad_no_pads(%x: tensor<2x3xf32>) -> !onnx.unknown {
  // expected-error @+1 {{requires the 'pads' attribute}}
  %0 = onnx.node "Pad"(%x) opset 2 : (tensor<2x3xf32>) -> !onnx.unknown
  return %0 : !onnx.unknown
}

// -----

func.func @negative_pad_runtime_value(%x: tensor<2x3xf32>, %v: tensor<f32>) -> !onnx.unknown {
  %p = arith.constant dense<[1, 1, 1, 1]> : tensor<4xi64>
  // expected-error @+1 {{constant_value must be a constant with one element of the data's type, got 'tensor<f32>'}}
  %0 = onnx.node "Pad"(%x, %p, %v) opset 13 : (tensor<2x3xf32>, tensor<4xi64>, tensor<f32>) -> !onnx.unknown
  return %0 : !onnx.unknown
}

// -----

func.func @negative_scatternd_runtime_indices(%data: tensor<4x3xf32>, %idx: tensor<2x1xi64>, %upd: tensor<2x3xf32>) -> !onnx.unknown {
  // expected-error @+1 {{input 'indices' must be a constant: static shapes depend on it}}
  %0 = onnx.node "ScatterND"(%data, %idx, %upd) opset 17 : (tensor<4x3xf32>, tensor<2x1xi64>, tensor<2x3xf32>) -> !onnx.unknown
  return %0 : !onnx.unknown
}

// -----

func.func @negative_scatternd_duplicate(%data: tensor<4x3xf32>, %upd: tensor<2x3xf32>) -> !onnx.unknown {
  %idx = arith.constant dense<[[1], [1]]> : tensor<2x1xi64>
  // expected-error @+1 {{indices write the same slice twice (update 0 and 1)}}
  %0 = onnx.node "ScatterND"(%data, %idx, %upd) opset 17 : (tensor<4x3xf32>, tensor<2x1xi64>, tensor<2x3xf32>) -> !onnx.unknown
  return %0 : !onnx.unknown
}

// -----

func.func @negative_scatternd_reduction(%data: tensor<4x3xf32>, %upd: tensor<2x3xf32>) -> !onnx.unknown {
  %idx = arith.constant dense<[[1], [2]]> : tensor<2x1xi64>
  // expected-error @+1 {{reduction 'add' is not supported, only 'none'}}
  %0 = onnx.node "ScatterND"(%data, %idx, %upd) attrs {reduction = "add"} opset 18 : (tensor<4x3xf32>, tensor<2x1xi64>, tensor<2x3xf32>) -> !onnx.unknown
  return %0 : !onnx.unknown
}

// -----

func.func @negative_scatternd_updates_shape(%data: tensor<4x3xf32>, %upd: tensor<2x2xf32>) -> !onnx.unknown {
  %idx = arith.constant dense<[[1], [2]]> : tensor<2x1xi64>
  // expected-error @+1 {{must have shape indices.shape[:-1] + data.shape[1:]}}
  %0 = onnx.node "ScatterND"(%data, %idx, %upd) opset 17 : (tensor<4x3xf32>, tensor<2x1xi64>, tensor<2x2xf32>) -> !onnx.unknown
  return %0 : !onnx.unknown
}
