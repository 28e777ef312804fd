// RUN: lora-opt %s -split-input-file --convert-onnx-to-tosa | FileCheck %s

// Llama's RMSNorm mean (opset 17): axes attribute, keepdims default 1. The
// mean is the sum times 1/count.
// CHECK-LABEL: func.func @reduce_mean_axes_attr
// CHECK-SAME: -> tensor<2x16x1xf32>
// CHECK: %[[SUM:.*]] = tosa.reduce_sum %arg0 {axis = 2 : i32} : (tensor<2x16x64xf32>) -> tensor<2x16x1xf32>
// CHECK: %[[SCALE:.*]] = "tosa.const"() <{values = dense<1.562500e-02> : tensor<1x1x1xf32>}>
// CHECK: %[[MEAN:.*]] = tosa.mul %[[SUM]], %[[SCALE]], %{{.*}} : {{.*}} -> tensor<2x16x1xf32>
// CHECK: return %[[MEAN]]
func.func @reduce_mean_axes_attr(%x: tensor<2x16x64xf32>) -> !onnx.unknown {
  %0 = onnx.node "ReduceMean"(%x) attrs {axes = array<i64: -1>} opset 17 : (tensor<2x16x64xf32>) -> !onnx.unknown
  return %0 : !onnx.unknown
}

// -----

// Opset 18: axes is a constant input; keepdims 0 drops the reduced dim.
// CHECK-LABEL: func.func @reduce_mean_axes_input
// CHECK-SAME: -> tensor<2x16xf32>
// CHECK: %[[SUM:.*]] = tosa.reduce_sum %arg0 {axis = 2 : i32}
// CHECK: %[[MEAN:.*]] = tosa.mul %[[SUM]]
// CHECK: %[[Y:.*]] = tosa.reshape %[[MEAN]], %{{.*}} : (tensor<2x16x1xf32>, !tosa.shape<2>) -> tensor<2x16xf32>
// CHECK: return %[[Y]]
func.func @reduce_mean_axes_input(%x: tensor<2x16x64xf32>) -> !onnx.unknown {
  %axes = arith.constant dense<[-1]> : tensor<1xi64>
  %0 = onnx.node "ReduceMean"(%x, %axes) attrs {keepdims = 0 : i64, noop_with_empty_axes = 0 : i64} opset 18 : (tensor<2x16x64xf32>, tensor<1xi64>) -> !onnx.unknown
  return %0 : !onnx.unknown
}

// -----

// Adjacent axes collapse into one reduction; f16 is summed in f32.
// CHECK-LABEL: func.func @reduce_sum_adjacent_axes_f16
// CHECK-SAME: -> tensor<2x1x1x5xf16>
// CHECK: %[[WIDE:.*]] = tosa.cast %arg0 : (tensor<2x3x4x5xf16>) -> tensor<2x3x4x5xf32>
// CHECK: %[[FLAT:.*]] = tosa.reshape %[[WIDE]], %{{.*}} -> tensor<2x12x5xf32>
// CHECK: %[[SUM:.*]] = tosa.reduce_sum %[[FLAT]] {axis = 1 : i32} : (tensor<2x12x5xf32>) -> tensor<2x1x5xf32>
// CHECK: %[[KEPT:.*]] = tosa.reshape %[[SUM]], %{{.*}} -> tensor<2x1x1x5xf32>
// CHECK: tosa.cast %[[KEPT]] : (tensor<2x1x1x5xf32>) -> tensor<2x1x1x5xf16>
func.func @reduce_sum_adjacent_axes_f16(%x: tensor<2x3x4x5xf16>) -> !onnx.unknown {
  %axes = arith.constant dense<[2, 1]> : tensor<2xi64>
  %0 = onnx.node "ReduceSum"(%x, %axes) opset 13 : (tensor<2x3x4x5xf16>, tensor<2xi64>) -> !onnx.unknown
  return %0 : !onnx.unknown
}

// -----

