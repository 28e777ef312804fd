// RUN: lora-opt %s -split-input-file --lora-fuse | FileCheck %s

// The branch as lora-insert writes it.
// CHECK-LABEL: func.func @insert_form(
// CHECK-SAME: %[[X:[^:]*]]: tensor<3x8xf32>, %[[A:[^:]*]]: tensor<8x2xf32>, %[[B:[^:]*]]: tensor<2x4xf32>)
// CHECK-DAG: %[[W:.*]] = arith.constant dense<5.000000e-01> : tensor<8x4xf32>
// CHECK-DAG: %[[X3:.*]] = tosa.reshape %[[X]]
// CHECK-NOT: tosa.matmul
// CHECK: %[[Y:.*]] = lora.linear %[[X3]], %[[W]], %[[A]], %[[B]] {rank = 2 : i64, scale = 2.000000e+00 : f64} : (tensor<1x3x8xf32>, tensor<8x4xf32>, tensor<8x2xf32>, tensor<2x4xf32>) -> tensor<1x3x4xf32>
// CHECK: %[[Y2:.*]] = tosa.reshape %[[Y]], %{{.*}} -> tensor<3x4xf32>
// CHECK-NOT: tosa.matmul
// CHECK: return %[[Y2]]
func.func @insert_form(%x: tensor<3x8xf32>, %a: tensor<8x2xf32>, %b: tensor<2x4xf32>) -> tensor<3x4xf32> {
  %w = arith.constant dense<0.5> : tensor<8x4xf32>
  %zp = "tosa.const"() <{values = dense<0.0> : tensor<1xf32>}> : () -> tensor<1xf32>
  %shift = "tosa.const"() <{values = dense<0> : tensor<1xi8>}> : () -> tensor<1xi8>
  %s = "tosa.const"() <{values = dense<2.0> : tensor<1x1x1xf32>}> : () -> tensor<1x1x1xf32>
  %sx = tosa.const_shape {values = dense<[1, 3, 8]> : tensor<3xindex>} : () -> !tosa.shape<3>
  %sw = tosa.const_shape {values = dense<[1, 8, 4]> : tensor<3xindex>} : () -> !tosa.shape<3>
  %sa = tosa.const_shape {values = dense<[1, 8, 2]> : tensor<3xindex>} : () -> !tosa.shape<3>
  %sb = tosa.const_shape {values = dense<[1, 2, 4]> : tensor<3xindex>} : () -> !tosa.shape<3>
  %sy = tosa.const_shape {values = dense<[3, 4]> : tensor<2xindex>} : () -> !tosa.shape<2>
  %x3 = tosa.reshape %x, %sx : (tensor<3x8xf32>, !tosa.shape<3>) -> tensor<1x3x8xf32>
  %w3 = tosa.reshape %w, %sw : (tensor<8x4xf32>, !tosa.shape<3>) -> tensor<1x8x4xf32>
  %xw = tosa.matmul %x3, %w3, %zp, %zp : (tensor<1x3x8xf32>, tensor<1x8x4xf32>, tensor<1xf32>, tensor<1xf32>) -> tensor<1x3x4xf32>
  %a3 = tosa.reshape %a, %sa : (tensor<8x2xf32>, !tosa.shape<3>) -> tensor<1x8x2xf32>
  %xa = tosa.matmul %x3, %a3, %zp, %zp : (tensor<1x3x8xf32>, tensor<1x8x2xf32>, tensor<1xf32>, tensor<1xf32>) -> tensor<1x3x2xf32>
  %b3 = tosa.reshape %b, %sb : (tensor<2x4xf32>, !tosa.shape<3>) -> tensor<1x2x4xf32>
  %xab = tosa.matmul %xa, %b3, %zp, %zp : (tensor<1x3x2xf32>, tensor<1x2x4xf32>, tensor<1xf32>, tensor<1xf32>) -> tensor<1x3x4xf32>
  %sxab = tosa.mul %xab, %s, %shift : (tensor<1x3x4xf32>, tensor<1x1x1xf32>, tensor<1xi8>) -> tensor<1x3x4xf32>
  %sum = tosa.add %xw, %sxab : (tensor<1x3x4xf32>, tensor<1x3x4xf32>) -> tensor<1x3x4xf32>
  %y = tosa.reshape %sum, %sy : (tensor<1x3x4xf32>, !tosa.shape<2>) -> tensor<3x4xf32>
  return %y : tensor<3x4xf32>
}

// -----

