// RUN: lora-opt %s --lora-cpu-truncate-f64-to-bf16 | FileCheck %s
// RUN: lora-opt %s --lora-cpu-truncate-f64-to-bf16 --arith-expand=include-bf16 \
// RUN:   --convert-vector-to-llvm --convert-arith-to-llvm --convert-func-to-llvm \
// RUN:   --reconcile-unrealized-casts \
// RUN:   | mlir-runner -e main -entry-point-result=void \
// RUN:       -shared-libs=%mlir_c_runner_utils \
// RUN:   | FileCheck %s --check-prefix=EXEC

// f64 -> bf16 goes through an f32 rounded to odd, then f32 -> bf16
// (which arith-expand lowers without a library call).
// CHECK-LABEL: func.func @round(
// CHECK-SAME: %[[X:.*]]: f64
// CHECK: %[[F:.*]] = arith.truncf %[[X]] : f64 to f32
// CHECK: %[[BACK:.*]] = arith.extf %[[F]] : f32 to f64
// CHECK: arith.cmpf one, %[[BACK]], %[[X]] : f64
// CHECK: %[[ODD:.*]] = arith.bitcast %{{.*}} : i32 to f32
// CHECK: %[[Y:.*]] = arith.truncf %[[ODD]] : f32 to bf16
// CHECK: return %[[Y]]
// CHECK-NOT: f64 to bf16
func.func @round(%x: f64) -> bf16 {
  %y = arith.truncf %x : f64 to bf16
  return %y : bf16
}

// The bits of the bf16 results, as i16. Rounding f64 -> f32 -> bf16 to
// nearest twice would give 16256 (1.0) for 1 + 2^-8 + 2^-30: the first
// rounding makes it a tie, which the second breaks to even.
// EXEC: 16257
// EXEC-NEXT: 16256
// EXEC-NEXT: 16258
// EXEC-NEXT: -16511
// EXEC-NEXT: 32640
// EXEC-NEXT: 0
// EXEC-NEXT: 16457
func.func @print(%x: f64) {
  %y = func.call @round(%x) : (f64) -> bf16
  %bits = arith.bitcast %y : bf16 to i16
  vector.print %bits : i16
  return
}
func.func @main() {
  // 1 + 2^-8 + 2^-30: above the tie between 1 and 1 + 2^-7.
  %a = arith.constant 1.0039062509313226 : f64
  // Ties, to even: 1 + 2^-8 -> 1; 1 + 3 * 2^-8 -> 1 + 2^-6.
  %b = arith.constant 1.00390625 : f64
  %c = arith.constant 1.01171875 : f64
  %d = arith.constant -1.0039062509313226 : f64
  // Beyond f32 and bf16: infinity; below: zero.
  %e = arith.constant 1.0e300 : f64
  %f = arith.constant 1.0e-300 : f64
  // pi: 0x4049.
  %g = arith.constant 3.141592653589793 : f64
  func.call @print(%a) : (f64) -> ()
  func.call @print(%b) : (f64) -> ()
  func.call @print(%c) : (f64) -> ()
  func.call @print(%d) : (f64) -> ()
  func.call @print(%e) : (f64) -> ()
  func.call @print(%f) : (f64) -> ()
  func.call @print(%g) : (f64) -> ()
  return
}
