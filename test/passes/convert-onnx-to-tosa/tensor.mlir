// RUN: lora-opt %s -split-input-file --convert-onnx-to-tosa | FileCheck %s

// CHECK-LABEL: func.func @constant_value
// CHECK: %[[C:.*]] = arith.constant dense<[1.000000e+00, 2.000000e+00]> : tensor<2xf32>
// CHECK: return %[[C]]
func.func @constant_value() -> !onnx.unknown {
  %0 = onnx.node "Constant"() attrs {value = dense<[1.0, 2.0]> : tensor<2xf32>} opset 13 : () -> !onnx.unknown
  return %0 : !onnx.unknown
}

// -----

// CHECK-LABEL: func.func @constant_value_float
// CHECK-SAME: -> tensor<f32>
// CHECK: arith.constant dense<2.500000e+00> : tensor<f32>
func.func @constant_value_float() -> !onnx.unknown {
  %0 = onnx.node "Constant"() attrs {value_float = 2.5 : f32} opset 13 : () -> !onnx.unknown
  return %0 : !onnx.unknown
}

// -----

// CHECK-LABEL: func.func @constant_value_floats
// CHECK: arith.constant dense<[1.000000e+00, -2.000000e+00]> : tensor<2xf32>
func.func @constant_value_floats() -> !onnx.unknown {
  %0 = onnx.node "Constant"() attrs {value_floats = array<f32: 1.0, -2.0>} opset 13 : () -> !onnx.unknown
  return %0 : !onnx.unknown
}

// -----

// CHECK-LABEL: func.func @constant_value_int
// CHECK: arith.constant dense<7> : tensor<i64>
func.func @constant_value_int() -> !onnx.unknown {
  %0 = onnx.node "Constant"() attrs {value_int = 7 : i64} opset 13 : () -> !onnx.unknown
  return %0 : !onnx.unknown
}

// -----

// CHECK-LABEL: func.func @constant_value_ints
// CHECK: arith.constant dense<[3, -4]> : tensor<2xi64>
func.func @constant_value_ints() -> !onnx.unknown {
  %0 = onnx.node "Constant"() attrs {value_ints = array<i64: 3, -4>} opset 13 : () -> !onnx.unknown
  return %0 : !onnx.unknown
}

// -----

// Shape-15 slices the dims with start/end, clamped.
// CHECK-LABEL: func.func @shape
// CHECK-DAG: %[[ALL:.*]] = arith.constant dense<[2, 3, 4]> : tensor<3xi64>
// CHECK-DAG: %[[PART:.*]] = arith.constant dense<[3, 4]> : tensor<2xi64>
// CHECK: return %[[ALL]], %[[PART]]
func.func @shape(%x: tensor<2x3x4xf32>) -> (!onnx.unknown, !onnx.unknown) {
  %0 = onnx.node "Shape"(%x) opset 13 : (tensor<2x3x4xf32>) -> !onnx.unknown
  %1 = onnx.node "Shape"(%x) attrs {start = -2 : i64, end = 100 : i64} opset 15 : (tensor<2x3x4xf32>) -> !onnx.unknown
  return %0, %1 : !onnx.unknown, !onnx.unknown
}

// -----

// CHECK-LABEL: func.func @size
// CHECK: %[[N:.*]] = arith.constant dense<24> : tensor<i64>
// CHECK: return %[[N]]
func.func @size(%x: tensor<2x3x4xf32>) -> !onnx.unknown {
  %0 = onnx.node "Size"(%x) opset 13 : (tensor<2x3x4xf32>) -> !onnx.unknown
  return %0 : !onnx.unknown
}

// -----

// CHECK-LABEL: func.func @constant_of_shape
// CHECK-DAG: %[[ZERO:.*]] = arith.constant dense<0.000000e+00> : tensor<2x3xf32>
// CHECK-DAG: %[[TRUE:.*]] = arith.constant dense<true> : tensor<2x3xi1>
// CHECK: return %[[ZERO]], %[[TRUE]]
func.func @constant_of_shape() -> (!onnx.unknown, !onnx.unknown) {
  %s = arith.constant dense<[2, 3]> : tensor<2xi64>
  %0 = onnx.node "ConstantOfShape"(%s) opset 9 : (tensor<2xi64>) -> !onnx.unknown
  %1 = onnx.node "ConstantOfShape"(%s) attrs {value = dense<true> : tensor<1xi1>} opset 9 : (tensor<2xi64>) -> !onnx.unknown
  return %0, %1 : !onnx.unknown, !onnx.unknown
}

