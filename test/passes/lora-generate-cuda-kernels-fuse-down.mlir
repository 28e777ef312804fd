// RUN: lora-opt %s --split-input-file --lora-generate-cuda-kernels=fuse-lora-down | FileCheck %s
// RUN: lora-opt %s --split-input-file --lora-generate-cuda-kernels="fuse-lora-down reference-launchers" | FileCheck %s --check-prefix=REF
// RUN: lora-opt %s --split-input-file --lora-generate-cuda-kernels="fuse-lora-down multicast=2" | FileCheck %s --check-prefix=MC

// fuse-lora-down: a rank-16 layer has no lora_down; lora_linear reads A in
// [64 x 16] slices (SWIZZLE_32B) and stores t, 64 rows per TMA store.
// CHECK-LABEL: func.func @rank16(
// CHECK-NOT: gpu.func @lora_down
// CHECK: gpu.func @lora_linear(%{{.*}}: !llvm.ptr, %{{.*}}: !llvm.ptr, %{{.*}}: !llvm.ptr, %{{.*}}: !llvm.ptr, %{{.*}}: !llvm.ptr, %{{.*}}: !llvm.ptr) kernel
// CHECK-SAME: \22fuse_down\22:true
// CHECK-SAME: {\22box\22:[64,16],\22dims\22:[4096,16],\22dtype\22:\22bf16\22,\22l2_promotion\22:256,\22role\22:\22a\22,\22swizzle\22:32}
// CHECK-SAME: {\22box\22:[64,64],\22dims\22:[\22M\22,16],\22dtype\22:\22bf16\22,\22l2_promotion\22:0,\22role\22:\22t\22,\22swizzle\22:128}
// CHECK: %[[AMAP:.*]] = builtin.unrealized_conversion_cast %arg2 : !llvm.ptr to !nvgpu.tensormap.descriptor<tensor = memref<64x16xbf16, #gpu.address_space<workgroup>>, swizzle = swizzle_32b
// CHECK: %[[TMAP:.*]] = builtin.unrealized_conversion_cast %arg3
// CHECK: %[[SMEM:.*]] = memref.extract_aligned_pointer_as_index
// The producer: a main step is 48 KiB of x and w plus A's 2 KiB slice at
// the end of the stage, at (0, kk); the LoRA step B alone (32 KiB).
// CHECK: scf.for %[[K:.*]] = %{{.*}} to %c65 step
// CHECK: %[[MAIN:.*]] = arith.cmpi ult, %[[K]], %c64
// CHECK: %[[TX:.*]] = arith.select %[[MAIN]], %c51200, %c32768
// CHECK: nvgpu.mbarrier.arrive.expect_tx %{{.*}}, %[[TX]]
// CHECK: %[[KK:.*]] = arith.muli %[[K]], %c64
// CHECK: scf.if %[[MAIN]] {
// CHECK-COUNT-5: nvgpu.tma.async.load
// CHECK: arith.addi %{{.*}}, %c49152
// CHECK: nvgpu.tma.async.load %[[AMAP]][%{{.*}}, %[[KK]]]
// CHECK: } else {
// CHECK-COUNT-4: nvgpu.tma.async.load
// CHECK-NOT: nvgpu.tma.async.load
// CHECK: }
// The consumers. A tile's first step, peeled, restarts t and the main
// accumulator: the first wgmma of each chain has scale-d 0 and registers
// that hold nothing yet (poison), so nothing writes them between the
// wgmma.fence and the chain.
// CHECK: llvm.mlir.poison : !llvm.struct<(struct<(f32, f32,
// CHECK: nvvm.wgmma.fence.aligned
// CHECK-NEXT: nvvm.wgmma.mma_async {{.*}}, <m = 64, n = 16, k = 16>, D[<f32>, <zero>], A[<bf16>, <one>, <row>], B[<bf16>, <one>, <row>]
// CHECK-COUNT-3: nvvm.wgmma.mma_async {{.*}}, <m = 64, n = 16, k = 16>, D[<f32>, <one>]
// CHECK-NEXT: nvvm.wgmma.commit.group.sync.aligned
// CHECK: nvvm.wgmma.fence.aligned
// CHECK-NEXT: nvvm.wgmma.mma_async {{.*}}, <m = 64, n = 256, k = 16>, D[<f32>, <zero>], A[<bf16>, <one>, <row>], B[<bf16>, <one>, <row>]
// CHECK-COUNT-3: nvvm.wgmma.mma_async {{.*}}, <m = 64, n = 256, k = 16>, D[<f32>, <one>]
// CHECK-NEXT: nvvm.wgmma.commit.group.sync.aligned
// The other steps: at a main step, four m64n16k16 on x (+32 B each) and
// A's slice (+512 B each) through hand-built 32B-swizzle descriptors, before
// the step's main wgmma.
// CHECK: scf.for {{.*}} iter_args(%[[ACC:.*]] = %{{.*}}, %[[T:.*]] = %{{.*}})
// CHECK: scf.if
// CHECK: arith.addi %{{.*}}, %c49152
// CHECK: nvgpu.warpgroup.generate.descriptor {{.*}} : memref<64x16xbf16
// CHECK: arith.addi %[[SMEM]],
// CHECK: arith.shrui %{{.*}}, %c4_i64
// CHECK: arith.andi %{{.*}}, %c16383_i64
// CHECK: arith.ori %{{.*}}, %c-4611685949699522560_i64
// CHECK: arith.addi %{{.*}}, %c512
// CHECK: arith.addi %{{.*}}, %c1024
// CHECK: arith.addi %{{.*}}, %c1536
// CHECK: nvgpu.warpgroup.mma %{{.*}}, %{{.*}}, %[[T]] {transposeB, waitGroup = 7 : i64} : <tensor = memref<64x16xbf16, {{.*}}>>, <tensor = memref<16x16xbf16, {{.*}}>>, <fragmented = vector<64x16xf32>>
// CHECK-COUNT-3: nvgpu.warpgroup.mma {{.*}} {transposeB, waitGroup = 7 : i64}
// At the LoRA step: t to the f32 scratch after the stages (4 x 50 KiB),
// scale·t into the step's x box, swizzled, zeros past 16 columns; fence;
// the first column tile stores it.
// CHECK: } else {
// CHECK: nvgpu.warpgroup.mma.store %[[T]], %{{.*}} : <fragmented = vector<64x16xf32>> to memref<64x16xf32, strided<[16, 1]>, #gpu.address_space<workgroup>>
// CHECK: scf.for
// CHECK: arith.cmpi ult, %{{.*}}, %c2
// CHECK: arith.mulf
// CHECK: arith.truncf {{.*}} : vector<8xf32> to vector<8xbf16>
// CHECK: arith.xori
// CHECK: vector.store
// CHECK: nvvm.fence.proxy
// CHECK: arith.cmpi eq, %{{.*}}, %c0
// CHECK: nvgpu.tma.async.store %{{.*}} to %[[TMAP]]
// CHECK-NEXT: nvvm.cp.async.bulk.commit.group
// CHECK-NOT: nvvm.cp.async.bulk.wait_group
// Then the step's main wgmma: a main step's whole 64-deep K, the LoRA
// step's [t | B] only its first 16 (t's columns; the rest are zeros). The
// store has read the x box before the epilogue reuses the stages.
// CHECK: nvgpu.warpgroup.mma %{{.*}}, %{{.*}}, %[[ACC]] {transposeB} : <tensor = memref<64x64xbf16, {{.*}}>>, <tensor = memref<64x256xbf16
// CHECK: } else {
// CHECK: nvgpu.warpgroup.mma %{{.*}}, %{{.*}}, %[[ACC]] {transposeB} : <tensor = memref<64x16xbf16, {{.*}}>>, <tensor = memref<16x256xbf16
// CHECK: nvvm.wgmma.wait.group.sync.aligned 0
// CHECK-NEXT: nvvm.griddepcontrol launch_dependents
// CHECK-NEXT: nvvm.cp.async.bulk.wait_group 0 {read}
// CHECK-NEXT: arith.constant
// CHECK: nvvm.barrier
// The launcher: lora_linear alone, on x, w, a, t, b, y.
// CHECK-LABEL: func.func private @lora_kernels_0_launch(
// CHECK-NOT: @lora_down
// CHECK: gpu.launch_func @lora_kernels_0::@lora_linear blocks
// The reference computes t = bf16(scale·x·A) into the t buffer, then y from
// x·W and t·B: the launcher hands the fused kernel's operands in its
// parameters' order (x, w, a, t, b, y), and each lands in its role.
// REF-LABEL: func.func private @lora_kernels_0_launch(
// REF-SAME: %[[X:[^:]*]]: memref<?x4096xbf16>, %[[W:[^:]*]]: memref<4096x4096xbf16>, %[[A:[^:]*]]: memref<4096x16xbf16>, %[[B:[^:]*]]: memref<16x4096xbf16>, %[[TB:[^:]*]]: memref<?x16xbf16>, %[[Y:[^:]*]]: memref<?x4096xbf16>)
// REF-NOT: gpu.launch_func
// REF: linalg.generic {{.*}} ins(%[[X]], %[[A]] : {{.*}}) outs(%[[XA:.*]] : memref<?x16xf32>)
// REF: linalg.generic {{.*}} ins(%[[XA]] : memref<?x16xf32>) outs(%[[TB]] : memref<?x16xbf16>)
// REF: arith.mulf
// REF: arith.truncf {{.*}} : f32 to bf16
// REF: linalg.generic {{.*}} ins(%[[X]], %[[W]] : {{.*}}) outs(%[[ACC:.*]] : memref<?x4096xf32>)
// REF: linalg.generic {{.*}} ins(%[[TB]], %[[B]] : {{.*}}) outs(%[[ACC]] : memref<?x4096xf32>)
// REF: linalg.generic {{.*}} ins(%[[ACC]] : memref<?x4096xf32>) outs(%[[Y]] : memref<?x4096xbf16>)
func.func @rank16(%x: tensor<?x4096xbf16>, %w: tensor<4096x4096xbf16>,
                  %a: tensor<4096x16xbf16>, %b: tensor<16x4096xbf16>)
    -> tensor<?x4096xbf16> {
  %y = lora.linear %x, %w, %a, %b {rank = 16 : i64, scale = 2.0}
      : (tensor<?x4096xbf16>, tensor<4096x4096xbf16>, tensor<4096x16xbf16>,
         tensor<16x4096xbf16>) -> tensor<?x4096xbf16>
  return %y : tensor<?x4096xbf16>
}

