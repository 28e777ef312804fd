// RUN: lora-translate --export-onnx %s -o %t.onnx
// RUN: lora-translate --import-onnx %t.onnx | FileCheck %s

// Every TOSA op the exporter knows, exported and imported back: each becomes
// the ONNX nodes of opset 18 checked here.

// CHECK-LABEL: func.func @main(
// CHECK-SAME: %[[X:.*]]: tensor<2x3xf32> {onnx.name = "x"}
// CHECK-SAME: %[[IDS:.*]]: tensor<1x4xi32> {onnx.name = "ids"}
// CHECK-SAME: %[[P:.*]]: tensor<2x3xi1> {onnx.name = "p"}
// CHECK-DAG: %[[INT_MIN:.*]] = arith.constant dense<-2.14748365E+9> : tensor<f32>
// CHECK-DAG: %[[INT_MAX:.*]] = arith.constant dense<2.14748352E+9> : tensor<f32>
// CHECK-DAG: %[[I32_MAX:.*]] = arith.constant dense<2147483647> : tensor<i32>
// CHECK-DAG: %[[I8_MIN:.*]] = arith.constant dense<-1.280000e+02> : tensor<f32>
// CHECK-DAG: %[[I8_MAX:.*]] = arith.constant dense<1.270000e+02> : tensor<f32>
// CHECK-DAG: %[[MINUS_ONE:.*]] = arith.constant dense<-1> : tensor<1xi64>
// CHECK-DAG: %[[I64_MIN:.*]] = arith.constant dense<-9223372036854775808> : tensor<1xi64>
// CHECK-DAG: %[[PADS:.*]] = arith.constant dense<[1, 2, 1, 1]> : tensor<4xi64>
// CHECK-DAG: %[[PAD_VALUE:.*]] = arith.constant dense<-1.000000e+00> : tensor<f32>
func.func @main(%x: tensor<2x3xf32> {onnx.name = "x"},
                %ids: tensor<1x4xi32> {onnx.name = "ids"},
                %p: tensor<2x3xi1> {onnx.name = "p"})
    -> (tensor<2x3xf32> {onnx.name = "elementwise"},
        tensor<2x3xi32> {onnx.name = "cast"},
        tensor<2x3xi8> {onnx.name = "cast_i8"},
        tensor<1x4x3xf32> {onnx.name = "gather"},
        tensor<1x2x2xf32> {onnx.name = "matmul"},
        tensor<4x7xf32> {onnx.name = "data_movement"},
        tensor<2xi32> {onnx.name = "argmax"},
        tensor<2x1xf32> {onnx.name = "reductions"}) {
  %zero = "tosa.const"() <{values = dense<0> : tensor<1xi8>}> : () -> tensor<1xi8>
  %fzero = "tosa.const"() <{values = dense<0.0> : tensor<1xf32>}> : () -> tensor<1xf32>

  // CHECK: %[[ADD:.*]] = onnx.node "Add"(%[[X]], %[[X]])
  // CHECK: %[[MUL:.*]] = onnx.node "Mul"(%[[ADD]], %[[X]])
  // CHECK: %[[SQRT:.*]] = onnx.node "Sqrt"(%[[MUL]])
  // CHECK: %[[RSQRT:.*]] = onnx.node "Reciprocal"(%[[SQRT]])
  // CHECK: %[[NEG:.*]] = onnx.node "Neg"(%[[RSQRT]])
  // CHECK: %[[CLIP:.*]] = onnx.node "Clip"(%[[NEG]], %{{.*}}, %{{.*}})
  // CHECK: %[[MAX:.*]] = onnx.node "Max"(%[[CLIP]], %[[X]])
  // CHECK: %[[GT:.*]] = onnx.node "Greater"(%[[MAX]], %[[X]])
  // CHECK: %[[AND:.*]] = onnx.node "And"(%[[GT]], %[[P]])
  // CHECK: onnx.node "Where"(%[[AND]], %[[MAX]], %[[X]])
  %0 = tosa.add %x, %x : (tensor<2x3xf32>, tensor<2x3xf32>) -> tensor<2x3xf32>
  %1 = tosa.mul %0, %x, %zero : (tensor<2x3xf32>, tensor<2x3xf32>, tensor<1xi8>) -> tensor<2x3xf32>
  %2 = tosa.rsqrt %1 : (tensor<2x3xf32>) -> tensor<2x3xf32>
  %3 = tosa.negate %2, %fzero, %fzero : (tensor<2x3xf32>, tensor<1xf32>, tensor<1xf32>) -> tensor<2x3xf32>
  %4 = tosa.clamp %3 {min_val = -1.0 : f32, max_val = 1.0 : f32} : (tensor<2x3xf32>) -> tensor<2x3xf32>
  %5 = tosa.maximum %4, %x : (tensor<2x3xf32>, tensor<2x3xf32>) -> tensor<2x3xf32>
  %6 = tosa.greater %5, %x : (tensor<2x3xf32>, tensor<2x3xf32>) -> tensor<2x3xi1>
  %7 = tosa.logical_and %6, %p : (tensor<2x3xi1>, tensor<2x3xi1>) -> tensor<2x3xi1>
  %8 = tosa.select %7, %5, %x : (tensor<2x3xi1>, tensor<2x3xf32>, tensor<2x3xf32>) -> tensor<2x3xf32>

  // tosa.cast rounds half to even and saturates; ONNX Cast truncates. The
  // i32 max has no exact f32: values from 2^31 on (and NaN) select it.
  // CHECK: %[[ROUND:.*]] = onnx.node "Round"(%[[X]])
  // CHECK: %[[SAT:.*]] = onnx.node "Clip"(%[[ROUND]], %[[INT_MIN]], %[[INT_MAX]])
  // CHECK: %[[I32:.*]] = onnx.node "Cast"(%[[SAT]]) attrs {to = 6 : i64}
  // CHECK: %[[LE:.*]] = onnx.node "LessOrEqual"(%[[ROUND]], %[[INT_MAX]])
  // CHECK: %[[ABOVE:.*]] = onnx.node "Not"(%[[LE]])
  // CHECK: onnx.node "Where"(%[[ABOVE]], %[[I32_MAX]], %[[I32]])
  %9 = tosa.cast %x : (tensor<2x3xf32>) -> tensor<2x3xi32>
  // CHECK: %[[ROUND8:.*]] = onnx.node "Round"(%[[X]])
  // CHECK: %[[SAT8:.*]] = onnx.node "Clip"(%[[ROUND8]], %[[I8_MIN]], %[[I8_MAX]])
  // CHECK: onnx.node "Cast"(%[[SAT8]]) attrs {to = 3 : i64}
  // CHECK-NOT: "Where"
  %cast8 = tosa.cast %x : (tensor<2x3xf32>) -> tensor<2x3xi8>

  // CHECK: %[[IDS64:.*]] = onnx.node "Cast"(%[[IDS]]) attrs {to = 7 : i64}
  // CHECK: %[[IDX:.*]] = onnx.node "Unsqueeze"(%[[IDS64]], %{{.*}})
  // CHECK: onnx.node "GatherND"(%{{.*}}, %[[IDX]]) attrs {batch_dims = 1 : i64}
  %table = "tosa.const"() <{values = dense<[[[1.0, 2.0, 3.0], [4.0, 5.0, 6.0], [7.0, 8.0, 9.0], [10.0, 11.0, 12.0], [13.0, 14.0, 15.0]]]> : tensor<1x5x3xf32>}> : () -> tensor<1x5x3xf32>
  %10 = tosa.gather %table, %ids : (tensor<1x5x3xf32>, tensor<1x4xi32>) -> tensor<1x4x3xf32>

  // CHECK: %[[X3:.*]] = onnx.node "Reshape"(%[[X]], %{{.*}})
  // CHECK: %[[XT:.*]] = onnx.node "Transpose"(%[[X3]]) attrs {perm = array<i64: 0, 2, 1>}
  // CHECK: onnx.node "MatMul"(%[[X3]], %[[XT]])
  %s123 = tosa.const_shape {values = dense<[1, 2, 3]> : tensor<3xindex>} : () -> !tosa.shape<3>
  %11 = tosa.reshape %x, %s123 : (tensor<2x3xf32>, !tosa.shape<3>) -> tensor<1x2x3xf32>
  %12 = tosa.transpose %11 {perms = array<i32: 0, 2, 1>} : (tensor<1x2x3xf32>) -> tensor<1x3x2xf32>
  %13 = tosa.matmul %11, %12, %fzero, %fzero : (tensor<1x2x3xf32>, tensor<1x3x2xf32>, tensor<1xf32>, tensor<1xf32>) -> tensor<1x2x2xf32>

  // CHECK: %[[SLICE:.*]] = onnx.node "Slice"(%[[X]], %{{.*}}, %{{.*}}) opset 18
  // CHECK: %[[REV:.*]] = onnx.node "Slice"(%[[SLICE]], %[[MINUS_ONE]], %[[I64_MIN]], %{{.*}}, %[[MINUS_ONE]]) opset 18
  // CHECK: %[[CAT:.*]] = onnx.node "Concat"(%[[REV]], %[[REV]]) attrs {axis = 1 : i64}
  // CHECK: %[[TILE:.*]] = onnx.node "Tile"(%[[CAT]], %{{.*}})
  // CHECK: onnx.node "Pad"(%[[TILE]], %[[PADS]], %[[PAD_VALUE]])
  %start = tosa.const_shape {values = dense<[0, 1]> : tensor<2xindex>} : () -> !tosa.shape<2>
  %size = tosa.const_shape {values = dense<[2, 2]> : tensor<2xindex>} : () -> !tosa.shape<2>
  %14 = tosa.slice %x, %start, %size : (tensor<2x3xf32>, !tosa.shape<2>, !tosa.shape<2>) -> tensor<2x2xf32>
  %15 = tosa.reverse %14 {axis = 1 : i32} : (tensor<2x2xf32>) -> tensor<2x2xf32>
  %16 = tosa.concat %15, %15 {axis = 1 : i32} : (tensor<2x2xf32>, tensor<2x2xf32>) -> tensor<2x4xf32>
  %multiples = tosa.const_shape {values = dense<[1, 1]> : tensor<2xindex>} : () -> !tosa.shape<2>
  %17 = tosa.tile %16, %multiples : (tensor<2x4xf32>, !tosa.shape<2>) -> tensor<2x4xf32>
  %padding = tosa.const_shape {values = dense<[1, 1, 2, 1]> : tensor<4xindex>} : () -> !tosa.shape<4>
  %padValue = "tosa.const"() <{values = dense<-1.0> : tensor<1xf32>}> : () -> tensor<1xf32>
  %18 = tosa.pad %17, %padding, %padValue : (tensor<2x4xf32>, !tosa.shape<4>, tensor<1xf32>) -> tensor<4x7xf32>

  // CHECK: onnx.node "ArgMax"(%[[X]]) attrs {axis = 1 : i64, keepdims = 0 : i64}
  // CHECK: onnx.node "Cast"(%{{.*}}) attrs {to = 6 : i64}
  %19 = tosa.argmax %x {axis = 1 : i32} : (tensor<2x3xf32>) -> tensor<2xi32>

  // CHECK: %[[SUM:.*]] = onnx.node "ReduceSum"(%[[X]], %{{.*}}) attrs {keepdims = 1 : i64}
  // CHECK: onnx.node "ReduceMax"(%[[SUM]], %{{.*}}) attrs {keepdims = 1 : i64}
  %20 = tosa.reduce_sum %x {axis = 1 : i32} : (tensor<2x3xf32>) -> tensor<2x1xf32>
  %21 = tosa.reduce_max %20 {axis = 1 : i32} : (tensor<2x1xf32>) -> tensor<2x1xf32>
  return %8, %9, %cast8, %10, %13, %18, %19, %21 : tensor<2x3xf32>, tensor<2x3xi32>, tensor<2x3xi8>, tensor<1x4x3xf32>, tensor<1x2x2xf32>, tensor<4x7xf32>, tensor<2xi32>, tensor<2x1xf32>
}