// A PEFT model exported unmerged to ONNX, converted to TOSA: each MatMul
// reshapes its input to [1, M, K] and its result back to [B, S, N], so the
// branch goes [1, M, r] -> [B, S, r] -> [1, M, r]; the LoRA weights are
// constants, the scale a Mul after B, the add in [B, S, N].
// CHECK-LABEL: func.func @peft_export(
// CHECK-SAME: %[[X:[^:]*]]: tensor<2x3x8xf32>)
// CHECK-DAG: %[[W:.*]] = arith.constant dense<5.000000e-01> : tensor<8x4xf32>
// CHECK-DAG: %[[A:.*]] = arith.constant dense<2.500000e-01> : tensor<8x2xf32>
// CHECK-DAG: %[[B:.*]] = arith.constant dense<1.250000e-01> : tensor<2x4xf32>
// CHECK-DAG: %[[X3:.*]] = tosa.reshape %[[X]], %{{.*}} -> tensor<1x6x8xf32>
// CHECK-NOT: tosa.matmul
// CHECK: %[[Y:.*]] = lora.linear %[[X3]], %[[W]], %[[A]], %[[B]] {rank = 2 : i64, scale = 5.000000e-01 : f64} : (tensor<1x6x8xf32>, tensor<8x4xf32>, tensor<8x2xf32>, tensor<2x4xf32>) -> tensor<1x6x4xf32>
// CHECK: %[[Y3:.*]] = tosa.reshape %[[Y]], %{{.*}} -> tensor<2x3x4xf32>
// CHECK-NOT: tosa.matmul
// CHECK: return %[[Y3]]
func.func @peft_export(%x: tensor<2x3x8xf32>) -> tensor<2x3x4xf32> {
  %w = arith.constant dense<0.5> : tensor<8x4xf32>
  %a = arith.constant dense<0.25> : tensor<8x2xf32>
  %b = arith.constant dense<0.125> : tensor<2x4xf32>
  %zp = "tosa.const"() <{values = dense<0.0> : tensor<1xf32>}> : () -> tensor<1xf32>
  %shift = "tosa.const"() <{values = dense<0> : tensor<1xi8>}> : () -> tensor<1xi8>
  %s = "tosa.const"() <{values = dense<0.5> : tensor<1x1x1xf32>}> : () -> tensor<1x1x1xf32>
  %s_1m8 = tosa.const_shape {values = dense<[1, 6, 8]> : tensor<3xindex>} : () -> !tosa.shape<3>
  %s_1k4 = tosa.const_shape {values = dense<[1, 8, 4]> : tensor<3xindex>} : () -> !tosa.shape<3>
  %s_1k2 = tosa.const_shape {values = dense<[1, 8, 2]> : tensor<3xindex>} : () -> !tosa.shape<3>
  %s_124 = tosa.const_shape {values = dense<[1, 2, 4]> : tensor<3xindex>} : () -> !tosa.shape<3>
  %s_1m2 = tosa.const_shape {values = dense<[1, 6, 2]> : tensor<3xindex>} : () -> !tosa.shape<3>
  %s_bs2 = tosa.const_shape {values = dense<[2, 3, 2]> : tensor<3xindex>} : () -> !tosa.shape<3>
  %s_bs4 = tosa.const_shape {values = dense<[2, 3, 4]> : tensor<3xindex>} : () -> !tosa.shape<3>
  // MatMul(x, W)
  %x3 = tosa.reshape %x, %s_1m8 : (tensor<2x3x8xf32>, !tosa.shape<3>) -> tensor<1x6x8xf32>
  %w3 = tosa.reshape %w, %s_1k4 : (tensor<8x4xf32>, !tosa.shape<3>) -> tensor<1x8x4xf32>
  %xw3 = tosa.matmul %x3, %w3, %zp, %zp : (tensor<1x6x8xf32>, tensor<1x8x4xf32>, tensor<1xf32>, tensor<1xf32>) -> tensor<1x6x4xf32>
  %xw = tosa.reshape %xw3, %s_bs4 : (tensor<1x6x4xf32>, !tosa.shape<3>) -> tensor<2x3x4xf32>
  // MatMul(x, A)
  %x3b = tosa.reshape %x, %s_1m8 : (tensor<2x3x8xf32>, !tosa.shape<3>) -> tensor<1x6x8xf32>
  %a3 = tosa.reshape %a, %s_1k2 : (tensor<8x2xf32>, !tosa.shape<3>) -> tensor<1x8x2xf32>
  %xa3 = tosa.matmul %x3b, %a3, %zp, %zp : (tensor<1x6x8xf32>, tensor<1x8x2xf32>, tensor<1xf32>, tensor<1xf32>) -> tensor<1x6x2xf32>
  %xa = tosa.reshape %xa3, %s_bs2 : (tensor<1x6x2xf32>, !tosa.shape<3>) -> tensor<2x3x2xf32>
  // MatMul(x·A, B)
  %xa3b = tosa.reshape %xa, %s_1m2 : (tensor<2x3x2xf32>, !tosa.shape<3>) -> tensor<1x6x2xf32>
  %b3 = tosa.reshape %b, %s_124 : (tensor<2x4xf32>, !tosa.shape<3>) -> tensor<1x2x4xf32>
  %xab3 = tosa.matmul %xa3b, %b3, %zp, %zp : (tensor<1x6x2xf32>, tensor<1x2x4xf32>, tensor<1xf32>, tensor<1xf32>) -> tensor<1x6x4xf32>
  %xab = tosa.reshape %xab3, %s_bs4 : (tensor<1x6x4xf32>, !tosa.shape<3>) -> tensor<2x3x4xf32>
  // Mul, Add
  %sxab = tosa.mul %xab, %s, %shift : (tensor<2x3x4xf32>, tensor<1x1x1xf32>, tensor<1xi8>) -> tensor<2x3x4xf32>
  %y = tosa.add %xw, %sxab : (tensor<2x3x4xf32>, tensor<2x3x4xf32>) -> tensor<2x3x4xf32>
  return %y : tensor<2x3x4xf32>
}