// Before opset 13 ReduceSum takes axes as an attribute; separate axes are
// reduced one after the other.
// CHECK-LABEL: func.func @reduce_sum_opset11
// CHECK-SAME: -> tensor<3xi64>
// CHECK: %[[S0:.*]] = tosa.reduce_sum %arg0 {axis = 0 : i32} : (tensor<2x3x4xi64>) -> tensor<1x3x4xi64>
// CHECK: %[[S2:.*]] = tosa.reduce_sum %[[S0]] {axis = 2 : i32} : (tensor<1x3x4xi64>) -> tensor<1x3x1xi64>
// CHECK: tosa.reshape %[[S2]], %{{.*}} -> tensor<3xi64>
func.func @reduce_sum_opset11(%x: tensor<2x3x4xi64>) -> !onnx.unknown {
  %0 = onnx.node "ReduceSum"(%x) attrs {axes = array<i64: 0, -1>, keepdims = 0 : i64} opset 11 : (tensor<2x3x4xi64>) -> !onnx.unknown
  return %0 : !onnx.unknown
}

// -----

// No axes: every axis, as one reduction over the flattened tensor.
// CHECK-LABEL: func.func @reduce_max_all_axes
// CHECK-SAME: -> tensor<1x1xf32>
// CHECK: %[[FLAT:.*]] = tosa.reshape %arg0, %{{.*}} -> tensor<6xf32>
// CHECK: %[[MAX:.*]] = tosa.reduce_max %[[FLAT]] {axis = 0 : i32} : (tensor<6xf32>) -> tensor<1xf32>
// CHECK: tosa.reshape %[[MAX]], %{{.*}} -> tensor<1x1xf32>
func.func @reduce_max_all_axes(%x: tensor<2x3xf32>) -> !onnx.unknown {
  %0 = onnx.node "ReduceMax"(%x) opset 18 : (tensor<2x3xf32>) -> !onnx.unknown
  return %0 : !onnx.unknown
}

// -----

// noop_with_empty_axes with no axes is the identity.
// CHECK-LABEL: func.func @reduce_min_noop
// CHECK-NOT: tosa.reduce_min
// CHECK: return %arg0 : tensor<2x3xf32>
func.func @reduce_min_noop(%x: tensor<2x3xf32>) -> !onnx.unknown {
  %none = onnx.none
  %0 = onnx.node "ReduceMin"(%x, %none) attrs {noop_with_empty_axes = 1 : i64} opset 18 : (tensor<2x3xf32>, none) -> !onnx.unknown
  return %0 : !onnx.unknown
}

// -----

// An empty axes input without noop_with_empty_axes reduces every axis.
// CHECK-LABEL: func.func @reduce_min_empty_axes
// CHECK: tosa.reduce_min %{{.*}} {axis = 0 : i32} : (tensor<6xf32>) -> tensor<1xf32>
// CHECK: -> tensor<1x1xf32>
func.func @reduce_min_empty_axes(%x: tensor<2x3xf32>) -> !onnx.unknown {
  %axes = arith.constant dense<> : tensor<0xi64>
  %0 = onnx.node "ReduceMin"(%x, %axes) opset 18 : (tensor<2x3xf32>, tensor<0xi64>) -> !onnx.unknown
  return %0 : !onnx.unknown
}

// -----

// A scalar is reduced as a one-element vector.
// CHECK-LABEL: func.func @reduce_prod_scalar
// CHECK-SAME: -> tensor<f32>
// CHECK: %[[V:.*]] = tosa.reshape %arg0, %{{.*}} : (tensor<f32>, !tosa.shape<1>) -> tensor<1xf32>
// CHECK: %[[P:.*]] = tosa.reduce_product %[[V]] {axis = 0 : i32} : (tensor<1xf32>) -> tensor<1xf32>
// CHECK: tosa.reshape %[[P]], %{{.*}} : (tensor<1xf32>, !tosa.shape<0>) -> tensor<f32>
func.func @reduce_prod_scalar(%x: tensor<f32>) -> !onnx.unknown {
  %0 = onnx.node "ReduceProd"(%x) opset 13 : (tensor<f32>) -> !onnx.unknown
  return %0 : !onnx.unknown
}

// -----

