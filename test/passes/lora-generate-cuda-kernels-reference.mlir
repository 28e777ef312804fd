// RUN: lora-opt %s --split-input-file --lora-generate-cuda-kernels=reference-launchers | FileCheck %s

// Reference launchers (--target=cuda-emulated): the call site is the one the
// kernels get, but no kernel is built; the launcher computes what
// lora_down and lora_linear would, with linalg on its memrefs: products
// summed in f32, t = round(s·x·A), y = round(x·W + t·B).
// CHECK-DAG: #[[XMAP:.*]] = affine_map<(d0, d1, d2) -> (d0, d2)>
// CHECK-DAG: #[[WMAP:.*]] = affine_map<(d0, d1, d2) -> (d2, d1)>
// CHECK-DAG: #[[ACC:.*]] = affine_map<(d0, d1, d2) -> (d0, d1)>
// CHECK-LABEL: func.func @lora(
// CHECK: call @lora_kernels_0_launch(
// CHECK-LABEL: func.func private @lora_kernels_0_launch(
// CHECK-SAME: %[[X:[^:]*]]: memref<?x64xbf16>, %[[W:[^:]*]]: memref<64x32xbf16>, %[[A:[^:]*]]: memref<64x8xbf16>, %[[B:[^:]*]]: memref<8x32xbf16>, %[[T:[^:]*]]: memref<?x8xbf16>, %[[Y:[^:]*]]: memref<?x32xbf16>)
// CHECK: %[[TACC:.*]] = memref.alloc(%{{.*}}) : memref<?x8xf32>
// CHECK: linalg.fill {{.*}} outs(%[[TACC]]
// CHECK: linalg.generic {indexing_maps = [#[[XMAP]], #[[WMAP]], #[[ACC]]], iterator_types = ["parallel", "parallel", "reduction"]} ins(%[[X]], %[[A]] : {{.*}}) outs(%[[TACC]] : memref<?x8xf32>)
// CHECK: arith.extf
// CHECK: arith.extf
// CHECK: arith.mulf
// CHECK: arith.addf
// CHECK: linalg.generic {{.*}} ins(%[[TACC]] : memref<?x8xf32>) outs(%[[T]] : memref<?x8xbf16>)
// CHECK: %[[S:.*]] = arith.constant 2.000000e+00 : f32
// CHECK-NEXT: arith.mulf %{{.*}}, %[[S]] : f32
// CHECK-NEXT: arith.truncf
// CHECK: memref.dealloc %[[TACC]]
// CHECK: %[[YACC:.*]] = memref.alloc(%{{.*}}) : memref<?x32xf32>
// CHECK: linalg.generic {{.*}} ins(%[[X]], %[[W]] : {{.*}}) outs(%[[YACC]] : memref<?x32xf32>)
// CHECK: linalg.generic {{.*}} ins(%[[T]], %[[B]] : {{.*}}) outs(%[[YACC]] : memref<?x32xf32>)
// CHECK: linalg.generic {{.*}} ins(%[[YACC]] : memref<?x32xf32>) outs(%[[Y]] : memref<?x32xbf16>)
// CHECK-NOT: arith.mulf
// CHECK: arith.truncf
// CHECK: memref.dealloc %[[YACC]]
// CHECK-NOT: gpu.module
func.func @lora(%x: tensor<?x64xbf16>, %w: tensor<64x32xbf16>, %a: tensor<64x8xbf16>,
                %b: tensor<8x32xbf16>) -> tensor<?x32xbf16> {
  %y = lora.linear %x, %w, %a, %b {rank = 8 : i64, scale = 2.0}
      : (tensor<?x64xbf16>, tensor<64x32xbf16>, tensor<64x8xbf16>, tensor<8x32xbf16>)
      -> tensor<?x32xbf16>
  return %y : tensor<?x32xbf16>
}

// -----

