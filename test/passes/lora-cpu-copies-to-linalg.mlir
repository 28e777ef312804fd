// RUN: lora-opt %s --lora-cpu-copies-to-linalg | FileCheck %s

// CHECK-LABEL: func.func @strided_copy
// CHECK-NOT: memref.copy
// CHECK: linalg.copy ins(%arg0 : memref<2x3xf32>) outs(%{{.*}} : memref<2x3xf32, strided<[6, 1], offset: 3>>)
func.func @strided_copy(%a: memref<2x3xf32>, %b: memref<2x6xf32>) {
  %view = memref.subview %b[0, 3] [2, 3] [1, 1] : memref<2x6xf32> to memref<2x3xf32, strided<[6, 1], offset: 3>>
  memref.copy %a, %view : memref<2x3xf32> to memref<2x3xf32, strided<[6, 1], offset: 3>>
  return
}
