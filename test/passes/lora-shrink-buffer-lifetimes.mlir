// RUN: lora-opt %s --split-input-file --pass-pipeline="builtin.module(func.func(lora-shrink-buffer-lifetimes))" | FileCheck %s

// Each buffer is allocated right before the first op that uses it and freed
// right after the last op that uses it or a view of it; an op with a region
// counts where it stands in the block.
// CHECK-LABEL: func.func @straight_line(
// CHECK-SAME: %[[IN:.*]]: memref<4x8xf32>, %[[OUT:.*]]: memref<4x8xf32>)
// CHECK: %[[A:.*]] = memref.alloc() : memref<4x8xf32>
// CHECK-NEXT: linalg.copy ins(%[[IN]] : {{.*}}) outs(%[[A]] : {{.*}})
// CHECK-NEXT: %[[B:.*]] = memref.alloc() : memref<4x8xf32>
// CHECK-NEXT: linalg.copy ins(%[[A]] : {{.*}}) outs(%[[B]] : {{.*}})
// CHECK-NEXT: memref.dealloc %[[A]]
// CHECK-NEXT: %[[V:.*]] = memref.collapse_shape %[[B]]
// CHECK-NEXT: %[[C:.*]] = memref.alloc() : memref<32xf32>
// CHECK-NEXT: scf.for
// CHECK: linalg.copy ins(%[[V]] : {{.*}}) outs(%[[C]] : {{.*}})
// CHECK: }
// CHECK-NEXT: memref.dealloc %[[B]]
// CHECK-NEXT: %[[W:.*]] = memref.expand_shape %[[C]]
// CHECK-NEXT: linalg.copy ins(%[[W]] : {{.*}}) outs(%[[OUT]] : {{.*}})
// CHECK-NEXT: memref.dealloc %[[C]]
// CHECK-NEXT: return
func.func @straight_line(%in: memref<4x8xf32>, %out: memref<4x8xf32>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c2 = arith.constant 2 : index
  %a = memref.alloc() : memref<4x8xf32>
  %b = memref.alloc() : memref<4x8xf32>
  %c = memref.alloc() : memref<32xf32>
  linalg.copy ins(%in : memref<4x8xf32>) outs(%a : memref<4x8xf32>)
  linalg.copy ins(%a : memref<4x8xf32>) outs(%b : memref<4x8xf32>)
  %v = memref.collapse_shape %b [[0, 1]] : memref<4x8xf32> into memref<32xf32>
  scf.for %i = %c0 to %c2 step %c1 {
    linalg.copy ins(%v : memref<32xf32>) outs(%c : memref<32xf32>)
  }
  %w = memref.expand_shape %c [[0, 1]] output_shape [4, 8] : memref<32xf32> into memref<4x8xf32>
  linalg.copy ins(%w : memref<4x8xf32>) outs(%out : memref<4x8xf32>)
  memref.dealloc %a : memref<4x8xf32>
  memref.dealloc %b : memref<4x8xf32>
  memref.dealloc %c : memref<32xf32>
  return
}

// -----

// A memref that a call makes from the buffer may alias it, and an index may
// be its address, also once converted: the buffer lives until their last
// use, but not until the last use of a size read from it. A buffer never
// used is freed at once; one whose address a call gets is left alone (the
// callee may keep it).
// CHECK-LABEL: func.func @call_result(
// CHECK: %[[A:.*]] = memref.alloc() : memref<8xf32>
// CHECK-NEXT: memref.dealloc %[[A]]
// CHECK-NEXT: %[[D:.*]] = memref.alloc() : memref<8xf32>
// CHECK-NEXT: %[[B:.*]] = memref.alloc() : memref<8xf32>
// CHECK-NEXT: %[[R:.*]] = call @view_of(%[[B]])
// CHECK-NEXT: linalg.copy ins(%[[R]] : {{.*}})
// CHECK-NEXT: memref.dealloc %[[B]]
// CHECK-NEXT: %[[C:.*]] = memref.alloc() : memref<8xf32>
// CHECK-NEXT: %[[N:.*]] = memref.dim %[[C]]
// CHECK-NEXT: %[[P:.*]] = memref.extract_aligned_pointer_as_index %[[C]]
// CHECK-NEXT: %[[Q:.*]] = arith.index_cast %[[P]]
// CHECK-NEXT: arith.addi %[[Q]], %[[Q]]
// CHECK-NEXT: memref.dealloc %[[C]]
// CHECK-NEXT: call @consume(%[[N]])
// CHECK-NEXT: %[[PD:.*]] = memref.extract_aligned_pointer_as_index %[[D]]
// CHECK-NEXT: call @consume(%[[PD]])
// CHECK-NEXT: memref.dealloc %[[D]]
// CHECK-NEXT: return
func.func private @view_of(memref<8xf32>) -> memref<8xf32>
func.func private @consume(index)
func.func @call_result(%out: memref<8xf32>) {
  %c0 = arith.constant 0 : index
  %a = memref.alloc() : memref<8xf32>
  %d = memref.alloc() : memref<8xf32>
  %b = memref.alloc() : memref<8xf32>
  %c = memref.alloc() : memref<8xf32>
  %r = func.call @view_of(%b) : (memref<8xf32>) -> memref<8xf32>
  linalg.copy ins(%r : memref<8xf32>) outs(%out : memref<8xf32>)
  %n = memref.dim %c, %c0 : memref<8xf32>
  %p = memref.extract_aligned_pointer_as_index %c : memref<8xf32> -> index
  %q = arith.index_cast %p : index to i64
  %sum = arith.addi %q, %q : i64
  func.call @consume(%n) : (index) -> ()
  %pd = memref.extract_aligned_pointer_as_index %d : memref<8xf32> -> index
  func.call @consume(%pd) : (index) -> ()
  memref.dealloc %d : memref<8xf32>
  memref.dealloc %c : memref<8xf32>
  memref.dealloc %b : memref<8xf32>
  memref.dealloc %a : memref<8xf32>
  return
}

