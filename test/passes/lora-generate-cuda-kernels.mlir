// RUN: lora-opt %s --split-input-file --lora-generate-cuda-kernels | FileCheck %s
// RUN: lora-opt %s --split-input-file --lora-generate-cuda-kernels | FileCheck %s --check-prefix=GONE
// RUN: lora-opt %s --split-input-file --lora-generate-cuda-kernels | FileCheck %s --check-prefix=DESC

// A LoRA layer with a dynamic row count: the op becomes buffers, two
// allocations (t, y: lora-cuda-device-memory puts them on the device and
// frees them), a call of the launcher and the result as a tensor.
// CHECK-LABEL: func.func @lora_dynamic_rows(
// CHECK-SAME: %[[X:.*]]: tensor<?x4096xbf16>, %[[W:.*]]: tensor<4096x4096xbf16>, %[[A:.*]]: tensor<4096x16xbf16>, %[[B:.*]]: tensor<16x4096xbf16>)
// CHECK-DAG: %[[XB:.*]] = bufferization.to_buffer %[[X]] read_only
// CHECK-DAG: %[[WB:.*]] = bufferization.to_buffer %[[W]] read_only
// CHECK-DAG: %[[AB:.*]] = bufferization.to_buffer %[[A]] read_only
// CHECK-DAG: %[[BB:.*]] = bufferization.to_buffer %[[B]] read_only
// CHECK: %[[M:.*]] = memref.dim %[[XB]], %{{.*}} : memref<?x4096xbf16>
// CHECK: %[[T:.*]] = memref.alloc(%[[M]]) : memref<?x16xbf16>
// CHECK: %[[Y:.*]] = memref.alloc(%[[M]]) : memref<?x4096xbf16>
// CHECK: call @lora_kernels_0_launch(%[[XB]], %[[WB]], %[[AB]], %[[BB]], %[[T]], %[[Y]])
// CHECK-NOT: memref.dealloc
// CHECK: %[[R:.*]] = bufferization.to_tensor %[[Y]] restrict writable
// CHECK: return %[[R]]
//
// Kernels: t = 2·x·A with one consumer warpgroup (64 rows) and 14 stages of
// 16 KiB (as many as fit: it is memory-bound); the main kernel with a
// producer and two consumers (128x256 tiles for N = 4096), 4 stages of
// 48 KiB; the epilogue reuses them and a little more: its f32 rows are
// padded to 264 floats against bank conflicts.
// CHECK: gpu.module @lora_kernels_0 {
// CHECK: memref.global @__lora_dyn_smem : memref<0xi8, #gpu.address_space<workgroup>> {alignment = 1024 : i64}
// lora_down comes in one variant per number of CTAs its 64 K steps are
// split over: the fewest that give 116 SMs (7/8 of 132) a CTA. From 116
// row tiles of 64 (7361 rows) each CTA takes all of K, no cluster; from 58
// (3649 rows) a cluster of 2; below, of 4.
// CHECK: gpu.func @lora_down(%{{.*}}: !llvm.ptr, %{{.*}}: !llvm.ptr, %{{.*}}: !llvm.ptr) kernel
// CHECK-SAME: known_block_size = array<i32: 256, 1, 1>, lora.abi =
// CHECK-SAME: \22rows\22:[7361,null]
// CHECK-SAME: \22splits\22:1
// CHECK-NOT: nvvm.mapa
// CHECK: gpu.func @lora_down_split2(
// CHECK-SAME: known_cluster_size = array<i32: 2, 1, 1>
// CHECK-SAME: \22kernel\22:\22lora_down\22
// CHECK-SAME: \22rows\22:[3649,7360]
// CHECK-SAME: \22splits\22:2
// CHECK: nvvm.mapa %{{.*}}, %c1_i32
// CHECK-NOT: nvvm.mapa
// With 4, each CTA takes 16 steps (split i: steps [16·i, +16)); each keeps
// its partial sum in its staging tile, and between two cluster barriers
// split 0 adds the other three's, read from their shared memory in rank
// order (mapa to ranks 1, 2, 3), before it scales, converts and stores t.
// CHECK: gpu.func @lora_down_split4(%{{.*}}: !llvm.ptr, %{{.*}}: !llvm.ptr, %{{.*}}: !llvm.ptr) kernel
// CHECK-SAME: known_block_size = array<i32: 256, 1, 1>
// CHECK-SAME: known_cluster_size = array<i32: 4, 1, 1>
// CHECK-SAME: \22dynamic_smem\22:229376
// CHECK-SAME: \22kind\22:\22lora_down\22
// CHECK-SAME: \22rows\22:[1,3648]
// CHECK-SAME: \22scale\22:2
// CHECK-SAME: \22splits\22:4
// CHECK-SAME: \22stages\22:14
// CHECK-SAME: \22tile\22:[64,64]
// CHECK: %[[SPLIT:.*]] = gpu.block_id x
// CHECK: %[[FIRST:.*]] = arith.muli %[[SPLIT]], %c16
// CHECK: %[[LEFT:.*]] = arith.subi %c64{{.*}}, %[[FIRST]]
// CHECK: %[[COUNT:.*]] = arith.minsi %[[LEFT]], %c16
// CHECK: %[[BASE:.*]] = memref.extract_aligned_pointer_as_index
// CHECK: nvgpu.mbarrier.create -> <memorySpace = #gpu.address_space<workgroup>, num_barriers = 14>
// Stages and barrier phases count the CTA's own steps (J), the TMA
// coordinates the global ones (K).
// CHECK: scf.for %[[J:.*]] = %{{.*}} to %[[COUNT]] step
// CHECK: %[[STAGE:.*]] = arith.remui %[[J]], %c14
// CHECK: %[[K:.*]] = arith.addi %[[FIRST]], %[[J]]
// CHECK: arith.divui %[[J]], %c14
// CHECK: %[[KK:.*]] = arith.muli %[[K]], %c64
// CHECK: nvgpu.tma.async.load %{{.*}}[%[[KK]], %{{.*}}], %{{.*}}[%[[STAGE]]]
// CHECK: nvgpu.tma.async.load %{{.*}}[%{{.*}}, %[[KK]]], %{{.*}}[%[[STAGE]]]
// CHECK: scf.for %[[JC:.*]] = %{{.*}} to %[[COUNT]] step %{{.*}} iter_args
// CHECK: arith.remui %[[JC]], %c14
// CHECK: arith.divui %[[JC]], %c14
// CHECK: nvgpu.warpgroup.mma {{.*}} {transposeB} : <tensor = memref<64x64xbf16, #gpu.address_space<workgroup>>>, <tensor = memref<64x64xbf16, #gpu.address_space<workgroup>>>, <fragmented = vector<64x64xf32>>
// CHECK: nvgpu.warpgroup.mma.store
// CHECK: nvvm.cluster.arrive
// CHECK-NEXT: nvvm.cluster.wait
// CHECK: %[[LEAD:.*]] = arith.cmpi eq, %[[SPLIT]], %c0
// CHECK: scf.if
// The chunk's bytes in the staging tile: (row · 72 + column) · 4 from the
// shared-memory base, the same in every CTA of the cluster.
// CHECK: %[[OWN:.*]] = vector.load {{.*}} vector<8xf32>
// CHECK: %[[PITCHED:.*]] = arith.muli %{{.*}}, %c72
// CHECK: %[[ELEMENT:.*]] = arith.addi %[[PITCHED]], %{{.*}}
// CHECK: %[[BYTES:.*]] = arith.muli %[[ELEMENT]], %c4
// CHECK: %[[ADDR:.*]] = arith.addi %[[BASE]], %[[BYTES]]
// CHECK: %[[ADDR64:.*]] = arith.index_cast %[[ADDR]] : index to i64
// CHECK: %[[LOCAL:.*]] = llvm.inttoptr %[[ADDR64]]
// CHECK: %[[R1:.*]] = nvvm.mapa %[[LOCAL]], %c1_i32 : !llvm.ptr<3> -> !llvm.ptr<7>
// CHECK: %[[P1:.*]] = llvm.load %[[R1]] {alignment = 16 : i64} : !llvm.ptr<7> -> vector<8xf32>
// CHECK: %[[S1:.*]] = arith.addf %[[OWN]], %[[P1]]
// CHECK: nvvm.mapa %[[LOCAL]], %c2_i32
// CHECK: nvvm.mapa %[[LOCAL]], %c3_i32
// CHECK-NOT: nvvm.mapa
// CHECK: arith.mulf {{.*}} : vector<8xf32>
// CHECK: arith.truncf {{.*}} : vector<8xf32> to vector<8xbf16>
// CHECK: nvgpu.tma.async.store {{.*}} : memref<64x16xbf16, #gpu.address_space<workgroup>>
// CHECK: nvvm.cluster.arrive
// CHECK-NEXT: nvvm.cluster.wait
// CHECK-NEXT: gpu.return
// CHECK: gpu.func @lora_linear(%{{.*}}: !llvm.ptr, %{{.*}}: !llvm.ptr, %{{.*}}: !llvm.ptr, %{{.*}}: !llvm.ptr, %{{.*}}: !llvm.ptr) kernel
// CHECK-SAME: known_block_size = array<i32: 384, 1, 1>
// CHECK-SAME: \22dynamic_smem\22:200704
// CHECK-SAME: \22kernel\22:\22lora_linear\22
// CHECK-SAME: \22kind\22:\22lora_linear\22
// CHECK-SAME: \22rows\22:[513,null]
// CHECK-SAME: \22stages\22:4
// CHECK-SAME: \22tile\22:[128,256]
// The tiles in groups of 8 row tiles, each CTA one row further down (16
// column tiles: 128 CTAs a group, the last group's rows what M leaves).
// CHECK: %[[BX:.*]] = gpu.block_id x
// CHECK: %[[BY:.*]] = gpu.block_id y
// CHECK: %[[GY:.*]] = gpu.grid_dim y
// CHECK: %[[L0:.*]] = arith.muli %[[BY]], %c16
// CHECK: %[[L:.*]] = arith.addi %[[L0]], %[[BX]]
// CHECK: %[[G:.*]] = arith.divui %[[L]], %c128
// CHECK: %[[FIRST:.*]] = arith.muli %[[G]], %c8
// CHECK: %[[LEFT:.*]] = arith.subi %[[GY]], %[[FIRST]]
// CHECK: %[[ROWS:.*]] = arith.minui %[[LEFT]], %c8
// CHECK: %[[IN:.*]] = arith.remui %[[L]], %c128
// CHECK: %[[DOWN:.*]] = arith.remui %[[IN]], %[[ROWS]]
// CHECK: %[[ROW:.*]] = arith.addi %[[FIRST]], %[[DOWN]]
// CHECK: %[[COL:.*]] = arith.divui %[[IN]], %[[ROWS]]
// CHECK: arith.muli %[[COL]], %c256
// CHECK: arith.muli %[[ROW]], %c128
// The producer's K loop: 64 steps over [x; W] and one over [t; B].
// CHECK: scf.for %[[K:.*]] = %{{.*}} to %c65 step
// CHECK: arith.cmpi ult, %[[K]], %c64
// CHECK: nvgpu.mbarrier.try_wait.parity
// CHECK: nvgpu.mbarrier.arrive.expect_tx %{{.*}}, %c49152
// CHECK-COUNT-5: nvgpu.tma.async.load
// CHECK: } else {
// CHECK-COUNT-5: nvgpu.tma.async.load
// The consumers' loop: wgmma on 64x256 per warpgroup, the previous stage
// released after it.
// CHECK: nvgpu.warpgroup.mma {{.*}} {transposeB} : <tensor = memref<64x64xbf16, #gpu.address_space<workgroup>>>, <tensor = memref<64x256xbf16, #gpu.address_space<workgroup>>>, <fragmented = vector<64x256xf32>>
// CHECK: nvgpu.mbarrier.arrive
// CHECK: nvvm.wgmma.wait.group.sync.aligned 0
// CHECK: nvvm.barrier id = %{{.*}} number_of_threads = %{{.*}}
// CHECK: nvgpu.warpgroup.mma.store {{.*}} to memref<64x256xf32, strided<[264, 1], offset: ?>, #gpu.address_space<workgroup>>
// CHECK: nvvm.fence.proxy
// CHECK: nvgpu.tma.async.store {{.*}} : memref<64x256xbf16, #gpu.address_space<workgroup>>
// CHECK: nvvm.cp.async.bulk.commit.group
// CHECK: nvvm.cp.async.bulk.wait_group 0 {read}
//
// M is known only at run time, so the main kernel comes in one variant per
// tiling some M gets (the grid of 128x256 tiles is 16 column tiles wide):
// from 513 rows 128x256 (5 row tiles, 80 CTAs, at least half of 132 SMs);
// 257 to 512 rows 128x128 (7 stages of 32 KiB; 3 x 32 = 96 CTAs at 257);
// up to 256 rows 64x64 with one consumer (at 128 rows: 2 x 64 CTAs instead
// of 16).
// CHECK: gpu.func @lora_linear_128x128(
// CHECK-SAME: known_block_size = array<i32: 384, 1, 1>
// CHECK-SAME: \22kernel\22:\22lora_linear\22
// CHECK-SAME: \22name\22:\22lora_linear_128x128\22
// CHECK-SAME: \22rows\22:[257,512]
// CHECK-SAME: \22stages\22:7
// CHECK-SAME: \22tile\22:[128,128]
// CHECK: nvgpu.warpgroup.mma {{.*}} <fragmented = vector<64x128xf32>>
// CHECK: gpu.func @lora_linear_64x64(
// CHECK-SAME: known_block_size = array<i32: 256, 1, 1>
// CHECK-SAME: \22kernel\22:\22lora_linear\22
// CHECK-SAME: \22rows\22:[1,256]
// CHECK-SAME: \22tile\22:[64,64]
// CHECK: nvgpu.warpgroup.mma {{.*}} <fragmented = vector<64x64xf32>>
//
// The launcher: tensor maps for x, A, t, then x, W, t, B, y for the
// variants that M picks; each launch its own scf.if on its rows, nothing
// for M = 0. A split lora_down's grid has its cluster's CTAs along x.
// CHECK: func.func private @lora_kernels_0_launch(%{{.*}}: memref<?x4096xbf16>, %{{.*}}: memref<4096x4096xbf16>, %{{.*}}: memref<4096x16xbf16>, %{{.*}}: memref<16x4096xbf16>, %{{.*}}: memref<?x16xbf16>, %{{.*}}: memref<?x4096xbf16>)
// CHECK: %[[LM:.*]] = memref.dim
// CHECK: %[[DOWN1:.*]] = arith.cmpi uge, %[[LM]], %c7361
// CHECK: scf.if %[[DOWN1]] {
// CHECK-COUNT-3: nvgpu.tma.create.descriptor
// CHECK: gpu.launch_func @lora_kernels_0::@lora_down blocks in (%c1{{(_[0-9]+)?}}, %{{.*}}, %{{.*}}) threads in (%c256{{(_[0-9]+)?}}, {{.*}}) dynamic_shared_memory_size %c229376_i32
// CHECK: arith.cmpi uge, %[[LM]], %c3649
// CHECK: arith.cmpi ule, %[[LM]], %c7360
// CHECK: gpu.launch_func @lora_kernels_0::@lora_down_split2 blocks in (%c2{{(_[0-9]+)?}},
// CHECK: %[[DOWN4:.*]] = arith.cmpi ule, %[[LM]], %c3648
// CHECK: arith.andi %{{.*}}, %[[DOWN4]]
// CHECK: gpu.launch_func @lora_kernels_0::@lora_down_split4 blocks in (%c4{{(_[0-9]+)?}}, %{{.*}}, %{{.*}}) threads in (%c256{{(_[0-9]+)?}}, {{.*}}) dynamic_shared_memory_size %c229376_i32
// CHECK: %[[BIG:.*]] = arith.cmpi uge, %[[LM]], %c513
// CHECK: scf.if %[[BIG]] {
// CHECK-COUNT-5: nvgpu.tma.create.descriptor
// CHECK: gpu.launch_func @lora_kernels_0::@lora_linear blocks in (%c16{{.*}}, %{{.*}}, %{{.*}}) threads in (%c384, {{.*}}) dynamic_shared_memory_size %c200704_i32
// CHECK: %[[FROM:.*]] = arith.cmpi uge, %[[LM]], %c257
// CHECK: %[[TO:.*]] = arith.cmpi ule, %[[LM]], %c512
// CHECK: %[[MID:.*]] = arith.andi %[[FROM]], %[[TO]]
// CHECK: scf.if %[[MID]] {
// CHECK-COUNT-5: nvgpu.tma.create.descriptor
// CHECK: gpu.launch_func @lora_kernels_0::@lora_linear_128x128 blocks in (%c32, %{{.*}}, %{{.*}}) threads in (%c384{{.*}}) dynamic_shared_memory_size %c229376_i32
// CHECK: %[[TO2:.*]] = arith.cmpi ule, %[[LM]], %c256
// CHECK: %[[FEW:.*]] = arith.andi %{{.*}}, %[[TO2]]
// CHECK: scf.if %[[FEW]] {
// CHECK-COUNT-5: nvgpu.tma.create.descriptor
// CHECK: gpu.launch_func @lora_kernels_0::@lora_linear_64x64 blocks in (%c64{{(_[0-9]+)?}}, %{{.*}}, %{{.*}}) threads in (%c256{{.*}}) dynamic_shared_memory_size %c229376_i32
// CHECK-NOT: gpu.launch_func
// CHECK: return
func.func @lora_dynamic_rows(%x: tensor<?x4096xbf16>, %w: tensor<4096x4096xbf16>,
                             %a: tensor<4096x16xbf16>, %b: tensor<16x4096xbf16>)
    -> tensor<?x4096xbf16> {
  %y = lora.linear %x, %w, %a, %b {rank = 16 : i64, scale = 2.0}
      : (tensor<?x4096xbf16>, tensor<4096x4096xbf16>, tensor<4096x16xbf16>,
         tensor<16x4096xbf16>) -> tensor<?x4096xbf16>
  return %y : tensor<?x4096xbf16>
}

