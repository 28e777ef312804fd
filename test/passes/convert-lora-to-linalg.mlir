// RUN: lora-opt %s --convert-lora-to-linalg | FileCheck %s

// The contraction maps of lora.linear_grad (@linear_grad_bf16).
// CHECK-DAG: #[[ROW_RED:.*]] = affine_map<(d0, d1, d2) -> (d0, d2)>
// CHECK-DAG: #[[RED_COL:.*]] = affine_map<(d0, d1, d2) -> (d2, d1)>
// CHECK-DAG: #[[RED_ROW:.*]] = affine_map<(d0, d1, d2) -> (d2, d0)>
// CHECK-DAG: #[[COL_RED:.*]] = affine_map<(d0, d1, d2) -> (d1, d2)>
// CHECK-DAG: #[[ID:.*]] = affine_map<(d0, d1) -> (d0, d1)>
// CHECK-DAG: #[[COL:.*]] = affine_map<(d0, d1) -> (d1)>
// CHECK-DAG: #[[SCALAR:.*]] = affine_map<(d0, d1, d2) -> ()>

// x is viewed as [M, K]; three matmuls into zero-filled inits; one generic
// adds x·W + s·(x·A)·B + bias; the result is viewed back as [2, 5, N].
// CHECK-LABEL: func.func @f32_bias_3d
// CHECK-SAME: (%[[X:.*]]: tensor<2x5x16xf32>, %[[W:.*]]: tensor<16x12xf32>, %[[A:.*]]: tensor<16x4xf32>, %[[B:.*]]: tensor<4x12xf32>, %[[BIAS:.*]]: tensor<12xf32>)
// CHECK-NOT: lora.linear
// CHECK: %[[X2:.*]] = tensor.collapse_shape %[[X]] {{\[\[}}0, 1], [2]] : tensor<2x5x16xf32> into tensor<10x16xf32>
// CHECK: %[[ZERO:.*]] = arith.constant 0.000000e+00 : f32
// CHECK: %[[XW_INIT:.*]] = linalg.fill ins(%[[ZERO]] : f32) outs(%{{.*}} : tensor<10x12xf32>)
// CHECK: %[[XW:.*]] = linalg.matmul ins(%[[X2]], %[[W]] : tensor<10x16xf32>, tensor<16x12xf32>) outs(%[[XW_INIT]] : tensor<10x12xf32>)
// CHECK: %[[T_INIT:.*]] = linalg.fill ins(%[[ZERO]] : f32) outs(%{{.*}} : tensor<10x4xf32>)
// CHECK: %[[T:.*]] = linalg.matmul ins(%[[X2]], %[[A]] : tensor<10x16xf32>, tensor<16x4xf32>) outs(%[[T_INIT]] : tensor<10x4xf32>)
// CHECK: %[[U_INIT:.*]] = linalg.fill ins(%[[ZERO]] : f32) outs(%{{.*}} : tensor<10x12xf32>)
// CHECK: %[[U:.*]] = linalg.matmul ins(%[[T]], %[[B]] : tensor<10x4xf32>, tensor<4x12xf32>) outs(%[[U_INIT]] : tensor<10x12xf32>)
// CHECK: %[[OUT:.*]] = tensor.empty() : tensor<10x12xf32>
// CHECK: %[[S:.*]] = arith.constant 2.000000e+00 : f32
// CHECK: %[[Y2:.*]] = linalg.generic {indexing_maps = [#[[ID]], #[[ID]], #[[COL]], #[[ID]]], iterator_types = ["parallel", "parallel"]}
// CHECK-SAME: ins(%[[XW]], %[[U]], %[[BIAS]] : tensor<10x12xf32>, tensor<10x12xf32>, tensor<12xf32>) outs(%[[OUT]] : tensor<10x12xf32>)
// CHECK: ^bb0(%[[XW_E:.*]]: f32, %[[U_E:.*]]: f32, %[[BIAS_E:.*]]: f32, %{{.*}}: f32):
// CHECK: %[[SU:.*]] = arith.mulf %[[S]], %[[U_E]] : f32
// CHECK: %[[SUM:.*]] = arith.addf %[[XW_E]], %[[SU]] : f32
// CHECK: %[[SUM_BIAS:.*]] = arith.addf %[[SUM]], %[[BIAS_E]] : f32
// CHECK: linalg.yield %[[SUM_BIAS]] : f32
// CHECK: %[[Y:.*]] = tensor.expand_shape %[[Y2]] {{\[\[}}0, 1], [2]] output_shape [2, 5, 12] : tensor<10x12xf32> into tensor<2x5x12xf32>
// CHECK: return %[[Y]]
func.func @f32_bias_3d(%x: tensor<2x5x16xf32>, %w: tensor<16x12xf32>, %a: tensor<16x4xf32>, %b: tensor<4x12xf32>, %bias: tensor<12xf32>) -> tensor<2x5x12xf32> {
  %y = lora.linear %x, %w, %a, %b bias(%bias) {rank = 4 : i64, scale = 2.0 : f64} : (tensor<2x5x16xf32>, tensor<16x12xf32>, tensor<16x4xf32>, tensor<4x12xf32>, tensor<12xf32>) -> tensor<2x5x12xf32>
  return %y : tensor<2x5x12xf32>
}

