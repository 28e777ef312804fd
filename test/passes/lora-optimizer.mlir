// lora-optimizer turns lora-autodiff's (loss, gradients) into one optimizer
// step: new lr/step/state arguments, one lora.adamw or lora.sgd per
// parameter, and the new values returned under the names of what they
// replace.
// RUN: lora-opt %s --lora-autodiff="loss=mse eval-function=" --lora-optimizer | FileCheck %s --check-prefix=ADAMW
// RUN: lora-opt %s --lora-autodiff="loss=mse eval-function=" --lora-optimizer="optimizer=adamw beta1=0.8 beta2=0.99 eps=1e-6 weight-decay=0.1" | FileCheck %s --check-prefix=HYPER
// RUN: lora-opt %s --lora-autodiff="loss=mse eval-function=" --lora-optimizer="optimizer=sgd momentum=0.9 nesterov=true weight-decay=0.01" | FileCheck %s --check-prefix=MOMENTUM
// RUN: lora-opt %s --lora-autodiff="loss=mse eval-function=" --lora-optimizer="optimizer=sgd" | FileCheck %s --check-prefix=SGD

// AdamW: lr (f64) and step (i64) inputs, exp_avg and exp_avg_sq per
// parameter, starting from the gradients lora-autodiff returned.
// ADAMW-LABEL: func.func @train_step(
// ADAMW-SAME: %[[X:[^:]*]]: tensor<1x2x4xf32> {onnx.name = "x"}, %[[A:[^:]*]]: tensor<4x2xf32> {lora.param = "l.lora_A.weight"}, %[[B:[^:]*]]: tensor<2x4xf32> {lora.param = "l.lora_B.weight"}, %[[T:[^:]*]]: tensor<1x2x4xf32> {onnx.name = "targets"},
// ADAMW-SAME: %[[LR:[^:]*]]: tensor<f64> {onnx.name = "lr"}, %[[STEP:[^:]*]]: tensor<i64> {onnx.name = "step"},
// ADAMW-SAME: %[[MA:[^:]*]]: tensor<4x2xf32> {lora.state = "l.lora_A.weight.exp_avg"}, %[[VA:[^:]*]]: tensor<4x2xf32> {lora.state = "l.lora_A.weight.exp_avg_sq"},
// ADAMW-SAME: %[[MB:[^:]*]]: tensor<2x4xf32> {lora.state = "l.lora_B.weight.exp_avg"}, %[[VB:[^:]*]]: tensor<2x4xf32> {lora.state = "l.lora_B.weight.exp_avg_sq"})
// ADAMW-SAME: -> (tensor<f32> {onnx.name = "loss"}, tensor<4x2xf32> {onnx.name = "l.lora_A.weight"}, tensor<2x4xf32> {onnx.name = "l.lora_B.weight"},
// ADAMW-SAME: tensor<4x2xf32> {onnx.name = "l.lora_A.weight.exp_avg"}, tensor<4x2xf32> {onnx.name = "l.lora_A.weight.exp_avg_sq"},
// ADAMW-SAME: tensor<2x4xf32> {onnx.name = "l.lora_B.weight.exp_avg"}, tensor<2x4xf32> {onnx.name = "l.lora_B.weight.exp_avg_sq"})
// ADAMW: %{{.*}}, %[[DA:.*]], %[[DB:.*]] = lora.linear_grad
// ADAMW: %[[NA:.*]], %[[NMA:.*]], %[[NVA:.*]] = lora.adamw %[[A]], %[[DA]], %[[MA]], %[[VA]], %[[LR]], %[[STEP]] {weight_decay = 0.000000e+00 : f64}
// ADAMW: %[[NB:.*]], %[[NMB:.*]], %[[NVB:.*]] = lora.adamw %[[B]], %[[DB]], %[[MB]], %[[VB]], %[[LR]], %[[STEP]] {weight_decay = 0.000000e+00 : f64}
// ADAMW: return %{{.*}}, %[[NA]], %[[NB]], %[[NMA]], %[[NVA]], %[[NMB]], %[[NVB]] :

// HYPER-LABEL: func.func @train_step(
// HYPER: lora.adamw {{.*}} {beta1 = 8.000000e-01 : f64, beta2 = 0.98999999999999999 : f64, eps = 9.9999999999999995E-7 : f64, weight_decay = 1.000000e-01 : f64}

// SGD with momentum: one momentum_buffer per parameter, no step input.
// MOMENTUM-LABEL: func.func @train_step(
// MOMENTUM-SAME: %[[A:[^:]*]]: tensor<4x2xf32> {lora.param = "l.lora_A.weight"}
// MOMENTUM-SAME: %[[LR:[^:]*]]: tensor<f64> {onnx.name = "lr"}, %[[BUFA:[^:]*]]: tensor<4x2xf32> {lora.state = "l.lora_A.weight.momentum_buffer"}, %[[BUFB:[^:]*]]: tensor<2x4xf32> {lora.state = "l.lora_B.weight.momentum_buffer"})
// MOMENTUM-NOT: onnx.name = "step"
// MOMENTUM: %[[NA:.*]], %[[NBUFA:.*]] = lora.sgd %[[A]], %{{.*}}, %[[BUFA]], %[[LR]] {momentum = 9.000000e-01 : f64, nesterov, weight_decay = 1.000000e-02 : f64}
// MOMENTUM: return %{{.*}}, %[[NA]], %{{.*}}, %[[NBUFA]], %{{.*}} :

// Plain SGD keeps no state: the buffer is a zero constant and its update is
// not returned.
// SGD-LABEL: func.func @train_step(
// SGD-SAME: %{{[^:]*}}: tensor<f64> {onnx.name = "lr"})
// SGD-SAME: -> (tensor<f32> {onnx.name = "loss"}, tensor<4x2xf32> {onnx.name = "l.lora_A.weight"}, tensor<2x4xf32> {onnx.name = "l.lora_B.weight"})
// SGD: %[[ZERO:.*]] = "tosa.const"() <{values = dense<0.000000e+00> : tensor<4x2xf32>}>
// SGD: %[[NA:.*]], %{{.*}} = lora.sgd %{{.*}}, %{{.*}}, %[[ZERO]], %{{.*}} :
// SGD: return %{{.*}}, %[[NA]], %{{[^,]*}} : tensor<f32>, tensor<4x2xf32>, tensor<2x4xf32>
func.func @main(%x: tensor<1x2x4xf32> {onnx.name = "x"},
                %a: tensor<4x2xf32> {lora.param = "l.lora_A.weight"},
                %b: tensor<2x4xf32> {lora.param = "l.lora_B.weight"})
    -> (tensor<1x2x4xf32> {onnx.name = "y"}) {
  %w = arith.constant dense<0.1> : tensor<4x4xf32>
  %y = lora.linear %x, %w, %a, %b {rank = 2 : i64, scale = 1.0 : f64}
      : (tensor<1x2x4xf32>, tensor<4x4xf32>, tensor<4x2xf32>, tensor<2x4xf32>)
      -> tensor<1x2x4xf32>
  return %y : tensor<1x2x4xf32>
}