// CHECK-LABEL: func.func @reduce_l1
// CHECK: %[[ABS:.*]] = tosa.abs %arg0
// CHECK: tosa.reduce_sum %[[ABS]] {axis = 1 : i32} : (tensor<2x3xf32>) -> tensor<2x1xf32>
func.func @reduce_l1(%x: tensor<2x3xf32>) -> !onnx.unknown {
  %0 = onnx.node "ReduceL1"(%x) attrs {axes = array<i64: 1>} opset 13 : (tensor<2x3xf32>) -> !onnx.unknown
  return %0 : !onnx.unknown
}

// -----

// TOSA has no square root: sqrt(x) = 1/rsqrt(x) in f64, which rounds to the
// correctly rounded f32 result.
// CHECK-LABEL: func.func @reduce_l2
// CHECK: %[[SQ:.*]] = tosa.mul %arg0, %arg0
// CHECK: %[[SUM:.*]] = tosa.reduce_sum %[[SQ]] {axis = 1 : i32}
// CHECK: %[[WIDE:.*]] = tosa.cast %[[SUM]] : (tensor<2x1xf32>) -> tensor<2x1xf64>
// CHECK: %[[RS:.*]] = tosa.rsqrt %[[WIDE]]
// CHECK: %[[S:.*]] = tosa.reciprocal %[[RS]]
// CHECK: tosa.cast %[[S]] : (tensor<2x1xf64>) -> tensor<2x1xf32>
func.func @reduce_l2(%x: tensor<2x3xf32>) -> !onnx.unknown {
  %axes = arith.constant dense<1> : tensor<1xi64>
  %0 = onnx.node "ReduceL2"(%x, %axes) opset 18 : (tensor<2x3xf32>, tensor<1xi64>) -> !onnx.unknown
  return %0 : !onnx.unknown
}

// -----

// CHECK-LABEL: func.func @reduce_sum_square
// CHECK: %[[SQ:.*]] = tosa.mul %arg0, %arg0
// CHECK: tosa.reduce_sum %[[SQ]] {axis = 0 : i32} : (tensor<2x3xi32>) -> tensor<1x3xi32>
func.func @reduce_sum_square(%x: tensor<2x3xi32>) -> !onnx.unknown {
  %0 = onnx.node "ReduceSumSquare"(%x) attrs {axes = array<i64: 0>} opset 13 : (tensor<2x3xi32>) -> !onnx.unknown
  return %0 : !onnx.unknown
}

// -----

// CHECK-LABEL: func.func @reduce_log_sum
// CHECK: %[[SUM:.*]] = tosa.reduce_sum %arg0 {axis = 1 : i32}
// CHECK: tosa.log %[[SUM]] : (tensor<2x1xf32>) -> tensor<2x1xf32>
func.func @reduce_log_sum(%x: tensor<2x3xf32>) -> !onnx.unknown {
  %0 = onnx.node "ReduceLogSum"(%x) attrs {axes = array<i64: 1>} opset 13 : (tensor<2x3xf32>) -> !onnx.unknown
  return %0 : !onnx.unknown
}

// -----

// log(sum(exp(x - m))) + m, with an infinite maximum m replaced by 0.
// CHECK-LABEL: func.func @reduce_log_sum_exp
// CHECK: %[[MAX:.*]] = tosa.reduce_max %arg0 {axis = 1 : i32}
// CHECK: %[[ABS:.*]] = tosa.abs %[[MAX]]
// CHECK: %[[INF:.*]] = tosa.equal %[[ABS]], %{{.*}} : {{.*}} -> tensor<2x1xi1>
// CHECK: %[[M:.*]] = tosa.select %[[INF]], %{{.*}}, %[[MAX]]
// CHECK: %[[D:.*]] = tosa.sub %arg0, %[[M]]
// CHECK: %[[E:.*]] = tosa.exp %[[D]]
// CHECK: %[[S:.*]] = tosa.reduce_sum %[[E]] {axis = 1 : i32}
// CHECK: %[[L:.*]] = tosa.log %[[S]]
// CHECK: tosa.add %[[L]], %[[M]]
func.func @reduce_log_sum_exp(%x: tensor<2x3xf32>) -> !onnx.unknown {
  %axes = arith.constant dense<1> : tensor<1xi64>
  %0 = onnx.node "ReduceLogSumExp"(%x, %axes) opset 18 : (tensor<2x3xf32>, tensor<1xi64>) -> !onnx.unknown
  return %0 : !onnx.unknown
}

