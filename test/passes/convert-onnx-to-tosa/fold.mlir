// RUN: lora-opt %s -split-input-file --convert-onnx-to-tosa | FileCheck %s

// Integer arithmetic broadcasts; Div truncates, Mod follows the divisor's
// sign unless fmod = 1.
// CHECK-LABEL: func.func @fold_int_arithmetic
// CHECK-DAG: %[[ADD:.*]] = arith.constant dense<[9, -5, 11]> : tensor<3xi64>
// CHECK-DAG: %[[SUB:.*]] = arith.constant dense<[5, -9, 7]> : tensor<3xi64>
// CHECK-DAG: %[[MUL:.*]] = arith.constant dense<[14, -14, 18]> : tensor<3xi64>
// CHECK-DAG: %[[DIV:.*]] = arith.constant dense<[3, -3, 4]> : tensor<3xi64>
// CHECK-DAG: %[[MOD:.*]] = arith.constant dense<[1, 2, -3]> : tensor<3xi64>
// CHECK-DAG: %[[FMOD:.*]] = arith.constant dense<[1, -1, 1]> : tensor<3xi64>
// CHECK: return %[[ADD]], %[[SUB]], %[[MUL]], %[[DIV]], %[[MOD]], %[[FMOD]]
func.func @fold_int_arithmetic() -> (!onnx.unknown, !onnx.unknown, !onnx.unknown, !onnx.unknown, !onnx.unknown, !onnx.unknown) {
  %a = arith.constant dense<[7, -7, 9]> : tensor<3xi64>
  %b = arith.constant dense<[2]> : tensor<1xi64>
  %m = arith.constant dense<[3, 3, -4]> : tensor<3xi64>
  %0 = onnx.node "Add"(%a, %b) opset 14 : (tensor<3xi64>, tensor<1xi64>) -> !onnx.unknown
  %1 = onnx.node "Sub"(%a, %b) opset 14 : (tensor<3xi64>, tensor<1xi64>) -> !onnx.unknown
  %2 = onnx.node "Mul"(%a, %b) opset 14 : (tensor<3xi64>, tensor<1xi64>) -> !onnx.unknown
  %3 = onnx.node "Div"(%a, %b) opset 14 : (tensor<3xi64>, tensor<1xi64>) -> !onnx.unknown
  %4 = onnx.node "Mod"(%a, %m) opset 13 : (tensor<3xi64>, tensor<3xi64>) -> !onnx.unknown
  %5 = onnx.node "Mod"(%a, %m) attrs {fmod = 1 : i64} opset 13 : (tensor<3xi64>, tensor<3xi64>) -> !onnx.unknown
  return %0, %1, %2, %3, %4, %5 : !onnx.unknown, !onnx.unknown, !onnx.unknown, !onnx.unknown, !onnx.unknown, !onnx.unknown
}

// -----

// TorchScript's attention scale: sqrt(1 / sqrt(head_dim)) from the shape.
// CHECK-LABEL: func.func @fold_attention_scale
// CHECK-NOT: tosa.sqrt
// CHECK-NOT: tosa.reciprocal
// CHECK: %[[S:.*]] = arith.constant dense<5.000000e-01> : tensor<1xf32>
// CHECK: %[[R:.*]] = tosa.reshape %[[S]]
// CHECK: tosa.mul %arg0, %[[R]], %{{.*}} -> tensor<2x4x3x16xf32>
func.func @fold_attention_scale(%q: tensor<2x4x3x16xf32>) -> !onnx.unknown {
  %s = onnx.node "Shape"(%q) opset 17 : (tensor<2x4x3x16xf32>) -> !onnx.unknown
  %st = arith.constant dense<[-1]> : tensor<1xi64>
  %en = arith.constant dense<[9223372036854775807]> : tensor<1xi64>
  %d = onnx.node "Slice"(%s, %st, %en) opset 17 : (!onnx.unknown, tensor<1xi64>, tensor<1xi64>) -> !onnx.unknown
  %df = onnx.node "Cast"(%d) attrs {to = 1 : i64} opset 17 : (!onnx.unknown) -> !onnx.unknown
  %r = onnx.node "Sqrt"(%df) opset 17 : (!onnx.unknown) -> !onnx.unknown
  %one = arith.constant dense<1.0> : tensor<f32>
  %inv = onnx.node "Div"(%one, %r) opset 17 : (tensor<f32>, !onnx.unknown) -> !onnx.unknown
  %scale = onnx.node "Sqrt"(%inv) opset 17 : (!onnx.unknown) -> !onnx.unknown
  %y = onnx.node "Mul"(%q, %scale) opset 17 : (tensor<2x4x3x16xf32>, !onnx.unknown) -> !onnx.unknown
  return %y : !onnx.unknown
}