// -----

// CHECK-LABEL: func.func @range
// CHECK-DAG: %[[I:.*]] = arith.constant dense<[10, 7, 4, 1, -2]> : tensor<5xi64>
// CHECK-DAG: %[[F:.*]] = arith.constant dense<[5.000000e-01, 1.000000e+00, 1.500000e+00]> : tensor<3xf32>
// CHECK: return %[[I]], %[[F]]
func.func @range() -> (!onnx.unknown, !onnx.unknown) {
  %s = arith.constant dense<10> : tensor<i64>
  %l = arith.constant dense<-3> : tensor<i64>
  %d = arith.constant dense<-3> : tensor<i64>
  %0 = onnx.node "Range"(%s, %l, %d) opset 11 : (tensor<i64>, tensor<i64>, tensor<i64>) -> !onnx.unknown
  %fs = arith.constant dense<0.5> : tensor<f32>
  %fl = arith.constant dense<2.0> : tensor<f32>
  %fd = arith.constant dense<0.5> : tensor<f32>
  %1 = onnx.node "Range"(%fs, %fl, %fd) opset 11 : (tensor<f32>, tensor<f32>, tensor<f32>) -> !onnx.unknown
  return %0, %1 : !onnx.unknown, !onnx.unknown
}

// -----

// -1 is inferred, 0 copies the input dim.
// CHECK-LABEL: func.func @reshape
// CHECK: %[[R:.*]] = tosa.reshape %arg0, %{{.*}} : (tensor<2x3x4xf32>, !tosa.shape<3>) -> tensor<4x3x2xf32>
// CHECK: return %[[R]]
func.func @reshape(%x: tensor<2x3x4xf32>) -> !onnx.unknown {
  %s = arith.constant dense<[-1, 0, 2]> : tensor<3xi64>
  %0 = onnx.node "Reshape"(%x, %s) opset 14 : (tensor<2x3x4xf32>, tensor<3xi64>) -> !onnx.unknown
  return %0 : !onnx.unknown
}

// -----

// CHECK-LABEL: func.func @reshape_opset1
// CHECK: tosa.reshape %arg0, %{{.*}} -> tensor<6x4xf32>
func.func @reshape_opset1(%x: tensor<2x3x4xf32>) -> !onnx.unknown {
  %0 = onnx.node "Reshape"(%x) attrs {shape = array<i64: 6, -1>} opset 1 : (tensor<2x3x4xf32>) -> !onnx.unknown
  return %0 : !onnx.unknown
}

// -----

// A constant is reshaped on the host.
// CHECK-LABEL: func.func @reshape_constant_folds
// CHECK-NOT: tosa.reshape
// CHECK: %[[C:.*]] = arith.constant dense<{{\[\[}}1, 2], [3, 4], [5, 6]]> : tensor<3x2xi64>
// CHECK: return %[[C]]
func.func @reshape_constant_folds() -> !onnx.unknown {
  %c = arith.constant dense<[[1, 2, 3], [4, 5, 6]]> : tensor<2x3xi64>
  %s = arith.constant dense<[3, 2]> : tensor<2xi64>
  %0 = onnx.node "Reshape"(%c, %s) opset 14 : (tensor<2x3xi64>, tensor<2xi64>) -> !onnx.unknown
  return %0 : !onnx.unknown
}

// -----