// -----

// (s·(x·A))·B, with the add's operands swapped.
// CHECK-LABEL: func.func @scale_before_b(
// CHECK-SAME: %[[X:[^:]*]]: tensor<1x3x8xf32>, %[[A:[^:]*]]: tensor<1x8x2xf32>, %[[B:[^:]*]]: tensor<1x2x4xf32>)
// CHECK-DAG: %[[A2:.*]] = tosa.reshape %[[A]], %{{.*}} -> tensor<8x2xf32>
// CHECK-DAG: %[[B2:.*]] = tosa.reshape %[[B]], %{{.*}} -> tensor<2x4xf32>
// CHECK-NOT: tosa.matmul
// CHECK: %[[Y:.*]] = lora.linear %[[X]], %{{.*}}, %[[A2]], %[[B2]] {rank = 2 : i64, scale = 4.000000e+00 : f64} : (tensor<1x3x8xf32>, tensor<8x4xf32>, tensor<8x2xf32>, tensor<2x4xf32>) -> tensor<1x3x4xf32>
// CHECK-NOT: tosa.matmul
// CHECK: return %[[Y]]
func.func @scale_before_b(%x: tensor<1x3x8xf32>, %a: tensor<1x8x2xf32>, %b: tensor<1x2x4xf32>) -> tensor<1x3x4xf32> {
  %w = "tosa.const"() <{values = dense<0.5> : tensor<1x8x4xf32>}> : () -> tensor<1x8x4xf32>
  %zp = "tosa.const"() <{values = dense<0.0> : tensor<1xf32>}> : () -> tensor<1xf32>
  %shift = "tosa.const"() <{values = dense<0> : tensor<1xi8>}> : () -> tensor<1xi8>
  %s = "tosa.const"() <{values = dense<4.0> : tensor<1x1x1xf32>}> : () -> tensor<1x1x1xf32>
  %xw = tosa.matmul %x, %w, %zp, %zp : (tensor<1x3x8xf32>, tensor<1x8x4xf32>, tensor<1xf32>, tensor<1xf32>) -> tensor<1x3x4xf32>
  %xa = tosa.matmul %x, %a, %zp, %zp : (tensor<1x3x8xf32>, tensor<1x8x2xf32>, tensor<1xf32>, tensor<1xf32>) -> tensor<1x3x2xf32>
  %sxa = tosa.mul %s, %xa, %shift : (tensor<1x1x1xf32>, tensor<1x3x2xf32>, tensor<1xi8>) -> tensor<1x3x2xf32>
  %sxab = tosa.matmul %sxa, %b, %zp, %zp : (tensor<1x3x2xf32>, tensor<1x2x4xf32>, tensor<1xf32>, tensor<1xf32>) -> tensor<1x3x4xf32>
  %y = tosa.add %sxab, %xw : (tensor<1x3x4xf32>, tensor<1x3x4xf32>) -> tensor<1x3x4xf32>
  return %y : tensor<1x3x4xf32>
}

// -----

