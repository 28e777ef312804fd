// RUN: lora-opt %s --split-input-file --lora-dedup-gpu-modules | FileCheck %s

// What gpu-kernel-outlining leaves for two layers of one shape: a module per
// launch. @f_kernel_0 is @f_kernel but for its name and locations: it goes,
// and its launch names @f_kernel. @f_kernel_1 scales by another constant,
// @f_kernel_2 has another block size, @f_kernel_3 an attribute more: they
// stay. @f_kernel_4 is the same as @f_kernel_1 (not the first module).
// CHECK-LABEL: func.func @f(
// CHECK-NEXT: arith.constant
// CHECK-NEXT: gpu.launch_func @f_kernel::@f_kernel
// CHECK-NEXT: gpu.launch_func @f_kernel::@f_kernel
// CHECK-NEXT: gpu.launch_func @f_kernel_1::@f_kernel
// CHECK-NEXT: gpu.launch_func @f_kernel_2::@f_kernel
// CHECK-NEXT: gpu.launch_func @f_kernel_3::@f_kernel
// CHECK-NEXT: gpu.launch_func @f_kernel_1::@f_kernel
// CHECK-NEXT: return
// CHECK: gpu.module @f_kernel {
// CHECK: gpu.module @f_kernel_1 {
// CHECK: arith.constant 3.0
// CHECK: gpu.module @f_kernel_2 {
// CHECK: known_block_size = array<i32: 128, 1, 1>
// CHECK: gpu.module @f_kernel_3 attributes {lora.other} {
// CHECK-NOT: gpu.module
module attributes {gpu.container_module} {
  func.func @f(%a: memref<256xf32>, %b: memref<256xf32>) {
    %c1 = arith.constant 1 : index
    gpu.launch_func @f_kernel::@f_kernel blocks in (%c1, %c1, %c1) threads in (%c1, %c1, %c1) args(%a : memref<256xf32>)
    gpu.launch_func @f_kernel_0::@f_kernel blocks in (%c1, %c1, %c1) threads in (%c1, %c1, %c1) args(%b : memref<256xf32>)
    gpu.launch_func @f_kernel_1::@f_kernel blocks in (%c1, %c1, %c1) threads in (%c1, %c1, %c1) args(%a : memref<256xf32>)
    gpu.launch_func @f_kernel_2::@f_kernel blocks in (%c1, %c1, %c1) threads in (%c1, %c1, %c1) args(%a : memref<256xf32>)
    gpu.launch_func @f_kernel_3::@f_kernel blocks in (%c1, %c1, %c1) threads in (%c1, %c1, %c1) args(%a : memref<256xf32>)
    gpu.launch_func @f_kernel_4::@f_kernel blocks in (%c1, %c1, %c1) threads in (%c1, %c1, %c1) args(%b : memref<256xf32>)
    return
  }
  gpu.module @f_kernel {
    gpu.func @f_kernel(%x: memref<256xf32>) kernel attributes {known_block_size = array<i32: 256, 1, 1>} {
      %i = gpu.thread_id x
      %two = arith.constant 2.0 : f32
      %v = memref.load %x[%i] : memref<256xf32>
      %y = arith.mulf %v, %two : f32
      memref.store %y, %x[%i] : memref<256xf32>
      gpu.return
    }
  }
  gpu.module @f_kernel_0 {
    gpu.func @f_kernel(%x: memref<256xf32>) kernel attributes {known_block_size = array<i32: 256, 1, 1>} {
      %i = gpu.thread_id x loc("layer1")
      %two = arith.constant 2.0 : f32 loc("layer1")
      %v = memref.load %x[%i] : memref<256xf32> loc("layer1")
      %y = arith.mulf %v, %two : f32 loc("layer1")
      memref.store %y, %x[%i] : memref<256xf32> loc("layer1")
      gpu.return
    }
  }
  gpu.module @f_kernel_1 {
    gpu.func @f_kernel(%x: memref<256xf32>) kernel attributes {known_block_size = array<i32: 256, 1, 1>} {
      %i = gpu.thread_id x
      %two = arith.constant 3.0 : f32
      %v = memref.load %x[%i] : memref<256xf32>
      %y = arith.mulf %v, %two : f32
      memref.store %y, %x[%i] : memref<256xf32>
      gpu.return
    }
  }
  gpu.module @f_kernel_2 {
    gpu.func @f_kernel(%x: memref<256xf32>) kernel attributes {known_block_size = array<i32: 128, 1, 1>} {
      %i = gpu.thread_id x
      %two = arith.constant 2.0 : f32
      %v = memref.load %x[%i] : memref<256xf32>
      %y = arith.mulf %v, %two : f32
      memref.store %y, %x[%i] : memref<256xf32>
      gpu.return
    }
  }
  gpu.module @f_kernel_3 attributes {lora.other} {
    gpu.func @f_kernel(%x: memref<256xf32>) kernel attributes {known_block_size = array<i32: 256, 1, 1>} {
      %i = gpu.thread_id x
      %two = arith.constant 2.0 : f32
      %v = memref.load %x[%i] : memref<256xf32>
      %y = arith.mulf %v, %two : f32
      memref.store %y, %x[%i] : memref<256xf32>
      gpu.return
    }
  }
  gpu.module @f_kernel_4 {
    gpu.func @f_kernel(%x: memref<256xf32>) kernel attributes {known_block_size = array<i32: 256, 1, 1>} {
      %i = gpu.thread_id x
      %two = arith.constant 3.0 : f32
      %v = memref.load %x[%i] : memref<256xf32>
      %y = arith.mulf %v, %two : f32
      memref.store %y, %x[%i] : memref<256xf32>
      gpu.return
    }
  }
}

// -----

// The same body with the operands of one op swapped is another kernel
// (x - 2 against 2 - x).
// CHECK-LABEL: func.func @g(
// CHECK-NEXT: arith.constant
// CHECK-NEXT: gpu.launch_func @g_kernel::@g_kernel
// CHECK-NEXT: gpu.launch_func @g_kernel_0::@g_kernel
// CHECK: gpu.module @g_kernel {
// CHECK: gpu.module @g_kernel_0 {
module attributes {gpu.container_module} {
  func.func @g(%a: memref<256xf32>) {
    %c1 = arith.constant 1 : index
    gpu.launch_func @g_kernel::@g_kernel blocks in (%c1, %c1, %c1) threads in (%c1, %c1, %c1) args(%a : memref<256xf32>)
    gpu.launch_func @g_kernel_0::@g_kernel blocks in (%c1, %c1, %c1) threads in (%c1, %c1, %c1) args(%a : memref<256xf32>)
    return
  }
  gpu.module @g_kernel {
    gpu.func @g_kernel(%x: memref<256xf32>) kernel {
      %i = gpu.thread_id x
      %two = arith.constant 2.0 : f32
      %v = memref.load %x[%i] : memref<256xf32>
      %y = arith.subf %v, %two : f32
      memref.store %y, %x[%i] : memref<256xf32>
      gpu.return
    }
  }
  gpu.module @g_kernel_0 {
    gpu.func @g_kernel(%x: memref<256xf32>) kernel {
      %i = gpu.thread_id x
      %two = arith.constant 2.0 : f32
      %v = memref.load %x[%i] : memref<256xf32>
      %y = arith.subf %two, %v : f32
      memref.store %y, %x[%i] : memref<256xf32>
      gpu.return
    }
  }
}