// f16 accumulates in f32: the matmuls write f32 inits (extending their f16
// operands), x·A stays f32 for the second matmul, and the epilogue rounds to
// f16 once, after the bias.
// CHECK-LABEL: func.func @f16_bias
// CHECK-SAME: (%[[X:.*]]: tensor<8x16xf16>, %[[W:.*]]: tensor<16x12xf16>, %[[A:.*]]: tensor<16x4xf16>, %[[B:.*]]: tensor<4x12xf16>, %[[BIAS:.*]]: tensor<12xf16>)
// CHECK: %[[ZERO:.*]] = arith.constant 0.000000e+00 : f32
// CHECK: %[[XW_INIT:.*]] = linalg.fill ins(%[[ZERO]] : f32) outs(%{{.*}} : tensor<8x12xf32>)
// CHECK: %[[XW:.*]] = linalg.matmul ins(%[[X]], %[[W]] : tensor<8x16xf16>, tensor<16x12xf16>) outs(%[[XW_INIT]] : tensor<8x12xf32>)
// CHECK: %[[T_INIT:.*]] = linalg.fill ins(%[[ZERO]] : f32) outs(%{{.*}} : tensor<8x4xf32>)
// CHECK: %[[T:.*]] = linalg.matmul ins(%[[X]], %[[A]] : tensor<8x16xf16>, tensor<16x4xf16>) outs(%[[T_INIT]] : tensor<8x4xf32>)
// CHECK: %[[U_INIT:.*]] = linalg.fill ins(%[[ZERO]] : f32) outs(%{{.*}} : tensor<8x12xf32>)
// CHECK: %[[U:.*]] = linalg.matmul ins(%[[T]], %[[B]] : tensor<8x4xf32>, tensor<4x12xf16>) outs(%[[U_INIT]] : tensor<8x12xf32>)
// CHECK: %[[OUT:.*]] = tensor.empty() : tensor<8x12xf16>
// CHECK: %[[S:.*]] = arith.constant 5.000000e-01 : f32
// CHECK: %[[Y:.*]] = linalg.generic
// CHECK-SAME: ins(%[[XW]], %[[U]], %[[BIAS]] : tensor<8x12xf32>, tensor<8x12xf32>, tensor<12xf16>) outs(%[[OUT]] : tensor<8x12xf16>)
// CHECK: ^bb0(%[[XW_E:.*]]: f32, %[[U_E:.*]]: f32, %[[BIAS_E:.*]]: f16, %{{.*}}: f16):
// CHECK: %[[SU:.*]] = arith.mulf %[[S]], %[[U_E]] : f32
// CHECK: %[[SUM:.*]] = arith.addf %[[XW_E]], %[[SU]] : f32
// CHECK: %[[BIAS32:.*]] = arith.extf %[[BIAS_E]] : f16 to f32
// CHECK: %[[SUM_BIAS:.*]] = arith.addf %[[SUM]], %[[BIAS32]] : f32
// CHECK: %[[ROUNDED:.*]] = arith.truncf %[[SUM_BIAS]] : f32 to f16
// CHECK: linalg.yield %[[ROUNDED]] : f16
// CHECK-NOT: arith.truncf
// CHECK: return %[[Y]]
func.func @f16_bias(%x: tensor<8x16xf16>, %w: tensor<16x12xf16>, %a: tensor<16x4xf16>, %b: tensor<4x12xf16>, %bias: tensor<12xf16>) -> tensor<8x12xf16> {
  %y = lora.linear %x, %w, %a, %b bias(%bias) {rank = 4 : i64, scale = 0.5 : f64} : (tensor<8x16xf16>, tensor<16x12xf16>, tensor<16x4xf16>, tensor<4x12xf16>, tensor<12xf16>) -> tensor<8x12xf16>
  return %y : tensor<8x12xf16>
}