// CHECK-LABEL: func.func @squeeze
// CHECK: tosa.reshape %arg0, %{{.*}} -> tensor<1x3x4xf32>
// CHECK: tosa.reshape %arg0, %{{.*}} -> tensor<3x1x4xf32>
// CHECK: tosa.reshape %arg0, %{{.*}} -> tensor<3x4xf32>
func.func @squeeze(%x: tensor<1x3x1x4xf32>) -> (!onnx.unknown, !onnx.unknown, !onnx.unknown) {
  %0 = onnx.node "Squeeze"(%x) attrs {axes = array<i64: -2>} opset 11 : (tensor<1x3x1x4xf32>) -> !onnx.unknown
  %a = arith.constant dense<[0]> : tensor<1xi64>
  %1 = onnx.node "Squeeze"(%x, %a) opset 13 : (tensor<1x3x1x4xf32>, tensor<1xi64>) -> !onnx.unknown
  %2 = onnx.node "Squeeze"(%x) opset 13 : (tensor<1x3x1x4xf32>) -> !onnx.unknown
  return %0, %1, %2 : !onnx.unknown, !onnx.unknown, !onnx.unknown
}

// -----

// CHECK-LABEL: func.func @unsqueeze
// CHECK: tosa.reshape %arg0, %{{.*}} -> tensor<1x3x4x1xf32>
// CHECK: tosa.reshape %arg0, %{{.*}} -> tensor<3x1x4xf32>
func.func @unsqueeze(%x: tensor<3x4xf32>) -> (!onnx.unknown, !onnx.unknown) {
  %0 = onnx.node "Unsqueeze"(%x) attrs {axes = array<i64: 0, -1>} opset 11 : (tensor<3x4xf32>) -> !onnx.unknown
  %a = arith.constant dense<[1]> : tensor<1xi64>
  %1 = onnx.node "Unsqueeze"(%x, %a) opset 13 : (tensor<3x4xf32>, tensor<1xi64>) -> !onnx.unknown
  return %0, %1 : !onnx.unknown, !onnx.unknown
}

// -----

// CHECK-LABEL: func.func @flatten
// CHECK: tosa.reshape %arg0, %{{.*}} -> tensor<6x4xi1>
// CHECK: tosa.reshape %arg0, %{{.*}} -> tensor<1x24xi1>
func.func @flatten(%x: tensor<2x3x4xi1>) -> (!onnx.unknown, !onnx.unknown) {
  %0 = onnx.node "Flatten"(%x) attrs {axis = 2 : i64} opset 13 : (tensor<2x3x4xi1>) -> !onnx.unknown
  %1 = onnx.node "Flatten"(%x) attrs {axis = 0 : i64} opset 13 : (tensor<2x3x4xi1>) -> !onnx.unknown
  return %0, %1 : !onnx.unknown, !onnx.unknown
}

// -----

// The default perm reverses the dims.
// CHECK-LABEL: func.func @transpose
// CHECK: tosa.transpose %arg0 {perms = array<i32: 0, 2, 3, 1>} : (tensor<2x3x4x5xf32>) -> tensor<2x4x5x3xf32>
// CHECK: tosa.transpose %arg0 {perms = array<i32: 3, 2, 1, 0>} : (tensor<2x3x4x5xf32>) -> tensor<5x4x3x2xf32>
func.func @transpose(%x: tensor<2x3x4x5xf32>) -> (!onnx.unknown, !onnx.unknown) {
  %0 = onnx.node "Transpose"(%x) attrs {perm = array<i64: 0, 2, 3, 1>} opset 13 : (tensor<2x3x4x5xf32>) -> !onnx.unknown
  %1 = onnx.node "Transpose"(%x) opset 13 : (tensor<2x3x4x5xf32>) -> !onnx.unknown
  return %0, %1 : !onnx.unknown, !onnx.unknown
}

// -----

// Empty inputs are dropped: TOSA has no zero-sized dims.
// CHECK-LABEL: func.func @concat
// CHECK: tosa.concat %arg0, %arg2 {axis = 1 : i32} : (tensor<2x3xf32>, tensor<2x5xf32>) -> tensor<2x8xf32>
func.func @concat(%a: tensor<2x3xf32>, %b: tensor<2x0xf32>, %c: tensor<2x5xf32>) -> !onnx.unknown {
  %0 = onnx.node "Concat"(%a, %b, %c) attrs {axis = -1 : i64} opset 13 : (tensor<2x3xf32>, tensor<2x0xf32>, tensor<2x5xf32>) -> !onnx.unknown
  return %0 : !onnx.unknown
}

// -----