// -----

// Layers of one shape share their kernels: the three lora.linear ops need
// two kernels (the third's scale differs), so two gpu.modules and two
// launchers, built by the first op to need each (the last in the function,
// rewritten first); the second and the first call the same launcher.
// CHECK-LABEL: func.func @shared_layers(
// CHECK: call @lora_kernels_1_launch(
// CHECK: call @lora_kernels_1_launch(
// CHECK: call @lora_kernels_2_launch(
// CHECK: return
// CHECK-NOT: @lora_kernels_0
// CHECK: gpu.module @lora_kernels_2
// CHECK-NOT: @lora_kernels_0
// CHECK: gpu.module @lora_kernels_1
// CHECK-NOT: @lora_kernels_0
func.func @shared_layers(%x: tensor<?x512xbf16>, %w: tensor<512x512xbf16>,
                         %a: tensor<512x16xbf16>, %b: tensor<16x512xbf16>,
                         %a2: tensor<512x16xbf16>, %b2: tensor<16x512xbf16>)
    -> tensor<?x512xbf16> {
  %y1 = lora.linear %x, %w, %a, %b {rank = 16 : i64, scale = 2.0}
      : (tensor<?x512xbf16>, tensor<512x512xbf16>, tensor<512x16xbf16>,
         tensor<16x512xbf16>) -> tensor<?x512xbf16>
  %y2 = lora.linear %y1, %w, %a2, %b2 {rank = 16 : i64, scale = 2.0}
      : (tensor<?x512xbf16>, tensor<512x512xbf16>, tensor<512x16xbf16>,
         tensor<16x512xbf16>) -> tensor<?x512xbf16>
  %y3 = lora.linear %y2, %w, %a, %b {rank = 16 : i64, scale = 0.5}
      : (tensor<?x512xbf16>, tensor<512x512xbf16>, tensor<512x16xbf16>,
         tensor<16x512xbf16>) -> tensor<?x512xbf16>
  return %y3 : tensor<?x512xbf16>
}

// -----

// Batch dims fold into M and come back; the bias is a sixth tensor map,
// loaded once per CTA. 32 rows: 64x64 tiles and one consumer (128x128
// tiles would be 8 CTAs).
// CHECK-LABEL: func.func @lora_batch_bias(
// CHECK: %[[X2:.*]] = tensor.collapse_shape %{{.*}} {{\[}}[0, 1], [2]] : tensor<2x16x512xf16> into tensor<32x512xf16>
// CHECK: %[[XB:.*]] = bufferization.to_buffer %[[X2]] read_only : tensor<32x512xf16> to memref<32x512xf16>
// CHECK: memref.cast %[[XB]] : memref<32x512xf16> to memref<?x512xf16>
// CHECK: call @lora_kernels_0_launch(
// CHECK: %[[R:.*]] = bufferization.to_tensor
// CHECK: %[[S:.*]] = tensor.cast %[[R]] : tensor<?x1024xf16> to tensor<32x1024xf16>
// CHECK: %[[E:.*]] = tensor.expand_shape %[[S]] {{\[}}[0, 1], [2]] output_shape [2, 16, 1024] : tensor<32x1024xf16> into tensor<2x16x1024xf16>
// CHECK: return %[[E]]
// CHECK: gpu.func @lora_linear(%{{.*}}: !llvm.ptr, %{{.*}}: !llvm.ptr, %{{.*}}: !llvm.ptr, %{{.*}}: !llvm.ptr, %{{.*}}: !llvm.ptr, %{{.*}}: !llvm.ptr) kernel
// CHECK-SAME: \22block\22:[256,1,1]
// CHECK-SAME: \22role\22:\22bias\22
// CHECK-SAME: \22tile\22:[64,64]
// CHECK: nvgpu.tma.async.load {{.*}} -> memref<64xf16, #gpu.address_space<workgroup>>
// CHECK: arith.extf {{.*}} : vector<8xf16> to vector<8xf32>
// CHECK: func.func private @lora_kernels_0_launch(%{{.*}}: memref<?x512xf16>, %{{.*}}: memref<512x1024xf16>, %{{.*}}: memref<512x8xf16>, %{{.*}}: memref<8x1024xf16>, %{{.*}}: memref<1024xf16>, %{{.*}}: memref<?x8xf16>, %{{.*}}: memref<?x1024xf16>)
func.func @lora_batch_bias(%x: tensor<2x16x512xf16>, %w: tensor<512x1024xf16>,
                           %a: tensor<512x8xf16>, %b: tensor<8x1024xf16>,
                           %bias: tensor<1024xf16>) -> tensor<2x16x1024xf16> {
  %y = lora.linear %x, %w, %a, %b bias(%bias) {rank = 8 : i64, scale = 0.5}
      : (tensor<2x16x512xf16>, tensor<512x1024xf16>, tensor<512x8xf16>,
         tensor<8x1024xf16>, tensor<1024xf16>) -> tensor<2x16x1024xf16>
  return %y : tensor<2x16x1024xf16>
}