// -----

// Rank 64 does not fit one wgmma N of 16: lora_down as before.
// CHECK-LABEL: func.func @no_fuse_rank64(
// CHECK: gpu.func @lora_down(
// CHECK: gpu.func @lora_linear(
// CHECK-SAME: \22fuse_down\22:false
func.func @no_fuse_rank64(%x: tensor<?x4096xbf16>, %w: tensor<4096x4096xbf16>,
                  %a: tensor<4096x64xbf16>, %b: tensor<64x4096xbf16>)
    -> tensor<?x4096xbf16> {
  %y = lora.linear %x, %w, %a, %b {rank = 64 : i64, scale = 2.0}
      : (tensor<?x4096xbf16>, tensor<4096x4096xbf16>, tensor<4096x64xbf16>,
         tensor<64x4096xbf16>) -> tensor<?x4096xbf16>
  return %y : tensor<?x4096xbf16>
}

// -----

// LoRA dropout: the branch reads its own input (lora_input), not the x the
// main kernel loads, so t comes from lora_down on it.
// CHECK-LABEL: func.func @no_fuse_dropout_branch(
// CHECK: gpu.func @lora_down(
// CHECK: gpu.func @lora_linear(
// CHECK-SAME: \22fuse_down\22:false
func.func @no_fuse_dropout_branch(%x: tensor<?x4096xbf16>, %xl: tensor<?x4096xbf16>,
                                  %w: tensor<4096x4096xbf16>,
                                  %a: tensor<4096x16xbf16>, %b: tensor<16x4096xbf16>)
    -> tensor<?x4096xbf16> {
  %y = lora.linear %x, %w, %a, %b lora_input(%xl) {rank = 16 : i64, scale = 2.0}
      : (tensor<?x4096xbf16>, tensor<4096x4096xbf16>, tensor<4096x16xbf16>,
         tensor<16x4096xbf16>, tensor<?x4096xbf16>) -> tensor<?x4096xbf16>
  return %y : tensor<?x4096xbf16>
}