// rotate_half's second half: an INT64_MAX end is clamped.
// CHECK-LABEL: func.func @slice
// CHECK: %[[START:.*]] = tosa.const_shape {values = dense<[0, 0, 8]> : tensor<3xindex>}
// CHECK: tosa.slice %arg0, %[[START]], %{{.*}} -> tensor<2x4x8xf32>
func.func @slice(%x: tensor<2x4x16xf32>) -> !onnx.unknown {
  %s = arith.constant dense<[8]> : tensor<1xi64>
  %e = arith.constant dense<[9223372036854775807]> : tensor<1xi64>
  %a = arith.constant dense<[-1]> : tensor<1xi64>
  %t = arith.constant dense<[1]> : tensor<1xi64>
  %0 = onnx.node "Slice"(%x, %s, %e, %a, %t) opset 13 : (tensor<2x4x16xf32>, tensor<1xi64>, tensor<1xi64>, tensor<1xi64>, tensor<1xi64>) -> !onnx.unknown
  return %0 : !onnx.unknown
}

// -----

// Step -1 reverses; step 3 gathers every third element.
// CHECK-LABEL: func.func @slice_steps
// CHECK: %[[S:.*]] = tosa.slice %arg0, %{{.*}} -> tensor<5x7xf32>
// CHECK: %[[R:.*]] = tosa.reverse %[[S]] {axis = 0 : i32} : (tensor<5x7xf32>) -> tensor<5x7xf32>
// CHECK: %[[IDX:.*]] = "tosa.const"() <{values = dense<[0, 3, 6]> : tensor<3xi32>}>
// CHECK: %[[G:.*]] = tosa.gather %{{.*}}, %{{.*}} : (tensor<5x7x1xf32>, tensor<5x3xi32>) -> tensor<5x3x1xf32>
// CHECK: tosa.reshape %[[G]], %{{.*}} -> tensor<5x3xf32>
func.func @slice_steps(%x: tensor<5x8xf32>) -> !onnx.unknown {
  %s = arith.constant dense<[-1, 1]> : tensor<2xi64>
  %e = arith.constant dense<[-100, 100]> : tensor<2xi64>
  %a = arith.constant dense<[0, 1]> : tensor<2xi64>
  %t = arith.constant dense<[-1, 3]> : tensor<2xi64>
  %0 = onnx.node "Slice"(%x, %s, %e, %a, %t) opset 13 : (tensor<5x8xf32>, tensor<2xi64>, tensor<2xi64>, tensor<2xi64>, tensor<2xi64>) -> !onnx.unknown
  return %0 : !onnx.unknown
}

// -----

// CHECK-LABEL: func.func @slice_opset1
// CHECK: %[[START:.*]] = tosa.const_shape {values = dense<[1, 0, 2]> : tensor<3xindex>}
// CHECK: tosa.slice %arg0, %[[START]], %{{.*}} -> tensor<2x4x2xf32>
func.func @slice_opset1(%x: tensor<3x4x5xf32>) -> !onnx.unknown {
  %0 = onnx.node "Slice"(%x) attrs {starts = array<i64: 1, -3>, ends = array<i64: 100, -1>, axes = array<i64: 0, 2>} opset 1 : (tensor<3x4x5xf32>) -> !onnx.unknown
  return %0 : !onnx.unknown
}

// -----

// CHECK-LABEL: func.func @slice_empty
// CHECK-NOT: tosa.slice
// CHECK: %[[E:.*]] = arith.constant dense<> : tensor<0x4xf32>
// CHECK: return %[[E]]
func.func @slice_empty(%x: tensor<3x4xf32>) -> !onnx.unknown {
  %s = arith.constant dense<[3]> : tensor<1xi64>
  %e = arith.constant dense<[1]> : tensor<1xi64>
  %0 = onnx.node "Slice"(%x, %s, %e) opset 13 : (tensor<3x4xf32>, tensor<1xi64>, tensor<1xi64>) -> !onnx.unknown
  return %0 : !onnx.unknown
}

// -----