// -----

// A plain matmul into a fresh f32 tensor: one kernel, x, w, y; the f32
// output is converted in place (no second epilogue tile).
// CHECK-LABEL: func.func @matmul_f32_out(
// CHECK-NOT: linalg.matmul
// CHECK: call @lora_kernels_0_launch(
// CHECK: gpu.func @matmul(%{{.*}}: !llvm.ptr, %{{.*}}: !llvm.ptr, %{{.*}}: !llvm.ptr) kernel
// CHECK-SAME: \22kind\22:\22matmul\22
// CHECK-SAME: \22dtype\22:\22f32\22
// CHECK-NOT: arith.truncf
// CHECK: nvgpu.tma.async.store {{.*}} : memref<64x256xf32, strided<[256, 1], offset: ?>, #gpu.address_space<workgroup>>
func.func @matmul_f32_out(%x: tensor<?x4096xbf16>, %w: tensor<4096x8192xbf16>)
    -> tensor<?x8192xf32> {
  %c0 = arith.constant 0 : index
  %zero = arith.constant 0.0 : f32
  %m = tensor.dim %x, %c0 : tensor<?x4096xbf16>
  %e = tensor.empty(%m) : tensor<?x8192xf32>
  %init = linalg.fill ins(%zero : f32) outs(%e : tensor<?x8192xf32>) -> tensor<?x8192xf32>
  %y = linalg.matmul ins(%x, %w : tensor<?x4096xbf16>, tensor<4096x8192xbf16>)
                     outs(%init : tensor<?x8192xf32>) -> tensor<?x8192xf32>
  return %y : tensor<?x8192xf32>
}

// -----

// Not for the tensor cores: f32 operands, a K that breaks the 16-byte row
// alignment TMA needs, a matmul that accumulates into its argument.
// CHECK-LABEL: func.func @no_f32(
// CHECK: lora.linear
// CHECK-LABEL: func.func @no_unaligned_k(
// CHECK: lora.linear
// CHECK-LABEL: func.func @no_accumulate(
// CHECK: linalg.matmul
// CHECK-NOT: gpu.module
func.func @no_f32(%x: tensor<4x64xf32>, %w: tensor<64x64xf32>,
                  %a: tensor<64x8xf32>, %b: tensor<8x64xf32>) -> tensor<4x64xf32> {
  %y = lora.linear %x, %w, %a, %b {rank = 8 : i64, scale = 2.0}
      : (tensor<4x64xf32>, tensor<64x64xf32>, tensor<64x8xf32>, tensor<8x64xf32>)
      -> tensor<4x64xf32>
  return %y : tensor<4x64xf32>
}
func.func @no_unaligned_k(%x: tensor<4x60xbf16>, %w: tensor<60x64xbf16>,
                          %a: tensor<60x8xbf16>, %b: tensor<8x64xbf16>) -> tensor<4x64xbf16> {
  %y = lora.linear %x, %w, %a, %b {rank = 8 : i64, scale = 2.0}
      : (tensor<4x60xbf16>, tensor<60x64xbf16>, tensor<60x8xbf16>, tensor<8x64xbf16>)
      -> tensor<4x64xbf16>
  return %y : tensor<4x64xbf16>
}
func.func @no_accumulate(%x: tensor<4x64xbf16>, %w: tensor<64x64xbf16>,
                         %acc: tensor<4x64xf32>) -> tensor<4x64xf32> {
  %y = linalg.matmul ins(%x, %w : tensor<4x64xbf16>, tensor<64x64xbf16>)
                     outs(%acc : tensor<4x64xf32>) -> tensor<4x64xf32>
  return %y : tensor<4x64xf32>
}

// -----

// Rank 128: t is computed in one 64x128 tile (two A boxes per stage) and
// read back in two extra K steps of the main kernel.
// CHECK-LABEL: func.func @lora_rank_128(
// CHECK: gpu.func @lora_down(
// CHECK-SAME: \22tile\22:[64,128]
// CHECK: nvgpu.warpgroup.mma {{.*}} -> <fragmented = vector<64x128xf32>>
// CHECK: nvgpu.tma.async.store {{.*}} : memref<64x128xbf16, #gpu.address_space<workgroup>>
// CHECK: gpu.func @lora_linear(
// CHECK: scf.for %{{.*}} = %{{.*}} to %c10 step
func.func @lora_rank_128(%x: tensor<?x512xbf16>, %w: tensor<512x512xbf16>,
                         %a: tensor<512x128xbf16>, %b: tensor<128x512xbf16>)
    -> tensor<?x512xbf16> {
  %y = lora.linear %x, %w, %a, %b {rank = 128 : i64, scale = 0.25}
      : (tensor<?x512xbf16>, tensor<512x512xbf16>, tensor<512x128xbf16>,
         tensor<128x512xbf16>) -> tensor<?x512xbf16>
  return %y : tensor<?x512xbf16>
}

// -----

// LoRA dropout's branch input (lora_input): collapsed like x and passed to
// the launcher after the bias; lora_down reads it, the main kernel x.
// CHECK-LABEL: func.func @lora_branch_input(
// CHECK-SAME: %[[X:[^:]*]]: tensor<2x16x512xbf16>, %{{[^:]*}}: tensor<512x1024xbf16>, %{{[^:]*}}: tensor<512x8xbf16>, %{{[^:]*}}: tensor<8x1024xbf16>, %{{[^:]*}}: tensor<1024xbf16>, %[[XL:[^:]*]]: tensor<2x16x512xbf16>)
// CHECK-DAG: %[[X2:.*]] = tensor.collapse_shape %[[X]]
// CHECK-DAG: %[[XL2:.*]] = tensor.collapse_shape %[[XL]]
// CHECK-DAG: %[[XB:.*]] = bufferization.to_buffer %[[X2]] read_only
// CHECK-DAG: %[[XLB:.*]] = bufferization.to_buffer %[[XL2]] read_only
// CHECK-DAG: %[[XC:.*]] = memref.cast %[[XB]] : memref<32x512xbf16> to memref<?x512xbf16>
// CHECK-DAG: %[[XLC:.*]] = memref.cast %[[XLB]] : memref<32x512xbf16> to memref<?x512xbf16>
// CHECK: call @lora_kernels_0_launch(%[[XC]], %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %[[XLC]], %{{.*}}, %{{.*}})
// CHECK: func.func private @lora_kernels_0_launch(%[[LX:[^:]*]]: memref<?x512xbf16>, %[[LW:[^:]*]]: memref<512x1024xbf16>, %[[LA:[^:]*]]: memref<512x8xbf16>, %[[LB:[^:]*]]: memref<8x1024xbf16>, %[[LBIAS:[^:]*]]: memref<1024xbf16>, %[[LXL:[^:]*]]: memref<?x512xbf16>, %[[LT:[^:]*]]: memref<?x8xbf16>, %[[LY:[^:]*]]: memref<?x1024xbf16>)
// lora_down's first descriptor is the branch input's; lora_linear's is x's.
// CHECK: %[[XLU:.*]] = memref.cast %[[LXL]] : memref<?x512xbf16> to memref<*xbf16>
// CHECK: nvgpu.tma.create.descriptor %[[XLU]] box[
// CHECK: gpu.launch_func @lora_kernels_0::@lora_down
// CHECK: %[[XU:.*]] = memref.cast %[[LX]] : memref<?x512xbf16> to memref<*xbf16>
// CHECK: nvgpu.tma.create.descriptor %[[XU]] box[
// CHECK: gpu.launch_func @lora_kernels_0::@lora_linear
func.func @lora_branch_input(%x: tensor<2x16x512xbf16>, %w: tensor<512x1024xbf16>,
                             %a: tensor<512x8xbf16>, %b: tensor<8x1024xbf16>,
                             %bias: tensor<1024xbf16>, %xl: tensor<2x16x512xbf16>)
    -> tensor<2x16x1024xbf16> {
  %y = lora.linear %x, %w, %a, %b lora_input(%xl) bias(%bias) {rank = 8 : i64, scale = 0.5}
      : (tensor<2x16x512xbf16>, tensor<512x1024xbf16>, tensor<512x8xbf16>,
         tensor<8x1024xbf16>, tensor<2x16x512xbf16>, tensor<1024xbf16>) -> tensor<2x16x1024xbf16>
  return %y : tensor<2x16x1024xbf16>
}

// -----

