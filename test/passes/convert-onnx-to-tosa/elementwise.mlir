// RUN: lora-opt %s -split-input-file --convert-onnx-to-tosa | FileCheck %s

// The lower-rank operand is reshaped to the other's rank (numpy rules).
// CHECK-LABEL: func.func @add_broadcast
// CHECK-SAME: -> tensor<2x3x4xf32>
// CHECK: %[[B:.*]] = tosa.reshape %arg1, %{{.*}} : (tensor<4xf32>, !tosa.shape<3>) -> tensor<1x1x4xf32>
// CHECK: tosa.add %arg0, %[[B]] : (tensor<2x3x4xf32>, tensor<1x1x4xf32>) -> tensor<2x3x4xf32>
func.func @add_broadcast(%a: tensor<2x3x4xf32>, %b: tensor<4xf32>) -> !onnx.unknown {
  %0 = onnx.node "Add"(%a, %b) opset 14 : (tensor<2x3x4xf32>, tensor<4xf32>) -> !onnx.unknown
  return %0 : !onnx.unknown
}

// -----

// CHECK-LABEL: func.func @sub_i64_scalar_lhs
// CHECK: %[[A:.*]] = tosa.reshape %arg0, %{{.*}} -> tensor<1xi64>
// CHECK: tosa.sub %[[A]], %arg1 : (tensor<1xi64>, tensor<3xi64>) -> tensor<3xi64>
func.func @sub_i64_scalar_lhs(%a: tensor<i64>, %b: tensor<3xi64>) -> !onnx.unknown {
  %0 = onnx.node "Sub"(%a, %b) opset 14 : (tensor<i64>, tensor<3xi64>) -> !onnx.unknown
  return %0 : !onnx.unknown
}

// -----

// CHECK-LABEL: func.func @mul
// CHECK: %[[SHIFT:.*]] = "tosa.const"() <{values = dense<0> : tensor<1xi8>}>
// CHECK: tosa.mul %arg0, %arg1, %[[SHIFT]] : (tensor<2x3xf16>, tensor<2x1xf16>, tensor<1xi8>) -> tensor<2x3xf16>
func.func @mul(%a: tensor<2x3xf16>, %b: tensor<2x1xf16>) -> !onnx.unknown {
  %0 = onnx.node "Mul"(%a, %b) opset 14 : (tensor<2x3xf16>, tensor<2x1xf16>) -> !onnx.unknown
  return %0 : !onnx.unknown
}

// -----

// Opset < 7: B lines up with A's dims from `axis` on.
// CHECK-LABEL: func.func @add_legacy_broadcast
// CHECK: %[[B:.*]] = tosa.reshape %arg1, %{{.*}} : (tensor<3xf32>, !tosa.shape<3>) -> tensor<1x3x1xf32>
// CHECK: tosa.add %arg0, %[[B]] : (tensor<2x3x4xf32>, tensor<1x3x1xf32>) -> tensor<2x3x4xf32>
func.func @add_legacy_broadcast(%a: tensor<2x3x4xf32>, %b: tensor<3xf32>) -> !onnx.unknown {
  %0 = onnx.node "Add"(%a, %b) attrs {broadcast = 1 : i64, axis = 1 : i64} opset 6 : (tensor<2x3x4xf32>, tensor<3xf32>) -> !onnx.unknown
  return %0 : !onnx.unknown
}

// -----

// Without `axis`, B lines up with A's trailing dims.
// CHECK-LABEL: func.func @mul_legacy_broadcast_trailing
// CHECK: tosa.reshape %arg1, %{{.*}} -> tensor<1x3x4xf32>
// CHECK: tosa.mul {{.*}} -> tensor<2x3x4xf32>
func.func @mul_legacy_broadcast_trailing(%a: tensor<2x3x4xf32>, %b: tensor<3x4xf32>) -> !onnx.unknown {
  %0 = onnx.node "Mul"(%a, %b) attrs {broadcast = 1 : i64} opset 1 : (tensor<2x3x4xf32>, tensor<3x4xf32>) -> !onnx.unknown
  return %0 : !onnx.unknown
}

// -----

// Float division is formed in f64 so that it rounds once, like ORT's.
// CHECK-LABEL: func.func @div_f32
// CHECK: %[[A:.*]] = tosa.cast %arg0 : (tensor<2x3xf32>) -> tensor<2x3xf64>
// CHECK: %[[B:.*]] = tosa.cast %arg1 : (tensor<3xf32>) -> tensor<3xf64>
// CHECK: %[[R:.*]] = tosa.reciprocal %[[B]] : (tensor<3xf64>) -> tensor<3xf64>
// CHECK: %[[RB:.*]] = tosa.reshape %[[R]], %{{.*}} -> tensor<1x3xf64>
// CHECK: %[[Q:.*]] = tosa.mul %[[A]], %[[RB]], %{{.*}} -> tensor<2x3xf64>
// CHECK: tosa.cast %[[Q]] : (tensor<2x3xf64>) -> tensor<2x3xf32>
func.func @div_f32(%a: tensor<2x3xf32>, %b: tensor<3xf32>) -> !onnx.unknown {
  %0 = onnx.node "Div"(%a, %b) opset 14 : (tensor<2x3xf32>, tensor<3xf32>) -> !onnx.unknown
  return %0 : !onnx.unknown
}

// -----

// CHECK-LABEL: func.func @div_f64
// CHECK-NOT: tosa.cast
// CHECK: %[[R:.*]] = tosa.reciprocal %arg1 : (tensor<3xf64>) -> tensor<3xf64>
// CHECK: tosa.mul %arg0, %[[R]], %{{.*}} -> tensor<3xf64>
func.func @div_f64(%a: tensor<3xf64>, %b: tensor<3xf64>) -> !onnx.unknown {
  %0 = onnx.node "Div"(%a, %b) opset 14 : (tensor<3xf64>, tensor<3xf64>) -> !onnx.unknown
  return %0 : !onnx.unknown
}

// -----

// Dividing by a power of two is an exact multiplication.
// CHECK-LABEL: func.func @div_by_power_of_two
// CHECK-NOT: tosa.reciprocal
// CHECK: "tosa.const"() <{values = dense<1.250000e-01> : tensor<f32>}>
// CHECK: tosa.mul %arg0, {{.*}} -> tensor<2x3xf32>
func.func @div_by_power_of_two(%a: tensor<2x3xf32>) -> !onnx.unknown {
  %c = arith.constant dense<8.0> : tensor<f32>
  %0 = onnx.node "Div"(%a, %c) opset 14 : (tensor<2x3xf32>, tensor<f32>) -> !onnx.unknown
  return %0 : !onnx.unknown
}

// -----

