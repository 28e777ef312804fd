// Hopper tensor-core matmul through Debian's MLIR 22: TMA loads into 128B-swizzled
// shared memory completing on an mbarrier, wgmma via nvgpu.warpgroup.mma, to PTX
// for sm_90a. Groundwork for the kernel generator (issue 5); the cubin/ptxas half
// is wgmma-tma-sm90a-cubin.test (needs the CUDA toolkit).
//
// Kernel: D[256x256] f32 = A[256x512] bf16 · B[512x256] bf16, both row-major.
// Grid 2x2 CTAs, one warpgroup (128 threads) each, one 128x128 output tile per CTA.
// K loop of 8 steps of 64; one smem stage: A 128x64 (16 KiB) + B 64x128 (16 KiB) =
// 32 KiB dynamic smem. Each step: thread 0 arms the mbarrier with expect_tx 32768
// and issues 3 TMA loads; everyone waits on the phase parity, issues
// 2·128·128·64 = 2.1 MFLOP of wgmma (64 flop per smem byte), waits, and syncs
// before the next load overwrites the stage. No pipelining: this proves the ops,
// not the speed.
//
// Findings for the generator (MLIR 22.1.8, CUDA 13.0 ptxas):
// - Pipeline: --gpu-lower-to-nvvm-pipeline="cubin-chip=sm_90a cubin-features=+ptx80
//   opt-level=3 cubin-format=isa|bin|fatbin". cubin-features defaults to +ptx60 and
//   then NVPTX stops with a fatal error, not an MLIR diagnostic: "LLVM ERROR:
//   PTX version 6.0 does not support target 'sm_90a'. Minimum required PTX
//   version is 8.0." format=isa needs no CUDA; bin/fatbin run ptxas, found
//   through CUDA_ROOT/CUDA_HOME/CUDA_PATH or PATH, else "Couldn't find the `ptxas`
//   binary. Please specify the toolkit path, add the compiler to $PATH, ...".
//   The PTX is the escaped `assembly = "..."` string of the gpu.object;
//   %extract_ptx (lit.cfg.py) unescapes it.
// - A gpu.func cannot take !nvgpu.tensormap.descriptor arguments: the pipeline runs
//   convert-nvgpu-to-nvvm before outlining and convert-gpu-to-nvvm does not convert
//   nvgpu types, so it fails with "failed to legalize operation 'gpu.func' that was
//   explicitly marked illegal". Either emit gpu.launch and let the pipeline outline
//   it (upstream's tests), or pass !llvm.ptr and cast back in the kernel (here).
// - Do NOT use gpu.dynamic_shared_memory: 22 lowers it to an `internal` [0 x i8]
//   global which NVPTX demotes to a 1-byte *static* `.shared .align 16 .b8
//   __dynamic_shmem__0;` (no .extern, ptxas counts 16 B static smem), so it is not
//   the dynamic base and may overlap the mbarrier. A public, uninitialised
//   memref.global with alignment 1024 becomes `.extern .shared .align 1024 .b8 x[]`
//   (what CUTLASS's DSL emits); 1024 keeps 128B-swizzle atoms aligned for wgmma
//   descriptors (base offset 0); ptxas then reports 1024 B of static smem.
// - Tensor maps: box and tensormap shapes are in memref order (rows, cols);
//   coordinates of nvgpu.tma.async.load are innermost first ([col, row]). 128B
//   swizzle caps the box's inner extent at 128 B = 64 bf16, so the 64x128 B tile
//   is two 64x64 boxes 8 KiB apart, described to wgmma as one 64x128 view (as
//   upstream's gemm_f32_f16_f16_128x128x128 does). expect_tx = bytes of all loads
//   on the barrier.
// - Host: nvgpu.tma.create.descriptor becomes a call to mgpuTensorMapEncodeTiledMemref
//   (MLIR's CUDA runtime wrappers; Debian ships no libmlir_cuda_runtime), which
//   cuMemAlloc's a device copy of the CUtensorMap on every call; the kernel gets a
//   global pointer. Our runtime must provide it, or pass the CUtensorMap by value as
//   an nvvm.grid_constant kernel parameter (CUTLASS's way). gpu.launch_func stays in
//   the output; mlir-translate lowers it through the gpu.binary.
// - nvgpu.warpgroup.mma 128x128x64 bf16 -> wgmma.fence + 8x inline-asm
//   wgmma.mma_async m64n128k16 (2 M halves x 4 K steps) + commit_group +
//   wait_group 1 (waitGroup attr); an explicit nvvm.wgmma.wait.group.sync.aligned 0
//   is needed before the stage is reused. transposeB (tnspB=1) is required for a
//   row-major KxN B. f16 works the same way (m64n128k16.f32.f16.f16).
// - nvgpu.mbarrier.try_wait.parity lowers to an inline-asm spin loop, so one call is a
//   full wait; the parity flips each time the barrier is reused (loop-carried i1).
// - nvgpu.warpgroup.mma.store straight to a global subview works but emits 128
//   scalar st.global.b32 per thread; the real epilogue should go through smem.
// - ptxas -v: 154 registers, 0 spills, 1 barrier, 1024 bytes static smem (the 8 B
//   mbarrier padded for the 1024-aligned extern) + 32 KiB dynamic at launch. Over
//   48 KiB dynamic needs cuFuncSetAttribute(MAX_DYNAMIC_SHARED_SIZE_BYTES) first.

