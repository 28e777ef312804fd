// RUN: lora-opt %s --split-input-file --lora-generate-cuda-kernels=multicast=2 | FileCheck %s
// RUN: lora-opt %s --split-input-file --lora-generate-cuda-kernels | FileCheck %s --check-prefix=OFF

// multicast=2: each pair of 128-row tiles of one column is a cluster (1, 2, 1)
// whose CTAs load their own x rows and half of w's boxes each, multicast to
// both. The 64x64 variant (one consumer) and lora_down keep their own loads.
// CHECK-LABEL: func.func @dynamic_rows(
// CHECK: gpu.func @lora_down(
// CHECK-NOT: known_cluster_size
// CHECK-SAME: \22multicast\22:1
// CHECK: gpu.func @lora_linear(
// CHECK-SAME: known_cluster_size = array<i32: 1, 2, 1>
// CHECK-SAME: \22multicast\22:2
// Block y is the pair and the rank in it; the raster walks the pairs (w is
// 32 MiB) in groups of 4, and the pair's CTAs take consecutive row tiles.
// CHECK: %[[BY:.*]] = gpu.block_id y
// CHECK: %[[RANK:.*]] = arith.remui %[[BY]], %c2
// CHECK: %[[PAIR:.*]] = arith.divui %[[BY]], %c2
// CHECK: %[[GY:.*]] = gpu.grid_dim y
// CHECK: %[[PAIRS:.*]] = arith.divui %[[GY]], %c2
// CHECK: arith.muli %[[PAIR]], %c16
// CHECK: arith.subi %[[PAIRS]],
// CHECK: arith.minui %{{.*}}, %c4
// CHECK: %[[PAIRROW:.*]] = arith.addi
// CHECK: %[[ROW2:.*]] = arith.muli %[[PAIRROW]], %c2
// CHECK: %[[ROW:.*]] = arith.addi %[[ROW2]], %[[RANK]]
// CHECK: arith.muli %[[ROW]], %c128
// The empty barriers are in dynamic shared memory after the epilogue's
// 200704 bytes, one arrival per consumer warpgroup of the pair (4); the
// cluster syncs before any CTA writes the other's.
// CHECK: memref.extract_aligned_pointer_as_index
// CHECK: nvvm.mbarrier.init %{{.*}}, %c4_i32 : !llvm.ptr<3>, i32
// CHECK: nvvm.fence.mbarrier.init
// CHECK-NEXT: }
// CHECK-NEXT: nvvm.cluster.arrive
// CHECK-NEXT: nvvm.cluster.wait
// The producer: x as its own, then w boxes rank and rank + 2 of the four.
// CHECK: scf.for %{{.*}} = %{{.*}} to %c65
// CHECK: nvvm.mbarrier.try_wait.parity %{{.*}} : !llvm.ptr<3>, i32, i32
// CHECK: nvgpu.tma.async.load %{{.*}} to %{{.*}} : <tensor = memref<128x64xbf16
// CHECK: %[[J0:.*]] = arith.addi %[[RANK]], %c0
// CHECK: arith.muli %[[J0]], %c8192
// CHECK: nvgpu.tma.async.load {{.*}} multicast_mask = %c3_i16 : <tensor = memref<64x64xbf16
// CHECK: %[[J2:.*]] = arith.addi %[[RANK]], %c2
// CHECK: arith.muli %[[J2]], %c8192
// CHECK: nvgpu.tma.async.load {{.*}} multicast_mask = %c3_i16 : <tensor = memref<64x64xbf16
// The LoRA step: t its own, B multicast.
// CHECK: nvgpu.tma.async.load %{{.*}} to %{{.*}} : <tensor = memref<128x64xbf16
// CHECK: nvgpu.tma.async.load {{.*}} multicast_mask = %c3_i16
// CHECK: nvgpu.tma.async.load {{.*}} multicast_mask = %c3_i16
// The producer's tail: it waits until the pair has released every stage.
// CHECK: scf.for %{{.*}} = %c65 to
// CHECK: nvvm.mbarrier.try_wait.parity
// The consumers release a stage in both CTAs: lane 0 of warp d arrives on
// CTA d's barrier; the last stage too, after the loop.
// CHECK: scf.for {{.*}} iter_args
// CHECK: %[[WARP:.*]] = arith.divui %{{.*}}, %c32
// CHECK: arith.cmpi ult, %[[WARP]], %c2
// CHECK: %[[TARGET:.*]] = arith.index_cast %[[WARP]] : index to i32
// CHECK: %[[REMOTE:.*]] = nvvm.mapa %{{.*}}, %[[TARGET]] : !llvm.ptr<3> -> !llvm.ptr<7>
// CHECK: nvvm.mbarrier.arrive %[[REMOTE]] {scope = #nvvm.mem_scope<cluster>} : !llvm.ptr<7>
// CHECK: nvvm.wgmma.wait.group.sync.aligned 0
// CHECK: nvvm.mapa
// CHECK: nvvm.mbarrier.arrive {{.*}}scope = #nvvm.mem_scope<cluster>
// CHECK: gpu.func @lora_linear_128x128(
// CHECK-SAME: known_cluster_size = array<i32: 1, 2, 1>
// CHECK: gpu.func @lora_linear_64x64(
// CHECK-NOT: known_cluster_size
// CHECK-SAME: \22multicast\22:1
// The launch: pairs of row tiles, ceil(M / 256) · 2.
// CHECK-LABEL: func.func private @lora_kernels_0_launch(
// CHECK: %[[PAIRS2:.*]] = arith.ceildivui %{{.*}}, %c256
// CHECK: %[[GRIDY:.*]] = arith.muli %[[PAIRS2]], %c2
// CHECK: gpu.launch_func @lora_kernels_0::@lora_linear blocks in (%c16, %[[GRIDY]],
// OFF-LABEL: func.func @dynamic_rows(
// OFF-NOT: known_cluster_size = array<i32: 1, 2, 1>
// OFF-NOT: multicast_mask
// OFF: \22multicast\22:1
func.func @dynamic_rows(%x: tensor<?x4096xbf16>, %w: tensor<4096x4096xbf16>,
                        %a: tensor<4096x16xbf16>, %b: tensor<16x4096xbf16>)
    -> tensor<?x4096xbf16> {
  %y = lora.linear %x, %w, %a, %b {rank = 16 : i64, scale = 2.0}
      : (tensor<?x4096xbf16>, tensor<4096x4096xbf16>, tensor<4096x16xbf16>,
         tensor<16x4096xbf16>) -> tensor<?x4096xbf16>
  return %y : tensor<?x4096xbf16>
}

