// RUN: rm -f %t.onnx
// RUN: not lora-translate --export-onnx %s -o %t.onnx 2>&1 | FileCheck %s
// RUN: not test -e %t.onnx

// A failed export exits non-zero and leaves no output file behind.

// CHECK: error: cannot export 'tosa.clz' to ONNX
func.func @negative_leaves_no_file(%x: tensor<4xi32>) -> tensor<4xi32> {
  %0 = tosa.add %x, %x : (tensor<4xi32>, tensor<4xi32>) -> tensor<4xi32>
  %1 = tosa.clz %0 : (tensor<4xi32>) -> tensor<4xi32>
  return %1 : tensor<4xi32>
}