// -----

// CHECK-LABEL: func.func @argmax
// CHECK-SAME: -> tensor<2x1x4xi64>
// CHECK: %[[I:.*]] = tosa.argmax %arg0 {axis = 1 : i32} : (tensor<2x3x4xf32>) -> tensor<2x4xi32>
// CHECK: %[[L:.*]] = tosa.cast %[[I]] : (tensor<2x4xi32>) -> tensor<2x4xi64>
// CHECK: tosa.reshape %[[L]], %{{.*}} -> tensor<2x1x4xi64>
func.func @argmax(%x: tensor<2x3x4xf32>) -> !onnx.unknown {
  %0 = onnx.node "ArgMax"(%x) attrs {axis = 1 : i64} opset 13 : (tensor<2x3x4xf32>) -> !onnx.unknown
  return %0 : !onnx.unknown
}

// -----

// ArgMin of integers is ArgMax of ~x; the last index is found on the
// reversed axis at n - 1 - i.
// CHECK-LABEL: func.func @argmin_int_last_index
// CHECK-SAME: -> tensor<2xi64>
// CHECK: %[[NOT:.*]] = tosa.bitwise_not %arg0 : (tensor<2x3xi64>) -> tensor<2x3xi64>
// CHECK: %[[REV:.*]] = tosa.reverse %[[NOT]] {axis = 1 : i32}
// CHECK: %[[I:.*]] = tosa.argmax %[[REV]] {axis = 1 : i32} : (tensor<2x3xi64>) -> tensor<2xi32>
// CHECK: %[[N1:.*]] = "tosa.const"() <{values = dense<2> : tensor<1xi32>}>
// CHECK: %[[J:.*]] = tosa.sub %[[N1]], %[[I]]
// CHECK: tosa.cast %[[J]] : (tensor<2xi32>) -> tensor<2xi64>
func.func @argmin_int_last_index(%x: tensor<2x3xi64>) -> !onnx.unknown {
  %0 = onnx.node "ArgMin"(%x) attrs {axis = -1 : i64, keepdims = 0 : i64, select_last_index = 1 : i64} opset 13 : (tensor<2x3xi64>) -> !onnx.unknown
  return %0 : !onnx.unknown
}

// -----

// CHECK-LABEL: func.func @argmin_float
// CHECK: %[[NEG:.*]] = tosa.negate %arg0
// CHECK: tosa.argmax %[[NEG]] {axis = 0 : i32} : (tensor<2x3xf32>) -> tensor<3xi32>
func.func @argmin_float(%x: tensor<2x3xf32>) -> !onnx.unknown {
  %0 = onnx.node "ArgMin"(%x) opset 11 : (tensor<2x3xf32>) -> !onnx.unknown
  return %0 : !onnx.unknown
}

// -----

// exp(x - max) * (1 / sum): stable, and a fully masked row is NaN as in ORT.
// CHECK-LABEL: func.func @softmax
// CHECK-SAME: -> tensor<2x4x8x8xf32>
// CHECK: %[[MAX:.*]] = tosa.reduce_max %arg0 {axis = 3 : i32} : (tensor<2x4x8x8xf32>) -> tensor<2x4x8x1xf32>
// CHECK: %[[D:.*]] = tosa.sub %arg0, %[[MAX]]
// CHECK: %[[E:.*]] = tosa.exp %[[D]]
// CHECK: %[[S:.*]] = tosa.reduce_sum %[[E]] {axis = 3 : i32}
// CHECK: %[[R:.*]] = tosa.reciprocal %[[S]]
// CHECK: %[[Y:.*]] = tosa.mul %[[E]], %[[R]], %{{.*}} : {{.*}} -> tensor<2x4x8x8xf32>
// CHECK: return %[[Y]]
func.func @softmax(%x: tensor<2x4x8x8xf32>) -> !onnx.unknown {
  %0 = onnx.node "Softmax"(%x) attrs {axis = -1 : i64} opset 13 : (tensor<2x4x8x8xf32>) -> !onnx.unknown
  return %0 : !onnx.unknown
}