// A constant bias added to x·W (Gemm with C) becomes the bias operand.
// CHECK-LABEL: func.func @bias(
// CHECK-SAME: %[[X:[^:]*]]: tensor<3x8xf32>, %[[A:[^:]*]]: tensor<8x2xf32>, %[[B:[^:]*]]: tensor<2x4xf32>)
// CHECK-DAG: %[[W:.*]] = arith.constant dense<5.000000e-01> : tensor<8x4xf32>
// CHECK-DAG: %[[C:.*]] = "tosa.const"() <{values = dense<[1.000000e+00, 2.000000e+00, 3.000000e+00, 4.000000e+00]> : tensor<4xf32>}>
// CHECK-DAG: %[[X3:.*]] = tosa.reshape %[[X]]
// CHECK-NOT: tosa.matmul
// CHECK-NOT: tosa.add
// CHECK: %[[Y:.*]] = lora.linear %[[X3]], %[[W]], %[[A]], %[[B]] bias(%[[C]]) {rank = 2 : i64, scale = 2.000000e+00 : f64} : (tensor<1x3x8xf32>, tensor<8x4xf32>, tensor<8x2xf32>, tensor<2x4xf32>, tensor<4xf32>) -> tensor<1x3x4xf32>
// CHECK: %[[Y2:.*]] = tosa.reshape %[[Y]], %{{.*}} -> tensor<3x4xf32>
// CHECK-NOT: tosa.matmul
// CHECK-NOT: tosa.add
// CHECK: return %[[Y2]]
func.func @bias(%x: tensor<3x8xf32>, %a: tensor<8x2xf32>, %b: tensor<2x4xf32>) -> tensor<3x4xf32> {
  %w = arith.constant dense<0.5> : tensor<8x4xf32>
  %c = "tosa.const"() <{values = dense<[[1.0, 2.0, 3.0, 4.0]]> : tensor<1x4xf32>}> : () -> tensor<1x4xf32>
  %zp = "tosa.const"() <{values = dense<0.0> : tensor<1xf32>}> : () -> tensor<1xf32>
  %shift = "tosa.const"() <{values = dense<0> : tensor<1xi8>}> : () -> tensor<1xi8>
  %s = "tosa.const"() <{values = dense<2.0> : tensor<1x1xf32>}> : () -> tensor<1x1xf32>
  %sx = tosa.const_shape {values = dense<[1, 3, 8]> : tensor<3xindex>} : () -> !tosa.shape<3>
  %sw = tosa.const_shape {values = dense<[1, 8, 4]> : tensor<3xindex>} : () -> !tosa.shape<3>
  %sa = tosa.const_shape {values = dense<[1, 8, 2]> : tensor<3xindex>} : () -> !tosa.shape<3>
  %sb = tosa.const_shape {values = dense<[1, 2, 4]> : tensor<3xindex>} : () -> !tosa.shape<3>
  %sy = tosa.const_shape {values = dense<[3, 4]> : tensor<2xindex>} : () -> !tosa.shape<2>
  %x3 = tosa.reshape %x, %sx : (tensor<3x8xf32>, !tosa.shape<3>) -> tensor<1x3x8xf32>
  %w3 = tosa.reshape %w, %sw : (tensor<8x4xf32>, !tosa.shape<3>) -> tensor<1x8x4xf32>
  %xw3 = tosa.matmul %x3, %w3, %zp, %zp : (tensor<1x3x8xf32>, tensor<1x8x4xf32>, tensor<1xf32>, tensor<1xf32>) -> tensor<1x3x4xf32>
  %xw = tosa.reshape %xw3, %sy : (tensor<1x3x4xf32>, !tosa.shape<2>) -> tensor<3x4xf32>
  %xwc = tosa.add %xw, %c : (tensor<3x4xf32>, tensor<1x4xf32>) -> tensor<3x4xf32>
  %a3 = tosa.reshape %a, %sa : (tensor<8x2xf32>, !tosa.shape<3>) -> tensor<1x8x2xf32>
  %xa = tosa.matmul %x3, %a3, %zp, %zp : (tensor<1x3x8xf32>, tensor<1x8x2xf32>, tensor<1xf32>, tensor<1xf32>) -> tensor<1x3x2xf32>
  %b3 = tosa.reshape %b, %sb : (tensor<2x4xf32>, !tosa.shape<3>) -> tensor<1x2x4xf32>
  %xab3 = tosa.matmul %xa, %b3, %zp, %zp : (tensor<1x3x2xf32>, tensor<1x2x4xf32>, tensor<1xf32>, tensor<1xf32>) -> tensor<1x3x4xf32>
  %xab = tosa.reshape %xab3, %sy : (tensor<1x3x4xf32>, !tosa.shape<2>) -> tensor<3x4xf32>
  %sxab = tosa.mul %xab, %s, %shift : (tensor<3x4xf32>, tensor<1x1xf32>, tensor<1xi8>) -> tensor<3x4xf32>
  %y = tosa.add %xwc, %sxab : (tensor<3x4xf32>, tensor<3x4xf32>) -> tensor<3x4xf32>
  return %y : tensor<3x4xf32>
}