// lora.linear_grad: five kernels, one launcher each, called in order on the
// token-major operands as they are (batch dims collapsed): ts = s·x·A, then
// dt = s·g·Bᵀ, dB = tsᵀ·g, dA = xᵀ·dt, dx = [g | dt]·[Wᵀ ; Aᵀ]. The weight
// gradients have static shapes; dx gets x's batch dims back.
// CHECK-LABEL: func.func @grad_batch(
// CHECK-SAME: %[[X:[^:]*]]: tensor<2x8x512xbf16>, %[[W:[^:]*]]: tensor<512x1024xbf16>, %[[A:[^:]*]]: tensor<512x8xbf16>, %[[B:[^:]*]]: tensor<8x1024xbf16>, %[[G:[^:]*]]: tensor<2x8x1024xbf16>)
// CHECK-DAG: %[[X2:.*]] = tensor.collapse_shape %[[X]] {{\[\[}}0, 1], [2]] : tensor<2x8x512xbf16> into tensor<16x512xbf16>
// CHECK-DAG: %[[G2:.*]] = tensor.collapse_shape %[[G]] {{\[\[}}0, 1], [2]] : tensor<2x8x1024xbf16> into tensor<16x1024xbf16>
// CHECK: %[[TS:.*]] = memref.alloc(%{{.*}}) : memref<?x8xbf16>
// CHECK: call @lora_kernels_0_lora_down_launch(%{{.*}}, %{{.*}}, %[[TS]])
// CHECK: %[[DT:.*]] = memref.alloc(%{{.*}}) : memref<?x8xbf16>
// CHECK: call @lora_kernels_0_lora_t_grad_launch(%{{.*}}, %{{.*}}, %[[DT]])
// CHECK: %[[DB:.*]] = memref.alloc() : memref<8x1024xbf16>
// CHECK: call @lora_kernels_0_lora_b_grad_launch(%{{.*}}, %{{.*}}, %[[DB]])
// CHECK: %[[DBT:.*]] = bufferization.to_tensor %[[DB]] restrict writable
// CHECK: %[[DA:.*]] = memref.alloc() : memref<512x8xbf16>
// CHECK: call @lora_kernels_0_lora_a_grad_launch(%{{.*}}, %{{.*}}, %[[DA]])
// CHECK: %[[DAT:.*]] = bufferization.to_tensor %[[DA]] restrict writable
// CHECK: %[[DX:.*]] = memref.alloc(%{{.*}}) : memref<?x512xbf16>
// CHECK: call @lora_kernels_0_lora_input_grad_launch(%{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %[[DX]])
// CHECK: %[[DXT:.*]] = bufferization.to_tensor %[[DX]] restrict writable
// CHECK: %[[DXS:.*]] = tensor.cast %[[DXT]] : tensor<?x512xbf16> to tensor<16x512xbf16>
// CHECK: %[[DXE:.*]] = tensor.expand_shape %[[DXS]] {{\[\[}}0, 1], [2]] output_shape [2, 8, 512]
// CHECK: return %[[DXE]], %[[DAT]], %[[DBT]]
//
// The kernels: the forward's lora_down; lora_t_grad, a LoRA down-projection
// reading B [r, N] transposed; the weight gradients, matmuls over the token
// count (an index argument) that read ts and x transposed; dx, the forward's
// LoRA kernel reading W and A transposed.
// CHECK: gpu.module @lora_kernels_0 {
// CHECK: gpu.func @lora_down(
// CHECK-SAME: \22transposed_a\22:false,\22transposed_b\22:false
// lora_t_grad's 16 K steps are too few to split (two splits need 32): no
// cluster.
// CHECK: gpu.func @lora_t_grad(%{{.*}}: !llvm.ptr, %{{.*}}: !llvm.ptr, %{{.*}}: !llvm.ptr) kernel
// CHECK-SAME: attributes {known_block_size = array<i32: 256, 1, 1>, lora.abi
// CHECK-SAME: \22k\22:1024,\22kernel\22:\22lora_t_grad\22,\22kind\22:\22lora_down\22,\22m\22:\22M\22
// CHECK-SAME: \22dims\22:[8,1024],\22dtype\22:\22bf16\22,\22l2_promotion\22:256,\22role\22:\22a\22
// CHECK-SAME: \22scale\22:0.5,\22splits\22:1
// CHECK-SAME: \22transposed_a\22:false,\22transposed_b\22:true
// CHECK: gpu.func @lora_b_grad(%{{.*}}: !llvm.ptr, %{{.*}}: !llvm.ptr, %{{.*}}: !llvm.ptr, %{{.*}}: index) kernel
// CHECK-SAME: \22k\22:\22M\22,\22kernel\22:\22lora_b_grad\22,\22kind\22:\22matmul\22,\22m\22:8
// CHECK-SAME: \22dims\22:[\22M\22,8],\22dtype\22:\22bf16\22,\22l2_promotion\22:256,\22role\22:\22x\22
// CHECK-SAME: \22dims\22:[8,1024],\22dtype\22:\22bf16\22,\22l2_promotion\22:0,\22role\22:\22y\22
// CHECK-SAME: \22tile\22:[64,64],\22transposed_a\22:true,\22transposed_b\22:false
// CHECK: gpu.func @lora_a_grad(%{{.*}}: !llvm.ptr, %{{.*}}: !llvm.ptr, %{{.*}}: !llvm.ptr, %{{.*}}: index) kernel
// CHECK-SAME: \22k\22:\22M\22,\22kernel\22:\22lora_a_grad\22,\22kind\22:\22matmul\22,\22m\22:512
// CHECK-SAME: \22dims\22:[512,8],\22dtype\22:\22bf16\22,\22l2_promotion\22:0,\22role\22:\22y\22
// CHECK-SAME: \22transposed_a\22:true,\22transposed_b\22:false
// Four wgmma ops per K step, one per k16, with descriptors 2048 B apart
// (16 rows of an MN-major x) and waits 7, 7, 7, 4.
// CHECK: scf.for
// CHECK: nvgpu.warpgroup.mma {{.*}} {transposeA, transposeB, waitGroup = 7 : i64}
// CHECK-SAME: memref<64x16xbf16, #gpu.address_space<workgroup>>
// CHECK: nvgpu.warpgroup.mma {{.*}} {transposeA, transposeB, waitGroup = 7 : i64}
// CHECK: nvgpu.warpgroup.mma {{.*}} {transposeA, transposeB, waitGroup = 7 : i64}
// CHECK: nvgpu.warpgroup.mma {{.*}} {transposeA, transposeB, waitGroup = 4 : i64}
// CHECK: gpu.func @lora_input_grad(
// CHECK-SAME: \22k\22:1024,\22kernel\22:\22lora_input_grad\22,\22kind\22:\22lora_linear\22,\22m\22:\22M\22
// CHECK-SAME: \22dims\22:[512,1024],\22dtype\22:\22bf16\22,\22l2_promotion\22:256,\22role\22:\22w\22
// CHECK-SAME: \22dims\22:[512,8],\22dtype\22:\22bf16\22,\22l2_promotion\22:256,\22role\22:\22b\22
// CHECK-SAME: \22transposed_a\22:false,\22transposed_b\22:true
// W is 1 MiB, at home in the L2: the tiles in launch order, no raster.
// CHECK-NOT: gpu.grid_dim
// CHECK-NOT: transposeB
// CHECK: nvgpu.warpgroup.mma {{.*}} {waitGroup = 7 : i64}
// CHECK: gpu.return
//
// A weight gradient's launcher passes the token count to the kernel and
// zero-fills its output when there are no tokens: no tensor maps (a dim of
// 0 is an error) and no launch then.
// CHECK-LABEL: func.func private @lora_kernels_0_lora_b_grad_launch(
// CHECK-SAME: %[[BX:[^:]*]]: memref<?x8xbf16>, %{{[^:]*}}: memref<?x1024xbf16>, %[[BY:[^:]*]]: memref<8x1024xbf16>)
// CHECK: %[[TOKENS:.*]] = memref.dim %[[BX]], %{{.*}} : memref<?x8xbf16>
// CHECK: %[[SOME:.*]] = arith.cmpi uge, %[[TOKENS]], %c1
// CHECK-NEXT: scf.if %[[SOME]] {
// CHECK-COUNT-3: nvgpu.tma.create.descriptor
// CHECK: gpu.launch_func @lora_kernels_0::@lora_b_grad blocks in (%{{.*}}, %{{.*}}, %{{.*}}) threads in ({{.*}}) dynamic_shared_memory_size %{{.*}} args({{.*}}, %[[TOKENS]] : index)
// CHECK: %[[NONE:.*]] = arith.cmpi eq, %[[TOKENS]], %{{.*}}
// CHECK: scf.if %[[NONE]] {
// CHECK: gpu.memset async [%{{.*}}] %[[BY]], %{{.*}} : memref<8x1024xbf16>, bf16
func.func @grad_batch(%x: tensor<2x8x512xbf16>, %w: tensor<512x1024xbf16>,
                      %a: tensor<512x8xbf16>, %b: tensor<8x1024xbf16>,
                      %g: tensor<2x8x1024xbf16>)
    -> (tensor<2x8x512xbf16>, tensor<512x8xbf16>, tensor<8x1024xbf16>) {
  %dx, %da, %db = lora.linear_grad %x, %w, %a, %b, %g {rank = 8 : i64, scale = 0.5 : f64}
      : (tensor<2x8x512xbf16>, tensor<512x1024xbf16>, tensor<512x8xbf16>, tensor<8x1024xbf16>, tensor<2x8x1024xbf16>)
      -> (tensor<2x8x512xbf16>, tensor<512x8xbf16>, tensor<8x1024xbf16>)
  return %dx, %da, %db : tensor<2x8x512xbf16>, tensor<512x8xbf16>, tensor<8x1024xbf16>
}

// -----

// With a lora_input (dropout on the branch): t and dA read the branch's
// input, dx = g·Wᵀ is a plain transposed matmul and dxl = dt·Aᵀ another.
// An unused dx is not computed: only the weight gradients then, whose
// kernels the first op has built already (the same problems): its calls go
// to that op's launchers, and there is no second gpu.module.
// CHECK-LABEL: func.func @grad_branch(
// CHECK-SAME: %[[X:[^:]*]]: tensor<?x512xf16>, %{{[^:]*}}: tensor<512x512xf16>, %{{[^:]*}}: tensor<512x16xf16>, %{{[^:]*}}: tensor<16x512xf16>, %{{[^:]*}}: tensor<?x512xf16>, %[[XL:[^:]*]]: tensor<?x512xf16>)
// CHECK: %[[XLB:.*]] = bufferization.to_buffer %[[XL]] read_only
// CHECK: call @lora_kernels_0_lora_down_launch(%[[XLB]],
// CHECK: call @lora_kernels_0_lora_t_grad_launch(
// CHECK: call @lora_kernels_0_lora_b_grad_launch(
// CHECK: %[[XLB2:.*]] = bufferization.to_buffer %[[XL]] read_only
// CHECK: call @lora_kernels_0_lora_a_grad_launch(%[[XLB2]],
// CHECK: call @lora_kernels_0_lora_input_grad_launch(%{{[^,]*}}, %{{[^,]*}}, %{{[^,]*}})
// CHECK: call @lora_kernels_0_lora_branch_grad_launch(%{{[^,]*}}, %{{[^,]*}}, %{{[^,]*}})
// CHECK-LABEL: func.func @grad_weights_only(
// CHECK: call @lora_kernels_0_lora_down_launch(
// CHECK: call @lora_kernels_0_lora_t_grad_launch(
// CHECK: call @lora_kernels_0_lora_b_grad_launch(
// CHECK: call @lora_kernels_0_lora_a_grad_launch(
// CHECK-NOT: lora_input_grad_launch
// CHECK: return
// CHECK: gpu.module @lora_kernels_0
// CHECK: gpu.func @lora_input_grad(
// CHECK-SAME: \22kind\22:\22matmul\22
// CHECK-SAME: \22transposed_b\22:true
// CHECK: gpu.func @lora_branch_grad(
// CHECK-SAME: \22k\22:16,\22kernel\22:\22lora_branch_grad\22,\22kind\22:\22matmul\22
// CHECK-SAME: \22transposed_b\22:true
// CHECK-NOT: gpu.module
// CHECK: func.func private @lora_kernels_0_lora_down_launch(
// CHECK-NOT: gpu.module
// CHECK-NOT: func.func private @lora_kernels_1
func.func @grad_branch(%x: tensor<?x512xf16>, %w: tensor<512x512xf16>,
                       %a: tensor<512x16xf16>, %b: tensor<16x512xf16>,
                       %g: tensor<?x512xf16>, %xl: tensor<?x512xf16>)
    -> (tensor<?x512xf16>, tensor<512x16xf16>, tensor<16x512xf16>, tensor<?x512xf16>) {
  %dx, %da, %db, %dxl = lora.linear_grad %x, %w, %a, %b, %g lora_input(%xl) {rank = 16 : i64, scale = 1.0 : f64}
      : (tensor<?x512xf16>, tensor<512x512xf16>, tensor<512x16xf16>, tensor<16x512xf16>, tensor<?x512xf16>, tensor<?x512xf16>)
      -> (tensor<?x512xf16>, tensor<512x16xf16>, tensor<16x512xf16>, tensor<?x512xf16>)
  return %dx, %da, %db, %dxl : tensor<?x512xf16>, tensor<512x16xf16>, tensor<16x512xf16>, tensor<?x512xf16>
}
func.func @grad_weights_only(%x: tensor<?x512xf16>, %w: tensor<512x512xf16>,
                             %a: tensor<512x16xf16>, %b: tensor<16x512xf16>,
                             %g: tensor<?x512xf16>)
    -> (tensor<512x16xf16>, tensor<16x512xf16>) {
  %dx, %da, %db = lora.linear_grad %x, %w, %a, %b, %g {rank = 16 : i64, scale = 1.0 : f64}
      : (tensor<?x512xf16>, tensor<512x512xf16>, tensor<512x16xf16>, tensor<16x512xf16>, tensor<?x512xf16>)
      -> (tensor<?x512xf16>, tensor<512x16xf16>, tensor<16x512xf16>)
  return %da, %db : tensor<512x16xf16>, tensor<16x512xf16>
}