// -----

// 384 rows take 128x128 tiles: 3 row tiles, launched as 2 pairs (the grid
// from the rows: ceil(384 / 256) · 2). The last
// pair's second CTA is past M: it loads its half of w for its peer (x and t
// zero-filled), and its store is clipped away.
// CHECK-LABEL: func.func @odd_row_tiles(
// CHECK: gpu.func @lora_linear(
// CHECK-SAME: known_cluster_size = array<i32: 1, 2, 1>
// CHECK-SAME: \22tile\22:[128,128]
// CHECK: %[[PAIRS:.*]] = arith.ceildivui %{{.*}}, %c256
// CHECK: %[[GRIDY:.*]] = arith.muli %[[PAIRS]], %c2
// CHECK: gpu.launch_func @lora_kernels_0::@lora_linear blocks in (%c32, %[[GRIDY]],
func.func @odd_row_tiles(%x: tensor<384x4096xbf16>, %w: tensor<4096x4096xbf16>,
                         %a: tensor<4096x16xbf16>, %b: tensor<16x4096xbf16>)
    -> tensor<384x4096xbf16> {
  %y = lora.linear %x, %w, %a, %b {rank = 16 : i64, scale = 2.0}
      : (tensor<384x4096xbf16>, tensor<4096x4096xbf16>, tensor<4096x16xbf16>,
         tensor<16x4096xbf16>) -> tensor<384x4096xbf16>
  return %y : tensor<384x4096xbf16>
}

// -----

// The backward's dx = [g | dt]·[Wᵀ ; Aᵀ] reads w transposed, one tileN x 64
// box a stage: multicast halves it, each CTA loading its 128 rows at row
// n0 + 128·rank into its half of the slot (16 KiB in). The weight gradients
// (a cluster along x of their own) and lora_t_grad keep theirs.
// CHECK-LABEL: func.func @grad(
// CHECK: gpu.func @lora_t_grad(
// CHECK-SAME: \22multicast\22:1
// CHECK: gpu.func @lora_b_grad(
// CHECK-SAME: known_cluster_size = array<i32: 2, 1, 1>
// CHECK-SAME: \22multicast\22:1
// CHECK: gpu.func @lora_input_grad(
// CHECK-SAME: known_cluster_size = array<i32: 1, 2, 1>
// CHECK-SAME: \22multicast\22:2
// CHECK-SAME: \22box\22:[128,64],\22dims\22:[4096,4096]
// CHECK: %[[RANK:.*]] = arith.remui %{{.*}}, %c2
// CHECK: %[[ROWS:.*]] = arith.muli %[[RANK]], %c128
// CHECK: %[[N:.*]] = arith.addi %{{.*}}, %[[ROWS]]
// CHECK: %[[HALF:.*]] = arith.muli %[[RANK]], %c16384
// CHECK: arith.addi %c16384{{.*}}, %[[HALF]]
// CHECK: nvgpu.tma.async.load %{{.*}}[%{{.*}}, %[[N]]], {{.*}} multicast_mask = %c3_i16 : <tensor = memref<128x64xbf16
func.func @grad(%x: tensor<?x4096xbf16>, %w: tensor<4096x4096xbf16>,
                %a: tensor<4096x16xbf16>, %b: tensor<16x4096xbf16>,
                %g: tensor<?x4096xbf16>)
    -> (tensor<?x4096xbf16>, tensor<4096x16xbf16>, tensor<16x4096xbf16>) {
  %dx, %da, %db = lora.linear_grad %x, %w, %a, %b, %g {rank = 16 : i64, scale = 2.0 : f64}
      : (tensor<?x4096xbf16>, tensor<4096x4096xbf16>, tensor<4096x16xbf16>, tensor<16x4096xbf16>, tensor<?x4096xbf16>)
      -> (tensor<?x4096xbf16>, tensor<4096x16xbf16>, tensor<16x4096xbf16>)
  return %dx, %da, %db : tensor<?x4096xbf16>, tensor<4096x16xbf16>, tensor<16x4096xbf16>
}