// RUN: mlir-opt %s --gpu-lower-to-nvvm-pipeline="cubin-chip=sm_90a cubin-features=+ptx80 opt-level=3 cubin-format=isa" -o %t.mlir
// RUN: FileCheck %s --check-prefix=HOST < %t.mlir
// RUN: %extract_ptx %t.mlir > %t.ptx
// RUN: FileCheck %s --check-prefix=PTX --implicit-check-not=__dynamic_shmem__ < %t.ptx
// RUN: FileCheck %s --check-prefix=TMA < %t.ptx
// RUN: FileCheck %s --check-prefix=MMA < %t.ptx

// Descriptors are encoded on the host; the kernel stays a gpu.launch_func on a
// gpu.binary that holds PTX for sm_90a.
// HOST-LABEL: llvm.func @matmul(
// HOST-COUNT-2: llvm.call @mgpuTensorMapEncodeTiledMemref(
// HOST: gpu.launch_func @kernels::@matmul_tile blocks in ({{.*}}) threads in ({{.*}}) : i64 dynamic_shared_memory_size
// HOST: gpu.binary @kernels [#gpu.object<#nvvm.target<O = 3, chip = "sm_90a", features = "+ptx80">, {{.*}}assembly = "

// PTX: .version 8.0
// PTX: .target sm_90a
// PTX: .extern .shared .align 1024 .b8 __lora_dyn_smem[];
// PTX-LABEL: .visible .entry matmul_tile(
// PTX: .shared .align 8 .b8 __mbarrier[8];
// PTX: mbarrier.init.shared.b64 [__mbarrier]
// PTX-COUNT-2: prefetch.tensormap
// PTX: mbarrier.try_wait.parity.shared.b64
// PTX-COUNT-128: st.global.b32

// TMA: mbarrier.arrive.expect_tx.shared.b64 {{.*}}, [__mbarrier],
// TMA-COUNT-3: cp.async.bulk.tensor.2d.shared::cluster.global.tile.mbarrier::complete_tx::bytes {{.*}}, [__mbarrier];
// TMA-NOT: cp.async.bulk.tensor

// 2 M halves x 4 K steps of m64n128k16; the trailing immediates are
// scale-a, scale-b, transpose-A = 0, transpose-B = 1.
// MMA: wgmma.fence.sync.aligned;
// MMA-COUNT-8: wgmma.mma_async.sync.aligned.m64n128k16.f32.bf16.bf16 {{.*}}, p, 1, 1, 0, 1;
// MMA-NOT: wgmma.mma_async
// MMA: wgmma.commit_group.sync.aligned;
// MMA-NEXT: wgmma.wait_group.sync.aligned 1;
// MMA-NEXT: wgmma.wait_group.sync.aligned 0;

!barrier = !nvgpu.mbarrier.group<memorySpace = #gpu.address_space<workgroup>, num_barriers = 1>
!tmaA = !nvgpu.tensormap.descriptor<tensor = memref<128x64xbf16, #gpu.address_space<workgroup>>, swizzle = swizzle_128b, l2promo = none, oob = zero, interleave = none>
!tmaB = !nvgpu.tensormap.descriptor<tensor = memref<64x64xbf16, #gpu.address_space<workgroup>>, swizzle = swizzle_128b, l2promo = none, oob = zero, interleave = none>
!acc = !nvgpu.warpgroup.accumulator<fragmented = vector<128x128xf32>>
!smem = memref<0xi8, #gpu.address_space<workgroup>>
!smemA = memref<128x64xbf16, #gpu.address_space<workgroup>>
!smemB = memref<64x128xbf16, #gpu.address_space<workgroup>>
!smemBHalf = memref<64x64xbf16, #gpu.address_space<workgroup>>
!dTile = memref<128x128xf32, strided<[256, 1], offset: ?>>

module attributes {gpu.container_module} {
  func.func @matmul(%a: memref<256x512xbf16>, %b: memref<512x256xbf16>,
                    %d: memref<256x256xf32>) {
    %c1 = arith.constant 1 : index
    %c2 = arith.constant 2 : index
    %c64 = arith.constant 64 : index
    %c128 = arith.constant 128 : index
    %smemBytes = arith.constant 32768 : i32
    %ua = memref.cast %a : memref<256x512xbf16> to memref<*xbf16>
    %ub = memref.cast %b : memref<512x256xbf16> to memref<*xbf16>
    %descA = nvgpu.tma.create.descriptor %ua box[%c128, %c64] : memref<*xbf16> -> !tmaA
    %descB = nvgpu.tma.create.descriptor %ub box[%c64, %c64] : memref<*xbf16> -> !tmaB
    // gpu.func cannot take tensormap types (see the header): pass pointers.
    %pA = builtin.unrealized_conversion_cast %descA : !tmaA to !llvm.ptr
    %pB = builtin.unrealized_conversion_cast %descB : !tmaB to !llvm.ptr
    gpu.launch_func @kernels::@matmul_tile
        blocks in (%c2, %c2, %c1) threads in (%c128, %c1, %c1)
        dynamic_shared_memory_size %smemBytes
        args(%pA : !llvm.ptr, %pB : !llvm.ptr, %d : memref<256x256xf32>)
    return
  }

