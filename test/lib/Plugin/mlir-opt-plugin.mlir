// Upstream mlir-opt, with our dialects and passes loaded from LoraPlugin,
// inserts a LoRA branch on a frozen linear layer and fuses it to lora.linear.
// Passes from a plugin are registered after mlir-opt has built its per-pass
// flags, so they are reached through --pass-pipeline, not --lora-insert.
// RUN: mlir-opt %s --load-dialect-plugin=%lora_plugin --load-pass-plugin=%lora_plugin \
// RUN:   --pass-pipeline="builtin.module(lora-insert{targets=fc rank=2}, func.func(lora-fuse))" \
// RUN:   | FileCheck %s

// CHECK-LABEL: func.func @linear(
// CHECK-SAME: %[[X:[^:]*]]: tensor<3x8xf32>,
// CHECK-SAME: %[[A:[^:]*]]: tensor<8x2xf32> {lora.init = {{.*}}, lora.param = "{{.*}}fc.lora_A.weight"},
// CHECK-SAME: %[[B:[^:]*]]: tensor<2x4xf32> {lora.init = {{.*}}, lora.param = "{{.*}}fc.lora_B.weight"})
// CHECK-DAG: %[[W:.*]] = "tosa.const"() <{values = dense<5.000000e-01> : tensor<8x4xf32>}>
// CHECK-DAG: %[[X3:.*]] = tosa.reshape %[[X]]
// CHECK-NOT: tosa.matmul
// CHECK: %[[Y:.*]] = lora.linear %[[X3]], %[[W]], %[[A]], %[[B]] {rank = 2 : i64, scale = {{.*}}} : (tensor<1x3x8xf32>, tensor<8x4xf32>, tensor<8x2xf32>, tensor<2x4xf32>) -> tensor<1x3x4xf32>
// CHECK: %[[Y2:.*]] = tosa.reshape %[[Y]]
// CHECK-NOT: tosa.matmul
// CHECK: return %[[Y2]]
func.func @linear(%x: tensor<3x8xf32>) -> tensor<3x4xf32> {
  %w = "tosa.const"() <{values = dense<0.5> : tensor<8x4xf32>}> : () -> tensor<8x4xf32> loc("fc.weight")
  %zp = "tosa.const"() <{values = dense<0.0> : tensor<1xf32>}> : () -> tensor<1xf32>
  %sx = tosa.const_shape {values = dense<[1, 3, 8]> : tensor<3xindex>} : () -> !tosa.shape<3>
  %sw = tosa.const_shape {values = dense<[1, 8, 4]> : tensor<3xindex>} : () -> !tosa.shape<3>
  %sy = tosa.const_shape {values = dense<[3, 4]> : tensor<2xindex>} : () -> !tosa.shape<2>
  %x3 = tosa.reshape %x, %sx : (tensor<3x8xf32>, !tosa.shape<3>) -> tensor<1x3x8xf32>
  %w3 = tosa.reshape %w, %sw : (tensor<8x4xf32>, !tosa.shape<3>) -> tensor<1x8x4xf32>
  %m = tosa.matmul %x3, %w3, %zp, %zp : (tensor<1x3x8xf32>, tensor<1x8x4xf32>, tensor<1xf32>, tensor<1xf32>) -> tensor<1x3x4xf32>
  %y = tosa.reshape %m, %sy : (tensor<1x3x4xf32>, !tosa.shape<2>) -> tensor<3x4xf32>
  return %y : tensor<3x4xf32>
}
