// RUN: lora-opt %s --split-input-file --lora-cuda-stream-order | FileCheck %s
// The canonicalizer (gpu-lower-to-nvvm-pipeline runs it) keeps every wait.
// RUN: lora-opt %s --split-input-file --lora-cuda-stream-order --canonicalize | FileCheck %s --check-prefix=CANON

// What lora-cuda-device-memory and kernel outlining leave (each op on a
// stream of its own, waited for at once; a synchronous launch) becomes one
// stream: one `gpu.wait async` creates it, each op depends on the one
// before, and the host waits once, before the return. Pure host ops and a
// TMA descriptor do not wait.
// CHECK-LABEL: func.func @one_stream(
// CHECK-SAME: %[[ARG:.*]]: memref<16x16xf16>
// CHECK: %[[T0:.*]] = gpu.wait async
// CHECK-NEXT: %[[A:.*]], %[[T1:.*]] = gpu.alloc async [%[[T0]]] () : memref<16x16xf16>
// CHECK-NEXT: %[[T2:.*]] = gpu.memcpy async [%[[T1]]] %[[A]], %[[ARG]]
// CHECK-NEXT: memref.expand_shape
// CHECK-NEXT: %[[T3:.*]] = gpu.launch_func async [%[[T2]]] @kernels::@scale
// CHECK-NEXT: memref.cast
// CHECK-NEXT: nvgpu.tma.create.descriptor
// CHECK-NEXT: %[[T4:.*]] = gpu.launch_func async [%[[T3]]] @kernels::@scale
// CHECK-NEXT: %[[T5:.*]] = gpu.dealloc async [%[[T4]]] %[[A]]
// CHECK-NEXT: gpu.wait [%[[T5]]]
// CHECK-NEXT: return
!descriptor = !nvgpu.tensormap.descriptor<tensor = memref<16x16xf16, 3>, swizzle = swizzle_32b, l2promo = none, oob = zero, interleave = none>
module attributes {gpu.container_module} {
  gpu.module @kernels {
    gpu.func @scale(%arg: memref<16x16xf16>) kernel {
      gpu.return
    }
  }
  func.func @one_stream(%arg: memref<16x16xf16>) {
    %c1 = arith.constant 1 : index
    %c16 = arith.constant 16 : index
    %t0 = gpu.wait async
    %a, %t1 = gpu.alloc async [%t0] () : memref<16x16xf16>
    gpu.wait [%t1]
    %t2 = gpu.wait async
    %t3 = gpu.memcpy async [%t2] %a, %arg : memref<16x16xf16>, memref<16x16xf16>
    gpu.wait [%t3]
    %v = memref.expand_shape %a [[0], [1, 2]] output_shape [16, 1, 16] : memref<16x16xf16> into memref<16x1x16xf16>
    gpu.launch_func @kernels::@scale blocks in (%c1, %c1, %c1) threads in (%c16, %c1, %c1) args(%a : memref<16x16xf16>)
    %u = memref.cast %a : memref<16x16xf16> to memref<*xf16>
    %d = nvgpu.tma.create.descriptor %u box[%c16, %c16] : memref<*xf16> -> !descriptor
    gpu.launch_func @kernels::@scale blocks in (%c1, %c1, %c1) threads in (%c16, %c1, %c1) args(%a : memref<16x16xf16>)
    %t4 = gpu.wait async
    %t5 = gpu.dealloc async [%t4] %a : memref<16x16xf16>
    gpu.wait [%t5]
    return
  }
}

// -----