  gpu.module @kernels {
    // The dynamic shared memory base (see the header for why not
    // gpu.dynamic_shared_memory).
    memref.global @__lora_dyn_smem : !smem {alignment = 1024 : i64}

    gpu.func @matmul_tile(%pA: !llvm.ptr, %pB: !llvm.ptr,
                          %d: memref<256x256xf32>) kernel {
      %descA = builtin.unrealized_conversion_cast %pA : !llvm.ptr to !tmaA
      %descB = builtin.unrealized_conversion_cast %pB : !llvm.ptr to !tmaB
      %c0 = arith.constant 0 : index
      %c1 = arith.constant 1 : index
      %c8 = arith.constant 8 : index
      %c64 = arith.constant 64 : index
      %c128 = arith.constant 128 : index
      %c16384 = arith.constant 16384 : index
      %c24576 = arith.constant 24576 : index
      // 128x64 + 2 x 64x64 bf16 per step.
      %txBytes = arith.constant 32768 : index
      %ticks = arith.constant 10000000 : index
      %false = arith.constant false
      %true = arith.constant true
      %tid = gpu.thread_id x
      %bx = gpu.block_id x
      %by = gpu.block_id y
      %m0 = arith.muli %by, %c128 : index
      %n0 = arith.muli %bx, %c128 : index
      %n1 = arith.addi %n0, %c64 : index
      %smem = memref.get_global @__lora_dyn_smem : !smem
      %aS = memref.view %smem[%c0][] : !smem to !smemA
      %bS = memref.view %smem[%c16384][] : !smem to !smemB
      %bS0 = memref.view %smem[%c16384][] : !smem to !smemBHalf
      %bS1 = memref.view %smem[%c24576][] : !smem to !smemBHalf
      %bar = nvgpu.mbarrier.create -> !barrier
      %leader = arith.cmpi eq, %tid, %c0 : index
      scf.if %leader {
        nvgpu.mbarrier.init %bar[%c0], %c1 : !barrier
        nvgpu.tma.prefetch.descriptor %descA : !tmaA
        nvgpu.tma.prefetch.descriptor %descB : !tmaB
      }
      gpu.barrier
      %acc0 = nvgpu.warpgroup.mma.init.accumulator -> !acc
      %acc, %phaseOut = scf.for %kt = %c0 to %c8 step %c1
          iter_args(%accIn = %acc0, %phase = %false) -> (!acc, i1) {
        %k0 = arith.muli %kt, %c64 : index
        scf.if %leader {
          nvgpu.mbarrier.arrive.expect_tx %bar[%c0], %txBytes : !barrier
          nvgpu.tma.async.load %descA[%k0, %m0], %bar[%c0] to %aS
              : !tmaA, !barrier -> !smemA
          nvgpu.tma.async.load %descB[%n0, %k0], %bar[%c0] to %bS0
              : !tmaB, !barrier -> !smemBHalf
          nvgpu.tma.async.load %descB[%n1, %k0], %bar[%c0] to %bS1
              : !tmaB, !barrier -> !smemBHalf
        }
        nvgpu.mbarrier.try_wait.parity %bar[%c0], %phase, %ticks : !barrier
        %dA = nvgpu.warpgroup.generate.descriptor %aS, %descA
            : !smemA, !tmaA -> !nvgpu.warpgroup.descriptor<tensor = !smemA>
        %dB = nvgpu.warpgroup.generate.descriptor %bS, %descB
            : !smemB, !tmaB -> !nvgpu.warpgroup.descriptor<tensor = !smemB>
        %accNext = nvgpu.warpgroup.mma %dA, %dB, %accIn {transposeB}
            : <tensor = !smemA>, <tensor = !smemB>, !acc -> !acc
        // wgmma reads smem asynchronously: drain it, then let every thread
        // pass before thread 0 overwrites the stage.
        nvvm.wgmma.wait.group.sync.aligned 0
        gpu.barrier
        %phaseNext = arith.xori %phase, %true : i1
        scf.yield %accNext, %phaseNext : !acc, i1
      }
      %dTile = memref.subview %d[%m0, %n0] [128, 128] [1, 1]
          : memref<256x256xf32> to !dTile
      nvgpu.warpgroup.mma.store %acc, %dTile : !acc to !dTile
      gpu.return
    }
  }
}
