// RUN: lora-opt %s --lora-cuda-emulated-pipeline \
// RUN:   | mlir-runner -e main -entry-point-result=void \
// RUN:       -shared-libs=%mlir_runner_utils,%mlir_c_runner_utils \
// RUN:   | FileCheck %s

// The CUDA target's generic kernels, run on the host: a sum over a middle
// dim (parallel dims put first, 3x100 outputs collapsed to one dim and
// tiled into 2 blocks of 256 threads, 212 of them out of bounds) of a
// 3x5x100 tensor that a first kernel fills with x[i, j, k] = 1000 i +
// 100 j + k (1500 elements: 6 blocks, the last one partly out of bounds),
// with its buffers in "device" memory. sum[i, k] = 5000 i + 1000 + 5 k.
// CHECK: sizes = [3, 100]
// CHECK: {{^\[\[}}1000, 1005, 1010,
// CHECK-SAME: 1490, 1495],
// CHECK-NEXT: {{^ \[}}6000, 6005,
// CHECK-SAME: 6495],
// CHECK-NEXT: {{^ \[}}11000, 11005,
// CHECK-SAME: 11495{{\]\]}}
#x = affine_map<(i, j, k) -> (i, j, k)>
#sum = affine_map<(i, j, k) -> (i, k)>
func.func private @printMemrefF32(memref<*xf32>)
func.func @main() {
  %empty = tensor.empty() : tensor<3x5x100xf32>
  %x = linalg.generic {indexing_maps = [#x], iterator_types = ["parallel", "parallel", "parallel"]} outs(%empty : tensor<3x5x100xf32>) {
  ^bb0(%out: f32):
    %i = linalg.index 0 : index
    %j = linalg.index 1 : index
    %k = linalg.index 2 : index
    %c1000 = arith.constant 1000 : index
    %c100 = arith.constant 100 : index
    %a = arith.muli %i, %c1000 : index
    %b = arith.muli %j, %c100 : index
    %ab = arith.addi %a, %b : index
    %abk = arith.addi %ab, %k : index
    %int = arith.index_cast %abk : index to i32
    %value = arith.sitofp %int : i32 to f32
    linalg.yield %value : f32
  } -> tensor<3x5x100xf32>
  %zero = arith.constant 0.0 : f32
  %sumEmpty = tensor.empty() : tensor<3x100xf32>
  %init = linalg.fill ins(%zero : f32) outs(%sumEmpty : tensor<3x100xf32>) -> tensor<3x100xf32>
  %sum = linalg.generic {indexing_maps = [#x, #sum], iterator_types = ["parallel", "reduction", "parallel"]} ins(%x : tensor<3x5x100xf32>) outs(%init : tensor<3x100xf32>) {
  ^bb0(%in: f32, %acc: f32):
    %s = arith.addf %in, %acc : f32
    linalg.yield %s : f32
  } -> tensor<3x100xf32>
  %buffer = bufferization.to_buffer %sum : tensor<3x100xf32> to memref<3x100xf32>
  %unranked = memref.cast %buffer : memref<3x100xf32> to memref<*xf32>
  call @printMemrefF32(%unranked) : (memref<*xf32>) -> ()
  return
}
