// RUN: lora-translate --export-onnx %s -split-input-file -verify-diagnostics -o /dev/null

// Ops without an ONNX counterpart are errors on the op.
func.func @negative_unsupported_op(%x: tensor<4xi32>) -> tensor<4xi32> {
  // expected-error @+1 {{cannot export 'tosa.clz' to ONNX}}
  %0 = tosa.clz %x : (tensor<4xi32>) -> tensor<4xi32>
  return %0 : tensor<4xi32>
}

// -----

// IR that was never converted to TOSA.
func.func @negative_onnx_node(%x: tensor<4xf32>) -> tensor<4xf32> {
  // expected-error @+1 {{cannot export 'onnx.node' to ONNX}}
  %0 = onnx.node "Relu"(%x) opset 18 : (tensor<4xf32>) -> tensor<4xf32>
  return %0 : tensor<4xf32>
}

// -----

// expected-error @+1 {{the module has 2 public functions (@a, @b); name the one to export (--export-func=NAME)}}
module {
  func.func @a(%x: tensor<4xf32>) -> tensor<4xf32> {
    return %x : tensor<4xf32>
  }
  func.func @b(%x: tensor<4xf32>) -> tensor<4xf32> {
    return %x : tensor<4xf32>
  }
}

// -----

// expected-error @+1 {{the module has no public function to export}}
module {
  func.func private @negative_private(%x: tensor<4xf32>) -> tensor<4xf32> {
    return %x : tensor<4xf32>
  }
}

// -----

// ONNX's Max propagates NaN.
func.func @negative_nan_mode_ignore(%x: tensor<4xf32>) -> tensor<4xf32> {
  // expected-error @+1 {{cannot export 'tosa.maximum' with nan_mode IGNORE to ONNX, whose ops propagate NaN}}
  %0 = tosa.maximum %x, %x {nan_mode = IGNORE} : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
  return %0 : tensor<4xf32>
}

// -----

func.func @negative_mul_shift(%x: tensor<4xi32>) -> tensor<4xi32> {
  %shift = "tosa.const"() <{values = dense<3> : tensor<1xi8>}> : () -> tensor<1xi8>
  // expected-error @+1 {{cannot export to ONNX: the shift of tosa.mul must be a constant zero}}
  %0 = tosa.mul %x, %x, %shift : (tensor<4xi32>, tensor<4xi32>, tensor<1xi8>) -> tensor<4xi32>
  return %0 : tensor<4xi32>
}

// -----

func.func @negative_matmul_zero_point(%a: tensor<1x2x3xi8>, %b: tensor<1x3x4xi8>) -> tensor<1x2x4xi32> {
  %azp = "tosa.const"() <{values = dense<1> : tensor<1xi8>}> : () -> tensor<1xi8>
  %bzp = "tosa.const"() <{values = dense<0> : tensor<1xi8>}> : () -> tensor<1xi8>
  // expected-error @+1 {{cannot export to ONNX: the A zero point of tosa.matmul must be a constant zero}}
  %0 = tosa.matmul %a, %b, %azp, %bzp : (tensor<1x2x3xi8>, tensor<1x3x4xi8>, tensor<1xi8>, tensor<1xi8>) -> tensor<1x2x4xi32>
  return %0 : tensor<1x2x4xi32>
}

// -----

func.func @negative_negate_zero_point(%x: tensor<4xi8>) -> tensor<4xi8> {
  %zp = "tosa.const"() <{values = dense<3> : tensor<1xi8>}> : () -> tensor<1xi8>
  %zero = "tosa.const"() <{values = dense<0> : tensor<1xi8>}> : () -> tensor<1xi8>
  // expected-error @+1 {{cannot export to ONNX: the input zero point of tosa.negate must be a constant zero}}
  %0 = tosa.negate %x, %zp, %zero : (tensor<4xi8>, tensor<1xi8>, tensor<1xi8>) -> tensor<4xi8>
  return %0 : tensor<4xi8>
}

