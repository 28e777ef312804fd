// RUN: rm -rf %t && mkdir -p %t
// RUN: lora-translate --export-onnx %s --onnx-external-data=%t/model.onnx.data -o %t/model.onnx
// RUN: lora-translate --import-onnx %t/model.onnx | FileCheck %s
// RUN: wc -c < %t/model.onnx.data | FileCheck %s --check-prefix=SIZE
// RUN: not lora-translate --export-onnx %s --onnx-external-data=%t/missing/model.onnx.data -o %t/failed.onnx 2>&1 | FileCheck %s --check-prefix=NO-DIR
// RUN: not test -e %t/failed.onnx

// Initializers of 1 KiB or more go to the external data file (offsets
// aligned to 64 bytes), smaller ones stay in the model. The model refers to
// the data by file name, so the importer finds it next to the model.

// CHECK-LABEL: func.func @main(
// CHECK-DAG: arith.constant dense<2.000000e+00> : tensor<256xf32>
// CHECK-DAG: arith.constant dense<3.000000e+00> : tensor<300xf32>
// CHECK-DAG: arith.constant dense<[1.000000e+00, 2.000000e+00]> : tensor<2xf32>
// 256 * 4 bytes, padding to 1024, then 300 * 4 bytes.
// SIZE: 2224

// NO-DIR: error: cannot write the external data: '{{.*}}/missing/model.onnx.data': No such file or directory
func.func @main(%x: tensor<256xf32> {onnx.name = "x"}, %y: tensor<300xf32> {onnx.name = "y"}, %z: tensor<2xf32> {onnx.name = "z"})
    -> (tensor<256xf32> {onnx.name = "x2"}, tensor<300xf32> {onnx.name = "y2"}, tensor<2xf32> {onnx.name = "z2"}) {
  %a = arith.constant dense<2.0> : tensor<256xf32>
  %b = arith.constant dense<3.0> : tensor<300xf32>
  %c = arith.constant dense<[1.0, 2.0]> : tensor<2xf32>
  %0 = tosa.add %x, %a : (tensor<256xf32>, tensor<256xf32>) -> tensor<256xf32>
  %1 = tosa.add %y, %b : (tensor<300xf32>, tensor<300xf32>) -> tensor<300xf32>
  %2 = tosa.add %z, %c : (tensor<2xf32>, tensor<2xf32>) -> tensor<2xf32>
  return %0, %1, %2 : tensor<256xf32>, tensor<300xf32>, tensor<2xf32>
}