// -----

// Left to the generic path: f32, and a rank that TMA cannot stride (6
// bf16 = 12 bytes per row of t).
// CHECK-LABEL: func.func @grad_f32(
// CHECK: lora.linear_grad
// CHECK-LABEL: func.func @grad_rank_6(
// CHECK: lora.linear_grad
// CHECK-NOT: gpu.module
func.func @grad_f32(%x: tensor<4x64xf32>, %w: tensor<64x64xf32>,
                    %a: tensor<64x8xf32>, %b: tensor<8x64xf32>, %g: tensor<4x64xf32>)
    -> (tensor<4x64xf32>, tensor<64x8xf32>, tensor<8x64xf32>) {
  %dx, %da, %db = lora.linear_grad %x, %w, %a, %b, %g {rank = 8 : i64, scale = 1.0 : f64}
      : (tensor<4x64xf32>, tensor<64x64xf32>, tensor<64x8xf32>, tensor<8x64xf32>, tensor<4x64xf32>)
      -> (tensor<4x64xf32>, tensor<64x8xf32>, tensor<8x64xf32>)
  return %dx, %da, %db : tensor<4x64xf32>, tensor<64x8xf32>, tensor<8x64xf32>
}
func.func @grad_rank_6(%x: tensor<4x64xbf16>, %w: tensor<64x64xbf16>,
                       %a: tensor<64x6xbf16>, %b: tensor<6x64xbf16>, %g: tensor<4x64xbf16>)
    -> (tensor<4x64xbf16>, tensor<64x6xbf16>, tensor<6x64xbf16>) {
  %dx, %da, %db = lora.linear_grad %x, %w, %a, %b, %g {rank = 6 : i64, scale = 1.0 : f64}
      : (tensor<4x64xbf16>, tensor<64x64xbf16>, tensor<64x6xbf16>, tensor<6x64xbf16>, tensor<4x64xbf16>)
      -> (tensor<4x64xbf16>, tensor<64x6xbf16>, tensor<6x64xbf16>)
  return %dx, %da, %db : tensor<4x64xbf16>, tensor<64x6xbf16>, tensor<6x64xbf16>
}

// -----

// The frozen layers of an ONNX model: a tosa.matmul [1, M, K] x [1, K, N]
// (a reshaped weight) whose f32 result is reshaped and rounded to bf16.
// One matmul kernel computes it and stores bf16: the weight is collapsed
// to [K, N], x to [M, K], and the result is reshaped like the cast's.
// GONE-LABEL: func.func @tosa_matmul_cast(
// GONE-NOT: tosa.matmul
// GONE-NOT: tosa.cast
// GONE: return
// CHECK-LABEL: func.func @tosa_matmul_cast(
// CHECK-SAME: %[[X:[^:]*]]: tensor<1x32x64xbf16>, %[[W:[^:]*]]: tensor<64x128xbf16>
// CHECK: %[[W3:.*]] = tosa.reshape %[[W]]
// CHECK: %[[WC:.*]] = tensor.collapse_shape %[[W3]] {{\[}}[0, 1], [2]] : tensor<1x64x128xbf16> into tensor<64x128xbf16>
// CHECK: %[[XC:.*]] = tensor.collapse_shape %[[X]] {{\[}}[0, 1], [2]] : tensor<1x32x64xbf16> into tensor<32x64xbf16>
// CHECK: %[[XB:.*]] = bufferization.to_buffer %[[XC]]
// CHECK: %[[WB:.*]] = bufferization.to_buffer %[[WC]]
// CHECK: %[[Y:.*]] = memref.alloc(%{{.*}}) : memref<?x128xbf16>
// CHECK: call @lora_kernels_0_launch(%{{.*}}, %{{.*}}, %[[Y]]) : (memref<?x64xbf16>, memref<64x128xbf16>, memref<?x128xbf16>) -> ()
// CHECK: %[[E:.*]] = tensor.expand_shape %{{.*}} {{\[}}[0, 1], [2]] output_shape [1, 32, 128] : tensor<32x128xbf16> into tensor<1x32x128xbf16>
// CHECK: %[[R:.*]] = tosa.reshape %[[E]], %{{.*}} : (tensor<1x32x128xbf16>, !tosa.shape<3>) -> tensor<2x16x128xbf16>
// CHECK: return %[[R]]
// CHECK: gpu.func @matmul(
// CHECK-SAME: \22kind\22:\22matmul\22
// CHECK-SAME: \22dtype\22:\22bf16\22
func.func @tosa_matmul_cast(%x: tensor<1x32x64xbf16>, %w: tensor<64x128xbf16>) -> tensor<2x16x128xbf16> {
  %zp = "tosa.const"() <{values = dense<0.0> : tensor<1xbf16>}> : () -> tensor<1xbf16>
  %s3 = tosa.const_shape {values = dense<[1, 64, 128]> : tensor<3xindex>} : () -> !tosa.shape<3>
  %w3 = tosa.reshape %w, %s3 : (tensor<64x128xbf16>, !tosa.shape<3>) -> tensor<1x64x128xbf16>
  %y = tosa.matmul %x, %w3, %zp, %zp : (tensor<1x32x64xbf16>, tensor<1x64x128xbf16>, tensor<1xbf16>, tensor<1xbf16>) -> tensor<1x32x128xf32>
  %s = tosa.const_shape {values = dense<[2, 16, 128]> : tensor<3xindex>} : () -> !tosa.shape<3>
  %r = tosa.reshape %y, %s : (tensor<1x32x128xf32>, !tosa.shape<3>) -> tensor<2x16x128xf32>
  %c = tosa.cast %r : (tensor<2x16x128xf32>) -> tensor<2x16x128xbf16>
  return %c : tensor<2x16x128xbf16>
}

// -----

// The backward's g·Wᵀ: the right side is a [0, 2, 1] transpose of the
// stored [1, N, K] weight, which the kernel reads as stored (w is [N, K]);
// the f32 result, used as it is, stays f32.
// GONE-LABEL: func.func @tosa_matmul_transposed_weight(
// GONE-NOT: tosa.matmul
// GONE-NOT: tosa.transpose
// GONE: return
// CHECK-LABEL: func.func @tosa_matmul_transposed_weight(
// CHECK: call @lora_kernels_0_launch(%{{.*}}, %{{.*}}, %{{.*}}) : (memref<?x128xbf16>, memref<64x128xbf16>, memref<?x64xf32>) -> ()
// CHECK: return %{{.*}} : tensor<1x32x64xf32>
// CHECK: gpu.func @matmul(
// CHECK-SAME: \22dtype\22:\22f32\22
// CHECK-SAME: \22transposed_b\22:true
func.func @tosa_matmul_transposed_weight(%g: tensor<1x32x128xbf16>, %w: tensor<1x64x128xbf16>) -> tensor<1x32x64xf32> {
  %zp = "tosa.const"() <{values = dense<0.0> : tensor<1xbf16>}> : () -> tensor<1xbf16>
  %wt = tosa.transpose %w {perms = array<i32: 0, 2, 1>} : (tensor<1x64x128xbf16>) -> tensor<1x128x64xbf16>
  %y = tosa.matmul %g, %wt, %zp, %zp : (tensor<1x32x128xbf16>, tensor<1x128x64xbf16>, tensor<1xbf16>, tensor<1xbf16>) -> tensor<1x32x64xf32>
  return %y : tensor<1x32x64xf32>
}

// -----

// Tiles by the static row count (a whole model's), N = 4096: 256 rows in
// 128x256 tiles would be 2 x 16 = 32 CTAs, under half of 132 SMs, and in
// 128x128 tiles 2 x 32 = 64: 64x64 tiles (4 x 64). 512 rows: 4 x 16 = 64,
// then 4 x 32 = 128: 128x128. 640 rows: 5 x 16 = 80: 128x256. Each is one
// kernel, launched for any rows. Dynamic rows: all three, each for the rows
// that would pick it. (The kernels' modules come last first.)
// CHECK-LABEL: func.func @tile_by_rows(
// CHECK: gpu.module @lora_kernels_3
// CHECK: gpu.func @matmul(
// CHECK-SAME: \22block\22:[384,1,1]
// CHECK-SAME: \22rows\22:[513,null]
// CHECK-SAME: \22tile\22:[128,256]
// CHECK: gpu.func @matmul_128x128(
// CHECK-SAME: \22rows\22:[257,512]
// CHECK-SAME: \22tile\22:[128,128]
// CHECK: gpu.func @matmul_64x64(
// CHECK-SAME: \22block\22:[256,1,1]
// CHECK-SAME: \22rows\22:[1,256]
// CHECK-SAME: \22tile\22:[64,64]
// CHECK: gpu.module @lora_kernels_2
// CHECK: gpu.func @matmul(
// CHECK-SAME: \22block\22:[384,1,1]
// CHECK-SAME: \22tile\22:[128,256]
// CHECK: gpu.module @lora_kernels_1
// CHECK: gpu.func @matmul(
// CHECK-SAME: \22block\22:[384,1,1]
// CHECK-SAME: \22tile\22:[128,128]
// CHECK: gpu.module @lora_kernels_0
// CHECK: gpu.func @matmul(
// CHECK-SAME: \22block\22:[256,1,1]
// CHECK-SAME: \22rows\22:[1,null]
// CHECK-SAME: \22tile\22:[64,64]
// CHECK-NOT: gpu.func @matmul_
// CHECK: func.func private @lora_kernels_0_launch
func.func @tile_by_rows(%x256: tensor<1x256x1024xbf16>, %x512: tensor<1x512x1024xbf16>,
                        %x640: tensor<1x640x1024xbf16>, %xdyn: tensor<1x?x1024xbf16>,
                        %w: tensor<1x1024x4096xbf16>)
    -> (tensor<1x256x4096xf32>, tensor<1x512x4096xf32>, tensor<1x640x4096xf32>,
        tensor<1x?x4096xf32>) {
  %zp = "tosa.const"() <{values = dense<0.0> : tensor<1xbf16>}> : () -> tensor<1xbf16>
  %a = tosa.matmul %x256, %w, %zp, %zp : (tensor<1x256x1024xbf16>, tensor<1x1024x4096xbf16>, tensor<1xbf16>, tensor<1xbf16>) -> tensor<1x256x4096xf32>
  %b = tosa.matmul %x512, %w, %zp, %zp : (tensor<1x512x1024xbf16>, tensor<1x1024x4096xbf16>, tensor<1xbf16>, tensor<1xbf16>) -> tensor<1x512x4096xf32>
  %c = tosa.matmul %x640, %w, %zp, %zp : (tensor<1x640x1024xbf16>, tensor<1x1024x4096xbf16>, tensor<1xbf16>, tensor<1xbf16>) -> tensor<1x640x4096xf32>
  %d = tosa.matmul %xdyn, %w, %zp, %zp : (tensor<1x?x1024xbf16>, tensor<1x1024x4096xbf16>, tensor<1xbf16>, tensor<1xbf16>) -> tensor<1x?x4096xf32>
  return %a, %b, %c, %d : tensor<1x256x4096xf32>, tensor<1x512x4096xf32>, tensor<1x640x4096xf32>, tensor<1x?x4096xf32>
}