// -----

// Buffers that outlive their block stay where they are: one returned
// through a view, one freed in another block, one freed twice. The fourth
// is freed right after its allocation.
// CHECK-LABEL: func.func @left_alone(
// CHECK-NEXT: %[[A:.*]] = memref.alloc() : memref<8xf32>
// CHECK-NEXT: %[[B:.*]] = memref.alloc() : memref<8xf32>
// CHECK-NEXT: %[[C:.*]] = memref.alloc() : memref<8xf32>
// CHECK-NEXT: %[[D:.*]] = memref.alloc() : memref<8xf32>
// CHECK-NEXT: memref.dealloc %[[D]]
// CHECK-NEXT: linalg.copy
// CHECK-NEXT: %[[V:.*]] = memref.cast %[[A]]
// CHECK-NEXT: scf.if
// CHECK-NEXT: memref.dealloc %[[B]]
// CHECK: memref.dealloc %[[C]]
// CHECK-NEXT: memref.dealloc %[[C]]
// CHECK-NEXT: return %[[V]]
func.func @left_alone(%in: memref<8xf32>, %flag: i1) -> memref<?xf32> {
  %a = memref.alloc() : memref<8xf32>
  %b = memref.alloc() : memref<8xf32>
  %c = memref.alloc() : memref<8xf32>
  %d = memref.alloc() : memref<8xf32>
  linalg.copy ins(%in : memref<8xf32>) outs(%a : memref<8xf32>)
  %v = memref.cast %a : memref<8xf32> to memref<?xf32>
  scf.if %flag {
    memref.dealloc %b : memref<8xf32>
  }
  memref.dealloc %c : memref<8xf32>
  memref.dealloc %c : memref<8xf32>
  memref.dealloc %d : memref<8xf32>
  return %v : memref<?xf32>
}

// -----

// The op of a region that uses the buffer stands for the uses inside, and
// what it returns is followed: the token of an async.execute that writes
// the buffer reaches async.await, which may write memory, so the buffer is
// left where it is (never freed before the await). An address written to
// memory is not followed either: that buffer stays too.
// CHECK-LABEL: func.func @region_token_and_stored_address(
// CHECK: %[[A:.*]] = memref.alloc() : memref<8xf32>
// CHECK-NEXT: %[[B:.*]] = memref.alloc() : memref<8xf32>
// CHECK-NEXT: %[[T:.*]] = async.execute
// CHECK: async.await %[[T]]
// CHECK-NEXT: memref.extract_aligned_pointer_as_index %[[B]]
// CHECK-NEXT: memref.store
// CHECK-NEXT: memref.dealloc %[[A]]
// CHECK-NEXT: memref.dealloc %[[B]]
// CHECK-NEXT: return
func.func @region_token_and_stored_address(%in: memref<8xf32>, %table: memref<1xindex>) {
  %c0 = arith.constant 0 : index
  %a = memref.alloc() : memref<8xf32>
  %b = memref.alloc() : memref<8xf32>
  %t = async.execute {
    memref.copy %in, %a : memref<8xf32> to memref<8xf32>
    async.yield
  }
  async.await %t : !async.token
  %p = memref.extract_aligned_pointer_as_index %b : memref<8xf32> -> index
  memref.store %p, %table[%c0] : memref<1xindex>
  memref.dealloc %a : memref<8xf32>
  memref.dealloc %b : memref<8xf32>
  return
}
