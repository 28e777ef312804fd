// RUN: lora-opt %s --split-input-file --lora-cuda-collapse-parallel-loops | FileCheck %s

// A 3-d loop becomes one of 2*4*64 = 512 iterations; each iteration
// recovers its indices, the innermost varying fastest, by dividing by
// constants.
// CHECK-LABEL: func.func @three_dims(
// CHECK-DAG: %[[C0:.*]] = arith.constant 0 : index
// CHECK-DAG: %[[C1:.*]] = arith.constant 1 : index
// CHECK-DAG: %[[C4:.*]] = arith.constant 4 : index
// CHECK-DAG: %[[C64:.*]] = arith.constant 64 : index
// CHECK-DAG: %[[C512:.*]] = arith.constant 512 : index
// CHECK: scf.parallel (%[[I:.*]]) = (%[[C0]]) to (%[[C512]]) step (%[[C1]]) {
// CHECK-DAG: %[[D2:.*]] = arith.remsi %[[I]], %[[C64]]
// CHECK-DAG: %[[Q:.*]] = arith.divsi %[[I]], %[[C64]]
// CHECK-DAG: %[[D1:.*]] = arith.remsi %[[Q]], %[[C4]]
// CHECK-DAG: %[[D0:.*]] = arith.divsi %[[Q]], %[[C4]]
// CHECK: memref.load %{{.*}}[%[[D0]], %[[D1]], %[[D2]]]
// CHECK-NOT: scf.parallel
func.func @three_dims(%in: memref<2x4x64xf32>, %out: memref<2x4x64xf32>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c2 = arith.constant 2 : index
  %c4 = arith.constant 4 : index
  %c64 = arith.constant 64 : index
  scf.parallel (%i, %j, %k) = (%c0, %c0, %c0) to (%c2, %c4, %c64) step (%c1, %c1, %c1) {
    %x = memref.load %in[%i, %j, %k] : memref<2x4x64xf32>
    memref.store %x, %out[%i, %j, %k] : memref<2x4x64xf32>
  }
  return
}

// -----

// A loop of one dim is left as it is, and so is a loop nested in another.
// CHECK-LABEL: func.func @left_alone(
// CHECK: scf.parallel (%{{[^,]*}}) = (%c0) to (%c8) step (%c1) {
// CHECK: scf.parallel (%{{.*}}, %{{.*}}) = (%c0, %c0) to (%c8, %c8)
func.func @left_alone(%buf: memref<8x8x8xf32>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c8 = arith.constant 8 : index
  %zero = arith.constant 0.0 : f32
  scf.parallel (%i) = (%c0) to (%c8) step (%c1) {
    scf.parallel (%j, %k) = (%c0, %c0) to (%c8, %c8) step (%c1, %c1) {
      memref.store %zero, %buf[%i, %j, %k] : memref<8x8x8xf32>
    }
  }
  return
}