// A vector input is one row: [K] -> [1, K], and [1, N] -> [N] at the end.
// CHECK-LABEL: func.func @rank1
// CHECK-SAME: (%[[X:.*]]: tensor<16xf32>, %[[W:.*]]: tensor<16x12xf32>, %[[A:.*]]: tensor<16x4xf32>, %[[B:.*]]: tensor<4x12xf32>)
// CHECK: %[[X2:.*]] = tensor.expand_shape %[[X]] {{\[\[}}0, 1]] output_shape [1, 16] : tensor<16xf32> into tensor<1x16xf32>
// CHECK: %[[XW:.*]] = linalg.matmul ins(%[[X2]], %[[W]] : tensor<1x16xf32>, tensor<16x12xf32>)
// CHECK: %[[T:.*]] = linalg.matmul ins(%[[X2]], %[[A]] : tensor<1x16xf32>, tensor<16x4xf32>)
// CHECK: %[[U:.*]] = linalg.matmul ins(%[[T]], %[[B]] : tensor<1x4xf32>, tensor<4x12xf32>)
// CHECK: %[[Y2:.*]] = linalg.generic {indexing_maps = [#[[ID]], #[[ID]], #[[ID]]], iterator_types = ["parallel", "parallel"]}
// CHECK-SAME: ins(%[[XW]], %[[U]] : tensor<1x12xf32>, tensor<1x12xf32>)
// CHECK: %[[Y:.*]] = tensor.collapse_shape %[[Y2]] {{\[\[}}0, 1]] : tensor<1x12xf32> into tensor<12xf32>
// CHECK: return %[[Y]]
func.func @rank1(%x: tensor<16xf32>, %w: tensor<16x12xf32>, %a: tensor<16x4xf32>, %b: tensor<4x12xf32>) -> tensor<12xf32> {
  %y = lora.linear %x, %w, %a, %b {rank = 4 : i64, scale = 2.0 : f64} : (tensor<16xf32>, tensor<16x12xf32>, tensor<16x4xf32>, tensor<4x12xf32>) -> tensor<12xf32>
  return %y : tensor<12xf32>
}