// CHECK-LABEL: func.func @split_attr
// CHECK: %[[A:.*]] = tosa.slice %arg0, %{{.*}} -> tensor<2x4xf32>
// CHECK: %[[START:.*]] = tosa.const_shape {values = dense<[0, 4]> : tensor<2xindex>}
// CHECK: %[[B:.*]] = tosa.slice %arg0, %[[START]], %{{.*}} -> tensor<2x8xf32>
// CHECK: return %[[A]], %[[B]]
func.func @split_attr(%x: tensor<2x12xf32>) -> (!onnx.unknown, !onnx.unknown) {
  %0:2 = onnx.node "Split"(%x) attrs {axis = 1 : i64, split = array<i64: 4, 8>} opset 11 : (tensor<2x12xf32>) -> (!onnx.unknown, !onnx.unknown)
  return %0#0, %0#1 : !onnx.unknown, !onnx.unknown
}

// -----

// CHECK-LABEL: func.func @split_input
// CHECK-COUNT-3: tosa.slice %arg0, %{{.*}} -> tensor<2x4xf32>
func.func @split_input(%x: tensor<2x12xf32>) -> (!onnx.unknown, !onnx.unknown, !onnx.unknown) {
  %s = arith.constant dense<[4, 4, 4]> : tensor<3xi64>
  %0:3 = onnx.node "Split"(%x, %s) attrs {axis = -1 : i64} opset 13 : (tensor<2x12xf32>, tensor<3xi64>) -> (!onnx.unknown, !onnx.unknown, !onnx.unknown)
  return %0#0, %0#1, %0#2 : !onnx.unknown, !onnx.unknown, !onnx.unknown
}

// -----

// num_outputs = 3 on 11 elements: 4, 4 and a smaller last chunk.
// CHECK-LABEL: func.func @split_num_outputs
// CHECK-SAME: -> (tensor<2x4xf32>, tensor<2x4xf32>, tensor<2x3xf32>)
// CHECK: %[[START:.*]] = tosa.const_shape {values = dense<[0, 8]> : tensor<2xindex>}
// CHECK: tosa.slice %arg0, %[[START]], %{{.*}} -> tensor<2x3xf32>
func.func @split_num_outputs(%x: tensor<2x11xf32>) -> (!onnx.unknown, !onnx.unknown, !onnx.unknown) {
  %0:3 = onnx.node "Split"(%x) attrs {axis = 1 : i64, num_outputs = 3 : i64} opset 18 : (tensor<2x11xf32>) -> (!onnx.unknown, !onnx.unknown, !onnx.unknown)
  return %0#0, %0#1, %0#2 : !onnx.unknown, !onnx.unknown, !onnx.unknown
}

// -----

// Run-time indices: cast to i32, negative ones wrapped, one tosa.gather.
// CHECK-LABEL: func.func @gather_embedding
// CHECK: %[[I32:.*]] = tosa.cast %arg1 : (tensor<2x16xi64>) -> tensor<2x16xi32>
// CHECK: %[[NEG:.*]] = tosa.greater %{{.*}}, %[[I32]]
// CHECK: %[[WRAP:.*]] = tosa.add %[[I32]], %{{.*}}
// CHECK: %[[IDX:.*]] = tosa.select %[[NEG]], %[[WRAP]], %[[I32]]
// CHECK: %[[TABLE:.*]] = tosa.reshape %arg0, %{{.*}} -> tensor<1x128x64xf32>
// CHECK: %[[ROWS:.*]] = tosa.reshape %[[IDX]], %{{.*}} -> tensor<1x32xi32>
// CHECK: %[[G:.*]] = tosa.gather %[[TABLE]], %[[ROWS]] : (tensor<1x128x64xf32>, tensor<1x32xi32>) -> tensor<1x32x64xf32>
// CHECK: tosa.reshape %[[G]], %{{.*}} -> tensor<2x16x64xf32>
func.func @gather_embedding(%w: tensor<128x64xf32>, %ids: tensor<2x16xi64>) -> !onnx.unknown {
  %0 = onnx.node "Gather"(%w, %ids) attrs {axis = 0 : i64} opset 13 : (tensor<128x64xf32>, tensor<2x16xi64>) -> !onnx.unknown
  return %0 : !onnx.unknown
}

// -----

