// RUN: lora-opt %s --split-input-file --lora-mark-entry-points | FileCheck %s

// A public function gets a C interface and the signature the runtime checks
// an artifact's manifest against: dtype[shape] per argument, '->', results.
// CHECK-LABEL: func.func @main
// CHECK-SAME: attributes {llvm.emit_c_interface, lora.signature = "f32[2],i64[1x8],bf16[],bool[3]->f32[2],u8[4x2]"}
func.func @main(%a: tensor<2xf32>, %b: tensor<1x8xi64>, %c: tensor<bf16>, %d: tensor<3xi1>) -> (tensor<2xf32>, tensor<4x2xui8>) {
  %u = arith.constant dense<0> : tensor<4x2xui8>
  return %a, %u : tensor<2xf32>, tensor<4x2xui8>
}

// -----

// CHECK-LABEL: func.func private @no_private
// CHECK-NOT: llvm.emit_c_interface
func.func private @no_private(%arg0: tensor<2xf32>) -> tensor<2xf32> {
  return %arg0 : tensor<2xf32>
}

// -----

// Dynamic shapes and types the runtime cannot pass get no signature (an
// artifact cannot be made of them; lora-compile says why).
// CHECK-LABEL: func.func @dynamic
// CHECK-SAME: attributes {llvm.emit_c_interface}
// CHECK-NOT: lora.signature
func.func @dynamic(%arg0: tensor<?xf32>) -> tensor<?xf32> {
  return %arg0 : tensor<?xf32>
}

// -----

// CHECK-LABEL: func.func @complex
// CHECK-SAME: attributes {llvm.emit_c_interface}
// CHECK-NOT: lora.signature
func.func @complex(%arg0: tensor<2xcomplex<f32>>) -> tensor<2xcomplex<f32>> {
  return %arg0 : tensor<2xcomplex<f32>>
}
