// RUN: split-file --leading-lines %s %t

//--- no-gradients.mlir
// RUN: lora-opt %t/no-gradients.mlir -split-input-file -verify-diagnostics --lora-optimizer

// The train step must come from lora-autodiff: loss, then one '<param>.grad'
// per parameter.
// expected-error @+1 {{'train_step' does not return the loss and one gradient per LoRA parameter ('<param>.grad'); run lora-autodiff first}}
func.func @train_step(%p: tensor<2xf32> {lora.param = "p"}) -> (tensor<f32> {onnx.name = "loss"}) {
  %c = "tosa.const"() <{values = dense<0.0> : tensor<f32>}> : () -> tensor<f32>
  return %c : tensor<f32>
}

// -----

// A gradient named for another parameter.
// expected-error @+1 {{'train_step' does not return the loss and one gradient per LoRA parameter ('<param>.grad'); run lora-autodiff first}}
func.func @train_step(%p: tensor<2xf32> {lora.param = "p"}) -> (tensor<f32> {onnx.name = "loss"}, tensor<2xf32> {onnx.name = "q.grad"}) {
  %c = "tosa.const"() <{values = dense<0.0> : tensor<f32>}> : () -> tensor<f32>
  return %c, %p : tensor<f32>, tensor<2xf32>
}

// -----

// expected-error @+1 {{no function 'train_step' with one block to add the optimizer to}}
module {
  func.func @main() {
    return
  }
}

//--- unknown.mlir
// RUN: lora-opt %t/unknown.mlir -verify-diagnostics --lora-optimizer="optimizer=adam"

// expected-error @+1 {{unknown optimizer 'adam'; expected adamw or sgd}}
module {
}

//--- betas.mlir
// RUN: lora-opt %t/betas.mlir -verify-diagnostics --lora-optimizer="beta1=1.0"

// Hyper-parameters are checked by the op's verifier, on the op built (at
// the function).
// expected-error @+1 {{'lora.adamw' op requires betas in [0, 1), got 1.000000e+00 and 9.990000e-01}}
func.func @train_step(%p: tensor<2xf32> {lora.param = "p"}) -> (tensor<f32> {onnx.name = "loss"}, tensor<2xf32> {onnx.name = "p.grad"}) {
  %c = "tosa.const"() <{values = dense<0.0> : tensor<f32>}> : () -> tensor<f32>
  return %c, %p : tensor<f32>, tensor<2xf32>
}

//--- nesterov.mlir
// RUN: lora-opt %t/nesterov.mlir -verify-diagnostics --lora-optimizer="optimizer=sgd nesterov=true"

// expected-error @+1 {{'lora.sgd' op nesterov needs a momentum}}
func.func @train_step(%p: tensor<2xf32> {lora.param = "p"}) -> (tensor<f32> {onnx.name = "loss"}, tensor<2xf32> {onnx.name = "p.grad"}) {
  %c = "tosa.const"() <{values = dense<0.0> : tensor<f32>}> : () -> tensor<f32>
  return %c, %p : tensor<f32>, tensor<2xf32>
}

//--- name-taken.mlir
// RUN: lora-opt %t/name-taken.mlir -verify-diagnostics --lora-optimizer

// expected-error @+1 {{the optimizer needs an input named 'lr', but argument #1 has that name}}
func.func @train_step(%p: tensor<2xf32> {lora.param = "p"}, %lr: tensor<f32> {onnx.name = "lr"}) -> (tensor<f32> {onnx.name = "loss"}, tensor<2xf32> {onnx.name = "p.grad"}) {
  %c = "tosa.const"() <{values = dense<0.0> : tensor<f32>}> : () -> tensor<f32>
  return %c, %p : tensor<f32>, tensor<2xf32>
}
