// RUN: lora-opt %s --split-input-file --lora-cuda-parallel-dims-first | FileCheck %s

// A sum over the middle dim (GQA's gradient over the repeated heads): the
// loops become (d0, d2, d1), parallel first, so that
// convert-linalg-to-parallel-loops gives one scf.parallel with the sum
// sequential inside.
// CHECK-DAG: #[[IN:.*]] = affine_map<(d0, d1, d2) -> (d0, d2, d1)>
// CHECK-DAG: #[[OUT:.*]] = affine_map<(d0, d1, d2) -> (d0, d1)>
// CHECK-LABEL: func.func @middle_sum(
// CHECK: linalg.generic {indexing_maps = [#[[IN]], #[[OUT]]], iterator_types = ["parallel", "parallel", "reduction"]}
// CHECK: arith.addf
func.func @middle_sum(%in: memref<2x4x16xf32>, %out: memref<2x16xf32>) {
  linalg.reduce ins(%in : memref<2x4x16xf32>) outs(%out : memref<2x16xf32>) dimensions = [1]
    (%x: f32, %acc: f32) {
      %s = arith.addf %x, %acc : f32
      linalg.yield %s : f32
    }
  return
}

// -----

// Ops whose parallel dims are outermost already stay as they are, named.
// CHECK-LABEL: func.func @already_first(
// CHECK: linalg.matmul
// CHECK: linalg.reduce
func.func @already_first(%a: memref<8x4xf32>, %b: memref<4x16xf32>, %c: memref<8x16xf32>, %r: memref<8xf32>) {
  linalg.matmul ins(%a, %b : memref<8x4xf32>, memref<4x16xf32>) outs(%c : memref<8x16xf32>)
  linalg.reduce ins(%c : memref<8x16xf32>) outs(%r : memref<8xf32>) dimensions = [1]
    (%x: f32, %acc: f32) {
      %s = arith.addf %x, %acc : f32
      linalg.yield %s : f32
    }
  return
}