// A call could run GPU work of its own beside the stream's, and an op with
// regions could touch memory: the host waits before each, and the work
// after them is on a stream of its own. Inside the loop, the body's work
// is one stream, waited for before the yield.
// CHECK-LABEL: func.func @waits(
// CHECK: %[[T0:.*]] = gpu.wait async
// CHECK-NEXT: %[[T1:.*]] = gpu.launch_func async [%[[T0]]] @kernels::@fill
// CHECK-NEXT: gpu.wait [%[[T1]]]
// CHECK-NEXT: call @other(%{{.*}})
// CHECK-NEXT: %[[T2:.*]] = gpu.wait async
// CHECK-NEXT: %[[T3:.*]] = gpu.launch_func async [%[[T2]]] @kernels::@fill
// CHECK-NEXT: gpu.wait [%[[T3]]]
// CHECK-NEXT: scf.for
// CHECK-NEXT: %[[T4:.*]] = gpu.wait async
// CHECK-NEXT: %[[T5:.*]] = gpu.launch_func async [%[[T4]]] @kernels::@fill
// CHECK-NEXT: %[[T6:.*]] = gpu.launch_func async [%[[T5]]] @kernels::@fill
// CHECK-NEXT: gpu.wait [%[[T6]]]
// CHECK-NEXT: }
// CHECK-NEXT: return
module attributes {gpu.container_module} {
  gpu.module @kernels {
    gpu.func @fill(%arg: memref<8xf32>) kernel {
      gpu.return
    }
  }
  func.func private @other(memref<8xf32>)
  func.func @waits(%arg: memref<8xf32>, %n: index) {
    %c0 = arith.constant 0 : index
    %c1 = arith.constant 1 : index
    gpu.launch_func @kernels::@fill blocks in (%c1, %c1, %c1) threads in (%c1, %c1, %c1) args(%arg : memref<8xf32>)
    func.call @other(%arg) : (memref<8xf32>) -> ()
    gpu.launch_func @kernels::@fill blocks in (%c1, %c1, %c1) threads in (%c1, %c1, %c1) args(%arg : memref<8xf32>)
    scf.for %i = %c0 to %n step %c1 {
      gpu.launch_func @kernels::@fill blocks in (%c1, %c1, %c1) threads in (%c1, %c1, %c1) args(%arg : memref<8xf32>)
      gpu.launch_func @kernels::@fill blocks in (%c1, %c1, %c1) threads in (%c1, %c1, %c1) args(%arg : memref<8xf32>)
    }
    return
  }
}

// -----

// Work behind a token from elsewhere (here an argument): the host waits
// for it before the op that depends on it, which stays on the chain's one
// stream (gpu-to-llvm would make a join a new stream); the host wait for
// it that follows goes.
// CHECK-LABEL: func.func @other_work(
// CHECK-SAME: %[[OTHER:[^:]*]]: !gpu.async.token
// CHECK: %[[T0:.*]] = gpu.wait async
// CHECK-NEXT: %[[T1:.*]] = gpu.launch_func async [%[[T0]]] @kernels::@fill
// CHECK-NEXT: gpu.wait [%[[OTHER]]]
// CHECK-NEXT: %[[T2:.*]] = gpu.launch_func async [%[[T1]]] @kernels::@fill
// CHECK-NEXT: gpu.wait [%[[T2]]]
// CHECK-NEXT: return
module attributes {gpu.container_module} {
  gpu.module @kernels {
    gpu.func @fill(%arg: memref<8xf32>) kernel {
      gpu.return
    }
  }
  func.func @other_work(%arg: memref<8xf32>, %other: !gpu.async.token) {
    %c1 = arith.constant 1 : index
    gpu.launch_func @kernels::@fill blocks in (%c1, %c1, %c1) threads in (%c1, %c1, %c1) args(%arg : memref<8xf32>)
    %t = gpu.launch_func async [%other] @kernels::@fill blocks in (%c1, %c1, %c1) threads in (%c1, %c1, %c1) args(%arg : memref<8xf32>)
    gpu.wait [%other]
    return
  }
}

// -----

// The launchers of lora-generate-cuda-kernels are inlined, and the launch
// that each guards with an scf.if (on its rows) joins the chain. The ops after
// the scf.if go on from the token before it: every token of the chain is
// its one stream, which runs its work in order. An scf.if that holds a
// call is waited for like any op that might touch memory.
// CHECK-NOT: func.func private @launcher
// CHECK-LABEL: func.func @inlined(
// CHECK: %[[T0:.*]] = gpu.wait async
// CHECK-NEXT: %[[Q:.*]] = gpu.launch_func async [%[[T0]]] @kernels::@fill
// CHECK: memref.dim
// CHECK-NEXT: arith.cmpi
// CHECK-NEXT: scf.if
// CHECK-NEXT: %{{.*}} = gpu.launch_func async [%[[Q]]] @kernels::@fill
// CHECK-NEXT: }
// CHECK-NEXT: %[[T1:.*]] = gpu.launch_func async [%[[Q]]] @kernels::@fill
// CHECK-NEXT: gpu.wait [%[[T1]]]
// CHECK-NEXT: scf.if
// CHECK-NEXT: call @other
// CHECK-NEXT: }
// CHECK-NEXT: return
// CANON-LABEL: func.func @inlined(
// CANON: scf.if
// CANON: }
// CANON-NEXT: %[[T1:.*]] = gpu.launch_func async
// CANON-NEXT: gpu.wait [%[[T1]]]