// -----

// f16 as lora-insert writes it: matmuls accumulate in f32, x·A is cast back
// to f16. The fused op is f16; the f32 users get a cast.
// CHECK-LABEL: func.func @f16(
// CHECK-SAME: %[[X:[^:]*]]: tensor<1x3x8xf16>, %[[A:[^:]*]]: tensor<1x8x2xf16>, %[[B:[^:]*]]: tensor<1x2x4xf16>)
// CHECK-NOT: tosa.matmul
// CHECK: %[[Y:.*]] = lora.linear %[[X]], %{{.*}}, %{{.*}}, %{{.*}} {rank = 2 : i64, scale = 4.000000e+00 : f64} : (tensor<1x3x8xf16>, tensor<8x4xf16>, tensor<8x2xf16>, tensor<2x4xf16>) -> tensor<1x3x4xf16>
// CHECK: %[[Y32:.*]] = tosa.cast %[[Y]] : (tensor<1x3x4xf16>) -> tensor<1x3x4xf32>
// CHECK: %[[Y16:.*]] = tosa.cast %[[Y32]] : (tensor<1x3x4xf32>) -> tensor<1x3x4xf16>
// CHECK-NOT: tosa.matmul
// CHECK: return %[[Y16]]
func.func @f16(%x: tensor<1x3x8xf16>, %a: tensor<1x8x2xf16>, %b: tensor<1x2x4xf16>) -> tensor<1x3x4xf16> {
  %w = "tosa.const"() <{values = dense<0.5> : tensor<1x8x4xf16>}> : () -> tensor<1x8x4xf16>
  %zp = "tosa.const"() <{values = dense<0.0> : tensor<1xf16>}> : () -> tensor<1xf16>
  %shift = "tosa.const"() <{values = dense<0> : tensor<1xi8>}> : () -> tensor<1xi8>
  %s = "tosa.const"() <{values = dense<4.0> : tensor<1x1x1xf32>}> : () -> tensor<1x1x1xf32>
  %xw = tosa.matmul %x, %w, %zp, %zp : (tensor<1x3x8xf16>, tensor<1x8x4xf16>, tensor<1xf16>, tensor<1xf16>) -> tensor<1x3x4xf32>
  %xa = tosa.matmul %x, %a, %zp, %zp : (tensor<1x3x8xf16>, tensor<1x8x2xf16>, tensor<1xf16>, tensor<1xf16>) -> tensor<1x3x2xf32>
  %xa16 = tosa.cast %xa : (tensor<1x3x2xf32>) -> tensor<1x3x2xf16>
  %xab = tosa.matmul %xa16, %b, %zp, %zp : (tensor<1x3x2xf16>, tensor<1x2x4xf16>, tensor<1xf16>, tensor<1xf16>) -> tensor<1x3x4xf32>
  %sxab = tosa.mul %xab, %s, %shift : (tensor<1x3x4xf32>, tensor<1x1x1xf32>, tensor<1xi8>) -> tensor<1x3x4xf32>
  %sum = tosa.add %xw, %sxab : (tensor<1x3x4xf32>, tensor<1x3x4xf32>) -> tensor<1x3x4xf32>
  %y = tosa.cast %sum : (tensor<1x3x4xf32>) -> tensor<1x3x4xf16>
  return %y : tensor<1x3x4xf16>
}

// -----

// The branch reads another x than the frozen matmul.
// CHECK-LABEL: func.func @no_different_x(
// CHECK-NOT: lora.linear
// CHECK-COUNT-3: tosa.matmul
// CHECK-NOT: lora.linear
func.func @no_different_x(%x: tensor<1x3x8xf32>, %x2: tensor<1x3x8xf32>, %a: tensor<1x8x2xf32>, %b: tensor<1x2x4xf32>) -> tensor<1x3x4xf32> {
  %w = "tosa.const"() <{values = dense<0.5> : tensor<1x8x4xf32>}> : () -> tensor<1x8x4xf32>
  %zp = "tosa.const"() <{values = dense<0.0> : tensor<1xf32>}> : () -> tensor<1xf32>
  %shift = "tosa.const"() <{values = dense<0> : tensor<1xi8>}> : () -> tensor<1xi8>
  %s = "tosa.const"() <{values = dense<2.0> : tensor<1x1x1xf32>}> : () -> tensor<1x1x1xf32>
  %xw = tosa.matmul %x, %w, %zp, %zp : (tensor<1x3x8xf32>, tensor<1x8x4xf32>, tensor<1xf32>, tensor<1xf32>) -> tensor<1x3x4xf32>
  %xa = tosa.matmul %x2, %a, %zp, %zp : (tensor<1x3x8xf32>, tensor<1x8x2xf32>, tensor<1xf32>, tensor<1xf32>) -> tensor<1x3x2xf32>
  %xab = tosa.matmul %xa, %b, %zp, %zp : (tensor<1x3x2xf32>, tensor<1x2x4xf32>, tensor<1xf32>, tensor<1xf32>) -> tensor<1x3x4xf32>
  %sxab = tosa.mul %xab, %s, %shift : (tensor<1x3x4xf32>, tensor<1x1x1xf32>, tensor<1xi8>) -> tensor<1x3x4xf32>
  %y = tosa.add %xw, %sxab : (tensor<1x3x4xf32>, tensor<1x3x4xf32>) -> tensor<1x3x4xf32>
  return %y : tensor<1x3x4xf32>
}