// Dynamic leading dims: M and the expanded result take their sizes from
// tensor.dim.
// CHECK-LABEL: func.func @dynamic_batch
// CHECK-SAME: (%[[X:.*]]: tensor<?x5x16xf32>, %[[W:.*]]: tensor<16x12xf32>
// CHECK: %[[X2:.*]] = tensor.collapse_shape %[[X]] {{\[\[}}0, 1], [2]] : tensor<?x5x16xf32> into tensor<?x16xf32>
// CHECK: %[[M:.*]] = tensor.dim %[[X2]], %{{.*}} : tensor<?x16xf32>
// CHECK: %[[XW_EMPTY:.*]] = tensor.empty(%[[M]]) : tensor<?x12xf32>
// CHECK: %[[Y2:.*]] = linalg.generic
// CHECK: %[[BATCH:.*]] = tensor.dim %[[X]], %{{.*}} : tensor<?x5x16xf32>
// CHECK: %[[Y:.*]] = tensor.expand_shape %[[Y2]] {{\[\[}}0, 1], [2]] output_shape [%[[BATCH]], 5, 12] : tensor<?x12xf32> into tensor<?x5x12xf32>
// CHECK: return %[[Y]]
func.func @dynamic_batch(%x: tensor<?x5x16xf32>, %w: tensor<16x12xf32>, %a: tensor<16x4xf32>, %b: tensor<4x12xf32>) -> tensor<?x5x12xf32> {
  %y = lora.linear %x, %w, %a, %b {rank = 4 : i64, scale = 2.0 : f64} : (tensor<?x5x16xf32>, tensor<16x12xf32>, tensor<16x4xf32>, tensor<4x12xf32>) -> tensor<?x5x12xf32>
  return %y : tensor<?x5x12xf32>
}

// The result type may be more static than x; a tensor.cast gives it.
// CHECK-LABEL: func.func @static_result
// CHECK: %[[Y2:.*]] = linalg.generic
// CHECK: %[[Y:.*]] = tensor.cast %[[Y2]] : tensor<?x12xf32> to tensor<4x12xf32>
// CHECK: return %[[Y]]
func.func @static_result(%x: tensor<?x16xf32>, %w: tensor<16x12xf32>, %a: tensor<16x4xf32>, %b: tensor<4x12xf32>) -> tensor<4x12xf32> {
  %y = lora.linear %x, %w, %a, %b {rank = 4 : i64, scale = 2.0 : f64} : (tensor<?x16xf32>, tensor<16x12xf32>, tensor<16x4xf32>, tensor<4x12xf32>) -> tensor<4x12xf32>
  return %y : tensor<4x12xf32>
}

// Other ops are left alone.
// CHECK-LABEL: func.func @no_lora
// CHECK: tosa.add
// CHECK-NOT: linalg.
func.func @no_lora(%x: tensor<4xf32>) -> tensor<4xf32> {
  %y = tosa.add %x, %x : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
  return %y : tensor<4xf32>
}