// A guarded launch that would start the chain keeps a chain of its own
// inside the scf.if: the chain's only token would be its `gpu.wait async`,
// which the canonicalizer drops from the wait at the end as waiting for
// nothing, and the launch with it.
// CHECK-LABEL: func.func @guard_first(
// CHECK: scf.if
// CHECK-NEXT: %[[T0:.*]] = gpu.wait async
// CHECK-NEXT: %[[T1:.*]] = gpu.launch_func async [%[[T0]]] @kernels::@fill
// CHECK-NEXT: gpu.wait [%[[T1]]]
// CHECK-NEXT: }
// CHECK-NEXT: return
// CANON-LABEL: func.func @guard_first(
// CANON: %[[T1:.*]] = gpu.launch_func async
// CANON-NEXT: gpu.wait [%[[T1]]]

// An scf.if holding an op that the chain does not take in (a host-shared
// allocation, which gpu-to-llvm lowers only synchronously) is waited for
// before, like any op with effects.
// CHECK-LABEL: func.func @not_threaded(
// CHECK: %[[T1:.*]] = gpu.launch_func async
// CHECK-NEXT: gpu.wait [%[[T1]]]
// CHECK-NEXT: scf.if
// CHECK-NEXT: gpu.alloc  host_shared
// CHECK: return
module attributes {gpu.container_module} {
  gpu.module @kernels {
    gpu.func @fill(%arg: memref<?xf32>) kernel {
      gpu.return
    }
  }
  func.func private @other(memref<?xf32>)
  func.func private @launcher(%arg: memref<?xf32>) {
    %c0 = arith.constant 0 : index
    %c1 = arith.constant 1 : index
    %n = memref.dim %arg, %c0 : memref<?xf32>
    %nonzero = arith.cmpi ne, %n, %c0 : index
    scf.if %nonzero {
      gpu.launch_func @kernels::@fill blocks in (%n, %c1, %c1) threads in (%c1, %c1, %c1) args(%arg : memref<?xf32>)
    }
    return
  }
  func.func @inlined(%arg: memref<?xf32>, %flag: i1) {
    %c1 = arith.constant 1 : index
    gpu.launch_func @kernels::@fill blocks in (%c1, %c1, %c1) threads in (%c1, %c1, %c1) args(%arg : memref<?xf32>)
    call @launcher(%arg) : (memref<?xf32>) -> ()
    gpu.launch_func @kernels::@fill blocks in (%c1, %c1, %c1) threads in (%c1, %c1, %c1) args(%arg : memref<?xf32>)
    scf.if %flag {
      func.call @other(%arg) : (memref<?xf32>) -> ()
    }
    return
  }
  func.func @guard_first(%arg: memref<?xf32>, %flag: i1) {
    %c1 = arith.constant 1 : index
    scf.if %flag {
      gpu.launch_func @kernels::@fill blocks in (%c1, %c1, %c1) threads in (%c1, %c1, %c1) args(%arg : memref<?xf32>)
    }
    return
  }
  func.func @not_threaded(%arg: memref<?xf32>, %flag: i1) {
    %c1 = arith.constant 1 : index
    gpu.launch_func @kernels::@fill blocks in (%c1, %c1, %c1) threads in (%c1, %c1, %c1) args(%arg : memref<?xf32>)
    scf.if %flag {
      %m = gpu.alloc host_shared () : memref<4xf32>
    }
    return
  }
}

// -----