// -----

// Before opset 13 the input is coerced to 2-D at `axis` (default 1): the
// softmax runs over every dim from axis on.
// CHECK-LABEL: func.func @softmax_opset11_coerced
// CHECK: %[[FLAT:.*]] = tosa.reshape %arg0, %{{.*}} -> tensor<2x12xf32>
// CHECK: %[[MAX:.*]] = tosa.reduce_max %[[FLAT]] {axis = 1 : i32}
// CHECK: tosa.reshape %[[MAX]], %{{.*}} -> tensor<2x1x1xf32>
// CHECK: tosa.reduce_sum %{{.*}} {axis = 1 : i32} : (tensor<2x12xf32>) -> tensor<2x1xf32>
// CHECK: tosa.reciprocal
// CHECK: -> tensor<2x3x4xf32>
func.func @softmax_opset11_coerced(%x: tensor<2x3x4xf32>) -> !onnx.unknown {
  %0 = onnx.node "Softmax"(%x) opset 11 : (tensor<2x3x4xf32>) -> !onnx.unknown
  return %0 : !onnx.unknown
}

// -----

// (x - max) - log(sum(exp(x - max))).
// CHECK-LABEL: func.func @log_softmax
// CHECK: %[[MAX:.*]] = tosa.reduce_max %arg0 {axis = 1 : i32}
// CHECK: %[[D:.*]] = tosa.sub %arg0, %[[MAX]]
// CHECK: %[[E:.*]] = tosa.exp %[[D]]
// CHECK: %[[S:.*]] = tosa.reduce_sum %[[E]] {axis = 1 : i32}
// CHECK: %[[L:.*]] = tosa.log %[[S]]
// CHECK: tosa.sub %[[D]], %[[L]] : (tensor<2x5xf32>, tensor<2x1xf32>) -> tensor<2x5xf32>
func.func @log_softmax(%x: tensor<2x5xf32>) -> !onnx.unknown {
  %0 = onnx.node "LogSoftmax"(%x) opset 13 : (tensor<2x5xf32>) -> !onnx.unknown
  return %0 : !onnx.unknown
}

// -----

// CHECK-LABEL: func.func @log_softmax_opset1_f16
// CHECK: tosa.cast %arg0 : (tensor<2x5xf16>) -> tensor<2x5xf32>
// CHECK: tosa.reduce_max %{{.*}} {axis = 1 : i32}
// CHECK: tosa.log
// CHECK: tosa.cast %{{.*}} : (tensor<2x5xf32>) -> tensor<2x5xf16>
func.func @log_softmax_opset1_f16(%x: tensor<2x5xf16>) -> !onnx.unknown {
  %0 = onnx.node "LogSoftmax"(%x) opset 1 : (tensor<2x5xf16>) -> !onnx.unknown
  return %0 : !onnx.unknown
}

// -----

