// RUN: lora-opt %s -split-input-file --convert-onnx-to-tosa -verify-diagnostics

func.func @negative_matmul_missing_input(%a: tensor<2x3xf32>) -> !onnx.unknown {
  // A named node carries its name, not a file position.
  // expected-error @unknown {{node 'mm' (MatMul, opset 13): expects 2 input(s), input 1 is missing}}
  %0 = onnx.node "MatMul"(%a) opset 13 : (tensor<2x3xf32>) -> !onnx.unknown loc("mm")
  return %0 : !onnx.unknown
}

// -----

func.func @negative_matmul_two_outputs(%a: tensor<2x3xf32>, %b: tensor<3x2xf32>) -> !onnx.unknown {
  // expected-error @+1 {{expects 1 output, got 2}}
  %0:2 = onnx.node "MatMul"(%a, %b) opset 13 : (tensor<2x3xf32>, tensor<3x2xf32>) -> (!onnx.unknown, !onnx.unknown)
  return %0#0 : !onnx.unknown
}

// -----

func.func @negative_matmul_mixed_types(%a: tensor<2x3xf32>, %b: tensor<3x2xf16>) -> !onnx.unknown {
  // expected-error @+1 {{operands 'tensor<2x3xf32>' and 'tensor<3x2xf16>' must have the same floating-point, i32 or i64 element type}}
  %0 = onnx.node "MatMul"(%a, %b) opset 13 : (tensor<2x3xf32>, tensor<3x2xf16>) -> !onnx.unknown
  return %0 : !onnx.unknown
}

// -----

func.func @negative_matmul_unsigned(%a: tensor<2x3xui32>, %b: tensor<3x2xui32>) -> !onnx.unknown {
  // expected-error @+1 {{operands 'tensor<2x3xui32>' and 'tensor<3x2xui32>' must have the same floating-point, i32 or i64 element type}}
  %0 = onnx.node "MatMul"(%a, %b) opset 13 : (tensor<2x3xui32>, tensor<3x2xui32>) -> !onnx.unknown
  return %0 : !onnx.unknown
}

// -----

func.func @negative_matmul_scalar(%a: tensor<f32>, %b: tensor<3x2xf32>) -> !onnx.unknown {
  // expected-error @+1 {{operands 'tensor<f32>' and 'tensor<3x2xf32>' must not be scalars}}
  %0 = onnx.node "MatMul"(%a, %b) opset 13 : (tensor<f32>, tensor<3x2xf32>) -> !onnx.unknown
  return %0 : !onnx.unknown
}

// -----

func.func @negative_matmul_inner_dims(%a: tensor<2x3xf32>, %b: tensor<4x2xf32>) -> !onnx.unknown {
  // expected-error @+1 {{inner dimensions do not match: 'tensor<2x3xf32>' x 'tensor<4x2xf32>'}}
  %0 = onnx.node "MatMul"(%a, %b) opset 13 : (tensor<2x3xf32>, tensor<4x2xf32>) -> !onnx.unknown
  return %0 : !onnx.unknown
}

// -----

func.func @negative_matmul_batch(%a: tensor<2x2x3xf32>, %b: tensor<3x3x2xf32>) -> !onnx.unknown {
  // expected-error @+1 {{batch dimensions of 'tensor<2x2x3xf32>' and 'tensor<3x3x2xf32>' do not broadcast}}
  %0 = onnx.node "MatMul"(%a, %b) opset 13 : (tensor<2x2x3xf32>, tensor<3x3x2xf32>) -> !onnx.unknown
  return %0 : !onnx.unknown
}

// -----

func.func @negative_gemm_rank(%a: tensor<2x2x3xf32>, %b: tensor<3x2xf32>) -> !onnx.unknown {
  // expected-error @+1 {{A and B must be 2-D, got 'tensor<2x2x3xf32>' and 'tensor<3x2xf32>'}}
  %0 = onnx.node "Gemm"(%a, %b) opset 13 : (tensor<2x2x3xf32>, tensor<3x2xf32>) -> !onnx.unknown
  return %0 : !onnx.unknown
}

// -----

func.func @negative_gemm_int(%a: tensor<2x3xi32>, %b: tensor<3x2xi32>) -> !onnx.unknown {
  // expected-error @+1 {{A and B of types 'tensor<2x3xi32>' and 'tensor<3x2xi32>' must have the same floating-point element type}}
  %0 = onnx.node "Gemm"(%a, %b) opset 13 : (tensor<2x3xi32>, tensor<3x2xi32>) -> !onnx.unknown
  return %0 : !onnx.unknown
}

// -----

func.func @negative_gemm_inner_dims(%a: tensor<2x3xf32>, %b: tensor<3x2xf32>) -> !onnx.unknown {
  // expected-error @+1 {{inner dimensions of op(A) [2, 3] and op(B) [2, 3] do not match}}
  %0 = onnx.node "Gemm"(%a, %b) attrs {transB = 1 : i64} opset 13 : (tensor<2x3xf32>, tensor<3x2xf32>) -> !onnx.unknown
  return %0 : !onnx.unknown
}

// -----

// C broadcasts to [M, N] one way only: [3, 2, 2] would grow the result.
func.func @negative_gemm_c_shape(%a: tensor<2x3xf32>, %b: tensor<3x2xf32>, %c: tensor<3x2x2xf32>) -> !onnx.unknown {
  // expected-error @+1 {{C of type 'tensor<3x2x2xf32>' does not broadcast to the result type 'tensor<2x2xf32>'}}
  %0 = onnx.node "Gemm"(%a, %b, %c) opset 13 : (tensor<2x3xf32>, tensor<3x2xf32>, tensor<3x2x2xf32>) -> !onnx.unknown
  return %0 : !onnx.unknown
}

// -----

// C is required before opset 11.
func.func @negative_gemm_opset9_without_c(%a: tensor<2x3xf32>, %b: tensor<3x2xf32>) -> !onnx.unknown {
  // expected-error @+1 {{expects 3 input(s), input 2 is missing}}
  %0 = onnx.node "Gemm"(%a, %b) opset 9 : (tensor<2x3xf32>, tensor<3x2xf32>) -> !onnx.unknown
  return %0 : !onnx.unknown
}