// 1 / x is one (exact) reciprocal; the dividend's extra dim stays.
// CHECK-LABEL: func.func @div_one_by_x
// CHECK-SAME: -> tensor<1x2x3xf32>
// CHECK: %[[R:.*]] = tosa.reciprocal %arg0 : (tensor<2x3xf32>) -> tensor<2x3xf32>
// CHECK: tosa.reshape %[[R]], %{{.*}} -> tensor<1x2x3xf32>
func.func @div_one_by_x(%a: tensor<2x3xf32>) -> !onnx.unknown {
  %c = arith.constant dense<1.0> : tensor<1x1x1xf32>
  %0 = onnx.node "Div"(%c, %a) opset 14 : (tensor<1x1x1xf32>, tensor<2x3xf32>) -> !onnx.unknown
  return %0 : !onnx.unknown
}

// -----

// CHECK-LABEL: func.func @div_i64
// CHECK: tosa.intdiv %arg0, %arg1 : (tensor<4xi64>, tensor<4xi64>) -> tensor<4xi64>
func.func @div_i64(%a: tensor<4xi64>, %b: tensor<4xi64>) -> !onnx.unknown {
  %0 = onnx.node "Div"(%a, %b) opset 14 : (tensor<4xi64>, tensor<4xi64>) -> !onnx.unknown
  return %0 : !onnx.unknown
}

// -----

// tosa.intdiv takes i32 and i64 only.
// CHECK-LABEL: func.func @div_i8
// CHECK: %[[A:.*]] = tosa.cast %arg0 : (tensor<4xi8>) -> tensor<4xi32>
// CHECK: %[[B:.*]] = tosa.cast %arg1 : (tensor<4xi8>) -> tensor<4xi32>
// CHECK: %[[Q:.*]] = tosa.intdiv %[[A]], %[[B]] : (tensor<4xi32>, tensor<4xi32>) -> tensor<4xi32>
// CHECK: tosa.cast %[[Q]] : (tensor<4xi32>) -> tensor<4xi8>
func.func @div_i8(%a: tensor<4xi8>, %b: tensor<4xi8>) -> !onnx.unknown {
  %0 = onnx.node "Div"(%a, %b) opset 14 : (tensor<4xi8>, tensor<4xi8>) -> !onnx.unknown
  return %0 : !onnx.unknown
}

// -----

// x^3 is (x * x) * x, as ORT computes it.
// CHECK-LABEL: func.func @pow_cube
// CHECK-NOT: tosa.pow
// CHECK: %[[SQ:.*]] = tosa.mul %arg0, %arg0, %{{.*}} -> tensor<2x3xf32>
// CHECK: tosa.mul %[[SQ]], %arg0, %{{.*}} -> tensor<2x3xf32>
func.func @pow_cube(%a: tensor<2x3xf32>) -> !onnx.unknown {
  %c = arith.constant dense<3.0> : tensor<f32>
  %0 = onnx.node "Pow"(%a, %c) opset 15 : (tensor<2x3xf32>, tensor<f32>) -> !onnx.unknown
  return %0 : !onnx.unknown
}

// -----

// CHECK-LABEL: func.func @pow_square_legacy
// CHECK: tosa.mul %arg0, %arg0, %{{.*}} -> tensor<2x3xf32>
func.func @pow_square_legacy(%a: tensor<2x3xf32>) -> !onnx.unknown {
  %c = arith.constant dense<2.0> : tensor<1xf32>
  %0 = onnx.node "Pow"(%a, %c) attrs {broadcast = 1 : i64} opset 1 : (tensor<2x3xf32>, tensor<1xf32>) -> !onnx.unknown
  return %0 : !onnx.unknown
}

// -----

// CHECK-LABEL: func.func @pow_tensor
// CHECK: %[[E:.*]] = tosa.reshape %arg1, %{{.*}} -> tensor<1x3xf32>
// CHECK: tosa.pow %arg0, %[[E]] : (tensor<2x3xf32>, tensor<1x3xf32>) -> tensor<2x3xf32>
func.func @pow_tensor(%a: tensor<2x3xf32>, %b: tensor<3xf32>) -> !onnx.unknown {
  %0 = onnx.node "Pow"(%a, %b) opset 15 : (tensor<2x3xf32>, tensor<3xf32>) -> !onnx.unknown
  return %0 : !onnx.unknown
}

// -----

// CHECK-LABEL: func.func @pow_int_exponent
// CHECK: %[[E:.*]] = tosa.cast %arg1 : (tensor<3xi64>) -> tensor<3xf32>
// CHECK: tosa.pow %arg0, %[[E]] : (tensor<3xf32>, tensor<3xf32>) -> tensor<3xf32>
func.func @pow_int_exponent(%a: tensor<3xf32>, %b: tensor<3xi64>) -> !onnx.unknown {
  %0 = onnx.node "Pow"(%a, %b) opset 15 : (tensor<3xf32>, tensor<3xi64>) -> !onnx.unknown
  return %0 : !onnx.unknown
}

// -----

// Integer bases: pow in f64, truncated back like ORT's static_cast.
// CHECK-LABEL: func.func @pow_int_base
// CHECK-SAME: -> tensor<3xi32>
// CHECK: %[[X:.*]] = tosa.cast %arg0 : (tensor<3xi32>) -> tensor<3xf64>
// CHECK: %[[E:.*]] = tosa.cast %arg1 : (tensor<3xi32>) -> tensor<3xf64>
// CHECK: %[[P:.*]] = tosa.pow %[[X]], %[[E]] : (tensor<3xf64>, tensor<3xf64>) -> tensor<3xf64>
// CHECK: tosa.floor %[[P]]
// CHECK: tosa.ceil %[[P]]
// CHECK: tosa.cast %{{.*}} : (tensor<3xf64>) -> tensor<3xi32>
func.func @pow_int_base(%a: tensor<3xi32>, %b: tensor<3xi32>) -> !onnx.unknown {
  %0 = onnx.node "Pow"(%a, %b) opset 15 : (tensor<3xi32>, tensor<3xi32>) -> !onnx.unknown
  return %0 : !onnx.unknown
}

// -----

// fmod=0: a nonzero remainder whose sign differs from the divisor's moves by
// one divisor.
// CHECK-LABEL: func.func @mod_int
// CHECK: %[[Q:.*]] = tosa.intdiv %arg0, %arg1
// CHECK: %[[QB:.*]] = tosa.mul %[[Q]], %arg1
// CHECK: %[[R:.*]] = tosa.sub %arg0, %[[QB]]
// CHECK: %[[ADJ:.*]] = tosa.logical_and
// CHECK: %[[UP:.*]] = tosa.add %[[R]], %arg1
// CHECK: tosa.select %[[ADJ]], %[[UP]], %[[R]] : (tensor<4xi1>, tensor<4xi32>, tensor<4xi32>) -> tensor<4xi32>
func.func @mod_int(%a: tensor<4xi32>, %b: tensor<4xi32>) -> !onnx.unknown {
  %0 = onnx.node "Mod"(%a, %b) opset 13 : (tensor<4xi32>, tensor<4xi32>) -> !onnx.unknown
  return %0 : !onnx.unknown
}

// -----