// Two-pass variance; Mean and InvStdDev are the optional outputs.
// CHECK-LABEL: func.func @layer_norm
// CHECK-SAME: -> (tensor<2x3x8xf32>, tensor<2x3x1xf32>, tensor<2x3x1xf32>)
// CHECK: %[[SUM:.*]] = tosa.reduce_sum %arg0 {axis = 2 : i32}
// CHECK: %[[MEAN:.*]] = tosa.mul %[[SUM]], %{{.*}}, %{{.*}} : {{.*}} -> tensor<2x3x1xf32>
// CHECK: %[[D:.*]] = tosa.sub %arg0, %[[MEAN]]
// CHECK: %[[SQ:.*]] = tosa.mul %[[D]], %[[D]]
// CHECK: %[[SSQ:.*]] = tosa.reduce_sum %[[SQ]] {axis = 2 : i32}
// CHECK: %[[VAR:.*]] = tosa.mul %[[SSQ]]
// CHECK: %[[EPS:.*]] = "tosa.const"() <{values = dense<9.99999974E-6> : tensor<1x1x1xf32>}>
// CHECK: %[[VE:.*]] = tosa.add %[[VAR]], %[[EPS]]
// CHECK: %[[WIDE:.*]] = tosa.cast %[[VE]] : (tensor<2x3x1xf32>) -> tensor<2x3x1xf64>
// CHECK: %[[RS:.*]] = tosa.rsqrt %[[WIDE]]
// CHECK: %[[S:.*]] = tosa.reciprocal %[[RS]]
// CHECK: %[[STD:.*]] = tosa.cast %[[S]] : (tensor<2x3x1xf64>) -> tensor<2x3x1xf32>
// CHECK: %[[INV:.*]] = tosa.reciprocal %[[STD]]
// CHECK: %[[N:.*]] = tosa.mul %[[D]], %[[INV]]
// CHECK: %[[SCALE:.*]] = tosa.reshape %arg1, %{{.*}} -> tensor<1x1x8xf32>
// CHECK: %[[SCALED:.*]] = tosa.mul %[[N]], %[[SCALE]]
// CHECK: %[[BIAS:.*]] = tosa.reshape %arg2, %{{.*}} -> tensor<1x1x8xf32>
// CHECK: %[[Y:.*]] = tosa.add %[[SCALED]], %[[BIAS]]
// CHECK: return %[[Y]], %[[MEAN]], %[[INV]]
func.func @layer_norm(%x: tensor<2x3x8xf32>, %s: tensor<8xf32>, %b: tensor<8xf32>) -> (!onnx.unknown, !onnx.unknown, !onnx.unknown) {
  %0:3 = onnx.node "LayerNormalization"(%x, %s, %b) attrs {axis = -1 : i64, epsilon = 9.99999974E-6 : f32} opset 17 : (tensor<2x3x8xf32>, tensor<8xf32>, tensor<8xf32>) -> (!onnx.unknown, !onnx.unknown, !onnx.unknown)
  return %0#0, %0#1, %0#2 : !onnx.unknown, !onnx.unknown, !onnx.unknown
}

// -----

// f16 is normalized in f32; Mean stays in the stash type f32. axis = 1
// normalizes the last two dims as one reduction of 24.
// CHECK-LABEL: func.func @layer_norm_f16_axis1_no_bias
// CHECK-SAME: -> (tensor<2x3x8xf16>, tensor<2x1x1xf32>)
// CHECK: %[[X:.*]] = tosa.cast %arg0 : (tensor<2x3x8xf16>) -> tensor<2x3x8xf32>
// CHECK: %[[FLAT:.*]] = tosa.reshape %[[X]], %{{.*}} -> tensor<2x24xf32>
// CHECK: tosa.reduce_sum %[[FLAT]] {axis = 1 : i32}
// CHECK: "tosa.const"() <{values = dense<0.0416666679> : tensor<1x1x1xf32>}>
// CHECK: %[[SCALE:.*]] = tosa.cast %arg1 : (tensor<3x8xf16>) -> tensor<3x8xf32>
// CHECK-NOT: tosa.add %{{.*}}, %{{.*}} : (tensor<2x3x8xf32>
// CHECK: tosa.cast %{{.*}} : (tensor<2x3x8xf32>) -> tensor<2x3x8xf16>
func.func @layer_norm_f16_axis1_no_bias(%x: tensor<2x3x8xf16>, %s: tensor<3x8xf16>) -> (!onnx.unknown, !onnx.unknown) {
  %none = onnx.none
  %0:2 = onnx.node "LayerNormalization"(%x, %s, %none) attrs {axis = 1 : i64} opset 17 : (tensor<2x3x8xf16>, tensor<3x8xf16>, none) -> (!onnx.unknown, !onnx.unknown)
  return %0#0, %0#1 : !onnx.unknown, !onnx.unknown
}

// -----