// A kernel in variants (lora-generate-cuda-kernels for a run-time M): one
// scf.if per variant, on its rows. Each launch joins the chain from the
// token before them, and the wait at the end, on that token, waits for the
// chain's one stream, with whichever launch ran.
// CHECK-LABEL: func.func @variants(
// CHECK: %[[T0:.*]] = gpu.wait async
// CHECK-NEXT: %[[Q:.*]] = gpu.launch_func async [%[[T0]]] @kernels::@fill
// CHECK: scf.if
// CHECK-NEXT: gpu.launch_func async [%[[Q]]] @kernels::@big
// CHECK: scf.if
// CHECK-NEXT: gpu.launch_func async [%[[Q]]] @kernels::@small
// CHECK-NOT: gpu.wait
// CHECK: gpu.wait [%[[Q]]]
// CHECK-NEXT: return
// CANON-LABEL: func.func @variants(
// CANON: gpu.launch_func async {{.*}} @kernels::@small
// CANON: gpu.wait [%{{.*}}]
// CANON-NEXT: return
module attributes {gpu.container_module} {
  gpu.module @kernels {
    gpu.func @fill(%arg: memref<?xf32>) kernel {
      gpu.return
    }
    gpu.func @big(%arg: memref<?xf32>) kernel {
      gpu.return
    }
    gpu.func @small(%arg: memref<?xf32>) kernel {
      gpu.return
    }
  }
  func.func private @launcher(%arg: memref<?xf32>) {
    %c0 = arith.constant 0 : index
    %c1 = arith.constant 1 : index
    %c257 = arith.constant 257 : index
    %c256 = arith.constant 256 : index
    %m = memref.dim %arg, %c0 : memref<?xf32>
    %many = arith.cmpi uge, %m, %c257 : index
    scf.if %many {
      gpu.launch_func @kernels::@big blocks in (%m, %c1, %c1) threads in (%c1, %c1, %c1) args(%arg : memref<?xf32>)
    }
    %some = arith.cmpi uge, %m, %c1 : index
    %few = arith.cmpi ule, %m, %c256 : index
    %fits = arith.andi %some, %few : i1
    scf.if %fits {
      gpu.launch_func @kernels::@small blocks in (%m, %c1, %c1) threads in (%c1, %c1, %c1) args(%arg : memref<?xf32>)
    }
    return
  }
  func.func @variants(%arg: memref<?xf32>) {
    %c1 = arith.constant 1 : index
    gpu.launch_func @kernels::@fill blocks in (%c1, %c1, %c1) threads in (%c1, %c1, %c1) args(%arg : memref<?xf32>)
    call @launcher(%arg) : (memref<?xf32>) -> ()
    return
  }
}

// -----

// A persistent kernel's launcher asks the runtime for the SM count inside
// its guard: that call reads no memory of the stream's work, so the launch
// still joins the chain, and the host does not wait before it. Any other
// call does make the host wait before its scf.if, which is not threaded.
// CHECK-LABEL: func.func @persistent(
// CHECK: %[[T0:.*]] = gpu.wait async
// CHECK-NEXT: %[[Q:.*]] = gpu.launch_func async [%[[T0]]] @kernels::@fill
// CHECK-NEXT: scf.if
// CHECK-NEXT: call @loraCudaMultiprocessorCount()
// CHECK-NEXT: arith.index_cast
// CHECK-NEXT: arith.minui
// CHECK-NEXT: gpu.launch_func async [%[[Q]]] @kernels::@tiles
// CHECK-NOT: gpu.wait
// CHECK: gpu.wait [%[[Q]]]
// CHECK-NEXT: scf.if
// CHECK-NEXT: call @elsewhere()
// CHECK: return
module attributes {gpu.container_module} {
  gpu.module @kernels {
    gpu.func @fill(%arg: memref<?xf32>) kernel {
      gpu.return
    }
    gpu.func @tiles(%arg: memref<?xf32>) kernel {
      gpu.return
    }
  }
  func.func private @loraCudaMultiprocessorCount() -> i32
  func.func private @elsewhere() -> i32
  func.func @persistent(%arg: memref<?xf32>, %tiles: index, %flag: i1) {
    %c1 = arith.constant 1 : index
    gpu.launch_func @kernels::@fill blocks in (%c1, %c1, %c1) threads in (%c1, %c1, %c1) args(%arg : memref<?xf32>)
    scf.if %flag {
      %sms = func.call @loraCudaMultiprocessorCount() : () -> i32
      %n = arith.index_cast %sms : i32 to index
      %ctas = arith.minui %tiles, %n : index
      gpu.launch_func @kernels::@tiles blocks in (%ctas, %c1, %c1) threads in (%c1, %c1, %c1) args(%arg : memref<?xf32>)
    }
    scf.if %flag {
      %other = func.call @elsewhere() : () -> i32
      %m = arith.index_cast %other : i32 to index
      gpu.launch_func @kernels::@tiles blocks in (%m, %c1, %c1) threads in (%c1, %c1, %c1) args(%arg : memref<?xf32>)
    }
    return
  }
}