// -----

// x·A has another use: fusing would compute it twice.
// CHECK-LABEL: func.func @no_shared_xa(
// CHECK-NOT: lora.linear
// CHECK-COUNT-3: tosa.matmul
// CHECK-NOT: lora.linear
func.func @no_shared_xa(%x: tensor<1x3x8xf32>, %a: tensor<1x8x2xf32>, %b: tensor<1x2x4xf32>) -> (tensor<1x3x4xf32>, tensor<1x3x2xf32>) {
  %w = "tosa.const"() <{values = dense<0.5> : tensor<1x8x4xf32>}> : () -> tensor<1x8x4xf32>
  %zp = "tosa.const"() <{values = dense<0.0> : tensor<1xf32>}> : () -> tensor<1xf32>
  %shift = "tosa.const"() <{values = dense<0> : tensor<1xi8>}> : () -> tensor<1xi8>
  %s = "tosa.const"() <{values = dense<2.0> : tensor<1x1x1xf32>}> : () -> tensor<1x1x1xf32>
  %xw = tosa.matmul %x, %w, %zp, %zp : (tensor<1x3x8xf32>, tensor<1x8x4xf32>, tensor<1xf32>, tensor<1xf32>) -> tensor<1x3x4xf32>
  %xa = tosa.matmul %x, %a, %zp, %zp : (tensor<1x3x8xf32>, tensor<1x8x2xf32>, tensor<1xf32>, tensor<1xf32>) -> tensor<1x3x2xf32>
  %xab = tosa.matmul %xa, %b, %zp, %zp : (tensor<1x3x2xf32>, tensor<1x2x4xf32>, tensor<1xf32>, tensor<1xf32>) -> tensor<1x3x4xf32>
  %sxab = tosa.mul %xab, %s, %shift : (tensor<1x3x4xf32>, tensor<1x1x1xf32>, tensor<1xi8>) -> tensor<1x3x4xf32>
  %y = tosa.add %xw, %sxab : (tensor<1x3x4xf32>, tensor<1x3x4xf32>) -> tensor<1x3x4xf32>
  return %y, %xa : tensor<1x3x4xf32>, tensor<1x3x2xf32>
}

// -----

// A per-column scale is not a LoRA scale.
// CHECK-LABEL: func.func @no_non_splat_scale(
// CHECK-NOT: lora.linear
// CHECK-COUNT-3: tosa.matmul
// CHECK-NOT: lora.linear
func.func @no_non_splat_scale(%x: tensor<1x3x8xf32>, %a: tensor<1x8x2xf32>, %b: tensor<1x2x4xf32>) -> tensor<1x3x4xf32> {
  %w = "tosa.const"() <{values = dense<0.5> : tensor<1x8x4xf32>}> : () -> tensor<1x8x4xf32>
  %zp = "tosa.const"() <{values = dense<0.0> : tensor<1xf32>}> : () -> tensor<1xf32>
  %shift = "tosa.const"() <{values = dense<0> : tensor<1xi8>}> : () -> tensor<1xi8>
  %s = "tosa.const"() <{values = dense<[[[1.0, 2.0, 3.0, 4.0]]]> : tensor<1x1x4xf32>}> : () -> tensor<1x1x4xf32>
  %xw = tosa.matmul %x, %w, %zp, %zp : (tensor<1x3x8xf32>, tensor<1x8x4xf32>, tensor<1xf32>, tensor<1xf32>) -> tensor<1x3x4xf32>
  %xa = tosa.matmul %x, %a, %zp, %zp : (tensor<1x3x8xf32>, tensor<1x8x2xf32>, tensor<1xf32>, tensor<1xf32>) -> tensor<1x3x2xf32>
  %xab = tosa.matmul %xa, %b, %zp, %zp : (tensor<1x3x2xf32>, tensor<1x2x4xf32>, tensor<1xf32>, tensor<1xf32>) -> tensor<1x3x4xf32>
  %sxab = tosa.mul %xab, %s, %shift : (tensor<1x3x4xf32>, tensor<1x1x4xf32>, tensor<1xi8>) -> tensor<1x3x4xf32>
  %y = tosa.add %xw, %sxab : (tensor<1x3x4xf32>, tensor<1x3x4xf32>) -> tensor<1x3x4xf32>
  return %y : tensor<1x3x4xf32>
}