// -----

// The attention's batched matmuls: [B, M, K] x [B, K, N] with B and M
// known only at run time. One batched kernel: rank-3 tensor maps with a box
// of 1 matrix, the grid's x over the batch's column tiles; the rounding cast after the
// reshape is fused, as for a frozen layer.
// GONE-LABEL: func.func @tosa_matmul_batched(
// GONE-NOT: tosa.matmul
// GONE-NOT: tosa.cast
// GONE: return
// CHECK-LABEL: func.func @tosa_matmul_batched(
// CHECK-SAME: %[[P:[^:]*]]: tensor<?x16x32xbf16>, %[[V:[^:]*]]: tensor<?x32x64xbf16>
// CHECK-NOT: tensor.collapse_shape
// CHECK: %[[PB:.*]] = bufferization.to_buffer %[[P]]
// CHECK: %[[PC:.*]] = memref.cast %[[PB]] : memref<?x16x32xbf16> to memref<?x?x32xbf16>
// CHECK: %[[VB:.*]] = bufferization.to_buffer %[[V]]
// CHECK: %[[B:.*]] = memref.dim %[[PC]], %c0
// CHECK: %[[M:.*]] = memref.dim %[[PC]], %c1
// CHECK: %[[Y:.*]] = memref.alloc(%[[B]], %[[M]]) : memref<?x?x64xbf16>
// CHECK: call @lora_kernels_0_launch(%[[PC]], %[[VB]], %[[Y]]) : (memref<?x?x32xbf16>, memref<?x32x64xbf16>, memref<?x?x64xbf16>) -> ()
// CHECK: %[[T:.*]] = bufferization.to_tensor %[[Y]]
// CHECK: %[[TC:.*]] = tensor.cast %[[T]] : tensor<?x?x64xbf16> to tensor<?x16x64xbf16>
// CHECK: %[[R:.*]] = tosa.reshape %[[TC]], %{{.*}} : (tensor<?x16x64xbf16>, !tosa.shape<4>) -> tensor<2x4x16x64xbf16>
// CHECK: return %[[R]]
// CHECK: gpu.func @matmul(
// CHECK-SAME: \22batched\22:true
// CHECK-SAME: {\22box\22:[1,128,64],\22dims\22:[\22B\22,\22M\22,32],\22dtype\22:\22bf16\22,\22l2_promotion\22:256,\22role\22:\22x\22,\22swizzle\22:128}
// CHECK-SAME: {\22box\22:[1,64,64],\22dims\22:[\22B\22,32,64],\22dtype\22:\22bf16\22,\22l2_promotion\22:256,\22role\22:\22w\22,\22swizzle\22:128}
// CHECK-SAME: {\22box\22:[1,64,128],\22dims\22:[\22B\22,\22M\22,64],\22dtype\22:\22bf16\22,\22l2_promotion\22:0,\22role\22:\22y\22,\22swizzle\22:0}
// Each CTA copies boxes of its own matrix, the outermost coordinate: block
// id x over the column tiles of one matrix (1 here: N = 64, tileN = 128).
// CHECK: %[[BX:.*]] = gpu.block_id x
// CHECK: %[[Z:.*]] = arith.divui %[[BX]], %c1{{(_[0-9]+)?}} : index
// CHECK: %[[COL:.*]] = arith.remui %[[BX]], %c1{{(_[0-9]+)?}} : index
// CHECK: arith.muli %[[COL]], %c128
// CHECK: nvgpu.tma.async.load %{{.*}}[%{{.*}}, %{{.*}}, %[[Z]]], %{{.*}} to %{{.*}} : {{.*}} -> memref<1x128x64xbf16, #gpu.address_space<workgroup>>
// CHECK: nvgpu.tma.async.load %{{.*}}[%{{.*}}, %{{.*}}, %[[Z]]], %{{.*}} to %{{.*}} : {{.*}} -> memref<1x64x64xbf16, #gpu.address_space<workgroup>>
// The wgmma descriptors read the maps as rank 2: generate.descriptor takes
// its leading byte offset (w: 64 rows of 128 B between the 64-column boxes)
// from the box's first dim, which must not be the batch's 1.
// CHECK-DAG: nvgpu.warpgroup.generate.descriptor %{{.*}}, %{{.*}} : memref<64x64xbf16, #gpu.address_space<workgroup>>, <tensor = memref<128x64xbf16
// CHECK-DAG: nvgpu.warpgroup.generate.descriptor %{{.*}}, %{{.*}} : memref<64x128xbf16, #gpu.address_space<workgroup>>, <tensor = memref<64x64xbf16
// DESC-NOT: nvgpu.warpgroup.generate.descriptor {{.*}}, <tensor = memref<1x
// CHECK: nvgpu.tma.async.store %{{.*}} to %{{.*}}[%{{.*}}, %{{.*}}, %[[Z]]] : memref<1x64x128xbf16, #gpu.address_space<workgroup>>
// The launcher: rank-3 descriptors, the grid's x the column tiles of every
// matrix; nothing is launched for no matrices or no rows.
// CHECK: func.func private @lora_kernels_0_launch(%[[LX:[^:]*]]: memref<?x?x32xbf16>, %{{[^:]*}}: memref<?x32x64xbf16>, %{{[^:]*}}: memref<?x?x64xbf16>)
// CHECK-DAG: %[[LM:.*]] = memref.dim %[[LX]], %c1
// CHECK-DAG: %[[LB:.*]] = memref.dim %[[LX]], %c0
// CHECK-DAG: %[[HASM:.*]] = arith.cmpi uge, %[[LM]], %c1
// CHECK-DAG: %[[HASB:.*]] = arith.cmpi ne, %[[LB]], %c0
// CHECK: %[[ANY:.*]] = arith.andi %[[HASM]], %[[HASB]]
// CHECK: scf.if %[[ANY]]
// The operands' maps promote L2 fetches to 256 B; the output's does not.
// CHECK: nvgpu.tma.create.descriptor %{{.*}} box[%{{.*}}, %{{.*}}, %{{.*}}] : memref<*xbf16> -> <tensor = memref<1x128x64xbf16, #gpu.address_space<workgroup>>, swizzle = swizzle_128b, l2promo = l2promo_256b,
// CHECK: nvgpu.tma.create.descriptor {{.*}} -> <tensor = memref<1x64x64xbf16, #gpu.address_space<workgroup>>, swizzle = swizzle_128b, l2promo = l2promo_256b,
// CHECK: nvgpu.tma.create.descriptor {{.*}} -> <tensor = memref<1x64x128xbf16, #gpu.address_space<workgroup>>, swizzle = none, l2promo = none,
// CHECK: %[[GX:.*]] = arith.muli %c1{{(_[0-9]+)?}}, %[[LB]] : index
// CHECK: gpu.launch_func @lora_kernels_0::@matmul blocks in (%[[GX]], %{{.*}}, %c1{{(_[0-9]+)?}})
func.func @tosa_matmul_batched(%p: tensor<?x16x32xbf16>, %v: tensor<?x32x64xbf16>) -> tensor<2x4x16x64xbf16> {
  %zp = "tosa.const"() <{values = dense<0.0> : tensor<1xbf16>}> : () -> tensor<1xbf16>
  %y = tosa.matmul %p, %v, %zp, %zp : (tensor<?x16x32xbf16>, tensor<?x32x64xbf16>, tensor<1xbf16>, tensor<1xbf16>) -> tensor<?x16x64xf32>
  %s = tosa.const_shape {values = dense<[2, 4, 16, 64]> : tensor<4xindex>} : () -> !tosa.shape<4>
  %r = tosa.reshape %y, %s : (tensor<?x16x64xf32>, !tosa.shape<4>) -> tensor<2x4x16x64xf32>
  %c = tosa.cast %r : (tensor<2x4x16x64xf32>) -> tensor<2x4x16x64xbf16>
  return %c : tensor<2x4x16x64xbf16>
}

// -----

// q·kᵀ with k stored [B, N, K]: the [0, 2, 1] transpose is read as stored,
// one tileN x 64 box of the CTA's matrix per stage.
// GONE-LABEL: func.func @tosa_matmul_batched_transposed(
// GONE-NOT: tosa.transpose
// GONE: return
// CHECK-LABEL: func.func @tosa_matmul_batched_transposed(
// CHECK: call @lora_kernels_0_launch(%{{.*}}, %{{.*}}, %{{.*}}) : (memref<?x?x64xbf16>, memref<?x24x64xbf16>, memref<?x?x24xf32>) -> ()
// CHECK: return %{{.*}} : tensor<8x16x24xf32>
// CHECK: gpu.func @matmul(
// CHECK-SAME: {\22box\22:[1,128,64],\22dims\22:[\22B\22,24,64],\22dtype\22:\22bf16\22,\22l2_promotion\22:256,\22role\22:\22w\22,\22swizzle\22:128}
// CHECK-SAME: \22transposed_b\22:true
// CHECK: nvgpu.tma.async.load {{.*}} -> memref<1x128x64xbf16, #gpu.address_space<workgroup>>
// CHECK: nvgpu.tma.async.load {{.*}} -> memref<1x128x64xbf16, #gpu.address_space<workgroup>>
// The f32 output is TMA-stored from the staging rows themselves.
// CHECK: nvgpu.tma.async.store %{{.*}} : memref<1x64x128xf32, #gpu.address_space<workgroup>>
func.func @tosa_matmul_batched_transposed(%q: tensor<8x16x64xbf16>, %k: tensor<8x24x64xbf16>) -> tensor<8x16x24xf32> {
  %zp = "tosa.const"() <{values = dense<0.0> : tensor<1xbf16>}> : () -> tensor<1xbf16>
  %kt = tosa.transpose %k {perms = array<i32: 0, 2, 1>} : (tensor<8x24x64xbf16>) -> tensor<8x64x24xbf16>
  %y = tosa.matmul %q, %kt, %zp, %zp : (tensor<8x16x64xbf16>, tensor<8x64x24xbf16>, tensor<1xbf16>, tensor<1xbf16>) -> tensor<8x16x24xf32>
  return %y : tensor<8x16x24xf32>
}

// -----