// lora.linear_grad: t = x·A, dB = s·tᵀ·g, dt = s·g·Bᵀ, dA = xᵀ·dt and
// dx = g·Wᵀ + dt·Aᵀ as contractions (reduction innermost) in f32 for bf16,
// each result rounded once; dx accumulates both products in one f32 tensor.
// CHECK-LABEL: func.func @linear_grad_bf16(
// CHECK-SAME: %[[X:.*]]: tensor<2x3x8xbf16>, %[[W:.*]]: tensor<8x6xbf16>, %[[A:.*]]: tensor<8x2xbf16>, %[[B:.*]]: tensor<2x6xbf16>, %[[G:.*]]: tensor<2x3x6xbf16>)
// CHECK: %[[X2:.*]] = tensor.collapse_shape %[[X]] {{\[\[}}0, 1], [2]] : tensor<2x3x8xbf16> into tensor<6x8xbf16>
// CHECK: %[[G2:.*]] = tensor.collapse_shape %[[G]] {{\[\[}}0, 1], [2]] : tensor<2x3x6xbf16> into tensor<6x6xbf16>
// CHECK: %[[T:.*]] = linalg.generic {indexing_maps = [#[[ROW_RED]], #[[RED_COL]], #{{.*}}], iterator_types = ["parallel", "parallel", "reduction"]} ins(%[[X2]], %[[A]] : tensor<6x8xbf16>, tensor<8x2xbf16>) outs(%{{.*}} : tensor<6x2xf32>)
// CHECK: %[[DB_ACC:.*]] = linalg.generic {indexing_maps = [#[[RED_ROW]], #[[RED_COL]], #{{.*}}], {{.*}} ins(%[[T]], %[[G2]] : tensor<6x2xf32>, tensor<6x6xbf16>) outs(%{{.*}} : tensor<2x6xf32>)
// CHECK: %[[DB:.*]] = linalg.generic {{.*}} ins(%[[DB_ACC]] : tensor<2x6xf32>) outs(%{{.*}} : tensor<2x6xbf16>)
// CHECK: arith.mulf %{{.*}}, %{{.*}} : f32
// CHECK: arith.truncf %{{.*}} : f32 to bf16
// CHECK: %[[DT_ACC:.*]] = linalg.generic {indexing_maps = [#[[ROW_RED]], #[[COL_RED]], #{{.*}}], {{.*}} ins(%[[G2]], %[[B]] : tensor<6x6xbf16>, tensor<2x6xbf16>) outs(%{{.*}} : tensor<6x2xf32>)
// CHECK: %[[DT:.*]] = linalg.generic {{.*}} ins(%[[DT_ACC]] : tensor<6x2xf32>) outs(%{{.*}} : tensor<6x2xf32>)
// CHECK: %[[DA_ACC:.*]] = linalg.generic {indexing_maps = [#[[RED_ROW]], #[[RED_COL]], #{{.*}}], {{.*}} ins(%[[X2]], %[[DT]] : tensor<6x8xbf16>, tensor<6x2xf32>) outs(%{{.*}} : tensor<8x2xf32>)
// CHECK: %[[DA:.*]] = linalg.generic {{.*}} ins(%[[DA_ACC]] : tensor<8x2xf32>) outs(%{{.*}} : tensor<8x2xbf16>)
// CHECK: %[[DX_W:.*]] = linalg.generic {indexing_maps = [#[[ROW_RED]], #[[COL_RED]], #{{.*}}], {{.*}} ins(%[[G2]], %[[W]] : tensor<6x6xbf16>, tensor<8x6xbf16>) outs(%{{.*}} : tensor<6x8xf32>)
// CHECK: %[[DX_ACC:.*]] = linalg.generic {indexing_maps = [#[[ROW_RED]], #[[COL_RED]], #{{.*}}], {{.*}} ins(%[[DT]], %[[A]] : tensor<6x2xf32>, tensor<8x2xbf16>) outs(%[[DX_W]] : tensor<6x8xf32>)
// CHECK: %[[DX2:.*]] = linalg.generic {{.*}} ins(%[[DX_ACC]] : tensor<6x8xf32>) outs(%{{.*}} : tensor<6x8xbf16>)
// CHECK: %[[DX:.*]] = tensor.expand_shape %[[DX2]] {{\[\[}}0, 1], [2]] output_shape [2, 3, 8] : tensor<6x8xbf16> into tensor<2x3x8xbf16>
// CHECK: return %[[DX]], %[[DA]], %[[DB]]
func.func @linear_grad_bf16(%x: tensor<2x3x8xbf16>, %w: tensor<8x6xbf16>, %a: tensor<8x2xbf16>,
    %b: tensor<2x6xbf16>, %g: tensor<2x3x6xbf16>)
    -> (tensor<2x3x8xbf16>, tensor<8x2xbf16>, tensor<2x6xbf16>) {
  %dx, %da, %db = lora.linear_grad %x, %w, %a, %b, %g {rank = 2 : i64, scale = 0.5 : f64}
      : (tensor<2x3x8xbf16>, tensor<8x6xbf16>, tensor<8x2xbf16>, tensor<2x6xbf16>, tensor<2x3x6xbf16>)
      -> (tensor<2x3x8xbf16>, tensor<8x2xbf16>, tensor<2x6xbf16>)
  return %dx, %da, %db : tensor<2x3x8xbf16>, tensor<8x2xbf16>, tensor<2x6xbf16>
}