// -----

// Rank 8 with multicast (a separate RUN): A's slice is each CTA's own, B's
// boxes of the LoRA step multicast as w's.
// MC-LABEL: func.func @rank8(
// MC: gpu.func @lora_linear(
// MC-SAME: known_cluster_size = array<i32: 1, 2, 1>
// MC-SAME: \22fuse_down\22:true
// MC-SAME: {\22box\22:[64,16],\22dims\22:[4096,8]
// MC: scf.if
// MC: nvgpu.tma.async.load {{.*}} multicast_mask
// MC: nvgpu.tma.async.load {{.*}} : <tensor = memref<64x16xbf16, #gpu.address_space<workgroup>>, swizzle = swizzle_32b
// MC: } else {
// MC: nvgpu.tma.async.load {{.*}} multicast_mask = %c3_i16 : <tensor = memref<64x64xbf16
// MC: nvgpu.tma.async.load {{.*}} multicast_mask = %c3_i16 : <tensor = memref<64x64xbf16
// MC-NOT: nvgpu.tma.async.load
// MC: }
func.func @rank8(%x: tensor<?x4096xbf16>, %w: tensor<4096x4096xbf16>,
                 %a: tensor<4096x8xbf16>, %b: tensor<8x4096xbf16>)
    -> tensor<?x4096xbf16> {
  %y = lora.linear %x, %w, %a, %b {rank = 8 : i64, scale = 2.0}
      : (tensor<?x4096xbf16>, tensor<4096x4096xbf16>, tensor<4096x8xbf16>,
         tensor<8x4096xbf16>) -> tensor<?x4096xbf16>
  return %y : tensor<?x4096xbf16>
}

