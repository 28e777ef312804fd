// The attention's batched matmuls (tosa.matmul [B, M, K] x [B, K, N]) on
// the generated kernels, at Llama-8B's head size 128 and sequence 2048,
// through ptxas for sm_90a with -v: q·kᵀ with k read as stored (a
// transposed B) and the scores' bf16 rounding fused, and probabilities·v
// into f32. Every TMA copy is rank 3 (one matrix per box, the batch from
// the block id x). No spills, no serialized wgmma, at most 170 registers
// (65536 / 384 threads). One file each (split-file): ptxas takes one module
// at a time.
// REQUIRES: ptxas

// RUN: rm -rf %t && split-file %s %t
// RUN: lora-opt %t/scores.mlir --lora-generate-cuda-kernels --one-shot-bufferize="bufferize-function-boundaries function-boundary-type-conversion=identity-layout-map" --lora-cuda-device-memory --gpu-lower-to-nvvm-pipeline="cubin-chip=sm_90a cubin-features=+ptx80 opt-level=3 cubin-format=isa" | %extract_ptx > %t/scores.ptx
// RUN: FileCheck %s --check-prefix=PTX < %t/scores.ptx
// RUN: ptxas -arch=sm_90a -v %t/scores.ptx -o %t/scores.cubin 2>&1 | FileCheck %s --implicit-check-not=warpgroup.arrive --check-prefix=PTXAS
// RUN: lora-opt %t/context.mlir --lora-generate-cuda-kernels --one-shot-bufferize="bufferize-function-boundaries function-boundary-type-conversion=identity-layout-map" --lora-cuda-device-memory --gpu-lower-to-nvvm-pipeline="cubin-chip=sm_90a cubin-features=+ptx80 opt-level=3 cubin-format=isa" | %extract_ptx > %t/context.ptx
// RUN: FileCheck %s --check-prefix=PTX < %t/context.ptx
// RUN: ptxas -arch=sm_90a -v %t/context.ptx -o %t/context.cubin 2>&1 | FileCheck %s --implicit-check-not=warpgroup.arrive --check-prefix=PTXAS

// RUN: FileCheck %s --check-prefix=NO2D < %t/scores.ptx
// RUN: FileCheck %s --check-prefix=NO2D < %t/context.ptx

// PTX-DAG: wgmma.mma_async.sync.aligned.m64n128k16.f32.bf16.bf16
// PTX-DAG: cp.async.bulk.tensor.3d.shared::cluster.global.tile.mbarrier::complete_tx::bytes
// PTX-DAG: cp.async.bulk.tensor.3d.global.shared::cta.tile.bulk_group
// NO2D-NOT: cp.async.bulk.tensor.2d
// NO2D: .entry matmul
// NO2D-NOT: cp.async.bulk.tensor.2d

// PTXAS-NOT: wgmma.mma_async instructions are serialized
// PTXAS: Compiling entry function 'matmul' for 'sm_90a'
// PTXAS-NEXT: Function properties for matmul
// PTXAS-NEXT: 0 bytes stack frame, 0 bytes spill stores, 0 bytes spill loads
// PTXAS-NEXT: Used {{([0-9]|[0-9][0-9]|1[0-6][0-9]|170)}} registers, used {{[0-9]+}} barriers, 1024 bytes smem
// PTXAS-NOT: wgmma.mma_async instructions are serialized

//--- scores.mlir
func.func @scores(%q: tensor<?x2048x128xbf16>, %k: tensor<?x2048x128xbf16>) -> tensor<?x2048x2048xbf16> {
  %zp = "tosa.const"() <{values = dense<0.0> : tensor<1xbf16>}> : () -> tensor<1xbf16>
  %kt = tosa.transpose %k {perms = array<i32: 0, 2, 1>} : (tensor<?x2048x128xbf16>) -> tensor<?x128x2048xbf16>
  %s = tosa.matmul %q, %kt, %zp, %zp : (tensor<?x2048x128xbf16>, tensor<?x128x2048xbf16>, tensor<1xbf16>, tensor<1xbf16>) -> tensor<?x2048x2048xf32>
  %c = tosa.cast %s : (tensor<?x2048x2048xf32>) -> tensor<?x2048x2048xbf16>
  return %c : tensor<?x2048x2048xbf16>
}

//--- context.mlir
func.func @context(%p: tensor<?x2048x2048xbf16>, %v: tensor<?x2048x128xbf16>) -> tensor<?x2048x128xf32> {
  %zp = "tosa.const"() <{values = dense<0.0> : tensor<1xbf16>}> : () -> tensor<1xbf16>
  %o = tosa.matmul %p, %v, %zp, %zp : (tensor<?x2048x2048xbf16>, tensor<?x2048x128xbf16>, tensor<1xbf16>, tensor<1xbf16>) -> tensor<?x2048x128xf32>
  return %o : tensor<?x2048x128xf32>
}