// -----

// The scale is not a constant.
// CHECK-LABEL: func.func @no_variable_scale(
// CHECK-NOT: lora.linear
// CHECK-COUNT-3: tosa.matmul
// CHECK-NOT: lora.linear
func.func @no_variable_scale(%x: tensor<1x3x8xf32>, %a: tensor<1x8x2xf32>, %b: tensor<1x2x4xf32>, %s: tensor<1x1x1xf32>) -> tensor<1x3x4xf32> {
  %w = "tosa.const"() <{values = dense<0.5> : tensor<1x8x4xf32>}> : () -> tensor<1x8x4xf32>
  %zp = "tosa.const"() <{values = dense<0.0> : tensor<1xf32>}> : () -> tensor<1xf32>
  %shift = "tosa.const"() <{values = dense<0> : tensor<1xi8>}> : () -> tensor<1xi8>
  %xw = tosa.matmul %x, %w, %zp, %zp : (tensor<1x3x8xf32>, tensor<1x8x4xf32>, tensor<1xf32>, tensor<1xf32>) -> tensor<1x3x4xf32>
  %xa = tosa.matmul %x, %a, %zp, %zp : (tensor<1x3x8xf32>, tensor<1x8x2xf32>, tensor<1xf32>, tensor<1xf32>) -> tensor<1x3x2xf32>
  %xab = tosa.matmul %xa, %b, %zp, %zp : (tensor<1x3x2xf32>, tensor<1x2x4xf32>, tensor<1xf32>, tensor<1xf32>) -> tensor<1x3x4xf32>
  %sxab = tosa.mul %xab, %s, %shift : (tensor<1x3x4xf32>, tensor<1x1x1xf32>, tensor<1xi8>) -> tensor<1x3x4xf32>
  %y = tosa.add %xw, %sxab : (tensor<1x3x4xf32>, tensor<1x3x4xf32>) -> tensor<1x3x4xf32>
  return %y : tensor<1x3x4xf32>
}

// -----

// lora.linear needs scale > 0.
// CHECK-LABEL: func.func @no_negative_scale(
// CHECK-NOT: lora.linear
// CHECK-COUNT-3: tosa.matmul
// CHECK-NOT: lora.linear
func.func @no_negative_scale(%x: tensor<1x3x8xf32>, %a: tensor<1x8x2xf32>, %b: tensor<1x2x4xf32>) -> tensor<1x3x4xf32> {
  %w = "tosa.const"() <{values = dense<0.5> : tensor<1x8x4xf32>}> : () -> tensor<1x8x4xf32>
  %zp = "tosa.const"() <{values = dense<0.0> : tensor<1xf32>}> : () -> tensor<1xf32>
  %shift = "tosa.const"() <{values = dense<0> : tensor<1xi8>}> : () -> tensor<1xi8>
  %s = "tosa.const"() <{values = dense<-2.0> : tensor<1x1x1xf32>}> : () -> tensor<1x1x1xf32>
  %xw = tosa.matmul %x, %w, %zp, %zp : (tensor<1x3x8xf32>, tensor<1x8x4xf32>, tensor<1xf32>, tensor<1xf32>) -> tensor<1x3x4xf32>
  %xa = tosa.matmul %x, %a, %zp, %zp : (tensor<1x3x8xf32>, tensor<1x8x2xf32>, tensor<1xf32>, tensor<1xf32>) -> tensor<1x3x2xf32>
  %xab = tosa.matmul %xa, %b, %zp, %zp : (tensor<1x3x2xf32>, tensor<1x2x4xf32>, tensor<1xf32>, tensor<1xf32>) -> tensor<1x3x4xf32>
  %sxab = tosa.mul %xab, %s, %shift : (tensor<1x3x4xf32>, tensor<1x1x1xf32>, tensor<1xi8>) -> tensor<1x3x4xf32>
  %y = tosa.add %xw, %sxab : (tensor<1x3x4xf32>, tensor<1x3x4xf32>) -> tensor<1x3x4xf32>
  return %y : tensor<1x3x4xf32>
}

// -----