// -----

// A train step: the forward's lora_linear computes t, and the backward's
// lora_input_grad (dx = g·Wᵀ + dt·Aᵀ, W and A read transposed) computes
// dt = scale·g·Bᵀ from B's [16 x 64] slices (K-major, 128B-swizzled, like
// its g boxes) and stores it for lora_a_grad: no lora_down, no
// lora_t_grad. It runs first, then dB on the forward's t, then dA on dt.
// CHECK-LABEL: func.func @train_step(
// CHECK: call @lora_kernels_0_launch(
// CHECK: %[[DT:.*]] = memref.alloc(%{{.*}}) : memref<?x16xbf16>
// CHECK: call @lora_kernels_1_lora_input_grad_launch(%{{.*}}, %{{.*}}, %{{.*}}, %[[DT]], %{{.*}}, %{{.*}}) : (memref<?x1024xbf16>, memref<4096x1024xbf16>, memref<16x1024xbf16>, memref<?x16xbf16>, memref<4096x16xbf16>, memref<?x4096xbf16>)
// CHECK: %[[DTT:.*]] = bufferization.to_tensor %[[DT]]
// CHECK: call @lora_kernels_1_lora_b_grad_launch(
// CHECK: %[[DTB:.*]] = bufferization.to_buffer %[[DTT]]
// CHECK: call @lora_kernels_1_lora_a_grad_launch(%{{.*}}, %[[DTB]], %{{.*}})
// CHECK-NOT: gpu.func @lora_down
// CHECK-NOT: gpu.func @lora_t_grad
// CHECK: gpu.func @lora_input_grad(%{{.*}}: !llvm.ptr, %{{.*}}: !llvm.ptr, %{{.*}}: !llvm.ptr, %{{.*}}: !llvm.ptr, %{{.*}}: !llvm.ptr, %{{.*}}: !llvm.ptr) kernel
// CHECK-SAME: \22fuse_down\22:true
// CHECK-SAME: {\22box\22:[16,64],\22dims\22:[16,1024],\22dtype\22:\22bf16\22,\22l2_promotion\22:256,\22role\22:\22a\22,\22swizzle\22:128}
// CHECK-SAME: \22scale\22:2
// CHECK-SAME: \22transposed_b\22:true
// CHECK: %[[BMAP:.*]] = builtin.unrealized_conversion_cast %arg2 : !llvm.ptr to !nvgpu.tensormap.descriptor<tensor = memref<16x64xbf16, #gpu.address_space<workgroup>>, swizzle = swizzle_128b
// The producer: B's slice at (kk, 0) after g's and W's boxes, the LoRA
// step A's box alone.
// CHECK: %[[TX:.*]] = arith.select %{{.*}}, %c51200, %c32768
// CHECK: nvgpu.mbarrier.arrive.expect_tx %{{.*}}, %[[TX]]
// CHECK: %[[KK:.*]] = arith.muli %{{.*}}, %c64
// CHECK: scf.if
// CHECK-COUNT-2: nvgpu.tma.async.load
// CHECK: arith.addi %{{.*}}, %c49152
// CHECK: nvgpu.tma.async.load %[[BMAP]][%[[KK]], %{{.*}}]
// CHECK: } else {
// CHECK: nvgpu.tma.async.load {{.*}} : <tensor = memref<256x64xbf16
// CHECK-NOT: nvgpu.tma.async.load
// CHECK: }
// The consumers: dt's four k16, both operands K-major (no transpose), +32 B
// along the rows; then the step's four of g·Wᵀ, or at the LoRA step one of
// dt·Aᵀ.
// CHECK: scf.for {{.*}} iter_args(%[[ACC:.*]] = %{{.*}}, %[[T:.*]] = %{{.*}})
// CHECK: scf.if
// CHECK: arith.addi %{{.*}}, %c49152
// CHECK: nvgpu.warpgroup.generate.descriptor %{{.*}}, %[[BMAP]] : memref<16x16xbf16
// CHECK: arith.addi %{{.*}}, %c32
// CHECK: arith.addi %{{.*}}, %c64
// CHECK: arith.addi %{{.*}}, %c96
// CHECK: nvgpu.warpgroup.mma %{{.*}}, %{{.*}}, %[[T]] {waitGroup = 7 : i64} : <tensor = memref<64x16xbf16, {{.*}}>>, <tensor = memref<16x16xbf16, {{.*}}>>, <fragmented = vector<64x16xf32>>
// CHECK-COUNT-3: nvgpu.warpgroup.mma {{.*}} {waitGroup = 7 : i64}
// CHECK: } else {
// CHECK: nvgpu.warpgroup.mma.store %[[T]]
// CHECK: nvgpu.tma.async.store
// CHECK: scf.if
// CHECK-COUNT-3: nvgpu.warpgroup.mma {{.*}}, %{{.*}} {waitGroup = 7 : i64} : {{.*}}, <tensor = memref<16x256xbf16
// CHECK: nvgpu.warpgroup.mma {{.*}} {waitGroup = 4 : i64}
// CHECK: } else {
// CHECK: nvgpu.warpgroup.mma %{{.*}}, %{{.*}}, %[[ACC]] : <tensor = memref<64x16xbf16, {{.*}}>>, <tensor = memref<16x256xbf16
// CHECK-NEXT: scf.yield
// With multicast (a separate RUN): each CTA of a pair loads its own B slice
// (no mask) beside its half of W's box, multicast; the stage's bytes and
// the LoRA step's (both halves of A's box) as without.
// MC-LABEL: func.func @train_step(
// MC: gpu.func @lora_input_grad(
// MC-SAME: known_cluster_size = array<i32: 1, 2, 1>
// MC-SAME: \22fuse_down\22:true
// MC: arith.select %{{.*}}, %c51200, %c32768
// MC: scf.if
// MC: nvgpu.tma.async.load {{.*}} to %{{[^ ]*}} : <tensor = memref<128x64xbf16
// MC: nvgpu.tma.async.load {{.*}} multicast_mask = %c3_i16 : <tensor = memref<128x64xbf16
// MC: nvgpu.tma.async.load {{.*}} to %{{[^ ]*}} : <tensor = memref<16x64xbf16, #gpu.address_space<workgroup>>, swizzle = swizzle_128b
// MC: } else {
// MC: nvgpu.tma.async.load {{.*}} multicast_mask = %c3_i16 : <tensor = memref<128x64xbf16
// MC-NOT: nvgpu.tma.async.load
// MC: }
// The reference launcher computes dt = bf16(scale·g·Bᵀ) into dt's buffer,
// then dx from g·Wᵀ and dt·Aᵀ.
// REF-LABEL: func.func @train_step(
// REF-LABEL: func.func private @lora_kernels_1_lora_input_grad_launch(
// REF-SAME: %[[G:[^:]*]]: memref<?x1024xbf16>, %[[W:[^:]*]]: memref<4096x1024xbf16>, %[[B:[^:]*]]: memref<16x1024xbf16>, %[[DT:[^:]*]]: memref<?x16xbf16>, %[[A:[^:]*]]: memref<4096x16xbf16>, %[[DX:[^:]*]]: memref<?x4096xbf16>)
// REF: linalg.generic {{.*}} ins(%[[G]], %[[B]] : {{.*}}) outs(%[[GB:.*]] : memref<?x16xf32>)
// REF: linalg.generic {{.*}} ins(%[[GB]] : memref<?x16xf32>) outs(%[[DT]] : memref<?x16xbf16>)
// REF: arith.mulf
// REF: linalg.generic {{.*}} ins(%[[G]], %[[W]] : {{.*}}) outs(%[[ACC:.*]] : memref<?x4096xf32>)
// REF: linalg.generic {{.*}} ins(%[[DT]], %[[A]] : {{.*}}) outs(%[[ACC]] : memref<?x4096xf32>)
// REF: linalg.generic {{.*}} ins(%[[ACC]] : memref<?x4096xf32>) outs(%[[DX]] : memref<?x4096xbf16>)
// REF-NOT: @lora_kernels_1_lora_t_grad_launch
func.func @train_step(%x: tensor<?x4096xbf16>, %w: tensor<4096x1024xbf16>,
                      %a: tensor<4096x16xbf16>, %b: tensor<16x1024xbf16>,
                      %g: tensor<?x1024xbf16>)
    -> (tensor<?x1024xbf16>, tensor<?x4096xbf16>, tensor<4096x16xbf16>,
        tensor<16x1024xbf16>) {
  %y = lora.linear %x, %w, %a, %b {rank = 16 : i64, scale = 2.0}
      : (tensor<?x4096xbf16>, tensor<4096x1024xbf16>, tensor<4096x16xbf16>,
         tensor<16x1024xbf16>) -> tensor<?x1024xbf16>
  %dx, %da, %db = lora.linear_grad %x, %w, %a, %b, %g {rank = 16 : i64, scale = 2.0 : f64}
      : (tensor<?x4096xbf16>, tensor<4096x1024xbf16>, tensor<4096x16xbf16>,
         tensor<16x1024xbf16>, tensor<?x1024xbf16>)
      -> (tensor<?x4096xbf16>, tensor<4096x16xbf16>, tensor<16x1024xbf16>)
  return %y, %dx, %da, %db : tensor<?x1024xbf16>, tensor<?x4096xbf16>,
      tensor<4096x16xbf16>, tensor<16x1024xbf16>
}