// Constant indices are normalized on the host; bool data gathers too.
// CHECK-LABEL: func.func @gather_constant_indices
// CHECK: %[[IDX:.*]] = "tosa.const"() <{values = dense<{{\[\[}}0, 5]]> : tensor<1x2xi32>}>
// CHECK: %[[ROWS:.*]] = tosa.tile %[[IDX]], %{{.*}} -> tensor<3x2xi32>
// CHECK: %[[G:.*]] = tosa.gather %arg0, %[[ROWS]] : (tensor<3x6x2xi1>, tensor<3x2xi32>) -> tensor<3x2x2xi1>
// CHECK: tosa.reshape %[[G]], %{{.*}} -> tensor<3x1x2x2xi1>
func.func @gather_constant_indices(%x: tensor<3x6x2xi1>) -> !onnx.unknown {
  %i = arith.constant dense<[[0, -1]]> : tensor<1x2xi64>
  %0 = onnx.node "Gather"(%x, %i) attrs {axis = 1 : i64} opset 13 : (tensor<3x6x2xi1>, tensor<1x2xi64>) -> !onnx.unknown
  return %0 : !onnx.unknown
}

// -----

// CHECK-LABEL: func.func @gather_shape_folds
// CHECK-NOT: tosa.gather
// CHECK: %[[D:.*]] = arith.constant dense<16> : tensor<i64>
// CHECK: return %[[D]]
func.func @gather_shape_folds(%x: tensor<2x16x64xf32>) -> !onnx.unknown {
  %s = onnx.node "Shape"(%x) opset 13 : (tensor<2x16x64xf32>) -> !onnx.unknown
  %i = arith.constant dense<1> : tensor<i64>
  %0 = onnx.node "Gather"(%s, %i) attrs {axis = 0 : i64} opset 13 : (!onnx.unknown, tensor<i64>) -> !onnx.unknown
  return %0 : !onnx.unknown
}

// -----

// Index tuples become rows of the flattened [2*3] dims: dot with strides [3, 1].
// CHECK-LABEL: func.func @gather_nd
// CHECK: %[[STRIDES:.*]] = "tosa.const"() <{values = dense<{{\[\[\[}}3, 1]]]> : tensor<1x1x2xi32>}>
// CHECK: %[[M:.*]] = tosa.mul %{{.*}}, %[[STRIDES]], %{{.*}}
// CHECK: %[[ROW:.*]] = tosa.reduce_sum %[[M]] {axis = 2 : i32} : (tensor<1x5x2xi32>) -> tensor<1x5x1xi32>
// CHECK: tosa.gather %{{.*}}, %{{.*}} : (tensor<1x6x4xf32>, tensor<1x5xi32>) -> tensor<1x5x4xf32>
func.func @gather_nd(%x: tensor<2x3x4xf32>, %i: tensor<5x2xi64>) -> !onnx.unknown {
  %0 = onnx.node "GatherND"(%x, %i) opset 13 : (tensor<2x3x4xf32>, tensor<5x2xi64>) -> !onnx.unknown
  return %0 : !onnx.unknown
}

// -----

// CHECK-LABEL: func.func @gather_nd_batch
// CHECK: %[[ROWS:.*]] = "tosa.const"() <{values = dense<2> : tensor<2x1xi32>}>
// CHECK: %[[G:.*]] = tosa.gather %arg0, %[[ROWS]] : (tensor<2x3x4xf32>, tensor<2x1xi32>) -> tensor<2x1x4xf32>
// CHECK: return %[[G]]
func.func @gather_nd_batch(%x: tensor<2x3x4xf32>) -> !onnx.unknown {
  %i = arith.constant dense<[[[2]], [[-1]]]> : tensor<2x1x1xi64>
  %0 = onnx.node "GatherND"(%x, %i) attrs {batch_dims = 1 : i64} opset 13 : (tensor<2x3x4xf32>, tensor<2x1x1xi64>) -> !onnx.unknown
  return %0 : !onnx.unknown
}

// -----