// CHECK-LABEL: func.func @rms_norm
// CHECK-SAME: -> tensor<2x16x64xf32>
// CHECK: %[[SQ:.*]] = tosa.mul %arg0, %arg0
// CHECK: %[[SUM:.*]] = tosa.reduce_sum %[[SQ]] {axis = 2 : i32}
// CHECK: %[[MS:.*]] = tosa.mul %[[SUM]]
// CHECK: %[[MSE:.*]] = tosa.add %[[MS]]
// CHECK: %[[WIDE:.*]] = tosa.cast %[[MSE]] : (tensor<2x16x1xf32>) -> tensor<2x16x1xf64>
// CHECK: %[[RS:.*]] = tosa.rsqrt %[[WIDE]]
// CHECK: %[[S:.*]] = tosa.reciprocal %[[RS]]
// CHECK: %[[RMS:.*]] = tosa.cast %[[S]] : (tensor<2x16x1xf64>) -> tensor<2x16x1xf32>
// CHECK: %[[INV:.*]] = tosa.reciprocal %[[RMS]]
// CHECK: %[[N:.*]] = tosa.mul %arg0, %[[INV]]
// CHECK: tosa.mul %[[N]], %{{.*}} : {{.*}} -> tensor<2x16x64xf32>
func.func @rms_norm(%x: tensor<2x16x64xf32>, %s: tensor<64xf32>) -> !onnx.unknown {
  %0 = onnx.node "RMSNormalization"(%x, %s) attrs {epsilon = 9.99999997E-7 : f32} opset 23 : (tensor<2x16x64xf32>, tensor<64xf32>) -> !onnx.unknown
  return %0 : !onnx.unknown
}

// -----

// A log-step scan: shifts by 1, 2, 4 cover an axis of 5.
// CHECK-LABEL: func.func @cumsum
// CHECK-SAME: -> tensor<2x5xf32>
// CHECK: %[[P1:.*]] = tosa.pad %arg0, %{{.*}}, %{{.*}} : {{.*}} -> tensor<2x6xf32>
// CHECK: %[[S1:.*]] = tosa.slice %[[P1]], %{{.*}}, %{{.*}} : {{.*}} -> tensor<2x5xf32>
// CHECK: %[[A1:.*]] = tosa.add %arg0, %[[S1]]
// CHECK: tosa.pad %[[A1]], %{{.*}}, %{{.*}} : {{.*}} -> tensor<2x7xf32>
// CHECK: %[[A2:.*]] = tosa.add %[[A1]]
// CHECK: tosa.pad %[[A2]], %{{.*}}, %{{.*}} : {{.*}} -> tensor<2x9xf32>
// CHECK: %[[A3:.*]] = tosa.add %[[A2]]
// CHECK: return %[[A3]]
func.func @cumsum(%x: tensor<2x5xf32>) -> !onnx.unknown {
  %axis = arith.constant dense<1> : tensor<i32>
  %0 = onnx.node "CumSum"(%x, %axis) opset 14 : (tensor<2x5xf32>, tensor<i32>) -> !onnx.unknown
  return %0 : !onnx.unknown
}

// -----

// reverse flips the axis around the scan; exclusive shifts by one first.
// CHECK-LABEL: func.func @cumsum_exclusive_reverse
// CHECK: %[[R:.*]] = tosa.reverse %arg0 {axis = 0 : i32}
// CHECK: %[[P:.*]] = tosa.pad %[[R]]
// CHECK: %[[X:.*]] = tosa.slice %[[P]]
// CHECK: %[[A:.*]] = tosa.add %[[X]]
// CHECK: tosa.reverse %[[A]] {axis = 0 : i32} : (tensor<2x3xi64>) -> tensor<2x3xi64>
func.func @cumsum_exclusive_reverse(%x: tensor<2x3xi64>) -> !onnx.unknown {
  %axis = arith.constant dense<[-2]> : tensor<1xi64>
  %0 = onnx.node "CumSum"(%x, %axis) attrs {exclusive = 1 : i64, reverse = 1 : i64} opset 14 : (tensor<2x3xi64>, tensor<1xi64>) -> !onnx.unknown
  return %0 : !onnx.unknown
}