// CHECK-LABEL: func.func @mod_int_fmod
// CHECK: %[[Q:.*]] = tosa.intdiv %arg0, %arg1
// CHECK: %[[QB:.*]] = tosa.mul %[[Q]], %arg1
// CHECK: %[[R:.*]] = tosa.sub %arg0, %[[QB]]
// CHECK-NEXT: return %[[R]]
func.func @mod_int_fmod(%a: tensor<4xi32>, %b: tensor<4xi32>) -> !onnx.unknown {
  %0 = onnx.node "Mod"(%a, %b) attrs {fmod = 1 : i64} opset 13 : (tensor<4xi32>, tensor<4xi32>) -> !onnx.unknown
  return %0 : !onnx.unknown
}

// -----

// CHECK-LABEL: func.func @mod_float
// CHECK: %[[X:.*]] = tosa.cast %arg0 : (tensor<4xf32>) -> tensor<4xf64>
// CHECK: %[[Y:.*]] = tosa.cast %arg1 : (tensor<4xf32>) -> tensor<4xf64>
// CHECK: tosa.reciprocal %[[Y]]
// CHECK: tosa.floor
// CHECK: tosa.ceil
// CHECK: tosa.sub %[[X]]
// CHECK: tosa.select
// CHECK: %[[R:.*]] = tosa.cast %{{.*}} : (tensor<4xf64>) -> tensor<4xf32>
// CHECK-NEXT: return %[[R]]
func.func @mod_float(%a: tensor<4xf32>, %b: tensor<4xf32>) -> !onnx.unknown {
  %0 = onnx.node "Mod"(%a, %b) attrs {fmod = 1 : i64} opset 13 : (tensor<4xf32>, tensor<4xf32>) -> !onnx.unknown
  return %0 : !onnx.unknown
}

// -----

// Variadic ops fold left to right, broadcasting as they go.
// CHECK-LABEL: func.func @max_variadic
// CHECK-SAME: -> tensor<2x3xf32>
// CHECK: %[[B:.*]] = tosa.reshape %arg1, %{{.*}} -> tensor<1x3xf32>
// CHECK: %[[M:.*]] = tosa.maximum %arg0, %[[B]] : (tensor<2x1xf32>, tensor<1x3xf32>) -> tensor<2x3xf32>
// CHECK: tosa.maximum %[[M]], %arg2 : (tensor<2x3xf32>, tensor<1x3xf32>) -> tensor<2x3xf32>
func.func @max_variadic(%a: tensor<2x1xf32>, %b: tensor<3xf32>, %c: tensor<1x3xf32>) -> !onnx.unknown {
  %0 = onnx.node "Max"(%a, %b, %c) opset 13 : (tensor<2x1xf32>, tensor<3xf32>, tensor<1x3xf32>) -> !onnx.unknown
  return %0 : !onnx.unknown
}

// -----

// CHECK-LABEL: func.func @min_single_input
// CHECK-NEXT: return %arg0 : tensor<2xi64>
func.func @min_single_input(%a: tensor<2xi64>) -> !onnx.unknown {
  %0 = onnx.node "Min"(%a) opset 13 : (tensor<2xi64>) -> !onnx.unknown
  return %0 : !onnx.unknown
}

// -----

// CHECK-LABEL: func.func @min_i32
// CHECK: tosa.minimum %arg0, %arg1 : (tensor<2xi32>, tensor<2xi32>) -> tensor<2xi32>
func.func @min_i32(%a: tensor<2xi32>, %b: tensor<2xi32>) -> !onnx.unknown {
  %0 = onnx.node "Min"(%a, %b) opset 13 : (tensor<2xi32>, tensor<2xi32>) -> !onnx.unknown
  return %0 : !onnx.unknown
}

// -----

// CHECK-LABEL: func.func @sum
// CHECK: %[[S:.*]] = tosa.add %arg0, %arg1
// CHECK: tosa.add %[[S]], %arg2 : (tensor<2xf32>, tensor<2xf32>) -> tensor<2xf32>
func.func @sum(%a: tensor<2xf32>, %b: tensor<2xf32>, %c: tensor<2xf32>) -> !onnx.unknown {
  %0 = onnx.node "Sum"(%a, %b, %c) opset 13 : (tensor<2xf32>, tensor<2xf32>, tensor<2xf32>) -> !onnx.unknown
  return %0 : !onnx.unknown
}

// -----

// ORT scales the sum by the rounded 1/n.
// CHECK-LABEL: func.func @mean
// CHECK: %[[S:.*]] = tosa.add %arg0, %arg1
// CHECK: %[[T:.*]] = tosa.add %[[S]], %arg2
// CHECK: %[[K:.*]] = "tosa.const"() <{values = dense<0.333333343> : tensor<1xf32>}>
// CHECK: tosa.mul %[[T]], %[[K]], %{{.*}} -> tensor<2xf32>
func.func @mean(%a: tensor<2xf32>, %b: tensor<2xf32>, %c: tensor<2xf32>) -> !onnx.unknown {
  %0 = onnx.node "Mean"(%a, %b, %c) opset 13 : (tensor<2xf32>, tensor<2xf32>, tensor<2xf32>) -> !onnx.unknown
  return %0 : !onnx.unknown
}

// -----

// CHECK-LABEL: func.func @comparisons
// CHECK-SAME: -> (tensor<2x3xi1>, tensor<2x3xi1>, tensor<2x3xi1>, tensor<2x3xi1>, tensor<2x3xi1>)
// CHECK: %[[B:.*]] = tosa.reshape %arg1, %{{.*}} -> tensor<1x3xf32>
// CHECK: tosa.equal %arg0, %[[B]] : (tensor<2x3xf32>, tensor<1x3xf32>) -> tensor<2x3xi1>
// CHECK: tosa.greater %arg0, %{{.*}} -> tensor<2x3xi1>
// CHECK: tosa.greater_equal %arg0, %{{.*}} -> tensor<2x3xi1>
// Less and LessOrEqual swap the operands.
// CHECK: tosa.greater %{{.*}}, %arg0 : (tensor<1x3xf32>, tensor<2x3xf32>) -> tensor<2x3xi1>
// CHECK: tosa.greater_equal %{{.*}}, %arg0 : (tensor<1x3xf32>, tensor<2x3xf32>) -> tensor<2x3xi1>
func.func @comparisons(%a: tensor<2x3xf32>, %b: tensor<3xf32>) -> (!onnx.unknown, !onnx.unknown, !onnx.unknown, !onnx.unknown, !onnx.unknown) {
  %0 = onnx.node "Equal"(%a, %b) opset 13 : (tensor<2x3xf32>, tensor<3xf32>) -> !onnx.unknown
  %1 = onnx.node "Greater"(%a, %b) opset 13 : (tensor<2x3xf32>, tensor<3xf32>) -> !onnx.unknown
  %2 = onnx.node "GreaterOrEqual"(%a, %b) opset 16 : (tensor<2x3xf32>, tensor<3xf32>) -> !onnx.unknown
  %3 = onnx.node "Less"(%a, %b) opset 13 : (tensor<2x3xf32>, tensor<3xf32>) -> !onnx.unknown
  %4 = onnx.node "LessOrEqual"(%a, %b) opset 16 : (tensor<2x3xf32>, tensor<3xf32>) -> !onnx.unknown
  return %0, %1, %2, %3, %4 : !onnx.unknown, !onnx.unknown, !onnx.unknown, !onnx.unknown, !onnx.unknown
}