// -----

// With LoRA dropout dx has no LoRA term (the branch's gradient is its own
// kernel), so dt comes from lora_t_grad as before.
// CHECK-LABEL: func.func @no_fuse_dropout_grad(
// CHECK: call @lora_kernels_0_lora_t_grad_launch(
// CHECK: gpu.func @lora_t_grad(
// CHECK: gpu.func @lora_input_grad(
// CHECK-SAME: \22fuse_down\22:false
// CHECK-SAME: \22kind\22:\22matmul\22
func.func @no_fuse_dropout_grad(%x: tensor<?x4096xbf16>, %xl: tensor<?x4096xbf16>,
                                %w: tensor<4096x1024xbf16>, %a: tensor<4096x16xbf16>,
                                %b: tensor<16x1024xbf16>, %g: tensor<?x1024xbf16>)
    -> (tensor<?x4096xbf16>, tensor<4096x16xbf16>, tensor<16x1024xbf16>,
        tensor<?x4096xbf16>) {
  %dx, %da, %db, %dxl = lora.linear_grad %x, %w, %a, %b, %g lora_input(%xl)
      {rank = 16 : i64, scale = 2.0 : f64}
      : (tensor<?x4096xbf16>, tensor<4096x1024xbf16>, tensor<4096x16xbf16>,
         tensor<16x1024xbf16>, tensor<?x1024xbf16>, tensor<?x4096xbf16>)
      -> (tensor<?x4096xbf16>, tensor<4096x16xbf16>, tensor<16x1024xbf16>,
          tensor<?x4096xbf16>)
  return %dx, %da, %db, %dxl : tensor<?x4096xbf16>, tensor<4096x16xbf16>,
      tensor<16x1024xbf16>, tensor<?x4096xbf16>
}