// Without a use of dx, only t, dB, dt and dA are computed; f32 needs no
// rounding epilogue for dA.
// CHECK-LABEL: func.func @no_input_grad(
// CHECK-COUNT-4: iterator_types = ["parallel", "parallel", "reduction"]
// CHECK-NOT: iterator_types = ["parallel", "parallel", "reduction"]
// CHECK: return
func.func @no_input_grad(%x: tensor<4x8xf32>, %w: tensor<8x6xf32>, %a: tensor<8x2xf32>,
    %b: tensor<2x6xf32>, %g: tensor<4x6xf32>) -> (tensor<8x2xf32>, tensor<2x6xf32>) {
  %dx, %da, %db = lora.linear_grad %x, %w, %a, %b, %g {rank = 2 : i64, scale = 1.0 : f64}
      : (tensor<4x8xf32>, tensor<8x6xf32>, tensor<8x2xf32>, tensor<2x6xf32>, tensor<4x6xf32>)
      -> (tensor<4x8xf32>, tensor<8x2xf32>, tensor<2x6xf32>)
  return %da, %db : tensor<8x2xf32>, tensor<2x6xf32>
}

// The optimizer ops are one elementwise generic each that updates the
// parameter and the state in destination-passing style (outs = param,
// exp_avg, exp_avg_sq, each read through its block argument: distinct inits,
// so bufferization cannot give the results one buffer); the 0-d learning
// rate and step are broadcast, and the bias corrections use math.powf in f64.
// CHECK-LABEL: func.func @adamw_sgd(
// CHECK-SAME: %[[P:[^:]*]]: tensor<8xbf16>, %[[G:[^:]*]]: tensor<8xbf16>, %[[M:[^:]*]]: tensor<8xbf16>, %[[V:[^:]*]]: tensor<8xbf16>, %[[LR:[^:]*]]: tensor<f64>, %[[STEP:[^:]*]]: tensor<i64>)
// CHECK: %[[ADAM:.*]]:3 = linalg.generic {{.*}} iterator_types = ["parallel"]} ins(%[[G]], %[[LR]], %[[STEP]] : tensor<8xbf16>, tensor<f64>, tensor<i64>) outs(%[[P]], %[[M]], %[[V]] : tensor<8xbf16>, tensor<8xbf16>, tensor<8xbf16>)
// CHECK: arith.sitofp %{{.*}} : i64 to f64
// CHECK: math.powf %{{.*}}, %{{.*}} : f64
// CHECK: math.sqrt %{{.*}} : f32
// CHECK: arith.truncf %{{.*}} : f32 to bf16
// CHECK: %[[SGD:.*]]:2 = linalg.generic {{.*}} ins(%[[G]], %[[LR]] : tensor<8xbf16>, tensor<f64>) outs(%[[ADAM]]#0, %[[ADAM]]#1 : tensor<8xbf16>, tensor<8xbf16>)
// CHECK: return %[[SGD]]#0, %[[SGD]]#1
func.func @adamw_sgd(%p: tensor<8xbf16>, %g: tensor<8xbf16>, %m: tensor<8xbf16>,
    %v: tensor<8xbf16>, %lr: tensor<f64>, %step: tensor<i64>) -> (tensor<8xbf16>, tensor<8xbf16>) {
  %p2, %m2, %v2 = lora.adamw %p, %g, %m, %v, %lr, %step
      : (tensor<8xbf16>, tensor<8xbf16>, tensor<8xbf16>, tensor<8xbf16>, tensor<f64>, tensor<i64>)
      -> (tensor<8xbf16>, tensor<8xbf16>, tensor<8xbf16>)
  %p3, %buf = lora.sgd %p2, %g, %m2, %lr {momentum = 0.9}
      : (tensor<8xbf16>, tensor<8xbf16>, tensor<8xbf16>, tensor<f64>) -> (tensor<8xbf16>, tensor<8xbf16>)
  return %p3, %buf : tensor<8xbf16>, tensor<8xbf16>
}

