// RUN: lora-opt %s --split-input-file --pass-pipeline="builtin.module(func.func(lora-fuse-elementwise-ops))" | FileCheck %s

// An elementwise producer is fused into a consumer that computes each of its
// elements once: another elementwise op, or a reduction over the operand's
// own dims.
// CHECK-LABEL: func.func @fused(
// CHECK: %[[R:.*]] = linalg.generic
// CHECK: math.exp
// CHECK: arith.addf
// CHECK: } -> tensor<4x8xf32>
// CHECK: linalg.generic
// CHECK: math.exp
// CHECK: arith.addf
// CHECK: } -> tensor<4xf32>
// CHECK-NOT: linalg.generic
// CHECK: return
#id = affine_map<(d0, d1) -> (d0, d1)>
#row = affine_map<(d0, d1) -> (d0)>
func.func @fused(%x: tensor<4x8xf32>, %acc: tensor<4xf32>) -> (tensor<4x8xf32>, tensor<4xf32>) {
  %e0 = tensor.empty() : tensor<4x8xf32>
  %exp = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel"]}
      ins(%x : tensor<4x8xf32>) outs(%e0 : tensor<4x8xf32>) {
  ^bb0(%in: f32, %out: f32):
    %0 = math.exp %in : f32
    linalg.yield %0 : f32
  } -> tensor<4x8xf32>
  %e1 = tensor.empty() : tensor<4x8xf32>
  %twice = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel"]}
      ins(%exp : tensor<4x8xf32>) outs(%e1 : tensor<4x8xf32>) {
  ^bb0(%in: f32, %out: f32):
    %0 = arith.addf %in, %in : f32
    linalg.yield %0 : f32
  } -> tensor<4x8xf32>
  %exp2 = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel"]}
      ins(%x : tensor<4x8xf32>) outs(%e0 : tensor<4x8xf32>) {
  ^bb0(%in: f32, %out: f32):
    %0 = math.exp %in : f32
    linalg.yield %0 : f32
  } -> tensor<4x8xf32>
  %sum = linalg.generic {indexing_maps = [#id, #row], iterator_types = ["parallel", "reduction"]}
      ins(%exp2 : tensor<4x8xf32>) outs(%acc : tensor<4xf32>) {
  ^bb0(%in: f32, %out: f32):
    %0 = arith.addf %in, %out : f32
    linalg.yield %0 : f32
  } -> tensor<4xf32>
  return %twice, %sum : tensor<4x8xf32>, tensor<4xf32>
}

// -----

// Not into a contraction: the matmul reads each element of its left operand
// once per column (8 times), so exp stays a producer of its own, computed
// once per element. Upstream's linalg-fuse-elementwise-ops fuses it.
// CHECK-LABEL: func.func @not_into_a_contraction(
// CHECK: %[[EXP:.*]] = linalg.generic
// CHECK: math.exp
// CHECK: linalg.generic {{.*}} ins(%[[EXP]], %{{.*}} : tensor<4x16xf32>, tensor<16x8xf32>)
// CHECK-NOT: math.exp
// CHECK: return
#a = affine_map<(d0, d1, d2) -> (d0, d2)>
#b = affine_map<(d0, d1, d2) -> (d2, d1)>
#c = affine_map<(d0, d1, d2) -> (d0, d1)>
#id2 = affine_map<(d0, d1) -> (d0, d1)>
func.func @not_into_a_contraction(%x: tensor<4x16xf32>, %w: tensor<16x8xf32>, %acc: tensor<4x8xf32>) -> tensor<4x8xf32> {
  %e = tensor.empty() : tensor<4x16xf32>
  %exp = linalg.generic {indexing_maps = [#id2, #id2], iterator_types = ["parallel", "parallel"]}
      ins(%x : tensor<4x16xf32>) outs(%e : tensor<4x16xf32>) {
  ^bb0(%in: f32, %out: f32):
    %0 = math.exp %in : f32
    linalg.yield %0 : f32
  } -> tensor<4x16xf32>
  %mm = linalg.generic {indexing_maps = [#a, #b, #c], iterator_types = ["parallel", "parallel", "reduction"]}
      ins(%exp, %w : tensor<4x16xf32>, tensor<16x8xf32>) outs(%acc : tensor<4x8xf32>) {
  ^bb0(%l: f32, %r: f32, %out: f32):
    %0 = arith.mulf %l, %r : f32
    %1 = arith.addf %out, %0 : f32
    linalg.yield %1 : f32
  } -> tensor<4x8xf32>
  return %mm : tensor<4x8xf32>
}

// -----

// A broadcasting read along a loop of extent 1 computes each element once:
// fused.
// CHECK-LABEL: func.func @broadcast_over_unit_loop(
// CHECK: linalg.generic
// CHECK: math.exp
// CHECK: arith.mulf
// CHECK-NOT: linalg.generic
// CHECK: return
#row3 = affine_map<(d0, d1) -> (d0)>
#id3 = affine_map<(d0, d1) -> (d0, d1)>
#vec = affine_map<(d0) -> (d0)>
func.func @broadcast_over_unit_loop(%x: tensor<4xf32>, %y: tensor<4x1xf32>) -> tensor<4x1xf32> {
  %e = tensor.empty() : tensor<4xf32>
  %exp = linalg.generic {indexing_maps = [#vec, #vec], iterator_types = ["parallel"]}
      ins(%x : tensor<4xf32>) outs(%e : tensor<4xf32>) {
  ^bb0(%in: f32, %out: f32):
    %0 = math.exp %in : f32
    linalg.yield %0 : f32
  } -> tensor<4xf32>
  %e2 = tensor.empty() : tensor<4x1xf32>
  %r = linalg.generic {indexing_maps = [#row3, #id3, #id3], iterator_types = ["parallel", "parallel"]}
      ins(%exp, %y : tensor<4xf32>, tensor<4x1xf32>) outs(%e2 : tensor<4x1xf32>) {
  ^bb0(%a: f32, %b: f32, %out: f32):
    %0 = arith.mulf %a, %b : f32
    linalg.yield %0 : f32
  } -> tensor<4x1xf32>
  return %r : tensor<4x1xf32>
}

// -----

// A transpose read by an elementwise op and by a reduction (generalized):
// both read its input through the permuted map, and the transpose goes.
// A matmul keeps reading a transposed copy (its innermost loop would read
// the operand with a stride).
// CHECK-DAG: #[[SWAP:.*]] = affine_map<(d0, d1) -> (d1, d0)>
// CHECK-DAG: #[[ID:.*]] = affine_map<(d0, d1) -> (d0, d1)>
// CHECK-DAG: #[[ROW:.*]] = affine_map<(d0, d1) -> (d0)>
// CHECK-LABEL: func.func @transposes(
// CHECK-SAME: %[[K:[^:]*]]: tensor<32x16xf32>
// CHECK: %[[T:.*]] = linalg.transpose ins(%[[K]] : tensor<32x16xf32>)
// CHECK: linalg.generic {indexing_maps = [#[[SWAP]], #[[ID]]], iterator_types = ["parallel", "parallel"]} ins(%[[K]] : tensor<32x16xf32>)
// CHECK: math.exp
// CHECK: linalg.generic {indexing_maps = [#[[SWAP]], #[[ROW]]], iterator_types = ["parallel", "reduction"]} ins(%[[K]] : tensor<32x16xf32>)
// CHECK: arith.addf
// CHECK-NOT: linalg.transpose
// CHECK: linalg.matmul ins(%{{.*}}, %[[T]] : tensor<8x16xf32>, tensor<16x32xf32>)
func.func @transposes(%k: tensor<32x16xf32>, %x: tensor<8x16xf32>) -> (tensor<16x32xf32>, tensor<16xf32>, tensor<8x32xf32>) {
  %e = tensor.empty() : tensor<16x32xf32>
  %t = linalg.transpose ins(%k : tensor<32x16xf32>) outs(%e : tensor<16x32xf32>) permutation = [1, 0]
  %exp = linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0, d1)>], iterator_types = ["parallel", "parallel"]} ins(%t : tensor<16x32xf32>) outs(%e : tensor<16x32xf32>) {
  ^bb0(%in: f32, %out: f32):
    %y = math.exp %in : f32
    linalg.yield %y : f32
  } -> tensor<16x32xf32>
  %zero = arith.constant 0.0 : f32
  %r0 = tensor.empty() : tensor<16xf32>
  %rf = linalg.fill ins(%zero : f32) outs(%r0 : tensor<16xf32>) -> tensor<16xf32>
  %sum = linalg.reduce ins(%t : tensor<16x32xf32>) outs(%rf : tensor<16xf32>) dimensions = [1]
    (%in: f32, %acc: f32) {
      %s = arith.addf %in, %acc : f32
      linalg.yield %s : f32
    }
  %m0 = tensor.empty() : tensor<8x32xf32>
  %mf = linalg.fill ins(%zero : f32) outs(%m0 : tensor<8x32xf32>) -> tensor<8x32xf32>
  %mm = linalg.matmul ins(%x, %t : tensor<8x16xf32>, tensor<16x32xf32>) outs(%mf : tensor<8x32xf32>) -> tensor<8x32xf32>
  return %exp, %sum, %mm : tensor<16x32xf32>, tensor<16xf32>, tensor<8x32xf32>
}
