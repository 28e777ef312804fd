// RUN: lora-opt %s --split-input-file --pass-pipeline="builtin.module(func.func(lora-untie-inits))" | FileCheck %s
// RUN: lora-opt %s --split-input-file --pass-pipeline="builtin.module(func.func(lora-untie-inits), one-shot-bufferize{bufferize-function-boundaries})" | FileCheck %s --check-prefix=BUF

// One zero fill shared by two matmuls (what CSE makes of two accumulators):
// the first keeps it, the second gets a fill of its own, into a fresh empty
// built just before it. Bufferized, each matmul then accumulates in place in its own
// buffer, and nothing is copied.
// CHECK-LABEL: func.func @shared_accumulator(
// CHECK: %[[ZERO:.*]] = arith.constant 0.000000e+00 : f32
// CHECK: %[[E1:.*]] = tensor.empty() : tensor<4x4xf32>
// CHECK: %[[F1:.*]] = linalg.fill ins(%[[ZERO]] : f32) outs(%[[E1]] : tensor<4x4xf32>)
// CHECK: %[[M1:.*]] = linalg.matmul ins(%{{.*}}, %{{.*}} : tensor<4x4xf32>, tensor<4x4xf32>) outs(%[[F1]] : tensor<4x4xf32>)
// CHECK: %[[E2:.*]] = tensor.empty() : tensor<4x4xf32>
// CHECK: %[[F2:.*]] = linalg.fill ins(%[[ZERO]] : f32) outs(%[[E2]] : tensor<4x4xf32>)
// CHECK: %[[M2:.*]] = linalg.matmul ins(%{{.*}}, %{{.*}} : tensor<4x4xf32>, tensor<4x4xf32>) outs(%[[F2]] : tensor<4x4xf32>)
// CHECK: return %[[M1]], %[[M2]]
// BUF-LABEL: func.func @shared_accumulator(
// BUF-COUNT-2: linalg.fill
// BUF-NOT: memref.copy
// BUF: return
func.func @shared_accumulator(%a: tensor<4x4xf32>, %b: tensor<4x4xf32>)
    -> (tensor<4x4xf32>, tensor<4x4xf32>) {
  %zero = arith.constant 0.0 : f32
  %empty = tensor.empty() : tensor<4x4xf32>
  %acc = linalg.fill ins(%zero : f32) outs(%empty : tensor<4x4xf32>) -> tensor<4x4xf32>
  %m1 = linalg.matmul ins(%a, %b : tensor<4x4xf32>, tensor<4x4xf32>) outs(%acc : tensor<4x4xf32>) -> tensor<4x4xf32>
  %m2 = linalg.matmul ins(%b, %a : tensor<4x4xf32>, tensor<4x4xf32>) outs(%acc : tensor<4x4xf32>) -> tensor<4x4xf32>
  return %m1, %m2 : tensor<4x4xf32>, tensor<4x4xf32>
}

// -----

// Left alone: a fill with one use, and a fill of a value that is not a
// constant; the empty the two fills share is untied.
// CHECK-LABEL: func.func @left_alone(
// CHECK: %[[E1:.*]] = tensor.empty
// CHECK-NEXT: linalg.fill ins(%{{.*}} : f32) outs(%[[E1]] : tensor<4x4xf32>)
// CHECK-NEXT: linalg.matmul
// CHECK-NEXT: %[[E2:.*]] = tensor.empty
// CHECK-NEXT: linalg.fill ins(%{{.*}} : f32) outs(%[[E2]] : tensor<4x4xf32>)
// CHECK-NOT: linalg.fill
// CHECK: return
func.func @left_alone(%a: tensor<4x4xf32>, %v: f32)
    -> (tensor<4x4xf32>, tensor<4x4xf32>, tensor<4x4xf32>) {
  %zero = arith.constant 0.0 : f32
  %empty = tensor.empty() : tensor<4x4xf32>
  %acc = linalg.fill ins(%zero : f32) outs(%empty : tensor<4x4xf32>) -> tensor<4x4xf32>
  %m = linalg.matmul ins(%a, %a : tensor<4x4xf32>, tensor<4x4xf32>) outs(%acc : tensor<4x4xf32>) -> tensor<4x4xf32>
  %filled = linalg.fill ins(%v : f32) outs(%empty : tensor<4x4xf32>) -> tensor<4x4xf32>
  %n1 = linalg.matmul ins(%a, %a : tensor<4x4xf32>, tensor<4x4xf32>) outs(%filled : tensor<4x4xf32>) -> tensor<4x4xf32>
  %n2 = linalg.matmul ins(%m, %a : tensor<4x4xf32>, tensor<4x4xf32>) outs(%filled : tensor<4x4xf32>) -> tensor<4x4xf32>
  return %m, %n1, %n2 : tensor<4x4xf32>, tensor<4x4xf32>, tensor<4x4xf32>
}

