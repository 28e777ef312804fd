// RUN: lora-opt %s --split-input-file --lora-outline-loop-nests | FileCheck %s
// RUN: lora-opt %s --split-input-file --lora-outline-loop-nests="min-loop-nests=3" | FileCheck %s --check-prefix=MIN3
// RUN: lora-opt %s --split-input-file --lora-outline-loop-nests --convert-scf-to-cf --expand-strided-metadata --convert-to-llvm --lora-apply-noalias-args | FileCheck %s --check-prefix=LLVM

// Each top-level nest becomes a private function, in order, called in its
// place: the values it uses from outside are its arguments (the buffers),
// constants are cloned into it, and a nest's results (the sum's iter_args)
// are the function's results.
// CHECK-LABEL: func.func @two_nests(
// CHECK-SAME: %[[A:.*]]: memref<4xf32>, %[[B:.*]]: memref<4xf32>)
// CHECK-NOT: arith.constant
// CHECK: call @two_nests_nest0(%[[A]], %[[B]]) : (memref<4xf32>, memref<4xf32>) -> ()
// CHECK: %[[S:.*]] = call @two_nests_nest1(%[[B]]) : (memref<4xf32>) -> f32
// CHECK: %[[T:.*]] = arith.addf %[[S]], %[[S]] : f32
// CHECK: return %[[T]] : f32
// CHECK: func.func private @two_nests_nest0(%[[X:.*]]: memref<4xf32>, %[[Y:.*]]: memref<4xf32>)
// CHECK-SAME: attributes {llvm.linkage = #llvm.linkage<internal>, passthrough = ["noinline"]}
// CHECK-DAG: %[[C0:.*]] = arith.constant 0 : index
// CHECK-DAG: %[[C4:.*]] = arith.constant 4 : index
// CHECK-DAG: %[[C1:.*]] = arith.constant 1 : index
// CHECK: scf.for %[[I:.*]] = %[[C0]] to %[[C4]] step %[[C1]] {
// CHECK: memref.load %[[X]][%[[I]]]
// CHECK: memref.store %{{.*}}, %[[Y]][%[[I]]]
// CHECK: return
// CHECK: func.func private @two_nests_nest1(%[[Z:.*]]: memref<4xf32>) -> f32
// CHECK: %[[ZERO:.*]] = arith.constant 0.000000e+00 : f32
// CHECK: %[[R:.*]] = scf.for {{.*}} iter_args(%{{.*}} = %[[ZERO]]) -> (f32) {
// CHECK: memref.load %[[Z]]
// CHECK: return %[[R]] : f32
// MIN3-LABEL: func.func @two_nests(
// MIN3-NOT: call
// MIN3: scf.for
// MIN3: scf.for
// MIN3-NOT: func.func private
// Lowered, each callee is internal and never inlined back.
// LLVM: llvm.func internal @two_nests_nest0(
// LLVM-SAME: passthrough = ["noinline"]
// LLVM: llvm.func internal @two_nests_nest1(
// LLVM-SAME: passthrough = ["noinline"]
func.func @two_nests(%a: memref<4xf32>, %b: memref<4xf32>) -> f32 {
  %c0 = arith.constant 0 : index
  %c4 = arith.constant 4 : index
  %c1 = arith.constant 1 : index
  %zero = arith.constant 0.0 : f32
  scf.for %i = %c0 to %c4 step %c1 {
    %v = memref.load %a[%i] : memref<4xf32>
    memref.store %v, %b[%i] : memref<4xf32>
  }
  %s = scf.for %i = %c0 to %c4 step %c1 iter_args(%acc = %zero) -> f32 {
    %v = memref.load %b[%i] : memref<4xf32>
    %n = arith.addf %acc, %v : f32
    scf.yield %n : f32
  }
  %t = arith.addf %s, %s : f32
  return %t : f32
}

// -----