// -----

// TorchScript's causal mask: LessOrEqual on int64 position grids.
// CHECK-LABEL: func.func @less_or_equal_i64
// CHECK: tosa.greater_equal %arg1, %arg0 : (tensor<1x1x4x1xi64>, tensor<1x1x1x4xi64>) -> tensor<1x1x4x4xi1>
func.func @less_or_equal_i64(%a: tensor<1x1x1x4xi64>, %b: tensor<1x1x4x1xi64>) -> !onnx.unknown {
  %0 = onnx.node "LessOrEqual"(%a, %b) opset 17 : (tensor<1x1x1x4xi64>, tensor<1x1x4x1xi64>) -> !onnx.unknown
  return %0 : !onnx.unknown
}

// -----

// CHECK-LABEL: func.func @logic
// CHECK: tosa.logical_and %arg0, %arg1 : (tensor<4xi1>, tensor<4xi1>) -> tensor<4xi1>
// CHECK: tosa.logical_or %arg0, %arg1
// CHECK: tosa.logical_xor %arg0, %arg1
// CHECK: tosa.logical_not %arg0 : (tensor<4xi1>) -> tensor<4xi1>
// CHECK: tosa.equal %arg0, %arg1 : (tensor<4xi1>, tensor<4xi1>) -> tensor<4xi1>
func.func @logic(%a: tensor<4xi1>, %b: tensor<4xi1>) -> (!onnx.unknown, !onnx.unknown, !onnx.unknown, !onnx.unknown, !onnx.unknown) {
  %0 = onnx.node "And"(%a, %b) opset 7 : (tensor<4xi1>, tensor<4xi1>) -> !onnx.unknown
  %1 = onnx.node "Or"(%a, %b) opset 7 : (tensor<4xi1>, tensor<4xi1>) -> !onnx.unknown
  %2 = onnx.node "Xor"(%a, %b) opset 7 : (tensor<4xi1>, tensor<4xi1>) -> !onnx.unknown
  %3 = onnx.node "Not"(%a) opset 1 : (tensor<4xi1>) -> !onnx.unknown
  %4 = onnx.node "Equal"(%a, %b) opset 11 : (tensor<4xi1>, tensor<4xi1>) -> !onnx.unknown
  return %0, %1, %2, %3, %4 : !onnx.unknown, !onnx.unknown, !onnx.unknown, !onnx.unknown, !onnx.unknown
}

// -----

// CHECK-LABEL: func.func @bitwise
// CHECK: tosa.bitwise_and %arg0, %arg1 : (tensor<4xi32>, tensor<4xi32>) -> tensor<4xi32>
// CHECK: tosa.bitwise_or %arg0, %arg1
// CHECK: tosa.bitwise_xor %arg0, %arg1
// CHECK: tosa.bitwise_not %arg0 : (tensor<4xi32>) -> tensor<4xi32>
func.func @bitwise(%a: tensor<4xi32>, %b: tensor<4xi32>) -> (!onnx.unknown, !onnx.unknown, !onnx.unknown, !onnx.unknown) {
  %0 = onnx.node "BitwiseAnd"(%a, %b) opset 18 : (tensor<4xi32>, tensor<4xi32>) -> !onnx.unknown
  %1 = onnx.node "BitwiseOr"(%a, %b) opset 18 : (tensor<4xi32>, tensor<4xi32>) -> !onnx.unknown
  %2 = onnx.node "BitwiseXor"(%a, %b) opset 18 : (tensor<4xi32>, tensor<4xi32>) -> !onnx.unknown
  %3 = onnx.node "BitwiseNot"(%a) opset 18 : (tensor<4xi32>) -> !onnx.unknown
  return %0, %1, %2, %3 : !onnx.unknown, !onnx.unknown, !onnx.unknown, !onnx.unknown
}

// -----

// One TOSA op each.
// CHECK-LABEL: func.func @unary_float
// CHECK: tosa.abs %arg0 : (tensor<3xf32>) -> tensor<3xf32>
// CHECK: tosa.reciprocal %arg0
// CHECK: tosa.exp %arg0
// CHECK: tosa.log %arg0
// CHECK: tosa.tanh %arg0
// CHECK: tosa.sigmoid %arg0
// CHECK: tosa.erf %arg0
// CHECK: tosa.cos %arg0
// CHECK: tosa.sin %arg0
// CHECK: tosa.floor %arg0
// CHECK: tosa.ceil %arg0
// CHECK: tosa.negate %arg0, %{{.*}}, %{{.*}} : (tensor<3xf32>, tensor<1xf32>, tensor<1xf32>) -> tensor<3xf32>
func.func @unary_float(%a: tensor<3xf32>) -> (!onnx.unknown, !onnx.unknown, !onnx.unknown, !onnx.unknown, !onnx.unknown, !onnx.unknown, !onnx.unknown, !onnx.unknown, !onnx.unknown, !onnx.unknown, !onnx.unknown, !onnx.unknown) {
  %0 = onnx.node "Abs"(%a) opset 13 : (tensor<3xf32>) -> !onnx.unknown
  %1 = onnx.node "Reciprocal"(%a) opset 13 : (tensor<3xf32>) -> !onnx.unknown
  %2 = onnx.node "Exp"(%a) opset 13 : (tensor<3xf32>) -> !onnx.unknown
  %3 = onnx.node "Log"(%a) opset 13 : (tensor<3xf32>) -> !onnx.unknown
  %4 = onnx.node "Tanh"(%a) opset 13 : (tensor<3xf32>) -> !onnx.unknown
  %5 = onnx.node "Sigmoid"(%a) opset 13 : (tensor<3xf32>) -> !onnx.unknown
  %6 = onnx.node "Erf"(%a) opset 13 : (tensor<3xf32>) -> !onnx.unknown
  %7 = onnx.node "Cos"(%a) opset 7 : (tensor<3xf32>) -> !onnx.unknown
  %8 = onnx.node "Sin"(%a) opset 7 : (tensor<3xf32>) -> !onnx.unknown
  %9 = onnx.node "Floor"(%a) opset 13 : (tensor<3xf32>) -> !onnx.unknown
  %10 = onnx.node "Ceil"(%a) opset 13 : (tensor<3xf32>) -> !onnx.unknown
  %11 = onnx.node "Neg"(%a) opset 13 : (tensor<3xf32>) -> !onnx.unknown
  return %0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11 : !onnx.unknown, !onnx.unknown, !onnx.unknown, !onnx.unknown, !onnx.unknown, !onnx.unknown, !onnx.unknown, !onnx.unknown, !onnx.unknown, !onnx.unknown, !onnx.unknown, !onnx.unknown
}

// -----