// -----

// torch's expand(-1, ...): the shape folds, so Expand gets a constant.
// CHECK-LABEL: func.func @fold_expand_shape
// CHECK-NOT: tosa.equal
// CHECK-NOT: tosa.select
// CHECK: %[[M:.*]] = tosa.const_shape {values = dense<[1, 3, 1]> : tensor<3xindex>}
// CHECK: tosa.tile %arg0, %[[M]] : (tensor<2x1x5xf32>, !tosa.shape<3>) -> tensor<2x3x5xf32>
func.func @fold_expand_shape(%x: tensor<2x1x5xf32>) -> !onnx.unknown {
  %n = arith.constant dense<[3]> : tensor<1xi64>
  %ones = onnx.node "ConstantOfShape"(%n) attrs {value = dense<1> : tensor<1xi64>} opset 17 : (tensor<1xi64>) -> !onnx.unknown
  %m1 = arith.constant dense<-1> : tensor<i64>
  %neg = onnx.node "Mul"(%ones, %m1) opset 17 : (!onnx.unknown, tensor<i64>) -> !onnx.unknown
  %want = arith.constant dense<[2, 3, -1]> : tensor<3xi64>
  %eq = onnx.node "Equal"(%want, %neg) opset 17 : (tensor<3xi64>, !onnx.unknown) -> !onnx.unknown
  %shape = onnx.node "Where"(%eq, %ones, %want) opset 17 : (!onnx.unknown, !onnx.unknown, tensor<3xi64>) -> !onnx.unknown
  %y = onnx.node "Expand"(%x, %shape) opset 17 : (tensor<2x1x5xf32>, !onnx.unknown) -> !onnx.unknown
  return %y : !onnx.unknown
}

// -----

// CHECK-LABEL: func.func @fold_compare_and_logic
// CHECK-DAG: %[[LE:.*]] = arith.constant dense<{{\[\[}}true, false, false], [true, true, false], [true, true, true]]> : tensor<3x3xi1>
// CHECK-DAG: %[[ALL:.*]] = arith.constant dense<true> : tensor<3x3xi1>
// CHECK: return %[[LE]], %{{.*}}, %[[ALL]], %{{.*}} :
func.func @fold_compare_and_logic() -> (!onnx.unknown, !onnx.unknown, !onnx.unknown, !onnx.unknown) {
  %kv = arith.constant dense<[[0, 1, 2]]> : tensor<1x3xi64>
  %q = arith.constant dense<[[0], [1], [2]]> : tensor<3x1xi64>
  %le = onnx.node "LessOrEqual"(%kv, %q) opset 17 : (tensor<1x3xi64>, tensor<3x1xi64>) -> !onnx.unknown
  %gt = onnx.node "Greater"(%kv, %q) opset 17 : (tensor<1x3xi64>, tensor<3x1xi64>) -> !onnx.unknown
  %not = onnx.node "Not"(%gt) opset 17 : (!onnx.unknown) -> !onnx.unknown
  %and = onnx.node "And"(%le, %not) opset 17 : (!onnx.unknown, !onnx.unknown) -> !onnx.unknown
  %or = onnx.node "Or"(%le, %gt) opset 17 : (!onnx.unknown, !onnx.unknown) -> !onnx.unknown
  %xor = onnx.node "Xor"(%le, %gt) opset 17 : (!onnx.unknown, !onnx.unknown) -> !onnx.unknown
  return %le, %and, %or, %xor : !onnx.unknown, !onnx.unknown, !onnx.unknown, !onnx.unknown
}

// -----

// NaN compares false.
// CHECK-LABEL: func.func @fold_float_compare
// CHECK-DAG: %[[EQ:.*]] = arith.constant dense<[true, false, false]> : tensor<3xi1>
// CHECK-DAG: %[[GE:.*]] = arith.constant dense<[true, false, true]> : tensor<3xi1>
// CHECK: return %[[EQ]], %[[GE]]
func.func @fold_float_compare() -> (!onnx.unknown, !onnx.unknown) {
  %a = arith.constant dense<[1.0, 0x7FC00000, 3.0]> : tensor<3xf32>
  %b = arith.constant dense<[1.0, 0x7FC00000, 2.0]> : tensor<3xf32>
  %0 = onnx.node "Equal"(%a, %b) opset 17 : (tensor<3xf32>, tensor<3xf32>) -> !onnx.unknown
  %1 = onnx.node "GreaterOrEqual"(%a, %b) opset 17 : (tensor<3xf32>, tensor<3xf32>) -> !onnx.unknown
  return %0, %1 : !onnx.unknown, !onnx.unknown
}