// -----

// Rank 8: B's slice box is still [16 x 64], over an [8, k] tensor (TMA
// zero-fills rows 8-15, which multiply A's zero-filled columns).
// CHECK-LABEL: func.func @grad_rank8(
// CHECK-NOT: gpu.func @lora_t_grad
// CHECK: gpu.func @lora_input_grad(
// CHECK-SAME: {\22box\22:[16,64],\22dims\22:[8,1024],\22dtype\22:\22bf16\22,\22l2_promotion\22:256,\22role\22:\22a\22,\22swizzle\22:128}
// CHECK-SAME: {\22box\22:[64,64],\22dims\22:[\22M\22,8],\22dtype\22:\22bf16\22,\22l2_promotion\22:0,\22role\22:\22t\22,\22swizzle\22:128}
func.func @grad_rank8(%x: tensor<?x4096xbf16>, %w: tensor<4096x1024xbf16>,
                      %a: tensor<4096x8xbf16>, %b: tensor<8x1024xbf16>,
                      %g: tensor<?x1024xbf16>)
    -> (tensor<?x4096xbf16>, tensor<4096x8xbf16>, tensor<8x1024xbf16>) {
  %dx, %da, %db = lora.linear_grad %x, %w, %a, %b, %g {rank = 8 : i64, scale = 2.0 : f64}
      : (tensor<?x4096xbf16>, tensor<4096x1024xbf16>, tensor<4096x8xbf16>,
         tensor<8x1024xbf16>, tensor<?x1024xbf16>)
      -> (tensor<?x4096xbf16>, tensor<4096x8xbf16>, tensor<8x1024xbf16>)
  return %dx, %da, %db : tensor<?x4096xbf16>, tensor<4096x8xbf16>,
      tensor<8x1024xbf16>
}