// Only top-level nests move, with everything inside them: the inner loop
// and the values of the function's body it uses (a scalar, a bound). The
// constants the function no longer uses are gone from it.
// CHECK-LABEL: func.func @nested(
// CHECK-SAME: %[[M:.*]]: memref<4x4xf32>, %[[N:.*]]: index, %[[V:.*]]: f32)
// CHECK-NOT: arith.constant
// CHECK: call @nested_nest0(%[[N]], %[[V]], %[[M]])
// CHECK: call @nested_nest1(%[[M]])
// CHECK: func.func private @nested_nest0(%[[N2:.*]]: index, %[[V2:.*]]: f32, %[[M2:.*]]: memref<4x4xf32>)
// CHECK: scf.for %[[I:.*]] = %{{.*}} to %[[N2]]
// CHECK: scf.for %[[J:.*]] =
// CHECK: memref.store %[[V2]], %[[M2]][%[[I]], %[[J]]]
// CHECK: func.func private @nested_nest1(
// CHECK: scf.parallel
func.func @nested(%m: memref<4x4xf32>, %n: index, %v: f32) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c4 = arith.constant 4 : index
  scf.for %i = %c0 to %n step %c1 {
    scf.for %j = %c0 to %c4 step %c1 {
      memref.store %v, %m[%i, %j] : memref<4x4xf32>
    }
  }
  scf.parallel (%i) = (%c0) to (%c4) step (%c1) {
    %x = memref.load %m[%i, %i] : memref<4x4xf32>
    %y = arith.addf %x, %x : f32
    memref.store %y, %m[%i, %i] : memref<4x4xf32>
  }
  return
}

// -----

// no_: a function with a single nest, or none, is left alone.
// CHECK-LABEL: func.func @no_single_nest(
// CHECK-NOT: call
// CHECK: scf.for
// CHECK-NOT: func.func private
func.func @no_single_nest(%a: memref<4xf32>) {
  %c0 = arith.constant 0 : index
  %c4 = arith.constant 4 : index
  %c1 = arith.constant 1 : index
  %zero = arith.constant 0.0 : f32
  scf.for %i = %c0 to %c4 step %c1 {
    memref.store %zero, %a[%i] : memref<4xf32>
  }
  return
}

// -----

// A buffer the function allocated, which no other argument views, aliases
// nothing the nest reaches: its aligned pointer (the second of a memref's
// lowered fields) is listed, and noalias once lowered. The function's own
// argument %in is not (the caller's buffers may alias each other).
// CHECK-LABEL: func.func @own_buffer(
// CHECK: func.func private @own_buffer_nest0(
// CHECK-SAME: lora.noalias_args = array<i64: 6>
// CHECK: func.func private @own_buffer_nest1(
// CHECK-SAME: lora.noalias_args = array<i64: 1>
// LLVM-LABEL: llvm.func internal @own_buffer_nest0(
// LLVM-SAME: %{{.*}}: !llvm.ptr, %{{.*}}: !llvm.ptr, %{{.*}}: i64, %{{.*}}: i64, %{{.*}}: i64, %{{.*}}: !llvm.ptr, %{{.*}}: !llvm.ptr {llvm.noalias}, %{{.*}}: i64, %{{.*}}: i64, %{{.*}}: i64)
// LLVM-NOT: lora.noalias_args
// LLVM-LABEL: llvm.func internal @own_buffer_nest1(
// LLVM-SAME: %{{.*}}: !llvm.ptr, %{{.*}}: !llvm.ptr {llvm.noalias}, %{{.*}}: i64, %{{.*}}: i64, %{{.*}}: i64)
func.func @own_buffer(%in: memref<4xf32>) -> f32 {
  %c0 = arith.constant 0 : index
  %c4 = arith.constant 4 : index
  %c1 = arith.constant 1 : index
  %zero = arith.constant 0.0 : f32
  %a = memref.alloc() : memref<4xf32>
  scf.for %i = %c0 to %c4 step %c1 {
    %v = memref.load %in[%i] : memref<4xf32>
    memref.store %v, %a[%i] : memref<4xf32>
  }
  %s = scf.for %i = %c0 to %c4 step %c1 iter_args(%acc = %zero) -> f32 {
    %v = memref.load %a[%i] : memref<4xf32>
    %n = arith.addf %acc, %v : f32
    scf.yield %n : f32
  }
  memref.dealloc %a : memref<4xf32>
  return %s : f32
}