// CHECK-LABEL: func.func @unary_int
// CHECK: tosa.abs %arg0 : (tensor<3xi64>) -> tensor<3xi64>
// CHECK: tosa.negate %arg0, %{{.*}}, %{{.*}} : (tensor<3xi64>, tensor<1xi64>, tensor<1xi64>) -> tensor<3xi64>
func.func @unary_int(%a: tensor<3xi64>) -> (!onnx.unknown, !onnx.unknown) {
  %0 = onnx.node "Abs"(%a) opset 13 : (tensor<3xi64>) -> !onnx.unknown
  %1 = onnx.node "Neg"(%a) opset 13 : (tensor<3xi64>) -> !onnx.unknown
  return %0, %1 : !onnx.unknown, !onnx.unknown
}

// -----

// sqrt(x) = 1 / rsqrt(x), in f64 so that it rounds back correctly.
// CHECK-LABEL: func.func @sqrt
// CHECK: %[[W:.*]] = tosa.cast %arg0 : (tensor<3xf32>) -> tensor<3xf64>
// CHECK: %[[RS:.*]] = tosa.rsqrt %[[W]] : (tensor<3xf64>) -> tensor<3xf64>
// CHECK: %[[S:.*]] = tosa.reciprocal %[[RS]] : (tensor<3xf64>) -> tensor<3xf64>
// CHECK: tosa.cast %[[S]] : (tensor<3xf64>) -> tensor<3xf32>
func.func @sqrt(%a: tensor<3xf32>) -> !onnx.unknown {
  %0 = onnx.node "Sqrt"(%a) opset 13 : (tensor<3xf32>) -> !onnx.unknown
  return %0 : !onnx.unknown
}

// -----

// Multi-op formulas on f16 run in f32 and round once.
// CHECK-LABEL: func.func @sigmoid_f16
// CHECK: %[[W:.*]] = tosa.cast %arg0 : (tensor<3xf16>) -> tensor<3xf32>
// CHECK: %[[S:.*]] = tosa.sigmoid %[[W]] : (tensor<3xf32>) -> tensor<3xf32>
// CHECK: tosa.cast %[[S]] : (tensor<3xf32>) -> tensor<3xf16>
func.func @sigmoid_f16(%a: tensor<3xf16>) -> !onnx.unknown {
  %0 = onnx.node "Sigmoid"(%a) opset 13 : (tensor<3xf16>) -> !onnx.unknown
  return %0 : !onnx.unknown
}

// -----

// CHECK-LABEL: func.func @sign
// CHECK: %[[POS:.*]] = tosa.greater %arg0, %{{.*}}
// CHECK: %[[NEG:.*]] = tosa.greater %{{.*}}, %arg0
// CHECK: %[[S0:.*]] = tosa.select %[[NEG]]
// CHECK: %[[S1:.*]] = tosa.select %[[POS]], %{{.*}}, %[[S0]]
// CHECK: %[[EQ:.*]] = tosa.equal %arg0, %arg0
// CHECK: %[[NAN:.*]] = tosa.logical_not %[[EQ]]
// CHECK: tosa.select %[[NAN]], %arg0, %[[S1]] : (tensor<3xi1>, tensor<3xf32>, tensor<3xf32>) -> tensor<3xf32>
func.func @sign(%a: tensor<3xf32>) -> !onnx.unknown {
  %0 = onnx.node "Sign"(%a) opset 13 : (tensor<3xf32>) -> !onnx.unknown
  return %0 : !onnx.unknown
}

// -----

// CHECK-LABEL: func.func @isnan
// CHECK: %[[EQ:.*]] = tosa.equal %arg0, %arg0 : (tensor<2x3xf32>, tensor<2x3xf32>) -> tensor<2x3xi1>
// CHECK: tosa.logical_not %[[EQ]] : (tensor<2x3xi1>) -> tensor<2x3xi1>
func.func @isnan(%a: tensor<2x3xf32>) -> !onnx.unknown {
  %0 = onnx.node "IsNaN"(%a) opset 13 : (tensor<2x3xf32>) -> !onnx.unknown
  return %0 : !onnx.unknown
}

// -----

// CHECK-LABEL: func.func @isinf
// CHECK: %[[PINF:.*]] = "tosa.const"() <{values = dense<0x7F800000> : tensor<1xf32>}>
// CHECK: %[[P:.*]] = tosa.equal %arg0, %[[PINF]]
// CHECK: %[[NINF:.*]] = "tosa.const"() <{values = dense<0xFF800000> : tensor<1xf32>}>
// CHECK: %[[N:.*]] = tosa.equal %arg0, %[[NINF]]
// CHECK: tosa.logical_or %[[P]], %[[N]] : (tensor<3xi1>, tensor<3xi1>) -> tensor<3xi1>
func.func @isinf(%a: tensor<3xf32>) -> !onnx.unknown {
  %0 = onnx.node "IsInf"(%a) opset 10 : (tensor<3xf32>) -> !onnx.unknown
  return %0 : !onnx.unknown
}

// -----

// CHECK-LABEL: func.func @isinf_detect_nothing
// CHECK: %[[F:.*]] = "tosa.const"() <{values = dense<false> : tensor<3xi1>}>
// CHECK: return %[[F]]
func.func @isinf_detect_nothing(%a: tensor<3xf32>) -> !onnx.unknown {
  %0 = onnx.node "IsInf"(%a) attrs {detect_negative = 0 : i64, detect_positive = 0 : i64} opset 10 : (tensor<3xf32>) -> !onnx.unknown
  return %0 : !onnx.unknown
}

// -----

// CHECK-LABEL: func.func @relu
// CHECK: tosa.clamp %arg0 {max_val = 0x7F800000 : f32, min_val = 0.000000e+00 : f32} : (tensor<3xf32>) -> tensor<3xf32>
// CHECK: tosa.clamp %arg1 {max_val = 2147483647 : i32, min_val = 0 : i32} : (tensor<3xi32>) -> tensor<3xi32>
func.func @relu(%a: tensor<3xf32>, %b: tensor<3xi32>) -> (!onnx.unknown, !onnx.unknown) {
  %0 = onnx.node "Relu"(%a) opset 14 : (tensor<3xf32>) -> !onnx.unknown
  %1 = onnx.node "Relu"(%b) opset 14 : (tensor<3xi32>) -> !onnx.unknown
  return %0, %1 : !onnx.unknown, !onnx.unknown
}

// -----

// CHECK-LABEL: func.func @leaky_relu
// CHECK: %[[GE:.*]] = tosa.greater_equal %arg0, %{{.*}}
// CHECK: %[[ALPHA:.*]] = "tosa.const"() <{values = dense<2.000000e-01> : tensor<1xf32>}>
// CHECK: %[[NEG:.*]] = tosa.mul %arg0, %[[ALPHA]]
// CHECK: tosa.select %[[GE]], %arg0, %[[NEG]] : (tensor<3xi1>, tensor<3xf32>, tensor<3xf32>) -> tensor<3xf32>
func.func @leaky_relu(%a: tensor<3xf32>) -> !onnx.unknown {
  %0 = onnx.node "LeakyRelu"(%a) attrs {alpha = 0.2 : f32} opset 16 : (tensor<3xf32>) -> !onnx.unknown
  return %0 : !onnx.unknown
}

