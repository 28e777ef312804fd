// RUN: lora-opt %s --split-input-file --lora-cuda-emulate-on-host | FileCheck %s

// A kernel becomes a host function that runs its body once per thread:
// loops over the blocks (z, y, x), then over the threads of a block, with
// the ids and sizes replaced by the loops' values and the function's
// arguments. The host code's allocation, copy, launch and free become
// memref ops and a call; a float buffer is set to NaN when allocated and
// before its free; waits and tokens go.
// The container attribute and the gpu.module go.
// CHECK: {{^}}module {
// CHECK-NOT: gpu.
// CHECK-LABEL: func.func @host(
// CHECK-SAME: %[[ARG:.*]]: memref<4x8xf32>
// CHECK-NOT: gpu.
// CHECK: %[[A:.*]] = memref.alloc() : memref<4x8xf32>
// CHECK: %[[NAN0:.*]] = arith.constant 0x7FC00000 : f32
// CHECK: scf.for %[[I0:.*]] =
// CHECK-NEXT: scf.for %[[J0:.*]] =
// CHECK-NEXT: memref.store %[[NAN0]], %[[A]][%[[I0]], %[[J0]]]
// CHECK: memref.copy %[[ARG]], %[[A]]
// CHECK-NEXT: call @kernels_scale(%[[A]], %[[C2:.*]], %[[C1:.*]], %[[C1]], %[[C16:.*]], %[[C1]], %[[C1]])
// CHECK-NEXT: memref.copy %[[A]], %[[ARG]]
// CHECK: %[[NAN:.*]] = arith.constant 0x7FC00000 : f32
// CHECK: scf.for %[[I:.*]] =
// CHECK-NEXT: scf.for %[[J:.*]] =
// CHECK-NEXT: memref.store %[[NAN]], %[[A]][%[[I]], %[[J]]]
// CHECK: memref.dealloc %[[A]]
// CHECK-NOT: gpu.
// CHECK: return

// CHECK-LABEL: func.func private @kernels_scale(
// CHECK-SAME: %[[BUF:[^:]*]]: memref<4x8xf32>, %[[GX:[^:]*]]: index, %[[GY:[^:]*]]: index, %[[GZ:[^:]*]]: index, %[[BX:[^:]*]]: index, %[[BY:[^:]*]]: index, %[[BZ:[^:]*]]: index)
// CHECK: scf.for %{{.*}} = %{{.*}} to %[[GZ]]
// CHECK-NEXT: scf.for %{{.*}} = %{{.*}} to %[[GY]]
// CHECK-NEXT: scf.for %[[BIDX:.*]] = %{{.*}} to %[[GX]]
// CHECK-NEXT: scf.for %{{.*}} = %{{.*}} to %[[BZ]]
// CHECK-NEXT: scf.for %{{.*}} = %{{.*}} to %[[BY]]
// CHECK-NEXT: scf.for %[[TIDX:.*]] = %{{.*}} to %[[BX]]
// CHECK: %[[BASE:.*]] = arith.muli %[[BIDX]], %[[BX]]
// CHECK-NEXT: %[[LINEAR:.*]] = arith.addi %[[BASE]], %[[TIDX]]
// CHECK-NOT: gpu.
// CHECK: return
// CHECK-NOT: gpu.module
module attributes {gpu.container_module} {
  gpu.module @kernels {
    gpu.func @scale(%buf: memref<4x8xf32>) kernel {
      %bid = gpu.block_id x
      %tid = gpu.thread_id x
      %bdim = gpu.block_dim x
      %base = arith.muli %bid, %bdim : index
      %linear = arith.addi %base, %tid : index
      %c8 = arith.constant 8 : index
      %row = arith.divui %linear, %c8 : index
      %col = arith.remui %linear, %c8 : index
      %x = memref.load %buf[%row, %col] : memref<4x8xf32>
      %y = arith.addf %x, %x : f32
      memref.store %y, %buf[%row, %col] : memref<4x8xf32>
      gpu.return
    }
  }
  func.func @host(%arg: memref<4x8xf32>) {
    %c1 = arith.constant 1 : index
    %c2 = arith.constant 2 : index
    %c16 = arith.constant 16 : index
    %t0 = gpu.wait async
    %a, %t1 = gpu.alloc async [%t0] () : memref<4x8xf32>
    %t2 = gpu.memcpy async [%t1] %a, %arg : memref<4x8xf32>, memref<4x8xf32>
    %t3 = gpu.launch_func async [%t2] @kernels::@scale blocks in (%c2, %c1, %c1) threads in (%c16, %c1, %c1) args(%a : memref<4x8xf32>)
    %t4 = gpu.memcpy async [%t3] %arg, %a : memref<4x8xf32>, memref<4x8xf32>
    %t5 = gpu.dealloc async [%t4] %a : memref<4x8xf32>
    gpu.wait [%t5]
    return
  }
}

// -----

// An integer buffer is freed as it is: NaN is for floats.
// CHECK-LABEL: func.func @free_ints(
// CHECK-NEXT: %[[A:.*]] = memref.alloc() : memref<8xi64>
// CHECK-NEXT: memref.dealloc %[[A]]
// CHECK-NEXT: return
module attributes {gpu.container_module} {
  func.func @free_ints() {
    %t0 = gpu.wait async
    %a, %t1 = gpu.alloc async [%t0] () : memref<8xi64>
    %t2 = gpu.dealloc async [%t1] %a : memref<8xi64>
    gpu.wait [%t2]
    return
  }
}