// lora.dropout: one generic over x and the 0-d seed (no host read of the
// seed: the CUDA target runs the whole op on the device). Per element: the
// key mix(seed + (stream+1)·G) (here (5+1)·G mod 2⁶⁴ as a signed i64), the
// row-major index i, h = mix(key + (i+1)·G), kept when h >> 40 reaches
// round(0.25·2²⁴) = 4194304, scaled by 1/(1 - 0.25).
// CHECK-LABEL: func.func @dropout(
// CHECK-SAME: %[[X:[^:]*]]: tensor<2x3x8xf32>, %[[SEED:[^:]*]]: tensor<i64>)
// CHECK-NOT: tensor.extract
// CHECK: %[[THRESHOLD:.*]] = arith.constant 4194304 : i64
// CHECK: %[[SCALE:.*]] = arith.constant 1.33333337 : f32
// CHECK: linalg.generic {indexing_maps = [#{{.*}}, #[[SCALAR]], #{{.*}}], iterator_types = ["parallel", "parallel", "parallel"]} ins(%[[X]], %[[SEED]] : tensor<2x3x8xf32>, tensor<i64>)
// CHECK: ^bb0(%[[IN:.*]]: f32, %[[S:.*]]: i64, %{{.*}}: f32):
// CHECK: %[[STREAM:.*]] = arith.constant -5382687378899015554 : i64
// CHECK: %[[Z:.*]] = arith.addi %[[S]], %[[STREAM]] : i64
// CHECK: arith.constant -4658895280553007687 : i64
// CHECK: arith.constant -7723592293110705685 : i64
// CHECK: arith.constant 31 : i64
// CHECK: arith.shrui
// CHECK: %[[KEY:.*]] = arith.xori
// CHECK: linalg.index 0
// CHECK: linalg.index 1
// CHECK: linalg.index 2
// CHECK: %[[I:.*]] = arith.index_castui %{{.*}} : index to i64
// CHECK: %[[G:.*]] = arith.constant -7046029254386353131 : i64
// CHECK: %[[I1:.*]] = arith.addi %[[I]], %{{.*}} : i64
// CHECK: %[[IG:.*]] = arith.muli %[[I1]], %[[G]] : i64
// CHECK: %[[C:.*]] = arith.addi %[[KEY]], %[[IG]] : i64
// CHECK: arith.shrui %[[C]]
// CHECK: arith.constant 31 : i64
// CHECK: arith.shrui
// CHECK: %[[H:.*]] = arith.xori
// CHECK: %[[TOP:.*]] = arith.shrui %[[H]], %{{.*}} : i64
// CHECK: %[[KEEP:.*]] = arith.cmpi uge, %[[TOP]], %[[THRESHOLD]] : i64
// CHECK: %[[KEPT:.*]] = arith.mulf %[[IN]], %[[SCALE]] : f32
// CHECK: %[[OUT:.*]] = arith.select %[[KEEP]], %[[KEPT]], %{{.*}} : f32
// CHECK: linalg.yield %[[OUT]] : f32
func.func @dropout(%x: tensor<2x3x8xf32>, %seed: tensor<i64>) -> tensor<2x3x8xf32> {
  %y = lora.dropout %x, %seed {rate = 0.25, stream = 5 : i64} : (tensor<2x3x8xf32>, tensor<i64>) -> tensor<2x3x8xf32>
  return %y : tensor<2x3x8xf32>
}

