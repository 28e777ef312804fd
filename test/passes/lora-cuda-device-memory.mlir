// RUN: lora-opt %s --split-input-file --lora-cuda-device-memory --verify-diagnostics | FileCheck %s

// Buffers of the host code go to device memory: allocations, moved to the
// first use of the buffer or a view of it, frees after the last, copies,
// and constants (copied to the device where they are read, freed after
// their last use). The returned buffer is neither moved nor freed.
// CHECK-LABEL: func.func @host(
// CHECK-SAME: %[[ARG:.*]]: memref<4x8xf32>)
// CHECK: %[[C:.*]] = memref.get_global @table : memref<8xf32>
// CHECK: %[[D:.*]], %[[T2:.*]] = gpu.alloc async [%{{.*}}] () : memref<8xf32>
// CHECK: %[[T3:.*]] = gpu.memcpy async [%{{.*}}] %[[D]], %[[C]] : memref<8xf32>, memref<8xf32>
// CHECK: gpu.wait [%[[T3]]]
// CHECK: %[[T0:.*]] = gpu.wait async
// CHECK: %[[A:.*]], %[[T1:.*]] = gpu.alloc async [%[[T0]]] () : memref<4x8xf32>
// CHECK: gpu.wait [%[[T1]]]
// CHECK: %[[V:.*]] = memref.expand_shape %[[A]]
// CHECK: gpu.memcpy async [%{{.*}}] %[[ARG]], %[[A]] : memref<4x8xf32>, memref<4x8xf32>
// CHECK: call @use(%[[V]], %[[D]])
// CHECK: gpu.dealloc async [%{{.*}}] %[[D]] : memref<8xf32>
// CHECK: %[[F:.*]] = gpu.dealloc async [%{{.*}}] %[[A]] : memref<4x8xf32>
// CHECK: gpu.wait [%[[F]]]
// CHECK: %[[B:.*]], %{{.*}} = gpu.alloc async [%{{.*}}] () : memref<2xf32>
// CHECK-NOT: gpu.dealloc
// CHECK: return %[[B]]
// CHECK-NOT: memref.{{alloc|dealloc|copy}}
memref.global "private" constant @table : memref<8xf32> = dense<[0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0]>
func.func private @use(memref<1x4x8xf32>, memref<8xf32>)
func.func @host(%out: memref<4x8xf32>) -> memref<2xf32> {
  %a = memref.alloc() : memref<4x8xf32>
  %c = memref.get_global @table : memref<8xf32>
  %v = memref.expand_shape %a [[0, 1], [2]] output_shape [1, 4, 8] : memref<4x8xf32> into memref<1x4x8xf32>
  memref.copy %a, %out : memref<4x8xf32> to memref<4x8xf32>
  func.call @use(%v, %c) : (memref<1x4x8xf32>, memref<8xf32>) -> ()
  %b = memref.alloc() : memref<2xf32>
  return %b : memref<2xf32>
}

// -----

// The CPU cannot read device memory: a load left on the host is an error.
func.func @negative_host_load(%arg: memref<4xf32>) -> f32 {
  %c0 = arith.constant 0 : index
  // expected-error @below {{the CUDA target keeps buffers in device memory, but 'memref.load' would access one on the host; it must be in a GPU kernel}}
  %x = memref.load %arg[%c0] : memref<4xf32>
  return %x : f32
}

// -----

// gpu.memcpy copies contiguous buffers only.
func.func @negative_strided_copy(%arg: memref<4x8xf32>, %out: memref<4x4xf32>) {
  %s = memref.subview %arg[0, 0] [4, 4] [1, 1] : memref<4x8xf32> to memref<4x4xf32, strided<[8, 1]>>
  // expected-error @below {{the CUDA target copies buffers with gpu.memcpy, which needs contiguous buffers}}
  memref.copy %s, %out : memref<4x4xf32, strided<[8, 1]>> to memref<4x4xf32>
  return
}

// -----

// A constant read in a loop: each iteration's device copy is freed in the
// iteration, after its last use.
// CHECK-LABEL: func.func @constant_in_loop(
// CHECK: scf.for
// CHECK: %[[C:.*]] = memref.get_global @weights
// CHECK: %[[D:.*]], %{{.*}} = gpu.alloc async [%{{.*}}] () : memref<4xf32>
// CHECK: gpu.memcpy async [%{{.*}}] %[[D]], %[[C]]
// CHECK: func.call @consume(%[[D]])
// CHECK: gpu.dealloc async [%{{.*}}] %[[D]]
// CHECK: }
// CHECK-NOT: gpu.dealloc
// CHECK: return
memref.global "private" constant @weights : memref<4xf32> = dense<1.0>
func.func private @consume(memref<4xf32>)
func.func @constant_in_loop(%n: index) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  scf.for %i = %c0 to %n step %c1 {
    %w = memref.get_global @weights : memref<4xf32>
    func.call @consume(%w) : (memref<4xf32>) -> ()
  }
  return
}
