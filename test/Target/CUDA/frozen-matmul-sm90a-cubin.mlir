// The frozen linear layers of an ONNX model (tosa.matmul with a weight) on
// the generated kernels, through ptxas for sm_90a with -v: the forward's
// x·W with its bf16 rounding fused, and the backward's g·Wᵀ with W read as
// stored (a transposed B, one wgmma per k16 step) into f32. No spills, no
// serialized wgmma, at most 170 registers (65536 / 384 threads). One file
// each (split-file): ptxas takes one module at a time.
// REQUIRES: ptxas

// RUN: rm -rf %t && split-file %s %t
// RUN: lora-opt %t/forward.mlir --lora-generate-cuda-kernels --one-shot-bufferize="bufferize-function-boundaries function-boundary-type-conversion=identity-layout-map" --lora-cuda-device-memory --gpu-lower-to-nvvm-pipeline="cubin-chip=sm_90a cubin-features=+ptx80 opt-level=3 cubin-format=isa" | %extract_ptx > %t/forward.ptx
// RUN: FileCheck %s --check-prefix=PTX < %t/forward.ptx
// RUN: ptxas -arch=sm_90a -v %t/forward.ptx -o %t/forward.cubin 2>&1 | FileCheck %s --implicit-check-not=warpgroup.arrive --check-prefix=PTXAS
// RUN: lora-opt %t/backward.mlir --lora-generate-cuda-kernels --one-shot-bufferize="bufferize-function-boundaries function-boundary-type-conversion=identity-layout-map" --lora-cuda-device-memory --gpu-lower-to-nvvm-pipeline="cubin-chip=sm_90a cubin-features=+ptx80 opt-level=3 cubin-format=isa" | %extract_ptx > %t/backward.ptx
// RUN: FileCheck %s --check-prefix=PTX < %t/backward.ptx
// RUN: ptxas -arch=sm_90a -v %t/backward.ptx -o %t/backward.cubin 2>&1 | FileCheck %s --implicit-check-not=warpgroup.arrive --check-prefix=PTXAS

// PTX-DAG: wgmma.mma_async.sync.aligned.m64n256k16.f32.bf16.bf16
// PTX-DAG: cp.async.bulk.tensor.2d.shared::cluster.global.tile.mbarrier::complete_tx::bytes

// PTXAS-NOT: wgmma.mma_async instructions are serialized
// PTXAS: Compiling entry function 'matmul' for 'sm_90a'
// PTXAS-NEXT: Function properties for matmul
// PTXAS-NEXT: 0 bytes stack frame, 0 bytes spill stores, 0 bytes spill loads
// PTXAS-NEXT: Used {{([0-9]|[0-9][0-9]|1[0-6][0-9]|170)}} registers, used {{[0-9]+}} barriers, 1024 bytes smem
// PTXAS-NOT: wgmma.mma_async instructions are serialized

//--- forward.mlir
func.func @forward(%x: tensor<1x2048x4096xbf16>, %w: tensor<1x4096x4096xbf16>) -> tensor<1x2048x4096xbf16> {
  %zp = "tosa.const"() <{values = dense<0.0> : tensor<1xbf16>}> : () -> tensor<1xbf16>
  %y = tosa.matmul %x, %w, %zp, %zp : (tensor<1x2048x4096xbf16>, tensor<1x4096x4096xbf16>, tensor<1xbf16>, tensor<1xbf16>) -> tensor<1x2048x4096xf32>
  %c = tosa.cast %y : (tensor<1x2048x4096xf32>) -> tensor<1x2048x4096xbf16>
  return %c : tensor<1x2048x4096xbf16>
}

//--- backward.mlir
func.func @backward(%g: tensor<1x2048x14336xbf16>, %w: tensor<1x4096x14336xbf16>) -> tensor<1x2048x4096xf32> {
  %zp = "tosa.const"() <{values = dense<0.0> : tensor<1xbf16>}> : () -> tensor<1xbf16>
  %wt = tosa.transpose %w {perms = array<i32: 0, 2, 1>} : (tensor<1x4096x14336xbf16>) -> tensor<1x14336x4096xbf16>
  %dx = tosa.matmul %g, %wt, %zp, %zp : (tensor<1x2048x14336xbf16>, tensor<1x14336x4096xbf16>, tensor<1xbf16>, tensor<1xbf16>) -> tensor<1x2048x4096xf32>
  return %dx : tensor<1x2048x4096xf32>
}