// -----

// One empty (dynamic sizes) shared by two writers: the second gets its own,
// built right before it from the same sizes. Bufferized, each writes its own
// buffer.
// CHECK-LABEL: func.func @shared_empty(
// CHECK: %[[D:.*]] = tensor.dim
// CHECK: %[[E1:.*]] = tensor.empty(%[[D]]) : tensor<?x4xf32>
// CHECK: linalg.exp ins(%{{.*}} : tensor<?x4xf32>) outs(%[[E1]] : tensor<?x4xf32>)
// CHECK: %[[E2:.*]] = tensor.empty(%[[D]]) : tensor<?x4xf32>
// CHECK: linalg.abs ins(%{{.*}} : tensor<?x4xf32>) outs(%[[E2]] : tensor<?x4xf32>)
// BUF-LABEL: func.func @shared_empty(
// BUF-COUNT-2: memref.alloc
// BUF-NOT: memref.copy
// BUF: return
func.func @shared_empty(%a: tensor<?x4xf32>) -> (tensor<?x4xf32>, tensor<?x4xf32>) {
  %c0 = arith.constant 0 : index
  %d = tensor.dim %a, %c0 : tensor<?x4xf32>
  %e = tensor.empty(%d) : tensor<?x4xf32>
  %x = linalg.exp ins(%a : tensor<?x4xf32>) outs(%e : tensor<?x4xf32>) -> tensor<?x4xf32>
  %y = linalg.abs ins(%x : tensor<?x4xf32>) outs(%e : tensor<?x4xf32>) -> tensor<?x4xf32>
  return %x, %y : tensor<?x4xf32>, tensor<?x4xf32>
}

// -----

// An empty seen through a reshape is untied with its reshape: the second
// writer gets a fresh empty and a fresh expand_shape of it.
// CHECK-LABEL: func.func @shared_reshaped_empty(
// CHECK: %[[E1:.*]] = tensor.empty() : tensor<8xf32>
// CHECK: %[[R1:.*]] = tensor.expand_shape %[[E1]]
// CHECK: linalg.exp ins(%{{.*}} : tensor<2x4xf32>) outs(%[[R1]] : tensor<2x4xf32>)
// CHECK: %[[E2:.*]] = tensor.empty() : tensor<8xf32>
// CHECK: %[[R2:.*]] = tensor.expand_shape %[[E2]]
// CHECK: linalg.abs ins(%{{.*}} : tensor<2x4xf32>) outs(%[[R2]] : tensor<2x4xf32>)
// BUF-LABEL: func.func @shared_reshaped_empty(
// BUF-COUNT-2: memref.alloc
// BUF-NOT: memref.copy
// BUF: return
func.func @shared_reshaped_empty(%a: tensor<2x4xf32>) -> (tensor<2x4xf32>, tensor<2x4xf32>) {
  %e = tensor.empty() : tensor<8xf32>
  %r = tensor.expand_shape %e [[0, 1]] output_shape [2, 4] : tensor<8xf32> into tensor<2x4xf32>
  %x = linalg.exp ins(%a : tensor<2x4xf32>) outs(%r : tensor<2x4xf32>) -> tensor<2x4xf32>
  %y = linalg.abs ins(%x : tensor<2x4xf32>) outs(%r : tensor<2x4xf32>) -> tensor<2x4xf32>
  return %x, %y : tensor<2x4xf32>, tensor<2x4xf32>
}