// -----

// CHECK-LABEL: func.func @elu
// CHECK: %[[GE:.*]] = tosa.greater_equal %arg0, %{{.*}}
// CHECK: %[[E:.*]] = tosa.exp %arg0
// CHECK: %[[EM1:.*]] = tosa.sub %[[E]], %{{.*}}
// CHECK: %[[ALPHA:.*]] = "tosa.const"() <{values = dense<5.000000e-01> : tensor<1xf32>}>
// CHECK: %[[NEG:.*]] = tosa.mul %[[EM1]], %[[ALPHA]]
// CHECK: tosa.select %[[GE]], %arg0, %[[NEG]]
func.func @elu(%a: tensor<3xf32>) -> !onnx.unknown {
  %0 = onnx.node "Elu"(%a) attrs {alpha = 0.5 : f32} opset 6 : (tensor<3xf32>) -> !onnx.unknown
  return %0 : !onnx.unknown
}

// -----

// max(x, 0) + log1p(exp(-|x|)).
// CHECK-LABEL: func.func @softplus
// CHECK: %[[ABS:.*]] = tosa.abs %arg0
// CHECK: %[[NEG:.*]] = tosa.negate %[[ABS]]
// CHECK: %[[T:.*]] = tosa.exp %[[NEG]]
// CHECK: %[[U:.*]] = tosa.add %{{.*}}, %[[T]]
// CHECK: tosa.log %[[U]]
// CHECK: %[[L1P:.*]] = tosa.select
// CHECK: %[[POS:.*]] = tosa.clamp %arg0 {max_val = 0x7F800000 : f32, min_val = 0.000000e+00 : f32}
// CHECK: tosa.add %[[POS]], %[[L1P]] : (tensor<3xf32>, tensor<3xf32>) -> tensor<3xf32>
func.func @softplus(%a: tensor<3xf32>) -> !onnx.unknown {
  %0 = onnx.node "Softplus"(%a) opset 1 : (tensor<3xf32>) -> !onnx.unknown
  return %0 : !onnx.unknown
}

// -----

// CHECK-LABEL: func.func @gelu
// CHECK: %[[K:.*]] = "tosa.const"() <{values = dense<0.707106769> : tensor<1xf32>}>
// CHECK: %[[XS:.*]] = tosa.mul %arg0, %[[K]]
// CHECK: %[[E:.*]] = tosa.erf %[[XS]]
// CHECK: %[[H:.*]] = tosa.mul %arg0, %{{.*}}
// CHECK: %[[P:.*]] = tosa.add %[[E]], %{{.*}}
// CHECK: tosa.mul %[[H]], %[[P]], %{{.*}} -> tensor<3xf32>
func.func @gelu(%a: tensor<3xf32>) -> !onnx.unknown {
  %0 = onnx.node "Gelu"(%a) opset 20 : (tensor<3xf32>) -> !onnx.unknown
  return %0 : !onnx.unknown
}

// -----

// CHECK-LABEL: func.func @gelu_tanh
// CHECK: %[[SQ:.*]] = tosa.mul %arg0, %arg0
// CHECK: "tosa.const"() <{values = dense<0.797884583> : tensor<1xf32>}>
// CHECK: "tosa.const"() <{values = dense<0.0356774069> : tensor<1xf32>}>
// CHECK: %[[T:.*]] = tosa.tanh
// CHECK: tosa.add %[[T]]
func.func @gelu_tanh(%a: tensor<3xf32>) -> !onnx.unknown {
  %0 = onnx.node "Gelu"(%a) attrs {approximate = "tanh"} opset 20 : (tensor<3xf32>) -> !onnx.unknown
  return %0 : !onnx.unknown
}

// -----

// CHECK-LABEL: func.func @hard_sigmoid_and_swish
// CHECK: %[[AX:.*]] = tosa.mul %arg0
// CHECK: %[[AXB:.*]] = tosa.add %[[AX]]
// CHECK: tosa.clamp %[[AXB]] {max_val = 1.000000e+00 : f32, min_val = 0.000000e+00 : f32}
// CHECK: %[[HS:.*]] = tosa.clamp
// CHECK: tosa.mul %arg0, %[[HS]], %{{.*}} -> tensor<3xf32>
func.func @hard_sigmoid_and_swish(%a: tensor<3xf32>) -> (!onnx.unknown, !onnx.unknown) {
  %0 = onnx.node "HardSigmoid"(%a) opset 6 : (tensor<3xf32>) -> !onnx.unknown
  %1 = onnx.node "HardSwish"(%a) opset 14 : (tensor<3xf32>) -> !onnx.unknown
  return %0, %1 : !onnx.unknown, !onnx.unknown
}

// -----

// CHECK-LABEL: func.func @selu
// CHECK: %[[POS:.*]] = tosa.greater %arg0
// CHECK: %[[E:.*]] = tosa.exp %arg0
// CHECK: %[[AE:.*]] = tosa.mul %[[E]]
// CHECK: %[[NEG:.*]] = tosa.sub %[[AE]]
// CHECK: %[[IN:.*]] = tosa.select %[[POS]], %arg0, %[[NEG]]
// CHECK: tosa.mul %[[IN]]
func.func @selu(%a: tensor<3xf32>) -> !onnx.unknown {
  %0 = onnx.node "Selu"(%a) opset 6 : (tensor<3xf32>) -> !onnx.unknown
  return %0 : !onnx.unknown
}

// -----

// CHECK-LABEL: func.func @celu
// CHECK: tosa.exp
// CHECK: %[[NEG:.*]] = tosa.clamp %{{.*}} {max_val = 0.000000e+00 : f32, min_val = 0xFF800000 : f32}
// CHECK: %[[POS:.*]] = tosa.clamp %arg0 {max_val = 0x7F800000 : f32, min_val = 0.000000e+00 : f32}
// CHECK: tosa.add %[[POS]], %[[NEG]]
func.func @celu(%a: tensor<3xf32>) -> !onnx.unknown {
  %0 = onnx.node "Celu"(%a) opset 12 : (tensor<3xf32>) -> !onnx.unknown
  return %0 : !onnx.unknown
}

// -----

// CHECK-LABEL: func.func @thresholded_relu
// CHECK: %[[ALPHA:.*]] = "tosa.const"() <{values = dense<5.000000e-01> : tensor<1xf32>}>
// CHECK: %[[GT:.*]] = tosa.greater %arg0, %[[ALPHA]]
// CHECK: tosa.select %[[GT]], %arg0, %{{.*}} : (tensor<3xi1>, tensor<3xf32>, tensor<1xf32>) -> tensor<3xf32>
func.func @thresholded_relu(%a: tensor<3xf32>) -> !onnx.unknown {
  %0 = onnx.node "ThresholdedRelu"(%a) attrs {alpha = 0.5 : f32} opset 10 : (tensor<3xf32>) -> !onnx.unknown
  return %0 : !onnx.unknown
}

// -----