// -----

// no_: two views of one buffer are both arguments of the first nest, so
// neither is noalias there; the second nest reads the buffer alone.
// CHECK-LABEL: func.func @no_noalias_for_two_views(
// CHECK: func.func private @no_noalias_for_two_views_nest0(
// CHECK-SAME: attributes {llvm.linkage = #llvm.linkage<internal>, passthrough = ["noinline"]} {
// CHECK: func.func private @no_noalias_for_two_views_nest1(
// CHECK-SAME: lora.noalias_args = array<i64: 1>
func.func @no_noalias_for_two_views(%in: memref<8xf32>) {
  %c0 = arith.constant 0 : index
  %c4 = arith.constant 4 : index
  %c1 = arith.constant 1 : index
  %a = memref.alloc() : memref<8xf32>
  %lo = memref.subview %a[0] [4] [1] : memref<8xf32> to memref<4xf32, strided<[1]>>
  %hi = memref.subview %a[4] [4] [1] : memref<8xf32> to memref<4xf32, strided<[1], offset: 4>>
  scf.for %i = %c0 to %c4 step %c1 {
    %v = memref.load %lo[%i] : memref<4xf32, strided<[1]>>
    memref.store %v, %hi[%i] : memref<4xf32, strided<[1], offset: 4>>
  }
  scf.for %i = %c0 to %c4 step %c1 {
    %v = memref.load %a[%i] : memref<8xf32>
    memref.store %v, %in[%i] : memref<8xf32>
  }
  memref.dealloc %a : memref<8xf32>
  return
}

// -----

// Nests that are the same (the same ops on arguments of the same types,
// the same noalias arguments: two layers of one shape) share the first
// one's function: the copy into %b calls @same_nests_nest0, which the copy
// into %a made. The copy into the caller's %out (not noalias) has a
// function of its own.
// CHECK-LABEL: func.func @same_nests(
// CHECK-SAME: %[[IN:[^:]*]]: memref<4xf32>, %[[OUT:[^:]*]]: memref<4xf32>)
// CHECK: %[[A:.*]] = memref.alloc
// CHECK: %[[B:.*]] = memref.alloc
// CHECK: call @same_nests_nest0(%[[IN]], %[[A]])
// CHECK: call @same_nests_nest0(%[[IN]], %[[B]])
// CHECK: call @same_nests_nest2(%[[IN]], %[[OUT]])
// CHECK: func.func private @same_nests_nest0(
// CHECK-SAME: lora.noalias_args = array<i64: 6>
// CHECK-NOT: @same_nests_nest1
// CHECK: func.func private @same_nests_nest2(
// CHECK-SAME: passthrough = ["noinline"]} {
// CHECK-NOT: @same_nests_nest1
// Three nests reach min-loop-nests=3.
// MIN3-LABEL: func.func @same_nests(
// MIN3: call @same_nests_nest0(
// MIN3: call @same_nests_nest0(
func.func @same_nests(%in: memref<4xf32>, %out: memref<4xf32>) {
  %c0 = arith.constant 0 : index
  %c4 = arith.constant 4 : index
  %c1 = arith.constant 1 : index
  %a = memref.alloc() : memref<4xf32>
  %b = memref.alloc() : memref<4xf32>
  scf.for %i = %c0 to %c4 step %c1 {
    %v = memref.load %in[%i] : memref<4xf32>
    memref.store %v, %a[%i] : memref<4xf32>
  }
  scf.for %i = %c0 to %c4 step %c1 {
    %v = memref.load %in[%i] : memref<4xf32>
    memref.store %v, %b[%i] : memref<4xf32>
  }
  scf.for %i = %c0 to %c4 step %c1 {
    %v = memref.load %in[%i] : memref<4xf32>
    memref.store %v, %out[%i] : memref<4xf32>
  }
  memref.dealloc %a : memref<4xf32>
  memref.dealloc %b : memref<4xf32>
  return
}
