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
// The consumers: at a main step, four m64n16k16 on x (+32 B each) and A's
// slice (+512 B each) through hand-built 32B-swizzle descriptors, before
// the step's main wgmma.
// CHECK: scf.for {{.*}} iter_args(%[[ACC:.*]] = %{{.*}}, %[[T:.*]] = %{{.*}})
// CHECK: scf.if
// CHECK: arith.addi %{{.*}}, %c49152
// CHECK: nvgpu.warpgroup.generate.descriptor {{.*}} : memref<64x16xbf16
// CHECK: arith.addi %[[SMEM]],
// CHECK: arith.shrui %{{.*}}, %c4_i64
// CHECK: arith.andi %{{.*}}, %c16383_i64
// CHECK: arith.ori %{{.*}}, %c-4611685949699522560_i64
// CHECK: nvgpu.warpgroup.mma %{{.*}}, %{{.*}}, %[[T]] {transposeB, waitGroup = 7 : i64} : <tensor = memref<64x16xbf16, {{.*}}>>, <tensor = memref<16x16xbf16, {{.*}}>>, <fragmented = vector<64x16xf32>>
// CHECK: arith.addi %{{.*}}, %c512
// CHECK: nvgpu.warpgroup.mma
// CHECK: arith.addi %{{.*}}, %c1024
// CHECK: nvgpu.warpgroup.mma
// CHECK: arith.addi %{{.*}}, %c1536
// CHECK: nvgpu.warpgroup.mma
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