// CHECK-LABEL: func.func @mish
// CHECK: tosa.log
// CHECK: %[[SP:.*]] = tosa.add
// CHECK: %[[T:.*]] = tosa.tanh %[[SP]]
// CHECK: tosa.mul %arg0, %[[T]]
func.func @mish(%a: tensor<3xf32>) -> !onnx.unknown {
  %0 = onnx.node "Mish"(%a) opset 18 : (tensor<3xf32>) -> !onnx.unknown
  return %0 : !onnx.unknown
}

// -----

// CHECK-LABEL: func.func @prelu
// CHECK: %[[POS:.*]] = tosa.greater %arg0, %{{.*}} : (tensor<2x3xf32>, tensor<1x1xf32>) -> tensor<2x3xi1>
// CHECK: %[[S:.*]] = tosa.reshape %arg1, %{{.*}} -> tensor<1x3xf32>
// CHECK: %[[NEG:.*]] = tosa.mul %arg0, %[[S]]
// CHECK: tosa.select %[[POS]], %arg0, %[[NEG]] : (tensor<2x3xi1>, tensor<2x3xf32>, tensor<2x3xf32>) -> tensor<2x3xf32>
func.func @prelu(%a: tensor<2x3xf32>, %s: tensor<3xf32>) -> !onnx.unknown {
  %0 = onnx.node "PRelu"(%a, %s) opset 16 : (tensor<2x3xf32>, tensor<3xf32>) -> !onnx.unknown
  return %0 : !onnx.unknown
}

// -----

// Half to even: floor, then the exact fraction decides.
// CHECK-LABEL: func.func @round
// CHECK: %[[DOWN:.*]] = tosa.floor %arg0
// CHECK: %[[FRAC:.*]] = tosa.sub %arg0, %[[DOWN]]
// CHECK: %[[R:.*]] = tosa.select %{{.*}} -> tensor<3xf32>
// CHECK: %[[R2:.*]] = tosa.select %{{.*}} -> tensor<3xf32>
// CHECK: %[[FIN:.*]] = tosa.equal %[[FRAC]], %[[FRAC]]
// CHECK: tosa.select %[[FIN]], %[[R2]], %arg0
func.func @round(%a: tensor<3xf32>) -> !onnx.unknown {
  %0 = onnx.node "Round"(%a) opset 11 : (tensor<3xf32>) -> !onnx.unknown
  return %0 : !onnx.unknown
}

// -----

// CHECK-LABEL: func.func @clip_v6
// CHECK: tosa.clamp %arg0 {max_val = 3.40282347E+38 : f32, min_val = -1.000000e+00 : f32} : (tensor<3xf32>) -> tensor<3xf32>
func.func @clip_v6(%a: tensor<3xf32>) -> !onnx.unknown {
  %0 = onnx.node "Clip"(%a) attrs {min = -1.0 : f32} opset 6 : (tensor<3xf32>) -> !onnx.unknown
  return %0 : !onnx.unknown
}

// -----

// CHECK-LABEL: func.func @clip_constant_bounds
// CHECK: tosa.clamp %arg0 {max_val = 6.000000e+00 : f32, min_val = 0.000000e+00 : f32} : (tensor<3xf32>) -> tensor<3xf32>
func.func @clip_constant_bounds(%a: tensor<3xf32>) -> !onnx.unknown {
  %lo = arith.constant dense<0.0> : tensor<f32>
  %hi = arith.constant dense<6.0> : tensor<f32>
  %0 = onnx.node "Clip"(%a, %lo, %hi) opset 13 : (tensor<3xf32>, tensor<f32>, tensor<f32>) -> !onnx.unknown
  return %0 : !onnx.unknown
}

// -----

// An absent bound is the type's limit.
// CHECK-LABEL: func.func @clip_int_max_only
// CHECK: tosa.clamp %arg0 {max_val = 5 : i64, min_val = -9223372036854775808 : i64} : (tensor<3xi64>) -> tensor<3xi64>
func.func @clip_int_max_only(%a: tensor<3xi64>) -> !onnx.unknown {
  %none = onnx.none
  %hi = arith.constant dense<5> : tensor<i64>
  %0 = onnx.node "Clip"(%a, %none, %hi) opset 13 : (tensor<3xi64>, none, tensor<i64>) -> !onnx.unknown
  return %0 : !onnx.unknown
}

// -----

// Computed bounds: ORT's min(max(x, lo), hi).
// CHECK-LABEL: func.func @clip_computed_bounds
// CHECK: %[[LO:.*]] = tosa.reshape %arg1, %{{.*}} -> tensor<1x1xf32>
// CHECK: %[[M:.*]] = tosa.maximum %arg0, %[[LO]] : (tensor<2x3xf32>, tensor<1x1xf32>) -> tensor<2x3xf32>
// CHECK: %[[HI:.*]] = tosa.reshape %arg2, %{{.*}} -> tensor<1x1xf32>
// CHECK: tosa.minimum %[[M]], %[[HI]] : (tensor<2x3xf32>, tensor<1x1xf32>) -> tensor<2x3xf32>
func.func @clip_computed_bounds(%a: tensor<2x3xf32>, %lo: tensor<f32>, %hi: tensor<1xf32>) -> !onnx.unknown {
  %0 = onnx.node "Clip"(%a, %lo, %hi) opset 11 : (tensor<2x3xf32>, tensor<f32>, tensor<1xf32>) -> !onnx.unknown
  return %0 : !onnx.unknown
}

// -----

// tosa.clamp rejects min > max; ORT's formula gives max everywhere.
// CHECK-LABEL: func.func @clip_min_above_max
// CHECK-NOT: tosa.clamp
// CHECK: %[[M:.*]] = tosa.maximum %arg0
// CHECK: tosa.minimum %[[M]]
func.func @clip_min_above_max(%a: tensor<3xf32>) -> !onnx.unknown {
  %lo = arith.constant dense<2.0> : tensor<f32>
  %hi = arith.constant dense<1.0> : tensor<f32>
  %0 = onnx.node "Clip"(%a, %lo, %hi) opset 13 : (tensor<3xf32>, tensor<f32>, tensor<f32>) -> !onnx.unknown
  return %0 : !onnx.unknown
}

// -----

// All three operands broadcast.
// CHECK-LABEL: func.func @where
// CHECK-SAME: -> tensor<2x3x4xf32>
// CHECK: %[[X:.*]] = tosa.reshape %arg1, %{{.*}} -> tensor<1x1x1xf32>
// CHECK: %[[Y:.*]] = tosa.reshape %arg2, %{{.*}} -> tensor<1x3x1xf32>
// CHECK: tosa.select %arg0, %[[X]], %[[Y]] : (tensor<2x1x4xi1>, tensor<1x1x1xf32>, tensor<1x3x1xf32>) -> tensor<2x3x4xf32>
func.func @where(%c: tensor<2x1x4xi1>, %x: tensor<f32>, %y: tensor<3x1xf32>) -> !onnx.unknown {
  %0 = onnx.node "Where"(%c, %x, %y) opset 16 : (tensor<2x1x4xi1>, tensor<f32>, tensor<3x1xf32>) -> !onnx.unknown
  return %0 : !onnx.unknown
}