// The backward's g·Wᵀ reads the stored [N, K] weight through the
// transposed map; the f32 result is stored as it is.
// CHECK-DAG: #[[XMAP:.*]] = affine_map<(d0, d1, d2) -> (d0, d2)>
// CHECK-DAG: #[[WTMAP:.*]] = affine_map<(d0, d1, d2) -> (d1, d2)>
// CHECK-LABEL: func.func private @lora_kernels_0_launch(
// CHECK-SAME: %[[G:[^:]*]]: memref<?x128xbf16>, %[[W:[^:]*]]: memref<64x128xbf16>, %[[Y:[^:]*]]: memref<?x64xf32>)
// CHECK: linalg.generic {indexing_maps = [#[[XMAP]], #[[WTMAP]], #{{.*}}], {{.*}} ins(%[[G]], %[[W]] : {{.*}})
// CHECK: linalg.generic {{.*}} outs(%[[Y]] : memref<?x64xf32>)
// CHECK-NOT: arith.truncf
// CHECK: linalg.yield
func.func @tosa_matmul_transposed_weight(%g: tensor<1x32x128xbf16>, %w: tensor<1x64x128xbf16>) -> tensor<1x32x64xf32> {
  %zp = "tosa.const"() <{values = dense<0.0> : tensor<1xbf16>}> : () -> tensor<1xbf16>
  %wt = tosa.transpose %w {perms = array<i32: 0, 2, 1>} : (tensor<1x64x128xbf16>) -> tensor<1x128x64xbf16>
  %y = tosa.matmul %g, %wt, %zp, %zp : (tensor<1x32x128xbf16>, tensor<1x128x64xbf16>, tensor<1xbf16>, tensor<1xbf16>) -> tensor<1x32x64xf32>
  return %y : tensor<1x32x64xf32>
}

// -----

// A batched kernel's reference: one more loop, the batch, outermost in
// every operand; q·kᵀ reads k [B, N, K] through the transposed map.
// CHECK-DAG: #[[QMAP:.*]] = affine_map<(d0, d1, d2, d3) -> (d0, d1, d3)>
// CHECK-DAG: #[[KTMAP:.*]] = affine_map<(d0, d1, d2, d3) -> (d0, d2, d3)>
// CHECK-DAG: #[[ACC:.*]] = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2)>
// CHECK-LABEL: func.func private @lora_kernels_0_launch(
// CHECK-SAME: %[[Q:[^:]*]]: memref<?x?x64xbf16>, %[[K:[^:]*]]: memref<?x24x64xbf16>, %[[Y:[^:]*]]: memref<?x?x24xbf16>)
// CHECK: %[[YACC:.*]] = memref.alloc(%{{.*}}, %{{.*}}) : memref<?x?x24xf32>
// CHECK: linalg.generic {indexing_maps = [#[[QMAP]], #[[KTMAP]], #[[ACC]]], iterator_types = ["parallel", "parallel", "parallel", "reduction"]} ins(%[[Q]], %[[K]] : {{.*}}) outs(%[[YACC]] : memref<?x?x24xf32>)
// CHECK: linalg.generic {{.*}} iterator_types = ["parallel", "parallel", "parallel"]} ins(%[[YACC]] : memref<?x?x24xf32>) outs(%[[Y]] : memref<?x?x24xbf16>)
// CHECK: arith.truncf
// CHECK: memref.dealloc %[[YACC]]
func.func @tosa_matmul_batched_transposed(%q: tensor<8x16x64xbf16>, %k: tensor<8x24x64xbf16>) -> tensor<8x16x24xbf16> {
  %zp = "tosa.const"() <{values = dense<0.0> : tensor<1xbf16>}> : () -> tensor<1xbf16>
  %kt = tosa.transpose %k {perms = array<i32: 0, 2, 1>} : (tensor<8x24x64xbf16>) -> tensor<8x64x24xbf16>
  %y = tosa.matmul %q, %kt, %zp, %zp : (tensor<8x16x64xbf16>, tensor<8x64x24xbf16>, tensor<1xbf16>, tensor<1xbf16>) -> tensor<8x16x24xf32>
  %c = tosa.cast %y : (tensor<8x16x24xf32>) -> tensor<8x16x24xbf16>
  return %c : tensor<8x16x24xbf16>
}