// Left to linalg: a batched matmul whose contraction is known only at run
// time (probabilities·v over a dynamic sequence), batch sizes that differ
// (TOSA's verifier lets them), f32 operands.
// CHECK-LABEL: func.func @tosa_matmul_batched_dynamic_k(
// CHECK: tosa.matmul
// CHECK-LABEL: func.func @tosa_matmul_batch_mismatch(
// CHECK: tosa.matmul
// CHECK-LABEL: func.func @tosa_matmul_f32(
// CHECK: tosa.matmul
// CHECK-NOT: gpu.module
func.func @tosa_matmul_batched_dynamic_k(%p: tensor<8x16x?xbf16>, %v: tensor<8x?x16xbf16>) -> tensor<8x16x16xf32> {
  %zp = "tosa.const"() <{values = dense<0.0> : tensor<1xbf16>}> : () -> tensor<1xbf16>
  %y = tosa.matmul %p, %v, %zp, %zp : (tensor<8x16x?xbf16>, tensor<8x?x16xbf16>, tensor<1xbf16>, tensor<1xbf16>) -> tensor<8x16x16xf32>
  return %y : tensor<8x16x16xf32>
}
func.func @tosa_matmul_batch_mismatch(%x: tensor<4x16x32xbf16>, %w: tensor<1x32x64xbf16>) -> tensor<4x16x64xf32> {
  %zp = "tosa.const"() <{values = dense<0.0> : tensor<1xbf16>}> : () -> tensor<1xbf16>
  %y = tosa.matmul %x, %w, %zp, %zp : (tensor<4x16x32xbf16>, tensor<1x32x64xbf16>, tensor<1xbf16>, tensor<1xbf16>) -> tensor<4x16x64xf32>
  return %y : tensor<4x16x64xf32>
}
func.func @tosa_matmul_f32(%x: tensor<1x32x64xf32>, %w: tensor<1x64x128xf32>) -> tensor<1x32x128xf32> {
  %zp = "tosa.const"() <{values = dense<0.0> : tensor<1xf32>}> : () -> tensor<1xf32>
  %y = tosa.matmul %x, %w, %zp, %zp : (tensor<1x32x64xf32>, tensor<1x64x128xf32>, tensor<1xf32>, tensor<1xf32>) -> tensor<1x32x128xf32>
  return %y : tensor<1x32x128xf32>
}

// -----

// Two frozen layers in a row, the first one's rounded result feeding the
// second: each becomes a kernel, the second reading the first's output.
// The cast of a result that has another use is not fused: that kernel
// stores f32 and the cast stays.
// GONE-LABEL: func.func @tosa_matmul_chain(
// GONE-NOT: tosa.matmul
// GONE: return
// CHECK-LABEL: func.func @tosa_matmul_chain(
// CHECK: %[[Y0:.*]] = memref.alloc(%{{.*}}) : memref<?x64xbf16>
// CHECK: call @lora_kernels_0_launch(%{{.*}}, %{{.*}}, %[[Y0]])
// CHECK: %[[T0:.*]] = bufferization.to_tensor %[[Y0]]
// CHECK: %[[C0:.*]] = tensor.cast %[[T0]]
// CHECK: %[[E0:.*]] = tensor.expand_shape %[[C0]]
// CHECK: %[[X1:.*]] = tensor.collapse_shape %[[E0]]
// CHECK: %[[B1:.*]] = bufferization.to_buffer %[[X1]]
// CHECK: %[[Y1:.*]] = memref.alloc(%{{.*}}) : memref<?x64xf32>
// CHECK: call @lora_kernels_1_launch(%{{.*}}, %{{.*}}, %[[Y1]])
// CHECK: %[[R1:.*]] = tensor.expand_shape
// CHECK: %[[CAST:.*]] = tosa.cast %[[R1]] : (tensor<1x32x64xf32>) -> tensor<1x32x64xbf16>
// CHECK: return %[[CAST]], %[[R1]]
func.func @tosa_matmul_chain(%x: tensor<1x32x64xbf16>, %w0: tensor<1x64x64xbf16>, %w1: tensor<1x64x64xbf16>) -> (tensor<1x32x64xbf16>, tensor<1x32x64xf32>) {
  %zp = "tosa.const"() <{values = dense<0.0> : tensor<1xbf16>}> : () -> tensor<1xbf16>
  %y0 = tosa.matmul %x, %w0, %zp, %zp : (tensor<1x32x64xbf16>, tensor<1x64x64xbf16>, tensor<1xbf16>, tensor<1xbf16>) -> tensor<1x32x64xf32>
  %h = tosa.cast %y0 : (tensor<1x32x64xf32>) -> tensor<1x32x64xbf16>
  %y1 = tosa.matmul %h, %w1, %zp, %zp : (tensor<1x32x64xbf16>, tensor<1x64x64xbf16>, tensor<1xbf16>, tensor<1xbf16>) -> tensor<1x32x64xf32>
  %c1 = tosa.cast %y1 : (tensor<1x32x64xf32>) -> tensor<1x32x64xbf16>
  return %c1, %y1 : tensor<1x32x64xbf16>, tensor<1x32x64xf32>
}

// -----

// The backward reads its forward's t: a lora.linear_grad of the same x, A,
// rank and scale as a lora.linear before it launches no lora_down of its
// own; lora_b_grad reads the forward's t buffer.
// CHECK-LABEL: func.func @grad_reads_forward_t(
// CHECK: %[[T:.*]] = memref.alloc(%{{.*}}) : memref<?x16xbf16>
// CHECK: call @lora_kernels_0_launch(%{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %[[T]], %{{.*}})
// CHECK: %[[TT:.*]] = bufferization.to_tensor %[[T]] restrict : memref<?x16xbf16> to tensor<?x16xbf16>
// CHECK-NOT: lora_down_launch
// CHECK: call @lora_kernels_1_lora_t_grad_launch(
// CHECK: %[[TB:.*]] = bufferization.to_buffer %[[TT]] read_only
// CHECK: call @lora_kernels_1_lora_b_grad_launch(%[[TB]],
// CHECK: return
// CHECK: gpu.module @lora_kernels_1
// CHECK-NOT: gpu.func @lora_down
// CHECK: gpu.func @lora_t_grad
func.func @grad_reads_forward_t(%x: tensor<?x512xbf16>, %w: tensor<512x256xbf16>,
                                %a: tensor<512x16xbf16>, %b: tensor<16x256xbf16>,
                                %g: tensor<?x256xbf16>)
    -> (tensor<?x256xbf16>, tensor<512x16xbf16>, tensor<16x256xbf16>) {
  %y = lora.linear %x, %w, %a, %b {rank = 16 : i64, scale = 2.0}
      : (tensor<?x512xbf16>, tensor<512x256xbf16>, tensor<512x16xbf16>,
         tensor<16x256xbf16>) -> tensor<?x256xbf16>
  %dx, %da, %db = lora.linear_grad %x, %w, %a, %b, %g {rank = 16 : i64, scale = 2.0 : f64}
      : (tensor<?x512xbf16>, tensor<512x256xbf16>, tensor<512x16xbf16>, tensor<16x256xbf16>, tensor<?x256xbf16>)
      -> (tensor<?x512xbf16>, tensor<512x16xbf16>, tensor<16x256xbf16>)
  return %y, %da, %db : tensor<?x256xbf16>, tensor<512x16xbf16>, tensor<16x256xbf16>
}

// -----

// No forward's t to read: a forward that does not come before the backward
// on every path (in an scf.if), another scale, another input. Each backward
// computes its ts with a lora_down launch of its own; the third's kernel is
// the first's (the same scale and shapes), the second's is not (its scale).
// CHECK-LABEL: func.func @no_forward_t(
// CHECK-NOT: bufferization.to_tensor %{{.*}} restrict : memref<?x16xbf16>
// CHECK: call @lora_kernels_2_lora_down_launch(
// CHECK: call @lora_kernels_3_lora_down_launch(
// CHECK: call @lora_kernels_2_lora_down_launch(
// CHECK-NOT: lora_kernels_4
func.func @no_forward_t(%x: tensor<?x512xbf16>, %w: tensor<512x256xbf16>,
                        %a: tensor<512x16xbf16>, %a2: tensor<512x16xbf16>,
                        %b: tensor<16x256xbf16>, %g: tensor<?x256xbf16>,
                        %x3: tensor<?x512xbf16>, %flag: i1)
    -> (tensor<?x256xbf16>, tensor<?x256xbf16>, tensor<512x16xbf16>,
        tensor<512x16xbf16>, tensor<512x16xbf16>) {
  %y = lora.linear %x, %w, %a, %b {rank = 16 : i64, scale = 2.0}
      : (tensor<?x512xbf16>, tensor<512x256xbf16>, tensor<512x16xbf16>,
         tensor<16x256xbf16>) -> tensor<?x256xbf16>
  %y2 = scf.if %flag -> tensor<?x256xbf16> {
    %f = lora.linear %x, %w, %a2, %b {rank = 16 : i64, scale = 2.0}
        : (tensor<?x512xbf16>, tensor<512x256xbf16>, tensor<512x16xbf16>,
           tensor<16x256xbf16>) -> tensor<?x256xbf16>
    scf.yield %f : tensor<?x256xbf16>
  } else {
    scf.yield %y : tensor<?x256xbf16>
  }
  %dx, %da, %db = lora.linear_grad %x, %w, %a2, %b, %g {rank = 16 : i64, scale = 2.0 : f64}
      : (tensor<?x512xbf16>, tensor<512x256xbf16>, tensor<512x16xbf16>, tensor<16x256xbf16>, tensor<?x256xbf16>)
      -> (tensor<?x512xbf16>, tensor<512x16xbf16>, tensor<16x256xbf16>)
  %dx2, %da2, %db2 = lora.linear_grad %x, %w, %a, %b, %g {rank = 16 : i64, scale = 0.5 : f64}
      : (tensor<?x512xbf16>, tensor<512x256xbf16>, tensor<512x16xbf16>, tensor<16x256xbf16>, tensor<?x256xbf16>)
      -> (tensor<?x512xbf16>, tensor<512x16xbf16>, tensor<16x256xbf16>)
  %dx3, %da3, %db3 = lora.linear_grad %x3, %w, %a, %b, %g {rank = 16 : i64, scale = 2.0 : f64}
      : (tensor<?x512xbf16>, tensor<512x256xbf16>, tensor<512x16xbf16>, tensor<16x256xbf16>, tensor<?x256xbf16>)
      -> (tensor<?x512xbf16>, tensor<512x16xbf16>, tensor<16x256xbf16>)
  return %y, %y2, %da, %da2, %da3 : tensor<?x256xbf16>, tensor<?x256xbf16>, tensor<512x16xbf16>,
                                    tensor<512x16xbf16>, tensor<512x16xbf16>
}

// -----