// -----

// Float to int truncates; out of the i32 range (and NaN) is INT_MIN, then
// wrapped to i8, as on x86.
// CHECK-LABEL: func.func @cast_f32_to_i8
// CHECK: %[[GE:.*]] = tosa.greater_equal %arg0, %{{.*}}
// CHECK: %[[FL:.*]] = tosa.floor %arg0
// CHECK: %[[CE:.*]] = tosa.ceil %arg0
// CHECK: %[[T:.*]] = tosa.select %[[GE]], %[[FL]], %[[CE]]
// CHECK: %[[I:.*]] = tosa.cast %[[T]] : (tensor<3xf32>) -> tensor<3xi32>
// CHECK: %[[OK:.*]] = tosa.logical_and
// CHECK: %[[MIN:.*]] = "tosa.const"() <{values = dense<-2147483648> : tensor<1xi32>}>
// CHECK: %[[R:.*]] = tosa.select %[[OK]], %[[I]], %[[MIN]]
// CHECK: tosa.cast %[[R]] : (tensor<3xi32>) -> tensor<3xi8>
func.func @cast_f32_to_i8(%a: tensor<3xf32>) -> !onnx.unknown {
  %0 = onnx.node "Cast"(%a) attrs {to = 3 : i64} opset 19 : (tensor<3xf32>) -> !onnx.unknown
  return %0 : !onnx.unknown
}

// -----

// CHECK-LABEL: func.func @cast_f32_to_i64
// CHECK: %[[I:.*]] = tosa.cast %{{.*}} : (tensor<3xf32>) -> tensor<3xi64>
// CHECK: "tosa.const"() <{values = dense<-9223372036854775808> : tensor<1xi64>}>
// CHECK: tosa.select {{.*}} -> tensor<3xi64>
func.func @cast_f32_to_i64(%a: tensor<3xf32>) -> !onnx.unknown {
  %0 = onnx.node "Cast"(%a) attrs {to = 7 : i64} opset 13 : (tensor<3xf32>) -> !onnx.unknown
  return %0 : !onnx.unknown
}

// -----

// CHECK-LABEL: func.func @cast_simple
// CHECK: tosa.cast %arg0 : (tensor<3xi64>) -> tensor<3xf32>
// CHECK: tosa.cast %arg0 : (tensor<3xi64>) -> tensor<3xi1>
// CHECK: tosa.cast %arg1 : (tensor<3xi1>) -> tensor<3xf32>
func.func @cast_simple(%a: tensor<3xi64>, %b: tensor<3xi1>) -> (!onnx.unknown, !onnx.unknown, !onnx.unknown) {
  %0 = onnx.node "Cast"(%a) attrs {to = 1 : i64} opset 13 : (tensor<3xi64>) -> !onnx.unknown
  %1 = onnx.node "Cast"(%a) attrs {to = 9 : i64} opset 13 : (tensor<3xi64>) -> !onnx.unknown
  %2 = onnx.node "Cast"(%b) attrs {to = 1 : i64} opset 13 : (tensor<3xi1>) -> !onnx.unknown
  return %0, %1, %2 : !onnx.unknown, !onnx.unknown, !onnx.unknown
}

// -----

// CHECK-LABEL: func.func @cast_same_type
// CHECK-NEXT: return %arg0 : tensor<3xi1>
func.func @cast_same_type(%a: tensor<3xi1>) -> !onnx.unknown {
  %0 = onnx.node "Cast"(%a) attrs {to = 9 : i64} opset 13 : (tensor<3xi1>) -> !onnx.unknown
  return %0 : !onnx.unknown
}

// -----

// Opset 1 names the type.
// CHECK-LABEL: func.func @cast_v1
// CHECK: tosa.cast %arg0 : (tensor<3xf32>) -> tensor<3xf16>
func.func @cast_v1(%a: tensor<3xf32>) -> !onnx.unknown {
  %0 = onnx.node "Cast"(%a) attrs {to = "FLOAT16"} opset 1 : (tensor<3xf32>) -> !onnx.unknown
  return %0 : !onnx.unknown
}

// -----

// CHECK-LABEL: func.func @cast_like
// CHECK: tosa.cast %arg0 : (tensor<3xi32>) -> tensor<3xbf16>
func.func @cast_like(%a: tensor<3xi32>, %b: tensor<1xbf16>) -> !onnx.unknown {
  %0 = onnx.node "CastLike"(%a, %b) opset 15 : (tensor<3xi32>, tensor<1xbf16>) -> !onnx.unknown
  return %0 : !onnx.unknown
}

// -----

// CHECK-LABEL: func.func @identity
// CHECK-NEXT: return %arg0 : tensor<2x3xi64>
func.func @identity(%a: tensor<2x3xi64>) -> !onnx.unknown {
  %0 = onnx.node "Identity"(%a) opset 16 : (tensor<2x3xi64>) -> !onnx.unknown
  return %0 : !onnx.unknown
}

// -----

// Inference: the input passes through and the mask is all true.
// CHECK-LABEL: func.func @dropout
// CHECK: %[[MASK:.*]] = "tosa.const"() <{values = dense<true> : tensor<3xi1>}>
// CHECK: return %arg0, %[[MASK]] : tensor<3xf32>, tensor<3xi1>
func.func @dropout(%a: tensor<3xf32>) -> (!onnx.unknown, !onnx.unknown) {
  %ratio = arith.constant dense<0.3> : tensor<f32>
  %training = arith.constant dense<false> : tensor<i1>
  %0:2 = onnx.node "Dropout"(%a, %ratio, %training) opset 13 : (tensor<3xf32>, tensor<f32>, tensor<i1>) -> (!onnx.unknown, !onnx.unknown)
  return %0#0, %0#1 : !onnx.unknown, !onnx.unknown
}

// -----

// Before opset 10 the mask has the input's type.
// CHECK-LABEL: func.func @dropout_v7
// CHECK: %[[MASK:.*]] = "tosa.const"() <{values = dense<1.000000e+00> : tensor<3xf32>}>
// CHECK: return %arg0, %[[MASK]] : tensor<3xf32>, tensor<3xf32>
func.func @dropout_v7(%a: tensor<3xf32>) -> (!onnx.unknown, !onnx.unknown) {
  %0:2 = onnx.node "Dropout"(%a) attrs {ratio = 0.2 : f32} opset 7 : (tensor<3xf32>) -> (!onnx.unknown, !onnx.unknown)
  return %0#0, %0#1 : !onnx.unknown, !onnx.unknown
}

// -----

// CHECK-LABEL: func.func @dropout_no_mask
// CHECK-NEXT: return %arg0 : tensor<3xf32>
func.func @dropout_no_mask(%a: tensor<3xf32>) -> !onnx.unknown {
  %0 = onnx.node "Dropout"(%a) opset 12 : (tensor<3xf32>) -> !onnx.unknown
  return %0 : !onnx.unknown
}
