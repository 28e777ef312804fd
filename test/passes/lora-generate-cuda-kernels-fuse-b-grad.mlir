// RUN: lora-opt %s --lora-generate-cuda-kernels="fuse-lora-down fuse-lora-b-grad" | FileCheck %s
// RUN: lora-opt %s --lora-generate-cuda-kernels="fuse-lora-down fuse-lora-b-grad reference-launchers" | FileCheck %s --check-prefix=REF
// RUN: not lora-opt %s --lora-generate-cuda-kernels=fuse-lora-b-grad 2>&1 | FileCheck %s --check-prefix=ERR
// RUN: lora-opt %s --lora-generate-cuda-kernels="fuse-lora-down fuse-lora-b-grad fuse-lora-a-grad" | FileCheck %s --check-prefix=AGRAD
// RUN: lora-opt %s --lora-generate-cuda-kernels="fuse-lora-down fuse-lora-b-grad fuse-lora-a-grad reference-launchers" | FileCheck %s --check-prefix=AREF
// RUN: not lora-opt %s --lora-generate-cuda-kernels="fuse-lora-down fuse-lora-a-grad" 2>&1 | FileCheck %s --check-prefix=AERR

// A train step with fuse-lora-b-grad: lora_input_grad computes dt and
// dB = tsᵀ·g besides dx, reading the forward's t as ts and adding its
// parts into an f32 dBᵀ [N, r] (1024 x 16), which one elementwise op
// transposes and rounds to dB; there is no lora_b_grad.
// CHECK-LABEL: func.func @train_step(
// CHECK: %[[T:.*]] = memref.alloc(%{{.*}}) : memref<?x16xbf16>
// CHECK: call @lora_kernels_0_launch(%{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %[[T]], %{{.*}})
// CHECK: %[[TT:.*]] = bufferization.to_tensor %[[T]]
// CHECK: %[[DBT:.*]] = memref.alloc() : memref<1024x16xf32>
// CHECK: call @lora_kernels_1_lora_input_grad_launch(%{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %[[DBT]], %{{.*}}) : (memref<?x1024xbf16>, memref<4096x1024xbf16>, memref<16x1024xbf16>, memref<?x16xbf16>, memref<4096x16xbf16>, memref<?x16xbf16>, memref<1024x16xf32>, memref<?x4096xbf16>)
// CHECK: %[[DBTT:.*]] = bufferization.to_tensor %[[DBT]]
// CHECK: %[[DB:.*]] = linalg.generic {{.*}} ins(%[[DBTT]] : tensor<1024x16xf32>) outs(%{{.*}} : tensor<16x1024xbf16>)
// CHECK: arith.truncf %{{.*}} : f32 to bf16
// CHECK: call @lora_kernels_1_lora_a_grad_launch(
// CHECK: return %{{.*}}, %{{.*}}, %{{.*}}, %[[DB]] :
// CHECK-NOT: lora_b_grad
// The kernel: two more tensor maps, ts (the tile's rows, one 32B-swizzled
// box) and db (f32, 64 x 16 boxes, not promoted).
// CHECK: gpu.func @lora_input_grad(%{{.*}}: !llvm.ptr, %{{.*}}: !llvm.ptr, %{{.*}}: !llvm.ptr, %{{.*}}: !llvm.ptr, %{{.*}}: !llvm.ptr, %[[TS:.*]]: !llvm.ptr, %[[DBMAP:.*]]: !llvm.ptr, %{{.*}}: !llvm.ptr) kernel
// CHECK-SAME: \22fuse_b_grad\22:true
// CHECK-SAME: {\22box\22:[128,16],\22dims\22:[\22M\22,16],\22dtype\22:\22bf16\22,\22l2_promotion\22:256,\22role\22:\22ts\22,\22swizzle\22:32}
// CHECK-SAME: {\22box\22:[64,16],\22dims\22:[1024,16],\22dtype\22:\22f32\22,\22l2_promotion\22:0,\22role\22:\22db\22,\22swizzle\22:0}
// The producer hands registers to the consumers; its first step also
// loads the tile's ts rows (4 KiB more on the stage's barrier).
// CHECK: nvvm.setmaxregister decrease 40
// CHECK: %[[STAGE:.*]] = arith.select %{{.*}}, %c51200, %c32768
// CHECK: %[[FIRST:.*]] = arith.cmpi eq, %{{.*}}, %c0
// CHECK: %[[MORE:.*]] = arith.addi %[[STAGE]], %c4096
// CHECK-NEXT: %[[TX:.*]] = arith.select %[[FIRST]], %[[MORE]], %[[STAGE]]
// CHECK: nvgpu.mbarrier.arrive.expect_tx %{{.*}}, %[[TX]]
// CHECK: scf.if %[[FIRST]] {
// CHECK: nvgpu.tma.async.load {{.*}} : <tensor = memref<128x16xbf16, #gpu.address_space<workgroup>>, swizzle = swizzle_32b
// CHECK: nvvm.setmaxregister increase 232
// The consumers: at a step of their column tile (k mod 16 tiles), gᵀ·ts
// restarted by scale-d 0, one group; after the step's main wgmma the part
// goes to shared memory and is added into dBᵀ rows 64·k.
// CHECK: scf.for {{.*}} iter_args(%{{.*}} = %{{.*}}, %{{.*}} = %{{.*}}, %[[PART:.*]] = %{{.*}})
// CHECK: %[[MINE:.*]] = arith.remui %{{.*}}, %c16
// CHECK: %[[OWNED:.*]] = arith.andi
// CHECK: scf.if %[[OWNED]]
// CHECK: nvvm.wgmma.fence.aligned
// CHECK: nvvm.wgmma.mma_async {{.*}}, <m = 64, n = 16, k = 16>, D[<f32>, <zero>], A[<bf16>, <one>, <col>], B[<bf16>, <one>, <row>]
// CHECK-COUNT-3: nvvm.wgmma.mma_async {{.*}}, <m = 64, n = 16, k = 16>, D[<f32>, <one>], A[<bf16>, <one>, <col>], B[<bf16>, <one>, <row>]
// CHECK-NEXT: nvvm.wgmma.commit.group.sync.aligned
// CHECK: nvgpu.warpgroup.mma {{.*}} {waitGroup = 4 : i64}
// CHECK: scf.if %[[OWNED]] {
// CHECK: nvvm.cp.async.bulk.wait_group 0 {read}
// CHECK: nvgpu.warpgroup.mma.store
// CHECK-NEXT: nvvm.fence.proxy {kind = #nvvm.proxy_kind<async.shared>
// CHECK: nvvm.cp.async.bulk.tensor.reduce %[[DBMAP]], %{{.*}}, box[%{{.*}}, %{{.*}}] {redKind = #nvvm.tma_redux_kind<add>}
// CHECK-NEXT: nvvm.cp.async.bulk.commit.group
// The launcher zeroes dBᵀ before any launch (none for no tokens).
// CHECK-LABEL: func.func private @lora_kernels_1_lora_input_grad_launch(
// CHECK: gpu.memset async [%{{.*}}] %arg6, %{{.*}} : memref<1024x16xf32>, f32
// CHECK: gpu.launch_func