// lora.linear with a lora_input: the branch's t = xl·A, x·W as before.
// CHECK-LABEL: func.func @linear_branch_input(
// CHECK-SAME: %[[X:[^:]*]]: tensor<6x8xf32>, %[[W:[^:]*]]: tensor<8x4xf32>, %[[A:[^:]*]]: tensor<8x2xf32>, %[[B:[^:]*]]: tensor<2x4xf32>, %[[XL:[^:]*]]: tensor<6x8xf32>)
// CHECK: linalg.matmul ins(%[[X]], %[[W]] :
// CHECK: %[[T:.*]] = linalg.matmul ins(%[[XL]], %[[A]] :
// CHECK: linalg.matmul ins(%[[T]], %[[B]] :
func.func @linear_branch_input(%x: tensor<6x8xf32>, %w: tensor<8x4xf32>, %a: tensor<8x2xf32>, %b: tensor<2x4xf32>, %xl: tensor<6x8xf32>) -> tensor<6x4xf32> {
  %y = lora.linear %x, %w, %a, %b lora_input(%xl) {rank = 2 : i64, scale = 1.0 : f64} : (tensor<6x8xf32>, tensor<8x4xf32>, tensor<8x2xf32>, tensor<2x4xf32>, tensor<6x8xf32>) -> tensor<6x4xf32>
  return %y : tensor<6x4xf32>
}

// lora.linear_grad with a lora_input xl: t = xl·A and dA = xlᵀ·dt; the
// paths to the inputs stay apart: dx = g·Wᵀ, dxl = dt·Aᵀ (six contractions,
// none accumulating into another's result).
// CHECK-LABEL: func.func @linear_grad_branch_input(
// CHECK-SAME: %[[X:[^:]*]]: tensor<6x8xf32>, %[[W:[^:]*]]: tensor<8x4xf32>, %[[A:[^:]*]]: tensor<8x2xf32>, %[[B:[^:]*]]: tensor<2x4xf32>, %[[G:[^:]*]]: tensor<6x4xf32>, %[[XL:[^:]*]]: tensor<6x8xf32>)
// CHECK: %[[T:.*]] = linalg.generic {indexing_maps = [#[[ROW_RED]], #[[RED_COL]], #{{.*}}], {{.*}} ins(%[[XL]], %[[A]] :
// CHECK: ins(%[[T]], %[[G]] :
// CHECK: %[[DT:.*]] = linalg.generic {{.*}} ins(%[[G]], %[[B]] :
// CHECK: %[[DA:.*]] = linalg.generic {indexing_maps = [#[[RED_ROW]], #[[RED_COL]], #{{.*}}], {{.*}} ins(%[[XL]], %[[DT]] :
// CHECK: %[[DX_INIT:.*]] = linalg.fill
// CHECK: %[[DX:.*]] = linalg.generic {{.*}} ins(%[[G]], %[[W]] : tensor<6x4xf32>, tensor<8x4xf32>) outs(%[[DX_INIT]] : tensor<6x8xf32>)
// CHECK: %[[DXL_INIT:.*]] = linalg.fill
// CHECK: %[[DXL:.*]] = linalg.generic {{.*}} ins(%[[DT]], %[[A]] : tensor<6x2xf32>, tensor<8x2xf32>) outs(%[[DXL_INIT]] : tensor<6x8xf32>)
// CHECK: return %[[DX]], %[[DA]], %[[DXL]]
func.func @linear_grad_branch_input(%x: tensor<6x8xf32>, %w: tensor<8x4xf32>, %a: tensor<8x2xf32>, %b: tensor<2x4xf32>, %g: tensor<6x4xf32>, %xl: tensor<6x8xf32>) -> (tensor<6x8xf32>, tensor<8x2xf32>, tensor<6x8xf32>) {
  %dx, %da, %db, %dxl = lora.linear_grad %x, %w, %a, %b, %g lora_input(%xl) {rank = 2 : i64, scale = 1.0 : f64} : (tensor<6x8xf32>, tensor<8x4xf32>, tensor<8x2xf32>, tensor<2x4xf32>, tensor<6x4xf32>, tensor<6x8xf32>) -> (tensor<6x8xf32>, tensor<8x2xf32>, tensor<2x4xf32>, tensor<6x8xf32>)
  return %dx, %da, %dxl : tensor<6x8xf32>, tensor<8x2xf32>, tensor<6x8xf32>
}
