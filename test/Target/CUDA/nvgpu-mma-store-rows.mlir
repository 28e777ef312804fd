// What the generated kernels' epilogue relies on (GemmKernel.cpp's header):
// MLIR 22 lowers nvgpu.warpgroup.mma.store with the row
//   16 · (tid.x / 32) + (tid.x % 32) / 4
// from the raw thread id, not the thread's id within its warpgroup, so the
// fragment of warpgroup c lands 64·c rows below the view it is given. If
// upstream starts reducing the warp id modulo 4, this test fails and the
// epilogue must give each consumer its own view again.

// RUN: lora-opt %s --convert-nvgpu-to-nvvm | FileCheck %s

// CHECK-LABEL: gpu.func @store
// CHECK: %[[TID:.*]] = nvvm.read.ptx.sreg.tid.x : i32
// CHECK: %[[LANE:.*]] = llvm.urem %[[TID]], %[[C32:.*]] : i32
// CHECK: %[[WARP:.*]] = llvm.udiv %[[TID]], %[[C32]] : i32
// CHECK-NOT: llvm.urem %[[WARP]]
// CHECK: %[[QUAD:.*]] = llvm.udiv %[[LANE]], %{{.*}} : i32
// CHECK: %[[WARPROW:.*]] = llvm.mul %[[WARP]], %[[C16:.*]] : i32
// CHECK: llvm.add %[[QUAD]], %[[WARPROW]] : i32
// CHECK: memref.store
gpu.module @m {
  gpu.func @store(%dst: memref<64x64xf32, #gpu.address_space<workgroup>>) kernel {
    %acc = nvgpu.warpgroup.mma.init.accumulator
        -> !nvgpu.warpgroup.accumulator<fragmented = vector<64x64xf32>>
    nvgpu.warpgroup.mma.store %acc, %dst
        : !nvgpu.warpgroup.accumulator<fragmented = vector<64x64xf32>>
        to memref<64x64xf32, #gpu.address_space<workgroup>>
    gpu.return
  }
}