// -----

// CHECK-LABEL: func.func @fold_unary
// CHECK-DAG: %[[NEG:.*]] = arith.constant dense<[3, 0, -5]> : tensor<3xi64>
// CHECK-DAG: %[[ABS:.*]] = arith.constant dense<[3, 0, 5]> : tensor<3xi64>
// CHECK-DAG: %[[SIGN:.*]] = arith.constant dense<[-1, 0, 1]> : tensor<3xi64>
// CHECK-DAG: %[[FLOOR:.*]] = arith.constant dense<[-3.000000e+00, 0.000000e+00, 4.000000e+00]> : tensor<3xf32>
// CHECK-DAG: %[[CEIL:.*]] = arith.constant dense<[-2.000000e+00, 1.000000e+00, 4.000000e+00]> : tensor<3xf32>
// CHECK-DAG: %[[RECIP:.*]] = arith.constant dense<[-4.000000e-01, 2.000000e+00, 2.500000e-01]> : tensor<3xf32>
// CHECK: return %[[NEG]], %[[ABS]], %[[SIGN]], %[[FLOOR]], %[[CEIL]], %[[RECIP]]
func.func @fold_unary() -> (!onnx.unknown, !onnx.unknown, !onnx.unknown, !onnx.unknown, !onnx.unknown, !onnx.unknown) {
  %i = arith.constant dense<[-3, 0, 5]> : tensor<3xi64>
  %f = arith.constant dense<[-2.5, 0.5, 4.0]> : tensor<3xf32>
  %0 = onnx.node "Neg"(%i) opset 13 : (tensor<3xi64>) -> !onnx.unknown
  %1 = onnx.node "Abs"(%i) opset 13 : (tensor<3xi64>) -> !onnx.unknown
  %2 = onnx.node "Sign"(%i) opset 13 : (tensor<3xi64>) -> !onnx.unknown
  %3 = onnx.node "Floor"(%f) opset 13 : (tensor<3xf32>) -> !onnx.unknown
  %4 = onnx.node "Ceil"(%f) opset 13 : (tensor<3xf32>) -> !onnx.unknown
  %5 = onnx.node "Reciprocal"(%f) opset 13 : (tensor<3xf32>) -> !onnx.unknown
  return %0, %1, %2, %3, %4, %5 : !onnx.unknown, !onnx.unknown, !onnx.unknown, !onnx.unknown, !onnx.unknown, !onnx.unknown
}

// -----

// CHECK-LABEL: func.func @fold_max_min
// CHECK-DAG: %[[MAX:.*]] = arith.constant dense<[2, 10, 2]> : tensor<3xi64>
// CHECK-DAG: %[[MIN:.*]] = arith.constant dense<[1, 2, -3]> : tensor<3xi64>
// CHECK: return %[[MAX]], %[[MIN]]
func.func @fold_max_min() -> (!onnx.unknown, !onnx.unknown) {
  %a = arith.constant dense<[1, 9, -3]> : tensor<3xi64>
  %b = arith.constant dense<2> : tensor<i64>
  %c = arith.constant dense<[0, 10, -5]> : tensor<3xi64>
  %0 = onnx.node "Max"(%a, %b, %c) opset 13 : (tensor<3xi64>, tensor<i64>, tensor<3xi64>) -> !onnx.unknown
  %1 = onnx.node "Min"(%a, %b) opset 13 : (tensor<3xi64>, tensor<i64>) -> !onnx.unknown
  return %0, %1 : !onnx.unknown, !onnx.unknown
}

// -----