// REF-LABEL: func.func private @lora_kernels_1_lora_input_grad_launch(
// REF: linalg.fill ins(%{{.*}} : f32) outs(%arg6 : memref<1024x16xf32>)
// REF: linalg.generic {{.*}} iterator_types = ["parallel", "parallel", "reduction"]} ins(%arg0, %arg5 : memref<?x1024xbf16>, memref<?x16xbf16>) outs(%arg6 : memref<1024x16xf32>)
// REF-NOT: lora_b_grad

// ERR: error: lora-generate-cuda-kernels: fuse-lora-b-grad needs fuse-lora-down (dB is computed in the lora_input_grad that computes dt)

// With fuse-lora-a-grad the same kernel takes x (the forward's input) and
// an f32 dA [4096, 16] too, which one elementwise op rounds; there is no
// weight-gradient kernel left.
// AGRAD-LABEL: func.func @train_step(%{{.*}}: tensor<?x4096xbf16>,
// AGRAD: %[[DA:.*]] = memref.alloc() : memref<4096x16xf32>
// AGRAD: call @lora_kernels_1_lora_input_grad_launch(%{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %[[DA]], %{{.*}}) : ({{.*}}, memref<1024x16xf32>, memref<?x4096xbf16>, memref<4096x16xf32>, memref<?x4096xbf16>)
// AGRAD: %[[DAT:.*]] = bufferization.to_tensor %[[DA]]
// AGRAD: linalg.generic {{.*}} ins(%{{.*}} : tensor<1024x16xf32>) outs(%{{.*}} : tensor<16x1024xbf16>)
// AGRAD: %[[DAB:.*]] = linalg.generic {{.*}} ins(%[[DAT]] : tensor<4096x16xf32>) outs(%{{.*}} : tensor<4096x16xbf16>)
// AGRAD: return %{{.*}}, %{{.*}}, %[[DAB]], %{{.*}} :
// AGRAD-NOT: lora_{{[ab]}}_grad
// AGRAD: gpu.func @lora_input_grad(
// AGRAD-SAME: \22fuse_a_grad\22:true
// AGRAD-SAME: {\22box\22:[128,64],\22dims\22:[\22M\22,4096],\22dtype\22:\22bf16\22,\22l2_promotion\22:256,\22role\22:\22xa\22,\22swizzle\22:128}
// AGRAD-SAME: {\22box\22:[64,16],\22dims\22:[4096,16],\22dtype\22:\22f32\22,\22l2_promotion\22:0,\22role\22:\22da\22,\22swizzle\22:0}
// AGRAD: nvgpu.mbarrier.arrive.expect_tx %{{.*}}[%c0{{.*}}], %c65536
// AGRAD-COUNT-4: nvgpu.tma.async.load {{.*}} : <tensor = memref<128x64xbf16
// AGRAD: nvgpu.mbarrier.try_wait.parity
// AGRAD: nvvm.wgmma.mma_async {{.*}} D[<f32>, <zero>]
// AGRAD: nvvm.cp.async.bulk.tensor.reduce
// AGRAD-LABEL: func.func private @lora_kernels_1_lora_input_grad_launch(
// AGRAD: gpu.memset async [%{{.*}}] %arg6, %{{.*}} : memref<1024x16xf32>, f32
// AGRAD: gpu.memset async [%{{.*}}] %arg8, %{{.*}} : memref<4096x16xf32>, f32

// AREF-LABEL: func.func private @lora_kernels_1_lora_input_grad_launch(
// AREF: linalg.fill ins(%{{.*}} : f32) outs(%arg6 : memref<1024x16xf32>)
// AREF: linalg.fill ins(%{{.*}} : f32) outs(%arg8 : memref<4096x16xf32>)
// AREF: linalg.generic {{.*}} ins(%arg0, %arg5 : memref<?x1024xbf16>, memref<?x16xbf16>) outs(%arg6 : memref<1024x16xf32>)
// AREF: linalg.generic {{.*}} ins(%arg7, %arg3 : memref<?x4096xbf16>, memref<?x16xbf16>) outs(%arg8 : memref<4096x16xf32>)

// AERR: error: lora-generate-cuda-kernels: fuse-lora-a-grad needs fuse-lora-b-grad (dA is computed in the lora_input_grad that computes dB)

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