// Sizes whose rows TMA cannot stride (K or N not a multiple of 8): the
// kernel computes on copies zero-padded to multiples of 8 and y is sliced
// back. An LM head with a vocabulary of 100: W's columns to 104.
// CHECK-LABEL: func.func @pad_lm_head(
// CHECK: %[[ZERO:.*]] = arith.constant 0.000000e+00 : bf16
// CHECK: %[[W:.*]] = tensor.pad %{{.*}} low[0, 0] high[0, 4]
// CHECK: tensor.yield %[[ZERO]]
// CHECK: } : tensor<64x100xbf16> to tensor<64x104xbf16>
// CHECK: %[[WB:.*]] = bufferization.to_buffer %[[W]]
// CHECK: %[[Y:.*]] = memref.alloc(%{{.*}}) : memref<?x104xf32>
// CHECK: call @lora_kernels_0_launch(%{{.*}}, %[[WB]], %[[Y]])
// CHECK: %[[YT:.*]] = bufferization.to_tensor %[[Y]]
// CHECK: %[[S:.*]] = tensor.extract_slice %[[YT]][0, 0] [%{{.*}}, 100] [1, 1] : tensor<?x104xf32> to tensor<?x100xf32>
// CHECK: tensor.cast %[[S]] : tensor<?x100xf32> to tensor<13x100xf32>
func.func @pad_lm_head(%x: tensor<1x13x64xbf16>, %w: tensor<1x64x100xbf16>) -> tensor<1x13x100xf32> {
  %zp = "tosa.const"() <{values = dense<0.0> : tensor<1xbf16>}> : () -> tensor<1xbf16>
  %y = tosa.matmul %x, %w, %zp, %zp : (tensor<1x13x64xbf16>, tensor<1x64x100xbf16>, tensor<1xbf16>, tensor<1xbf16>) -> tensor<1x13x100xf32>
  return %y : tensor<1x13x100xf32>
}

// Its backward's g·Wᵀ contracts over the 100: g's columns and W's (read
// as stored, [N, K]) to 104; nothing to slice.
// CHECK-LABEL: func.func @pad_contraction(
// CHECK: tensor.pad %{{.*}} low[0, 0] high[0, 4]
// CHECK: } : tensor<13x100xbf16> to tensor<13x104xbf16>
// CHECK: tensor.pad %{{.*}} low[0, 0] high[0, 4]
// CHECK: } : tensor<64x100xbf16> to tensor<64x104xbf16>
// CHECK: call @lora_kernels_1_launch(
// CHECK-NOT: tensor.extract_slice
// CHECK: return
// The kernels (last first): x [M, 104], w [64, 104] read transposed; then
// the LM head's w [64, 104], y [M, 104].
// CHECK: gpu.module @lora_kernels_1
// CHECK: gpu.func @matmul(
// CHECK-SAME: \22dims\22:[\22M\22,104]
// CHECK-SAME: \22dims\22:[64,104]
// CHECK-SAME: \22transposed_b\22:true
// CHECK: gpu.module @lora_kernels_0
// CHECK: gpu.func @matmul(
// CHECK-SAME: \22dims\22:[64,104]
// CHECK-SAME: \22dims\22:[\22M\22,104]
func.func @pad_contraction(%g: tensor<1x13x100xbf16>, %w: tensor<1x64x100xbf16>) -> tensor<1x13x64xf32> {
  %zp = "tosa.const"() <{values = dense<0.0> : tensor<1xbf16>}> : () -> tensor<1xbf16>
  %wt = tosa.transpose %w {perms = array<i32: 0, 2, 1>} : (tensor<1x64x100xbf16>) -> tensor<1x100x64xbf16>
  %dx = tosa.matmul %g, %wt, %zp, %zp : (tensor<1x13x100xbf16>, tensor<1x100x64xbf16>, tensor<1xbf16>, tensor<1xbf16>) -> tensor<1x13x64xf32>
  return %dx : tensor<1x13x64xf32>
}

// -----

// The attention at 13 tokens: q·kᵀ has 13 columns (k read as stored, not
// copied: its 32-element rows are aligned, and TMA zero-fills rows 13 to
// 15; y sliced; the rounding cast fused); probabilities·v contracts over
// 13 (p's columns and v's rows padded to 16).
// CHECK-LABEL: func.func @pad_attention(
// CHECK-NOT: tosa.transpose
// CHECK-NOT: tensor.pad
// CHECK: call @lora_kernels_0_launch(%{{.*}}, %{{.*}}, %{{.*}}) : (memref<?x?x32xbf16>, memref<?x13x32xbf16>, memref<?x?x16xbf16>)
// CHECK: tensor.extract_slice %{{.*}}[0, 0, 0] [%{{.*}}, %{{.*}}, 13] [1, 1, 1] : tensor<?x?x16xbf16> to tensor<?x?x13xbf16>
// CHECK-NOT: tosa.cast
// CHECK: tensor.pad %{{.*}} low[0, 0, 0] high[0, 0, 3]
// CHECK: } : tensor<4x13x13xbf16> to tensor<4x13x16xbf16>
// CHECK: tensor.pad %{{.*}} low[0, 0, 0] high[0, 3, 0]
// CHECK: } : tensor<4x13x32xbf16> to tensor<4x16x32xbf16>
// CHECK: call @lora_kernels_1_launch(
// CHECK-NOT: tensor.extract_slice
// CHECK: return
// CHECK: gpu.module @lora_kernels_1
// CHECK: gpu.func @matmul(
// CHECK-SAME: \22dims\22:[\22B\22,\22M\22,16]
// CHECK: gpu.module @lora_kernels_0
// CHECK: gpu.func @matmul(
// CHECK-SAME: \22batched\22:true
// CHECK-SAME: \22dims\22:[\22B\22,13,32]
// CHECK-SAME: \22dims\22:[\22B\22,\22M\22,16]
// CHECK-SAME: \22transposed_b\22:true
func.func @pad_attention(%q: tensor<4x13x32xbf16>, %k: tensor<4x13x32xbf16>,
                         %p: tensor<4x13x13xbf16>, %v: tensor<4x13x32xbf16>)
    -> (tensor<4x13x13xbf16>, tensor<4x13x32xf32>) {
  %zp = "tosa.const"() <{values = dense<0.0> : tensor<1xbf16>}> : () -> tensor<1xbf16>
  %kt = tosa.transpose %k {perms = array<i32: 0, 2, 1>} : (tensor<4x13x32xbf16>) -> tensor<4x32x13xbf16>
  %s = tosa.matmul %q, %kt, %zp, %zp : (tensor<4x13x32xbf16>, tensor<4x32x13xbf16>, tensor<1xbf16>, tensor<1xbf16>) -> tensor<4x13x13xf32>
  %sc = tosa.cast %s : (tensor<4x13x13xf32>) -> tensor<4x13x13xbf16>
  %c = tosa.matmul %p, %v, %zp, %zp : (tensor<4x13x13xbf16>, tensor<4x13x32xbf16>, tensor<1xbf16>, tensor<1xbf16>) -> tensor<4x13x32xf32>
  return %sc, %c : tensor<4x13x13xbf16>, tensor<4x13x32xf32>
}

// -----

// A lora.linear_grad over a token count known only at run time: its weight
// gradients have fewer 64x64 tiles than a wave (dB = tsᵀ·g: 16; dA = xᵀ·dt:
// 64), so each comes in one variant per number of CTAs its tokens are split
// over, a cluster sharing a tile: the fewest that give 116 CTAs, at most
// 4, at least 16 steps of 64 tokens each. dB: 4 from 4096 tokens, 2 from
// 2048, none below.
// CHECK-LABEL: func.func @grad_dynamic_tokens(
// CHECK: gpu.func @lora_b_grad(%{{.*}}: !llvm.ptr, %{{.*}}: !llvm.ptr, %{{.*}}: !llvm.ptr, %[[K:.*]]: index) kernel
// CHECK-SAME: known_cluster_size = array<i32: 4, 1, 1>
// CHECK-SAME: \22rows\22:[4096,null]
// CHECK-SAME: \22splits\22:4
// Block x is the column tile and the split, the split fastest; the split's
// share of the tokens' steps comes from the token count.
// CHECK: %[[STEPS:.*]] = arith.ceildivui %[[K]], %c64
// CHECK: %[[BX:.*]] = gpu.block_id x
// CHECK: %[[SPLIT:.*]] = arith.remui %[[BX]], %c4
// CHECK: %[[COLUMN:.*]] = arith.divui %[[BX]], %c4
// CHECK: %[[PER:.*]] = arith.ceildivui %[[STEPS]], %c4
// CHECK: %[[FIRST:.*]] = arith.muli %[[SPLIT]], %[[PER]]
// CHECK: %[[LEFT:.*]] = arith.subi %[[STEPS]], %[[FIRST]]
// CHECK: %[[SOME:.*]] = arith.minsi %[[LEFT]], %[[PER]]
// CHECK: %[[COUNT:.*]] = arith.maxsi %[[SOME]], %c0
// CHECK: arith.muli %[[COLUMN]], %c64
// CHECK: scf.for %{{.*}} = %{{.*}} to %[[COUNT]] step
// CHECK: nvvm.mapa %{{.*}}, %c3_i32
// CHECK-NOT: nvvm.mapa %{{.*}}, %c4_i32
// CHECK: gpu.func @lora_b_grad_split2(
// CHECK-SAME: known_cluster_size = array<i32: 2, 1, 1>
// CHECK-SAME: \22rows\22:[2048,4095]
// CHECK: gpu.func @lora_b_grad_split1(
// CHECK-SAME: known_block_size = array<i32: 256, 1, 1>, lora.abi =
// CHECK-SAME: \22rows\22:[1,2047]
// dA: 2 CTAs a tile from 2048 tokens.
// CHECK: gpu.func @lora_a_grad(
// CHECK-SAME: known_cluster_size = array<i32: 2, 1, 1>
// CHECK-SAME: \22rows\22:[2048,null]
// CHECK: gpu.func @lora_a_grad_split1(
// CHECK-SAME: \22rows\22:[1,2047]
// The launcher picks by the token count; a split grid has each column
// tile's CTAs side by side along x (16 column tiles x 4).
// CHECK-LABEL: func.func private @lora_kernels_0_lora_b_grad_launch(
// CHECK: %[[TOKENS:.*]] = memref.dim
// CHECK: arith.cmpi uge, %[[TOKENS]], %c4096
// CHECK: gpu.launch_func @lora_kernels_0::@lora_b_grad blocks in (%c64{{(_[0-9]+)?}}, %c1{{(_[0-9]+)?}}, %c1{{(_[0-9]+)?}})
// CHECK: gpu.launch_func @lora_kernels_0::@lora_b_grad_split2 blocks in (%c32{{(_[0-9]+)?}},
// CHECK: gpu.launch_func @lora_kernels_0::@lora_b_grad_split1 blocks in (%c16{{(_[0-9]+)?}},
func.func @grad_dynamic_tokens(%x: tensor<?x4096xbf16>, %w: tensor<4096x1024xbf16>,
                               %a: tensor<4096x16xbf16>, %b: tensor<16x1024xbf16>,
                               %g: tensor<?x1024xbf16>)
    -> (tensor<?x4096xbf16>, tensor<4096x16xbf16>, tensor<16x1024xbf16>) {
  %dx, %da, %db = lora.linear_grad %x, %w, %a, %b, %g {rank = 16 : i64, scale = 2.0 : f64}
      : (tensor<?x4096xbf16>, tensor<4096x1024xbf16>, tensor<4096x16xbf16>, tensor<16x1024xbf16>, tensor<?x1024xbf16>)
      -> (tensor<?x4096xbf16>, tensor<4096x16xbf16>, tensor<16x1024xbf16>)
  return %dx, %da, %db : tensor<?x4096xbf16>, tensor<4096x16xbf16>, tensor<16x1024xbf16>
}