// Each element reads data[index * 4 + column] of the flat data.
// CHECK-LABEL: func.func @gather_elements
// CHECK: %[[SCALED:.*]] = tosa.mul %{{.*}}, %{{.*}}, %{{.*}} : (tensor<2x4xi32>, tensor<1x1xi32>, tensor<1xi8>) -> tensor<2x4xi32>
// CHECK: %[[OFFSETS:.*]] = "tosa.const"() <{values = dense<{{\[\[}}0, 1, 2, 3], [0, 1, 2, 3]]> : tensor<2x4xi32>}>
// CHECK: tosa.add %[[SCALED]], %[[OFFSETS]]
// CHECK: tosa.gather %{{.*}}, %{{.*}} : (tensor<1x12x1xf32>, tensor<1x8xi32>) -> tensor<1x8x1xf32>
func.func @gather_elements(%x: tensor<3x4xf32>, %i: tensor<2x4xi64>) -> !onnx.unknown {
  %0 = onnx.node "GatherElements"(%x, %i) attrs {axis = 0 : i64} opset 13 : (tensor<3x4xf32>, tensor<2x4xi64>) -> !onnx.unknown
  return %0 : !onnx.unknown
}

// -----

// CHECK-LABEL: func.func @expand
// CHECK: %[[R:.*]] = tosa.reshape %arg0, %{{.*}} -> tensor<1x3x1xf32>
// CHECK: %[[M:.*]] = tosa.const_shape {values = dense<[2, 1, 4]> : tensor<3xindex>}
// CHECK: tosa.tile %[[R]], %[[M]] : (tensor<1x3x1xf32>, !tosa.shape<3>) -> tensor<2x3x4xf32>
func.func @expand(%x: tensor<3x1xf32>) -> !onnx.unknown {
  %s = arith.constant dense<[2, 1, 4]> : tensor<3xi64>
  %0 = onnx.node "Expand"(%x, %s) opset 13 : (tensor<3x1xf32>, tensor<3xi64>) -> !onnx.unknown
  return %0 : !onnx.unknown
}

// -----

// CHECK-LABEL: func.func @tile
// CHECK: tosa.tile %arg0, %{{.*}} : (tensor<2x3xi64>, !tosa.shape<2>) -> tensor<4x3xi64>
func.func @tile(%x: tensor<2x3xi64>) -> !onnx.unknown {
  %r = arith.constant dense<[2, 1]> : tensor<2xi64>
  %0 = onnx.node "Tile"(%x, %r) opset 13 : (tensor<2x3xi64>, tensor<2xi64>) -> !onnx.unknown
  return %0 : !onnx.unknown
}

// -----

// CHECK-LABEL: func.func @tile_opset1
// CHECK: %[[M:.*]] = tosa.const_shape {values = dense<[1, 3]> : tensor<2xindex>}
// CHECK: tosa.tile %arg0, %[[M]] : (tensor<2x3xf32>, !tosa.shape<2>) -> tensor<2x9xf32>
func.func @tile_opset1(%x: tensor<2x3xf32>) -> !onnx.unknown {
  %t = arith.constant dense<3> : tensor<i64>
  %a = arith.constant dense<1> : tensor<i64>
  %0 = onnx.node "Tile"(%x, %t, %a) opset 1 : (tensor<2x3xf32>, tensor<i64>, tensor<i64>) -> !onnx.unknown
  return %0 : !onnx.unknown
}

// -----

// Lower triangle with k = 1: keep j - i <= 1.
// CHECK-LABEL: func.func @trilu
// CHECK: %[[MASK:.*]] = "tosa.const"() <{values = dense<{{\[\[\[}}true, true, false, false], [true, true, true, false], [true, true, true, true]]]> : tensor<1x3x4xi1>}>
// CHECK: %[[ZERO:.*]] = "tosa.const"() <{values = dense<0.000000e+00> : tensor<1x1x1xf32>}>
// CHECK: tosa.select %[[MASK]], %arg0, %[[ZERO]] : (tensor<1x3x4xi1>, tensor<2x3x4xf32>, tensor<1x1x1xf32>) -> tensor<2x3x4xf32>
func.func @trilu(%x: tensor<2x3x4xf32>) -> !onnx.unknown {
  %k = arith.constant dense<1> : tensor<i64>
  %0 = onnx.node "Trilu"(%x, %k) attrs {upper = 0 : i64} opset 14 : (tensor<2x3x4xf32>, tensor<i64>) -> !onnx.unknown
  return %0 : !onnx.unknown
}

// -----