// The "frozen" matmul multiplies two activations (attention scores plus a
// low-rank term): there is no weight to adapt.
// CHECK-LABEL: func.func @no_constant_weight(
// CHECK-NOT: lora.linear
// CHECK-COUNT-3: tosa.matmul
// CHECK-NOT: lora.linear
func.func @no_constant_weight(%x: tensor<1x3x8xf32>, %k: tensor<1x8x4xf32>, %a: tensor<1x8x2xf32>, %b: tensor<1x2x4xf32>) -> tensor<1x3x4xf32> {
  %zp = "tosa.const"() <{values = dense<0.0> : tensor<1xf32>}> : () -> tensor<1xf32>
  %shift = "tosa.const"() <{values = dense<0> : tensor<1xi8>}> : () -> tensor<1xi8>
  %s = "tosa.const"() <{values = dense<2.0> : tensor<1x1x1xf32>}> : () -> tensor<1x1x1xf32>
  %xk = tosa.matmul %x, %k, %zp, %zp : (tensor<1x3x8xf32>, tensor<1x8x4xf32>, tensor<1xf32>, tensor<1xf32>) -> tensor<1x3x4xf32>
  %xa = tosa.matmul %x, %a, %zp, %zp : (tensor<1x3x8xf32>, tensor<1x8x2xf32>, tensor<1xf32>, tensor<1xf32>) -> tensor<1x3x2xf32>
  %xab = tosa.matmul %xa, %b, %zp, %zp : (tensor<1x3x2xf32>, tensor<1x2x4xf32>, tensor<1xf32>, tensor<1xf32>) -> tensor<1x3x4xf32>
  %sxab = tosa.mul %xab, %s, %shift : (tensor<1x3x4xf32>, tensor<1x1x1xf32>, tensor<1xi8>) -> tensor<1x3x4xf32>
  %y = tosa.add %xk, %sxab : (tensor<1x3x4xf32>, tensor<1x3x4xf32>) -> tensor<1x3x4xf32>
  return %y : tensor<1x3x4xf32>
}

// -----

// x·A [1, 6, 2] is reshaped to [1, 3, 4] before B: B's rows (4) are not the
// rank of A (2), so this is no (x·A)·B.
// CHECK-LABEL: func.func @no_chain(
// CHECK-NOT: lora.linear
// CHECK-COUNT-3: tosa.matmul
// CHECK-NOT: lora.linear
func.func @no_chain(%x: tensor<1x6x8xf32>, %a: tensor<1x8x2xf32>, %b: tensor<1x4x8xf32>) -> tensor<1x6x4xf32> {
  %w = "tosa.const"() <{values = dense<0.5> : tensor<1x8x4xf32>}> : () -> tensor<1x8x4xf32>
  %zp = "tosa.const"() <{values = dense<0.0> : tensor<1xf32>}> : () -> tensor<1xf32>
  %shift = "tosa.const"() <{values = dense<0> : tensor<1xi8>}> : () -> tensor<1xi8>
  %s = "tosa.const"() <{values = dense<2.0> : tensor<1x1x1xf32>}> : () -> tensor<1x1x1xf32>
  %s_134 = tosa.const_shape {values = dense<[1, 3, 4]> : tensor<3xindex>} : () -> !tosa.shape<3>
  %s_164 = tosa.const_shape {values = dense<[1, 6, 4]> : tensor<3xindex>} : () -> !tosa.shape<3>
  %xw = tosa.matmul %x, %w, %zp, %zp : (tensor<1x6x8xf32>, tensor<1x8x4xf32>, tensor<1xf32>, tensor<1xf32>) -> tensor<1x6x4xf32>
  %xa = tosa.matmul %x, %a, %zp, %zp : (tensor<1x6x8xf32>, tensor<1x8x2xf32>, tensor<1xf32>, tensor<1xf32>) -> tensor<1x6x2xf32>
  %xa2 = tosa.reshape %xa, %s_134 : (tensor<1x6x2xf32>, !tosa.shape<3>) -> tensor<1x3x4xf32>
  %xab = tosa.matmul %xa2, %b, %zp, %zp : (tensor<1x3x4xf32>, tensor<1x4x8xf32>, tensor<1xf32>, tensor<1xf32>) -> tensor<1x3x8xf32>
  %xab2 = tosa.reshape %xab, %s_164 : (tensor<1x3x8xf32>, !tosa.shape<3>) -> tensor<1x6x4xf32>
  %sxab = tosa.mul %xab2, %s, %shift : (tensor<1x6x4xf32>, tensor<1x1x1xf32>, tensor<1xi8>) -> tensor<1x6x4xf32>
  %y = tosa.add %xw, %sxab : (tensor<1x6x4xf32>, tensor<1x6x4xf32>) -> tensor<1x6x4xf32>
  return %y : tensor<1x6x4xf32>
}