// -----

// A resource without its data (IR printed with elided resources).
func.func @negative_elided_resource(%x: tensor<4xf32>) -> tensor<4xf32> {
  // expected-error @+1 {{constant 'weight' has no data: its resource blob is missing}}
  %w = arith.constant dense_resource<weight> : tensor<4xf32>
  %0 = tosa.add %x, %w : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
  return %0 : tensor<4xf32>
}

// -----

func.func @negative_resource_size(%x: tensor<4xf32>) -> tensor<4xf32> {
  // expected-error @+1 {{constant 'short_blob' has 4 bytes, but 'tensor<4xf32>' needs 16}}
  %w = arith.constant dense_resource<short_blob> : tensor<4xf32>
  %0 = tosa.add %x, %w : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
  return %0 : tensor<4xf32>
}

{-#
  dialect_resources: {
    builtin: {
      short_blob: "0x040000000000803F"
    }
  }
#-}

// -----

func.func @negative_sparse_constant(%x: tensor<4xf32>) -> tensor<4xf32> {
  // expected-error @+1 {{cannot export a constant held as sparse<0, 1.000000e+00> : tensor<4xf32> (only dense and dense_resource elements are supported)}}
  %w = arith.constant sparse<[[0]], [1.0]> : tensor<4xf32>
  %0 = tosa.add %x, %w : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
  return %0 : tensor<4xf32>
}

// -----

func.func @negative_element_type(%x: tensor<4xf32>) -> tensor<2x2xi4> {
  // expected-error @+1 {{cannot export a constant of type 'tensor<4xi4>': ONNX has no element type 'i4'}}
  %w = arith.constant dense<1> : tensor<4xi4>
  %s = tosa.const_shape {values = dense<[2, 2]> : tensor<2xindex>} : () -> !tosa.shape<2>
  %0 = tosa.reshape %w, %s : (tensor<4xi4>, !tosa.shape<2>) -> tensor<2x2xi4>
  return %0 : tensor<2x2xi4>
}

// -----

// Over 2 GiB of initializers without external data: an error before any
// data is copied.
func.func @negative_over_2gib(%x: tensor<640x1024x1024xf32>) -> tensor<640x1024x1024xf32> {
  // expected-error @+1 {{initializer 'const' (2684354560 bytes) takes the model past protobuf's 2 GiB limit (0 bytes of initializers before it); write large initializers as external data (--onnx-external-data=FILE)}}
  %w = arith.constant dense<1.0> : tensor<640x1024x1024xf32>
  %0 = tosa.add %x, %w : (tensor<640x1024x1024xf32>, tensor<640x1024x1024xf32>) -> tensor<640x1024x1024xf32>
  return %0 : tensor<640x1024x1024xf32>
}

// -----

// expected-error @+1 {{argument #1 is named 'x', like an earlier argument}}
func.func @negative_duplicate_input(%a: tensor<4xf32> {onnx.name = "x"}, %b: tensor<4xf32> {onnx.name = "x"}) -> tensor<4xf32> {
  %0 = tosa.add %a, %b : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
  return %0 : tensor<4xf32>
}

// -----

// expected-error @+1 {{result #0 is named 'x', like an argument or an earlier result}}
func.func @negative_output_named_like_input(%a: tensor<4xf32> {onnx.name = "x"}) -> (tensor<4xf32> {onnx.name = "x"}) {
  %0 = tosa.tanh %a : (tensor<4xf32>) -> tensor<4xf32>
  return %0 : tensor<4xf32>
}

// -----

// expected-error @+1 {{cannot export 'n' of type 'index': ONNX graph inputs and outputs are tensors of float, integer or bool elements}}
func.func @negative_scalar_input(%n: index {onnx.name = "n"}, %x: tensor<4xf32>) -> tensor<4xf32> {
  return %x : tensor<4xf32>
}