// ONNX pads [begin..., end...] become TOSA's [begin, end] per dim.
// CHECK-LABEL: func.func @pad_constant
// CHECK: %[[FILL:.*]] = "tosa.const"() <{values = dense<1.500000e+00> : tensor<1xf32>}>
// CHECK: %[[PADS:.*]] = tosa.const_shape {values = dense<[0, 1, 1, 2]> : tensor<4xindex>}
// CHECK: tosa.pad %arg0, %[[PADS]], %[[FILL]] : (tensor<2x3xf32>, !tosa.shape<4>, tensor<1xf32>) -> tensor<3x6xf32>
func.func @pad_constant(%x: tensor<2x3xf32>) -> !onnx.unknown {
  %p = arith.constant dense<[0, 1, 1, 2]> : tensor<4xi64>
  %v = arith.constant dense<1.5> : tensor<f32>
  %0 = onnx.node "Pad"(%x, %p, %v) opset 13 : (tensor<2x3xf32>, tensor<4xi64>, tensor<f32>) -> !onnx.unknown
  return %0 : !onnx.unknown
}

// -----

// CHECK-LABEL: func.func @pad_opset2
// CHECK: %[[FILL:.*]] = "tosa.const"() <{values = dense<-2.000000e+00> : tensor<1xf32>}>
// CHECK: tosa.pad %arg0, %{{.*}}, %[[FILL]] {{.*}} -> tensor<3x3xf32>
func.func @pad_opset2(%x: tensor<2x3xf32>) -> !onnx.unknown {
  %0 = onnx.node "Pad"(%x) attrs {pads = array<i64: 1, 0, 0, 0>, value = -2.0 : f32} opset 2 : (tensor<2x3xf32>) -> !onnx.unknown
  return %0 : !onnx.unknown
}

// -----

// Reflect: mirrored slices without the edge element, concatenated.
// CHECK-LABEL: func.func @pad_reflect
// CHECK: %[[LEFT:.*]] = tosa.slice %arg0, %{{.*}} -> tensor<2x2xf32>
// CHECK: %[[MIRROR:.*]] = tosa.reverse %[[LEFT]] {axis = 1 : i32}
// CHECK: %[[RIGHT:.*]] = tosa.slice %arg0, %{{.*}} -> tensor<2x1xf32>
// CHECK: tosa.concat %[[MIRROR]], %arg0, %[[RIGHT]] {axis = 1 : i32} : (tensor<2x2xf32>, tensor<2x3xf32>, tensor<2x1xf32>) -> tensor<2x6xf32>
func.func @pad_reflect(%x: tensor<2x3xf32>) -> !onnx.unknown {
  %p = arith.constant dense<[0, 2, 0, 1]> : tensor<4xi64>
  %0 = onnx.node "Pad"(%x, %p) attrs {mode = "reflect"} opset 13 : (tensor<2x3xf32>, tensor<4xi64>) -> !onnx.unknown
  return %0 : !onnx.unknown
}

// -----

// Constant indices: one gather with constant rows from [data; updates].
// CHECK-LABEL: func.func @scatternd_rows
// CHECK-SAME: -> tensor<4x3xf32>
// CHECK: %[[BOTH:.*]] = tosa.concat %{{.*}}, %{{.*}} {axis = 1 : i32} : (tensor<1x4x3xf32>, tensor<1x2x3xf32>) -> tensor<1x6x3xf32>
// CHECK: %[[ROWS:.*]] = "tosa.const"() <{values = dense<{{\[\[}}5, 1, 4, 3]]> : tensor<1x4xi32>}>
// CHECK: %[[G:.*]] = tosa.gather %[[BOTH]], %[[ROWS]] : (tensor<1x6x3xf32>, tensor<1x4xi32>) -> tensor<1x4x3xf32>
// CHECK: tosa.reshape %[[G]], %{{.*}} -> tensor<4x3xf32>
func.func @scatternd_rows(%data: tensor<4x3xf32>, %upd: tensor<2x3xf32>) -> !onnx.unknown {
  %idx = arith.constant dense<[[2], [-4]]> : tensor<2x1xi64>
  %0 = onnx.node "ScatterND"(%data, %idx, %upd) opset 17 : (tensor<4x3xf32>, tensor<2x1xi64>, tensor<2x3xf32>) -> !onnx.unknown
  return %0 : !onnx.unknown
}