// Float to int truncates; ints wrap; f16 rounds to nearest.
// CHECK-LABEL: func.func @fold_cast
// CHECK-DAG: %[[I:.*]] = arith.constant dense<[1, -2, 0]> : tensor<3xi64>
// CHECK-DAG: %[[B:.*]] = arith.constant dense<[true, true, false]> : tensor<3xi1>
// CHECK-DAG: %[[U:.*]] = arith.constant dense<[44, 255, 0]> : tensor<3xui8>
// CHECK-DAG: %[[H:.*]] = arith.constant dense<[1.900390e+00, -2.699220e+00, 0.000000e+00]> : tensor<3xf16>
// CHECK-DAG: %[[D:.*]] = arith.constant dense<[3.000000e+02, -1.000000e+00, 0.000000e+00]> : tensor<3xf64>
// CHECK: return %[[I]], %[[B]], %[[U]], %[[H]], %[[D]]
func.func @fold_cast() -> (!onnx.unknown, !onnx.unknown, !onnx.unknown, !onnx.unknown, !onnx.unknown) {
  %f = arith.constant dense<[1.9, -2.7, 0.0]> : tensor<3xf32>
  %i = arith.constant dense<[300, -1, 0]> : tensor<3xi64>
  %0 = onnx.node "Cast"(%f) attrs {to = 7 : i64} opset 13 : (tensor<3xf32>) -> !onnx.unknown
  %1 = onnx.node "Cast"(%f) attrs {to = 9 : i64} opset 13 : (tensor<3xf32>) -> !onnx.unknown
  %2 = onnx.node "Cast"(%i) attrs {to = 2 : i64} opset 13 : (tensor<3xi64>) -> !onnx.unknown
  %3 = onnx.node "Cast"(%f) attrs {to = 10 : i64} opset 13 : (tensor<3xf32>) -> !onnx.unknown
  %h = arith.constant dense<0.0> : tensor<f64>
  %4 = onnx.node "CastLike"(%i, %h) opset 15 : (tensor<3xi64>, tensor<f64>) -> !onnx.unknown
  return %0, %1, %2, %3, %4 : !onnx.unknown, !onnx.unknown, !onnx.unknown, !onnx.unknown, !onnx.unknown
}

// -----

// CHECK-LABEL: func.func @fold_where_float
// CHECK: %[[W:.*]] = arith.constant dense<[0.000000e+00, 0xFF800000]> : tensor<2xf32>
// CHECK: return %[[W]]
func.func @fold_where_float() -> !onnx.unknown {
  %c = arith.constant dense<[true, false]> : tensor<2xi1>
  %x = arith.constant dense<0.0> : tensor<f32>
  %y = arith.constant dense<0xFF800000> : tensor<f32>
  %0 = onnx.node "Where"(%c, %x, %y) opset 16 : (tensor<2xi1>, tensor<f32>, tensor<f32>) -> !onnx.unknown
  return %0 : !onnx.unknown
}

// -----

// CHECK-LABEL: func.func @no_fold_runtime_input
// CHECK: tosa.add %arg0
func.func @no_fold_runtime_input(%x: tensor<3xi64>) -> !onnx.unknown {
  %c = arith.constant dense<1> : tensor<3xi64>
  %0 = onnx.node "Add"(%x, %c) opset 14 : (tensor<3xi64>, tensor<3xi64>) -> !onnx.unknown
  return %0 : !onnx.unknown
}

// -----

// exp's last bit depends on the implementation: left to the converter.
// CHECK-LABEL: func.func @no_fold_transcendental
// CHECK: tosa.exp
func.func @no_fold_transcendental() -> !onnx.unknown {
  %c = arith.constant dense<[0.5, 1.0]> : tensor<2xf32>
  %0 = onnx.node "Exp"(%c) opset 13 : (tensor<2xf32>) -> !onnx.unknown
  return %0 : !onnx.unknown
}

// -----

// CHECK-LABEL: func.func @no_fold_int_division_by_zero
// CHECK: tosa.intdiv
func.func @no_fold_int_division_by_zero() -> !onnx.unknown {
  %a = arith.constant dense<[4, 5]> : tensor<2xi64>
  %b = arith.constant dense<[2, 0]> : tensor<2xi64>
  %0 = onnx.node "Div"(%a, %b) opset 14 : (tensor<2xi64>, tensor<2xi64>) -> !onnx.unknown
  return %0 : !onnx.unknown
}

// -----

// Results above 1 << 16 elements stay computations.
// CHECK-LABEL: func.func @no_fold_large
// CHECK: tosa.add
func.func @no_fold_large() -> !onnx.unknown {
  %a = arith.constant dense<1.0> : tensor<512x256xf32>
  %0 = onnx.node "Add"(%a, %a) opset 14 : (tensor<512x256xf32>, tensor<512x256xf32>) -> !onnx.unknown
  return %0 : !onnx.unknown
}
